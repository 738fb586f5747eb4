/* audit.h: the audit journal (DESIGN §6): one JSON line per record, chained by HMAC-SHA256 so
 * that a changed, dropped, reordered, inserted or cut-off record is found, anchored in the store
 * so that truncation and rollback are found too, written fail-closed: an append that is not in
 * the file (and, with sync = always, on disk) returns an error the caller turns into a refusal.
 *
 * A line, keys always in this order (the canonical form; verify re-serializes and compares):
 *   {"seq":7,"time":"2026-01-02T03:04:05.123456Z","event":"open","decision":"allow",
 *    "errno":null,"rule":"r1","vault":"app","object":"db","version":3,"path":"/app/db",
 *    "uid":1000,"gid":1000,"pid":42,"exe":"/usr/bin/cat","cgroup":"/...","unit":"x.service",
 *    "container":null,"prev":"<64 hex>","mac":"<64 hex>"}
 * errno is null, an errno name ("ENOENT") or a number; an absent string or number is null.
 * Strings are escaped: '"', '\\', control bytes and DEL as \u00XX; valid UTF-8 is kept; a byte
 * that is not part of valid UTF-8 is written \u00XX and read back as that byte.
 * mac = HMAC-SHA256(key, prev || the line without its mac member), key = HKDF(master,
 * AUDIT_KEY_LABEL) (kv_derive_key). The first record of a chain has seq 1 and prev all zeros;
 * a rotated file starts with a "rotate" record whose prev is the last mac of the file before.
 * The API takes no value bytes: nothing secret can be recorded.
 *
 * Refusals are limited (audit_options.deny_*): past a uid's budget, or while the journal's
 * file system is below its reserve, a refusal is counted, not written, and one record says how
 * many: event "refusals-suppressed", decision "deny", uid the uid (null: uids that did not fit
 * the limiter's table), gid its last refusal's, rule "count=N since=<time> reason=rate" (or
 * "reserve", or "rate,reserve"): N refusals since the time of the first. It is written once
 * the first is a second old, by the next append or flush (a flush writes every count), or
 * when audit_free runs: a count is never dropped while the journal can be written (a crash
 * loses the counts not yet written).
 *
 * Threads: a struct audit may be shared by any number of threads; audit_append and
 * audit_health are the only calls that may run concurrently with others on one handle.
 * Processes: any number may append to one journal, each group under flock(LOCK_EX) on the
 * file; with sync = batch and
 * audit_options.lease a writer keeps the lock (a lease) until its next sync, at most
 * VAULTFS_AUDIT_BATCH_MS, or until a waiting process knocks (an OFD read lock on byte
 * AUDIT_KNOCK_BYTE): core/audit-lock.c has the protocol. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "limits.h"
#include "store.h"

#define AUDIT_KEY_LABEL "vaultfs audit v1"
/* The store meta key of the anchored chain head. */
#define AUDIT_ANCHOR_KEY "audit.head"
/* The byte of the journal a process waiting for its lock knocks on (far past any data). */
#define AUDIT_KNOCK_BYTE (INT64_MAX - 1)

enum audit_decision {
	AUDIT_ALLOW = 0,
	AUDIT_DENY = 1,
};

/* What the caller records. Strings may be NULL (JSON null); each is at most
 * VAULTFS_AUDIT_FIELD_MAX bytes. Start from AUDIT_RECORD_INIT: a uid of 0 is root. */
struct audit_record {
	const char *event; /* required: [a-z][a-z0-9-]{0,31}: open, set, delete, recover, ... */
	int decision;	   /* enum audit_decision */
	int err;	   /* 0 none, else an errno (either sign), recorded by name */
	const char *rule;
	const char *vault;
	const char *object;
	uint32_t version; /* 0 none */
	const char *path;
	int64_t uid, gid, pid; /* -1 unknown */
	const char *exe;
	const char *cgroup;
	const char *unit;
	const char *container;
};
#define AUDIT_RECORD_INIT                                                                          \
	{                                                                                          \
		.uid = -1, .gid = -1, .pid = -1                                                    \
	}

/* The caller's fields of a record the process makes of its own accord (the daemon's start and
 * stop, a purge, a rotation): this process's uid, gid and pid. */
void audit_record_self(struct audit_record *rec);

struct statvfs;

struct audit_options {
	int sync;		/* enum audit_sync (config.h): always, batch, none */
	uint64_t rotate_size;	/* rotate before a write would take the file past this; 0 never */
	const char *store_path; /* the store that holds the anchor; NULL: no anchor (tests) */
	/* sync = batch: keep the journal's lock between syncs (the lease, below). For a writer
	 * that lives and appends steadily (vaultfsd); not for a short-lived one (vaultctl): one
	 * stopped (^Z) while it held a lease would hold every other writer out. */
	bool lease;
	/* Refusals (decision deny) of one uid: deny_burst at once, then deny_rate a second;
	 * past that they are counted, not written (see above). 0: AUDIT_DENY_RATE and
	 * AUDIT_DENY_BURST; deny_rate UINT_MAX: no limit. */
	unsigned deny_rate, deny_burst;
	/* Free bytes of the journal's file system kept for allowed records: below it refusals
	 * are only counted. 0: AUDIT_RESERVE_PERCENT of the file system, at most
	 * AUDIT_RESERVE_MAX. */
	uint64_t reserve;
	/* The store's epoch (seal.h): every anchor names it, and an anchor naming one below
	 * epoch_min is refused at open (-ESTALE: an older anchor written back). 0: none. */
	uint64_t epoch, epoch_min;
	/* Tests: the free space of the journal's file system. NULL: statvfs(2). */
	int (*statvfs)(const char *path, struct statvfs *ret);
};

#define AUDIT_DENY_RATE 20u
#define AUDIT_DENY_BURST 200u
#define AUDIT_RESERVE_PERCENT 5u
#define AUDIT_RESERVE_MAX (UINT64_C(64) << 20)
#define AUDIT_SUMMARY_EVENT "refusals-suppressed"

struct audit;

/* Open (creating, mode 0600) the journal at path and continue its chain: the last record is
 * checked, a torn last line is cut off and a "journal-recovered" record appended. Starts the
 * writer thread. Errors: -EINVAL bad options or not a regular file, -ELOOP path is a symlink,
 * -EBADMSG the last record does not verify, or the file is behind the anchor in the store
 * (truncated, rolled back or replaced) or the anchor fails its MAC, -ESTALE the anchor names
 * a store epoch below o->epoch_min (an older anchor written back over a journal cut short),
 * plus open(2)'s and the store's errors. */
int audit_open(const char *path, const struct audit_options *o, const uint8_t key[CRYPTO_KEY_LEN],
	       struct audit **ret);

/* Append one record; returns when it is written (sync = batch, none) or on disk (always).
 * ret_seq (may be NULL) gets its seq; 0 for a refusal that was counted, not written (0 is
 * returned: the count is written later, see above). -EINVAL bad event/decision/errno,
 * -EMSGSIZE a field or the line too long, -ETIMEDOUT the queue stayed full or another
 * process held the journal's lock for VAULTFS_AUDIT_LOCK_TIMEOUT_MS (nothing written; later
 * appends try again),
 * -ENOSPC/-EDQUOT/-EFBIG no room (nothing written; later appends may succeed), -ESTALE the
 * file was removed, replaced or shortened under us (checked when the lock is taken: with
 * sync = batch, once a lease, so up to VAULTFS_AUDIT_BATCH_MS late), -EBADMSG a peer left a
 * record that does not verify, -EIO (or another errno) a write or sync failed. From -ESTALE,
 * -EBADMSG and any sync failure on, every append fails with the same error until the handle is
 * freed and the journal opened again. */
int audit_append(struct audit *a, const struct audit_record *r, uint64_t *ret_seq);

/* Group commit (sync = always): queue one record and return at once, without waiting for it
 * to be written or synced. *ret_ticket (> 0) names it: tickets count up in the order records
 * are written, and whether it reached the disk is told later by the durability callback (or
 * audit_durable). One fdatasync covers every record queued while the one before it ran. The
 * checks, the limiter and the errors are audit_append's up to the queue (-EINVAL, -EMSGSIZE,
 * the sticky error, -ESHUTDOWN, -ETIMEDOUT a full queue): on an error nothing is queued. A
 * refusal only counted gets ticket 0; so does every record with sync = batch or none, where
 * this is audit_append (it returns once the record is written, as that mode promises). The
 * record is not shown to the observer (for records that are no change: reads). */
int audit_append_nowait(struct audit *a, const struct audit_record *r, uint64_t *ret_ticket);

/* Told once every record up to ticket has gone as far as it will: on disk (r = 0), or not
 * (r < 0: its write or sync failed; a sync failure is sticky, and then every ticket given is
 * told at once, before any append can fail with it). Called in ticket order, from the thread
 * writing the records (the writer thread, or an appender writing a group), never twice for a
 * ticket; every record queued before an audit_append or audit_flush is told before that call
 * returns (unless it fails with -ETIMEDOUT or -ESHUTDOWN). It must be quick, must not call audit_* on the handle and must not wait for anything
 * an appender may hold. */
typedef void (*audit_durable_fn)(void *ud, uint64_t ticket, int r);
/* Set (any time) or clear (fn NULL: returns once no call of the old one runs) the callback. */
void audit_set_durable(struct audit *a, audit_durable_fn fn, void *ud);
/* The last ticket told, and (ret_error, may be NULL) the sticky error, 0 none. */
uint64_t audit_durable(struct audit *a, int *ret_error);

/* An observer of what is written (vaultfsd's change events, core/events.h): called after each
 * record is in the journal (as audit_append returns success), from the appender's thread, with
 * the record and its seq; never for a refusal only counted. It must be quick and must not call
 * audit_* on a. Set (fn NULL: none) while no append runs: before serving, after it. */
typedef void (*audit_observer_fn)(void *ud, const struct audit_record *rec, uint64_t seq);
void audit_set_observer(struct audit *a, audit_observer_fn fn, void *ud);

/* What an operator needs to know of a journal (vaultfsd's log, `vaultctl status`). */
struct audit_health {
	int error;		     /* the sticky error every append fails with; 0 none */
	int last_error;		     /* of the last append that failed (since open); 0 none */
	int64_t failing_since_us;    /* unix us: the first failure since the last success; 0 */
	uint64_t free_bytes;	     /* available on the journal's file system, now */
	uint64_t reserve_bytes;	     /* of which kept for allowed records */
	bool below_reserve;	     /* refusals are only counted */
	uint64_t suppressed_rate;    /* refusals counted, not written, since open: over a budget */
	uint64_t suppressed_reserve; /* ... while below the reserve */
	uint64_t suppressed_pending; /* of those, not yet in a refusals-suppressed record */
	uint64_t seq;		     /* the last record's sequence number (a glimpse) */
	uint64_t journal_dropped;    /* records the systemd journal did not take (since open) */
	bool journal_stalled;	     /* ... and it has not taken one at once since it was full */
};

/* Fill ret (looks at the file system now). -EINVAL, or statvfs's error (ret then has the
 * rest). */
int audit_health(struct audit *a, struct audit_health *ret);

/* Write the refusal counts, sync the file and anchor the chain head now. The anchor's error
 * too (appends do not fail on an anchor that could not be written; the next flush tries
 * again). */
int audit_flush(struct audit *a);
/* From now on every anchor names the store's epoch e; the head is anchored anew (with a sync)
 * before it returns, so that the store's epoch can move to e (seal.h: between advance_begin
 * and advance_end). Errors as audit_flush. */
int audit_set_epoch(struct audit *a, uint64_t e);

/* Flush (best effort), stop the writer, close, wipe the key. No append may be running.
 * Accepts NULL. */
void audit_free(struct audit *a);

static inline void audit_freep(struct audit **a)
{
	audit_free(*a);
}
#define _cleanup_audit_ __attribute__((cleanup(audit_freep)))

/* --- reading --- */

/* One parsed line. rec's strings point into buf. */
struct audit_entry {
	uint64_t seq;
	int64_t time_us; /* unix microseconds */
	struct audit_record rec;
	uint8_t prev[CRYPTO_MAC_LEN];
	uint8_t mac[CRYPTO_MAC_LEN];
	char *buf;
};

/* Parse one line (without its newline). -EBADMSG unless it is exactly the canonical form.
 * The caller frees with audit_entry_done. */
int audit_parse_line(const char *line, size_t len, struct audit_entry *ret);
void audit_entry_done(struct audit_entry *e);
/* 1 when line (canonical, parsed into e) carries the right mac under key, else 0; <0 error. */
int audit_entry_mac_ok(const struct audit_entry *e, const char *line, size_t len,
		       const uint8_t key[CRYPTO_KEY_LEN]);

/* A line reader with a cap of VAULTFS_AUDIT_LINE_MAX. next: 1 and a line (without newline,
 * valid until the next call), 0 at the end of the data for now (a torn last line is kept and
 * completed if more is written: `show --follow`), -EBADMSG for a line over the cap. */
struct audit_reader;
int audit_reader_open(const char *path, struct audit_reader **ret);
int audit_reader_next(struct audit_reader *r, const char **ret_line, size_t *ret_len);
/* Bytes the reader could not read as lines, at its end: after the last newline (a torn last
 * line), and any data after the zeros a writer with sync = always allocates ahead (a torn
 * write too: audit-file.c cuts both); and the identity of the open file. */
size_t audit_reader_pending(const struct audit_reader *r);
int audit_reader_stat(const struct audit_reader *r, uint64_t *ret_dev, uint64_t *ret_ino);
void audit_reader_free(struct audit_reader *r);

/* --- anchor and verify --- */

struct audit_anchor {
	uint64_t seq;
	uint8_t mac[CRYPTO_MAC_LEN];
	uint64_t dev, ino; /* the file that held the head when it was anchored */
	uint64_t epoch;	   /* the store's epoch when it was anchored (0: none, a v1 anchor) */
};

/* The anchored head. -ENOENT none yet, -EBADMSG malformed or its MAC does not verify. */
int audit_anchor_load(struct store *s, const uint8_t key[CRYPTO_KEY_LEN], struct audit_anchor *ret);

struct audit_verify {
	uint64_t records;   /* records that verified */
	uint64_t first_seq; /* of the first file (0: no records) */
	uint64_t last_seq;
	bool mid_chain;	  /* the first file starts with a rotate record: older files not given */
	uint64_t bad_seq; /* 0 intact; else the first seq where the chain breaks */
	size_t bad_file;  /* index into paths of the file where it breaks */
	char why[160];	  /* what is wrong at bad_seq */
	int anchor;	  /* 0 not checked, 1 head is the anchor, 2 records after the anchor */
};

/* Check paths (oldest first: PATH.N ... PATH.1 PATH) as one chain under key and, when anchor
 * is not NULL, against it. Returns 0 with ret filled (ret->bad_seq says intact or not), or
 * <0 when a file cannot be read. */
int audit_verify_files(const char *const *paths, size_t n, const uint8_t key[CRYPTO_KEY_LEN],
		       const struct audit_anchor *anchor, struct audit_verify *ret);

/* The journal files of path in chain order, PATH.N ... PATH.1 PATH (rotated files that exist,
 * from .1 up to the first missing). A NULL-terminated heap array of heap strings (free with
 * audit_paths_free) and their number. */
int audit_list_files(const char *path, char ***ret, size_t *ret_n);
void audit_paths_free(char **paths);
