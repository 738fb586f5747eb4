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

/* write(2) (off < 0) or pwrite(2) at off until all n bytes are written. */
static int write_loop(int fd, const void *p, size_t n, int64_t off)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = off < 0 ? write(fd, b, n) : pwrite(fd, b, n, (off_t)off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			return -EIO;
		b += k;
		n -= (size_t)k;
		if (off >= 0)
			off += k;
	}
	return 0;
}

int io_write_all(int fd, const void *p, size_t n)
{
	return write_loop(fd, p, n, -1);
}

int io_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	if (off > INT64_MAX)
		return -EINVAL;
	return write_loop(fd, p, n, (int64_t)off);
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
