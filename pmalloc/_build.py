"""The cffi builder for pmalloc._native: declarations from native/, sources from native/src."""
import glob
import os

from cffi import FFI

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rel(*parts: str) -> str:
    return os.path.relpath(os.path.join(_ROOT, *parts))


def _sources(folder: str) -> list[str]:
    return sorted(os.path.relpath(p)
                  for p in glob.glob(os.path.join(_ROOT, "native", "src", folder, "*.c")))


# Everything but the preload libraries, which replace malloc and are libraries of their own.
LIB_SOURCES = [p for p in _sources("*")
               if os.sep + "shim" + os.sep not in p and os.sep + "tiershim" + os.sep not in p]
SHIM_SOURCES = _sources("alloc") + _sources("common") + _sources("shim")
TIER_SHIM_SOURCES = _sources("alloc") + _sources("common") + _sources("kind") + _sources("tiershim")
INCLUDE_DIRS = [_rel("native", "include"), _rel("native", "src")]

CFLAGS = ["-std=c11", "-D_GNU_SOURCE", "-O3", "-g", "-Wall", "-Wextra", "-Werror",
          "-fvisibility=hidden", "-pthread"]
LDFLAGS = ["-pthread"]
if os.environ.get("PMALLOC_SANITIZE") == "1":
    _SAN = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer"]
    CFLAGS = [f if f != "-O3" else "-O1" for f in CFLAGS] + _SAN
    LDFLAGS = LDFLAGS + _SAN

# One cdef file per public header, in this order: pmalloc.cdef uses libvmem's VMEM.
CDEF_FILES = ["libvmem.cdef", "libpmem.cdef", "pmalloc.cdef", "memkind.cdef", "libpmemlog.cdef",
              "libpmemblk.cdef", "libpmemobj.cdef", "pmalloc_kv.cdef"]


def _cdef() -> str:
    parts = []
    for name in CDEF_FILES:
        with open(os.path.join(_ROOT, "native", "cdef", name)) as f:
            parts.append(f.read())
    return "\n".join(parts)


_CDEF = _cdef()

ffibuilder = FFI()
ffibuilder.cdef(_CDEF)
ffibuilder.set_source(
    "pmalloc._native",
    '#include "libvmem.h"\n#include "pmalloc.h"\n#include "libpmem.h"\n#include "memkind.h"\n#include "memkind_memtier.h"\n#include "libpmemlog.h"\n#include "libpmemblk.h"\n#include "libpmemobj.h"\n#include "pmalloc_kv.h"\n',
    sources=LIB_SOURCES,
    include_dirs=INCLUDE_DIRS,
    extra_compile_args=[f for f in CFLAGS if f != "-Werror"],
    extra_link_args=LDFLAGS,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
