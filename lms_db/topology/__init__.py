"""Where the databases are: the topology file (:mod:`~lms_db.topology.spec`), its commented
template (:mod:`~lms_db.topology.template`), engines and connection checks
(:mod:`~lms_db.topology.engines`) and database URLs (:mod:`~lms_db.topology.urls`)."""
