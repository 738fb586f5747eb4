/* store.h: persistence of vaults, objects and versions. The store keeps rows of opaque bytes
 * (wrapped keys, ciphertexts, MACs) and knows nothing of crypto: kv.c seals and checks them.
 * The interface hides the backend (SQLite today, core/store*.c; a second backend will come): no
 * SQLite type or code crosses it, every error is -errno.
 *
 * Errors common to every call: -EIO backend failure, -EBADMSG the database is corrupt or not a
 * vaultfs store, -EROFS read-only store, -EBUSY locked by another writer past the busy timeout;
 * and to every write transaction (store_begin, and the writes that take one of their own when
 * none is open): -EIDRM the store's path no longer names the file this handle opened (removed,
 * or replaced by a rename), so a write would go where no later open finds it. Where SQLite or
 * the store refuses, its own words are kept with log_foreign() for the edge's log line. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "limits.h"

struct store;

enum store_open_flags {
	STORE_CREATE = 1 << 0,	 /* create the file and schema if missing */
	STORE_READONLY = 1 << 1, /* open read-only */
};

enum object_type {
	OBJECT_SECRET = 1,
	OBJECT_KEY = 2,
	OBJECT_CERT = 3,
};

struct store_vault {
	int64_t id; /* assigned by store_vault_insert; never reused */
	char name[VAULTFS_NAME_MAX + 1];
	uint8_t wrapped_key[CRYPTO_WRAPPED_KEY_LEN];
	int64_t created; /* unix seconds */
	uint32_t retention_days;
	bool purge_protection;
	uint8_t mac[CRYPTO_MAC_LEN];
	/* schema 6: versions of a secret kept (0: all), and whether this vault ever pruned
	 * (sticky: its secrets may lack their oldest versions) */
	uint32_t max_versions;
	bool prunes;
};

struct store_object {
	int64_t id; /* assigned by store_object_insert; never reused, even after purge */
	int64_t vault_id;
	char name[VAULTFS_NAME_MAX + 1];
	int type;		  /* enum object_type */
	uint32_t current_version; /* 0 = none yet */
	int64_t created;
	int64_t deleted_at; /* 0 = live; else unix seconds of the soft delete */
	uint8_t mac[CRYPTO_MAC_LEN];
};

struct store_version {
	int64_t object_id;
	uint32_t version; /* 1, 2, 3 ... */
	bool enabled;
	int64_t not_before; /* 0 = none */
	int64_t expires;    /* 0 = none */
	int64_t created;
	int64_t updated;
	char content_type[VAULTFS_CONTENT_TYPE_MAX + 1];
	char *tags; /* heap, canonical "k=v\n" lines sorted by key, "" for none */
	uint8_t wrapped_dek[CRYPTO_WRAPPED_KEY_LEN];
	uint8_t *ciphertext; /* heap, ciphertext_len bytes (nonce || ct || tag) */
	size_t ciphertext_len;
	uint8_t mac[CRYPTO_MAC_LEN];
};

/* Free the heap members of v (ciphertext is wiped first) and zero it. Accepts NULL. */
void store_version_done(struct store_version *v);

/* Open (and with STORE_CREATE create) the store at path: WAL, secure_delete, defensive mode,
 * foreign keys, schema migrated to the current version. -ENOENT when missing without
 * STORE_CREATE; -EBADMSG when the file is not a vaultfs database, -EPROTONOSUPPORT when its
 * schema is newer than this program knows; -EPERM when the file is not owned by the effective
 * uid or is accessible to group or others. */
int store_open(const char *path, int flags, struct store **ret);
void store_free(struct store *s);
/* The schema version this store is at. */
int store_schema_version(struct store *s);

/* Transactions: begin takes the write lock at once (BEGIN IMMEDIATE). Not nestable:
 * -EBUSY when one is already open on this handle. */
int store_begin(struct store *s);
int store_commit(struct store *s);
/* A read transaction (BEGIN DEFERRED): several reads see one snapshot, so a writer that commits
 * between them cannot make consistent data look inconsistent. End it with store_commit. */
int store_begin_read(struct store *s);
/* What tells whether the store may have changed since: SQLite's data_version (a commit by any
 * other connection or process) and a count of what changed through this handle (rows and
 * write transactions). Equal generations mean the same content. Read it inside a read
 * transaction (store_begin_read): it then names the snapshot that transaction reads. */
struct store_generation {
	int64_t data_version;
	uint64_t local;
};
int store_generation(struct store *s, struct store_generation *ret);

/* A cheaper look than a read transaction at whether anything was committed: SQLite's WAL-index
 * header (https://www.sqlite.org/walformat.html, section 2.1), which every commit of every
 * connection rewrites (a change counter, the last frame, salts and checksums), read from the
 * shared -shm file the store's connection has mapped, with no lock and no syscall; and the
 * count of what changed through this handle. Equal marks: nothing committed in between.
 * store_mark: -EOPNOTSUPP when the header cannot be read (a read-only handle, no -shm file),
 * -EAGAIN when a commit is writing it now. Take a mark before the read transaction whose rows
 * it is to vouch for. */
struct store_mark {
	uint8_t header[48];
	uint64_t local;
};
int store_mark(struct store *s, struct store_mark *ret);
/* True only when a mark taken now equals m. */
bool store_unchanged(struct store *s, const struct store_mark *m);
/* Rolls back if a transaction is open; safe to call when none is. */
void store_rollback(struct store *s);

/* Store-wide settings and sealed blobs (key-value). get: -ENOENT when absent; *ret_len bytes in
 * a heap buffer (the caller frees). */
int store_meta_get(struct store *s, const char *key, uint8_t **ret, size_t *ret_len);
int store_meta_set(struct store *s, const char *key, const void *value, size_t len);
/* A setting that is text: into buf (NUL-terminated); -ENOENT absent, -EBADMSG longer than
 * size - 1 or holding a NUL. */
int store_meta_text(struct store *s, const char *key, char *buf, size_t size);

/* A key's rotation policy (one row per key object, gone with it): seconds after its current
 * version's creation to rotate (0 never), before its expiry to notify (0 never), after a new
 * version's creation for it to expire (0 never); the version last notified. get: -ENOENT.
 * page: the rows after object id `after`, limit at most; returns how many were read. */
struct store_rotation {
	int64_t object_id;
	int64_t rotate_after, notify_before, expires_after;
	uint32_t notified_version;
	int64_t updated;
	uint8_t mac[CRYPTO_MAC_LEN];
};
int store_rotation_get(struct store *s, int64_t object_id, struct store_rotation *ret);
int store_rotation_set(struct store *s, const struct store_rotation *p);
int store_rotation_delete(struct store *s, int64_t object_id);
int store_rotation_page(struct store *s, int64_t after, unsigned limit,
			int (*cb)(const struct store_rotation *p, void *ud), void *ud);

/* A certificate's state (one row per certificate object, gone with it; kv-cert-state.c makes
 * and checks it): the policy its next version is made by (policy_len 0: none, the newest
 * version's), the renewals that failed in a row (the last one's time, -errno and reason) and
 * when to try again, and the versions whose near-expiry and expired notices were given.
 * get: -ENOENT; the caller store_cert_state_done()s what get gave. set: insert or replace. */
#define STORE_CERT_ERROR_MAX 128u
#define STORE_CERT_POLICY_MAX                                                                      \
	(64u * 1024u) /* subject, SANs, usages: far below; not VALUE_MAX (1 MiB) */
struct store_cert_state {
	int64_t object_id;
	uint32_t failures;
	int64_t last_attempt, next_try;
	int last_err;
	char last_error[STORE_CERT_ERROR_MAX];
	uint32_t notified_version, expired_version;
	int64_t updated;
	uint8_t *policy; /* heap */
	size_t policy_len;
	uint8_t mac[CRYPTO_MAC_LEN];
};
void store_cert_state_done(struct store_cert_state *c);
int store_cert_state_get(struct store *s, int64_t object_id, struct store_cert_state *ret);
int store_cert_state_set(struct store *s, const struct store_cert_state *c);

/* A fleet vault's applied state (one row per vault in a fleet, gone with it; kv-fleet.c makes
 * and checks it): the seq, key epoch and chain MAC of the change row it applied last.
 * get: -ENOENT (the vault is in no fleet). set: insert or replace. */
struct store_fleet_applied {
	int64_t vault_id;
	int64_t seq;
	uint32_t epoch;
	uint8_t last_mac[CRYPTO_MAC_LEN];
	int64_t updated;
	uint8_t mac[CRYPTO_MAC_LEN];
};
int store_fleet_applied_get(struct store *s, int64_t vault_id, struct store_fleet_applied *ret);
int store_fleet_applied_set(struct store *s, const struct store_fleet_applied *a);

/* The running sum of every MAC'd row (store-sum.c): sum over the rows of vaults, objects,
 * versions, key_rotation, cert_state and fleet_applied of fn(mac), mod 2^256 (little-endian).
 * track: from now on every write through this handle keeps the sum in the store (meta "rows.sum") as part of
 * its own transaction; fn is called for each row written and must not fail but for want of
 * memory. rows_sum: the sum of
 * the rows as they are (a full scan; call it inside a transaction). kept/keep: the kept sum
 * (zero when none was kept yet), and to set it. */
#define STORE_SUM_LEN 32u
typedef int (*store_row_fn)(void *ud, const uint8_t mac[CRYPTO_MAC_LEN],
			    uint8_t out[STORE_SUM_LEN]);
int store_track_rows(struct store *s, store_row_fn fn, void *ud);
int store_rows_sum(struct store *s, store_row_fn fn, void *ud, uint8_t ret[STORE_SUM_LEN]);
int store_rows_sum_kept(struct store *s, uint8_t ret[STORE_SUM_LEN]);
int store_rows_sum_keep(struct store *s, const uint8_t sum[STORE_SUM_LEN]);

/* Vaults. Names are unique. insert: -EEXIST when the name is taken; sets v->id.
 * get: -ENOENT. update rewrites every field but id and name. delete: -ENOENT, -ENOTEMPTY when
 * the vault still holds objects (live or soft-deleted). */
int store_vault_insert(struct store *s, struct store_vault *v);
int store_vault_get(struct store *s, const char *name, struct store_vault *ret);
int store_vault_get_by_id(struct store *s, int64_t id, struct store_vault *ret);
int store_vault_update(struct store *s, const struct store_vault *v);
int store_vault_delete(struct store *s, int64_t id);
/* Calls cb for each vault in name order; a negative return from cb stops and is returned. */
int store_vault_foreach(struct store *s, int (*cb)(const struct store_vault *v, void *userdata),
			void *userdata);

/* Pages: a bounded, resumable foreach. Calls cb for the rows that sort after the cursor `after`
 * (exclusive; NULL or "" from the first) in the foreach's order, at most limit of them, and
 * returns how many rows cb was given: fewer than limit when no more rows follow. Each page is a
 * range of the index that orders it (UNIQUE name, UNIQUE (vault_id, name), PRIMARY KEY
 * (object_id, version)): O(log n + limit), and it reads nothing outside the range (no row of
 * another vault or object). Names order as bytes (memcmp, then the shorter first), so a cursor
 * may be any name, one that no longer exists too. -EINVAL for limit 0 or over INT_MAX or an
 * `after` over VAULTFS_NAME_MAX bytes; -EBUSY when called from a callback of the same page or
 * foreach; a negative return from cb stops and is returned. A page reads in the caller's
 * transaction, or in one of its own: pages read in different transactions see what changed
 * between them (rows added after the cursor are met, rows removed are not). */
int store_vault_page(struct store *s, const char *after, unsigned limit,
		     int (*cb)(const struct store_vault *v, void *userdata), void *userdata);

/* Objects. (vault_id, name) is unique across live and soft-deleted objects.
 * insert: -EEXIST; sets o->id. get: -ENOENT. update rewrites current_version, deleted_at, mac.
 * purge removes the object and all its versions. */
int store_object_insert(struct store *s, struct store_object *o);
int store_object_get(struct store *s, int64_t vault_id, const char *name, struct store_object *ret);
int store_object_get_by_id(struct store *s, int64_t id, struct store_object *ret);
int store_object_update(struct store *s, const struct store_object *o);
int store_object_purge(struct store *s, int64_t id);
/* Calls cb for each object of the vault in name order (live and deleted). */
int store_object_foreach(struct store *s, int64_t vault_id,
			 int (*cb)(const struct store_object *o, void *userdata), void *userdata);
/* The page of store_object_foreach (see store_vault_page). */
int store_object_page(struct store *s, int64_t vault_id, const char *after, unsigned limit,
		      int (*cb)(const struct store_object *o, void *userdata), void *userdata);
/* Soft-deleted objects of every vault whose vault's retention has passed at `now`, oldest
 * deletion first, at most limit (rows as stored: unverified). */
int store_object_deleted_foreach(struct store *s, int64_t now, unsigned limit,
				 int (*cb)(const struct store_object *o, void *userdata),
				 void *userdata);

/* Versions: immutable except for the attributes that update_attrs rewrites (enabled,
 * not_before, expires, updated, content_type, tags, mac).
 * insert: -EEXIST when (object_id, version) exists. get: -ENOENT; the caller must
 * store_version_done() the result. max: highest version number of the object, 0 if none. */
int store_version_insert(struct store *s, const struct store_version *v);
int store_version_get(struct store *s, int64_t object_id, uint32_t version,
		      struct store_version *ret);
int store_version_update_attrs(struct store *s, const struct store_version *v);
int store_version_max(struct store *s, int64_t object_id, uint32_t *ret);
/* Remove one version row (its ciphertext with it, and its expiry notices): -ENOENT when it
 * does not exist. */
int store_version_delete(struct store *s, int64_t object_id, uint32_t version);
/* Calls cb for each version of the object in ascending order. The ciphertext is not loaded
 * (ciphertext NULL, but ciphertext_len is its length) in the struct passed to cb; the struct
 * is only valid during the call. */
int store_version_foreach(struct store *s, int64_t object_id,
			  int (*cb)(const struct store_version *v, void *userdata), void *userdata);
/* The page of store_version_foreach: versions numbered above `after` (0: from the first), see
 * store_vault_page. */
int store_version_page(struct store *s, int64_t object_id, uint32_t after, unsigned limit,
		       int (*cb)(const struct store_version *v, void *userdata), void *userdata);
/* As store_version_get, without the ciphertext (NULL; ciphertext_len is its length). */
int store_version_get_meta(struct store *s, int64_t object_id, uint32_t version,
			   struct store_version *ret);

/* Expiry notices: which reminders about a version's expiry were given. A notice is kept per
 * (object, version, event) together with the expiry date it was given for; a version whose date
 * has changed since is due again. The rows carry no MAC (kv.h says why that is safe). */
enum store_notice {
	STORE_NOTICE_NEAR = 1,
	STORE_NOTICE_EXPIRED = 2,
};

struct store_expiry_scan {
	int64_t now;   /* a version with expires <= now is due for EXPIRED, a later one for NEAR */
	int64_t until; /* only versions with 0 < expires <= until */
	/* cursor: only rows after (after_expires, after_object, after_version) in that order;
	 * all 0 = from the start */
	int64_t after_expires;
	int64_t after_object;
	uint32_t after_version;
	uint32_t limit; /* rows at most; -EINVAL for 0 */
};

/* Calls cb, in (expires, object_id, version) order, for each version in q's window whose object
 * is not soft-deleted (by the row's deleted_at, unchecked: the caller checks what it gets) and
 * that has no notice for its expiry date of the event it is due for or a later one (EXPIRED
 * also stands for NEAR). The struct is as in store_version_foreach. The walk is a range of an
 * index on expires: a store where nothing is due reads no version row. */
int store_expiry_foreach(struct store *s, const struct store_expiry_scan *q,
			 int (*cb)(const struct store_version *v, void *userdata), void *userdata);
/* Record notice event (enum store_notice, else -EINVAL) for the version at expiry date
 * expires, replacing one given for another date. -ENOENT when the version does not exist.
 * Purging the version removes its notices. */
int store_notice_mark(struct store *s, int64_t object_id, uint32_t version, int event,
		      int64_t expires);
