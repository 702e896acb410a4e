"""The C drivers and what they run against: pmalloc's library, the anchor libraries."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

SHIM = "libvmmalloc.so"  # Contender.preload naming pmalloc's own shim, not an anchor library
INCLUDE_DIRS = (Path("/usr/include"), Path("/usr/local/include"))


class BenchError(Exception):
    """Nothing can be measured (no compiler, no contender): the message says why."""


def system_lib_dirs() -> tuple[Path, ...]:
    """Where the anchor libraries are looked for: the system's library directories."""
    arch = sysconfig.get_config_var("MULTIARCH")  # x86_64-linux-gnu on Debian
    names = [*(f"{d}/{arch}" for d in ("/usr/lib", "/lib") if arch),
             "/usr/lib64", "/usr/lib", "/usr/local/lib"]
    return tuple(Path(d) for d in names if Path(d).is_dir())


@dataclass
class Contender:
    """One allocator or library under test."""

    name: str                   # short label in tables
    note: str = ""              # how it runs, for the report
    driver: str = ""            # key of DRIVERS it runs, "" for none
    preload: str | None = None  # library file for LD_PRELOAD (an anchor's), or SHIM
    package: str = ""           # the Debian package with the preload library
    skip: str | None = None     # why it is not run
    install: str | None = None  # the package to install when it is skipped for want of it
    ld_preload: str | None = None  # the preload library found (set by build_all)


# The allocators a plain malloc program runs under: no preload, or one of Debian's.
MALLOC_ANCHORS = [
    Contender("glibc", "plain malloc/free, no preload", "driver-malloc"),
    *(Contender(name, f"LD_PRELOAD {lib}", "driver-malloc", lib, pkg) for name, lib, pkg in (
        ("jemalloc", "libjemalloc.so.2", "libjemalloc2"),
        ("mimalloc", "libmimalloc.so.2", "libmimalloc2.0"),
        ("tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"))),
]


@dataclass(frozen=True)
class Driver:
    """One build of a source in src/ into the output directory, under its key's name."""

    source: str
    flags: tuple[str, ...] = ()
    lib: str = ""          # a system library it links (-l<lib>), with its header and package:
    header: str = ""
    package: str = ""
    pmalloc: bool = False  # pmalloc's headers and a copy of libpmalloc.so
    more_libs: tuple[str, ...] = ()  # further system libraries, linked after it


DRIVERS = {
    "driver-malloc": Driver("driver.c", ("-pthread",)),
    "driver-memkind": Driver("driver.c", ("-pthread", "-DBENCH_API_MEMKIND"), "memkind",
                             "memkind.h", "libmemkind-dev"),
    "driver-vmem": Driver("driver.c", ("-pthread", "-DBENCH_API_VMEM"), pmalloc=True),
    # the same memkind driver against pmalloc's memkind.h (found first) and libpmalloc
    "driver-kind": Driver("driver.c", ("-pthread", "-DBENCH_API_MEMKIND"), pmalloc=True),
    "driver-kind-nullfree": Driver("driver.c", ("-pthread", "-DBENCH_API_MEMKIND",
                                                "-DBENCH_FREE_NO_KIND"), pmalloc=True),
    "pmem-pmalloc": Driver("pmem_driver.c", pmalloc=True),
    "pmem-pmdk": Driver("pmem_driver.c", lib="pmem", header="libpmem.h", package="libpmem-dev"),
    "pmem-memcpy": Driver("pmem_driver.c", ("-DBENCH_PLAIN",)),
    "logblk-pmalloc": Driver("logblk_driver.c", pmalloc=True),
    "logblk-pmdk": Driver("logblk_driver.c", lib="pmemlog", header="libpmemlog.h",
                          package="libpmemlog-dev libpmemblk-dev", more_libs=("-lpmemblk",)),
    "obj-pmalloc": Driver("obj_driver.c", pmalloc=True),
    "obj-pmdk": Driver("obj_driver.c", lib="pmemobj", header="libpmemobj.h",
                       package="libpmemobj-dev"),
}


@dataclass(frozen=True)
class Places:
    """Where the drivers come from and go, and where the anchors are looked for."""

    src: Path                 # the C sources (bench/src, or their copy in the package)
    out: Path                 # the executables; lib/ has the copy of libpmalloc.so they link
    root: Path | None = None  # builds run here and show their paths relative to it
    lib_dirs: tuple[Path, ...] = field(default_factory=system_lib_dirs)
    werror: bool = False      # warnings do not change the code: -Werror for our own tree only

    def shown(self, p: Path) -> str:
        return os.path.relpath(p, self.root) if self.root else str(p)

    @property
    def cflags(self) -> list[str]:  # the figures depend on -O2 and the driver flags only
        return ["-std=c11", "-O2", "-g", "-Wall", "-Wextra", *(["-Werror"] * self.werror)]

    def find(self, name: str, dirs: tuple[Path, ...] | None = None) -> Path | None:
        return next((d / name for d in (dirs or self.lib_dirs) if (d / name).exists()), None)


@dataclass(frozen=True)
class Pmalloc:
    """The pmalloc the drivers use (that of --python, or the one running `pmalloc bench`)
    and the copy of its library they link."""

    include: str
    library: str
    preload: str
    version: str
    snapshot: str = ""  # where the drivers' copy of the library is and its digest


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
    return checked(Pmalloc(*json.loads(r.stdout.strip().splitlines()[-1])), python)


def checked(pm: Pmalloc, python: str) -> Pmalloc | str:
    """pm, or why its library or headers are not there."""
    if not Path(pm.library).is_file():
        return f"{pm.library} does not exist (build it: {python} -m pip install -e .)"
    if not (Path(pm.include) / "libvmem.h").is_file():
        return f"no libvmem.h in {pm.include}"
    return pm


def snapshot(pm: Pmalloc, places: Places) -> Pmalloc:
    """Copy the library to out/lib, so a rebuild of the tree mid-run cannot change (or
    remove) the library the drivers link."""
    import hashlib  # only here: OpenSSL would add megabytes to every run (runner.run_process)

    copy = places.out / "lib" / "libpmalloc.so"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(pm.library, copy)
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()[:12]
    return replace(pm, snapshot=f"sha256 {digest}, copied to {places.shown(copy.parent)}/")


def system_lib(d: Driver, places: Places) -> list[str] | None:
    """The link flags of the system library a driver needs ([] for none); None when it or
    its header is not installed."""
    if not d.lib:
        return []
    found = places.find(f"lib{d.lib}.so")
    if found is None or places.find(d.header, INCLUDE_DIRS) is None:
        return None
    if found.parent in system_lib_dirs():
        return [f"-l{d.lib}"]
    return ["-L", str(found.parent), f"-l{d.lib}", f"-Wl,-rpath,{found.parent}"]


def compile_driver(name: str, pm: Pmalloc | None, places: Places) -> tuple[Path, str] | str:
    """Build out/<name>: (the executable, its command), or why it cannot be built."""
    d = DRIVERS[name]
    libs = system_lib(d, places) or []
    if d.pmalloc and pm is None:
        return "pmalloc not found"
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise BenchError(f"no C compiler ({cc}): install gcc, or name one in $CC")
    places.out.mkdir(parents=True, exist_ok=True)
    exe, src, libdir = places.out / name, places.src, places.out / "lib"
    inc = ["-I", pm.include] if d.pmalloc and pm else []
    if d.pmalloc:
        libs += ["-L", places.shown(libdir), "-lpmalloc", f"-Wl,-rpath,{libdir.resolve()}"]
    cmd = [cc, *places.cflags, *d.flags, *inc, "-I", places.shown(src),
           places.shown(src / d.source), "-o", places.shown(exe), *libs, *d.more_libs]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=places.root)
    if r.returncode != 0:
        tail = "\n".join(r.stderr.strip().splitlines()[-8:])
        return f"build failed: {shlex.join(cmd)}\n{tail}"
    return exe, shlex.join(cmd)


def preload_env(c: Contender, pool_dir: str) -> dict[str, str]:
    """What a contender adds to the environment of a run: its preload, the shim's pool dir."""
    env = {"LD_PRELOAD": c.ld_preload} if c.ld_preload else {}
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


def locate(c: Contender, pm: Pmalloc | None, places: Places) -> None:
    """Set the contender's preload library; mark it skipped when that or its driver's
    system library is not installed, naming the package that has it."""
    d = DRIVERS.get(c.driver)
    if c.preload == SHIM:
        c.ld_preload = pm.preload if pm else None
    elif c.preload:
        found = places.find(c.preload)
        c.ld_preload = str(found) if found else None
        if not found:
            where = ", ".join(map(str, places.lib_dirs)) or "no directory"
            c.install = c.package
            c.skip = f"{c.preload} not found in {where} (install {c.package})"
    if not c.skip and d and system_lib(d, places) is None:
        c.install = d.package
        c.skip = f"{d.header} or lib{d.lib}.so not found (install {d.package})"


def build_all(cons: list[Contender], find: Callable[[], Pmalloc | str],
              places: Places) -> Setup:
    """Build what the contenders need; mark skipped those that cannot run, with the reason.
    `find` gives pmalloc (or why not), asked only when a contender uses it."""
    found = find() if any(uses_pmalloc(c) for c in cons if not c.skip) else None
    pm = found if isinstance(found, Pmalloc) else None
    if pm and any(c.driver and DRIVERS[c.driver].pmalloc for c in cons if not c.skip):
        pm = snapshot(pm, places)
    setup = Setup(cons, {}, {}, pm)
    why: dict[str, str] = {}
    for c in cons:
        if c.skip:
            continue
        if uses_pmalloc(c) and pm is None:
            c.skip = str(found)
            continue
        locate(c, pm, places)
        if c.skip:
            continue
        if c.driver and c.driver not in setup.exes and c.driver not in why:
            built = compile_driver(c.driver, pm, places)
            if isinstance(built, str):
                why[c.driver] = built
            else:
                setup.exes[c.driver], setup.builds[c.driver] = built
        c.skip = why.get(c.driver)
    return setup
