/* audit-int.h: what the parts of the audit journal share (core/audit*.c), nothing else includes
 * it: the line buffer, the writer's handle, and the functions one part calls in another. The
 * parts: audit-json.c (a record <-> its line), audit-file.c (the file's head and tail, writing
 * a group), audit-rotate.c, audit-lock.c (the lock, the lease, the knock), audit-limit.c (the
 * refusal limiter, the disk reserve, health), audit-verify.c (anchor, verify), audit-reader.c,
 * audit-journald.c, audit.c (the handle, the queue, the writer thread). */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>

#include "core/audit.h"
#include "core/buf.h"
#include "core/secbuf.h"
#include "core/util.h"

#define HEX_MAC_LEN (2u * CRYPTO_MAC_LEN)
/* ,"mac":"<64 hex>"} */
#define MAC_MEMBER_LEN (8u + HEX_MAC_LEN + 2u)
/* Bytes a line adds to its body: {"seq":<20>, ,"prev":"<64>" and the mac member, newline. */
#define LINE_OVERHEAD (8u + 20u + 1u + 9u + HEX_MAC_LEN + 1u + MAC_MEMBER_LEN + 1u)
/* The cap of the scratch buffer a line's MAC input is built in: prev || line || '}'. */
#define MAC_SCRATCH_MAX (VAULTFS_AUDIT_LINE_MAX + CRYPTO_MAC_LEN + 1u)
#define ANCHOR_TEXT_MAX 256u
/* The group commit's linger remembers how many readers the last this many groups had. */
#define AUDIT_LINGER_GROUPS 16u
/* A group takes records up to this many bytes (and at least one): with sync = always, what a
 * crash may leave with holes in the zeros the file is allocated with (audit-file.c). */
#define AUDIT_GROUP_BYTES (1024u * 1024u)
/* sync = always: the file is allocated this far ahead of its end, in steps of this. */
#define AUDIT_PREALLOC_STEP (1024u * 1024u)
/* Slots of the refusal limiter's table: uids counted at once (audit-limit.c). */
#define LIMIT_SLOTS 64u

/* --- the writer's handle --- */

/* One queued record (on its producer's stack), or a flush request (body NULL); or a record of
 * audit_append_nowait (own: on the heap with its body, freed by whoever writes it). */
struct pending {
	struct pending *next;
	char *body;
	size_t len;
	uint64_t seq;
	int result;
	bool done;
	bool own;
	uint64_t ticket;	   /* own: its ticket */
	int64_t time_us;	   /* own: for the health's failing_since */
	size_t line_off, line_len; /* where its line is in the group's buffer (a->out) */
};

/* The last good record of a file and what follows it. */
struct tail {
	uint64_t seq; /* last good record, 0 when none */
	uint8_t mac[CRYPTO_MAC_LEN];
	uint64_t end;  /* bytes up to and with its newline */
	uint64_t torn; /* bytes after it, up to the zeros the file ends with */
	uint64_t size; /* the file's size read: end + torn + those zeros */
};

/* The refusal limiter's count for one uid (audit-limit.c). */
struct limit_slot {
	int64_t uid; /* -1 unknown */
	bool used;
	bool various;	     /* the slot of uids evicted from the table with counts */
	int64_t last_us;     /* the last refusal seen: for the bucket and for eviction */
	double tokens;	     /* the bucket: refusals that may be written now */
	uint64_t suppressed; /* counted, not written, since first_us */
	uint64_t by_reserve; /* of them, counted because the disk was below the reserve */
	int64_t first_us;    /* the first refusal of this count */
	int64_t gid;	     /* of the last refusal counted */
};

struct audit_limit {
	pthread_mutex_t lock;
	double rate, burst; /* rate 0: no limit */
	uint64_t reserve;   /* 0: the default share of the file system */
	int (*statvfs)(const char *path, struct statvfs *ret);
	struct limit_slot slot[LIMIT_SLOTS];
	struct limit_slot various;
	atomic_int_least64_t due_us; /* the earliest summary due, unix us; 0 none (read unlocked) */
	int64_t next_look_us;	     /* the next look at the file system's free space */
	unsigned looks_left;	     /* refusals until then, at most */
	int look_error;		     /* of the last look */
	bool below;		     /* the file system was below the reserve at the last look */
	uint64_t free_bytes, reserve_bytes; /* at the last look */
	uint64_t total_rate, total_reserve; /* counted, not written, since open */
};

struct audit {
	/* fixed after audit_open */
	char *path;
	char *dir;
	int sync;
	uint64_t rotate_size;
	struct secbuf *key;
	uint64_t epoch_min;	    /* an anchor naming an older store epoch is refused (0: none) */
	struct crypto_mac *mac_ctx; /* keyed with key: for the lines we write */
	/* the systemd journal's copy of each record (audit-journald.c), where a journal runs */
	bool journal;
	pthread_mutex_t journal_lock;
	int journal_fd;		  /* connected to JOURNAL_SOCKET; -1 until the first send */
	bool journal_stalled;	  /* a send found its queue full: no more waits until one is
				   * taken at once */
	uint64_t journal_dropped; /* records it did not take */
	/* audit_set_observer's: set while no append runs */
	audit_observer_fn observer;
	void *observer_ud;
	/* the writer's: whoever holds `writing` (an appender that found the journal idle, or
	 * the writer thread), audit_open's before the thread starts, audit_free's after */
	struct store *store;
	int fd;
	uint64_t dev, ino;
	uint64_t seq, end;
	uint64_t alloc_end; /* the file's size as we left it: end, and the zeros allocated ahead */
	bool prealloc;	    /* sync = always: allocate ahead (until the file system refuses) */
	uint8_t mac[CRYPTO_MAC_LEN];
	uint64_t written;     /* writes to the file so far (a count: audit_dirty) */
	uint64_t unanchored;  /* records written since the last anchor */
	int64_t last_sync_ns; /* CLOCK_MONOTONIC */
	/* the count of writes the last completed fdatasync covered: set by whoever synced, the
	 * writer or the writer thread's sync behind it (audit.c sync_behind), never lowered */
	_Atomic uint64_t synced;
	/* held around every fdatasync of the journal's file and the sticky error it may set: the
	 * kernel tells a writeback error to one fdatasync of an open file, and the writer and the
	 * sync behind it (a copy of its descriptor) share one (audit_fdatasync) */
	pthread_mutex_t sync_lock;
	/* the anchor's, under anchor_lock (taken with or without the writer's part, never
	 * before lock): the store's handle and what the last anchor named */
	pthread_mutex_t anchor_lock;
	uint64_t anchored_seq;
	uint64_t anchored_epoch; /* the store epoch the last anchor named */
	int anchor_error;
	int64_t last_anchor_ns; /* CLOCK_MONOTONIC of the last anchor written (sync = always) */
	/* sync = always, the group commit's linger (linger_set): the next group waits until
	 * linger_target records are queued, until linger_end_ns at the latest */
	size_t linger_target;
	int64_t linger_end_ns;
	size_t linger_seen[AUDIT_LINGER_GROUPS]; /* readers of the last groups (a ring) */
	unsigned linger_i;
	bool lease;		/* sync = batch and audit_options.lease: leases are taken */
	bool leased;		/* the lock is kept past the group (the lease) */
	bool knock_ignore;	/* this lease does not end at a knock (one outlived the defer) */
	int64_t knock_stale_ns; /* until then a knock is not waited for (it outlived one) */
	int64_t knock_next_ns;	/* when the lease holder looks for a knock again */
	struct buf out, scratch;
	/* shared, under lock */
	pthread_mutex_t lock;
	pthread_cond_t work, space, done;
	struct pending *head, *tail;
	size_t queued;
	bool stop;
	bool writing;	  /* someone holds the writer's part (the fields above) */
	bool syncing;	  /* the writer thread syncs behind the writers (batch: sync_behind) */
	bool waits;	  /* the writer thread waits for the writer's part to be let go */
	bool timer;	  /* the writer thread waits for the batch mode's sync to be due */
	bool timer_looks; /* ... and to look for a knock on the lease it holds */
	int error;	  /* sticky: every later append fails with it */
	/* audit_append_nowait's records: the last ticket given, the last one told to the
	 * durability callback (audit_set_durable), and the callback */
	uint64_t tickets, told;
	audit_durable_fn durable;
	void *durable_ud;
	bool thread_started;
	pthread_t thread;
	/* for audit_health, read and written unlocked */
	atomic_int last_error;		       /* of the last failed append, 0 none */
	atomic_int_least64_t failing_since_us; /* the first failure since a success; 0 */
	struct audit_limit limit;
	/* the store's epoch every anchor is to name (audit_set_epoch; atomic: the writer reads
	 * it unlocked) */
	_Atomic uint64_t epoch;
};

/* What an anchor names: a record of the chain and the file it is in. */
struct audit_head {
	uint64_t seq, dev, ino;
	uint8_t mac[CRYPTO_MAC_LEN];
};

/* Written since the last fdatasync that completed? (The writer's part held.) */
static inline bool audit_dirty(struct audit *a)
{
	return a->written != atomic_load(&a->synced);
}

/* An fdatasync that began after `written` writes completed: they are on disk. */
static inline void audit_synced(struct audit *a, uint64_t written)
{
	uint64_t s = atomic_load(&a->synced);

	while (s < written && !atomic_compare_exchange_weak(&a->synced, &s, written))
		;
}

void audit_set_error(struct audit *a, int r);
/* fdatasync fd (the journal's file, or a copy of its descriptor) under sync_lock: not at all
 * once the journal has failed (its sticky error is returned), and a failure is made the sticky
 * error before the lock is let go, so that no other sync of the file can take the error's
 * report for a success. 0 or -errno. */
int audit_fdatasync(struct audit *a, int fd);
/* Write a record the module makes itself (no limiter): what audit_append does past its
 * checks. */
int audit_append_own(struct audit *a, const struct audit_record *rec, int64_t time_us,
		     uint64_t *ret_seq);

/* audit-json.c */
int audit_record_check(const struct audit_record *r);
/* "time":...,"container":... : everything between seq and prev, appended to b. */
int audit_serialize_body(const struct audit_record *rec, int64_t time_us, struct buf *b);
/* The whole line of one record, MACed with m, with its newline, appended to b; ret_mac gets
 * its mac. On failure b is as it was. */
int audit_append_line(struct buf *b, struct crypto_mac *m, uint64_t seq, const char *body,
		      size_t body_len, const uint8_t prev[CRYPTO_MAC_LEN], struct buf *scratch,
		      uint8_t ret_mac[CRYPTO_MAC_LEN]);
/* 1 when the line (parsed into e) carries the right mac under key, 0 when not, <0 error. */
int audit_mac_ok(const struct audit_entry *e, const char *line, size_t len, const uint8_t *key,
		 struct buf *scratch);

/* audit-file.c */
int audit_fsync_dir(const char *dir);
char *audit_path_n(const char *path, size_t n);
int audit_read_tail(int fd, uint64_t size, const uint8_t *key, struct buf *scratch,
		    struct tail *ret);
int audit_read_first(int fd, const uint8_t *key, struct buf *scratch, struct audit_entry *ret);
int audit_own_body(struct buf *b, const char *event, const char *rule, const char *path);
int audit_write_records(struct audit *a, struct pending *list);
int audit_recover_torn(struct audit *a, uint64_t torn);
int audit_cut_prealloc(struct audit *a);
void audit_take_tail(struct audit *a, const struct tail *t);
int audit_open_file(struct audit *a);

/* audit-rotate.c */
int audit_rotate(struct audit *a);
int audit_follow_rotation(struct audit *a, const struct stat *fst);

/* audit-lock.c */
int audit_flock_ex(int fd);
int audit_journal_lock(struct audit *a);
void audit_journal_unlock(struct audit *a);
bool audit_lease_knocked(struct audit *a, int64_t now);
bool audit_lease_keep(struct audit *a, int r, bool synced, int64_t now);

/* audit-limit.c */
void audit_limit_init(struct audit_limit *l, const struct audit_options *o);
void audit_limit_done(struct audit_limit *l);
/* A refusal (rec, at time_us): 1 counted, not to be written; 0 to be written. */
int audit_limit_refusal(struct audit *a, const struct audit_record *rec, int64_t time_us);
/* Write the refusal counts that are due at now_us (all when all). */
int audit_limit_summaries(struct audit *a, int64_t now_us, bool all);

/* audit-verify.c */
/* Anchor h in the store, unless the anchor there names a later record (anchor_lock held). */
int audit_anchor_write(struct audit *a, const struct audit_head *h);

/* audit-journald.c */
/* The systemd journal's socket: a->journal is set at open when it exists. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"
/* A journal whose queue is full is waited for this long, once a stall (until a record is taken
 * at once again). */
#define JOURNAL_WAIT_MS 10
/* Send the record to the systemd journal: it waits JOURNAL_WAIT_MS at most, and only the first
 * record of a stall does; it never fails the append; a record the journal does not take is
 * counted (a->journal_dropped, audit_health: the daemon says so). */
void audit_journal_send(struct audit *a, const struct audit_record *rec, uint64_t seq,
			int64_t time_us);
/* Close the journal's socket (audit_free). */
void audit_journal_close(struct audit *a);
