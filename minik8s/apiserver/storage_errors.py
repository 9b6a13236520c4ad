"""Storage failures as API errors: the one place they become Status objects.

etcd down is a 503 and etcd too slow a 504, both with `Retry-After` (clients back off and
retry); the store logs the outage once. Nothing of a traceback reaches the response body.
"""

from __future__ import annotations

import logging

from minik8s.api import errors
from minik8s.store import errors as store_errors

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1


def api_error(error: store_errors.StoreError) -> errors.ApiError:
    """The API error a storage failure is reported as."""
    if isinstance(error, store_errors.StoreTimeout):
        return errors.Timeout(
            "Timeout: the storage backend (etcd) did not answer in time; please retry",
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )
    if isinstance(error, store_errors.StoreUnavailable):
        return errors.ServiceUnavailable(
            "the storage backend (etcd) is unavailable; please retry",
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )
    if isinstance(error, store_errors.ValueTooLarge):
        return errors.RequestEntityTooLarge("etcdserver: request is too large")
    if isinstance(error, store_errors.Compacted):
        return errors.Expired("too old resource version: the revision has been compacted")
    if isinstance(error, store_errors.FutureRevision):
        return errors.Timeout("Too large resource version", retry_after_seconds=RETRY_AFTER_SECONDS)
    if isinstance(error, store_errors.TransformFailed):
        logger.error("a stored value does not decrypt: %s", error)
        return errors.InternalError(f"Internal error occurred: {error}")
    if isinstance(error, store_errors.CorruptValue):
        logger.error("a stored value does not decode: %s", error)
        return errors.InternalError(f"the stored object cannot be decoded: {error}")
    logger.error("unexpected storage error: %r", error)
    return errors.InternalError("unexpected storage error")
