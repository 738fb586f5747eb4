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
 * Errors: -EINVAL bad name or attribute, -ENOENT no such vault/secret/version (or deleted),
 * -EEXIST name taken (a soft-deleted secret still holds its name until purged),
 * -EMSGSIZE value over VAULTFS_VALUE_MAX, -EKEYREVOKED disabled, -EKEYEXPIRED expired,
 * -EKEYREJECTED not yet valid, -EBADMSG integrity failure (MAC or AEAD), -ENOTEMPTY vault not
 * empty, -EPERM purge refused by purge protection, plus the store's errors. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "limits.h"
#include "secbuf.h"
#include "store.h"

struct kv;

/* Take ownership of an open store and the master key (both freed by kv_free, also on error). */
int kv_new(struct store *s, struct secbuf *master, struct kv **ret);
void kv_free(struct kv *kv);
/* Tests move the clock: 0 = real time. */
void kv_set_clock(struct kv *kv, int64_t now);
/* A subkey of the master key for other modules (e.g. the audit MAC): HKDF(M, "vaultfs derived:
 * " + label), never one of kv's own keys. -EINVAL for a label over 100 bytes. */
int kv_derive_key(struct kv *kv, const char *label, struct secbuf **ret);

/* `[A-Za-z0-9][A-Za-z0-9._-]{0,126}` */
bool kv_name_valid(const char *name);

/* Attributes given to set (all used) and update (KV_KEEP / NULL keep the old value). */
#define KV_KEEP INT64_MIN
struct kv_attrs {
	int enabled;              /* 1, 0, or -1 = keep */
	int64_t not_before;       /* unix seconds, 0 none, KV_KEEP */
	int64_t expires;          /* unix seconds, 0 none, KV_KEEP */
	const char *content_type; /* NULL keep ("" for none) */
	const char *const *tags;  /* "key=value" strings, replacing all tags; NULL keep */
	size_t n_tags;
};
#define KV_ATTRS_KEEP { .enabled = -1, .not_before = KV_KEEP, .expires = KV_KEEP }

struct kv_version_info {
	int64_t object_id; /* never reused */
	uint32_t version;
	bool enabled;
	int64_t not_before, expires, created, updated;
	char content_type[VAULTFS_CONTENT_TYPE_MAX + 1];
	char tags[VAULTFS_TAGS_LEN_MAX + 1];
	size_t size; /* exact length of the value */
};

struct kv_secret_info {
	char name[VAULTFS_NAME_MAX + 1];
	int64_t id;
	uint32_t current_version;
	int64_t created;
	int64_t deleted_at;   /* 0 live */
	int64_t purge_after;  /* deleted_at + retention (0 live) */
};

struct kv_vault_info {
	int64_t id; /* never reused */
	char name[VAULTFS_NAME_MAX + 1];
	int64_t created;
	uint32_t retention_days;
	bool purge_protection;
};

/* Names from ids (for the filesystem's inode numbers), rows checked: -ENOENT when gone. An
 * object's names are given whatever its state (deleted too). */
int kv_vault_name(struct kv *kv, int64_t vault_id, char ret_name[VAULTFS_NAME_MAX + 1]);
int kv_object_names(struct kv *kv, int64_t object_id, char ret_vault[VAULTFS_NAME_MAX + 1],
		    char ret_name[VAULTFS_NAME_MAX + 1]);

int kv_vault_create(struct kv *kv, const char *name);
int kv_vault_delete(struct kv *kv, const char *name);
int kv_vault_get(struct kv *kv, const char *name, struct kv_vault_info *ret);
int kv_vault_list(struct kv *kv, int (*cb)(const struct kv_vault_info *v, void *ud), void *ud);

/* New version of vault/name (creating the secret). attrs NULL = enabled, no dates, no tags. */
int kv_secret_set(struct kv *kv, const char *vault, const char *name, const void *value,
		  size_t len, const struct kv_attrs *attrs, uint32_t *ret_version);
/* The value of a version (0 = current) after every lifecycle and integrity check. */
int kv_secret_get(struct kv *kv, const char *vault, const char *name, uint32_t version,
		  struct secbuf **ret_value, struct kv_version_info *ret_info);
/* The attributes of a version without decrypting (same checks except the lifecycle ones:
 * a disabled or expired version still has metadata). */
int kv_secret_info(struct kv *kv, const char *vault, const char *name, uint32_t version,
		   struct kv_version_info *ret);
/* Live secrets of a vault, or with deleted only the soft-deleted ones, in name order. */
int kv_secret_list(struct kv *kv, const char *vault, bool deleted,
		   int (*cb)(const struct kv_secret_info *s, void *ud), void *ud);
int kv_secret_versions(struct kv *kv, const char *vault, const char *name,
		       int (*cb)(const struct kv_version_info *v, void *ud), void *ud);
int kv_secret_update(struct kv *kv, const char *vault, const char *name, uint32_t version,
		     const struct kv_attrs *attrs);
int kv_secret_delete(struct kv *kv, const char *vault, const char *name);
int kv_secret_recover(struct kv *kv, const char *vault, const char *name);
int kv_secret_purge(struct kv *kv, const char *vault, const char *name);
