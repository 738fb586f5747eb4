/* buf.h: a growable byte buffer with a sticky error, the one every module builds text in (audit
 * lines, request replies, policy diagnostics). Appends after a failure do nothing and the first
 * error stays, so a builder appends freely and checks once at the end. Never for secrets: it is
 * plain heap (secbuf.h is for those). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
	char *p; /* len bytes, NUL-terminated when len > 0 or after buf_cstr */
	size_t len;
	size_t cap;
	size_t max; /* the most len may reach: -EMSGSIZE past it; 0 = BUF_MAX_DEFAULT */
	int err;    /* 0, or the first -errno (-ENOMEM, -EMSGSIZE): sticky */
};
#define BUF_MAX_DEFAULT (16u * 1024u * 1024u)
#define BUF_INIT(m)                                                                                \
	{                                                                                          \
		.max = (m)                                                                         \
	}

/* Room for n more bytes (and a NUL). Returns 0 or the buffer's sticky error. */
int buf_reserve(struct buf *b, size_t n);
/* buf_put when the bytes do not fit the memory it has (or it failed). */
int buf_put_slow(struct buf *b, const void *p, size_t n);

/* Appends are inline while they fit: serializers on the hot path (an audit line per open) put
 * a few dozen pieces each. */
static inline int buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->err || n >= b->cap - b->len)
		return buf_put_slow(b, p, n);
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static inline int buf_puts(struct buf *b, const char *s)
{
	return buf_put(b, s, strlen(s));
}

static inline int buf_putc(struct buf *b, char c)
{
	return buf_put(b, &c, 1);
}
/* v in decimal, and n bytes as 2n lowercase hex digits. */
int buf_put_u64(struct buf *b, uint64_t v);
int buf_put_i64(struct buf *b, int64_t v);
int buf_put_hex(struct buf *b, const void *p, size_t n);
/* printf-style; the formatted text counts against max like any append. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text so far, NUL-terminated ("" for none); NULL when the buffer failed. */
const char *buf_cstr(struct buf *b);
/* Empties the buffer (keeps its memory and max, and clears the error). */
void buf_clear(struct buf *b);
/* Frees the memory; the buffer is empty and usable again (max kept). */
void buf_done(struct buf *b);
/* Hands the bytes to the caller (NUL-terminated, heap; *ret_len may be NULL) and empties the
 * buffer; the sticky error if it failed. */
int buf_steal(struct buf *b, char **ret, size_t *ret_len);
