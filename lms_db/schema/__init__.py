"""The schema rendered and checked: DDL per dialect (:mod:`~lms_db.schema.ddl`), the reference
page (:mod:`~lms_db.schema.reference`), live database vs models (:mod:`~lms_db.schema.compare`)
and materialized-view refresh (:mod:`~lms_db.schema.views`)."""
