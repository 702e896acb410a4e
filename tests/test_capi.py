"""pmalloc._capi: the one module that calls the C library, and its errno -> exception mapping."""
from __future__ import annotations

import errno
import pathlib
import re

import pytest

import pmalloc
from pmalloc import _capi
from pmalloc._native import ffi
from pmalloc.errors import InvalidArgumentError, OutOfMemoryError, PmallocError

PACKAGE = pathlib.Path(pmalloc.__file__).parent
# The binding itself and its builder; everything else goes through _capi.
MAY_CALL_LIB = {"_capi.py", "_build.py"}


def _c_message() -> str:
    """The calling thread's pmalloc_errormsg(), read directly."""
    from pmalloc._native import lib
    return ffi.string(lib.pmalloc_errormsg()).decode()


def test_only_capi_touches_lib() -> None:
    uses = re.compile(r"\blib\.|\bimport\b[^\n]*\blib\b|_native\b[^\n]*\blib\b")
    seen = []
    for source in sorted(PACKAGE.rglob("*.py")):
        if source.name in MAY_CALL_LIB and source.parent == PACKAGE:
            continue
        for number, line in enumerate(source.read_text().splitlines(), 1):
            if uses.search(line):
                seen.append(f"{source.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert not seen, ("expected `lib` only in pmalloc/_capi.py and pmalloc/_build.py, saw:\n"
                      + "\n".join(seen))


@pytest.fixture
def vmp(tmp_path: pathlib.Path):
    handle = _capi.vmem_create(str(tmp_path), _capi.VMEM_MIN_POOL)
    yield handle
    _capi.vmem_delete(handle)


def test_enomem_is_a_memory_error_with_the_c_message(vmp) -> None:
    with pytest.raises(MemoryError) as caught:
        _capi.vmem_malloc(vmp, 1 << 50)
    e = caught.value
    assert isinstance(e, OutOfMemoryError) and isinstance(e, PmallocError), repr(e)
    assert e.errno == errno.ENOMEM, f"expected errno ENOMEM, saw {e.errno}"
    assert str(e) and str(e) == _c_message(), (
        f"expected the C message {_c_message()!r}, saw {str(e)!r}")


def test_enoent_is_file_not_found_with_the_filename(tmp_path: pathlib.Path) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError) as caught:
        _capi.vmem_create(missing, _capi.VMEM_MIN_POOL)
    e = caught.value
    assert isinstance(e, PmallocError) and e.errno == errno.ENOENT, repr(e)
    assert e.filename == missing, f"expected filename {missing!r}, saw {e.filename!r}"
    assert e.strerror == _c_message(), (
        f"expected the C message {_c_message()!r}, saw {e.strerror!r}")


@pytest.mark.parametrize("call, words", [
    (lambda d: _capi.vmem_create(d, 1), "smaller"),
    (lambda d: _capi.parse_size(b"lots"), "not a size"),
    (lambda d: _capi.persist_ops(0, 0, 99), "unknown kind 99"),
    (lambda d: _capi.ops_persist(ffi.NULL, 0, 0), "ops is NULL"),
    (lambda d: _capi.ops_flush(ffi.NULL, 0, 0), "ops is NULL"),
    (lambda d: _capi.ops_drain(ffi.NULL), "ops is NULL"),
], ids=["vmem_create", "parse_size", "persist_ops", "ops_persist", "ops_flush", "ops_drain"])
def test_einval_is_invalid_argument_with_the_c_message(tmp_path, call, words) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        call(str(tmp_path))
    e = caught.value
    assert isinstance(e, ValueError) and e.errno == errno.EINVAL, repr(e)
    assert str(e) == _c_message() and words in str(e), (
        f"expected the C message {_c_message()!r} (with {words!r}), saw {str(e)!r}")


def test_addresses_cross_as_ints(vmp) -> None:
    address = _capi.vmem_malloc(vmp, 100)
    assert isinstance(address, int) and address % 16 == 0, f"saw {address!r}"
    assert _capi.vmem_malloc_usable_size(vmp, address) >= 100
    moved = _capi.vmem_realloc(vmp, address, 5000)
    assert isinstance(moved, int) and _capi.vmem_malloc_usable_size(vmp, moved) >= 5000
    _capi.vmem_free(vmp, moved)
    assert _capi.vmem_check(vmp) is True
