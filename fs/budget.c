/* budget.c: per-uid and total byte counts (budget.h), in a hash table of the uids that hold
 * something (open addressing, linear probing, deletion by backward shift: no tombstones), so
 * that an open costs a probe or two however many uids hold handles, and a uid that holds
 * nothing takes no room. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs/budget.h"

struct slot {
	uid_t uid;
	bool used;
	bool warned; /* refused since it last held half its share or less */
	size_t bytes;
};

struct budget {
	size_t uid_max, all_max;
	size_t page; /* bytes are counted in whole pages: what is locked */
	size_t all;
	bool all_warned;
	struct slot *s;
	size_t cap, n; /* cap a power of two, n used; kept at most half full */
};

static size_t pages(const struct budget *b, size_t n)
{
	return n > SIZE_MAX - (b->page - 1) ? SIZE_MAX : (n + b->page - 1) & ~(b->page - 1);
}

static size_t home(const struct budget *b, uid_t uid)
{
	uint64_t h = (uint64_t)uid * 0x9e3779b97f4a7c15ULL; /* Fibonacci hashing */

	return (size_t)(h >> 32) & (b->cap - 1);
}

static struct slot *find(const struct budget *b, uid_t uid)
{
	for (size_t i = home(b, uid);; i = (i + 1) & (b->cap - 1)) {
		if (!b->s[i].used)
			return NULL;
		if (b->s[i].uid == uid)
			return &b->s[i];
	}
}

static struct slot *insert(struct budget *b, uid_t uid)
{
	size_t i;

	for (i = home(b, uid); b->s[i].used; i = (i + 1) & (b->cap - 1))
		;
	b->s[i] = (struct slot){ .uid = uid, .used = true };
	b->n++;
	return &b->s[i];
}

static int grow(struct budget *b)
{
	struct slot *old = b->s;
	size_t old_cap = b->cap;

	b->s = calloc(old_cap * 2, sizeof(*b->s));
	if (!b->s) {
		b->s = old;
		return -ENOMEM;
	}
	b->cap = old_cap * 2;
	b->n = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].used)
			*insert(b, old[i].uid) = old[i];
	free(old);
	return 0;
}

/* Empty slot i, moving back the entries after it that probed past it. */
static void erase(struct budget *b, size_t i)
{
	size_t j = i;

	b->s[i].used = false;
	b->n--;
	for (;;) {
		size_t k;

		j = (j + 1) & (b->cap - 1);
		if (!b->s[j].used)
			return;
		k = home(b, b->s[j].uid);
		/* j's entry stays when its home lies cyclically in (i, j] */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		b->s[i] = b->s[j];
		b->s[j].used = false;
		i = j;
	}
}

int budget_new(size_t uid_max, size_t all_max, struct budget **ret)
{
	struct budget *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->cap = 16;
	b->s = calloc(b->cap, sizeof(*b->s));
	if (!b->s) {
		free(b);
		return -ENOMEM;
	}
	b->page = (size_t)sysconf(_SC_PAGESIZE);
	if (b->page == 0 || (b->page & (b->page - 1)))
		b->page = 4096;
	b->uid_max = uid_max;
	b->all_max = all_max;
	*ret = b;
	return 0;
}

void budget_free(struct budget *b)
{
	if (!b)
		return;
	free(b->s);
	free(b);
}

int budget_take(struct budget *b, uid_t uid, size_t n, bool *ret_warn)
{
	struct slot *s = find(b, uid);
	size_t own = s ? s->bytes : 0;

	n = pages(b, n);
	*ret_warn = false;
	if (n > b->uid_max || own > b->uid_max - n) {
		if (s && !s->warned)
			*ret_warn = s->warned = true;
		else if (!s)
			*ret_warn = true; /* n alone is more than a share: no slot to remember it */
		return -EMFILE;
	}
	if (n > b->all_max || b->all > b->all_max - n) {
		if (!b->all_warned)
			*ret_warn = b->all_warned = true;
		return -ENFILE;
	}
	if (!s) {
		if (2 * (b->n + 1) > b->cap && grow(b) < 0)
			return -ENOMEM;
		s = insert(b, uid);
	}
	s->bytes += n;
	b->all += n;
	return 0;
}

void budget_give(struct budget *b, uid_t uid, size_t n)
{
	struct slot *s;

	if (!b)
		return;
	s = find(b, uid);
	if (!s)
		return;
	n = pages(b, n);
	n = n < s->bytes ? n : s->bytes;
	s->bytes -= n;
	b->all -= n < b->all ? n : b->all;
	if (s->bytes <= b->uid_max / 2)
		s->warned = false;
	if (b->all <= b->all_max / 2)
		b->all_warned = false;
	if (s->bytes == 0)
		erase(b, (size_t)(s - b->s));
}

size_t budget_held(const struct budget *b, uid_t uid)
{
	const struct slot *s = find(b, uid);

	return s ? s->bytes : 0;
}
