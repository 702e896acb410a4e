#!/usr/bin/env bash
# Install pmalloc with its test dependencies into .venv and pass the tests:
# - the whole suite as built normally (editable), on the default python3;
# - the fast tests (-m "not slow") on every other Python version pyproject.toml declares
#   (requires-python and its "Python :: 3.X" classifiers) that this machine has, as pyenv's
#   or python3.X on the PATH, each a regular install in .venv-3.X; the versions not found
#   are named and skipped;
# - the whole suite built with ASan + UBSan (PMALLOC_SANITIZE=1) into .venv-san, the ASan
#   runtime preloaded into the interpreter.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v gcc >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc
fi
# The shim tests run real programs: the sqlite3 CLI, g++ (a C++ test program) and a
# CPython with its regression tests (Debian's python3.11 needs libpython3.11-testsuite;
# an interpreter that ships Lib/test, such as pyenv's, does not).
# The libpmem and libpmemobj tests also check our behaviour against PMDK's (libpmem-dev,
# libpmemobj-dev).
missing=()
[ -e /usr/include/libpmem.h ] || missing+=(libpmem-dev)
[ -e /usr/include/libpmemobj.h ] || missing+=(libpmemobj-dev)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
# The kv-server's replies are compared with Redis' own (tests/server; skipped without it).
command -v redis-server >/dev/null || missing+=(redis-server)
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

# The tests of a regular install in venv $1, the other arguments pytest's: from tests/,
# through the venv's pytest script, so that neither pytest nor the Pythons the tests start
# (`python -c ...` puts the working directory first on sys.path) import the in-tree package.
test_installed() {
    local venv=$1 arg args=()
    shift
    for arg in "$@"; do  # paths as given from the top of the tree
        [[ $arg != /* && -e ${arg%%::*} ]] && arg=$PWD/$arg
        args+=("$arg")
    done
    (cd tests && "../$venv/bin/pytest" -q -p no:cacheprovider ${args[@]+"${args[@]}"})
}

# ---- The other declared Python versions: the fast tests ----------------------------------

# The declared versions: the classifiers' 3.X that requires-python admits.
declared_pythons() {
    .venv/bin/python - <<'PY'
import re
from packaging.specifiers import SpecifierSet
text = open("pyproject.toml", encoding="utf-8").read()
requires = SpecifierSet(re.search(r'^requires-python\s*=\s*"([^"]*)"', text, re.M).group(1))
listed = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', text)
print(" ".join(v for v in listed if requires.contains(v + ".0")))
PY
}

# An interpreter of version $1 that can make a venv: pyenv's newest, else python$1.
find_python() {
    local v=$1 cand
    local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
    for cand in $(ls -d "$pyenv_root"/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -rV) \
                "$(command -v "python$v" || true)" "/usr/bin/python$v"; do
        if [ -x "$cand" ] && "$cand" -c "import sys, venv, ensurepip
sys.exit(sys.version_info[:2] != tuple(map(int, '$v'.split('.'))))" 2>/dev/null; then
            echo "$cand"
            return 0
        fi
    done
    return 1
}

started=$SECONDS
default=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
declared=$(declared_pythons)
others=() skipped=()
for v in $declared; do
    [ "$v" = "$default" ] && continue
    if find_python "$v" >/dev/null; then others+=("$v"); else skipped+=("$v"); fi
done
echo "Python versions declared: $declared; the whole suite ran on $default;" \
     "fast tests next on: ${others[*]:-none}; not found, skipped: ${skipped[*]:-none}"

# Each version's venv and build, side by side (a build is one compiler at a time), each
# from its own copy of the tree: builds of one tree would share build/ and the egg-info.
if [ ${#others[@]} -gt 0 ]; then
    tree=$(mktemp -d)
    trap 'rm -rf "$tree"' EXIT
    { git ls-files -z --cached --others --exclude-standard 2>/dev/null \
        || find . -path ./.git -prune -o -path './.venv*' -prune -o -path ./build -prune \
                -o -type f -print0; } | tar --null --ignore-failed-read -T - -cf "$tree/src.tar"
    pids=()
    for v in "${others[@]}"; do
        (
            mkdir "$tree/$v" && tar -xf "$tree/src.tar" -C "$tree/$v"
            "$(find_python "$v")" -m venv ".venv-$v"
            ".venv-$v/bin/python" -m pip install -q cffi pytest pytest-benchmark hypothesis numpy redis
            ".venv-$v/bin/python" -m pip install -q --force-reinstall --no-deps "$tree/$v"
        ) > "$tree/$v.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!others[@]}"; do
        if ! wait "${pids[$i]}"; then
            cat "$tree/${others[$i]}.log"
            echo "Python ${others[$i]}: the install into .venv-${others[$i]} failed" >&2
            exit 1
        fi
    done
    # One at a time: the tests time forks, threads and children.
    for v in "${others[@]}"; do
        echo "Python $v ($(".venv-$v/bin/python" -c 'import sys; print(sys.version.split()[0])')):" \
             "the fast tests"
        test_installed ".venv-$v" -m "not slow" "$@"
    done
fi
echo "Python versions: the whole suite passed on $default; the fast tests on" \
     "${others[*]:-no other} ($((SECONDS - started)) s); declared but not found here:" \
     "${skipped[*]:-none}"

# Sanitized: a regular (non-editable) install, tested as the others are (test_installed).
python3 -m venv .venv-san
.venv-san/bin/python -m pip install -q cffi pytest pytest-benchmark hypothesis numpy redis
PMALLOC_SANITIZE=1 .venv-san/bin/python -m pip install -q --force-reinstall --no-deps .
LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
PMALLOC_SANITIZED=1 test_installed .venv-san "$@"
