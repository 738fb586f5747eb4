/* notify.h: the kernel's caches of /vault told what changed, from a thread of its own. A change
 * made by the daemon (a write committed through the mount, a delete, a change on the control
 * socket) may leave the kernel holding a name (dentry) or the pages of a MAP_PRIVATE mapping of
 * the old version; these calls queue the invalidation and return at once. Entries and
 * attributes are replied with timeout 0, so the kernel asks again anyway: invalidation is belt
 * and braces, and one that cannot be queued (the queue is full) is dropped and counted.
 *
 * Why a thread: fuse_lowlevel_notify_inval_entry() takes the directory's lock in the kernel; a
 * lookup in that directory waiting for the one request thread holds it, so the request thread
 * must never make the call itself.
 *
 * Every function accepts n == NULL and then does nothing. notify_entry/notify_inode may be
 * called from any thread; start and stop from the daemon's main thread only. */
#pragma once

#include <stdint.h>

struct fuse_session;
struct notify;

/* Invalidations waiting at once; past this they are dropped (and counted). */
#define NOTIFY_QUEUE_MAX 256u

/* Start the thread for se (a mounted session). -errno of pthread_create, -ENOMEM. */
int notify_start(struct fuse_session *se, struct notify **ret);

/* Stop and free. Call after the serve loop has ended and before fuse_session_unmount(), while
 * the session's fd is open. The thread may be inside the kernel behind a request the serve loop
 * did not answer (a lookup holding the directory lock): stop answers requests of se until the
 * thread is done, then joins it. Logs how many invalidations were dropped, if any. */
void notify_stop(struct notify *n);

/* Forget the name `name` in directory parent (and the directory's attributes). */
void notify_entry(struct notify *n, uint64_t parent, const char *name);
/* Forget ino's attributes and cached pages. */
void notify_inode(struct notify *n, uint64_t ino);

/* Invalidations dropped so far because the queue was full. */
uint64_t notify_dropped(struct notify *n);
