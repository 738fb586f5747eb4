/* io.c: whole reads and writes. Never allocates, never logs. */
#include <stdint.h>

#include "io.h"
#include "util.h"

int io_read_all(int fd, void *buf, size_t size, size_t *ret_len)
{
	uint8_t *b = buf;
	size_t len = 0;

	while (len < size) {
		ssize_t n = read(fd, b + len, size - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0) {
			*ret_len = len;
			return 0;
		}
		len += (size_t)n;
	}
	return -EFBIG;
}

int io_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = write(fd, b, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			return -EIO;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

int io_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = pwrite(fd, b, n, (off_t)off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			return -EIO;
		b += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}
