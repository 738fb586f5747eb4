/* events.h: the change bus of vaultfsd: a ring of fixed capacity holding what changed (vault,
 * name, kind of object, event, version), never a value, with readers that each keep a cursor.
 * Memory never grows with readers, slow or not: a reader that falls behind past the ring is
 * told once (EV_LOST) and goes on from the oldest event kept, so it re-reads the state.
 *
 * Threads: every call may be made from any thread; the bus has its own lock, held only to copy
 * an event in or out, and a condition that ev_wait sleeps on. ev_publish also writes the bus's
 * eventfd (ev_bus_fd), for a poll(2) loop to wake on. Filtering by policy is the reader's
 * owner's job (fs/): the bus holds what changed for everybody. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "limits.h"

/* Events kept by the daemon's bus (about 330 bytes each). */
#define EV_CAPACITY 4096u
/* A JSON line of one event, with its newline, fits this. */
#define EV_LINE_MAX 512u
/* The line a reader that fell behind gets, once, with its newline. */
#define EV_LOST_LINE "{\"event\":\"lost\",\"hint\":\"events lost, re-read the state\"}\n"

struct ev_event {
	uint64_t seq;	 /* 1, 2, ...: set by ev_publish */
	int64_t time_us; /* unix microseconds: set by ev_publish */
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1]; /* "" for an event of the vault itself */
	char kind[8];			 /* "secret", "key", "cert", "vault" */
	char event[32];			 /* "set", "delete", "key-rotate", "expired", ... */
	uint32_t version;		 /* 0 none */
};

struct ev_bus;
struct ev_cursor;

/* A bus of capacity events (>= 2). -EINVAL, -ENOMEM, or eventfd(2)'s error. */
int ev_bus_new(size_t capacity, struct ev_bus **ret);
/* Wakes every ev_wait for good (they return -ESHUTDOWN) and frees; cursors must be freed
 * before. Accepts NULL. */
void ev_bus_free(struct ev_bus *b);
/* An eventfd readable after each publish (EFD_NONBLOCK, EFD_CLOEXEC); ev_bus_drain_fd reads
 * it. */
int ev_bus_fd(const struct ev_bus *b);
void ev_bus_drain_fd(const struct ev_bus *b);
/* The seq the next event will get. */
uint64_t ev_bus_next(struct ev_bus *b);

/* Copy e in (its seq and time are set here; *ret_seq may be NULL) and wake the waiters. */
void ev_publish(struct ev_bus *b, const struct ev_event *e, uint64_t *ret_seq);
/* Sleep until an event with seq >= seq is published, at most timeout_ms (-1: no limit).
 * 0 there is one, -ETIMEDOUT, -ESHUTDOWN the bus is stopping (ev_bus_stop). */
int ev_wait(struct ev_bus *b, uint64_t seq, int timeout_ms);
/* Wake every ev_wait with -ESHUTDOWN, now and from now on. */
void ev_bus_stop(struct ev_bus *b);

/* A cursor at the next event to be published (what changes from now on). -ENOMEM. */
int ev_cursor_new(struct ev_bus *b, struct ev_cursor **ret);
/* A cursor that starts lost: its first read is EV_LOST (a reader whose events may have been
 * missed: one revived after a restart of the daemon). */
int ev_cursor_new_lost(struct ev_bus *b, struct ev_cursor **ret);
void ev_cursor_free(struct ev_cursor *c);

enum {
	EV_NONE = 0, /* nothing new */
	EV_ONE = 1,  /* *ret holds the next event */
	EV_LOST = 2, /* events were lost: the cursor is now at the oldest kept */
};
/* The next event for c: EV_ONE, EV_LOST (once per fall), or EV_NONE. */
int ev_read(struct ev_cursor *c, struct ev_event *ret);
/* Would ev_read return something other than EV_NONE? */
bool ev_ready(struct ev_cursor *c);

/* The event's JSON line, with its newline, into buf (EV_LINE_MAX): its length.
 *   {"seq":7,"time":"2026-01-02T03:04:05.123456Z","vault":"app","name":"db","kind":"secret",
 *    "event":"set","version":3}
 * name and version are null when the event has none. */
size_t ev_format(const struct ev_event *e, char *buf, size_t size);
