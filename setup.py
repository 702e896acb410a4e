"""Build: the cffi module pmalloc._native, the CPython type modules pmalloc._buffer and _tx,
and the plain shared library libpmalloc.so (the C API), all from native/."""
import glob
import os
import shutil

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _load_build():
    """pmalloc/_build.py by path: importing the package would need the built module."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("_pmalloc_build", "pmalloc/_build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_b = _load_build()
CFLAGS, INCLUDE_DIRS, LDFLAGS = _b.CFLAGS, _b.INCLUDE_DIRS, _b.LDFLAGS
LIB_SOURCES, SHIM_SOURCES, TIER_SHIM_SOURCES = _b.LIB_SOURCES, _b.SHIM_SOURCES, _b.TIER_SHIM_SOURCES

# Extensions that are plain shared libraries: module name -> file name.
SHARED_LIBS = {"pmalloc.libpmalloc": "libpmalloc.so", "pmalloc.libvmmalloc": "libvmmalloc.so",
               "pmalloc.libmemtier": "libmemtier.so"}


class BuildExt(build_ext):
    """Gives shared libraries a plain name; ships the public headers and the benchmark
    drivers' sources."""

    def get_ext_filename(self, fullname: str) -> str:
        # called with the dotted name, and by get_ext_fullpath with its last part
        for module, filename in SHARED_LIBS.items():
            if fullname == module:
                return os.path.join(*module.split(".")[:-1], filename)
            if fullname == module.rsplit(".", 1)[1]:
                return filename
        return super().get_ext_filename(fullname)

    def get_export_symbols(self, ext):  # no PyInit_ for plain libraries
        if ext.name in SHARED_LIBS:
            return []
        return super().get_export_symbols(ext)

    def run(self) -> None:
        super().run()
        root = "." if self.inplace else self.build_lib
        dest = os.path.join(root, "pmalloc", "include")
        os.makedirs(dest, exist_ok=True)
        for header in glob.glob(os.path.join("native", "include", "*.h")):
            shutil.copy(header, dest)
        # the benchmark drivers' sources, built by `pmalloc bench` where it runs
        dest = os.path.join(root, "pmalloc", "bench", "src")
        os.makedirs(dest, exist_ok=True)
        for source in glob.glob(os.path.join("bench", "src", "*.[ch]")):
            shutil.copy(source, dest)


libpmalloc = Extension(
    "pmalloc.libpmalloc",
    sources=LIB_SOURCES,
    include_dirs=INCLUDE_DIRS,
    # linked by programs, not dlopen'ed: the hot thread state may be initial-exec TLS
    extra_compile_args=CFLAGS + ["-DPMALLOC_TLS_INITIAL_EXEC"],
    extra_link_args=LDFLAGS + ["-Wl,--version-script=native/libpmalloc.map", "-lpthread"],
    py_limited_api=False,
)


def preload(name: str, sources: list[str]) -> Extension:
    """A preload library: exports the malloc family only (a dlopen'ed module's own calls must
    not bind to it), initial-exec TLS (it is loaded at start-up)."""
    return Extension(
        name,
        sources=sources,
        include_dirs=INCLUDE_DIRS,
        extra_compile_args=CFLAGS + ["-DPMALLOC_TLS_INITIAL_EXEC", "-ftls-model=initial-exec"],
        extra_link_args=LDFLAGS + ["-Wl,--version-script=native/libvmmalloc.map", "-lpthread"],
        py_limited_api=False,
    )


# the shim (a program's heap in a pool file) and the tier preload (over tiers of kinds)
libvmmalloc = preload("pmalloc.libvmmalloc", SHIM_SOURCES)
libmemtier = preload("pmalloc.libmemtier", TIER_SHIM_SOURCES)

buffer_type = Extension(
    "pmalloc._buffer",
    sources=["native/python/buffer.c"],
    extra_compile_args=[f for f in CFLAGS if f != "-fvisibility=hidden"],
    extra_link_args=LDFLAGS,
)

# The hot path of pmalloc.obj's transactions (it calls libpmalloc through addresses it is given).
tx_type = Extension(
    "pmalloc._tx",
    sources=["native/python/tx.c"],
    extra_compile_args=[f for f in CFLAGS if f != "-fvisibility=hidden"],
    extra_link_args=LDFLAGS,
)

# NumPy's array data handlers (NEP 49); needs no NumPy headers to build.
nphandler = Extension(
    "pmalloc._nphandler",
    sources=["native/python/nphandler.c"],
    extra_compile_args=[f for f in CFLAGS if f != "-fvisibility=hidden"],
    extra_link_args=LDFLAGS,
)

setup(
    cffi_modules=["pmalloc/_build.py:ffibuilder"],
    ext_modules=[libpmalloc, libvmmalloc, libmemtier, buffer_type, tx_type, nphandler],
    cmdclass={"build_ext": BuildExt},
)
