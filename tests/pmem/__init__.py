"""Tests of the persistence layer: libpmem, pmalloc.pmem and the crash simulator."""
