"""Paths, the C drivers of bench/src and the libraries they run against."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent
SRC = BENCH / "src"
OUT = BENCH / "out"
LIBDIR = Path("/usr/lib/x86_64-linux-gnu")
SNAPSHOT = OUT / "lib"   # the copy of libpmalloc.so the drivers link
SHIM = "libvmmalloc.so"  # Contender.preload naming pmalloc's own shim, not a file in LIBDIR

# Warnings do not change the code; the figures depend on -O2 and the driver flags only.
CFLAGS = ["-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-Werror"]


@dataclass
class Contender:
    """One allocator or library under test."""

    name: str                   # short label in tables
    note: str = ""              # how it runs, for the report
    driver: str = ""            # key of DRIVERS it runs, "" for none
    preload: str | None = None  # library in LIBDIR for LD_PRELOAD, or SHIM
    skip: str | None = None     # why it is not run


# The allocators a plain malloc program runs under: no preload, or one of Debian's.
MALLOC_ANCHORS = [
    Contender("glibc", "plain malloc/free, no preload", "driver-malloc"),
    *(Contender(name, f"LD_PRELOAD {lib}", "driver-malloc", lib) for name, lib in (
        ("jemalloc", "libjemalloc.so.2"), ("mimalloc", "libmimalloc.so.2"),
        ("tcmalloc", "libtcmalloc_minimal.so.4"))),
]


@dataclass(frozen=True)
class Driver:
    """One build of a source in bench/src into bench/out/<name>."""

    source: str
    flags: tuple[str, ...] = ()
    libs: tuple[str, ...] = ()
    needs: tuple[str, str] | None = None  # (system header, the package that has it)
    pmalloc: bool = False                 # pmalloc's headers and a copy of libpmalloc.so


DRIVERS = {
    "driver-malloc": Driver("driver.c", ("-pthread",)),
    "driver-memkind": Driver("driver.c", ("-pthread", "-DBENCH_API_MEMKIND"), ("-lmemkind",),
                             needs=("memkind.h", "libmemkind-dev")),
    "driver-vmem": Driver("driver.c", ("-pthread", "-DBENCH_API_VMEM"), pmalloc=True),
    "pmem-pmalloc": Driver("pmem_driver.c", pmalloc=True),
    "pmem-pmdk": Driver("pmem_driver.c", libs=("-lpmem",), needs=("libpmem.h", "libpmem-dev")),
    "pmem-memcpy": Driver("pmem_driver.c", ("-DBENCH_PLAIN",)),
}


@dataclass(frozen=True)
class Pmalloc:
    """The pmalloc that --python imports, and the copy of its library the drivers link."""

    include: str
    library: str
    preload: str
    version: str
    snapshot: str  # where the drivers' copy of the library is and its digest, for the report


def default_python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def find_pmalloc(python: str) -> Pmalloc | str:
    """pmalloc as `python` sees it, or why not."""
    code = ("import json, pmalloc; print(json.dumps([pmalloc.get_include(), "
            "pmalloc.get_library(), pmalloc.preload_path(), pmalloc.__version__]))")
    try:  # not from the checkout: its unbuilt package would shadow the installed one
        r = subprocess.run([python, "-c", code], capture_output=True, text=True,
                           timeout=120, cwd=tempfile.gettempdir())
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run {python}: {e}"
    if r.returncode != 0:
        return f"`import pmalloc` failed with {python}: {(r.stderr.strip().splitlines() or ['?'])[-1]}"
    include, library, preload, version = json.loads(r.stdout.strip().splitlines()[-1])
    if not Path(library).is_file():
        return f"{library} does not exist (build it: {python} -m pip install -e .)"
    if not (Path(include) / "libvmem.h").is_file():
        return f"no libvmem.h in {include}"
    return Pmalloc(include, library, preload, version, "")


def snapshot(pm: Pmalloc) -> Pmalloc:
    """Copy the library to bench/out/lib, so a rebuild of the tree mid-run cannot change
    (or remove) the library the drivers link."""
    import hashlib  # only here: OpenSSL would add megabytes to every run (runner.run_process)

    SNAPSHOT.mkdir(parents=True, exist_ok=True)
    shutil.copy2(pm.library, SNAPSHOT / "libpmalloc.so")
    with open(SNAPSHOT / "libpmalloc.so", "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()[:12]
    return replace(pm, snapshot=f"sha256 {digest}, copied to {os.path.relpath(SNAPSHOT, REPO)}/")


def compile_driver(name: str, pm: Pmalloc | None) -> tuple[Path, str] | str:
    """Build bench/out/<name>: (the executable, its command), or why it cannot be built."""
    d = DRIVERS[name]
    if d.needs and not (Path("/usr/include") / d.needs[0]).exists():
        return f"{d.needs[0]} not found (install {d.needs[1]}: bench/setup.sh)"
    if d.pmalloc and pm is None:
        return "pmalloc not found"
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        sys.exit(f"bench: no C compiler ({cc}); run bench/setup.sh")
    OUT.mkdir(parents=True, exist_ok=True)
    exe = OUT / name

    def rel(p: Path) -> str:  # the command runs from the repo root, so it reads short
        return os.path.relpath(p, REPO)

    inc, libs = [], list(d.libs)
    if d.pmalloc and pm:
        inc = ["-I", pm.include]
        libs += ["-L", rel(SNAPSHOT), "-lpmalloc", f"-Wl,-rpath,{SNAPSHOT}"]
    cmd = [cc, *CFLAGS, *d.flags, *inc, "-I", rel(SRC), rel(SRC / d.source), "-o", rel(exe), *libs]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0:
        tail = "\n".join(r.stderr.strip().splitlines()[-8:])
        return f"build failed: {shlex.join(cmd)}\n{tail}"
    return exe, shlex.join(cmd)


def preload_of(c: Contender, pm: Pmalloc | None) -> str | None:
    """The LD_PRELOAD value of a contender."""
    if c.preload == SHIM:
        return pm.preload if pm else None
    return str(LIBDIR / c.preload) if c.preload else None


def preload_env(c: Contender, pm: Pmalloc | None, pool_dir: str) -> dict[str, str]:
    """What a contender adds to the environment of a run: its preload, the shim's pool dir."""
    lib = preload_of(c, pm)
    env = {"LD_PRELOAD": lib} if lib else {}
    return env | {"PMALLOC_POOL_DIR": pool_dir} if c.preload == SHIM else env


def uses_pmalloc(c: Contender) -> bool:
    return c.preload == SHIM or bool(c.driver and DRIVERS[c.driver].pmalloc)


@dataclass
class Setup:
    cons: list[Contender]   # those chosen; who cannot run carries the reason in `skip`
    exes: dict[str, Path]   # the built drivers by name
    builds: dict[str, str]  # and their build commands
    pmalloc: Pmalloc | None

    @property
    def live(self) -> list[Contender]:
        return [c for c in self.cons if c.skip is None]


def build_all(cons: list[Contender], python: str) -> Setup:
    """Build what the contenders need; mark skipped those that cannot run, with the reason."""
    found = find_pmalloc(python) if any(uses_pmalloc(c) for c in cons if not c.skip) else None
    pm = found if isinstance(found, Pmalloc) else None
    if pm and any(c.driver and DRIVERS[c.driver].pmalloc for c in cons if not c.skip):
        pm = snapshot(pm)
    setup = Setup(cons, {}, {}, pm)
    why: dict[str, str] = {}
    for c in cons:
        if c.skip:
            continue
        if uses_pmalloc(c) and pm is None:
            c.skip = str(found)
            continue
        lib = preload_of(c, pm)
        if lib and not Path(lib).is_file():
            c.skip = f"{lib} not found (run bench/setup.sh)"
            continue
        if c.driver and c.driver not in setup.exes and c.driver not in why:
            built = compile_driver(c.driver, pm)
            if isinstance(built, str):
                why[c.driver] = built
            else:
                setup.exes[c.driver], setup.builds[c.driver] = built
        c.skip = why.get(c.driver)
    return setup
