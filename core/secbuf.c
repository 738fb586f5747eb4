/* secbuf.c: the secure buffer that holds every plaintext and key. Its bytes live in an anonymous
 * private mapping of whole pages that is mlock'd (never swapped), marked MADV_DONTDUMP (never in
 * a core dump) and MADV_WIPEONFORK (a forked child sees zeroes); on free the whole mapping is
 * wiped with explicit_bzero before it is unlocked and unmapped. This module must never hand out
 * memory that is not locked, never copy secret bytes anywhere but into its own mapping, and
 * never log or print. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/secbuf.h"
#include "core/util.h"

/* Largest buffer we hand out: far above any secret (VAULTFS_VALUE_MAX is 64 KiB) and small
 * enough that locking it stays within reason. */
#define SECBUF_CAP_MAX (64u * 1024u * 1024u)

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
		explicit_bzero(b->data, len);
		(void)munlock(b->data, len);
		(void)munmap(b->data, len);
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
