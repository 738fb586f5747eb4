/* kv-int.h: what the parts of kv (kv.c, kv-*.c) share and nothing outside them may use: the
 * struct kv, its tables of unwrapped keys and its cache of checked rows, and the helpers each
 * part gives the others. Included only by core/kv*.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "crypto.h"
#include "kv-kind.h"
#include "kv.h"
#include "store.h"
#include "util.h"

struct fleet_body;

/* Verified rows, for the generation they were read under. Bounded whatever the store holds:
 * a slot is reused round-robin. An empty slot has id (object_id) 0: ids start at 1. */
#define KV_CACHE_VAULTS 8u
#define KV_CACHE_OBJECTS 16u
#define KV_CACHE_VERSIONS 8u
/* Keys kept unwrapped, in one locked buffer made by kv_new (so keeping one never fails for
 * want of memory) and wiped when a slot is taken again and at kv_free: vault keys, one unwrap
 * per vault, and data keys, one unwrap per version read, not per read. */
#define KV_VAULT_KEYS 8u
#define KV_DATA_KEYS 32u
#define KV_KEYS (KV_VAULT_KEYS + KV_DATA_KEYS)

/* An unwrapped vault key (slot i: bytes i of the key buffer), for the vault row whose id and
 * wrapped key it came from. serial names this unwrap: no other fill of any slot has it. */
struct vault_key_slot {
	int64_t id; /* 0: empty */
	uint64_t serial;
	uint8_t wrapped[CRYPTO_WRAPPED_KEY_LEN];
};

/* An unwrapped data key (slot i: bytes KV_VAULT_KEYS + i), for every input its unwrap had: the
 * vault key (the serial of its slot's fill), the AAD's fields and the row's wrapped bytes. */
struct data_key_slot {
	uint64_t vkey_serial; /* 0: empty */
	int64_t vault_id, object_id;
	uint32_t version;
	int type;
	uint8_t wrapped[CRYPTO_WRAPPED_KEY_LEN];
};

/* A vault key borrowed from the table: valid until the next kv_vault_key() call. */
struct vkey {
	const uint8_t *key;
	uint64_t serial;
	int64_t vault_id;
};

struct kv_cache {
	bool valid; /* gen was read: the entries hold for it */
	struct store_generation gen;
	/* taken before the transaction that read gen: while the store says it still holds (no
	 * commit anywhere since), a session needs no transaction for what the cache has */
	struct store_mark mark;
	bool marked;
	struct store_vault vault[KV_CACHE_VAULTS];
	struct store_object object[KV_CACHE_OBJECTS];
	bool object_full[KV_CACHE_OBJECTS]; /* its current-version pointer was checked too */
	struct store_version version[KV_CACHE_VERSIONS]; /* with the ciphertext */
	unsigned next_vault, next_object, next_version;
};

/* The read session (kv_read_begin .. kv_read_end) a kv is in. */
enum kv_read_state {
	KV_READ_NONE,	  /* none: each call reads in a transaction of its own */
	KV_READ_DEFERRED, /* a session without its transaction yet: every row so far came from the
			   * cache, nothing having been committed anywhere since it was filled */
	KV_READ_OPEN,	  /* a session in its read transaction; the cache holds for its snapshot */
	KV_READ_STALE,	  /* a session whose transaction began after a commit: the cache is not
			   * read, and is emptied when the session ends */
};

struct kv {
	struct store *store;
	struct secbuf *master;
	struct secbuf *mac_key;	  /* HKDF(M, "vaultfs mac v1") */
	struct crypto_mac *mac;	  /* keyed with mac_key once, for every row MAC */
	struct secbuf *wrap_key;  /* HKDF(M, "vaultfs vault-wrap v1") */
	int64_t clock;		  /* 0 = real time */
	enum kv_read_state read;  /* of the kv_read_begin() session */
	struct crypto_aead *aead; /* the one AES-256-GCM context of every value and key op */
	struct kv_cache cache;
	struct secbuf *keys; /* KV_KEYS unwrapped keys: the vault keys', then the data keys' */
	struct vault_key_slot vkey[KV_VAULT_KEYS];
	struct data_key_slot dkey[KV_DATA_KEYS];
	unsigned next_vkey, next_dkey;
	uint64_t serial; /* of the last vault key slot fill */
	/* the rollback guard (kv-epoch.c) */
	struct crypto_mac *rows_mac; /* keyed with HKDF(M, "vaultfs rows v1"): f of the row sum */
	uint64_t epoch, anchor_min;  /* kv_epoch() */
	uint64_t changes;	     /* kv_changes() */
	/* a fleet vault's changes go through the center first (kv-fleet.h); NULL: refused */
	int (*fleet_commit)(void *ud, const char *vault, const struct fleet_body *b,
			    const struct secbuf *material);
	void *fleet_ud;
};

/* The `bytes` low bytes of v, little-endian, at p: every integer kv serializes (MAC input, AAD,
 * backup blobs). */
static inline void kv_put_le(uint8_t *p, uint64_t v, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* kv.c: keys and envelope encryption */
int64_t kv_now(const struct kv *kv);
/* HKDF(M, label) into a new secure buffer. */
int kv_derive(struct kv *kv, const char *label, struct secbuf **ret);
size_t kv_vault_aad(int64_t vault_id, uint8_t aad[32]);
int kv_vault_key(struct kv *kv, const struct store_vault *v, struct vkey *ret);
int kv_seal_value(struct kv *kv, const struct vkey *vk, const struct store_object *o,
		  uint32_t version, const void *value, size_t len, struct store_version *row);
int kv_seal_version(struct kv *kv, const struct store_vault *v, const struct store_object *o,
		    uint32_t version, const void *value, size_t len, struct store_version *row);
int kv_open_value(struct kv *kv, const struct vkey *vk, const struct store_object *o,
		  const struct store_version *row, uint8_t *out);
int kv_open_version(struct kv *kv, const struct store_vault *v, const struct store_object *o,
		    const struct store_version *row, struct secbuf **ret);

/* kv-mac.c: row MACs and the checked loads of rows (no cache) */
int kv_vault_mac(const struct kv *kv, const struct store_vault *v, uint8_t out[CRYPTO_MAC_LEN]);
int kv_object_mac(const struct kv *kv, const struct store_object *o, uint8_t out[CRYPTO_MAC_LEN]);
int kv_version_mac(const struct kv *kv, const struct store_version *v, uint8_t out[CRYPTO_MAC_LEN]);
int kv_vault_verify(const struct kv *kv, const struct store_vault *v);
int kv_object_verify(const struct kv *kv, const struct store_object *o);
int kv_version_verify(const struct kv *kv, const struct store_version *v);
int kv_load_vault(struct kv *kv, const char *name, struct store_vault *ret);
/* The object named name in vault v, checked (its current-version pointer too); live only
 * unless any_state. */
int kv_load_object(struct kv *kv, const struct store_vault *v, const char *name, bool any_state,
		   struct store_object *ret);
/* The vault and the object of kind vault/name (kv_load_object; another kind: -ENOENT). */
int kv_load_named(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		  bool any_state, struct store_vault *ret_v, struct store_object *ret_o);
/* -EBADMSG unless o's current-version pointer names its newest version row. */
int kv_check_current(struct kv *kv, const struct store_object *o);
/* -ENOENT unless o is of kind (any for KV_KIND_ANY): a name held by another kind is not one of
 * this kind. */
static inline int kv_check_kind(const struct store_object *o, enum object_type kind)
{
	return kind == KV_KIND_ANY || o->type == (int)kind ? 0 : -ENOENT;
}
/* The number of version `version` of o (0: the current one) or -ENOENT. */
static inline int kv_version_number(const struct store_object *o, uint32_t version)
{
	if (version == 0)
		version = o->current_version;
	if (version == 0 || version > o->current_version || version > INT32_MAX)
		return -ENOENT;
	return (int)version;
}
/* The rows of an id, checked (an object's pointer not: kv_check_current). */
int kv_load_vault_id(struct kv *kv, int64_t id, struct store_vault *ret);
int kv_load_object_id(struct kv *kv, int64_t id, struct store_object *ret);
/* Version `version` (1..current) of o, checked, with its ciphertext unless meta: -EBADMSG when
 * missing (the pointer says it exists) or shorter than a seal; ret is emptied on failure. */
int kv_load_version(struct kv *kv, const struct store_object *o, uint32_t version, bool meta,
		    struct store_version *ret);
/* A row read as version `version` of o: its MAC, that it is that version, and a whole seal. */
int kv_check_version(const struct kv *kv, const struct store_object *o, uint32_t version,
		     const struct store_version *row);

/* kv-prune.c: a vault's max-versions. Version `version` of o, below its current version, has
 * no row: -ENOENT when o's vault prunes (the version was pruned), else -EBADMSG (a row taken
 * away). Reads o's vault row (checked) in the caller's transaction. */
int kv_version_gone(struct kv *kv, const struct store_object *o, uint32_t version);

/* kv-session.c: transactions, read sessions, the cache of checked rows */
void kv_cache_clear(struct kv *kv);
/* A write transaction (-EBUSY inside a session); end commits when r >= 0, else rolls back, and
 * returns r or the commit's error. */
int kv_write_begin(struct kv *kv);
int kv_write_end(struct kv *kv, int r);
/* The reads of one call through the cache: the session's, or a read transaction of its own;
 * end returns r. */
int kv_read_call_begin(struct kv *kv);
int kv_read_call_end(struct kv *kv, int r);
/* Before a read of the store itself: begins a deferred session's transaction. */
int kv_read_need_store(struct kv *kv);
/* May rows be taken from the cache now? */
static inline bool kv_cache_usable(const struct kv *kv)
{
	return kv->read != KV_READ_STALE;
}
/* A read transaction of its own for a read that passes the cache by (-EBUSY in a session). */
int kv_own_read_begin(struct kv *kv);
int kv_own_read_end(struct kv *kv, int r);
int kv_cached_vault(struct kv *kv, const char *name, struct store_vault *ret);
int kv_cached_vault_id(struct kv *kv, int64_t id, struct store_vault *ret);
int kv_cached_object(struct kv *kv, const struct store_vault *v, const char *name, bool any_state,
		     struct store_object *ret);
int kv_cached_object_id(struct kv *kv, int64_t id, struct store_object *ret);
int kv_cached_version(struct kv *kv, const struct store_object *o, uint32_t version,
		      const struct store_version **ret);
/* kv_load_named() through the cache. */
int kv_cached_named(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		    bool any_state, struct store_vault *ret_v, struct store_object *ret_o);
/* Version `version` (0: current) of the live object of kind (-ENOENT for another) vault/name
 * through the cache: kv_cached_version's row. */
int kv_cached_row(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		  uint32_t version, struct store_vault *ret_v, struct store_object *ret_o,
		  const struct store_version **ret_row);

/* kv-epoch.c: the row sum's f (store_row_fn), and the state a write transaction leaves,
 * bound in the store's epoch record before it commits (no record: nothing to do). */
int kv_rows_fn(void *ud, const uint8_t mac[CRYPTO_MAC_LEN], uint8_t out[STORE_SUM_LEN]);
int kv_epoch_commit_state(struct kv *kv);

/* kv-cert.c: the one name space of a vault with a certificate's views in it (kv.h): -EEXIST
 * when an object named name of kind would clash with an object of v (any state, any kind): a
 * certificate X beside X.crt, X.chain.crt, X.key, X.pem, X.p12, or a certificate X.chain.
 * Inside the caller's transaction. */
int kv_name_clash(struct kv *kv, const struct store_vault *v, enum object_type kind,
		  const char *name);

/* kv-cert-policy.c: a certificate's policy as bytes (the record's layout), and checked */
int kv_cert_policy_check(const struct kv_cert_policy *p);
int kv_cert_policy_encode(const struct kv_cert_policy *p, uint8_t **ret, size_t *ret_len);
/* The policy's strings in one heap block *mem the result points into. -EINVAL not one. */
int kv_cert_policy_decode(const uint8_t *p, size_t n, struct kv_cert_policy *ret, void **mem);
/* the policy's bytes at the end of w (a certificate record embeds them) */
struct bytes_wr;
void kv_cert_policy_put(struct bytes_wr *w, const struct kv_cert_policy *p);
/* The key record (kv-key.c's layout) of version `version` (0: the newest issued) of the
 * certificate vault/name, after the lifecycle check of use: for the key operations by a
 * certificate's name. -ENOENT no such certificate, or that version is pending. */
int kv_cert_keyrec(struct kv *kv, const char *vault, const char *name, uint32_t version,
		   enum kv_use use, struct secbuf **ret, struct kv_version_info *ret_info);

/* The rows a backup carries besides the versions (kv-backup.c): a key's rotation policy
 * (kv-rotation.c) and a certificate's state (kv-cert-state.c). load: the row of object_id,
 * its MAC checked, inside the caller's transaction (-ENOENT none; a cert state row is
 * store_cert_state_done()d by the caller); put: stamps, MACs and writes it inside the caller's
 * write transaction. */
int kv_rotation_load(struct kv *kv, int64_t object_id, struct store_rotation *ret);
int kv_rotation_put(struct kv *kv, struct store_rotation *p);
int kv_cert_state_load(struct kv *kv, int64_t object_id, struct store_cert_state *ret);
int kv_cert_state_put(struct kv *kv, struct store_cert_state *c);

/* kv-cert-state.c: a certificate's state row (store_cert_state), checked. read: -ENOENT no
 * such live certificate; *ret_found false (ret zeroed) when it has no row. policy: the policy
 * set for the next version (-ENODATA none set). made: a version was made (failures cleared;
 * drop_policy: a set policy dropped too); noticed: the notice event (KV_ROTATION_NOTIFY or
 * KV_ROTATION_EXPIRED) given for version. Each write a transaction of its own. */
int kv_cert_state_read(struct kv *kv, const char *vault, const char *name,
		       struct store_cert_state *ret, bool *ret_found);
int kv_cert_state_policy(struct kv *kv, const char *vault, const char *name,
			 struct kv_cert_policy *ret, void **mem);
int kv_cert_state_made(struct kv *kv, const char *vault, const char *name, bool drop_policy);
int kv_cert_state_noticed(struct kv *kv, const char *vault, const char *name,
			  enum kv_rotation_event event, uint32_t version);

/* kv-fleet.c: a change to an object of a fleet vault goes to the center (kv->fleet_commit),
 * which applies it here after; KV_FLEET_LOCAL: the vault is a local one, do it here. */
#define KV_FLEET_LOCAL 1
int kv_fleet_route_set(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		       const void *material, size_t len, const struct kv_attrs *attrs,
		       uint32_t *ret_version);
int kv_fleet_route_update(struct kv *kv, enum object_type kind, const char *vault, const char *name,
			  uint32_t version, const struct kv_attrs *attrs);
/* -EOPNOTSUPP when v is a fleet vault (a write that does not travel: a restore), inside the
 * caller's transaction; 0 for a local one. */
int kv_fleet_local_only(struct kv *kv, const struct store_vault *v);
/* op: 3 delete, 4 recover, 5 purge (enum fleet_op) */
int kv_fleet_route_lifecycle(struct kv *kv, enum object_type kind, const char *vault,
			     const char *name, int op);

/* kv-attrs.c: attributes */
/* s has at most max bytes, no control character, and is not empty unless allow_empty. */
bool kv_text_ok(const char *s, size_t max, bool allow_empty);
/* "k=v" strings to the canonical form: sorted by key, one "k=v\n" each, no duplicate keys. */
int kv_tags_canonical(const char *const *tags, size_t n, char **ret);
/* Apply attrs (KEEP fields untouched) to a version row, everything checked first. */
int kv_apply_attrs(struct store_version *v, const struct kv_attrs *a);
void kv_version_info_fill(const struct store_version *v, struct kv_version_info *ret);
