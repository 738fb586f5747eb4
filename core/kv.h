/* kv.h: the vault operations, one API for the CLI and the daemon. A struct kv is an open store
 * plus the unsealed master key; it does the envelope encryption and the integrity checks of
 * DESIGN §4:
 *   vault key   random, wrapped by HKDF(M, "wrap") with AAD (vault id)
 *   data key    random per version, wrapped by the vault key with AAD (vault, object, version,
 *               type)
 *   value       AES-256-GCM under the data key with the same AAD
 *   metadata    vault, object and version rows carry an HMAC (key HKDF(M, "mac")) over every
 *               field that decides access, so offline edits of the database are found
 * A current-version pointer that disagrees with the newest version row is an integrity error.
 *
 * Errors: -EINVAL bad name or attribute, -ENOENT no such vault/object/version (or deleted),
 * -EEXIST name taken (a soft-deleted object still holds its name until purged),
 * -EMSGSIZE value over VAULTFS_VALUE_MAX, -EKEYREVOKED disabled, -EKEYEXPIRED expired,
 * -EKEYREJECTED not yet valid, -EBADMSG integrity failure (MAC or AEAD), -ENOTEMPTY vault not
 * empty, -EPERM purge refused by purge protection, plus the store's errors.
 *
 * Backups: one sealed blob per object, opened only in a store of the same master key
 * (format: kv-backup.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "key.h"
#include "limits.h"
#include "secbuf.h"
#include "store.h"
#include "util.h"
#include "x509.h"

struct kv;

/* Take ownership of an open store and the master key (both freed by kv_free, also on error).
 * A struct kv is for one thread at a time: its reads too change what it keeps (checked rows,
 * unwrapped keys, its cipher context), so callers serialise their calls (vaultfsd makes them
 * under its one lock). */
int kv_new(struct store *s, struct secbuf *master, struct kv **ret);
void kv_free(struct kv *kv);
/* Tests move the clock: 0 = real time. */
void kv_set_clock(struct kv *kv, int64_t now);
/* A subkey of the master key for other modules (e.g. the audit MAC): HKDF(M, "vaultfs derived:
 * " + label), never one of kv's own keys. -EINVAL for a label over 100 bytes. */
int kv_derive_key(struct kv *kv, const char *label, struct secbuf **ret);

/* The rollback guard (kv-epoch.c): the store's epoch on its TPM counter (seal.h) and the
 * state of its rows (the running sum of a keyed function of every row MAC, kept by each write
 * transaction, store.h), bound together in one MAC'd record. kv_epoch_open checks both at
 * open: -ESTALE the store is older than its counter (a copy written back), -EUCLEAN its rows do
 * not add up to the state it committed last (a row replayed, removed or lost: an old row with
 * its own valid MAC, a damaged WAL frame), -ENXIO the counter is missing (another TPM), and
 * seal_epoch_open's other errors; -EOPNOTSUPP a store with no TPM (no guard). *ret holds the
 * evidence, refusals included. A store bound now (ret->bound) takes its rows as they are.
 * kv_epoch_advance_begin/_end: seal_epoch_advance_begin/_end, for whoever must name the new
 * epoch in between (the journal's anchor). kv_epoch: the epoch checked or moved to last, and
 * the lowest a journal anchor may name (0, 0 before a check or without a guard). kv_changes:
 * write transactions committed through this kv (for the daemon's advance pacing). */
struct seal_epoch;
struct config;
int kv_epoch_open(struct kv *kv, const struct config *c, struct seal_epoch *ret);
int kv_epoch_advance_begin(struct kv *kv, const struct config *c, struct seal_epoch *ret);
int kv_epoch_advance_end(struct kv *kv, const struct config *c, struct seal_epoch *ret);
void kv_epoch(const struct kv *kv, uint64_t *ret_epoch, uint64_t *ret_anchor_min);
uint64_t kv_changes(const struct kv *kv);

/* `[A-Za-z0-9][A-Za-z0-9._-]{0,126}` */
bool kv_name_valid(const char *name);

/* Attributes given to set (all used) and update (KV_KEEP / NULL keep the old value). */
#define KV_KEEP INT64_MIN
struct kv_attrs {
	int enabled;		  /* 1, 0, or -1 = keep */
	int64_t not_before;	  /* unix seconds, 0 none, KV_KEEP */
	int64_t expires;	  /* unix seconds, 0 none, KV_KEEP */
	const char *content_type; /* NULL keep ("" for none) */
	const char *const *tags;  /* "key=value" strings, replacing all tags; NULL keep */
	size_t n_tags;
};
#define KV_ATTRS_KEEP                                                                              \
	{                                                                                          \
		.enabled = -1, .not_before = KV_KEEP, .expires = KV_KEEP                           \
	}

struct kv_version_info {
	int64_t object_id; /* never reused */
	uint32_t version;
	bool enabled;
	int64_t not_before, expires, created, updated;
	char content_type[VAULTFS_CONTENT_TYPE_MAX + 1];
	char tags[VAULTFS_TAGS_LEN_MAX + 1];
	size_t size; /* exact length of the value */
};

/* What a listing and a lookup say of an object. */
struct kv_object_info {
	enum object_type type;
	char name[VAULTFS_NAME_MAX + 1];
	int64_t id;
	uint32_t current_version;
	int64_t created;
	int64_t deleted_at;  /* 0 live */
	int64_t purge_after; /* deleted_at + retention (0 live) */
	int64_t expires;     /* the current version's expiry, 0 none */
	bool enabled;	     /* the current version's */
};
struct kv_vault_info {
	int64_t id; /* never reused */
	char name[VAULTFS_NAME_MAX + 1];
	int64_t created;
	uint32_t retention_days;
	bool purge_protection;
	uint32_t max_versions; /* versions of a secret kept, 0 all (kv_vault_set_max_versions) */
};

/* A read session: the kv reads until kv_read_end() (lookups, info, get, lists) share one read
 * transaction, one snapshot of the store, instead of one each; for a request that makes
 * several. No write may be made inside one (-EBUSY). -EBUSY when one is open already, or the
 * store's errors; kv_read_end() accepts NULL and a kv without one.
 * Inside a session and out, rows checked once are kept (a bounded cache) and believed again
 * without a second MAC check while the store's generation (store_generation()) is the same:
 * any change, through this kv or another connection, empties the cache.
 * When nothing was committed anywhere since the cache was filled (store_mark(): no lock, no
 * syscall), a session puts its transaction off: lookups, info and get of what the cache holds
 * take none at all, and the first row it does not hold begins it. Should a commit land in
 * between, the rows from then on come from the newer snapshot (the cache is not read again in
 * that session, and is emptied at its end): a session then reads the store as it was at its
 * start and, after that point, as it is. */
int kv_read_begin(struct kv *kv);
void kv_read_end(struct kv *kv);
/* A session for a scope, ended with it:
 *	_cleanup_kv_read_ struct kv *session = kv_read_scoped(kv);
 * session is kv, or NULL when none could begin (one is open already, or the store refused):
 * the reads then take a transaction each, as outside a session. End it early with
 * kv_read_end(TAKE_PTR(session)). */
static inline struct kv *kv_read_scoped(struct kv *kv)
{
	return kv_read_begin(kv) >= 0 ? kv : NULL;
}
static inline void kv_read_endp(struct kv **kv)
{
	kv_read_end(*kv);
}
#define _cleanup_kv_read_ _cleanup_(kv_read_endp)

/* Names from ids (for the filesystem's inode numbers), rows checked: -ENOENT when gone. An
 * object's names are given whatever its state (deleted too). */
int kv_vault_name(struct kv *kv, int64_t vault_id, char ret_name[VAULTFS_NAME_MAX + 1]);
int kv_object_names(struct kv *kv, int64_t object_id, char ret_vault[VAULTFS_NAME_MAX + 1],
		    char ret_name[VAULTFS_NAME_MAX + 1]);

/* retention_days: how long a soft-deleted object is kept, fixed at creation; 0 =
 * VAULTFS_RETENTION_DEFAULT, else VAULTFS_RETENTION_MIN..MAX (-EINVAL). */
int kv_vault_create(struct kv *kv, const char *name, uint32_t retention_days);
/* Turn purge protection on: a soft-deleted object then cannot be purged before its retention
 * is over (-EPERM). Idempotent (0 when already on); nothing turns it off. -ENOENT no vault. */
int kv_vault_protect(struct kv *kv, const char *name);
/* kv_vault_create with a max-versions (0: none) in the same transaction. */
int kv_vault_create_with(struct kv *kv, const char *name, uint32_t retention_days,
			 uint32_t max_versions);
/* How many versions of each secret the vault keeps: 1..VAULTFS_VERSIONS_MAX, 0 all (-EINVAL
 * otherwise). Applied when a version is added (kv_secret_prune); lowering it prunes nothing by
 * itself. Once set, the vault is one that prunes for good (kv-prune.c): its secrets may lack
 * their oldest versions, which then read -ENOENT, not -EBADMSG. -ENOENT no vault. */
int kv_vault_set_max_versions(struct kv *kv, const char *name, uint32_t max_versions);
int kv_vault_delete(struct kv *kv, const char *name);
int kv_vault_get(struct kv *kv, const char *name, struct kv_vault_info *ret);
int kv_vault_list(struct kv *kv, int (*cb)(const struct kv_vault_info *v, void *ud), void *ud);

/* Pages of the listings: bounded and resumable, for a caller that lists a batch at a time and
 * holds only where it is (a directory listing). Each gives what its listing gives, in the same
 * order and with the same checks (every row read is MAC-checked, those left out too), for the
 * rows after a cursor `after` (exclusive: NULL, "" or version 0 from the first), at most limit
 * rows read, through the store's pages (store.h): O(log n + limit) a page, no row of another
 * vault or object read. They return the number of rows read: fewer than limit when the listing
 * is over. Each page is a read of its own (or of the caller's session, kv_read_begin): pages
 * read at different times see what changed between them, and from a cursor no name is given
 * twice. -EINVAL for limit 0 or over INT_MAX, or an `after` over VAULTFS_NAME_MAX bytes; cb's
 * negative return stops the page and is returned. */
int kv_vault_list_page(struct kv *kv, const char *after, unsigned limit,
		       int (*cb)(const struct kv_vault_info *v, void *ud), void *ud);

/* --- objects: one model for every kind ---
 * A vault holds objects of a kind (enum object_type: secrets, and keys with opaque material
 * until the key operations land; kv-kind.h says what is particular to each). Names, versions,
 * attributes, lifecycle, backup and listing are the same for every kind, and the names of a
 * vault are one space for all of them: a name held by an object of another kind is not one of
 * the kind asked for, so set and restore say -EEXIST (the name is taken) and every other call
 * -ENOENT (no object of this kind has it), as for a name no object holds. A kind kv does not
 * know: -EINVAL. KV_KIND_ANY, in the listings and lookup only, is every kind. The kv_secret_*
 * functions below are these with OBJECT_SECRET. */
#define KV_KIND_ANY 0

/* New version of vault/name (creating the object). attrs NULL = enabled, no dates, no tags.
 * -EMSGSIZE material over the kind's cap, or the kind's refusal of the material. */
int kv_object_set(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		  const void *material, size_t len, const struct kv_attrs *attrs,
		  uint32_t *ret_version);
/* The material of a version (0 = current) after every lifecycle and integrity check. What a
 * caller may do with it (serve a secret's value, use a key) is the caller's. */
int kv_object_get(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		  uint32_t version, struct secbuf **ret_material, struct kv_version_info *ret_info);
/* kv_object_get with the lifecycle check a use needs: PRODUCE all of it (enabled, not-before,
 * expiry: a secret's value, a key's sign, encrypt, wrap), CONSUME only enabled (a key's
 * verify, decrypt, unwrap still work outside its dates, as in Azure Key Vault), ANY none (a
 * key's public half). */
enum kv_use {
	KV_USE_PRODUCE,
	KV_USE_CONSUME,
	KV_USE_ANY,
};
int kv_object_get_for(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		      uint32_t version, enum kv_use use, struct secbuf **ret_material,
		      struct kv_version_info *ret_info);
/* The attributes of a version without decrypting (same checks except the lifecycle ones:
 * a disabled or expired version still has metadata). */
int kv_object_info(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		   uint32_t version, struct kv_version_info *ret);
/* Live objects of the kind (or KV_KIND_ANY) of a vault, or with deleted only the soft-deleted
 * ones, in name order. */
int kv_object_list(struct kv *kv, enum object_type kind, const char *vault, bool deleted,
		   int (*cb)(const struct kv_object_info *o, void *ud), void *ud);
/* A page of kv_object_list (see kv_vault_list_page). The rows read count every kind and state
 * alike, cb is given those asked for; ret_last (may be NULL) is the name of the last row read
 * ("" for none), the cursor of the next page whatever cb was given. */
int kv_object_list_page(struct kv *kv, enum object_type kind, const char *vault, bool deleted,
			const char *after, unsigned limit,
			int (*cb)(const struct kv_object_info *o, void *ud), void *ud,
			char ret_last[VAULTFS_NAME_MAX + 1]);
/* The object `name` of the vault, live or soft-deleted (deleted_at says which), as
 * kv_object_list gives it: one lookup by name, no listing. */
int kv_object_lookup(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		     struct kv_object_info *ret);
/* The versions of a live object, 1 to current (in a vault that prunes, the oldest kept to
 * current: kv_secret_prune). */
int kv_object_versions(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		       int (*cb)(const struct kv_version_info *v, void *ud), void *ud);
/* A page of kv_object_versions: the versions numbered above `after` (see kv_vault_list_page).
 * A page that ends the listing has met the current version (-EBADMSG otherwise). */
int kv_object_versions_page(struct kv *kv, enum object_type kind, const char *vault,
			    const char *name, uint32_t after, unsigned limit,
			    int (*cb)(const struct kv_version_info *v, void *ud), void *ud);
int kv_object_update(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		     uint32_t version, const struct kv_attrs *attrs);
int kv_object_delete(struct kv *kv, enum object_type kind, const char *vault, const char *name);
int kv_object_recover(struct kv *kv, enum object_type kind, const char *vault, const char *name);
int kv_object_purge(struct kv *kv, enum object_type kind, const char *vault, const char *name);

/* Backup of a live object (-ENOENT when missing or soft-deleted), every version with its
 * material and attributes (a secret of a vault that prunes: those not pruned), as one sealed blob (format: kv-backup.c) in a new secure buffer.
 * -EMSGSIZE when the blob would exceed VAULTFS_BACKUP_MAX. No lifecycle check: a disabled or
 * expired version is backed up too. */
int kv_object_backup(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		     struct secbuf **ret_blob);
/* Restore a backup into vault (any vault of this store's master key, not only the one it came
 * from) as an object of the kind it was made of, under its original name, with the same version
 * numbers and attributes, re-encrypted under that vault's keys, in one transaction: all of it
 * or nothing. kind: what the caller restores (or KV_KIND_ANY); a blob of another kind is
 * -EMEDIUMTYPE. The name is given in ret_name. -EEXIST the name is taken (live or
 * soft-deleted, any kind), -EBADMSG the blob does not open or parse (another master key,
 * changed, truncated, wrong magic or format, a kind kv does not know), -EMSGSIZE len over
 * VAULTFS_BACKUP_MAX, -ENOENT no vault, -EXDEV a backup of a secret whose oldest versions
 * were pruned, into a vault that does not prune (kv_vault_set_max_versions). */
int kv_object_restore(struct kv *kv, enum object_type kind, const char *vault, const void *blob,
		      size_t len, char ret_name[VAULTFS_NAME_MAX + 1]);
/* The kind and name a blob restores to, after the same checks as restore (for authorizing it
 * first). ret_kind may be NULL. */
int kv_backup_peek(struct kv *kv, const void *blob, size_t len, enum object_type *ret_kind,
		   char ret_name[VAULTFS_NAME_MAX + 1]);

/* --- secrets: the objects of kind OBJECT_SECRET (each is its kv_object_* above) --- */

int kv_secret_set(struct kv *kv, const char *vault, const char *name, const void *value, size_t len,
		  const struct kv_attrs *attrs, uint32_t *ret_version);
int kv_secret_get(struct kv *kv, const char *vault, const char *name, uint32_t version,
		  struct secbuf **ret_value, struct kv_version_info *ret_info);
int kv_secret_info(struct kv *kv, const char *vault, const char *name, uint32_t version,
		   struct kv_version_info *ret);
int kv_secret_list(struct kv *kv, const char *vault, bool deleted,
		   int (*cb)(const struct kv_object_info *s, void *ud), void *ud);
int kv_secret_list_page(struct kv *kv, const char *vault, bool deleted, const char *after,
			unsigned limit, int (*cb)(const struct kv_object_info *s, void *ud),
			void *ud, char ret_last[VAULTFS_NAME_MAX + 1]);
int kv_secret_lookup(struct kv *kv, const char *vault, const char *name,
		     struct kv_object_info *ret);
int kv_secret_versions(struct kv *kv, const char *vault, const char *name,
		       int (*cb)(const struct kv_version_info *v, void *ud), void *ud);
int kv_secret_versions_page(struct kv *kv, const char *vault, const char *name, uint32_t after,
			    unsigned limit, int (*cb)(const struct kv_version_info *v, void *ud),
			    void *ud);
int kv_secret_update(struct kv *kv, const char *vault, const char *name, uint32_t version,
		     const struct kv_attrs *attrs);
int kv_secret_delete(struct kv *kv, const char *vault, const char *name);
int kv_secret_recover(struct kv *kv, const char *vault, const char *name);
int kv_secret_purge(struct kv *kv, const char *vault, const char *name);
/* A secret whose oldest versions were pruned: the versions kept (kv_object_restore). */
int kv_secret_backup(struct kv *kv, const char *vault, const char *name, struct secbuf **ret_blob);
/* A blob of another kind: -EMEDIUMTYPE. */
int kv_secret_restore(struct kv *kv, const char *vault, const void *blob, size_t len,
		      char ret_name[VAULTFS_NAME_MAX + 1]);
/* The vault's max-versions (kv-prune.c): prune the secret's oldest versions but the current
 * one while it has more than max_versions (none when the vault has no max-versions), oldest
 * first, in one transaction; with purge protection on, none superseded (its next version
 * made) less than the vault's retention ago. cb is told of each version before its row goes
 * (the caller records it); its error stops and undoes the prune and is returned. Returns how
 * many were pruned. A pruned version is gone: its ciphertext and its row (the version reads
 * -ENOENT; secret versions lists those kept). Keys and certificates are never pruned. */
int kv_secret_prune(struct kv *kv, const char *vault, const char *name,
		    int (*cb)(const char *vault, const char *name, uint32_t version, void *ud),
		    void *ud);
/* A new current version whose bytes, content type and tags are version `to`'s (dates none,
 * enabled), made inside kv: the value is never given to the caller. -ENOENT no such version
 * (or pruned), -EKEYREVOKED `to` is disabled (enable it first: its bytes were taken out of
 * use on purpose), kv_secret_set's errors. The version made in *ret_version. */
int kv_secret_rollback(struct kv *kv, const char *vault, const char *name, uint32_t to,
		       uint32_t *ret_version);
/* kv_backup_peek's name alone. */
int kv_backup_name(struct kv *kv, const void *blob, size_t len,
		   char ret_name[VAULTFS_NAME_MAX + 1]);

/* Azure's scheduled purge: purge soft-deleted objects (of every kind) whose vault's retention
 * has passed, at most a batch a call. cb (vault, name) is told of each first (the caller
 * records it); its error stops before that purge. Returns how many were purged, plus one when
 * the batch was full (call again), or the first error. */
int kv_purge_due(struct kv *kv, int (*cb)(const char *vault, const char *name, void *ud), void *ud);

/* Expiry notices. For every version with an expiry of every live (not soft-deleted) object,
 * disabled ones too, cb is called once with KV_NEAR_EXPIRY when now >= expires - horizon and
 * now < expires, and once with KV_EXPIRED when now >= expires (a version first seen expired
 * gets only KV_EXPIRED). "Once" holds across restarts: a notice is recorded in the store after
 * cb returned >= 0 (a batch at a time: a crash in between gives it again, never loses it); a cb
 * error stops the scan, is returned, and leaves that notice unrecorded (it comes again next
 * scan). Changing a version's expiry arms its notices again. horizon < 0
 * or cb NULL: -EINVAL. The walk is an index range: a scan with nothing due reads no version.
 * cb runs outside any store transaction and may call kv. */
enum { KV_NEAR_EXPIRY = 1, KV_EXPIRED = 2 };
int kv_expiry_scan(struct kv *kv, int64_t horizon,
		   int (*cb)(const char *vault, const char *name, uint32_t version, int64_t expires,
			     int event, void *ud),
		   void *ud);

/* --- keys: the objects of kind OBJECT_KEY (kv-key.c) ---
 * A key's versions are made here (create in software or in the TPM reached by tcti, import,
 * rotate: a new version of the same type, protection and key_ops) and used here, the private
 * half never leaving: sign/encrypt/wrap take the current version (or, sign, the one given)
 * after every lifecycle check; verify/decrypt/unwrap the version given (0: current), disabled
 * refused but outside its dates allowed (AKV's rule). The other lifecycle calls are the
 * kv_object_* ones with OBJECT_KEY. Errors beyond kv's: -EPERM the key's key_ops do not allow
 * the operation; -EOPNOTSUPP an algorithm the type or the operation cannot use, a TPM that
 * cannot make the type; key-soft.h's and tpm-key.h's (-EINVAL wrong length or encoding,
 * -EMSGSIZE input over its cap, -EBADMSG a signature or ciphertext that does not verify,
 * -ENOKEY an encrypted import). */
struct kv_key_spec {
	enum key_type type;
	enum key_protection protection;
	unsigned ops; /* enum key_op bits; 0: all the type can do */
	bool exportable;
};
struct kv_key_public {
	uint32_t version;
	enum key_type type;
	enum key_protection protection;
	unsigned ops;
	bool exportable;
	uint8_t spki[KEY_PUBLIC_DER_MAX]; /* SubjectPublicKeyInfo DER; none (0) for AES */
	size_t spki_len;
	struct kv_version_info info;
};
int kv_key_create(struct kv *kv, const char *tcti, const char *vault, const char *name,
		  const struct kv_key_spec *spec, const struct kv_attrs *attrs,
		  uint32_t *ret_version);
/* A PEM (PKCS#1, SEC1, PKCS#8), OpenSSH or JWK private key (key-soft.h), as a software key. */
int kv_key_import(struct kv *kv, const char *vault, const char *name, const uint8_t *in, size_t n,
		  unsigned ops, bool exportable, const struct kv_attrs *attrs,
		  uint32_t *ret_version);
int kv_key_rotate(struct kv *kv, const char *tcti, const char *vault, const char *name,
		  const struct kv_attrs *attrs, uint32_t *ret_version);
/* kv_key_public, kv_key_sign, kv_key_sign_spki and kv_key_verify take a certificate's name too
 * (AKV: certificate n has key n): its version `version` (0: the newest issued; a pending one
 * has no key to use: -ENOENT), with the same lifecycle checks; rotate and the encryptions do
 * not (-ENOENT). */
/* The public half and what the key is, of any version not deleted (no lifecycle check). */
int kv_key_public(struct kv *kv, const char *vault, const char *name, uint32_t version,
		  struct kv_key_public *ret);
/* in: the digest (key_alg_digest_len) or, EdDSA, the message. sig holds *siglen bytes. */
int kv_key_sign(struct kv *kv, const char *tcti, const char *vault, const char *name,
		uint32_t version, enum key_alg alg, const uint8_t *in, size_t n, uint8_t *sig,
		size_t *siglen, uint32_t *ret_version);
/* kv_key_sign with the current version, only when its public half is spki (the SPKI DER a caller
 * named, as an ssh-agent client does): the key's record is decrypted once for both. -ESTALE
 * when the current version has another public half (nothing signed). */
int kv_key_sign_spki(struct kv *kv, const char *tcti, const char *vault, const char *name,
		     const uint8_t *spki, size_t spki_len, enum key_alg alg, const uint8_t *in,
		     size_t n, uint8_t *sig, size_t *siglen, uint32_t *ret_version);
int kv_key_verify(struct kv *kv, const char *vault, const char *name, uint32_t version,
		  enum key_alg alg, const uint8_t *in, size_t n, const uint8_t *sig, size_t siglen);
/* op KEY_OP_ENCRYPT or KEY_OP_WRAP, with the current version (*ret_version says which). */
int kv_key_encrypt(struct kv *kv, const char *vault, const char *name, enum key_op op,
		   enum key_alg alg, const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t n,
		   uint8_t *out, size_t *outlen, uint32_t *ret_version);
/* op KEY_OP_DECRYPT or KEY_OP_UNWRAP, with version (0: current). */
int kv_key_decrypt(struct kv *kv, const char *tcti, const char *vault, const char *name,
		   uint32_t version, enum key_op op, enum key_alg alg, const uint8_t *aad,
		   size_t aadlen, const uint8_t *in, size_t n, struct secbuf **ret);
/* A key's rotation policy (kv-rotation.c), in seconds, 0 for none: rotate when the current
 * version is rotate_after old, notify (once a version) when it expires within notify_before,
 * and make every new version (rotate, the daemon's rotations) expire expires_after after it
 * is made. set with all zero removes it; get: -ENOENT none; expiry: the expiry a version made
 * now gets (0: none). kv_key_rotation_due, the daemon's pass: rotates and notifies what is due
 * (at most a batch: it returns 1 when more may be due, 0 when done), calling cb with each. */
struct kv_key_rotation {
	int64_t rotate_after, notify_before, expires_after;
};
enum kv_rotation_event {
	KV_ROTATION_NONE = 0,
	KV_ROTATION_ROTATE,   /* new_version made (or err); a certificate's renewal */
	KV_ROTATION_EXPIRING, /* version expires within notify_before */
	KV_ROTATION_EXPIRED,  /* a certificate's newest issued version has expired */
	KV_ROTATION_PENDING,  /* an ACME certificate's pending version waits for its issuer */
	/* a certificate's near-expiry notice (the certificate contract's name) */
	KV_ROTATION_NOTIFY = KV_ROTATION_EXPIRING,
};
struct kv_rotation_notice {
	const char *vault, *name;
	enum kv_rotation_event event;
	uint32_t version, new_version;
	int err;
	const char *why; /* a certificate renewal's failure, for a person; NULL otherwise */
};
int kv_key_rotation_set(struct kv *kv, const char *vault, const char *name,
			const struct kv_key_rotation *policy);
int kv_key_rotation_get(struct kv *kv, const char *vault, const char *name,
			struct kv_key_rotation *ret);
int kv_key_rotation_expiry(struct kv *kv, const char *vault, const char *name, int64_t *ret);
int kv_key_rotation_due(struct kv *kv, const char *tcti,
			int (*cb)(const struct kv_rotation_notice *n, void *ud), void *ud);
/* Is this a key record (kv-kind.h's check of a key version's material)? 0 or -EINVAL. */
int kv_key_check_material(const void *material, size_t len);

/* --- certificates: the objects of kind OBJECT_CERT (kv-cert.c) ---
 * A certificate is one object: each version's material is a certificate record holding the
 * chain (DER, leaf first), its private key (a key record as a key version's, software or TPM,
 * never leaving the daemon) and the policy the version was made by. The key lives in the
 * certificate's own versions, not in a key object of the same name: a vault's names are one
 * space for every kind (the store's UNIQUE (vault, name)), and so delete, recover, purge and
 * backup move a certificate with its key. A version's not-before and expiry are its leaf's.
 * Issuers: self (self-signed), a vault CA ("VAULT/NAME": a certificate of that store whose
 * current version is a CA; its key signs), external (a pending version holds a CSR until
 * kv_cert_merge completes it with the CA's chain as a new version), ACME (a pending version
 * as external's, completed by the daemon's ACME client through kv_cert_merge). Beside its
 * versions a certificate has a state row (kv_cert_set_policy, kv_cert_renewal_get). Version 0
 * in the calls below is the newest issued version (a pending one is never served). Errors
 * beyond kv's and x509.h's: -EPERM a key view of a key that is not exportable, an issuer that
 * is not a CA; -EALREADY merge with no pending version; -ENOENT a pending version asked for
 * its views. */
enum kv_cert_issuer {
	KV_CERT_SELF = 1,
	KV_CERT_VAULT_CA,
	KV_CERT_EXTERNAL, /* a CSR for any CA, completed by kv_cert_merge */
	KV_CERT_IMPORTED, /* only as a version's source: renewal of an import is external */
	KV_CERT_ACME,	  /* a CSR the daemon's ACME client gets signed, completed by merge */
};
/* An ACME policy's directory URL ("https://" or "http://", printable ASCII, no space) and
 * contact (an email address "user@host", may be NULL), at most these bytes. */
#define KV_CERT_ACME_URL_MAX 1024u
#define KV_CERT_ACME_CONTACT_MAX 254u
/* What the next version is made by. subject and SANs as x509_profile; key_type and protection
 * (software or tpm; tpm keys are never exportable: -EINVAL); validity in seconds; renewal:
 * renew_before seconds before expiry or at renew_percent (1..99) of the lifetime, notify
 * notify_before seconds before expiry (0: none). issuer_name: "VAULT/NAME" for
 * KV_CERT_VAULT_CA, else NULL. is_ca with path_len (< 0: no limit). */
struct kv_cert_policy {
	const char *subject;
	const struct x509_san *sans;
	size_t n_sans;
	enum key_type key_type;
	enum key_protection protection;
	bool exportable;
	bool reuse_key;
	int64_t validity;
	unsigned key_usage, ext_key_usage;
	enum kv_cert_issuer issuer;
	const char *issuer_name;
	bool is_ca;
	int path_len;
	int64_t renew_before;
	unsigned renew_percent;
	int64_t notify_before;
	/* KV_CERT_ACME only (else NULL or ""; -EINVAL otherwise): the ACME server's directory
	 * and the account's contact email (may be NULL). An ACME policy names at least one SAN,
	 * each DNS or IP, and is not a CA's. */
	const char *acme_directory;
	const char *acme_contact;
};
/* A version as kv_cert_get gives it; kv_cert_info_done frees what it holds. */
struct kv_cert_info {
	uint32_t version;
	bool pending;		    /* a CSR waiting for kv_cert_merge: no chain */
	enum kv_cert_issuer source; /* how this version was made */
	struct x509_chain *chain;   /* leaf first; NULL when pending */
	uint8_t *csr;		    /* the CSR (DER) of a pending version */
	size_t csr_len;
	char serial[X509_SERIAL_HEX_MAX]; /* the leaf's ("" when pending) */
	char *subject, *issuer;		  /* the leaf's, RFC 4514 (NULL when pending) */
	int64_t not_before, not_after;
	enum key_type key_type;
	enum key_protection protection;
	bool exportable;
	uint8_t spki[KEY_PUBLIC_DER_MAX];
	size_t spki_len;
	struct kv_cert_policy policy; /* the policy this version was made by */
	struct kv_version_info info;
	void *mem_; /* what the policy's strings point into */
};
void kv_cert_info_done(struct kv_cert_info *i);
/* A new version by policy (NULL: the next version's, kv_cert_get_policy, i.e. a renewal). Its
 * key: a new one, or the newest version's when reuse_key. Issued at once (self, vault CA) or
 * pending (external, ACME). A policy given here is the next version's from then on (one set
 * by kv_cert_set_policy before is dropped). Success clears the failed renewals
 * (kv_cert_renewal_get); so do merge and import. Names: a certificate X and an object named
 * X.crt, X.chain.crt, X.key, X.pem or X.p12 (the certificate's views), or a certificate
 * X.chain, cannot be in one vault (-EEXIST, whichever came first), for every kind's set,
 * restore and recover. */
int kv_cert_create(struct kv *kv, const char *tcti, const char *vault, const char *name,
		   const struct kv_cert_policy *policy, uint32_t *ret_version);
int kv_cert_renew(struct kv *kv, const char *tcti, const char *vault, const char *name,
		  uint32_t *ret_version);
/* The chain (PEM or DER, any order) of the pending version, its leaf of the pending key
 * (-EKEYREJECTED otherwise), each signed by the next: a new issued version. */
int kv_cert_merge(struct kv *kv, const char *vault, const char *name, const uint8_t *in, size_t n,
		  uint32_t *ret_version);
/* A PEM (key + certificates, any order) or, p12, a PKCS#12 under password (NULL: empty): a new
 * version with a software key, the chain put in order and checked. Its policy: the leaf's
 * subject, SANs, usages and lifetime, issuer external, no renewal. */
int kv_cert_import(struct kv *kv, const char *vault, const char *name, const uint8_t *in, size_t n,
		   bool p12, const char *password, bool exportable, uint32_t *ret_version);
/* A version (0: the newest issued, pending ones skipped; a number: that one, pending too), no
 * lifecycle check (what it says is public). */
int kv_cert_get(struct kv *kv, const char *vault, const char *name, uint32_t version,
		struct kv_cert_info *ret);
/* A view of one version (0: the newest issued) after every lifecycle check, in a secbuf
 * (NUL-terminated, len without it; P12 binary): CRT leaf + intermediates, CHAIN the rest after
 * the leaf, KEY the PKCS#8 PEM, PEM the key + CRT, P12 a PKCS#12 (empty password) of the key and
 * chain. KEY, PEM, P12: -EPERM unless the key is exportable. */
enum kv_cert_view {
	KV_CERT_VIEW_CRT = 1,
	KV_CERT_VIEW_CHAIN,
	KV_CERT_VIEW_KEY,
	KV_CERT_VIEW_PEM,
	KV_CERT_VIEW_P12,
};
int kv_cert_view(struct kv *kv, const char *vault, const char *name, uint32_t version,
		 enum kv_cert_view view, struct secbuf **ret);
/* The exact length kv_cert_view would give now (without a PKCS#12's NUL, as its len), with
 * kv_cert_view's checks and errors, computed without making the view but for .p12 (made with
 * few PBKDF2 iterations, measured and wiped: x509_export_p12_size). For the file system,
 * which asks at every stat. */
int kv_cert_view_size(struct kv *kv, const char *vault, const char *name, uint32_t version,
		      enum kv_cert_view view, size_t *ret);
/* kv_cert_get without what needs the certificate parsed or the policy read: info, version,
 * pending, source, key_type, protection, exportable, spki and (issued) chain are set; policy,
 * csr, serial, subject, issuer and the dates are left empty. kv_cert_info_done frees it. */
int kv_cert_head(struct kv *kv, const char *vault, const char *name, uint32_t version,
		 struct kv_cert_info *ret);
/* The daemon's pass over every live certificate, by its next version's policy, calling cb with
 * each notice:
 * - self and vault CA: renewed when due (KV_ROTATION_ROTATE, new_version or err and why); a
 *   failure is recorded (kv_cert_renewal_failed: a CA missing or not a CA says so) and not
 *   tried again before its next_try;
 * - ACME: when due, a pending version (key + CSR) is made; a newest version that is pending
 *   and whose next_try has come is told as KV_ROTATION_PENDING (version: the pending one) for
 *   the caller's ACME client to complete (kv_cert_merge) or fail (kv_cert_renewal_failed);
 * - every issuer: KV_ROTATION_NOTIFY when the newest issued version expires within the
 *   policy's notify_before, KV_ROTATION_EXPIRED when it has expired, once per version (kept
 *   in the state row; err says whether that was recorded).
 * External certificates are never renewed here. At most a batch of renewals (1 when more may
 * be due, 0 when done) and a batch of pending notices a pass (the rest at a later pass: a
 * pending version is told until merged or failed, so those told first must be, to let the
 * others be told). */
int kv_cert_due(struct kv *kv, const char *tcti,
		int (*cb)(const struct kv_rotation_notice *n, void *ud), void *ud);
/* The policy the next version of vault/name is made by (kv_cert_renew, the daemon's pass),
 * kept in the certificate's state row (MAC'd, in the row sum). set: checked as create checks
 * it (-EINVAL), -ENOENT no such certificate. get fills ret->policy (and nothing else but
 * ret->version, the newest version's number): the one set, else the newest version's;
 * kv_cert_info_done frees it. */
int kv_cert_set_policy(struct kv *kv, const char *vault, const char *name,
		       const struct kv_cert_policy *p);
int kv_cert_get_policy(struct kv *kv, const char *vault, const char *name,
		       struct kv_cert_info *ret);
/* Renewals that failed in a row: how many, when the last was tried and its -errno and reason,
 * and the time before which the daemon does not try again (next_try). All zero when none was
 * recorded (-ENOENT no such certificate). renewal_failed records one more: the n-th failure in
 * a row waits min(60 s << (n - 1), 6 h) (next_try = now + that); err < 0, why a reason for a
 * person (NULL: none; cut to 127 bytes, control characters made '?'). A version made or
 * merged clears them. */
struct kv_cert_renewal {
	uint32_t failures;
	int64_t last_attempt, next_try;
	int last_err;
	char last_error[128];
};
#define KV_CERT_BACKOFF_MIN INT64_C(60)
#define KV_CERT_BACKOFF_MAX INT64_C(21600)
int kv_cert_renewal_get(struct kv *kv, const char *vault, const char *name,
			struct kv_cert_renewal *ret);
int kv_cert_renewal_failed(struct kv *kv, const char *vault, const char *name, int err,
			   const char *why);
/* Is this a certificate record (kv-kind.h's check)? 0 or -EINVAL. */
int kv_cert_check_material(const void *material, size_t len);
