"""The checked C calls: the one module of pmalloc that calls ``pmalloc._native``'s ``lib``.

One wrapper per C function Python uses, named after it without its library prefix where that
reads better (``vmem_malloc``, ``ops_persist``, ``sim_new``). Each wrapper checks the C
result (NULL, -1) and turns a failure into an exception: the calling thread's errno (as cffi
saved it after the call) and ``pmalloc_errormsg()``, mapped by
:func:`pmalloc.errors.error_from_errno` (:func:`last_error`). Nothing above this module
touches ``lib``.

What crosses this layer: addresses as ints (``void *`` in C: the wrappers cast), sizes as
ints already checked by :mod:`pmalloc._args`, C handles (``VMEM *``, ``struct pmem_ops *``,
``PMALLOC_SIM *``) as opaque objects to pass back, and C structs as dicts or tuples of
Python values. Wrappers on the hot path (``vmem_malloc``, ``vmem_free``) bind their C
function once, at import.
"""
from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any, Final

from pmalloc._native import ffi, lib
from pmalloc.errors import PmallocError, error_from_errno

Handle = Any  # an opaque C pointer: VMEM *, const struct pmem_ops *, PMALLOC_SIM *

_cast = ffi.cast
_NULL = ffi.NULL


def last_error(filename: str | os.PathLike[str] | None = None) -> PmallocError:
    """The exception for the calling thread's last failed C call.

    Reads errno as cffi saved it after that call, then ``pmalloc_errormsg()``; call it
    before any other C call in the same thread.
    """
    err = int(ffi.errno)
    raw = lib.pmalloc_errormsg()
    message = ffi.string(raw).decode("utf-8", "replace") if raw != _NULL else ""
    return error_from_errno(err, message, filename)


def _text(p: Any) -> str | None:
    """A C string as str (undecodable bytes kept as surrogates), None for NULL."""
    return None if p == _NULL else ffi.string(p).decode("utf-8", "surrogateescape")


def _fields(ctype: str) -> tuple[str, ...]:
    return tuple(name for name, _ in ffi.typeof(ctype).fields)


# ---- Constants --------------------------------------------------------------------------------

#: libvmem's VMEM_MIN_POOL.
VMEM_MIN_POOL: Final = int(lib.VMEM_MIN_POOL)

#: pmem_map_file's PMEM_FILE_* flags.
PMEM_FILE_CREATE: Final = int(lib.PMEM_FILE_CREATE)
PMEM_FILE_EXCL: Final = int(lib.PMEM_FILE_EXCL)
PMEM_FILE_SPARSE: Final = int(lib.PMEM_FILE_SPARSE)
PMEM_FILE_TMPFILE: Final = int(lib.PMEM_FILE_TMPFILE)

#: The PMEM_F_MEM_* flags of pmem_memcpy and pmem_memset.
PMEM_F_MEM_NODRAIN: Final = int(lib.PMEM_F_MEM_NODRAIN)
PMEM_F_MEM_NONTEMPORAL: Final = int(lib.PMEM_F_MEM_NONTEMPORAL)
PMEM_F_MEM_TEMPORAL: Final = int(lib.PMEM_F_MEM_TEMPORAL)
PMEM_F_MEM_WC: Final = int(lib.PMEM_F_MEM_WC)
PMEM_F_MEM_WB: Final = int(lib.PMEM_F_MEM_WB)
PMEM_F_MEM_NOFLUSH: Final = int(lib.PMEM_F_MEM_NOFLUSH)
PMEM_F_MEM_VALID_FLAGS: Final = int(lib.PMEM_F_MEM_VALID_FLAGS)

#: pmalloc_persist_ops's kinds.
OPS_AUTO: Final = int(lib.PMALLOC_OPS_AUTO)
OPS_MSYNC: Final = int(lib.PMALLOC_OPS_MSYNC)

STATS_FIELDS: Final = _fields("struct pmalloc_stats")
CLASS_STATS_FIELDS: Final = _fields("struct pmalloc_class_stats")
_SETTING_FIELDS: Final = _fields("struct pmalloc_setting")
_PMEM_INFO_FIELDS: Final = _fields("struct pmalloc_pmem_info")
_PMEM_INFO_TEXT: Final = ("flush", "deep_flush", "movnt")


# ---- libvmem ----------------------------------------------------------------------------------

_vmem_malloc = lib.vmem_malloc
_vmem_free = lib.vmem_free


def vmem_create(dir: str, size: int) -> Handle:
    """A pool of size bytes in dir; the OSError, MemoryError or ValueError naming dir."""
    vmp = lib.vmem_create(os.fsencode(dir), size)
    if vmp == _NULL:
        raise last_error(dir)
    return vmp


def vmem_delete(vmp: Handle) -> None:
    lib.vmem_delete(vmp)


def vmem_malloc(vmp: Handle, size: int) -> int:
    """The address of size fresh bytes (size > 0)."""
    address = int(_cast("uintptr_t", _vmem_malloc(vmp, size)))
    if not address:
        raise last_error()
    return address


def vmem_calloc(vmp: Handle, nmemb: int, size: int) -> int:
    address = int(_cast("uintptr_t", lib.vmem_calloc(vmp, nmemb, size)))
    if not address:
        raise last_error()
    return address


def vmem_aligned_alloc(vmp: Handle, alignment: int, size: int) -> int:
    address = int(_cast("uintptr_t", lib.vmem_aligned_alloc(vmp, alignment, size)))
    if not address:
        raise last_error()
    return address


def vmem_strdup(vmp: Handle, data: bytes) -> int:
    """The address of a NUL-terminated copy of data (which holds no NUL)."""
    address = int(_cast("uintptr_t", lib.vmem_strdup(vmp, data)))
    if not address:
        raise last_error()
    return address


def vmem_realloc(vmp: Handle, address: int, size: int) -> int:
    """The new address; on failure the old one is still allocated."""
    moved = int(_cast("uintptr_t", lib.vmem_realloc(vmp, _cast("void *", address), size)))
    if not moved:
        raise last_error()
    return moved


def vmem_free(vmp: Handle, address: int) -> None:
    _vmem_free(vmp, _cast("void *", address))


def vmem_malloc_usable_size(vmp: Handle, address: int) -> int:
    return int(lib.vmem_malloc_usable_size(vmp, _cast("void *", address)))


def vmem_check(vmp: Handle) -> bool:
    """True when the pool's metadata is consistent."""
    result = lib.vmem_check(vmp)
    if result < 0:
        raise last_error()
    return bool(result)


# ---- pmalloc.h: pools ------------------------------------------------------------------------


def vmem_stats(vmp: Handle) -> dict[str, int]:
    """struct pmalloc_stats as a dict (field -> int)."""
    st = ffi.new("struct pmalloc_stats *")
    if lib.pmalloc_vmem_stats(vmp, st) != 0:
        raise last_error()
    return {name: int(getattr(st, name)) for name in STATS_FIELDS}


def vmem_class_stats(vmp: Handle, n: int) -> list[dict[str, int]]:
    """Up to n struct pmalloc_class_stats rows as dicts."""
    rows = ffi.new("struct pmalloc_class_stats[]", max(n, 1))
    got = lib.pmalloc_vmem_class_stats(vmp, rows, n)
    if got < 0:
        raise last_error()
    return [{name: int(getattr(rows[i], name)) for name in CLASS_STATS_FIELDS}
            for i in range(min(got, n))]


def vmem_purge(vmp: Handle) -> None:
    if lib.pmalloc_vmem_purge(vmp) != 0:
        raise last_error()


#: Give back the calling thread's caches. The C function itself (nothing to check), so a
#: finalizer that holds it still works while the interpreter clears module globals at exit.
thread_flush: Final[Callable[[], None]] = lib.pmalloc_thread_flush


# ---- pmalloc.h: settings ---------------------------------------------------------------------


def vmem_numpy_allocator(vmp: Handle) -> tuple[int, int, int, int, int]:
    """NumPy's allocator shape over vmp: (ctx, malloc, calloc, realloc, free) addresses."""
    fns = (lib.pmalloc_np_vmem_malloc, lib.pmalloc_np_vmem_calloc,
           lib.pmalloc_np_vmem_realloc, lib.pmalloc_np_vmem_free)
    return (int(ffi.cast("uintptr_t", vmp)),
            *(int(ffi.cast("uintptr_t", f)) for f in fns))  # type: ignore[return-value]


# ---- kinds (memkind.h) ----


def kind_static(name: str) -> Handle:
    """The static kind MEMKIND_<name>; AttributeError for a name memkind.h lacks."""
    return getattr(lib, "MEMKIND_" + name)


def kind_pool(kind: Handle) -> Handle:
    """The kind's heap as a vmem pool handle (a static kind's is made on first use)."""
    vmp = lib.pmalloc_kind_pool(kind)
    if vmp == ffi.NULL:
        raise last_error()
    return vmp


def kind_check_available(kind: Handle) -> tuple[int, str]:
    """(memkind_check_available's code, the message when not 0)."""
    code = lib.memkind_check_available(kind)
    return code, (_text(lib.pmalloc_errormsg()) or "") if code else ""


def kind_create_pmem(dir: str, max_size: int, conservative: bool) -> Handle:
    """memkind_create_pmem_with_config; PmallocError family with errno and message."""
    cfg = ffi.gc(lib.memkind_config_new(), lib.memkind_config_delete)
    if cfg == ffi.NULL:
        raise MemoryError("no memory for a memkind_config")
    lib.memkind_config_set_path(cfg, os.fsencode(dir))
    lib.memkind_config_set_size(cfg, max_size)
    lib.memkind_config_set_memory_usage_policy(
        cfg, lib.MEMKIND_MEM_USAGE_POLICY_CONSERVATIVE if conservative
        else lib.MEMKIND_MEM_USAGE_POLICY_DEFAULT)
    out = ffi.new("memkind_t *")
    if lib.memkind_create_pmem_with_config(cfg, out) != 0:
        raise last_error(dir)
    return out[0]


def kind_destroy(kind: Handle) -> None:
    if lib.memkind_destroy_kind(kind) != 0:
        raise last_error()


def kind_detect(address: int) -> int:
    """The address of the kind that allocated address, 0 if none."""
    return int(ffi.cast("uintptr_t", lib.memkind_detect_kind(ffi.cast("void *", address))))


def kind_address(kind: Handle) -> int:
    return int(ffi.cast("uintptr_t", kind))


# ---- tiers (memkind_memtier.h) ----


def tiers_build(kinds: list[Handle], ratios: list[int], threshold: bool) -> Handle:
    """A memtier_memory over kinds with ratios (STATIC_RATIO, or DYNAMIC_THRESHOLD)."""
    b = lib.memtier_builder_new(lib.MEMTIER_POLICY_DYNAMIC_THRESHOLD if threshold
                                else lib.MEMTIER_POLICY_STATIC_RATIO)
    if b == ffi.NULL:
        raise last_error()
    try:
        for k, r in zip(kinds, ratios):
            if lib.memtier_builder_add_tier(b, k, r) != 0:
                raise last_error()
        m = lib.memtier_builder_construct_memtier_memory(b)
        if m == ffi.NULL:
            raise last_error()
        return m
    finally:
        lib.memtier_builder_delete(b)


def tiers_delete(memory: Handle) -> None:
    lib.memtier_delete_memtier_memory(memory)


def tiers_parse(spec: str) -> tuple[Handle, Handle]:
    """(struct pmalloc_tiers *, its memtier_memory) from a tier list such as "DRAM:1,PMEM:4"."""
    t = lib.pmalloc_tiers_new(spec.encode())
    if t == ffi.NULL:
        raise last_error()
    return t, lib.pmalloc_tiers_memory(t)


def tiers_kinds(t: Handle) -> list[tuple[Handle, str, int]]:
    """The parsed tiers: (C kind, name as written, ratio)."""
    out = []
    kind, ratio = ffi.new("memkind_t *"), ffi.new("unsigned *")
    while (name := lib.pmalloc_tiers_get(t, len(out), kind, ratio)) != ffi.NULL:
        out.append((kind[0], ffi.string(name).decode(), int(ratio[0])))
    return out


def tiers_free(t: Handle) -> None:
    lib.pmalloc_tiers_delete(t)


def _address(p: Any) -> int:
    if p == ffi.NULL:
        raise last_error()
    return int(ffi.cast("uintptr_t", p))


def memtier_malloc(memory: Handle, size: int) -> int:
    return _address(lib.memtier_malloc(memory, size))


def memtier_calloc(memory: Handle, nmemb: int, size: int) -> int:
    return _address(lib.memtier_calloc(memory, nmemb, size))


def memtier_aligned_alloc(memory: Handle, alignment: int, size: int) -> int:
    out = ffi.new("void **")
    err = lib.memtier_posix_memalign(memory, out, max(alignment, ffi.sizeof("void *")), size)
    if err:
        raise error_from_errno(err, f"memtier_posix_memalign({alignment}, {size}) failed")
    return _address(out[0])


def memtier_strdup(memory: Handle, data: bytes) -> int:
    address = memtier_malloc(memory, len(data) + 1)
    ffi.memmove(ffi.cast("char *", address), data + b"\0", len(data) + 1)
    return address


def memtier_realloc(memory: Handle, address: int, size: int) -> int:
    return _address(lib.memtier_realloc(memory, ffi.cast("void *", address), size))


def memtier_free(memory: Handle, address: int) -> None:
    lib.memtier_kind_free(ffi.NULL, ffi.cast("void *", address))


def memtier_usable_size(memory: Handle, address: int) -> int:
    return int(lib.memtier_usable_size(ffi.cast("void *", address)))


def memtier_kind_allocated(kind: Handle) -> int:
    return int(lib.memtier_kind_allocated_size(kind))


def memtier_numpy_allocator(memory: Handle) -> tuple[int, int, int, int, int]:
    """NumPy's allocator shape over tiers: (ctx, malloc, calloc, realloc, free) addresses."""
    fns = (lib.pmalloc_np_memtier_malloc, lib.pmalloc_np_memtier_calloc,
           lib.pmalloc_np_memtier_realloc, lib.pmalloc_np_memtier_free)
    return (int(ffi.cast("uintptr_t", memory)),
            *(int(ffi.cast("uintptr_t", f)) for f in fns))  # type: ignore[return-value]


# ---- logs (libpmemlog.h) ----


def _log_or_raise(plp: Handle, path: str | None) -> Handle:
    """A pool or store handle, or the exception for the failed call."""
    if plp == ffi.NULL:
        raise last_error(path)
    return plp


def log_create(path: str, size: int, mode: int) -> Handle:
    return _log_or_raise(lib.pmemlog_create(os.fsencode(path), size, mode), path)


def log_open(path: str) -> Handle:
    return _log_or_raise(lib.pmemlog_open(os.fsencode(path)), path)


def log_map(address: int, size: int, create: bool) -> Handle:
    """A log over memory the caller mapped (the crash simulator's): pmalloc_log_map."""
    return _log_or_raise(lib.pmalloc_log_map(ffi.cast("void *", address), size, create), None)


def log_close(plp: Handle) -> None:
    lib.pmemlog_close(plp)


def log_check(path: str) -> tuple[int, str]:
    """(pmemlog_check's 1/0/-1, the message when not 1); -1 raises."""
    r = lib.pmemlog_check(os.fsencode(path))
    if r < 0:
        raise last_error(path)
    return r, "" if r == 1 else (_text(lib.pmalloc_errormsg()) or "")


def log_nbyte(plp: Handle) -> int:
    return int(lib.pmemlog_nbyte(plp))


def log_appendv(plp: Handle, parts: list[Any]) -> None:
    """Append the buffers as one entry (bytes-like objects, kept alive by the caller)."""
    iov = ffi.new("struct iovec[]", max(len(parts), 1))
    keep = []
    for i, part in enumerate(parts):
        buf = ffi.from_buffer(part)
        keep.append(buf)
        iov[i].iov_base = buf
        iov[i].iov_len = len(buf)
    if lib.pmemlog_appendv(plp, iov, len(parts)) != 0:
        raise last_error()


def log_tell(plp: Handle) -> int:
    n = lib.pmemlog_tell(plp)
    if n < 0:
        raise last_error()
    return int(n)


def log_rewind(plp: Handle) -> None:
    lib.pmemlog_rewind(plp)


@ffi.def_extern()
def _log_chunk(buf: Any, size: int, arg: Any) -> int:
    ffi.from_handle(arg).append(ffi.buffer(buf, size)[:])
    return 1


def log_walk(plp: Handle, chunksize: int) -> list[bytes]:
    """The log's bytes as pmemlog_walk hands them out, copied."""
    chunks: list[bytes] = []
    handle = ffi.new_handle(chunks)
    lib.pmemlog_walk(plp, chunksize, lib._log_chunk, handle)
    return chunks


# ---- block pools (libpmemblk.h) ----


def blk_create(path: str, bsize: int, size: int, mode: int) -> Handle:
    return _log_or_raise(lib.pmemblk_create(os.fsencode(path), bsize, size, mode), path)


def blk_open(path: str, bsize: int) -> Handle:
    return _log_or_raise(lib.pmemblk_open(os.fsencode(path), bsize), path)


def blk_map(address: int, size: int, bsize: int, create: bool) -> Handle:
    """A block pool over memory the caller mapped (the crash simulator's)."""
    return _log_or_raise(lib.pmalloc_blk_map(ffi.cast("void *", address), size, bsize,
                                             create), None)


def blk_close(pbp: Handle) -> None:
    lib.pmemblk_close(pbp)


def blk_check(path: str, bsize: int) -> tuple[int, str]:
    """(pmemblk_check's 1/0, the message when 0); -1 raises."""
    r = lib.pmemblk_check(os.fsencode(path), bsize)
    if r < 0:
        raise last_error(path)
    return r, "" if r == 1 else (_text(lib.pmalloc_errormsg()) or "")


def blk_check_open(pbp: Handle) -> tuple[int, str]:
    r = lib.pmalloc_blk_check_map(pbp)
    if r < 0:
        raise last_error()
    return r, "" if r == 1 else (_text(lib.pmalloc_errormsg()) or "")


def blk_geometry(pbp: Handle) -> tuple[int, int]:
    """(bsize, nblock)."""
    return int(lib.pmemblk_bsize(pbp)), int(lib.pmemblk_nblock(pbp))


def blk_read_into(pbp: Handle, blockno: int, buf: Any) -> None:
    if lib.pmemblk_read(pbp, ffi.from_buffer(buf, require_writable=True), blockno) != 0:
        raise last_error()


def blk_write(pbp: Handle, blockno: int, data: Any) -> None:
    if lib.pmemblk_write(pbp, ffi.from_buffer(data), blockno) != 0:
        raise last_error()


def blk_set_zero(pbp: Handle, blockno: int) -> None:
    if lib.pmemblk_set_zero(pbp, blockno) != 0:
        raise last_error()


def blk_set_error(pbp: Handle, blockno: int) -> None:
    if lib.pmemblk_set_error(pbp, blockno) != 0:
        raise last_error()


def settings(n: int) -> list[dict[str, Any]]:
    """Up to n struct pmalloc_setting rows as dicts: strings as str or None, strict as int."""
    rows = ffi.new("struct pmalloc_setting[]", n)
    got = min(int(lib.pmalloc_settings(rows, n)), n)
    return [{name: (int(r.strict) if name == "strict" else _text(getattr(r, name)))
             for name in _SETTING_FIELDS} for r in rows[0:got]]


def settings_reload() -> None:
    lib.pmalloc_settings_reload()


def parse_size(text: bytes) -> int:
    """The size text names; InvalidArgumentError (EINVAL) with the C message."""
    out = ffi.new("size_t *")
    if lib.pmalloc_parse_size(text, out) != 0:
        raise last_error()
    return int(out[0])


def dax_mounts(table: bytes | None, size: int) -> tuple[int, str]:
    """(bytes needed without the NUL, the text that fit in size bytes)."""
    buf = ffi.new("char[]", size)
    need = int(lib.pmalloc_dax_mounts(_NULL if table is None else table, buf, size))
    return need, ffi.string(buf).decode("utf-8", "surrogateescape")


# ---- libpmem ----------------------------------------------------------------------------------


def pmem_map_file(path: str, size: int, flags: int, mode: int) -> tuple[int, int, bool]:
    """(address, mapped length, is_pmem) of the file mapped; the OSError naming path."""
    mapped = ffi.new("size_t *")
    is_pmem = ffi.new("int *")
    ffi.errno = 0
    addr = lib.pmem_map_file(os.fsencode(path), size, flags, mode, mapped, is_pmem)
    if addr == _NULL:
        raise last_error(path)
    return int(_cast("uintptr_t", addr)), int(mapped[0]), bool(is_pmem[0])


def pmem_unmap(address: int, size: int, filename: str | None = None) -> None:
    ffi.errno = 0
    if lib.pmem_unmap(_cast("void *", address), size) != 0:
        raise last_error(filename)


def pmem_info() -> dict[str, Any]:
    """struct pmalloc_pmem_info as a dict: the instruction names as str, the rest as int."""
    raw = ffi.new("struct pmalloc_pmem_info *")
    if lib.pmalloc_pmem_info(raw) != 0:
        raise last_error()
    return {name: (ffi.string(getattr(raw, name)).decode() if name in _PMEM_INFO_TEXT
                   else int(getattr(raw, name)))
            for name in _PMEM_INFO_FIELDS}


# ---- pmalloc.h: persist ops --------------------------------------------------------------------


def persist_ops(address: int, size: int, kind: int) -> Handle:
    """The persist-ops table of kind for [address, address+size)."""
    ops = lib.pmalloc_persist_ops(_cast("void *", address), size, kind)
    if ops == _NULL:
        raise last_error()
    return ops


def ops_name(ops: Handle) -> str:
    return ffi.string(lib.pmalloc_ops_name(ops)).decode()


def ops_persist(ops: Handle, address: int, size: int, filename: str | None = None) -> None:
    if lib.pmalloc_ops_persist(ops, _cast("void *", address), size) != 0:
        raise last_error(filename)


def ops_flush(ops: Handle, address: int, size: int, filename: str | None = None) -> None:
    if lib.pmalloc_ops_flush(ops, _cast("void *", address), size) != 0:
        raise last_error(filename)


def ops_drain(ops: Handle, filename: str | None = None) -> None:
    if lib.pmalloc_ops_drain(ops) != 0:
        raise last_error(filename)


def ops_memcpy(ops: Handle, address: int, source: Any, size: int, flags: int,
               filename: str | None = None) -> None:
    """Copy size bytes of source (a cdata buffer: :func:`pmalloc._args.buffer`); a failed
    flush raises (the bytes are copied)."""
    if lib.pmalloc_ops_memcpy(ops, _cast("void *", address), source, size, flags) == _NULL:
        raise last_error(filename)


def ops_memset(ops: Handle, address: int, byte: int, size: int, flags: int,
               filename: str | None = None) -> None:
    if lib.pmalloc_ops_memset(ops, _cast("void *", address), byte, size, flags) == _NULL:
        raise last_error(filename)



# ---- pmalloc.h: the crash simulator ------------------------------------------------------------


def sim_new(size: int) -> Handle:
    ffi.errno = 0
    sim = lib.pmalloc_sim_new(size)
    if sim == _NULL:
        raise last_error()
    return sim


def sim_delete(sim: Handle) -> None:
    lib.pmalloc_sim_delete(sim)


def sim_addr(sim: Handle) -> int:
    return int(_cast("uintptr_t", lib.pmalloc_sim_addr(sim)))


def sim_size(sim: Handle) -> int:
    return int(lib.pmalloc_sim_size(sim))


def sim_ops(sim: Handle) -> Handle:
    return lib.pmalloc_sim_ops(sim)


def sim_load(sim: Handle, image: Any, size: int) -> None:
    """Load size bytes of image (a cdata buffer: :func:`pmalloc._args.buffer`)."""
    if lib.pmalloc_sim_load(sim, image, size) != 0:
        raise last_error()


def sim_drains(sim: Handle) -> int:
    return int(lib.pmalloc_sim_drains(sim))


def sim_persisted(sim: Handle, size: int) -> bytes:
    """The first size bytes of the persisted image."""
    out = ffi.new("char[]", size)
    if lib.pmalloc_sim_persisted(sim, out, size) != 0:
        raise last_error()
    return ffi.buffer(out)[:]


def sim_words(sim: Handle, n: int) -> tuple[int, list[tuple[int, tuple[int, ...]]]]:
    """(how many words there are, the first min(n, that) as (offset, values))."""
    out = ffi.new("struct pmalloc_sim_word[]", max(n, 1))
    total = int(lib.pmalloc_sim_words(sim, out if n else _NULL, n))
    return total, [(int(w.offset), tuple(int(w.value[j]) for j in range(w.nvalues)))
                   for w in out[0:min(n, total)]]


@ffi.def_extern()
def _pmalloc_sim_hook(arg: Any, point: int) -> int:
    hook: Callable[[int], int] = ffi.from_handle(arg)
    return hook(int(point))


def sim_set_hook(sim: Handle, hook: Callable[[int], int] | None) -> Any:
    """Call hook(point) at each drain point (None: no more calls; waits for one running).
    Returns what must stay referenced while the hook is set."""
    if hook is None:
        lib.pmalloc_sim_set_hook(sim, _NULL, _NULL)
        return None
    handle = ffi.new_handle(hook)
    lib.pmalloc_sim_set_hook(sim, lib._pmalloc_sim_hook, handle)
    return handle


# ---- object pools (libpmemobj.h): what the CLI needs; pmalloc.obj builds on these ----


def obj_create(path: str, layout: str | None, size: int, mode: int) -> Handle:
    lay = layout.encode() if layout is not None else ffi.NULL
    return _log_or_raise(lib.pmemobj_create(os.fsencode(path), lay, size, mode), path)


def obj_open(path: str, layout: str | None) -> Handle:
    lay = layout.encode() if layout is not None else ffi.NULL
    return _log_or_raise(lib.pmemobj_open(os.fsencode(path), lay), path)


def obj_close(pop: Handle) -> None:
    lib.pmemobj_close(pop)


def obj_check(path: str, layout: str | None) -> tuple[int, str]:
    """(pmemobj_check's 1/0, the message when not 1); -1 raises."""
    lay = layout.encode() if layout is not None else ffi.NULL
    r = lib.pmemobj_check(os.fsencode(path), lay)
    if r < 0:
        raise last_error(path)
    return r, "" if r == 1 else (_text(lib.pmalloc_errormsg()) or "")


def obj_usage(pop: Handle) -> tuple[int, int, int, int]:
    """(free bytes, bytes of user objects, objects, root size) of an open pool."""
    out = ffi.new("uint64_t[3]")
    lib.pmalloc_obj_usage(pop, out, out + 1, out + 2)
    return int(out[0]), int(out[1]), int(out[2]), int(lib.pmemobj_root_size(pop))


def obj_map(address: int, size: int, layout: str | None, create: bool) -> Handle:
    """An object pool over memory the caller mapped (the crash simulator's): pmalloc_obj_map."""
    lay = layout.encode() if layout is not None else ffi.NULL
    return _log_or_raise(lib.pmalloc_obj_map(ffi.cast("void *", address), size, lay, create),
                         None)


def obj_root(pop: Handle, size: int) -> tuple[int, int, int]:
    """(uuid_lo, off, size) of the root, made or grown to size bytes; raises on failure."""
    oid = lib.pmemobj_root(pop, size)
    if oid.off == 0:
        raise last_error()
    return int(oid.pool_uuid_lo), int(oid.off), int(lib.pmemobj_root_size(pop))


def obj_ids(pop: Handle) -> tuple[int, int, int]:
    """(the pool_uuid_lo its oids carry, its mapping's address, its size)."""
    return (int(lib.pmalloc_obj_uuid(pop)), int(ffi.cast("uintptr_t", lib.pmalloc_obj_base(pop))),
            int(lib.pmalloc_obj_size(pop)))


def obj_alloc(pop: Handle, size: int, type_num: int, zero: bool) -> tuple[int, int]:
    oid = ffi.new("PMEMoid *")
    flags = lib.POBJ_XALLOC_ZERO if zero else 0
    if lib.pmemobj_xalloc(pop, oid, size, type_num, flags, ffi.NULL, ffi.NULL) != 0:
        raise last_error()
    return int(oid.pool_uuid_lo), int(oid.off)


def obj_free(uuid_lo: int, off: int) -> None:
    oid = ffi.new("PMEMoid *", {"pool_uuid_lo": uuid_lo, "off": off})
    lib.pmemobj_free(oid)
    if oid.off != 0:
        raise last_error()


def obj_info(uuid_lo: int, off: int) -> tuple[int, int]:
    """(usable size, type number) of an allocated object; usable 0: not one."""
    oid = ffi.new("PMEMoid *", {"pool_uuid_lo": uuid_lo, "off": off})
    return int(lib.pmemobj_alloc_usable_size(oid[0])), int(lib.pmemobj_type_num(oid[0]))


def obj_objects(pop: Handle) -> list[tuple[int, int]]:
    """Every object of the pool, in address order."""
    out = []
    oid = lib.pmemobj_first(pop)
    while oid.off != 0:
        out.append((int(oid.pool_uuid_lo), int(oid.off)))
        oid = lib.pmemobj_next(oid)
    return out


def tx_hot_path() -> tuple[int, int, int, int]:
    """The addresses of pmalloc_tx_enter, pmalloc_tx_leave, pmalloc_tx_add_addr and
    pmalloc_errormsg, for pmalloc._tx (the C half of pmalloc.obj.Transaction)."""
    names = ("pmalloc_tx_enter", "pmalloc_tx_leave", "pmalloc_tx_add_addr", "pmalloc_errormsg")
    return tuple(int(_cast("uintptr_t", ffi.addressof(lib, n))) for n in names)  # type: ignore


def handle_address(h: Handle) -> int:
    return int(_cast("uintptr_t", h))


def obj_types(pop: Handle) -> list[tuple[int, int, int]]:
    """(type number, objects, usable bytes) of the pool's objects, by type number."""
    n = 64
    while True:
        out = ffi.new("struct pmalloc_obj_type[]", n)
        k = lib.pmalloc_obj_types(pop, out, n)
        if k < 0:
            raise last_error()
        if k <= n:
            return [(int(t.type_num), int(t.objects), int(t.bytes)) for t in out[0:k]]
        n = k


def obj_txs(pop: Handle) -> int:
    """How many transactions (all threads) are open on the pool."""
    return int(lib.pmalloc_obj_txs(pop))


def obj_root_size(pop: Handle) -> int:
    return int(lib.pmemobj_root_size(pop))


def buffer_span(buf: Any) -> tuple[int, int]:
    """(address, length in bytes) of any buffer-protocol object."""
    with ffi.from_buffer(buf) as c:
        return int(ffi.cast("uintptr_t", c)), len(c)


def tx_alloc(size: int, type_num: int, zero: bool) -> tuple[int, int]:
    flags = lib.POBJ_XALLOC_NO_ABORT | (lib.POBJ_XALLOC_ZERO if zero else 0)
    oid = lib.pmemobj_tx_xalloc(size, type_num, flags)
    if oid.off == 0:
        raise last_error()
    return int(oid.pool_uuid_lo), int(oid.off)


def tx_free(uuid_lo: int, off: int) -> None:
    oid = ffi.new("PMEMoid *", {"pool_uuid_lo": uuid_lo, "off": off})
    if lib.pmemobj_tx_xfree(oid[0], lib.POBJ_XFREE_NO_ABORT) != 0:
        raise last_error()


# ---- pmalloc_kv: the key/value store --------------------------------------------------------

KV_RDONLY: Final = int(lib.PMALLOC_KV_RDONLY)
KV_CREATE: Final = int(lib.PMALLOC_KV_CREATE)
KV_TRUNC: Final = int(lib.PMALLOC_KV_TRUNC)

_kv_get = lib.pmalloc_kv_get
_kv_set = lib.pmalloc_kv_set
_kv_del = lib.pmalloc_kv_del
_kv_next = lib.pmalloc_kv_next
_unpack = ffi.unpack


def kv_open(path: str, flags: int, size: int, mode: int) -> Handle:
    return _log_or_raise(lib.pmalloc_kv_open(os.fsencode(path), flags, size, mode), path)


def kv_map(address: int, size: int, create: bool) -> Handle:
    """A store over memory the caller mapped (the crash simulator's): pmalloc_kv_map."""
    return _log_or_raise(lib.pmalloc_kv_map(_cast("void *", address), size, create), None)


def kv_close(kv: Handle) -> None:
    lib.pmalloc_kv_close(kv)


def kv_out() -> tuple[Any, Any]:
    """Result cells for kv_get and kv_next (const char **, size_t *): one pair per
    handle, used under its lock."""
    return ffi.new("const char **"), ffi.new("size_t *")


def kv_iter() -> Any:
    """A new iteration position, at the start."""
    return ffi.new("struct pmalloc_kv_iter *")


def kv_get(kv: Handle, key: bytes, out: tuple[Any, Any]) -> bytes | None:
    """The value of key; None when there is none."""
    p, n = out
    if _kv_get(kv, key, len(key), p, n) != 0:
        if ffi.errno == errno.ENOENT:
            return None
        raise last_error()
    return _unpack(p[0], n[0])


def kv_has(kv: Handle, key: bytes, out: tuple[Any, Any]) -> bool:
    p, n = out
    return _kv_get(kv, key, len(key), p, n) == 0


def kv_set(kv: Handle, key: bytes, value: bytes) -> None:
    if _kv_set(kv, key, len(key), value, len(value)) != 0:
        raise last_error()


def kv_del(kv: Handle, key: bytes) -> bool:
    """Remove key; False when it is not there."""
    if _kv_del(kv, key, len(key)) != 0:
        if ffi.errno == errno.ENOENT:
            return False
        raise last_error()
    return True


def kv_count(kv: Handle) -> int:
    return int(lib.pmalloc_kv_count(kv))


def kv_shape(kv: Handle) -> int:
    return int(lib.pmalloc_kv_shape(kv))


def kv_next_key(kv: Handle, pos: Any, out: tuple[Any, Any]) -> bytes | None:
    """The key at position pos (from kv_iter), advancing it; None at the end."""
    p, n = out
    if _kv_next(kv, pos, p, n, _NULL, _NULL) != 1:
        return None
    return _unpack(p[0], n[0])


def kv_serve(kv: Handle, host: str, port: int, max_bulk: int, ready_fd: int) -> None:
    """Serve the store to Redis clients until SIGTERM or SIGINT (the GIL released)."""
    if lib.pmalloc_kv_serve(kv, host.encode(), port, max_bulk, ready_fd) != 0:
        raise last_error()


def kv_command(kv: Handle, args: list[bytes]) -> bytes:
    """The RESP2 reply of one Redis command run on the store (pmalloc_kv_command)."""
    argv = [ffi.from_buffer(a) for a in args]
    cargv = ffi.new("const char *[]", [ffi.cast("const char *", a) for a in argv])
    argl = ffi.new("size_t[]", [len(a) for a in args])
    reply, n = ffi.new("char **"), ffi.new("size_t *")
    if lib.pmalloc_kv_command(kv, len(args), cargv, argl, reply, n) != 0:
        raise last_error()
    try:
        return _unpack(reply[0], n[0])
    finally:
        lib.pmalloc_kv_reply_free(reply[0])


def kv_pool(kv: Handle) -> Handle:
    return lib.pmalloc_kv_pool(kv)
