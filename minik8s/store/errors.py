"""Storage-level failures; the apiserver's registry turns them into API errors with names."""


class StoreError(Exception):
    pass


class KeyNotFound(StoreError):
    pass


class KeyExists(StoreError):
    pass


class RevisionConflict(StoreError):
    """A compare-and-swap lost: the key changed since it was read."""


class Compacted(StoreError):
    def __init__(self, compacted_revision: int) -> None:
        super().__init__(f"revision compacted below {compacted_revision}")
        self.compacted_revision = compacted_revision


class StoreUnavailable(StoreError):
    pass


class TransformFailed(StoreError):
    """A stored value could not be decrypted (no provider matches its prefix, a wrong key)."""
