"""Types of pmalloc._native, the cffi module built from native/ (declarations: native/cdef/).

Only pmalloc._capi calls lib; pmalloc._args uses ffi for C sizes and buffers."""
from typing import Any

ffi: Any
lib: Any
