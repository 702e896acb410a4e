"""Medians, spreads, ratios and targets over the samples of the runner."""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from .runner import Key, Sample

Medians = dict[Key, dict[str, float]]


def values(samples: list[Sample], key: str) -> list[float]:
    return [s[key] for s in samples if s.get(key) is not None]


def medians(samples: dict[Key, list[Sample]]) -> Medians:
    """Per (contender, workload), the median of each figure that some run has."""
    return {k: {key: statistics.median(v) for key in {n for s in runs for n in s}
                if (v := values(runs, key))}
            for k, runs in samples.items()}


def spread(samples: list[Sample], key: str) -> str:
    """' ±N%': half the min..max range, against the median; '' with fewer than 2 runs."""
    vals = values(samples, key)
    if len(vals) < 2:
        return ""
    m = statistics.median(vals)
    return f" ±{(max(vals) - min(vals)) / 2 / m * 100:.0f}%" if m else ""


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


@dataclass(frozen=True)
class Target:
    """A figure of pmalloc's, or its ratio to an anchor's, against a limit."""

    text: str
    key: str                     # the figure
    limit: float
    anchor: str | None = None    # None: pmalloc's figure itself, not a ratio
    lower: bool = False          # lower is better: met at or under the limit
    workload: str | None = None  # None: every workload
    who: str = "pmalloc"         # the contender whose figure it is

    def value(self, med: Medians, workload: str) -> float | None:
        pm = med.get((self.who, workload), {}).get(self.key)
        if self.anchor is None:
            return pm
        return ratio(pm, med.get((self.anchor, workload), {}).get(self.key))

    def met(self, v: float) -> bool:
        return v <= self.limit if self.lower else v >= self.limit
