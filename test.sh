#!/usr/bin/env bash
# Install pmalloc with its test dependencies into .venv and pass the tests twice:
# once as built normally (editable), once built with ASan + UBSan (PMALLOC_SANITIZE=1)
# into .venv-san, the ASan runtime preloaded into the interpreter.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v gcc >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc
fi
# The shim tests run real programs: the sqlite3 CLI, g++ (a C++ test program) and a
# CPython with its regression tests (Debian's python3.11 needs libpython3.11-testsuite;
# an interpreter that ships Lib/test, such as pyenv's, does not).
# The libpmem tests also check our behaviour against PMDK's (libpmem-dev).
missing=()
[ -e /usr/include/libpmem.h ] || missing+=(libpmem-dev)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
command -v g++ >/dev/null || missing+=(g++)
if ! python3 -c 'import test.test_dict' 2>/dev/null \
        && ! { [ -x /usr/bin/python3.11 ] && /usr/bin/python3.11 -c 'import test.test_dict' 2>/dev/null; }; then
    missing+=(libpython3.11-testsuite)
fi
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/python -m pytest -q "$@"

# Sanitized: a regular (non-editable) install, run through the venv's pytest script so
# the in-tree build is not on sys.path.
python3 -m venv .venv-san
.venv-san/bin/python -m pip install -q cffi pytest pytest-benchmark hypothesis numpy
PMALLOC_SANITIZE=1 .venv-san/bin/python -m pip install -q --force-reinstall --no-deps .
LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
PMALLOC_SANITIZED=1 .venv-san/bin/pytest -q -p no:cacheprovider "$@"
