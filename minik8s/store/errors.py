"""Storage-level failures; the apiserver turns them into API errors in one place."""


class StoreError(Exception):
    pass


class KeyNotFound(StoreError):
    pass


class KeyExists(StoreError):
    pass


class RevisionConflict(StoreError):
    """A compare-and-swap lost: the key changed since it was read."""


class ClaimsTaken(StoreError):
    """Keys a write meant to create with its object exist already (nothing was written)."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(f"already taken: {', '.join(keys)}")
        self.keys = keys


class Compacted(StoreError):
    def __init__(self, compacted_revision: int) -> None:
        super().__init__(f"revision compacted below {compacted_revision}")
        self.compacted_revision = compacted_revision


class FutureRevision(StoreError):
    """A read at a revision etcd has not reached (after a restore, or a made-up one)."""


class CorruptValue(StoreError):
    """A stored value is not the JSON object it should be."""


class ValueTooLarge(StoreError):
    """etcd refused a write over its request size limit (1.5 MiB by default)."""


class StoreUnavailable(StoreError):
    """No etcd member answered (the request may or may not have been applied)."""


class StoreTimeout(StoreUnavailable):
    """etcd did not answer in time."""


class TransformFailed(StoreError):
    """A stored value could not be decrypted (no provider matches its prefix, a wrong key)."""
