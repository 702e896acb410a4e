"""The model of a pool's live blocks: the random sequences of test_model.py check every call
against it, and so do a few unit tests (aligned_alloc, realloc, caller regions).

It keeps every live block with its requested and usable size and checks, after each
call: no two live blocks overlap (by usable size), the alignment is honoured, the block lies
in its pool (``pmalloc_vmem_of`` of its first and last byte), calloc memory reads zero,
realloc kept the old prefix, and each block still holds the bytes written into it (all of its
usable size, filled from a random master buffer at an offset chosen by the block's id) when it
is reallocated or freed. ``vmem_check`` must say 1 at checkpoints. A failure prints the calls
that led to it, as C, to serve as a reproducer.
"""
from __future__ import annotations

import bisect
import errno
from dataclasses import dataclass

from conftest import errno_text
from pmalloc._native import ffi, lib

from .helpers import (MASTER, MASTER_ADDR, MASTER_SPAN, ZEROS, addr_of, errmsg,
                      first_difference, is_zero, same_bytes)

# ---- the model ---------------------------------------------------------------------------------

def fundamental_alignment(size: int) -> int:
    """What malloc(size) must honour: 16, or the largest power of two fitting in size."""
    if size >= 16:
        return 16
    return 1 << (size.bit_length() - 1) if size > 0 else 1


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
        if not same_bytes(b.addr, MASTER_ADDR + b.offset, n):
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
        if not same_bytes(moved.addr, MASTER_ADDR + old.offset, keep):
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
