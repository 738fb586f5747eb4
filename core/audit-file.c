/* audit-file.c: the journal file as its writer sees it: open it and find its head (held
 * against the anchor), read a tail a peer moved, write a group of records as one write, cut a
 * torn last line and say so. It must never leave part of a line in the file, nor move the
 * head past a record that is not in it. Called by the one who writes (audit.c), lock held. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "core/audit-int.h"
#include "core/io.h"

#define TAIL_WINDOW 8192u

static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t k = pread(fd, p, n, (off_t)off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			return -ESTALE; /* the file got shorter while we read it */
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* Parse a line and check its MAC: 0, -EBADMSG. */
static int check_line(const char *line, size_t len, const uint8_t *key, struct buf *scratch,
		      struct audit_entry *ret)
{
	struct audit_entry e;
	int r;

	r = audit_parse_line(line, len, &e);
	if (r < 0)
		return r;
	r = audit_mac_ok(&e, line, len, key, scratch);
	if (r <= 0) {
		audit_entry_done(&e);
		return r < 0 ? r : -EBADMSG;
	}
	*ret = e;
	return 0;
}

/* The zeros a journal may end with (the tail allocated ahead, audit_write_records) and the
 * part of them after a crash may have left holes in: see data_end. */
#define ZEROS_MAX (64u << 20)
#define HOLE_SCAN (2u * AUDIT_GROUP_BYTES + VAULTFS_AUDIT_LINE_MAX)
#define SCAN_WINDOW (64u * 1024u)

/* Where the data of the first size bytes of fd ends, and where its last non-zero byte is. A
 * writer with sync = always allocates the file ahead of its end (zeros: a sync then writes the
 * data and flushes, without the file system's commit of a new size), so the file may end in
 * zeros; a record never holds a zero byte. After a crash, the part written since the last
 * completed sync (one group, at most AUDIT_GROUP_BYTES and a line) may have reached the disk
 * with holes, so the data ends at the first zero byte of the HOLE_SCAN bytes before the last
 * non-zero one: every byte before it is either on disk by a sync or cut as torn. -EBADMSG when
 * more than ZEROS_MAX zeros end the file (not a journal of ours). */
static int data_end(int fd, uint64_t size, uint64_t *ret_data, uint64_t *ret_last)
{
	_cleanup_free_ char *buf = malloc(MAX(SCAN_WINDOW, HOLE_SCAN));
	uint64_t last = size, lo;
	char *z;
	int r;

	if (!buf)
		return -ENOMEM;
	while (last > 0 && size - last <= ZEROS_MAX) {
		size_t w = last < SCAN_WINDOW ? (size_t)last : SCAN_WINDOW, i = w;

		r = pread_all(fd, buf, w, last - w);
		if (r < 0)
			return r;
		while (i > 0 && buf[i - 1] == 0)
			i--;
		last -= w - i;
		if (i > 0)
			break;
	}
	if (size - last > ZEROS_MAX)
		return -EBADMSG;
	*ret_last = *ret_data = last;
	if (last == size) /* no zeros at the end: appended only, no holes */
		return 0;
	lo = last > HOLE_SCAN ? last - HOLE_SCAN : 0;
	r = pread_all(fd, buf, (size_t)(last - lo), lo);
	if (r < 0)
		return r;
	z = memchr(buf, 0, (size_t)(last - lo));
	if (z)
		*ret_data = lo + (uint64_t)(z - buf);
	return 0;
}

/* Find the last complete line of the first size bytes of fd and check it. Bytes after it (up
 * to the zeros the file may end with, see data_end) are a torn line. -EBADMSG when that line
 * does not verify or lines are over the cap. */
int audit_read_tail(int fd, uint64_t size, const uint8_t *key, struct buf *scratch,
		    struct tail *ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t window = TAIL_WINDOW;
	uint64_t data, last;
	int r;

	r = data_end(fd, size, &data, &last);
	if (r < 0)
		return r;
	if (data == 0) {
		*ret = (struct tail){ .torn = last, .size = size };
		return 0;
	}
	for (;;) {
		size_t w = data < window ? (size_t)data : window, nl, start;
		uint64_t off = data - w;
		struct audit_entry e;
		char *p;

		free(buf);
		buf = malloc(w);
		if (!buf)
			return -ENOMEM;
		r = pread_all(fd, buf, w, off);
		if (r < 0)
			return r;
		p = memrchr(buf, '\n', w);
		if (!p && off == 0) { /* not one complete line: all of it is torn */
			*ret = (struct tail){ .torn = last, .size = size };
			return 0;
		}
		if (p) {
			nl = (size_t)(p - buf);
			p = nl > 0 ? memrchr(buf, '\n', nl) : NULL;
			if (p || off == 0) {
				start = p ? (size_t)(p - buf) + 1 : 0;
				r = check_line(buf + start, nl - start, key, scratch, &e);
				if (r < 0)
					return r;
				*ret = (struct tail){ .seq = e.seq,
						      .end = off + nl + 1,
						      .torn = last - (off + nl + 1),
						      .size = size };
				memcpy(ret->mac, e.mac, CRYPTO_MAC_LEN);
				audit_entry_done(&e);
				return 0;
			}
		}
		if (window > 2 * (size_t)VAULTFS_AUDIT_LINE_MAX + 2)
			return -EBADMSG;
		window *= 4;
	}
}

/* The first record of fd, checked. -ENODATA when there is no complete line. */
int audit_read_first(int fd, const uint8_t *key, struct buf *scratch, struct audit_entry *ret)
{
	_cleanup_free_ char *buf = malloc(VAULTFS_AUDIT_LINE_MAX + 1);
	struct stat st;
	size_t n;
	char *nl;
	int r;

	if (!buf)
		return -ENOMEM;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	n = (uint64_t)st.st_size < VAULTFS_AUDIT_LINE_MAX + 1 ? (size_t)st.st_size :
								VAULTFS_AUDIT_LINE_MAX + 1;
	r = pread_all(fd, buf, n, 0);
	if (r < 0)
		return r;
	nl = memchr(buf, '\n', n);
	if (!nl)
		return n > VAULTFS_AUDIT_LINE_MAX ? -EBADMSG : -ENODATA;
	return check_line(buf, (size_t)(nl - buf), key, scratch, ret);
}

int audit_fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return negative_errno();
	return 0;
}

char *audit_path_n(const char *path, size_t n)
{
	char *s;

	if (asprintf(&s, "%s.%zu", path, n) < 0)
		return NULL;
	return s;
}

void audit_record_self(struct audit_record *rec)
{
	rec->uid = (int64_t)getuid();
	rec->gid = (int64_t)getgid();
	rec->pid = (int64_t)getpid();
}

/* The body of a record the writer makes itself (rotate, journal-recovered), into b. */
int audit_own_body(struct buf *b, const char *event, const char *rule, const char *path)
{
	struct audit_record rec = AUDIT_RECORD_INIT;

	rec.event = event;
	rec.rule = rule;
	rec.path = path;
	audit_record_self(&rec);
	buf_clear(b);
	return audit_serialize_body(&rec, clock_ns(CLOCK_REALTIME) / 1000, b);
}

/* The head is the last good record of the file (t, from audit_read_tail). */
void audit_take_tail(struct audit *a, const struct tail *t)
{
	if (t->seq != a->seq)
		a->written++; /* a peer's records: not known to be on disk before a sync of ours */
	a->seq = t->seq;
	memcpy(a->mac, t->mac, CRYPTO_MAC_LEN);
	a->end = t->end;
	a->alloc_end = t->size;
}

/* sync = always: make the file at least need bytes long, writing zeros a step past that:
 * the writes that fill them change neither the file's size nor its extents (fallocate's
 * unwritten extents would, a block at a time), so a sync writes the data and flushes, without
 * writing the inode (ext4 here: 182-230 us a sync against 290-296 appending and 229-251 into
 * fallocate'd space, loaded). The zeros reach the disk with the group's own sync. A file system
 * that refuses (full, or past a size limit) is written as far as it went. */
static void prealloc(struct audit *a, uint64_t need)
{
	static const char zeros[64 * 1024];
	uint64_t to = (need / AUDIT_PREALLOC_STEP + 2) * AUDIT_PREALLOC_STEP;

	if (!a->prealloc || need <= a->alloc_end)
		return;
	if (a->rotate_size > 0) /* no file grows past it but by its first group */
		to = MIN(to, MAX(need, a->rotate_size));
	while (a->alloc_end < to) {
		size_t n = (size_t)MIN(to - a->alloc_end, (uint64_t)sizeof(zeros));
		ssize_t k = pwrite(a->fd, zeros, n, (off_t)a->alloc_end);

		if (k <= 0)
			break;
		a->alloc_end += (uint64_t)k;
	}
}

/* Cut the zeros allocated ahead (the lock is held, the head is the file's): before the file
 * is rotated away and when the writer ends, so that a journal nobody writes ends with its last
 * line. */
int audit_cut_prealloc(struct audit *a)
{
	if (a->alloc_end <= a->end)
		return 0;
	if (ftruncate(a->fd, (off_t)a->end) < 0)
		return negative_errno();
	a->alloc_end = a->end;
	return 0;
}

/* Write the records of list (in order) as one write, rotating first when the file would
 * grow past rotate_size. On failure nothing stays in the file and the head is unchanged. */
int audit_write_records(struct audit *a, struct pending *list)
{
	uint8_t prev[CRYPTO_MAC_LEN];
	uint64_t seq = a->seq, est = 0;
	int r;

	for (struct pending *p = list; p; p = p->next)
		est += p->len + LINE_OVERHEAD;
	if (a->rotate_size > 0 && a->end > 0 && a->end + est > a->rotate_size) {
		r = audit_rotate(a);
		if (r < 0)
			return r;
		seq = a->seq;
	}
	memcpy(prev, a->mac, CRYPTO_MAC_LEN);
	buf_clear(&a->out);
	for (struct pending *p = list; p; p = p->next) {
		p->line_off = a->out.len;
		r = audit_append_line(&a->out, a->mac_ctx, ++seq, p->body, p->len, prev,
				      &a->scratch, prev);
		if (r < 0)
			return r;
		p->line_len = a->out.len - p->line_off;
		p->seq = seq;
	}
	prealloc(a, a->end + a->out.len);
	r = io_pwrite_all(a->fd, a->out.p, a->out.len, a->end);
	if (r < 0) {
		/* a short write leaves part of a line: cut it off, or nothing is trustworthy */
		if (ftruncate(a->fd, (off_t)a->end) < 0) {
			int k = negative_errno();

			audit_set_error(a, k);
			return k;
		}
		a->alloc_end = a->end;
		return r;
	}
	a->unanchored += seq - a->seq;
	a->seq = seq;
	memcpy(a->mac, prev, CRYPTO_MAC_LEN);
	a->end += a->out.len;
	a->alloc_end = MAX(a->alloc_end, a->end);
	a->written++;
	return 0;
}

/* Cut a torn last line and record that we did. The lock is held. */
int audit_recover_torn(struct audit *a, uint64_t torn)
{
	struct buf body = { .max = VAULTFS_AUDIT_LINE_MAX };
	struct pending p = {};
	char rule[64];
	int r;

	if (ftruncate(a->fd, (off_t)a->end) < 0)
		return negative_errno();
	a->alloc_end = a->end;
	snprintf(rule, sizeof(rule), "torn tail: %" PRIu64 " bytes cut", torn);
	r = audit_own_body(&body, "journal-recovered", rule, a->path);
	if (r >= 0) {
		p.body = body.p;
		p.len = body.len;
		r = audit_write_records(a, &p);
	}
	if (r >= 0)
		r = audit_fdatasync(a, a->fd);
	if (r >= 0)
		audit_synced(a, a->written);
	buf_done(&body);
	return r;
}

/* Open the file, lock it, find the head, hold it against the anchor, cut a torn tail. */
int audit_open_file(struct audit *a)
{
	_cleanup_free_ char *first = NULL;
	struct audit_anchor an;
	struct stat st, st1;
	struct tail t;
	int r;

	a->fd = open(a->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK,
		     0600);
	if (a->fd < 0)
		return negative_errno();
	if (fstat(a->fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	r = audit_flock_ex(a->fd);
	if (r < 0)
		return r;
	if (fstat(a->fd, &st) < 0) {
		r = negative_errno();
		goto out;
	}
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	/* a rotation cut short between link(PATH, PATH.1) and the rename of the new file */
	first = audit_path_n(a->path, 1);
	if (!first) {
		r = -ENOMEM;
		goto out;
	}
	if (fstatat(AT_FDCWD, first, &st1, AT_SYMLINK_NOFOLLOW) >= 0 && st1.st_dev == st.st_dev &&
	    st1.st_ino == st.st_ino && unlink(first) < 0) {
		r = negative_errno();
		goto out;
	}
	r = audit_read_tail(a->fd, (uint64_t)st.st_size, a->key->data, &a->scratch, &t);
	if (r < 0)
		goto out;
	audit_take_tail(a, &t);
	if (a->store) {
		r = audit_anchor_load(a->store, a->key->data, &an);
		if (r == -ENOENT) {
			r = 0;
		} else if (r >= 0) {
			if (an.seq > t.seq ||
			    (an.seq == t.seq && !crypto_memeq(an.mac, t.mac, CRYPTO_MAC_LEN)))
				r = -EBADMSG; /* truncated, rolled back or replaced */
			else if (an.epoch < a->epoch_min)
				r = -ESTALE; /* an anchor from before the store's epoch: written back */
			else if (an.seq == t.seq)
				a->anchored_seq = t.seq, a->anchored_epoch = an.epoch;
		}
		if (r < 0)
			goto out;
	}
	if (t.torn > 0)
		r = audit_recover_torn(a, t.torn);
	else if (st.st_size == 0)
		r = audit_fsync_dir(a->dir);
out:
	(void)flock(a->fd, LOCK_UN);
	return r;
}
