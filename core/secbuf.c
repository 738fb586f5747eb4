/* secbuf.c: the secure buffer that holds every plaintext and key. Its bytes live in an anonymous
 * private mapping of whole pages that is mlock'd (never swapped), marked MADV_DONTDUMP (never in
 * a core dump) and MADV_WIPEONFORK (a forked child sees zeroes); on free the whole mapping is
 * wiped with explicit_bzero. A wiped mapping of up to SECBUF_POOL_MAP_PAGES pages then goes to a
 * small pool (at most SECBUF_POOL_PAGES pages in all) and the next request for a buffer of the
 * same number of pages takes it back, still locked and advised, instead of mapping, locking,
 * advising, unlocking and unmapping again (six system calls per buffer on the read path);
 * anything else is unlocked and unmapped. The pool is the module's one piece of mutable state:
 * a mutex guards it, a forked child empties it (its copy of the pages is not locked), and a
 * lock that fails for want of locked memory empties it before trying again. This module must
 * never hand out memory that is not locked or not zeroed, never keep a page in the pool that
 * was not wiped, never copy secret bytes anywhere but into its own mapping, and never log or
 * print. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/secbuf.h"
#include "core/util.h"

/* Largest buffer we hand out: above any secret (VAULTFS_VALUE_MAX is 1 MiB) and a backup (8 MiB),
 * and small enough that locking it stays within reason. */
#define SECBUF_CAP_MAX (64u * 1024u * 1024u)

/* The pool: mappings of up to SECBUF_POOL_MAP_PAGES pages (a 64 KiB value and its extra byte
 * fit: the values read most, and the write buffers' first doublings), at most SECBUF_POOL_SLOTS
 * of them and SECBUF_POOL_PAGES pages (512 KiB of 4 KiB pages) held in all. A larger buffer (a
 * value up to VAULTFS_VALUE_MAX, 1 MiB) is mapped and unmapped each time: pooling it would keep
 * a megabyte locked per slot for the rare value that large. */
#define SECBUF_POOL_MAP_PAGES 17u
#define SECBUF_POOL_SLOTS 32u
#define SECBUF_POOL_PAGES 128u

struct pool_slot {
	void *p;
	size_t len;
};

/* Mutable, process-wide: secbuf_new() and secbuf_free() are called from every thread. */
static struct {
	pthread_mutex_t lock;
	size_t n;     /* slots in use: slot[0..n) */
	size_t bytes; /* their lengths together */
	struct pool_slot slot[SECBUF_POOL_SLOTS];
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static size_t page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096u;
}

/* The mapping length for cap bytes: cap rounded up to whole pages. cap is already capped at
 * SECBUF_CAP_MAX, so this cannot overflow; the check stays as a guard. */
static int mapping_len(size_t cap, size_t *ret_len)
{
	size_t ps = page_size();
	size_t len;

	if (cap > SIZE_MAX - (ps - 1))
		return -EINVAL;
	len = (cap + ps - 1) / ps * ps;
	*ret_len = len;
	return 0;
}

static void pool_lock(void)
{
	(void)pthread_mutex_lock(&pool.lock);
}

static void pool_unlock(void)
{
	(void)pthread_mutex_unlock(&pool.lock);
}

/* In a forked child the pooled pages are its own copies: zeroed (MADV_WIPEONFORK) but not
 * locked (locks are not inherited), so they must never be handed out there. The prepare
 * handler took the lock: no other thread was in the middle of a change. */
static void pool_child(void)
{
	for (size_t i = 0; i < pool.n; i++)
		(void)munmap(pool.slot[i].p, pool.slot[i].len);
	pool.n = 0;
	pool.bytes = 0;
	(void)pthread_mutex_init(&pool.lock, NULL);
}

static void pool_setup(void)
{
	(void)pthread_atfork(pool_lock, pool_unlock, pool_child);
}

/* A pooled mapping of exactly len bytes (wiped when it was put back), or NULL. */
static void *pool_take(size_t len)
{
	void *p = NULL;

	if (len > SECBUF_POOL_MAP_PAGES * page_size())
		return NULL;
	(void)pthread_once(&pool_once, pool_setup);
	pool_lock();
	for (size_t i = pool.n; i-- > 0;)
		if (pool.slot[i].len == len) {
			p = pool.slot[i].p;
			pool.slot[i] = pool.slot[--pool.n];
			pool.bytes -= len;
			break;
		}
	pool_unlock();
	return p;
}

/* Keep a wiped mapping for the next secbuf_new(): false when the pool has no room for it. */
static bool pool_put(void *p, size_t len)
{
	bool kept = false;

	if (len > SECBUF_POOL_MAP_PAGES * page_size())
		return false;
	(void)pthread_once(&pool_once, pool_setup);
	pool_lock();
	if (pool.n < SECBUF_POOL_SLOTS && pool.bytes + len <= SECBUF_POOL_PAGES * page_size()) {
		pool.slot[pool.n++] = (struct pool_slot){ p, len };
		pool.bytes += len;
		kept = true;
	}
	pool_unlock();
	return kept;
}

/* Unlock and unmap every pooled mapping: their locked pages count against RLIMIT_MEMLOCK. */
static void pool_drain(void)
{
	struct pool_slot slot[SECBUF_POOL_SLOTS];
	size_t n;

	pool_lock();
	n = pool.n;
	memcpy(slot, pool.slot, n * sizeof(slot[0]));
	pool.n = 0;
	pool.bytes = 0;
	pool_unlock();
	for (size_t i = 0; i < n; i++) {
		(void)munlock(slot[i].p, slot[i].len);
		(void)munmap(slot[i].p, slot[i].len);
	}
}

void secbuf_pool_drain(void)
{
	pool_drain();
}

/* A new mapping of len bytes: locked, excluded from dumps, wiped in a forked child. */
static int map_locked(size_t len, void **ret)
{
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	/* mlock2() rather than mlock(): the sanitizers replace mlock() by a no-op that reports
	 * success, which would leave an ASan build with unlocked secrets and untestable locking. */
	if (mlock2(p, len, 0) < 0 && (errno != ENOSYS || mlock(p, len) < 0)) {
		munmap(p, len);
		return -ENOMEM;
	}
	/* Both advices are best effort: the kernel may predate them (DONTDUMP 3.4, WIPEONFORK
	 * 4.14), and the memory is still locked and wiped on free without them. */
	(void)madvise(p, len, MADV_DONTDUMP);
	(void)madvise(p, len, MADV_WIPEONFORK);
	*ret = p;
	return 0;
}

int secbuf_new(size_t cap, struct secbuf **ret)
{
	_cleanup_free_ struct secbuf *b = NULL;
	size_t len;
	void *p;
	int r;

	if (!ret)
		return -EINVAL;
	if (cap == 0 || cap > SECBUF_CAP_MAX)
		return -EINVAL;
	r = mapping_len(cap, &len);
	if (r < 0)
		return r;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;

	p = pool_take(len);
	if (!p) {
		r = map_locked(len, &p);
		if (r < 0) {
			/* the pool's pages may be what keeps us under RLIMIT_MEMLOCK */
			pool_drain();
			r = map_locked(len, &p);
		}
		if (r < 0)
			return r;
	}

	b->data = p;
	b->len = 0;
	b->cap = cap;
	*ret = TAKE_PTR(b);
	return 0;
}

void secbuf_free(struct secbuf *b)
{
	size_t len;

	if (!b)
		return;
	if (b->data && mapping_len(b->cap, &len) >= 0) {
		/* the whole mapping, not just len bytes: pooled pages go back out zeroed */
		explicit_bzero(b->data, len);
		if (!pool_put(b->data, len)) {
			(void)munlock(b->data, len);
			(void)munmap(b->data, len);
		}
	}
	b->data = NULL;
	b->len = b->cap = 0;
	free(b);
}

int secbuf_set(struct secbuf *b, const void *p, size_t n)
{
	if (!b || (!p && n > 0))
		return -EINVAL;
	if (n > b->cap)
		return -EMSGSIZE;
	if (n > 0)
		memmove(b->data, p, n);
	/* Wipe whatever the old contents left past the new end. */
	if (b->len > n)
		explicit_bzero(b->data + n, b->len - n);
	b->len = n;
	return 0;
}

int secbuf_dup(const void *p, size_t n, struct secbuf **ret)
{
	struct secbuf *b = NULL;
	int r;

	if (!ret || (!p && n > 0))
		return -EINVAL;
	r = secbuf_new(n, &b);
	if (r < 0)
		return r;
	r = secbuf_set(b, p, n);
	if (r < 0) {
		secbuf_free(b);
		return r;
	}
	*ret = b;
	return 0;
}

void secure_wipe(void *p, size_t n)
{
	if (p && n > 0)
		explicit_bzero(p, n);
}
