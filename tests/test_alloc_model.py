"""The allocator core through cffi: random allocation sequences checked against a model,
and unit tests of libvmem's and pmalloc's C API (sizes, alignment, errors, owners, regions).

The model keeps every live block with its requested and usable size and checks, after each
call: no two live blocks overlap (by usable size), the alignment is honoured, the block lies
in its pool (``pmalloc_vmem_of`` of its first and last byte), calloc memory reads zero,
realloc kept the old prefix, and each block still holds the bytes written into it (all of its
usable size, filled from a random master buffer at an offset chosen by the block's id) when it
is reallocated or freed. ``vmem_check`` must say 1 at checkpoints and at the end. A failure
prints the calls that led to it, as C, to serve as a reproducer.
"""
from __future__ import annotations

import bisect
import errno
import math
import mmap
import os
import random
import stat
from dataclasses import dataclass

import cffi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import KiB, MiB, VMEM_MIN_POOL, errno_text
from pmalloc._native import ffi, lib

SIZE_MAX = (1 << (8 * ffi.sizeof("size_t"))) - 1
PAGE = 4096
SMALL_MAX = 14 * KiB          # the largest slab class
LARGE_MAX = 4 * MiB           # the largest page-run class; beyond: huge
HUGE_TOP = 12 * MiB           # the largest block the random sequences ask for
EDGE_SIZES = [1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 257, 4095, 4096, 4097,
              SMALL_MAX - 1, SMALL_MAX, SMALL_MAX + 1, 16 * KiB - 1, 16 * KiB, 16 * KiB + 1,
              64 * KiB, 64 * KiB + 1, LARGE_MAX - 1, LARGE_MAX, LARGE_MAX + 1,
              LARGE_MAX + PAGE + 1]

# ---- memory comparison without copies: libc's memcmp through a second, ABI-mode FFI ---------

_abi = cffi.FFI()
_abi.cdef("int memcmp(const void *a, const void *b, size_t n);")
_libc = _abi.dlopen(None)

MASTER = random.Random(0x5eed).randbytes(HUGE_TOP + 8 * MiB)  # block patterns come from here
MASTER_SPAN = 4 * MiB                                         # pattern offsets lie below this
ZEROS = bytes(HUGE_TOP + 4 * MiB)
DIRTY = b"\xa5" * (HUGE_TOP + 4 * MiB)
_MASTER_BUF = _abi.from_buffer(MASTER)
_ZEROS_BUF = _abi.from_buffer(ZEROS)
_MASTER_ADDR = int(_abi.cast("uintptr_t", _MASTER_BUF))
_ZEROS_ADDR = int(_abi.cast("uintptr_t", _ZEROS_BUF))


def addr_of(p) -> int:
    return int(ffi.cast("uintptr_t", p))


def same_bytes(addr: int, ref_addr: int, n: int) -> bool:
    if n == 0:
        return True
    return _libc.memcmp(_abi.cast("void *", addr), _abi.cast("void *", ref_addr), n) == 0


def first_difference(addr: int, ref: bytes, n: int) -> int:
    """Index of the first byte at addr differing from ref (only on the failure path)."""
    seen = ffi.buffer(ffi.cast("char *", addr), n)[:]
    for i in range(n):
        if seen[i] != ref[i]:
            return i
    return -1


def is_zero(addr: int, n: int) -> bool:
    return same_bytes(addr, _ZEROS_ADDR, n)


def fundamental_alignment(size: int) -> int:
    """What malloc(size) must honour: 16, or the largest power of two fitting in size."""
    if size >= 16:
        return 16
    return 1 << (size.bit_length() - 1) if size > 0 else 1


def errmsg() -> str:
    return ffi.string(lib.pmalloc_errormsg()).decode(errors="replace")


def get_stats(vmp):
    st_ = ffi.new("struct pmalloc_stats *")
    assert lib.pmalloc_vmem_stats(vmp, st_) == 0, f"pmalloc_vmem_stats: -1, {errmsg()}"
    return st_


def class_rows(vmp) -> list:
    rows = ffi.new("struct pmalloc_class_stats[512]")
    n = lib.pmalloc_vmem_class_stats(vmp, rows, 512)
    assert 0 < n <= 512, f"pmalloc_vmem_class_stats: expected 1..512 classes, saw {n}"
    return [rows[i] for i in range(n)]


def _maps() -> list[tuple[int, int, str]]:
    """(start, end, device:inode) of each line of /proc/self/maps."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            out.append((lo, hi, f"{fields[3]}:{fields[4]}"))
    return out


def mapping_of(addr: int) -> tuple[int, int] | None:
    """The [start, end) of the mapping holding addr; adjacent pieces of the same file joined."""
    maps = _maps()
    for i, (lo, hi, ident) in enumerate(maps):
        if lo <= addr < hi:
            if ident.endswith(":0"):      # anonymous: this piece only
                return lo, hi
            j = i
            while j > 0 and maps[j - 1][1] == lo and maps[j - 1][2] == ident:
                j -= 1
                lo = maps[j][0]
            k = i
            while k + 1 < len(maps) and maps[k + 1][0] == hi and maps[k + 1][2] == ident:
                k += 1
                hi = maps[k][1]
            return lo, hi
    return None


def mapped_file_stat(addr: int) -> os.stat_result | None:
    """stat() of the file mapped at addr through /proc/self/map_files, if permitted."""
    for lo, hi, _ in _maps():
        if lo <= addr < hi:
            try:
                return os.stat(f"/proc/self/map_files/{lo:x}-{hi:x}")
            except OSError:
                return None
    return None


# ---- the model ---------------------------------------------------------------------------------

@dataclass
class Block:
    id: int
    ptr: object        # the cdata pointer
    addr: int
    size: int          # bytes asked for
    usable: int        # vmem_malloc_usable_size
    offset: int        # where in MASTER its bytes come from


class Model:
    """Live blocks of one pool and the checks each call must pass."""

    def __init__(self, vmp, pool_size: int, label: str) -> None:
        self.vmp = vmp
        self.pool_size = pool_size
        self.label = label
        self.blocks: dict[int, Block] = {}
        self.starts: list[int] = []          # sorted start addresses of live blocks
        self.by_start: dict[int, int] = {}   # start address -> block id
        self.live_usable = 0
        self.next_id = 0
        self.log: list[str] = []
        self.ncalls = 0

    # -- reporting

    def fail(self, what: str) -> None:
        tail = self.log[-60:]
        more = len(self.log) - len(tail)
        raise AssertionError(
            f"{what}\n[{self.label}] the calls that led here, as C"
            f"{f' (the first {more} left out)' if more else ''}:\n"
            + "\n".join("    " + line for line in tail))

    def note(self, line: str) -> None:
        self.log.append(line)
        self.ncalls += 1

    def must_fit(self, request: int) -> bool:
        """A request the pool has to serve: live memory and it stay under half the pool."""
        return self.live_usable + request <= self.pool_size // 2

    # -- bookkeeping

    def _offset(self, bid: int) -> int:
        return (bid * 2654435761) % MASTER_SPAN

    def _insert(self, b: Block) -> None:
        i = bisect.bisect_left(self.starts, b.addr)
        if i < len(self.starts) and self.starts[i] == b.addr:
            other = self.blocks[self.by_start[b.addr]]
            self.fail(f"p{b.id} = {b.addr:#x}: expected a block no live block starts at, "
                      f"saw p{other.id} (size {other.size}) at the same address")
        if i > 0:
            prev = self.blocks[self.by_start[self.starts[i - 1]]]
            if prev.addr + prev.usable > b.addr:
                self.fail(f"p{b.id} = [{b.addr:#x}, {b.addr + b.usable:#x}): expected no "
                          f"overlap, saw p{prev.id} = [{prev.addr:#x}, "
                          f"{prev.addr + prev.usable:#x}) reaching into it")
        if i < len(self.starts):
            nxt = self.blocks[self.by_start[self.starts[i]]]
            if b.addr + b.usable > nxt.addr:
                self.fail(f"p{b.id} = [{b.addr:#x}, {b.addr + b.usable:#x}): expected no "
                          f"overlap, saw it reach into p{nxt.id} = [{nxt.addr:#x}, "
                          f"{nxt.addr + nxt.usable:#x})")
        self.starts.insert(i, b.addr)
        self.by_start[b.addr] = b.id
        self.blocks[b.id] = b
        self.live_usable += b.usable

    def _remove(self, b: Block) -> None:
        i = bisect.bisect_left(self.starts, b.addr)
        assert self.starts[i] == b.addr
        del self.starts[i]
        del self.by_start[b.addr]
        del self.blocks[b.id]
        self.live_usable -= b.usable

    def _fill(self, b: Block) -> None:
        ffi.memmove(b.ptr, memoryview(MASTER)[b.offset:b.offset + b.usable], b.usable)

    def verify(self, b: Block, n: int | None = None, why: str = "") -> None:
        n = b.usable if n is None else n
        if not same_bytes(b.addr, _MASTER_ADDR + b.offset, n):
            ref = MASTER[b.offset:b.offset + n]
            at = first_difference(b.addr, ref, n)
            seen = ffi.cast("unsigned char *", b.addr)[at]
            self.fail(f"p{b.id} ({b.size} bytes asked, {b.usable} usable, at {b.addr:#x}){why}: "
                      f"byte {at}: expected {ref[at]:#04x} as written, saw {seen:#04x}")

    def _accept(self, bid: int, p, size: int, call: str, align: int, zero_bytes: int) -> Block:
        addr = addr_of(p)
        usable = lib.vmem_malloc_usable_size(self.vmp, p)
        self.note(f"void *p{bid} = {call};  /* {addr:#x}, usable {usable} */")
        if usable < size:
            self.fail(f"{call}: expected a usable size >= {size}, saw {usable}")
        need = max(align, fundamental_alignment(size))
        if addr % need:
            self.fail(f"{call} = {addr:#x}: expected alignment {need}, "
                      f"saw the address {addr % need} bytes past a multiple")
        for where, a in (("first", addr), ("last", addr + max(usable, 1) - 1)):
            owner = lib.pmalloc_vmem_of(ffi.cast("void *", a))
            if owner != self.vmp:
                self.fail(f"{call} = {addr:#x}: pmalloc_vmem_of(its {where} byte {a:#x}): "
                          f"expected the pool {self.vmp}, saw {owner}")
        if zero_bytes and not is_zero(addr, zero_bytes):
            at = first_difference(addr, ZEROS, zero_bytes)
            seen = ffi.cast("unsigned char *", addr)[at]
            self.fail(f"{call} = {addr:#x}: expected {zero_bytes} zero bytes, "
                      f"saw {seen:#04x} at byte {at}")
        b = Block(bid, p, addr, size, usable, self._offset(bid))
        if b.offset + usable > len(MASTER):
            self.fail(f"{call} = {addr:#x}: usable size {usable} for {size} bytes asked: "
                      f"expected at most {len(MASTER) - b.offset}")
        self._insert(b)
        self._fill(b)
        return b

    def _refused(self, bid: int | None, call: str, request: int) -> None:
        err = ffi.errno
        self.note(f"{'void *p%d = ' % bid if bid is not None else ''}{call};"
                  f"  /* NULL, errno {err} */")
        if self.must_fit(request):
            self.fail(f"{call}: expected memory ({self.live_usable} bytes live in a "
                      f"{self.pool_size}-byte pool), saw NULL, errno {errno_text(err)}: "
                      f"{errmsg()}")
        if err != errno.ENOMEM:
            self.fail(f"{call}: NULL: expected errno ENOMEM, saw {errno_text(err)}")

    # -- the calls

    def malloc(self, size: int) -> Block | None:
        bid, self.next_id = self.next_id, self.next_id + 1
        ffi.errno = 0
        p = lib.vmem_malloc(self.vmp, size)
        call = f"vmem_malloc(vmp, {size})"
        if p == ffi.NULL:
            return self._refused(bid, call, size)
        return self._accept(bid, p, size, call, 1, 0)

    def calloc(self, nmemb: int, size: int) -> Block | None:
        bid, self.next_id = self.next_id, self.next_id + 1
        ffi.errno = 0
        p = lib.vmem_calloc(self.vmp, nmemb, size)
        call = f"vmem_calloc(vmp, {nmemb}, {size})"
        if p == ffi.NULL:
            return self._refused(bid, call, nmemb * size)
        return self._accept(bid, p, nmemb * size, call, 1, nmemb * size)

    def aligned_alloc(self, align: int, size: int) -> Block | None:
        bid, self.next_id = self.next_id, self.next_id + 1
        ffi.errno = 0
        p = lib.vmem_aligned_alloc(self.vmp, align, size)
        call = f"vmem_aligned_alloc(vmp, {align}, {size})"
        if p == ffi.NULL:
            return self._refused(bid, call, size + align)
        return self._accept(bid, p, size, call, align, 0)

    def realloc(self, bid: int, size: int) -> Block | None:
        old = self.blocks[bid]
        self.verify(old, why=" before vmem_realloc")
        ffi.errno = 0
        q = lib.vmem_realloc(self.vmp, old.ptr, size)
        call = f"vmem_realloc(vmp, p{bid}, {size})"
        if q == ffi.NULL:
            self._refused(None, call, size)
            self.verify(old, why=" after a failed vmem_realloc")
            return None
        self._remove(old)
        keep = min(old.size, size)
        moved = Block(bid, q, addr_of(q), size, 0, old.offset)
        if not same_bytes(moved.addr, _MASTER_ADDR + old.offset, keep):
            self.note(f"p{bid} = {call};  /* {moved.addr:#x} */")
            ref = MASTER[old.offset:old.offset + keep]
            at = first_difference(moved.addr, ref, keep)
            self.fail(f"{call} = {moved.addr:#x} (from {old.addr:#x}): expected the first "
                      f"{keep} bytes kept, saw byte {at} changed")
        new = self._accept(bid, q, size, call, 1, 0)
        self.log[-1] = self.log[-1].replace(f"void *p{bid} = ", f"p{bid} = ", 1)
        return new

    def free(self, bid: int) -> None:
        b = self.blocks[bid]
        self.verify(b, why=" before vmem_free")
        self._remove(b)
        self.note(f"vmem_free(vmp, p{bid});")
        lib.vmem_free(self.vmp, b.ptr)

    def check(self) -> None:
        for b in self.blocks.values():
            self.verify(b, why=" at a checkpoint")
        rc = lib.vmem_check(self.vmp)
        self.note(f"vmem_check(vmp);  /* {rc} */")
        if rc != 1:
            self.fail(f"vmem_check: expected 1 with {len(self.blocks)} blocks live, saw {rc}: "
                      f"{errmsg()}")

    def free_all(self) -> None:
        for bid in sorted(self.blocks):
            self.free(bid)


# ---- random sequences --------------------------------------------------------------------------

def random_size(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.06:
        return rng.choice(EDGE_SIZES)
    if r < 0.72:   # small, log-uniform
        return max(1, int(2 ** rng.uniform(0, math.log2(SMALL_MAX))))
    if r < 0.97:   # large
        return int(2 ** rng.uniform(math.log2(SMALL_MAX + 1), math.log2(LARGE_MAX)))
    return rng.randint(LARGE_MAX + 1, HUGE_TOP)


def run_random(model: Model, rng: random.Random, nops: int, live_cap: int) -> None:
    for i in range(nops):
        ids = list(model.blocks)
        crowded = len(ids) > 300 or model.live_usable > live_cap
        r = rng.random()
        if ids and (r < 0.30 or (crowded and r < 0.65)):
            model.free(rng.choice(ids))
        elif ids and r < 0.45:
            bid = rng.choice(ids)
            old = model.blocks[bid].size
            k = rng.random()
            if k < 0.3:
                size = max(1, old + rng.randint(-64, 64))
            elif k < 0.5:
                size = min(2 * old + 1, HUGE_TOP)
            elif k < 0.6:
                size = max(1, old // 3)
            else:
                size = random_size(rng)
            model.realloc(bid, size)
        elif r < 0.55:
            nmemb = rng.choice([1, 1, 2, 3, 8, 100])
            model.calloc(nmemb, max(1, random_size(rng) // nmemb))
        elif r < 0.65:
            model.aligned_alloc(1 << rng.randint(0, 21), random_size(rng))
        else:
            model.malloc(random_size(rng))
        if i % 250 == 249:
            model.check()
    model.check()
    model.free_all()
    model.check()


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(24))
def test_random_sequence(make_vmem, seed):
    pool_size = 256 * MiB
    vmp = make_vmem.create(pool_size)
    model = Model(vmp, pool_size, f"seed {seed}")
    run_random(model, random.Random(seed), nops=2000, live_cap=64 * MiB)


_size = st.one_of(st.integers(1, SMALL_MAX), st.integers(SMALL_MAX + 1, LARGE_MAX),
                  st.integers(LARGE_MAX + 1, 10 * MiB), st.sampled_from(EDGE_SIZES))
_op = st.one_of(
    st.tuples(st.just("malloc"), _size),
    st.tuples(st.just("calloc"), st.integers(1, 8), _size),
    st.tuples(st.just("aligned"), st.integers(0, 21), _size),
    st.tuples(st.just("realloc"), st.integers(0, 63), _size),
    st.tuples(st.just("free"), st.integers(0, 63)),
    st.tuples(st.just("check")),
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops=st.lists(_op, max_size=50))
def test_shrinking_sequences(make_vmem, ops):
    """Short sequences hypothesis shrinks to a minimal failing one."""
    pool_size = 128 * MiB
    vmp = make_vmem.create(pool_size)
    try:
        model = Model(vmp, pool_size, "hypothesis")
        for op in ops:
            ids = sorted(model.blocks)
            if op[0] == "malloc":
                model.malloc(op[1])
            elif op[0] == "calloc":
                model.calloc(op[1], max(1, op[2] // op[1]))
            elif op[0] == "aligned":
                model.aligned_alloc(1 << op[1], op[2])
            elif op[0] == "realloc" and ids:
                model.realloc(ids[op[1] % len(ids)], op[2])
            elif op[0] == "free" and ids:
                model.free(ids[op[1] % len(ids)])
            elif op[0] == "check":
                model.check()
            if model.live_usable > pool_size // 3:
                model.free_all()
        model.check()
        model.free_all()
        model.check()
    finally:
        make_vmem.delete(vmp)


# ---- sizes and size classes --------------------------------------------------------------------

def probe_sizes() -> list[int]:
    sizes = set(range(1, 2049)) | set(range(2048, 16 * KiB + 1, 8))
    p = 16 * KiB
    while p <= 16 * MiB:
        for k in range(4):
            s = p + k * p // 4
            sizes.update((s - 1, s, s + 1))
        p *= 2
    sizes.update(range(LARGE_MAX - 3 * PAGE, LARGE_MAX + 3 * PAGE, 512))
    return sorted(sizes)


def test_size_classes_monotonic_with_bounded_waste(vmem):
    problems = []
    prev_size, prev_usable = 0, 0
    for n in probe_sizes():
        p = lib.vmem_malloc(vmem, n)
        if p == ffi.NULL:
            problems.append(f"vmem_malloc({n}): expected memory, saw NULL ({errmsg()})")
            continue
        u = lib.vmem_malloc_usable_size(vmem, p)
        lib.vmem_free(vmem, p)
        if u < n:
            problems.append(f"malloc({n}): expected usable >= {n}, saw {u}")
        if u < prev_usable:
            problems.append(f"malloc({n}): expected usable >= {prev_usable} (that of "
                            f"malloc({prev_size})), saw {u}: not monotonic")
        if n >= 64 and (u - n) * 4 > n:
            problems.append(f"malloc({n}): expected usable <= {n * 5 // 4} (25 % waste), "
                            f"saw {u} ({100 * (u - n) / n:.1f} %)")
        prev_size, prev_usable = n, u
    assert not problems, f"{len(problems)} violations:\n" + "\n".join(problems[:30])


def test_class_table(vmem):
    rows = class_rows(vmem)
    st_ = get_stats(vmem)
    assert st_.nclasses == len(rows), (
        f"stats.nclasses: expected {len(rows)} (rows of pmalloc_vmem_class_stats), "
        f"saw {st_.nclasses}")
    problems = []
    for a, b in zip(rows, rows[1:]):
        if b.size <= a.size:
            problems.append(f"class sizes: expected increasing, saw {a.size} then {b.size}")
        elif a.size >= 64 and b.size * 4 > a.size * 5:
            problems.append(f"classes {a.size} -> {b.size}: expected at most 25 % apart")
    for r in rows:
        p = lib.vmem_malloc(vmem, r.size)
        u = lib.vmem_malloc_usable_size(vmem, p)
        lib.vmem_free(vmem, p)
        if u != r.size:
            problems.append(f"malloc({r.size}) (a class size): expected usable {r.size}, saw {u}")
        if r.size <= SMALL_MAX:
            if r.slab_size == 0 or r.slab_size % PAGE or r.slab_size < r.size:
                problems.append(f"class {r.size}: expected a slab of whole pages holding an "
                                f"object, saw slab_size {r.slab_size}")
        elif r.slab_size != 0:
            problems.append(f"class {r.size}: expected slab_size 0 (large), saw {r.slab_size}")
    assert not problems, "\n".join(problems)


def test_class_stats_count_live_objects(vmem):
    assert lib.pmalloc_vmem_purge(vmem) == 0
    base = get_stats(vmem).allocated
    ptrs = [lib.vmem_malloc(vmem, 100) for _ in range(1000)]
    assert all(p != ffi.NULL for p in ptrs)
    usable = lib.vmem_malloc_usable_size(vmem, ptrs[0])
    assert lib.pmalloc_vmem_purge(vmem) == 0        # this thread's cache goes back first
    row = next(r for r in class_rows(vmem) if r.size == usable)
    seen = (row.live, row.cached)
    allocated = get_stats(vmem).allocated - base
    for p in ptrs:
        lib.vmem_free(vmem, p)
    assert lib.pmalloc_vmem_purge(vmem) == 0
    row_after = next(r for r in class_rows(vmem) if r.size == usable)
    assert seen == (1000, 0), (
        f"class {usable} with 1000 objects live: expected (live, cached) = (1000, 0), "
        f"saw {seen}")
    assert allocated == 1000 * usable, (
        f"stats.allocated grew by: expected {1000 * usable}, saw {allocated}")
    assert (row_after.live, row_after.cached) == (0, 0), (
        f"class {usable} after freeing all: expected (0, 0), "
        f"saw {(row_after.live, row_after.cached)}")


def test_stats_follow_a_large_block(vmem):
    st0 = get_stats(vmem)
    assert st0.size == 64 * MiB, f"stats.size: expected {64 * MiB}, saw {st0.size}"
    for field in ("active", "resident", "file_allocated", "metadata"):
        assert getattr(st0, field) <= st0.size, (
            f"stats.{field}: expected <= the pool size {st0.size}, saw {getattr(st0, field)}")
    assert st0.narenas >= 1, f"stats.narenas: expected >= 1, saw {st0.narenas}"
    n = 10 * MiB
    p = lib.vmem_malloc(vmem, n)
    assert p != ffi.NULL
    ffi.memmove(p, DIRTY[:n], n)
    st1 = get_stats(vmem)
    grown = {f: getattr(st1, f) - getattr(st0, f)
             for f in ("allocated", "active", "file_allocated")}
    lib.vmem_free(vmem, p)
    assert lib.pmalloc_vmem_purge(vmem) == 0
    st2 = get_stats(vmem)
    assert all(v >= n for v in grown.values()), (
        f"after a {n}-byte block was touched: expected allocated, active and file_allocated "
        f"to grow by >= {n}, saw {grown}")
    assert st2.allocated == st0.allocated, (
        f"stats.allocated after the free: expected {st0.allocated}, saw {st2.allocated}")


# ---- odd arguments ------------------------------------------------------------------------------

def test_malloc_zero_gives_unique_pointers(vmem):
    ptrs = [lib.vmem_malloc(vmem, 0) for _ in range(64)]
    addrs = [addr_of(p) for p in ptrs]
    assert 0 not in addrs, "vmem_malloc(vmp, 0): expected a unique pointer, saw NULL"
    assert len(set(addrs)) == len(addrs), (
        f"64 x vmem_malloc(vmp, 0): expected 64 distinct pointers, saw {len(set(addrs))}")
    for p in ptrs:
        lib.vmem_free(vmem, p)
    assert lib.vmem_check(vmem) == 1


@pytest.mark.parametrize("nmemb,size", [
    (SIZE_MAX, 2), (2, SIZE_MAX), (1 << 32, 1 << 32), (SIZE_MAX // 2 + 1, 2),
    (3, SIZE_MAX // 3 + 1), (1 << 40, 1 << 30)])
def test_calloc_overflow_is_enomem(vmem, nmemb, size):
    ffi.errno = 0
    p = lib.vmem_calloc(vmem, nmemb, size)
    err = ffi.errno
    assert p == ffi.NULL, f"vmem_calloc(vmp, {nmemb}, {size}): expected NULL, saw {p}"
    assert err == errno.ENOMEM, (
        f"vmem_calloc(vmp, {nmemb}, {size}): expected errno ENOMEM, saw {errno_text(err)}")


@pytest.mark.parametrize("align", [0, 3, 6, 12, 24, 48, 100, 4097, (1 << 20) + 1,
                                   3 << 20, SIZE_MAX])
def test_aligned_alloc_non_power_of_two_is_einval(vmem, align):
    ffi.errno = 0
    p = lib.vmem_aligned_alloc(vmem, align, 64)
    err = ffi.errno
    assert p == ffi.NULL, f"vmem_aligned_alloc(vmp, {align}, 64): expected NULL, saw {p}"
    assert err == errno.EINVAL, (
        f"vmem_aligned_alloc(vmp, {align}, 64): expected errno EINVAL, saw {errno_text(err)}")


def test_aligned_alloc_every_power_of_two(vmem):
    model = Model(vmem, 64 * MiB, "aligned")
    for lg in range(0, 23):                 # 1 B .. 4 MiB
        for size in (1, 16, 100, 5000, 40000, 1 << lg, (1 << lg) + 1):
            model.aligned_alloc(1 << lg, size)
        model.free_all()
    model.check()


@pytest.mark.parametrize("align", [1 << 40, 1 << 62, 1 << 63])
def test_aligned_alloc_beyond_the_pool_is_enomem(vmem, align):
    ffi.errno = 0
    p = lib.vmem_aligned_alloc(vmem, align, 64)
    err = ffi.errno
    assert p == ffi.NULL, f"vmem_aligned_alloc(vmp, {align:#x}, 64): expected NULL, saw {p}"
    assert err == errno.ENOMEM, (
        f"vmem_aligned_alloc(vmp, {align:#x}, 64): expected ENOMEM, saw {errno_text(err)}")


# ---- calloc and dirty memory ----------------------------------------------------------------

@pytest.mark.parametrize("size", [16, 100, 1000, 8000, SMALL_MAX, 20000, 100_000, MiB,
                                  LARGE_MAX, 5 * MiB, 9 * MiB])
def test_calloc_zeroes_reused_dirty_memory(vmem, size):
    count = max(2, min(64, 24 * MiB // size))
    ptrs = [lib.vmem_malloc(vmem, size) for _ in range(count)]
    assert all(p != ffi.NULL for p in ptrs), f"vmem_malloc({size}) x {count}: NULL"
    dirty = {addr_of(p) for p in ptrs}
    for p in ptrs:
        ffi.memmove(p, DIRTY[:size], size)
    for p in reversed(ptrs):
        lib.vmem_free(vmem, p)
    reused = 0
    got = []
    for i in range(count):
        nmemb = 1 if i % 2 else 4
        q = lib.vmem_calloc(vmem, nmemb, size // nmemb)
        assert q != ffi.NULL, f"vmem_calloc({nmemb}, {size // nmemb}): expected memory, saw NULL"
        got.append(q)
        reused += addr_of(q) in dirty
        n = nmemb * (size // nmemb)
        if not is_zero(addr_of(q), n):
            at = first_difference(addr_of(q), ZEROS, n)
            pytest.fail(f"vmem_calloc(vmp, {nmemb}, {size // nmemb}) = {addr_of(q):#x} "
                        f"({'reused' if addr_of(q) in dirty else 'fresh'}): expected {n} zero "
                        f"bytes, saw {ffi.cast('unsigned char *', q)[at]:#04x} at byte {at}")
    for q in got:
        lib.vmem_free(vmem, q)
    print(f"{reused} of {count} calloc blocks reused dirty memory")
    assert reused > 0, (f"expected calloc({size}) to reuse some of the {count} blocks just "
                        f"freed, saw none reused (nothing tested)")


def test_calloc_zeroes_after_purge(vmem):
    size = MiB
    ptrs = [lib.vmem_malloc(vmem, size) for _ in range(16)]
    for p in ptrs:
        ffi.memmove(p, DIRTY[:size], size)
    for p in ptrs:
        lib.vmem_free(vmem, p)
    assert lib.pmalloc_vmem_purge(vmem) == 0
    got = [lib.vmem_calloc(vmem, 1, size) for _ in range(16)]
    bad = [addr_of(q) for q in got if q == ffi.NULL or not is_zero(addr_of(q), size)]
    for q in got:
        lib.vmem_free(vmem, q)
    assert not bad, f"calloc after a purge: expected zeroed blocks, saw {len(bad)} not zero"


# ---- realloc ------------------------------------------------------------------------------------

def test_realloc_through_every_range_keeps_the_prefix(vmem):
    model = Model(vmem, 64 * MiB, "realloc chain")
    b = model.malloc(1)
    for size in (1, 8, 24, 100, 1000, SMALL_MAX, SMALL_MAX + 1, 16 * KiB, 100_000,
                 LARGE_MAX, LARGE_MAX + 1, 9 * MiB, 5 * MiB, LARGE_MAX, MiB, 20000, SMALL_MAX,
                 500, 16, 1):
        b = model.realloc(b.id, size)
    model.check()
    model.free_all()


@pytest.mark.parametrize("size", [100, 3000, 100_000, MiB, 6 * MiB])
def test_realloc_in_place(vmem, size):
    p = lib.vmem_malloc(vmem, size)
    u = lib.vmem_malloc_usable_size(vmem, p)
    q = lib.vmem_realloc(vmem, p, u)
    assert q == p, f"vmem_realloc(p, {u}) within usable size {u}: expected p {p} kept, saw {q}"
    if size >= 100_000:
        r = lib.vmem_realloc(vmem, q, size // 2)
        assert r == q, (f"vmem_realloc(p, {size // 2}) shrinking a {size}-byte block: expected "
                        f"it in place at {q}, saw {r}")
        q = r
    lib.vmem_free(vmem, q)


def test_realloc_null_and_zero(vmem):
    p = lib.vmem_realloc(vmem, ffi.NULL, 200)
    assert p != ffi.NULL, "vmem_realloc(vmp, NULL, 200): expected memory as vmem_malloc gives"
    assert lib.vmem_malloc_usable_size(vmem, p) >= 200
    # size 0 with a pointer frees it (libvmem's vmem_realloc(3)); prove it by reuse
    big = 40 * MiB
    q = lib.vmem_malloc(vmem, big)
    assert q != ffi.NULL
    r = lib.vmem_realloc(vmem, q, 0)
    assert r == ffi.NULL, f"vmem_realloc(vmp, p, 0): expected NULL (freed), saw {r}"
    again = lib.vmem_malloc(vmem, big)
    assert again != ffi.NULL, (
        f"vmem_malloc({big}) after vmem_realloc(p, 0) of a block that size: expected memory "
        f"(the first was freed), saw NULL")
    lib.vmem_free(vmem, again)
    lib.vmem_free(vmem, p)


def test_realloc_failure_keeps_the_block(vmem):
    model = Model(vmem, 64 * MiB, "realloc failure")
    blocks = [model.malloc(n) for n in (100, 20000, 5 * MiB)]
    for b in blocks:
        for size in (SIZE_MAX, SIZE_MAX // 2, 1 << 48, 64 * MiB, 65 * MiB):
            ffi.errno = 0
            q = lib.vmem_realloc(vmem, b.ptr, size)
            err = ffi.errno
            assert q == ffi.NULL, f"vmem_realloc(p, {size:#x}): expected NULL, saw {q}"
            assert err == errno.ENOMEM, (
                f"vmem_realloc(p, {size:#x}): expected ENOMEM, saw {errno_text(err)}")
            model.verify(b, why=f" after vmem_realloc(p, {size:#x}) failed")
    model.check()
    model.free_all()


# ---- absurd sizes and the pool's bounds ----------------------------------------------------------

ABSURD = [SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - PAGE, SIZE_MAX // 2, SIZE_MAX // 2 + 1, 1 << 62,
          1 << 48, 64 * MiB, 64 * MiB + 1, 128 * MiB]


@pytest.mark.parametrize("size", ABSURD)
def test_absurd_sizes_are_enomem(vmem, size):
    calls = {
        "vmem_malloc": lambda: lib.vmem_malloc(vmem, size),
        "vmem_calloc(1, .)": lambda: lib.vmem_calloc(vmem, 1, size),
        "vmem_aligned_alloc(4096, .)": lambda: lib.vmem_aligned_alloc(vmem, 4096, size),
        "vmem_aligned_alloc(2 MiB, .)": lambda: lib.vmem_aligned_alloc(vmem, 2 * MiB, size),
        "vmem_realloc(NULL, .)": lambda: lib.vmem_realloc(vmem, ffi.NULL, size),
    }
    for name, call in calls.items():
        ffi.errno = 0
        p = call()
        err = ffi.errno
        assert p == ffi.NULL, f"{name} with size {size:#x}: expected NULL, saw {p}"
        assert err == errno.ENOMEM, (
            f"{name} with size {size:#x}: expected ENOMEM, saw {errno_text(err)}")
    st_ = get_stats(vmem)
    assert st_.size == 64 * MiB and st_.file_allocated <= 64 * MiB, (
        f"after absurd requests: expected size {64 * MiB} and file_allocated <= it, saw "
        f"{st_.size} and {st_.file_allocated}")
    p = lib.vmem_malloc(vmem, 1000)
    assert p != ffi.NULL, "an ordinary vmem_malloc after the absurd ones: expected memory"
    fst = mapped_file_stat(addr_of(p))
    if fst is not None:
        assert fst.st_size == 64 * MiB, (
            f"the pool file: expected {64 * MiB} bytes, saw {fst.st_size}")
    lib.vmem_free(vmem, p)


@pytest.mark.parametrize("block", [256 * KiB, 3000])
def test_filling_never_grows_past_the_pool(make_vmem, block):
    size = VMEM_MIN_POOL
    vmp = make_vmem.create(size)
    ptrs = []
    ffi.errno = 0
    while len(ptrs) < size // 16:
        p = lib.vmem_malloc(vmp, block)
        if p == ffi.NULL:
            break
        ptrs.append(p)
    err = ffi.errno
    total = sum(lib.vmem_malloc_usable_size(vmp, p) for p in ptrs)
    span = mapping_of(addr_of(ptrs[0]))
    fst = mapped_file_stat(addr_of(ptrs[0]))
    outside = [addr_of(p) for p in ptrs
               if not (span[0] <= addr_of(p) and addr_of(p) + block <= span[1])]
    for p in ptrs:
        lib.vmem_free(vmp, p)
    print(f"{len(ptrs)} blocks of {block} bytes, {total} usable bytes in a {size}-byte pool")
    assert err == errno.ENOMEM, f"the NULL that ended the fill: expected ENOMEM, saw {errno_text(err)}"
    assert total <= size, f"usable bytes handed out: expected <= the pool size {size}, saw {total}"
    assert total >= size // 2, f"usable bytes handed out: expected >= {size // 2}, saw {total}"
    assert not outside, (f"expected every block inside the pool's mapping "
                         f"[{span[0]:#x}, {span[1]:#x}), saw {len(outside)} outside")
    if fst is not None:
        assert fst.st_size == size, f"the pool file: expected {size} bytes, saw {fst.st_size}"
        assert fst.st_blocks * 512 <= size, (
            f"the pool file's blocks: expected <= {size} bytes, saw {fst.st_blocks * 512}")


# ---- vmem_create errors ---------------------------------------------------------------------------

def create_error(directory: str, size: int) -> int:
    ffi.errno = 0
    vmp = lib.vmem_create(os.fsencode(directory), size)
    err = ffi.errno
    if vmp != ffi.NULL:
        lib.vmem_delete(vmp)
        pytest.fail(f"vmem_create({directory!r}, {size}): expected NULL, saw a pool")
    assert errmsg(), f"vmem_create({directory!r}, {size}) failed: expected a message, saw ''"
    return err


@pytest.mark.parametrize("size", [0, 1, PAGE, MiB, VMEM_MIN_POOL - 1])
def test_create_below_minimum_is_einval(pool_dir, size):
    err = create_error(pool_dir, size)
    assert err == errno.EINVAL, f"vmem_create(dir, {size}): expected EINVAL, saw {errno_text(err)}"
    assert os.listdir(pool_dir) == [], f"expected no file left, saw {os.listdir(pool_dir)}"


def test_create_minimum_and_no_visible_file(make_vmem, pool_dir):
    vmp = make_vmem.create(VMEM_MIN_POOL)
    p = lib.vmem_malloc(vmp, 1000)
    assert p != ffi.NULL
    assert os.listdir(pool_dir) == [], (
        f"the pool's file: expected unlinked (nothing listed), saw {os.listdir(pool_dir)}")
    lib.vmem_free(vmp, p)


def test_create_missing_dir_is_enoent(pool_dir):
    err = create_error(os.path.join(pool_dir, "missing"), 32 * MiB)
    assert err == errno.ENOENT, f"vmem_create(missing dir): expected ENOENT, saw {errno_text(err)}"


@pytest.mark.parametrize("below", ["", "sub"])
def test_create_regular_file_as_dir_is_enotdir(pool_dir, below):
    path = os.path.join(pool_dir, "file")
    with open(path, "wb") as f:
        f.write(b"x")
    err = create_error(os.path.join(path, below) if below else path, 32 * MiB)
    assert err == errno.ENOTDIR, (
        f"vmem_create(a regular file{' /sub' if below else ''}): expected ENOTDIR, "
        f"saw {errno_text(err)}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any directory")
def test_create_without_write_permission_is_eacces(pool_dir):
    ro = os.path.join(pool_dir, "ro")
    os.mkdir(ro, 0o500)
    try:
        err = create_error(ro, 32 * MiB)
    finally:
        os.chmod(ro, stat.S_IRWXU)
    assert err == errno.EACCES, f"vmem_create(read-only dir): expected EACCES, saw {errno_text(err)}"


@pytest.mark.parametrize("size", [SIZE_MAX, SIZE_MAX // 2, 1 << 62])
def test_create_absurd_size_fails_cleanly(pool_dir, size):
    err = create_error(pool_dir, size)
    assert err in (errno.ENOMEM, errno.EINVAL, errno.EFBIG, errno.ENOSPC), (
        f"vmem_create(dir, {size:#x}): expected ENOMEM, EINVAL, EFBIG or ENOSPC, "
        f"saw {errno_text(err)}")
    assert os.listdir(pool_dir) == [], f"expected no file left, saw {os.listdir(pool_dir)}"


# ---- owners ---------------------------------------------------------------------------------------

def owner(addr: int):
    return lib.pmalloc_vmem_of(ffi.cast("void *", addr))


def test_vmem_of_finds_the_pool_of_interior_pointers(make_vmem):
    a = make_vmem.create(64 * MiB)
    b = make_vmem.create(32 * MiB)
    problems = []
    blocks = {}
    for vmp, name in ((a, "A"), (b, "B")):
        ptrs = [lib.vmem_malloc(vmp, n) for n in (1, 100, 5000, SMALL_MAX, 20000, MiB, 5 * MiB)]
        ptrs.append(lib.vmem_aligned_alloc(vmp, MiB, 100))
        blocks[name] = ptrs
        for p in ptrs:
            u = lib.vmem_malloc_usable_size(vmp, p)
            for off in sorted({0, 1, u // 2, u - 1}):
                got = owner(addr_of(p) + off)
                if got != vmp:
                    problems.append(f"pmalloc_vmem_of(p + {off}) for a {u}-byte block of pool "
                                    f"{name}: expected {vmp}, saw {got}")
    foreign_buf = ffi.new("char[4096]")
    anon = mmap.mmap(-1, 4 * MiB)
    anon_buf = ffi.from_buffer(anon)
    foreign = {"NULL": 0, "1": 1, "a Python-heap buffer": addr_of(foreign_buf),
               "an unrelated mmap": addr_of(anon_buf),
               "the top of user space": (1 << 47) - 1, "a kernel address": 0xffff800000000000,
               "~0": SIZE_MAX}
    for what, addr in foreign.items():
        got = owner(addr)
        if got != ffi.NULL:
            problems.append(f"pmalloc_vmem_of({what} {addr:#x}): expected NULL, saw {got}")
    for vmp, name in ((a, "A"), (b, "B")):
        lo, hi = mapping_of(addr_of(blocks[name][0]))
        for addr in (lo - 1, hi):
            if owner(addr) == vmp:
                problems.append(f"pmalloc_vmem_of({addr:#x}) just outside pool {name}'s mapping "
                                f"[{lo:#x}, {hi:#x}): expected not {name}, saw {name}")
    ffi.release(anon_buf)
    anon.close()
    for vmp, name in ((a, "A"), (b, "B")):
        for p in blocks[name]:
            lib.vmem_free(vmp, p)
    # a deleted pool owns nothing any more
    gone = addr_of(lib.vmem_malloc(b, 1000))
    make_vmem.delete(b)
    if owner(gone) != ffi.NULL:
        problems.append(f"pmalloc_vmem_of({gone:#x}) after vmem_delete of its pool: expected "
                        f"NULL, saw {owner(gone)}")
    assert not problems, "\n".join(problems)


def test_pmalloc_free_finds_the_pool(make_vmem):
    a = make_vmem.create(32 * MiB)
    b = make_vmem.create(32 * MiB)
    for vmp in (a, b):
        for n in (100, 20000, 20 * MiB):
            p = lib.vmem_malloc(vmp, n)
            assert p != ffi.NULL
            assert lib.pmalloc_free(p) == 0, f"pmalloc_free(a {n}-byte block): expected 0"
        # the 20 MiB block was really freed: another fits
        p = lib.vmem_malloc(vmp, 20 * MiB)
        assert p != ffi.NULL, "after pmalloc_free of a 20 MiB block: expected another to fit"
        lib.vmem_free(vmp, p)
    buf = ffi.new("char[64]")
    ffi.errno = 0
    rc = lib.pmalloc_free(buf)
    err = ffi.errno
    assert (rc, err) == (-1, errno.EINVAL), (
        f"pmalloc_free(a foreign pointer): expected -1 with EINVAL, saw {rc} with "
        f"{errno_text(err)}")


# ---- caller regions -----------------------------------------------------------------------------

def test_create_in_region():
    size = 32 * MiB
    region = mmap.mmap(-1, size)
    buf = ffi.from_buffer(region)
    lo = addr_of(buf)
    vmp = ffi.NULL
    try:
        ffi.errno = 0
        vmp = lib.vmem_create_in_region(ffi.cast("void *", lo), size)
        assert vmp != ffi.NULL, (f"vmem_create_in_region({lo:#x}, {size}): expected a pool, "
                                 f"saw NULL, errno {errno_text(ffi.errno)}: {errmsg()}")
        model = Model(vmp, size, "region")
        for n in (1, 100, 5000, SMALL_MAX, 20000, MiB, 5 * MiB):
            model.malloc(n)
        model.calloc(10, 1000)
        model.aligned_alloc(MiB, 3000)
        outside = [f"p{b.id} [{b.addr:#x}, {b.addr + b.usable:#x})"
                   for b in model.blocks.values()
                   if not (lo <= b.addr and b.addr + b.usable <= lo + size)]
        assert not outside, f"expected every block inside [{lo:#x}, {lo + size:#x}), saw {outside}"
        st_ = get_stats(vmp)
        assert st_.size == size and st_.file_allocated == 0, (
            f"stats of a caller region: expected size {size} and no file, saw {st_.size} and "
            f"{st_.file_allocated}")
        model.check()
        model.free_all()
        model.check()
        lib.vmem_delete(vmp)
        vmp = ffi.NULL
        region[0:8] = b"reusable"       # the caller's memory is still the caller's
        assert region[0:8] == b"reusable"
    finally:
        if vmp != ffi.NULL:
            lib.vmem_delete(vmp)
        ffi.release(buf)
        region.close()


@pytest.mark.parametrize("what,offset,size", [
    ("a region below VMEM_MIN_POOL", 0, VMEM_MIN_POOL - 1),
    ("an address not page aligned", 8, VMEM_MIN_POOL),
    ("NULL", None, VMEM_MIN_POOL)])
def test_create_in_region_bad_arguments_are_einval(what, offset, size):
    region = mmap.mmap(-1, VMEM_MIN_POOL + 2 * MiB)
    buf = ffi.from_buffer(region)
    addr = 0 if offset is None else addr_of(buf) + offset
    try:
        ffi.errno = 0
        vmp = lib.vmem_create_in_region(ffi.cast("void *", addr), size)
        err = ffi.errno
        if vmp != ffi.NULL:
            lib.vmem_delete(vmp)
            pytest.fail(f"vmem_create_in_region({what}: {addr:#x}, {size}): expected NULL with "
                        f"EINVAL (libvmem: addr must be page aligned), saw a pool")
        assert err == errno.EINVAL, (
            f"vmem_create_in_region({what}): expected EINVAL, saw {errno_text(err)}")
    finally:
        ffi.release(buf)
        region.close()


# ---- small things -----------------------------------------------------------------------------

def test_strdup_usable_size_and_null(vmem):
    s = lib.vmem_strdup(vmem, b"pmalloc")
    assert s != ffi.NULL and ffi.string(s) == b"pmalloc"
    assert lib.vmem_malloc_usable_size(vmem, s) >= 8
    lib.vmem_free(vmem, s)
    assert lib.vmem_malloc_usable_size(vmem, ffi.NULL) == 0
    lib.vmem_free(vmem, ffi.NULL)
    assert lib.vmem_check(vmem) == 1


def test_decay_setting_returns_the_previous_value():
    expected = int(os.environ.get("PMALLOC_DECAY_MS", "10000"))
    prev = lib.pmalloc_set_decay_ms(1234)
    back = lib.pmalloc_set_decay_ms(prev)
    assert (prev, back) == (expected, 1234), (
        f"pmalloc_set_decay_ms: expected the default {expected} then 1234 back, "
        f"saw {prev} then {back}")
