"""Types of pmalloc._native, the cffi module built from native/ (declarations: native/pmalloc.cdef)."""
from typing import Any

ffi: Any
lib: Any
