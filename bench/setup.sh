#!/usr/bin/env bash
# bench/setup.sh -- install the benchmark anchors (Debian bookworm packages).
#
# Idempotent: packages already present are left alone, and apt-get is not run
# at all when everything is installed (pass --force to run it anyway).
# Needs root (or sudo) for apt-get. See ../../shared/ANCHORS.md.
set -euo pipefail

PACKAGES=(
    gcc                     # builds the drivers
    libc6-dev
    libjemalloc2            # /usr/lib/x86_64-linux-gnu/libjemalloc.so.2
    libmimalloc2.0          # /usr/lib/x86_64-linux-gnu/libmimalloc.so.2
    libtcmalloc-minimal4    # /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
    libmemkind-dev          # memkind.h + libmemkind.so (the PMEM kind)
    libpmem-dev             # PMDK's libpmem.h + libpmem.so (run_pmem.py)
    libpmemlog-dev          # PMDK 1.12 libpmemlog (run_logblk.py)
    libpmemblk-dev          # PMDK 1.12 libpmemblk (run_logblk.py)
    libpmemobj-dev          # PMDK 1.12 libpmemobj (run_obj.py)
    sqlite3                 # the sqlite workload of run_programs.py
    redis-server            # redis-server 7, the anchor of run_server.py
    redis-tools             # redis-benchmark and redis-cli (run_server.py)
    hyperfine
    time
)

force=0
if [[ "${1:-}" == "--force" ]]; then
    force=1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 && $force -eq 0 ]]; then
    echo "setup.sh: all anchors already installed: ${PACKAGES[*]}"
    exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then
        SUDO=(sudo)
    else
        echo "setup.sh: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi

if [[ $force -eq 1 ]]; then
    missing=("${PACKAGES[@]}")
fi
echo "setup.sh: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
# the package starts a redis-server on 6379; run_server.py starts its own on free ports
if [[ " ${missing[*]} " == *" redis-server "* ]] && command -v service >/dev/null; then
    "${SUDO[@]}" service redis-server stop || true
fi
echo "setup.sh: done"
