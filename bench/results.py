"""bench/RESULTS.md is written by several runners: each owns one marked section of it."""
from __future__ import annotations

from pathlib import Path

TITLE = "# pmalloc benchmark results\n"


def write_section(path: Path, name: str, body: str) -> None:
    """Replace the section `name` of the markdown file at `path` (append it if new)."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    section = f"{begin}\n{body.strip()}\n{end}\n"
    text = path.read_text() if path.exists() else TITLE
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
