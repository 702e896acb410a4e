"""Tests of the LD_PRELOAD shim (libvmmalloc.so) and `pmalloc run`."""
