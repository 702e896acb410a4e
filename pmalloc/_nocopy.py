"""NoCopy: the base of pmalloc's objects that stand for a C handle or for raw memory.

Python's default copy of such an object (``copy.copy``, ``copy.deepcopy``, ``pickle``) would
copy the handle, not what it stands for: the copy's finalizer then releases the pool, the
mapping or the simulator the original still uses, and the original's next call crashes the
interpreter. A pickle cannot carry an address to another process either. So these objects
refuse all three with a :class:`~pmalloc.errors.PmallocTypeError` saying why and what to do
instead.
"""
from __future__ import annotations

from typing import Any, ClassVar, NoReturn

from pmalloc.errors import PmallocTypeError

__all__ = ["NoCopy"]


class NoCopy:
    """Refuses copy.copy, copy.deepcopy and pickle. ``_nocopy_why`` says why, per class."""

    __slots__ = ()
    _nocopy_why: ClassVar[str] = "it stands for a C handle, which a copy would share"

    def _refuse(self, what: str) -> NoReturn:
        raise PmallocTypeError(f"cannot {what} a {type(self).__module__}."
                               f"{type(self).__qualname__}: {self._nocopy_why}")

    def __copy__(self) -> NoReturn:
        self._refuse("copy")

    def __deepcopy__(self, memo: Any) -> NoReturn:
        self._refuse("deepcopy")

    # pickle (and copyreg-based copies) go through __reduce_ex__ before __reduce__
    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        self._refuse("pickle")
