"""A real S3 endpoint for the archive tests: moto's server over HTTP on loopback.

boto3 is not patched: lmsdb talks HTTP to the server exactly as to AWS, pointed at it by
``endpoint_url``.  Credentials are moto's dummy ones, set in the environment.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-never-shown",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Endpoint:
    """A running moto server."""

    server: ThreadedMotoServer
    url: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key=DUMMY_ENV["AWS_SECRET_ACCESS_KEY"],
        )

    def new_bucket(self) -> str:
        name = f"lmsdb-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


def start_endpoint() -> S3Endpoint:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return S3Endpoint(server, f"http://{host}:{port}")


@pytest.fixture(scope="session", name="s3")
def fixture_s3() -> Iterator[S3Endpoint]:
    """One moto server for the session."""
    saved = {k: os.environ.get(k) for k in DUMMY_ENV}
    os.environ.update(DUMMY_ENV)
    endpoint = start_endpoint()
    yield endpoint
    endpoint.server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(name="bucket")
def fixture_bucket(s3: S3Endpoint) -> str:
    """A new empty bucket on the session's server."""
    return s3.new_bucket()
