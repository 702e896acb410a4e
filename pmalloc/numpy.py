"""NumPy arrays whose data lives in a pmalloc pool: NumPy's array data handler (NEP 49).

    with pmalloc.Pool() as pool:
        with pmalloc.numpy.use(pool):
            a = np.arange(1_000_000.0)      # a's data is in the pool
        b = pool.zeros((1000, 1000))        # the same, for one array

Inside ``use(pool)``, every array NumPy creates takes its data from the pool, in this thread or
asyncio task only (NumPy keeps the handler in a context variable); nested blocks restore the
outer handler on exit. Each array keeps the handler it was made with, so it is freed into its
pool from any thread, after the block too; and the handler keeps the pool open: ``pool.close()``
raises BufferError while such an array is alive, as it does while a buffer is exported.
A pool that runs out makes NumPy raise MemoryError, and stays usable.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

from pmalloc import _nphandler


class HandlerSource(Protocol):
    """What ``use`` accepts: a pool (or kind) that makes NumPy handlers over itself."""

    def numpy_handler(self) -> Any: ...


@contextlib.contextmanager
def use(target: HandlerSource) -> Iterator[HandlerSource]:
    """Within the block, arrays created in this thread or task take their data from target."""
    handler = target.numpy_handler()
    previous = _nphandler.set(handler)
    del handler  # the context and the arrays hold it from here
    try:
        yield target
    finally:
        _nphandler.set(previous)


def current_handler() -> Any:
    """The handler capsule in force in this context (NumPy's PyDataMem_GetHandler)."""
    return _nphandler.get()


def handler_owner(handler: Any) -> Any:
    """The object a pmalloc handler keeps alive (its pool's lease), None for NumPy's own."""
    return _nphandler.owner(handler)


def make_handler(owner: object, allocator: tuple[int, int, int, int, int], name: str) -> Any:
    """A "mem_handler" capsule over allocator = (ctx, malloc, calloc, realloc, free)
    addresses, keeping owner alive while it lives. name: at most 126 bytes (truncated)."""
    raw = name.encode("utf-8", "replace")[:126]
    return _nphandler.make(owner, *allocator, raw.decode("utf-8", "ignore").encode())


class ArrayFactory:
    """``empty``, ``zeros`` and ``array`` for anything with ``numpy_handler()`` (pools, kinds):
    NumPy's functions of the same names, the data in ``self``."""

    def numpy_handler(self) -> Any:
        raise NotImplementedError

    def empty(self, shape: Any, dtype: Any = float, order: str = "C") -> Any:
        """numpy.empty, the data in this pool."""
        import numpy as np
        with use(self):
            return np.empty(shape, dtype, order)

    def zeros(self, shape: Any, dtype: Any = float, order: str = "C") -> Any:
        """numpy.zeros, the data in this pool (zeroed by the allocator's calloc)."""
        import numpy as np
        with use(self):
            return np.zeros(shape, dtype, order)

    def array(self, obj: Any, dtype: Any = None, order: str = "K") -> Any:
        """numpy.array (always a copy), the data in this pool."""
        import numpy as np
        with use(self):
            return np.array(obj, dtype=dtype, copy=True, order=order)
