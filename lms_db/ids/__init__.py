"""Id windows: grant, position, headroom and reserve (:mod:`~lms_db.ids.windows`), top-ups after
migrations and shard adds (:mod:`~lms_db.ids.topup`) and the per-dialect id counters they move
(:mod:`~lms_db.ids.counters`)."""
