/* secbuf.h: the one type that holds plaintext and keys. Memory is mmap'd, mlock'd and marked
 * MADV_DONTDUMP and MADV_WIPEONFORK, and is wiped on free; then unlocked and unmapped, or, for a
 * small buffer, kept (wiped, locked) in a bounded pool that the next secbuf_new() reuses. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct secbuf {
	uint8_t *data; /* cap bytes, page-aligned, locked */
	size_t len;    /* bytes in use */
	size_t cap;    /* usable capacity */
};

/* Allocate a locked buffer of cap bytes (len 0). -ENOMEM if it cannot be mapped or locked,
 * -EINVAL for cap 0. */
int secbuf_new(size_t cap, struct secbuf **ret);
/* Wipe the whole mapping, then pool it or unlock and unmap it; free. Accepts NULL. */
void secbuf_free(struct secbuf *b);
/* Copy n bytes in (replacing the contents). -EMSGSIZE if n > cap. */
int secbuf_set(struct secbuf *b, const void *p, size_t n);
/* New buffer holding a copy of p. */
int secbuf_dup(const void *p, size_t n, struct secbuf **ret);
/* Unlock and unmap every pooled mapping (done by itself when locking fails for want of
 * locked memory, and in a forked child). */
void secbuf_pool_drain(void);
/* Wipe memory that the compiler must not optimise away (explicit_bzero). */
void secure_wipe(void *p, size_t n);

static inline void secbuf_freep(struct secbuf **b)
{
	secbuf_free(*b);
}
#define _cleanup_secbuf_ __attribute__((cleanup(secbuf_freep)))
