/*
 * btt.h -- the block translation table over a memory range (blk_layout.h): the
 * engine under libpmemblk, and under the crash simulator's tests
 */
#ifndef PMALLOC_BTT_H
#define PMALLOC_BTT_H

#include <stddef.h>
#include <stdint.h>

struct btt;

/* Lay a new pool of bsize-byte blocks over [base, base + size); 0, or -1 + errno +
 * message (too small, bsize below 512 or too large, a persist that failed). */
int btt_format(char *base, size_t size, uint32_t bsize);

/* The pool over [base, base + size) checked and recovered (every lane's last write
 * finished or undone), with bsize (0: the pool's); NULL + errno + message. */
struct btt *btt_open(char *base, size_t size, uint32_t bsize);

/* Forget the handle (the memory stays). */
void btt_close(struct btt *b);

uint32_t btt_bsize(const struct btt *b);
uint32_t btt_nlba(const struct btt *b);

/* Read block lba into buf; 0, or -1 + errno (EINVAL: no such block, EIO: its error
 * is set, EUCLEAN: the map names a block outside the pool). */
int btt_read(struct btt *b, uint64_t lba, void *buf);

/* Write buf to block lba, atomically against power failure; 0 or -1 + errno. */
int btt_write(struct btt *b, uint64_t lba, const void *buf);

/* Make block lba read as zeros / fail with EIO until written; 0 or -1 + errno. */
int btt_set_zero(struct btt *b, uint64_t lba);
int btt_set_error(struct btt *b, uint64_t lba);

/* Walk the map against the lanes' free blocks: 1 when every data block is mapped
 * or free exactly once, 0 when not (message says which). */
int btt_check(struct btt *b);

#endif
