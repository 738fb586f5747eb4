/* audit-rotate.c: rotation, ours and a peer's. Ours: the file becomes PATH.1 (older ones shift
 * up) and a new PATH starts with a "rotate" record linked to the old file's last mac. A peer's:
 * we follow it to the new PATH only when the new file's first record links to our last one.
 * It must never follow a file that does not continue our chain (a replacement is -ESTALE). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "core/audit-int.h"
#include "core/io.h"

/* Write to fd (st its identity) from now on: the old file's lock and fd go. */
static void switch_file(struct audit *a, int fd, const struct stat *st)
{
	(void)flock(a->fd, LOCK_UN);
	close(a->fd);
	a->fd = fd;
	a->dev = st->st_dev;
	a->ino = st->st_ino;
	audit_synced(a, a->written);
}

/* Rotate: the old file becomes PATH.1 (older ones shift up), the new PATH starts with a rotate
 * record linked to the old file's last mac. Called with the lock held; on success the lock is
 * held on the new file. */
int audit_rotate(struct audit *a)
{
	_cleanup_free_ char *tmp = NULL, *first = NULL;
	_cleanup_close_ int nfd = -1;
	struct buf line = { .max = VAULTFS_AUDIT_LINE_MAX };
	struct buf body = { .max = VAULTFS_AUDIT_LINE_MAX };
	uint8_t mac[CRYPTO_MAC_LEN];
	struct stat st;
	size_t n = 0;
	int r;

	if (asprintf(&tmp, "%s.new", a->path) < 0 || !(first = audit_path_n(a->path, 1)))
		return -ENOMEM;
	for (; n < VAULTFS_AUDIT_ROTATED_MAX; n++) {
		_cleanup_free_ char *p = audit_path_n(a->path, n + 1);

		if (!p)
			return -ENOMEM;
		if (fstatat(AT_FDCWD, p, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				return negative_errno();
			break;
		}
	}
	for (size_t k = n; k >= 1; k--) {
		_cleanup_free_ char *from = audit_path_n(a->path, k);
		_cleanup_free_ char *to = audit_path_n(a->path, k + 1);

		if (!from || !to)
			return -ENOMEM;
		if (rename(from, to) < 0)
			return negative_errno();
	}
	if (unlink(tmp) < 0 && errno != ENOENT)
		return negative_errno();
	nfd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (nfd < 0)
		return negative_errno();
	r = audit_flock_ex(nfd);
	if (r >= 0)
		r = audit_own_body(&body, "rotate", NULL, first);
	if (r >= 0)
		r = audit_append_line(&line, a->mac_ctx, a->seq + 1, body.p, body.len, a->mac,
				      &a->scratch, mac);
	buf_done(&body);
	if (r >= 0)
		r = io_write_all(nfd, line.p, line.len);
	if (r >= 0 && fdatasync(nfd) < 0)
		r = negative_errno();
	if (r >= 0 && a->alloc_end > a->end) { /* the old file ends with its last line */
		r = audit_cut_prealloc(a);
		a->written++;
	}
	if (r >= 0 && audit_dirty(a))
		r = audit_fdatasync(a, a->fd);
	if (r >= 0 && fstat(nfd, &st) < 0)
		r = negative_errno();
	if (r >= 0 && link(a->path, first) < 0)
		r = negative_errno();
	if (r >= 0 && rename(tmp, a->path) < 0) {
		r = negative_errno();
		(void)unlink(first);
	}
	if (r < 0) {
		(void)unlink(tmp);
		buf_done(&line);
		return r;
	}
	/* PATH is the new file now: switch to it whatever the directory sync says */
	switch_file(a, TAKE_FD(nfd), &st);
	a->seq++;
	memcpy(a->mac, mac, CRYPTO_MAC_LEN);
	a->end = a->alloc_end = line.len;
	a->unanchored++;
	buf_done(&line);
	return audit_fsync_dir(a->dir);
}

/* Does the first record of fd continue the chain whose last record is (seq, mac)? */
static bool links_to(struct audit *a, int fd, uint64_t seq, const uint8_t *mac)
{
	struct audit_entry e;
	bool ok;

	if (audit_read_first(fd, a->key->data, &a->scratch, &e) < 0)
		return false;
	ok = e.seq == seq + 1 && streq(e.rec.event, "rotate") &&
	     crypto_memeq(e.prev, mac, CRYPTO_MAC_LEN);
	audit_entry_done(&e);
	return ok;
}

/* Our path names another file. A peer that rotated left ours as PATH.1 and put a file at PATH
 * whose first record links to our last one (or PATH.1 or PATH.2 does, after more rotations):
 * move to PATH (1: lock again). Anything else is a removal or a replacement: -ESTALE. */
int audit_follow_rotation(struct audit *a, const struct stat *fst)
{
	_cleanup_close_ int nfd = -1;
	struct tail t;
	struct stat st;
	bool ok;
	int r;

	if ((uint64_t)fst->st_size < a->end)
		return -ESTALE;
	r = audit_read_tail(a->fd, (uint64_t)fst->st_size, a->key->data, &a->scratch, &t);
	if (r < 0)
		return r == -EBADMSG ? r : -ESTALE;
	nfd = open(a->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (nfd < 0)
		return -ESTALE;
	if (fstat(nfd, &st) < 0 || !S_ISREG(st.st_mode))
		return -ESTALE;
	ok = links_to(a, nfd, t.seq, t.mac);
	for (size_t k = 1; !ok && k <= 2; k++) {
		_cleanup_free_ char *p = audit_path_n(a->path, k);
		_cleanup_close_ int fd = p ? open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;

		ok = fd >= 0 && links_to(a, fd, t.seq, t.mac);
	}
	if (!ok)
		return -ESTALE;
	/* what we wrote to the old file is synced before it goes (the peer that rotated synced
	 * it only for its own writes' sake) */
	if (audit_dirty(a)) {
		r = audit_fdatasync(a, a->fd);
		if (r < 0)
			return r;
	}
	switch_file(a, TAKE_FD(nfd), &st);
	a->end = a->alloc_end = 0; /* unknown: the tail is read again */
	return 1;
}
