/* io.c: whole reads and writes. Never allocates, never logs. */
#include <fcntl.h>
#include <stdint.h>
#include <sys/sysmacros.h>

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

int io_stat_notime(int dirfd, const char *path, int flags, struct stat *ret)
{
	struct statx sx;

	if (statx(dirfd, path, flags | AT_STATX_SYNC_AS_STAT,
		  STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_INO | STATX_SIZE, &sx) < 0)
		return negative_errno();
	*ret = (struct stat){ .st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor),
			      .st_ino = sx.stx_ino,
			      .st_mode = sx.stx_mode,
			      .st_nlink = sx.stx_nlink,
			      .st_size = (off_t)sx.stx_size };
	return 0;
}
