/* audit.c: the audit journal's handle (audit.h): open, append, flush, free, and the queue and
 * writer thread between them. A producer serializes its record, queues it and sleeps until it
 * is written (and, with sync = always, fdatasync'd: every record taken in one group shares one
 * write and one sync); when nobody is writing it writes the group itself, else the writer
 * thread does, and keeps the batch mode's timed sync. A producer of audit_append_nowait (sync =
 * always) does not sleep: its record waits in the queue for the writer thread, which tells the
 * durability callback, by ticket, how far each group got. After each sync the head is anchored
 * in the store (with sync = always at most once a period). This module must never record a
 * value (its API takes none), never write a line it has not MACed, never let an append return
 * success (or tell a ticket durable) for a record that is not in the file (or on disk), and
 * never log above debug or print. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/audit-int.h"
#include "core/config.h"

/* The group commit's linger (linger_set) is at most this long. */
#define AUDIT_LINGER_MAX_US 2000

static struct timespec ns_to_ts(int64_t ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
}

/* The sticky error. No ticket given can reach the disk from now on: every one is told at
 * once, under the lock, so that no append fails with the error before they are (the callback
 * may run under it: it calls nothing of ours). Called by the writer. */
void audit_set_error(struct audit *a, int r)
{
	pthread_mutex_lock(&a->lock);
	if (!a->error) {
		a->error = r;
		if (a->tickets > a->told) {
			a->told = a->tickets;
			if (a->durable)
				a->durable(a->durable_ud, a->told, r);
		}
	}
	pthread_mutex_unlock(&a->lock);
}

int audit_fdatasync(struct audit *a, int fd)
{
	int r;

	pthread_mutex_lock(&a->sync_lock);
	pthread_mutex_lock(&a->lock);
	r = a->error;
	pthread_mutex_unlock(&a->lock);
	if (r == 0 && fdatasync(fd) < 0) {
		r = negative_errno();
		audit_set_error(a, r);
	}
	pthread_mutex_unlock(&a->sync_lock);
	return r;
}

/* Tell the durability callback that every ticket up to t went as far as r says (t 0: none in
 * the group). Called by the writer, in ticket order. */
static void tell(struct audit *a, uint64_t t, int r)
{
	audit_durable_fn fn;
	void *ud;

	if (!t)
		return;
	pthread_mutex_lock(&a->lock);
	if (t <= a->told) { /* told already: with the sticky error */
		pthread_mutex_unlock(&a->lock);
		return;
	}
	a->told = t;
	fn = a->durable;
	ud = a->durable_ud;
	pthread_mutex_unlock(&a->lock);
	if (fn)
		fn(ud, t, r);
}

/* sync = batch: when the next fdatasync is due (CLOCK_MONOTONIC ns). */
static int64_t batch_due(const struct audit *a)
{
	return a->last_sync_ns + (int64_t)VAULTFS_AUDIT_BATCH_MS * 1000000;
}

/* fdatasync with the writer's part held (a sync behind the writers in flight does not count:
 * what it covers is known only once it completes). */
static int sync_file(struct audit *a)
{
	uint64_t w = a->written;

	if (audit_dirty(a)) {
		int r = audit_fdatasync(a, a->fd);

		if (r < 0)
			return r;
	}
	audit_synced(a, w);
	a->last_sync_ns = clock_ns(CLOCK_MONOTONIC);
	return 0;
}

static void note_result(struct audit *a, int r, int64_t time_us);

/* Let the producers of list go with r; records of audit_append_nowait are freed. */
static void publish(struct audit *a, struct pending *list, int r)
{
	struct pending *own = NULL;

	pthread_mutex_lock(&a->lock);
	while (list) {
		struct pending *next = list->next; /* list may be gone once done is set */

		if (list->own) {
			list->next = own;
			own = list;
		} else {
			list->result = r;
			list->done = true;
		}
		list = next;
	}
	pthread_cond_broadcast(&a->done);
	pthread_mutex_unlock(&a->lock);
	if (own)
		note_result(a, r, own->time_us);
	while (own) {
		struct pending *next = own->next;

		free(own);
		own = next;
	}
}

/* The records of audit_append_nowait in a group just written, to the systemd journal: read back
 * from the group's lines (their fields lived on their producers' stacks). */
static void journal_own(struct audit *a, struct pending *list)
{
	for (; list; list = list->next) {
		struct audit_entry e;

		if (!list->own || list->line_len < 2 ||
		    audit_parse_line(a->out.p + list->line_off, list->line_len - 1, &e) < 0)
			continue;
		audit_journal_send(a, &e.rec, e.seq, e.time_us);
		audit_entry_done(&e);
	}
}

/* The writer's look at the sticky error before a group or a sync: with one, a lease ends. */
static int sticky_error(struct audit *a)
{
	int r;

	pthread_mutex_lock(&a->lock);
	r = a->error;
	pthread_mutex_unlock(&a->lock);
	if (r < 0 && a->leased)
		audit_journal_unlock(a);
	return r;
}

static bool space_error(int r)
{
	return r == -ENOSPC || r == -EDQUOT || r == -EFBIG;
}

/* sync = always: the head is anchored at most once a VAULTFS_AUDIT_BATCH_MS (the anchor is a
 * transaction of the store, with its own sync: one a group would double the cost of every
 * group), at a flush and at the end; the writer thread anchors one left behind once it is due.
 * The other modes anchor at every sync. */
static bool anchor_now(struct audit *a, bool flush)
{
	return a->sync != AUDIT_SYNC_ALWAYS || flush ||
	       clock_ns(CLOCK_MONOTONIC) >=
		       a->last_anchor_ns + (int64_t)VAULTFS_AUDIT_BATCH_MS * 1000000;
}

/* Anchor h: from the writer (its head) or from the sync behind it (the head it took). */
static int anchor_head(struct audit *a, const struct audit_head *h)
{
	int r;

	pthread_mutex_lock(&a->anchor_lock);
	r = audit_anchor_write(a, h);
	if (r >= 0)
		a->last_anchor_ns = clock_ns(CLOCK_MONOTONIC);
	pthread_mutex_unlock(&a->anchor_lock);
	return r;
}

/* The writer's head (its part held). */
static struct audit_head head_of(const struct audit *a)
{
	struct audit_head h = { .seq = a->seq, .dev = a->dev, .ino = a->ino };

	memcpy(h.mac, a->mac, CRYPTO_MAC_LEN);
	return h;
}

/* Anchor the writer's head (its part held). */
static int anchor(struct audit *a)
{
	struct audit_head h = head_of(a);
	int r = anchor_head(a, &h);

	if (r >= 0)
		a->unanchored = 0; /* the count of sync = none starts again */
	return r;
}

/* The group commit's linger (sync = always). Readers whose records a sync just covered come
 * back with their next open within a few requests, and the records queued meanwhile (during
 * the sync) are other readers'; a record taken the moment it comes gets a sync of its own just
 * before the others come, and readers settle into taking turns, one a sync. So the next group
 * waits until as many records are queued as there are readers: the most the last
 * AUDIT_LINGER_GROUPS groups saw (queued during the sync plus the group's own), for at most the
 * sync's own duration (capped). A lone reader never waits (one record is as many as it has);
 * readers in step share each sync; a count that fell is forgotten after those groups. */
static void linger_set(struct audit *a, size_t own, int64_t sync_ns)
{
	int64_t wait = MIN(sync_ns, (int64_t)AUDIT_LINGER_MAX_US * 1000);
	size_t most = 0;

	pthread_mutex_lock(&a->lock);
	a->linger_seen[a->linger_i++ % AUDIT_LINGER_GROUPS] = a->queued + own;
	for (unsigned i = 0; i < AUDIT_LINGER_GROUPS; i++)
		most = MAX(most, a->linger_seen[i]);
	a->linger_target = most;
	a->linger_end_ns = clock_ns(CLOCK_MONOTONIC) + wait;
	pthread_mutex_unlock(&a->lock);
}

/* Should the writer thread let the queue grow before it takes a group? (lock held) */
static bool lingering(struct audit *a, int64_t *ret_end)
{
	if (a->sync != AUDIT_SYNC_ALWAYS || a->stop || a->error ||
	    a->queued >= MIN(a->linger_target, (size_t)VAULTFS_AUDIT_GROUP_MAX))
		return false;
	*ret_end = a->linger_end_ns;
	return clock_ns(CLOCK_MONOTONIC) < a->linger_end_ns;
}

/* One group: lock (unless a lease holds it), write every record, sync when the mode or a flush
 * asks for it, tell the durability callback, let the producers go, anchor, unlock (or keep the
 * lock as a lease). */
static void writer_batch(struct audit *a, struct pending *list)
{
	struct pending *recs = NULL, **rt = &recs, *flushes = NULL, **ft = &flushes;
	uint64_t ticket = 0; /* the group's last of audit_append_nowait */
	size_t own = 0;	     /* and how many it has */
	int64_t now = 0;
	bool sync;
	int r, ra = 0;

	while (list) {
		struct pending *next = list->next;

		list->next = NULL;
		if (list->own)
			ticket = list->ticket, own++;
		if (list->body)
			*rt = list, rt = &list->next;
		else
			*ft = list, ft = &list->next;
		list = next;
	}
	r = sticky_error(a);
	if (r < 0) {
		tell(a, ticket, r);
		publish(a, recs, r);
		publish(a, flushes, r);
		return;
	}
	/* under a lease, what journal_lock saw still holds: no peer appended or rotated */
	r = a->leased ? 0 : audit_journal_lock(a);
	if (r < 0) {
		if (r != -ETIMEDOUT) /* a stuck peer fails this group only */
			audit_set_error(a, r);
		tell(a, ticket, r);
		publish(a, recs, r);
		publish(a, flushes, r);
		return;
	}
	if (recs) {
		r = audit_write_records(a, recs);
		if (r < 0 && !space_error(r))
			audit_set_error(a, r);
		if (r >= 0 && a->journal)
			journal_own(a, recs);
	}
	sync = r >= 0 &&
	       (a->sync == AUDIT_SYNC_ALWAYS || flushes ||
		(a->sync == AUDIT_SYNC_NONE && a->unanchored >= VAULTFS_AUDIT_ANCHOR_EVERY));
	if (sync) {
		int64_t t0 = clock_ns(CLOCK_MONOTONIC);

		r = sync_file(a);
		if (r < 0)
			audit_set_error(a, r);
		else
			linger_set(a, own, clock_ns(CLOCK_MONOTONIC) - t0);
	}
	/* what the group's records reached (with sync = batch or none there are no tickets) */
	tell(a, ticket, r);
	publish(a, recs, r);
	/* batch: the period's sync is the writer thread's, behind the writers (sync_behind),
	 * never a producer's: a producer that writes its own group is the FUSE thread, which
	 * must not stall for the sync (it did 76 % of them, 2.5 ms each) */
	if (r >= 0 && !sync && a->sync == AUDIT_SYNC_BATCH &&
	    pthread_equal(pthread_self(), a->thread))
		now = clock_ns(CLOCK_MONOTONIC);
	if (sync && r >= 0 && anchor_now(a, flushes))
		ra = anchor(a);
	if (audit_lease_keep(a, r, sync, now))
		a->leased = true;
	else
		audit_journal_unlock(a);
	publish(a, flushes, r < 0 ? r : ra);
}

/* The final sync, and an anchor left behind (sync = always): lock (unless a lease holds it),
 * sync, anchor, unlock: a lease ends here. */
static int writer_sync(struct audit *a)
{
	int r;

	r = sticky_error(a);
	if (r < 0)
		return r;
	r = a->leased ? 0 : audit_journal_lock(a);
	if (r >= 0) {
		r = sync_file(a);
		if (r >= 0)
			r = anchor(a);
		else
			audit_set_error(a, r);
		audit_journal_unlock(a);
	} else if (r != -ETIMEDOUT) {
		audit_set_error(a, r);
	}
	return r;
}

/* Take the next group off the queue (lock held, queue not empty). */
static struct pending *take_group(struct audit *a)
{
	struct pending *list = a->head, *last = list;
	size_t n = 1, bytes = list->len;

	while (last->next && n < VAULTFS_AUDIT_GROUP_MAX &&
	       bytes + last->next->len <= AUDIT_GROUP_BYTES)
		last = last->next, n++, bytes += last->len;
	a->head = last->next;
	if (!a->head)
		a->tail = NULL;
	last->next = NULL;
	a->queued -= n;
	pthread_cond_broadcast(&a->space);
	return list;
}

/* Write the next group as the writer (lock held, queue not empty, nobody writing): the lock
 * is let go while it is written. */
static void write_group(struct audit *a)
{
	struct pending *list = take_group(a);

	a->writing = true;
	pthread_mutex_unlock(&a->lock);
	writer_batch(a, list);
	pthread_mutex_lock(&a->lock);
	a->writing = false;
	/* the writer thread waits for the part, or a group queued meanwhile that this writer
	 * leaves: a producer that wrote while the thread synced (submit) is the only one to know */
	if (a->waits || a->head)
		pthread_cond_signal(&a->work);
	/* and while the thread syncs, the producers of a group that queued behind this one
	 * write it themselves (submit): publish woke them while this write still held the part */
	if (a->syncing && a->head)
		pthread_cond_broadcast(&a->done);
}

/* sync = batch, the period's sync, behind the writers (the writer thread's; lock held, nobody
 * writing; returns with lock held). The writer's part is held only to take what the sync is
 * to cover: the head (after the journal's lock is taken when no lease holds it, so that what
 * a peer appended is read) and a copy of the descriptor (a rotation meanwhile closes the
 * file's own); the lease ends there. The fdatasync and the anchor then run without it, so
 * that a record appended meanwhile is written by its own thread rather than wait for the disk
 * behind them: the FUSE thread waited 1-3 ms every period, at every sync and anchor, which
 * cost batch a tenth of its opens at 2 readers and put its p99 at 8 readers at 2x minfs
 * (measured, README's benchmarks). Meanwhile a group that queued behind another producer's is
 * written by its own producer (submit), not left for this thread. What the sync covers is
 * counted (audit_synced), so that a flush or a rotation meanwhile syncs again rather than take
 * the one in flight for done; the syncs of the file take turns (audit_fdatasync: the copy
 * shares the file's report of a writeback error), and a failed one is the sticky error: no
 * later append succeeds, and nothing is anchored after it. With no descriptor to spare for
 * the copy, the period's sync is made with the part held, as before. */
static void sync_behind(struct audit *a)
{
	struct audit_head h = {};
	uint64_t w = 0;
	int fd = -1, r;

	a->writing = true;
	pthread_mutex_unlock(&a->lock);
	r = sticky_error(a);
	if (r >= 0)
		r = a->leased ? 0 : audit_journal_lock(a);
	if (r >= 0) {
		w = a->written;
		h = head_of(a);
		if (audit_dirty(a)) {
			fd = fcntl(a->fd, F_DUPFD_CLOEXEC, 3);
			if (fd < 0) /* no descriptor to spare: this period's sync holds the part */
				r = sync_file(a);
		}
		if (r >= 0)
			a->last_sync_ns = clock_ns(CLOCK_MONOTONIC);
		audit_journal_unlock(a);
	} else if (r != -ETIMEDOUT) { /* a stuck peer fails this sync only */
		audit_set_error(a, r);
	}
	/* while it syncs, a group queued behind another producer's is written by its producer
	 * (submit), not left for this thread: they are told to look */
	pthread_mutex_lock(&a->lock);
	a->writing = false;
	a->syncing = true;
	pthread_cond_broadcast(&a->done);
	pthread_mutex_unlock(&a->lock);
	if (fd >= 0) {
		r = audit_fdatasync(a, fd);
		close(fd);
		if (r >= 0)
			audit_synced(a, w);
	}
	/* anchored only what a sync covered, and not once the journal failed */
	pthread_mutex_lock(&a->lock);
	if (r >= 0)
		r = a->error;
	pthread_mutex_unlock(&a->lock);
	if (r >= 0)
		(void)anchor_head(a, &h);
	pthread_mutex_lock(&a->lock);
	a->syncing = false;
}

/* Is the period's sync due (sync = batch; lock held, nobody writing)? Written since the last
 * one, or a lease to end. */
static bool batch_sync_due(struct audit *a, int64_t now)
{
	return a->sync == AUDIT_SYNC_BATCH && !a->error && (audit_dirty(a) || a->leased) &&
	       now >= batch_due(a);
}

/* The writer thread: groups that queued while an appender was writing (see submit), the batch
 * mode's timed sync (which ends a lease), and a lease holder's look for a knock while no group
 * comes to look. */
static void *writer_main(void *arg)
{
	struct audit *a = arg;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		if (a->writing) {
			a->waits = true;
			pthread_cond_wait(&a->work, &a->lock);
			a->waits = false;
			continue;
		}
		if (batch_sync_due(a, clock_ns(CLOCK_MONOTONIC))) {
			sync_behind(a);
			continue;
		}
		if (a->head) {
			int64_t end;

			if (lingering(a, &end)) {
				struct timespec ts = ns_to_ts(end);

				pthread_cond_timedwait(&a->work, &a->lock, &ts);
				continue;
			}
			write_group(a);
			continue;
		}
		if (a->stop)
			break;
		if (a->sync == AUDIT_SYNC_BATCH && (audit_dirty(a) || a->leased) && !a->error) {
			int64_t now = clock_ns(CLOCK_MONOTONIC), due = batch_due(a);
			bool look = a->leased && !a->knock_ignore;
			struct timespec ts;

			a->timer = false;
			if (now >= due) {
				sync_behind(a);
				continue;
			}
			if (look && now >= a->knock_next_ns) {
				a->writing = true;
				pthread_mutex_unlock(&a->lock);
				if (audit_lease_knocked(a, now))
					audit_journal_unlock(a);
				pthread_mutex_lock(&a->lock);
				a->writing = false;
				continue;
			}
			ts = ns_to_ts(look ? MIN(due, a->knock_next_ns) : due);
			a->timer = true;
			a->timer_looks = look;
			pthread_cond_timedwait(&a->work, &a->lock, &ts);
			a->timer = false;
		} else if (a->sync == AUDIT_SYNC_ALWAYS && a->store && a->seq != a->anchored_seq &&
			   !a->error) {
			/* an anchor left behind (anchor_now): written once due */
			int64_t due = a->last_anchor_ns + (int64_t)VAULTFS_AUDIT_BATCH_MS * 1000000;
			struct timespec ts;

			if (clock_ns(CLOCK_MONOTONIC) >= due) {
				a->writing = true;
				pthread_mutex_unlock(&a->lock);
				(void)writer_sync(a);
				pthread_mutex_lock(&a->lock);
				a->writing = false;
				continue;
			}
			ts = ns_to_ts(due);
			pthread_cond_timedwait(&a->work, &a->lock, &ts);
		} else {
			pthread_cond_wait(&a->work, &a->lock);
		}
	}
	pthread_mutex_unlock(&a->lock);
	if (audit_dirty(a) || a->seq != a->anchored_seq || a->leased)
		(void)writer_sync(a);
	if (a->alloc_end > a->end && !a->error && audit_journal_lock(a) >= 0) {
		(void)audit_cut_prealloc(a); /* a journal nobody writes ends with its last line */
		audit_journal_unlock(a);
	}
	return NULL;
}

static void audit_destroy(struct audit *a)
{
	if (a->fd >= 0 && a->leased) /* a forked child may share the file description */
		(void)flock(a->fd, LOCK_UN);
	if (a->fd >= 0)
		close(a->fd);
	audit_journal_close(a);
	store_free(a->store);
	crypto_mac_free(a->mac_ctx);
	secbuf_free(a->key);
	buf_done(&a->out);
	buf_done(&a->scratch);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->anchor_lock);
	pthread_mutex_destroy(&a->sync_lock);
	pthread_mutex_destroy(&a->journal_lock);
	pthread_cond_destroy(&a->work);
	pthread_cond_destroy(&a->space);
	pthread_cond_destroy(&a->done);
	audit_limit_done(&a->limit);
	free(a->path);
	free(a->dir);
	free(a);
}

int audit_open(const char *path, const struct audit_options *o, const uint8_t key[CRYPTO_KEY_LEN],
	       struct audit **ret)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	struct audit *a;
	char *d;
	int r;

	if (!path || !*path || strlen(path) >= VAULTFS_PATH_MAX || !o || !key || !ret)
		return -EINVAL;
	if (o->sync != AUDIT_SYNC_ALWAYS && o->sync != AUDIT_SYNC_BATCH &&
	    o->sync != AUDIT_SYNC_NONE)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	audit_limit_init(&a->limit, o);
	a->fd = -1;
	a->journal_fd = -1;
	a->sync = o->sync;
	a->lease = o->lease && o->sync == AUDIT_SYNC_BATCH;
	a->prealloc = o->sync == AUDIT_SYNC_ALWAYS;
	a->rotate_size = o->rotate_size;
	a->out.max = (size_t)VAULTFS_AUDIT_GROUP_MAX * VAULTFS_AUDIT_LINE_MAX;
	a->scratch.max = MAC_SCRATCH_MAX;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->anchor_lock, NULL);
	pthread_mutex_init(&a->sync_lock, NULL);
	pthread_mutex_init(&a->journal_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->work, &ca);
	pthread_cond_init(&a->space, &ca);
	pthread_cond_init(&a->done, &ca);
	pthread_condattr_destroy(&ca);
	a->path = strdup(path);
	d = a->path ? strdup(path) : NULL;
	a->dir = d ? strdup(dirname(d)) : NULL;
	free(d);
	if (!a->path || !a->dir) {
		audit_destroy(a);
		return -ENOMEM;
	}
	r = secbuf_dup(key, CRYPTO_KEY_LEN, &a->key);
	if (r >= 0)
		r = crypto_mac_new(key, &a->mac_ctx);
	if (r >= 0 && o->store_path)
		r = store_open(o->store_path, 0, &a->store);
	atomic_store(&a->epoch, o->epoch);
	a->epoch_min = o->epoch_min;
	if (r >= 0)
		r = audit_open_file(a);
	if (r < 0) {
		audit_destroy(a);
		return r;
	}
	a->journal = access(JOURNAL_SOCKET, F_OK) == 0;
	a->last_sync_ns = a->last_anchor_ns = clock_ns(CLOCK_MONOTONIC);
	/* the writer takes no signals: they stay with the program's threads */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&a->thread, NULL, writer_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		audit_destroy(a);
		return r;
	}
	a->thread_started = true;
	*ret = a;
	return 0;
}

/* Queue p and wait until it is written. When nobody is writing, the caller writes the group
 * itself (p and whatever queued before it): an append to an idle journal costs no thread
 * switch. Groups that queue meanwhile go to the writer thread, so no caller writes others'
 * records for longer than one group. */
static int submit(struct audit *a, struct pending *p)
{
	struct timespec ts = {};
	bool lease_begun = false, anchor_left = false;
	int r = 0;

	pthread_mutex_lock(&a->lock);
	if (a->queued >= VAULTFS_AUDIT_QUEUE_MAX) /* the clock is read only when we must wait */
		ts = ns_to_ts(clock_ns(CLOCK_MONOTONIC) +
			      (int64_t)VAULTFS_AUDIT_QUEUE_TIMEOUT_MS * 1000000);
	while (!a->error && !a->stop && a->queued >= VAULTFS_AUDIT_QUEUE_MAX && r == 0)
		r = pthread_cond_timedwait(&a->space, &a->lock, &ts);
	if (a->error || a->stop || r != 0) {
		r = a->error ? a->error : a->stop ? -ESHUTDOWN : -ETIMEDOUT;
		pthread_mutex_unlock(&a->lock);
		return r;
	}
	if (a->tail)
		a->tail->next = p;
	else
		a->head = p;
	a->tail = p;
	a->queued++;
	if (!a->writing) {
		write_group(a);
		/* nobody writes now (the lock is held): the lease fields are safe to read. A
		 * lease just begun must be looked after for knocks by a writer thread that went to
		 * sleep without one */
		lease_begun = a->leased && !a->knock_ignore && a->timer && !a->timer_looks;
		/* and an anchor left behind (anchor_now) by a writer thread that went to sleep
		 * while we wrote */
		anchor_left = a->sync == AUDIT_SYNC_ALWAYS && a->store && a->seq != a->anchored_seq;
	}
	/* the writer thread takes what queued meanwhile, and keeps the batch mode's timer (woken
	 * once a period, not per record) */
	if (a->head || (a->sync == AUDIT_SYNC_BATCH && !a->timer) || lease_begun || anchor_left)
		pthread_cond_signal(&a->work);
	while (!p->done) {
		/* the writer thread syncs behind the writers (batch): the group this record is in
		 * is written by its producers rather than wait for that sync */
		if (a->syncing && !a->writing && a->head) {
			write_group(a);
			continue;
		}
		pthread_cond_wait(&a->done, &a->lock);
	}
	r = p->result;
	pthread_mutex_unlock(&a->lock);
	return r;
}

/* For audit_health: the first failure of a run, and the last error. */
static void note_result(struct audit *a, int r, int64_t time_us)
{
	int_least64_t none = 0;

	if (r >= 0) {
		if (atomic_load_explicit(&a->failing_since_us, memory_order_relaxed))
			atomic_store(&a->failing_since_us, 0);
		return;
	}
	atomic_store(&a->last_error, r);
	atomic_compare_exchange_strong(&a->failing_since_us, &none, time_us);
}

int audit_append_own(struct audit *a, const struct audit_record *rec, int64_t time_us,
		     uint64_t *ret_seq)
{
	struct buf body = { .max = VAULTFS_AUDIT_LINE_MAX - LINE_OVERHEAD };
	struct pending p = {};
	int r;

	r = audit_serialize_body(rec, time_us, &body);
	if (r < 0) {
		buf_done(&body);
		return r;
	}
	p.body = body.p;
	p.len = body.len;
	r = submit(a, &p);
	buf_done(&body);
	note_result(a, r, time_us);
	if (r < 0)
		return r;
	if (a->journal)
		audit_journal_send(a, rec, p.seq, time_us);
	if (a->observer)
		a->observer(a->observer_ud, rec, p.seq);
	if (ret_seq)
		*ret_seq = p.seq;
	return 0;
}

int audit_append(struct audit *a, const struct audit_record *rec, uint64_t *ret_seq)
{
	int64_t time_us = clock_ns(CLOCK_REALTIME) / 1000, due;
	int r;

	if (!a || !rec)
		return -EINVAL;
	r = audit_record_check(rec);
	if (r < 0)
		return r;
	/* refusal counts that are due go first (their failure is theirs: they are kept) */
	due = atomic_load_explicit(&a->limit.due_us, memory_order_relaxed);
	if (due && time_us >= due)
		(void)audit_limit_summaries(a, time_us, false);
	if (rec->decision == AUDIT_DENY && audit_limit_refusal(a, rec, time_us)) {
		if (ret_seq)
			*ret_seq = 0;
		return 0;
	}
	return audit_append_own(a, rec, time_us, ret_seq);
}

/* Queue an own record (audit_append_nowait's) and let the writer thread take it: the caller
 * does not wait for it. Only a full queue is waited for, as submit does. */
static int submit_nowait(struct audit *a, struct pending *p, uint64_t *ret_ticket)
{
	struct timespec ts = {};
	int r = 0;

	pthread_mutex_lock(&a->lock);
	if (a->queued >= VAULTFS_AUDIT_QUEUE_MAX)
		ts = ns_to_ts(clock_ns(CLOCK_MONOTONIC) +
			      (int64_t)VAULTFS_AUDIT_QUEUE_TIMEOUT_MS * 1000000);
	while (!a->error && !a->stop && a->queued >= VAULTFS_AUDIT_QUEUE_MAX && r == 0)
		r = pthread_cond_timedwait(&a->space, &a->lock, &ts);
	if (a->error || a->stop || r != 0) {
		r = a->error ? a->error : a->stop ? -ESHUTDOWN : -ETIMEDOUT;
		pthread_mutex_unlock(&a->lock);
		return r;
	}
	p->ticket = ++a->tickets;
	if (a->tail)
		a->tail->next = p;
	else
		a->head = p;
	a->tail = p;
	a->queued++;
	/* a writer at work takes it after its group (the thread loops; an appender signals) */
	if (!a->writing)
		pthread_cond_signal(&a->work);
	*ret_ticket = p->ticket;
	pthread_mutex_unlock(&a->lock);
	return 0;
}

int audit_append_nowait(struct audit *a, const struct audit_record *rec, uint64_t *ret_ticket)
{
	int64_t time_us = clock_ns(CLOCK_REALTIME) / 1000, due;
	struct buf body = { .max = VAULTFS_AUDIT_LINE_MAX - LINE_OVERHEAD };
	struct pending *p;
	uint64_t t = 0;
	int r;

	if (!a || !rec || !ret_ticket)
		return -EINVAL;
	if (a->sync != AUDIT_SYNC_ALWAYS) {
		*ret_ticket = 0;
		return audit_append(a, rec, NULL);
	}
	r = audit_record_check(rec);
	if (r < 0)
		return r;
	due = atomic_load_explicit(&a->limit.due_us, memory_order_relaxed);
	if (due && time_us >= due)
		(void)audit_limit_summaries(a, time_us, false);
	if (rec->decision == AUDIT_DENY && audit_limit_refusal(a, rec, time_us)) {
		*ret_ticket = 0;
		return 0;
	}
	r = audit_serialize_body(rec, time_us, &body);
	if (r < 0) {
		buf_done(&body);
		return r;
	}
	/* the record and its body in one allocation, freed by the writer (publish) */
	p = malloc(sizeof(*p) + body.len);
	if (!p) {
		buf_done(&body);
		return -ENOMEM;
	}
	*p = (struct pending){
		.body = (char *)(p + 1), .len = body.len, .own = true, .time_us = time_us
	};
	memcpy(p->body, body.p, body.len);
	buf_done(&body);
	r = submit_nowait(a, p, &t);
	if (r < 0) {
		free(p);
		note_result(a, r, time_us);
		return r;
	}
	*ret_ticket = t;
	return 0;
}

void audit_set_durable(struct audit *a, audit_durable_fn fn, void *ud)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	/* a call of the old callback runs only while someone writes: wait for that to end */
	while (!fn && a->writing) {
		pthread_mutex_unlock(&a->lock);
		(void)usleep(1000);
		pthread_mutex_lock(&a->lock);
	}
	a->durable = fn;
	a->durable_ud = ud;
	pthread_mutex_unlock(&a->lock);
}

uint64_t audit_durable(struct audit *a, int *ret_error)
{
	uint64_t t;

	if (!a) {
		if (ret_error)
			*ret_error = -EINVAL;
		return 0;
	}
	pthread_mutex_lock(&a->lock);
	t = a->told;
	if (ret_error)
		*ret_error = a->error;
	pthread_mutex_unlock(&a->lock);
	return t;
}

void audit_set_observer(struct audit *a, audit_observer_fn fn, void *ud)
{
	if (!a)
		return;
	a->observer = fn;
	a->observer_ud = ud;
}

int audit_flush(struct audit *a)
{
	struct pending p = {};
	int r, rs;

	if (!a)
		return -EINVAL;
	rs = audit_limit_summaries(a, clock_ns(CLOCK_REALTIME) / 1000, true);
	r = submit(a, &p);
	return r < 0 ? r : rs;
}

int audit_set_epoch(struct audit *a, uint64_t e)
{
	if (!a)
		return -EINVAL;
	atomic_store(&a->epoch, e);
	return audit_flush(a); /* a flush syncs and anchors: with the new epoch, as it differs */
}

void audit_free(struct audit *a)
{
	if (!a)
		return;
	if (a->thread_started) {
		(void)audit_limit_summaries(a, clock_ns(CLOCK_REALTIME) / 1000, true);
		pthread_mutex_lock(&a->lock);
		a->stop = true;
		pthread_cond_signal(&a->work);
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->thread, NULL);
	}
	audit_destroy(a);
}
