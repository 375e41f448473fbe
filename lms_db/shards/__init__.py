"""Shard lifecycle: list and status of the fleet (:mod:`~lms_db.shards.inventory`) and adding a
shard (:mod:`~lms_db.shards.add`)."""
