"""A throwaway S3 endpoint on loopback (moto's server), for ``lmsdb demo``.

moto is an optional dependency (``pip install 'lmsdb[demo]'``); :func:`moto_available`
says whether it is installed.  The server keeps its objects in memory and is gone when the
block ends.  Since moto accepts any credentials, dummy ones are set for the block where the
environment has none (and removed after), so the standard AWS chain finds some.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from lms_db.config import environment_defaults
from lms_db.errors import InputError

_DUMMY = {
    "AWS_ACCESS_KEY_ID": "lmsdb-demo",
    "AWS_SECRET_ACCESS_KEY": "lmsdb-demo",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def moto_available() -> bool:
    return importlib.util.find_spec("moto") is not None


@contextmanager
def local_s3() -> Iterator[str]:
    """Run moto's S3 server on a free loopback port; yields its endpoint URL.

    :raises InputError: moto is not installed.
    """
    if not moto_available():
        raise InputError("a local S3 endpoint needs moto: pip install 'lmsdb[demo]'")
    from moto.server import ThreadedMotoServer

    quiet = logging.getLogger("werkzeug")  # moto's server logs every request there
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        with environment_defaults(_DUMMY):
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
    finally:
        server.stop()
        quiet.setLevel(level)
