"""The launcher's one error: a readable message that `minik8s` prints as one line, exit 1."""

from __future__ import annotations


class LauncherError(Exception):
    """Something the user can act on; `details` (e.g. a log tail) is printed below the line."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details
