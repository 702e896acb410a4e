"""The lifecycle a Python object over one C pool handle shares: use while open, close
once (from any thread), as a context manager, and on collection."""
from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from pmalloc._nocopy import NoCopy
from pmalloc.errors import CorruptPoolError, InvalidArgumentError, PoolClosedError


def opening(call: Callable[..., Any], path: str, *args: Any) -> Any:
    """call(path, ...), opening a pool file: a file that is not a sound pool of the kind
    asked for (EINVAL from C) raised as CorruptPoolError naming the file."""
    try:
        return call(path, *args)
    except InvalidArgumentError as exc:
        raise CorruptPoolError(f"{path}: {exc}") from None


class PoolHandle(NoCopy):
    """Subclasses set ``_what`` (for messages) and ``_release`` (the C close call)."""

    _what = "pool"
    _release: Callable[[Any], None]

    def __init__(self, handle: Any, path: str | None) -> None:
        self._h: Any = handle
        self._path = path
        self._close_lock = threading.Lock()     # close against use from other threads

    def _handle(self) -> Any:
        if self._h is None:
            raise PoolClosedError(f"operation on a closed {self._what}")
        return self._h

    @property
    def closed(self) -> bool:
        return self._h is None

    def close(self) -> None:
        """Close it; safe twice."""
        with self._close_lock:
            h, self._h = self._h, None
        if h is not None:
            type(self)._release(h)

    def __enter__(self) -> Any:
        self._handle()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_h", None) is not None:
            self.close()
