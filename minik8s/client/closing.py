"""`async with` for the client's objects that hold connections: leaving the block closes them."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class AsyncClosing:
    """A base for objects with an `aclose()`: `async with obj:` closes obj on the way out."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
