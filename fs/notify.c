/* notify.c: the invalidation thread of notify.h. Callers put (kind, inode, name) items on a
 * bounded ring under a mutex that is held only to move an item, never across a kernel call, so
 * queueing never waits for the kernel; a full ring drops the item and counts it. The thread
 * takes one item at a time and makes the libfuse notify call for it. It never touches a secret
 * (names and inode numbers only) and never makes a call once told to stop, so it never writes
 * to a session fd that the unmount has closed. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "fs/notify.h"
#include "fs/vaultfs.h"

/* The thread makes no deep calls: a small stack (mlockall locks what it touches). */
#define NOTIFY_STACK_SIZE (256u * 1024u)
/* notify_stop: how long one wait for a request (or the thread's end) lasts. */
#define NOTIFY_STOP_POLL_MS 50

enum item_kind {
	ITEM_ENTRY,
	ITEM_INODE,
};

struct item {
	int kind;     /* enum item_kind */
	uint64_t ino; /* the parent directory for an entry */
	char name[VAULTFS_NAME_MAX + 1];
};

struct notify {
	struct fuse_session *se;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct item ring[NOTIFY_QUEUE_MAX];
	size_t head, n; /* the oldest item, and how many */
	bool stop;	/* set by notify_stop: no more calls, no more items */
	bool done;	/* set by the thread as it ends */
	uint64_t dropped;
};

static void run_item(struct notify *n, const struct item *it)
{
	int r;

	if (it->kind == ITEM_ENTRY)
		r = fuse_lowlevel_notify_inval_entry(n->se, it->ino, it->name, strlen(it->name));
	else
		r = fuse_lowlevel_notify_inval_inode(n->se, it->ino, 0, 0);
	/* -ENOENT: the kernel held nothing of it, which is the usual case */
	if (r < 0 && r != -ENOENT)
		log_debug_errno(r, "Cache invalidation of inode %" PRIu64 " failed: %m", it->ino);
}

static void *notify_main(void *userdata)
{
	struct notify *n = userdata;
	struct item it;

	pthread_mutex_lock(&n->lock);
	for (;;) {
		while (!n->stop && n->n == 0)
			pthread_cond_wait(&n->wake, &n->lock);
		if (n->stop)
			break;
		it = n->ring[n->head];
		n->head = (n->head + 1) % NOTIFY_QUEUE_MAX;
		n->n--;
		pthread_mutex_unlock(&n->lock);
		run_item(n, &it);
		pthread_mutex_lock(&n->lock);
	}
	n->done = true;
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int notify_start(struct fuse_session *se, struct notify **ret)
{
	struct notify *n;
	pthread_attr_t attr;
	sigset_t all, old;
	int r;

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->se = se;
	r = -pthread_mutex_init(&n->lock, NULL);
	if (r < 0) {
		free(n);
		return r;
	}
	r = -pthread_cond_init(&n->wake, NULL);
	if (r < 0) {
		pthread_mutex_destroy(&n->lock);
		free(n);
		return r;
	}
	r = -pthread_attr_init(&attr);
	if (r >= 0) {
		(void)pthread_attr_setstacksize(&attr, NOTIFY_STACK_SIZE);
		/* signals are for the main thread's ppoll only */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		r = -pthread_create(&n->thread, &attr, notify_main, n);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
	}
	if (r < 0) {
		pthread_cond_destroy(&n->wake);
		pthread_mutex_destroy(&n->lock);
		free(n);
		return r;
	}
	*ret = n;
	return 0;
}

static bool thread_done(struct notify *n)
{
	bool done;

	pthread_mutex_lock(&n->lock);
	done = n->done;
	pthread_mutex_unlock(&n->lock);
	return done;
}

void notify_stop(struct notify *n)
{
	struct fuse_buf buf = { 0 };
	int fd;

	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	n->n = 0; /* what is still queued no longer matters: the mount is going away */
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);

	/* Usually the thread is waiting on the condition and ends at once. If it is inside the
	 * kernel, waiting for a directory lock that a lookup holds while that lookup waits for
	 * us, answer requests until it gets out: a request withdrawn between poll and read must
	 * not block us, hence O_NONBLOCK. */
	fd = fuse_session_fd(n->se);
	if (fd >= 0)
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (!thread_done(n)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r;

		if (fd < 0) {
			struct timespec ts = { .tv_nsec = NOTIFY_STOP_POLL_MS * 1000000L };

			nanosleep(&ts, NULL);
			continue;
		}
		if (poll(&pfd, 1, NOTIFY_STOP_POLL_MS) <= 0)
			continue;
		if (!(pfd.revents & POLLIN)) { /* POLLERR: unmounted or aborted */
			fd = -1;
			continue;
		}
		r = fuse_session_receive_buf(n->se, &buf);
		if (r > 0)
			fuse_session_process_buf(n->se, &buf);
		else if (r == 0 || (r != -EINTR && r != -EAGAIN))
			fd = -1; /* the connection is gone, and what the thread waited for */
	}
	pthread_join(n->thread, NULL);
	free(buf.mem);
	if (n->dropped > 0)
		log_info("%" PRIu64 " cache invalidations were dropped (queue full); the kernel "
			 "asked again on its own (timeouts are 0)",
			 n->dropped);
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

static void enqueue(struct notify *n, int kind, uint64_t ino, const char *name)
{
	struct item *it;

	pthread_mutex_lock(&n->lock);
	if (n->stop) {
		pthread_mutex_unlock(&n->lock);
		return;
	}
	if (n->n == NOTIFY_QUEUE_MAX) {
		n->dropped++;
		pthread_mutex_unlock(&n->lock);
		return;
	}
	it = &n->ring[(n->head + n->n) % NOTIFY_QUEUE_MAX];
	it->kind = kind;
	it->ino = ino;
	snprintf(it->name, sizeof(it->name), "%s", name ? name : "");
	n->n++;
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
}

void notify_entry(struct notify *n, uint64_t parent, const char *name)
{
	if (!n || !name)
		return;
	if (strlen(name) > VAULTFS_NAME_MAX) /* no such name in /vault: nothing to forget */
		return;
	enqueue(n, ITEM_ENTRY, parent, name);
}

void notify_inode(struct notify *n, uint64_t ino)
{
	if (!n)
		return;
	enqueue(n, ITEM_INODE, ino, NULL);
}

uint64_t notify_dropped(struct notify *n)
{
	uint64_t d;

	if (!n)
		return 0;
	pthread_mutex_lock(&n->lock);
	d = n->dropped;
	pthread_mutex_unlock(&n->lock);
	return d;
}
