"""Tests of the allocator core: libvmem from C and through cffi, and vmem.Pool."""
