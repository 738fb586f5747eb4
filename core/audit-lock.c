/* audit-lock.c: the journal's lock between processes, the lease that keeps it across groups
 * (sync = batch) and the knock that ends a lease: flock(LOCK_EX) around every group, and on
 * taking it, a check that the file is still the chain's and a read of what a peer appended.
 * It must never let a group be written without the lock, nor wait for a peer without bound. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "core/audit-int.h"
#include "core/io.h"

/* sync = batch: a lease holder looks for a knock at most this often (ms); a writer about to
 * take the lock after its lease lets a knocker go first for at most this long (ms). */
#define KNOCK_CHECK_MS 10
#define KNOCK_DEFER_MS 50
/* A knock that outlived KNOCK_DEFER_MS (its process stopped) is not waited for again for this
 * long: it must not cost every lease the wait. */
#define KNOCK_STALE_MS 10000

/* The lock, the lease and the knock. Every group is written under flock(LOCK_EX), taken by
 * audit_journal_lock, which also checks that the file is still the one at path (following a peer's
 * rotation) and reads the records a peer appended: 4 system calls a group. With sync = batch
 * and audit_options.lease (vaultfsd) the writer keeps the lock past the group, a lease, from
 * its first write after a sync until the next sync (the timed one, at most
 * VAULTFS_AUDIT_BATCH_MS later, a flush's, audit_free's) or an error, and writes the groups in
 * between with no lock call and no stat: no peer can append or rotate without the lock.
 * (sync = always pays an fdatasync a group, beside which the lock calls are noise; sync = none
 * has no timed point at which a lease would end: both keep the lock per group.) A waiting peer
 * polls flock(LOCK_NB) with a backoff, so a lease that is let go for microseconds a period
 * would starve it; it knocks instead: while it polls it holds an OFD read lock on
 * AUDIT_KNOCK_BYTE, and a lease holder looks for one (F_OFD_GETLK) at most every
 * KNOCK_CHECK_MS, after a group or from the idle writer thread, and lets go when it finds one.
 * Before it takes the lock again it lets the knocker go first (knock_defer); a knock that
 * outlives that wait (its process is stopped) is not waited for again for KNOCK_STALE_MS. */

/* F_RDLCK to knock, F_UNLCK to take the knock back. An open-file-description lock: it stays
 * when another fd of the file is closed (threads, other handles), goes when the process dies,
 * and does not interact with flock. */
static int knock(int fd, short type)
{
	struct flock fl = {
		.l_type = type, .l_whence = SEEK_SET, .l_start = AUDIT_KNOCK_BYTE, .l_len = 1
	};

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? negative_errno() : 0;
}

/* Does another open file description knock on fd's file? (An error reads as no.) */
static bool knocked(int fd)
{
	struct flock fl = {
		.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = AUDIT_KNOCK_BYTE, .l_len = 1
	};

	return fcntl(fd, F_OFD_GETLK, &fl) >= 0 && fl.l_type != F_UNLCK;
}

/* Before taking the lock after a lease: let a knocking peer go first. It takes the lock within
 * its poll interval (at most 20 ms) once the lock is free, and lets its knock go then; wait at
 * most KNOCK_DEFER_MS for that. True when the knock is still there (a knocker that does not
 * poll: stopped, or waiting for a third process): it must not stall us any longer. */
static bool knock_defer(int fd)
{
	int64_t end = clock_ns(CLOCK_MONOTONIC) + (int64_t)KNOCK_DEFER_MS * 1000000;
	long wait_us = 100;

	while (knocked(fd)) {
		if (clock_ns(CLOCK_MONOTONIC) >= end)
			return true;
		(void)usleep((useconds_t)wait_us);
		wait_us = MIN(wait_us * 2, 2000L);
	}
	return false;
}

/* flock(LOCK_EX), waiting at most VAULTFS_AUDIT_LOCK_TIMEOUT_MS for a peer that holds it:
 * -ETIMEDOUT then (a stuck peer must not stall every writer for ever). While it waits it
 * knocks, so that a peer holding a lease lets go (best effort: a file system without OFD locks
 * leaves us polling, as before knocks). */
int audit_flock_ex(int fd)
{
	int64_t deadline =
		clock_ns(CLOCK_MONOTONIC) + (int64_t)VAULTFS_AUDIT_LOCK_TIMEOUT_MS * 1000000;
	long wait_us = 100;
	bool knocking = false;
	int r = 0;

	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			r = negative_errno();
			break;
		}
		if (clock_ns(CLOCK_MONOTONIC) >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		if (!knocking)
			knocking = knock(fd, F_RDLCK) >= 0;
		(void)usleep((useconds_t)wait_us);
		wait_us = MIN(wait_us * 2, 20000L);
	}
	if (knocking)
		(void)knock(fd, F_UNLCK);
	return r;
}

/* The file is as long as we left it: did a peer write into the zeros we allocated ahead? (A
 * peer writes where the data ends, so the byte at our end is not zero then.) One pread, only
 * while zeros are allocated. */
static bool peer_wrote(struct audit *a)
{
	char c;

	if (a->alloc_end == a->end)
		return false;
	return pread(a->fd, &c, 1, (off_t)a->end) != 1 || c != 0;
}

/* Take the lock and make sure we write where the chain is: the file at path is still ours
 * (or the one a peer rotated to), and the head is the file's last record. With sync = batch
 * this starts a lease (the caller keeps the lock): a knocking peer goes first. */
int audit_journal_lock(struct audit *a)
{
	struct stat fst, pst;
	struct tail t;
	int r;

	if (a->lease) {
		int64_t now = clock_ns(CLOCK_MONOTONIC);

		a->knock_ignore = now < a->knock_stale_ns || knock_defer(a->fd);
		if (a->knock_ignore && now >= a->knock_stale_ns)
			a->knock_stale_ns = now + (int64_t)KNOCK_STALE_MS * 1000000;
	}
	for (int tries = 0;; tries++) {
		r = audit_flock_ex(a->fd);
		if (r < 0)
			return r;
		/* not the times: see io_stat_notime */
		r = io_stat_notime(a->fd, "", AT_EMPTY_PATH, &fst);
		if (r < 0)
			goto fail;
		if (fst.st_nlink == 0) {
			r = -ESTALE;
			goto fail;
		}
		r = io_stat_notime(AT_FDCWD, a->path, AT_SYMLINK_NOFOLLOW, &pst);
		if (r < 0) {
			if (r == -ENOENT)
				r = -ESTALE;
			goto fail;
		}
		if (pst.st_dev == fst.st_dev && pst.st_ino == fst.st_ino)
			break;
		r = tries < 8 ? audit_follow_rotation(a, &fst) : -ESTALE;
		if (r < 0)
			goto fail;
	}
	if ((uint64_t)fst.st_size == a->alloc_end && !peer_wrote(a))
		return 0;
	if ((uint64_t)fst.st_size < a->end) {
		r = -ESTALE;
		goto fail;
	}
	/* another process appended (or crashed while appending): read its head */
	r = audit_read_tail(a->fd, (uint64_t)fst.st_size, a->key->data, &a->scratch, &t);
	if (r >= 0 && t.end < a->end)
		r = -ESTALE;
	if (r < 0)
		goto fail;
	audit_take_tail(a, &t);
	if (t.torn > 0) {
		r = audit_recover_torn(a, t.torn);
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	(void)flock(a->fd, LOCK_UN);
	return r;
}

/* Let the lock go, and with it the lease. */
void audit_journal_unlock(struct audit *a)
{
	(void)flock(a->fd, LOCK_UN);
	a->leased = false;
	a->knock_ignore = false;
}

/* A lease holder's look for a knock, at most every KNOCK_CHECK_MS: true when a peer knocks. */
bool audit_lease_knocked(struct audit *a, int64_t now)
{
	if (a->knock_ignore || now < a->knock_next_ns)
		return false;
	a->knock_next_ns = now + (int64_t)KNOCK_CHECK_MS * 1000000;
	return knocked(a->fd);
}

/* After a group that holds the lock: may the writer keep it (start or go on with its lease)?
 * Only with sync = batch, not after an error (the next group checks everything again), not
 * after a sync (the lease ends there), and not when a peer knocks. now: CLOCK_MONOTONIC. */
bool audit_lease_keep(struct audit *a, int r, bool synced, int64_t now)
{
	if (!a->lease || r < 0 || synced)
		return false;
	if (!a->leased) { /* journal_lock looked for a knock just before */
		a->knock_next_ns = now + (int64_t)KNOCK_CHECK_MS * 1000000;
		return true;
	}
	return !audit_lease_knocked(a, now);
}
