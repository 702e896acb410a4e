"""Tiers: one heap spread over several kinds by a ratio (memkind's memtier).

    from pmalloc import kind, tiers
    with kind.create_pmem() as pmem, tiers.tiered({kind.DEFAULT: 1, pmem: 4}) as t:
        bufs = [t.malloc(4096) for _ in range(1000)]   # a fifth of the bytes in DRAM
        arr = t.zeros(10_000_000)                      # NumPy data on the tiers

    t = tiers.parse("DRAM:1,PMEM:4")                   # the text PMALLOC_TIERS takes

``policy="ratio"`` (the default) places each allocation in the tier furthest below its share
of the bytes; ``"threshold"`` sends small sizes to the first tier and moves the size threshold
to keep the ratio. A Tiered is a :class:`pmalloc.Pool` for allocation (malloc, calloc,
realloc, free, Buffers, ``pmalloc.numpy.use``); ``stats()`` gives each tier's bytes.
The text form: tiers separated by commas, each ``MEMORY[@DIR]:RATIO`` with MEMORY one of
DRAM, REGULAR, HBW, HBW_PREFERRED, DAX_KMEM, DAX_KMEM_PREFERRED, HUGETLB, PMEM (PMEM in DIR,
else the default pool directory), then optionally ``;policy=ratio`` or ``;policy=threshold``.
"""
from __future__ import annotations

import types
from typing import Any, Final

from pmalloc import _capi
from pmalloc.errors import InvalidArgumentError, PmallocTypeError
from pmalloc.kind import Kind
from pmalloc.vmem import Pool

__all__ = ["Tiered", "tiered", "parse"]

TIER_API: Final = types.SimpleNamespace(
    malloc=_capi.memtier_malloc, calloc=_capi.memtier_calloc,
    aligned_alloc=_capi.memtier_aligned_alloc, strdup=_capi.memtier_strdup,
    realloc=_capi.memtier_realloc, free=_capi.memtier_free,
    usable_size=_capi.memtier_usable_size)


class Tiered(Pool):
    """Allocation over tiers of kinds. Made by :func:`tiered` and :func:`parse`."""

    _api = TIER_API
    _nocopy_why = "it owns C tiers, which a copy would share"

    def __init__(self, *args: object, **kwargs: object) -> None:  # noqa: D107
        raise PmallocTypeError("tiers come from pmalloc.tiers.tiered() and parse()")

    @classmethod
    def _make(cls, memory: Any, owner: Any, kinds: list[tuple[Any, str, int]],
              keep: list[Kind], text: str) -> Tiered:
        self = object.__new__(cls)
        Pool._init_state(self)
        self._owner = owner          # the struct pmalloc_tiers of parse(), or None
        self._tiers = kinds          # (C kind, name, ratio)
        self._keep = keep            # the Kind objects the tiers use stay alive
        self._text = text
        self._adopt(memory, "", 0)
        return self

    def __repr__(self) -> str:
        return f"<pmalloc.tiers.Tiered {self._text}{' closed' if self.closed else ''}>"

    def stats(self) -> dict[str, Any]:
        """Each tier's kind, ratio and bytes placed there (usable sizes), and the total."""
        self._handle()
        tiers = [{"kind": name, "ratio": ratio, "allocated": _capi.memtier_kind_allocated(k)}
                 for k, name, ratio in self._tiers]
        return {"tiers": tiers, "allocated": sum(t["allocated"] for t in tiers)}

    def check(self) -> bool:
        """Every tier's heap is consistent."""
        self._handle()
        return all(_capi.vmem_check(_capi.kind_pool(k)) for k, _, _ in self._tiers)

    def purge(self) -> None:
        """Give back every tier's free pages now."""
        self._handle()
        for k, _, _ in self._tiers:
            _capi.vmem_purge(_capi.kind_pool(k))

    def _release(self, vmp: Any) -> None:
        if self._owner is not None:
            _capi.tiers_free(self._owner)       # also destroys the pmem kinds it made
        else:
            _capi.tiers_delete(vmp)

    def _numpy_allocator(self, vmp: Any) -> tuple[int, int, int, int, int]:
        return _capi.memtier_numpy_allocator(vmp)

    def _handler_name(self, ctx: int) -> str:
        return f"pmalloc tiers {ctx:#x} {self._text}"[:126]


def tiered(ratios: dict[Kind, int], policy: str = "ratio") -> Tiered:
    """Tiers over the kinds of ``ratios`` (kind -> share, a whole number >= 1), in order."""
    if policy not in ("ratio", "threshold"):
        raise InvalidArgumentError(f"policy must be 'ratio' or 'threshold', not {policy!r}")
    if not ratios:
        raise InvalidArgumentError("tiered() needs at least one kind")
    kinds: list[tuple[Any, str, int]] = []
    for k, r in ratios.items():
        if not isinstance(k, Kind):
            raise PmallocTypeError(f"tiers are kinds, not {type(k).__name__}")
        if not isinstance(r, int) or isinstance(r, bool) or r < 1:
            raise InvalidArgumentError(f"the ratio of {k.name} must be a whole number >= 1")
        k._handle()                  # a kind whose memory is missing fails here, clearly
        kinds.append((k._kind, k.name, r))
    memory = _capi.tiers_build([c for c, _, _ in kinds], [r for _, _, r in kinds],
                               policy == "threshold")
    text = ",".join(f"{name}:{r}" for _, name, r in kinds)
    return Tiered._make(memory, None, kinds, list(ratios), text)


def parse(text: str) -> Tiered:
    """Tiers from text such as "DRAM:1,PMEM:4" (see the module's doc); InvalidArgumentError
    naming the bad tier."""
    if not isinstance(text, str):
        raise PmallocTypeError(f"tiers are text, not {type(text).__name__}")
    owner, memory = _capi.tiers_parse(text)
    return Tiered._make(memory, owner, _capi.tiers_kinds(owner), [], text.strip())
