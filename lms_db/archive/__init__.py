"""``lmsdb archive``: old rows to S3/Glacier objects and back, never lost on the way.

- :mod:`~lms_db.archive.codec`: rows <-> zstd JSON Lines, every value's type kept;
- :mod:`~lms_db.archive.s3`: the object store (the only boto3 user);
- :mod:`~lms_db.archive.tables`: archive groups (children, blockers) and exact row I/O;
- :mod:`~lms_db.archive.filters`: the validated, always-bound row filter;
- :mod:`~lms_db.archive.manifest`: the run manifest object;
- :mod:`~lms_db.archive.journal`: run state in the catalog journal;
- :mod:`~lms_db.archive.protocol`: one chunk's read -> upload -> verify -> guarded delete;
- :mod:`~lms_db.archive.runner`: a run over every shard; :mod:`~lms_db.archive.restore`,
  :mod:`~lms_db.archive.forget`: bringing rows back, erasing one user's rows.
"""
