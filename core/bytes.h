/* bytes.h: little-endian records written into and read from a bounded buffer, the one way the
 * store's own record formats (a certificate's record and policy, kv-cert*.c) are put together
 * and taken apart. A writer with no buffer counts (a dry run for the size); a write past the
 * end, or a read past what is there, sets the sticky flag and does nothing more, so a
 * sequence of calls is checked once at its end. Never allocates, never reads past n. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bytes_wr {
	uint8_t *p; /* NULL: only count */
	size_t n, cap;
	bool over;
};
void bytes_put(struct bytes_wr *w, const void *p, size_t n);
void bytes_put_int(struct bytes_wr *w, uint64_t v, size_t bytes);
/* a length of lenbytes, then the n bytes */
void bytes_put_blob(struct bytes_wr *w, const void *p, size_t n, size_t lenbytes);

struct bytes_rd {
	const uint8_t *p;
	size_t n, off;
	bool bad;
};
/* n bytes in place, or NULL (bad set) */
const uint8_t *bytes_get(struct bytes_rd *r, size_t n);
/* an integer of `bytes` bytes, or 0 (bad set) */
uint64_t bytes_get_int(struct bytes_rd *r, size_t bytes);
/* a length of lenbytes and the bytes in place, or NULL (bad set) */
const uint8_t *bytes_get_blob(struct bytes_rd *r, size_t lenbytes, size_t *ret_len);
