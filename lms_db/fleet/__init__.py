"""Fleet machinery shared by every operation across shards: bounded fan-out with a canary
(:mod:`~lms_db.fleet.fanout`) and per-database locks (:mod:`~lms_db.fleet.locks`)."""
