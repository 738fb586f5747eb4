/* audit-limit.c: refusals that would flood the journal are counted instead of written. Each
 * uid has a token bucket (audit_options.deny_burst at once, deny_rate a second); a refusal
 * past it, or any refusal while the journal's file system is below its reserve, is counted,
 * and a "refusals-suppressed" record (audit.h) gives the count once it is a second old, at a
 * flush or at audit_free. Allowed records never pass here: they are written while anything
 * can be. This file must never drop a count silently (a summary that cannot be written puts
 * its count back), nor cost an allowed record a lock or a system call (one load of due_us;
 * while counts wait, one append a second writes them, or looks whether there is room). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/statvfs.h>

#include "core/timeutil.h"
#include "core/audit-int.h"

/* A count is written once its first refusal is this old. */
#define SUMMARY_AFTER_US INT64_C(1000000)
/* The free space is looked at again after this long, or after this many refusals. */
#define LOOK_EVERY_US INT64_C(1000000)
#define LOOK_EVERY_REFUSALS 1024u
#define SUMMARY_RULE_MAX 96u

void audit_limit_init(struct audit_limit *l, const struct audit_options *o)
{
	pthread_mutex_init(&l->lock, NULL);
	l->rate = o->deny_rate == UINT_MAX ? 0 : o->deny_rate ? o->deny_rate : AUDIT_DENY_RATE;
	l->burst = o->deny_burst ? o->deny_burst : AUDIT_DENY_BURST;
	l->reserve = o->reserve;
	l->statvfs = o->statvfs ? o->statvfs : statvfs;
	l->various.various = true;
	atomic_init(&l->due_us, 0);
}

void audit_limit_done(struct audit_limit *l)
{
	pthread_mutex_destroy(&l->lock);
}

static void set_due(struct audit_limit *l, int64_t due)
{
	int64_t cur = atomic_load_explicit(&l->due_us, memory_order_relaxed);

	if (cur == 0 || due < cur)
		atomic_store_explicit(&l->due_us, due, memory_order_relaxed);
}

/* Look at the journal's file system (lock held). Room coming back makes every count due. */
static void look(struct audit *a, int64_t now)
{
	struct audit_limit *l = &a->limit;
	struct statvfs st;
	bool was = l->below;
	uint64_t total;

	l->next_look_us = now + LOOK_EVERY_US;
	l->looks_left = LOOK_EVERY_REFUSALS;
	if (l->statvfs(a->dir, &st) < 0) {
		l->look_error = negative_errno();
		return; /* not known to be low: the writes will tell */
	}
	l->look_error = 0;
	total = (uint64_t)st.f_blocks * st.f_frsize;
	l->free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
	l->reserve_bytes = l->reserve ? l->reserve :
					MIN(total / 100 * AUDIT_RESERVE_PERCENT, AUDIT_RESERVE_MAX);
	l->below = l->free_bytes < l->reserve_bytes;
	if (was && !l->below)
		set_due(l, now);
}

/* The slot of uid (lock held): its own, a free one, or the least recently used one, whose
 * count goes to the slot of various uids. */
static struct limit_slot *slot_of(struct audit_limit *l, int64_t uid, int64_t now)
{
	struct limit_slot *s, *lru = &l->slot[0];

	for (size_t i = 0; i < LIMIT_SLOTS; i++) {
		s = &l->slot[i];
		if (s->used && s->uid == uid)
			return s;
		if (!s->used || (lru->used && s->last_us < lru->last_us))
			lru = s;
	}
	s = lru;
	if (s->used && s->suppressed > 0) {
		if (l->various.suppressed == 0)
			l->various.first_us = s->first_us;
		l->various.suppressed += s->suppressed;
		l->various.by_reserve += s->by_reserve;
		l->various.gid = -1;
	}
	*s = (struct limit_slot){ .uid = uid, .used = true, .last_us = now, .tokens = l->burst };
	return s;
}

static void count(struct audit_limit *l, struct limit_slot *s, uint64_t n, uint64_t by_reserve,
		  int64_t first_us)
{
	if (s->suppressed == 0 || first_us < s->first_us)
		s->first_us = first_us;
	s->suppressed += n;
	s->by_reserve += by_reserve;
	set_due(l, s->first_us + SUMMARY_AFTER_US);
}

int audit_limit_refusal(struct audit *a, const struct audit_record *rec, int64_t now)
{
	struct audit_limit *l = &a->limit;
	struct limit_slot *s;
	int r = 0;

	pthread_mutex_lock(&l->lock);
	if (now >= l->next_look_us || l->looks_left-- == 0)
		look(a, now);
	s = slot_of(l, rec->uid, now);
	if (l->rate > 0 && now > s->last_us)
		s->tokens = MIN(l->burst, s->tokens + (double)(now - s->last_us) * l->rate / 1e6);
	s->last_us = now;
	if (l->below) {
		l->total_reserve++;
		r = 1;
	} else if (l->rate > 0 && s->tokens < 1) {
		l->total_rate++;
		r = 1;
	} else if (l->rate > 0) {
		s->tokens -= 1;
	}
	if (r) {
		s->gid = rec->gid;
		count(l, s, 1, l->below, now);
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* The record of a count. rule holds the text (SUMMARY_RULE_MAX bytes). */
static void summary_record(const struct limit_slot *s, char *rule, struct audit_record *ret)
{
	struct audit_record rec = AUDIT_RECORD_INIT;
	char tbuf[32];

	snprintf(rule, SUMMARY_RULE_MAX, "count=%" PRIu64 " since=%s reason=%s", s->suppressed,
		 time_format_us(s->first_us, tbuf),
		 s->by_reserve == 0		? "rate" :
		 s->by_reserve == s->suppressed ? "reserve" :
						  "rate,reserve");
	rec.event = AUDIT_SUMMARY_EVENT;
	rec.decision = AUDIT_DENY;
	rec.rule = rule;
	rec.uid = s->various ? -1 : s->uid;
	rec.gid = s->various ? -1 : s->gid;
	*ret = rec;
}

/* Take the counts that are due (lock held) into out; returns how many. */
static size_t take_due(struct audit_limit *l, int64_t now, bool all, struct limit_slot *out)
{
	int64_t due = 0;
	size_t n = 0;

	for (size_t i = 0; i <= LIMIT_SLOTS; i++) {
		struct limit_slot *s = i < LIMIT_SLOTS ? &l->slot[i] : &l->various;
		bool old = now >= s->first_us + SUMMARY_AFTER_US;

		if (s->suppressed == 0)
			continue;
		/* a count made below the reserve is due as soon as there is room */
		if (all || (!l->below && (s->by_reserve || old))) {
			out[n++] = *s;
			s->suppressed = s->by_reserve = 0;
		} else if (due == 0 || s->first_us + SUMMARY_AFTER_US < due) {
			due = s->first_us + SUMMARY_AFTER_US;
		}
	}
	/* below the reserve nothing is due before the next look, which may find room */
	if (due && l->below)
		due = l->next_look_us;
	atomic_store_explicit(&l->due_us, due, memory_order_relaxed);
	return n;
}

/* A count that could not be written goes back where it was. */
static void put_back(struct audit_limit *l, const struct limit_slot *c, int64_t now)
{
	struct limit_slot *s;

	pthread_mutex_lock(&l->lock);
	s = c->various ? &l->various : slot_of(l, c->uid, now);
	count(l, s, c->suppressed, c->by_reserve, c->first_us);
	pthread_mutex_unlock(&l->lock);
}

int audit_limit_summaries(struct audit *a, int64_t now, bool all)
{
	struct audit_limit *l = &a->limit;
	struct limit_slot due[LIMIT_SLOTS + 1];
	size_t n;
	int r = 0;

	pthread_mutex_lock(&l->lock);
	if (l->below && now >= l->next_look_us)
		look(a, now);
	n = take_due(l, now, all, due);
	pthread_mutex_unlock(&l->lock);
	for (size_t i = 0; i < n; i++) {
		struct audit_record rec;
		char rule[SUMMARY_RULE_MAX];
		int k = r;

		summary_record(&due[i], rule, &rec);
		if (k >= 0)
			k = audit_append_own(a, &rec, now, NULL);
		if (k < 0) {
			put_back(l, &due[i], now);
			r = k;
		}
	}
	return r;
}

int audit_health(struct audit *a, struct audit_health *ret)
{
	struct audit_limit *l;
	int64_t now = clock_ns(CLOCK_REALTIME) / 1000;
	int r;

	if (!a || !ret)
		return -EINVAL;
	l = &a->limit;
	pthread_mutex_lock(&a->lock);
	ret->error = a->error;
	pthread_mutex_unlock(&a->lock);
	ret->seq = __atomic_load_n(&a->seq, __ATOMIC_RELAXED); /* the writer's: a glimpse */
	ret->last_error = atomic_load(&a->last_error);
	ret->failing_since_us = atomic_load(&a->failing_since_us);
	pthread_mutex_lock(&a->journal_lock);
	ret->journal_dropped = a->journal_dropped;
	ret->journal_stalled = a->journal_stalled;
	pthread_mutex_unlock(&a->journal_lock);
	pthread_mutex_lock(&l->lock);
	look(a, now);
	r = l->look_error;
	ret->free_bytes = l->free_bytes;
	ret->reserve_bytes = l->reserve_bytes;
	ret->below_reserve = l->below;
	ret->suppressed_rate = l->total_rate;
	ret->suppressed_reserve = l->total_reserve;
	ret->suppressed_pending = l->various.suppressed;
	for (size_t i = 0; i < LIMIT_SLOTS; i++)
		ret->suppressed_pending += l->slot[i].suppressed;
	pthread_mutex_unlock(&l->lock);
	return r;
}
