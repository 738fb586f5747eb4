/* bytes.c: bounded little-endian writing and reading (bytes.h). Its only job is the bounds:
 * nothing here knows a record's layout, allocates, or reads or writes past a buffer. */
#include <string.h>

#include "bytes.h"

void bytes_put(struct bytes_wr *w, const void *p, size_t n)
{
	if (w->over || n > w->cap - w->n) {
		w->over = true;
		return;
	}
	if (n && w->p) /* no p: a dry run that only counts */
		memcpy(w->p + w->n, p, n);
	w->n += n;
}

void bytes_put_int(struct bytes_wr *w, uint64_t v, size_t bytes)
{
	uint8_t b[8];

	for (size_t i = 0; i < bytes && i < sizeof(b); i++)
		b[i] = (uint8_t)(v >> (8 * i));
	bytes_put(w, b, bytes);
}

void bytes_put_blob(struct bytes_wr *w, const void *p, size_t n, size_t lenbytes)
{
	bytes_put_int(w, n, lenbytes);
	bytes_put(w, p, n);
}

const uint8_t *bytes_get(struct bytes_rd *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || n > r->n - r->off) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

uint64_t bytes_get_int(struct bytes_rd *r, size_t bytes)
{
	const uint8_t *p = bytes_get(r, bytes);
	uint64_t v = 0;

	if (!p)
		return 0;
	for (size_t i = bytes; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

const uint8_t *bytes_get_blob(struct bytes_rd *r, size_t lenbytes, size_t *ret_len)
{
	size_t n = bytes_get_int(r, lenbytes);

	*ret_len = n;
	return bytes_get(r, n);
}
