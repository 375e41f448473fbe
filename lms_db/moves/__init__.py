"""Range moves between shards: scope, copy, catch-up, fence, verify, switch, delete.

:mod:`~lms_db.moves.scope` says which rows of each table belong to a key range; the move
engine (:mod:`~lms_db.moves.engine`) runs the journaled protocol described in docs/moves.md.
"""
