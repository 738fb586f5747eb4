/* audit-reader.c: reading a journal as lines, and finding its files (PATH.N ... PATH.1 PATH).
 * For vaultctl and verify: it only reads, never writes, locks or trusts a line (a line is
 * only bytes up to a newline, capped; parsing and checking are audit-json.c's). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/audit-int.h"
#include "core/io.h"

struct audit_reader {
	int fd;
	char *buf;
	size_t off, len, cap;
};

int audit_reader_open(const char *path, struct audit_reader **ret)
{
	_cleanup_close_ int fd = -1;
	struct audit_reader *rd;
	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return -ENOMEM;
	rd->cap = VAULTFS_AUDIT_LINE_MAX + 1;
	rd->buf = malloc(rd->cap);
	if (!rd->buf) {
		free(rd);
		return -ENOMEM;
	}
	rd->fd = TAKE_FD(fd);
	*ret = rd;
	return 0;
}

int audit_reader_next(struct audit_reader *rd, const char **ret_line, size_t *ret_len)
{
	for (;;) {
		char *nl = memchr(rd->buf + rd->off, '\n', rd->len - rd->off), *z;
		ssize_t n;

		if (nl) {
			*ret_line = rd->buf + rd->off;
			*ret_len = (size_t)(nl - (rd->buf + rd->off));
			rd->off += *ret_len + 1;
			return 1;
		}
		if (rd->off > 0) {
			memmove(rd->buf, rd->buf + rd->off, rd->len - rd->off);
			rd->len -= rd->off;
			rd->off = 0;
		}
		if (rd->len >= rd->cap)
			return -EBADMSG;
		n = read(rd->fd, rd->buf + rd->len, rd->cap - rd->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		z = n > 0 ? memchr(rd->buf + rd->len, 0, (size_t)n) : NULL;
		if (z) {
			/* the zeros a writer allocated ahead (audit-file.c): the data ends here for
			 * now; the next read looks at this place again, filled or not */
			size_t k = (size_t)(z - (rd->buf + rd->len));

			if (lseek(rd->fd, -(off_t)((size_t)n - k), SEEK_CUR) < 0)
				return negative_errno();
			n = (ssize_t)k;
		}
		if (n == 0)
			return 0;
		rd->len += (size_t)n;
	}
}

/* Bytes from fd's position to the last non-zero byte of the file (0: only zeros follow). */
static size_t data_after(int fd)
{
	char buf[64 * 1024];
	off_t pos = lseek(fd, 0, SEEK_CUR), at = pos, last = pos;
	ssize_t n;

	if (pos < 0)
		return 0;
	while ((n = pread(fd, buf, sizeof(buf), at)) > 0) {
		for (ssize_t i = n; i > 0; i--)
			if (buf[i - 1]) {
				last = at + i;
				break;
			}
		at += n;
	}
	return (size_t)(last - pos);
}

size_t audit_reader_pending(const struct audit_reader *rd)
{
	return rd->len - rd->off + data_after(rd->fd);
}

int audit_reader_stat(const struct audit_reader *rd, uint64_t *ret_dev, uint64_t *ret_ino)
{
	struct stat st;
	int r = io_stat_notime(rd->fd, "", AT_EMPTY_PATH, &st); /* a follower polls this */

	if (r < 0)
		return r;
	*ret_dev = st.st_dev;
	*ret_ino = st.st_ino;
	return 0;
}

void audit_reader_free(struct audit_reader *rd)
{
	if (!rd)
		return;
	close(rd->fd);
	free(rd->buf);
	free(rd);
}

static int cmp_desc(const void *x, const void *y)
{
	size_t a = *(const size_t *)x, b = *(const size_t *)y;

	return a < b ? 1 : a > b ? -1 : 0;
}

/* The N of a directory entry named BASE.N (N a number without leading zeros), 0 if none. */
static size_t rotated_index(const char *name, const char *base)
{
	size_t n = strlen(base), k = 0;
	const char *p = name + n + 1;

	if (strncmp(name, base, n) != 0 || name[n] != '.' || *p < '1' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		k = k * 10 + (size_t)(*p - '0');
		if (k > VAULTFS_AUDIT_ROTATED_MAX)
			return 0;
	}
	return *p ? 0 : k;
}

int audit_list_files(const char *path, char ***ret, size_t *ret_n)
{
	_cleanup_free_ char *d1 = strdup(path), *d2 = strdup(path);
	_cleanup_free_ size_t *idx = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	char **v;
	DIR *dir;

	if (!d1 || !d2)
		return -ENOMEM;
	/* every PATH.N there is, gaps included: a file missing in the middle breaks the chain */
	dir = opendir(dirname(d1));
	if (!dir)
		return negative_errno();
	while ((de = readdir(dir))) {
		size_t k = rotated_index(de->d_name, basename(d2));

		if (!k)
			continue;
		if (n == cap) {
			size_t *p = reallocarray(idx, cap ? 2 * cap : 16, sizeof(*idx));

			if (!p) {
				closedir(dir);
				return -ENOMEM;
			}
			idx = p;
			cap = cap ? 2 * cap : 16;
		}
		idx[n++] = k;
	}
	closedir(dir);
	if (n > 0)
		qsort(idx, n, sizeof(*idx), cmp_desc);
	v = calloc(n + 2, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		v[k] = audit_path_n(path, idx[k]);
		if (!v[k]) {
			audit_paths_free(v);
			return -ENOMEM;
		}
	}
	v[n] = strdup(path);
	if (!v[n]) {
		audit_paths_free(v);
		return -ENOMEM;
	}
	*ret = v;
	*ret_n = n + 1;
	return 0;
}

void audit_paths_free(char **paths)
{
	if (!paths)
		return;
	for (char **p = paths; *p; p++)
		free(*p);
	free(paths);
}
