"""bench/RESULTS.md: written by several suites, each owning one marked section of it."""
from __future__ import annotations

import shlex
from pathlib import Path

TITLE = "# pmalloc benchmark results\n"


def command(script: str, argv: list[str]) -> str:
    """How to repeat this run from the repository root."""
    return shlex.join(["python3", f"bench/{script}", *argv])


def write_section(path: Path, name: str, body: str) -> None:
    """Replace the section `name` of the Markdown file at `path` (append it if new)."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    section = f"{begin}\n{body.strip()}\n{end}\n"
    text = path.read_text() if path.exists() else TITLE
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def build_section(title: str, script: str, argv: list[str], intro: str, table: str,
                  target: str, problems: list[str], builds: list[str]) -> str:
    """A suite's section against a library anchor: the command, what was run, the table,
    the target's verdict, the run's problems, and the build commands."""
    return "\n".join([f"## {title}", "", "Command (from the repository root, pmalloc built in "
                      ".venv):", "", "```", command(script, argv), "```", "", intro, "",
                      table, "", target, "", *problems, "Build commands:", "",
                      *(f"- {b}" for b in builds)])
