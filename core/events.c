/* events.c: the change bus of events.h: a ring of fixed capacity under one mutex, a condition
 * for ev_wait and an eventfd for poll loops. Events are copied in and out whole; a cursor is a
 * sequence number, so a reader costs the bus nothing and a slow one cannot make it keep more.
 * It must never hold a value (an event has no room for one), never allocate per event, and
 * never call out while its lock is held. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/eventfd.h>

#include "core/events.h"
#include "core/timeutil.h"
#include "core/util.h"

struct ev_bus {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ev_event *ring;
	size_t capacity;
	uint64_t next; /* the seq the next event gets; events next - n .. next - 1 are kept */
	size_t n;
	bool stop;
	int fd; /* eventfd */
};

struct ev_cursor {
	struct ev_bus *bus;
	uint64_t next; /* the seq of the next event to read */
	bool lost;     /* tell EV_LOST before anything else */
};

int ev_bus_new(size_t capacity, struct ev_bus **ret)
{
	pthread_condattr_t ca;
	struct ev_bus *b;

	if (capacity < 2 || !ret)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	/* every slot touched now: the bus's memory is what it will ever be */
	b->ring = calloc(capacity, sizeof(*b->ring));
	if (!b->ring) {
		free(b);
		return -ENOMEM;
	}
	memset(b->ring, 0, capacity * sizeof(*b->ring));
	b->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->fd < 0) {
		int r = negative_errno();

		free(b->ring);
		free(b);
		return r;
	}
	b->capacity = capacity;
	b->next = 1;
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	*ret = b;
	return 0;
}

void ev_bus_free(struct ev_bus *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
	close(b->fd);
	free(b->ring);
	free(b);
}

int ev_bus_fd(const struct ev_bus *b)
{
	return b ? b->fd : -1;
}

void ev_bus_drain_fd(const struct ev_bus *b)
{
	uint64_t n;

	if (b && read(b->fd, &n, sizeof(n)) < 0) { /* EAGAIN: nothing to drain */
	}
}

uint64_t ev_bus_next(struct ev_bus *b)
{
	uint64_t next;

	pthread_mutex_lock(&b->lock);
	next = b->next;
	pthread_mutex_unlock(&b->lock);
	return next;
}

void ev_publish(struct ev_bus *b, const struct ev_event *e, uint64_t *ret_seq)
{
	uint64_t one = 1, seq;
	struct ev_event *slot;

	pthread_mutex_lock(&b->lock);
	seq = b->next++;
	slot = &b->ring[seq % b->capacity];
	*slot = *e;
	slot->seq = seq;
	slot->time_us = clock_ns(CLOCK_REALTIME) / 1000;
	if (b->n < b->capacity)
		b->n++;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	/* a full counter (never, in practice) only means it is readable already */
	if (write(b->fd, &one, sizeof(one)) < 0) {
	}
	if (ret_seq)
		*ret_seq = seq;
}

int ev_wait(struct ev_bus *b, uint64_t seq, int timeout_ms)
{
	struct timespec ts;
	int r = 0;

	if (timeout_ms >= 0) {
		int64_t at = clock_ns(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000000;

		ts = (struct timespec){ .tv_sec = at / 1000000000, .tv_nsec = at % 1000000000 };
	}
	pthread_mutex_lock(&b->lock);
	while (!b->stop && b->next <= seq && r == 0)
		r = timeout_ms >= 0 ? pthread_cond_timedwait(&b->cond, &b->lock, &ts) :
				      pthread_cond_wait(&b->cond, &b->lock);
	r = b->stop ? -ESHUTDOWN : b->next > seq ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&b->lock);
	return r;
}

void ev_bus_stop(struct ev_bus *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

static int cursor_new(struct ev_bus *b, bool lost, struct ev_cursor **ret)
{
	struct ev_cursor *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->bus = b;
	c->next = ev_bus_next(b);
	c->lost = lost;
	*ret = c;
	return 0;
}

int ev_cursor_new(struct ev_bus *b, struct ev_cursor **ret)
{
	return cursor_new(b, false, ret);
}

int ev_cursor_new_lost(struct ev_bus *b, struct ev_cursor **ret)
{
	return cursor_new(b, true, ret);
}

void ev_cursor_free(struct ev_cursor *c)
{
	free(c);
}

int ev_read(struct ev_cursor *c, struct ev_event *ret)
{
	struct ev_bus *b = c->bus;
	uint64_t oldest;
	int r = EV_NONE;

	pthread_mutex_lock(&b->lock);
	oldest = b->next - b->n;
	if (c->next < oldest) { /* overwritten before it was read */
		c->next = oldest;
		c->lost = true;
	}
	if (c->lost) {
		c->lost = false;
		r = EV_LOST;
	} else if (c->next < b->next) {
		*ret = b->ring[c->next % b->capacity];
		c->next++;
		r = EV_ONE;
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

bool ev_ready(struct ev_cursor *c)
{
	bool ready;

	pthread_mutex_lock(&c->bus->lock);
	ready = c->lost || c->next < c->bus->next;
	pthread_mutex_unlock(&c->bus->lock);
	return ready;
}

/* s as a JSON string (the names of kv_name_valid need no escape; anything else is escaped) */
static size_t json_str(char *buf, size_t size, const char *s)
{
	size_t n = 0;

#define PUT(ch)                                                                                    \
	do {                                                                                       \
		if (n + 1 < size)                                                                  \
			buf[n] = (ch);                                                             \
		n++;                                                                               \
	} while (0)
	PUT('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == '"' || *p == '\\' || *p >= 0x7f) {
			char esc[7];

			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			for (size_t i = 0; esc[i]; i++)
				PUT(esc[i]);
		} else {
			PUT((char)*p);
		}
	}
	PUT('"');
#undef PUT
	if (size)
		buf[MIN(n, size - 1)] = '\0';
	return n;
}

size_t ev_format(const struct ev_event *e, char *buf, size_t size)
{
	char when[TIME_FORMAT_MAX], vault[4 * VAULTFS_NAME_MAX], name[4 * VAULTFS_NAME_MAX];
	char event[sizeof(e->event) * 6 + 3], kind[sizeof(e->kind) * 6 + 3], version[16];
	int n;

	json_str(vault, sizeof(vault), e->vault);
	if (e->name[0])
		json_str(name, sizeof(name), e->name);
	else
		snprintf(name, sizeof(name), "null");
	json_str(event, sizeof(event), e->event);
	json_str(kind, sizeof(kind), e->kind);
	if (e->version)
		snprintf(version, sizeof(version), "%" PRIu32, e->version);
	else
		snprintf(version, sizeof(version), "null");
	n = snprintf(buf, size,
		     "{\"seq\":%" PRIu64 ",\"time\":\"%s\",\"vault\":%s,\"name\":%s,\"kind\":%s,"
		     "\"event\":%s,\"version\":%s}\n",
		     e->seq, time_format_us(e->time_us, when), vault, name, kind, event, version);
	if (n < 0)
		return 0;
	return MIN((size_t)n, size - 1);
}
