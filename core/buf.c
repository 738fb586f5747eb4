/* buf.c: the growable buffer with a sticky error (buf.h). Plain heap: never given secrets. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

static size_t buf_max(const struct buf *b)
{
	return b->max ? b->max : BUF_MAX_DEFAULT;
}

static int buf_fail(struct buf *b, int err)
{
	if (!b->err)
		b->err = err;
	return b->err;
}

int buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap, max = buf_max(b);
	char *p;

	if (b->err)
		return b->err;
	if (n > max - b->len)
		return buf_fail(b, -EMSGSIZE);
	need = b->len + n + 1; /* and a NUL */
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if (cap > max + 1)
		cap = max + 1;
	p = realloc(b->p, cap);
	if (!p)
		return buf_fail(b, -ENOMEM);
	b->p = p;
	b->cap = cap;
	return 0;
}

int buf_put_slow(struct buf *b, const void *p, size_t n)
{
	int r = buf_reserve(b, n);

	if (r < 0)
		return r;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int buf_put_u64(struct buf *b, uint64_t v)
{
	char t[20];
	size_t i = sizeof(t);

	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return buf_put(b, t + i, sizeof(t) - i);
}

int buf_put_i64(struct buf *b, int64_t v)
{
	if (v >= 0)
		return buf_put_u64(b, (uint64_t)v);
	buf_putc(b, '-');
	return buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
}

int buf_put_hex(struct buf *b, const void *p, size_t n)
{
	int r;

	if (n > SIZE_MAX / 2)
		return buf_fail(b, -EMSGSIZE);
	r = buf_reserve(b, 2 * n);
	if (r < 0)
		return r;
	hex_encode(p, n, b->p + b->len);
	b->len += 2 * n;
	b->p[b->len] = '\0';
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	if (b->err)
		return b->err;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return buf_fail(b, -EINVAL);
	r = buf_reserve(b, (size_t)n);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

const char *buf_cstr(struct buf *b)
{
	if (b->err)
		return NULL;
	if (!b->p)
		return "";
	b->p[b->len] = '\0'; /* a writer past buf_reserve may not have put it */
	return b->p;
}

void buf_clear(struct buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->p)
		b->p[0] = '\0';
}

void buf_done(struct buf *b)
{
	free(b->p);
	*b = (struct buf){ .max = b->max };
}

int buf_steal(struct buf *b, char **ret, size_t *ret_len)
{
	int r = b->err;

	if (r == 0 && !b->p)
		r = buf_reserve(b, 0);
	if (r < 0) {
		buf_done(b);
		return r;
	}
	b->p[b->len] = '\0';
	*ret = TAKE_PTR(b->p);
	if (ret_len)
		*ret_len = b->len;
	buf_done(b);
	return 0;
}
