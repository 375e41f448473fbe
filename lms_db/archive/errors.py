"""Errors of the archive: all :class:`~lms_db.errors.LmsDbError` subclasses."""

from __future__ import annotations

from lms_db.errors import InputError, OperationError


class StoreError(OperationError):
    """The object store refused or failed a request; the message is one line, no secret."""

    code = "store_error"


class StoreInputError(InputError):
    """The object store cannot be used as given (no bucket, no credentials, bad endpoint)."""

    code = "store_input_error"


class ObjectNotReadable(StoreError):
    """A GLACIER/DEEP_ARCHIVE object must be restored before it can be read."""

    code = "object_not_readable"
    retryable = True


class VerificationFailed(OperationError):
    """A stored object differs from what was written (size, checksum or rows)."""

    code = "verification_failed"


class ArchiveRefused(InputError):
    """The archive cannot run as asked (cascading children, PII unencrypted...); nothing
    was touched."""

    code = "archive_refused"
