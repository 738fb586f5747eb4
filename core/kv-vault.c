/* kv-vault.c: vaults: create (with their wrapped key), protect, max-versions, delete, get, list,
 * and the names of ids for the filesystem's inodes. Every row checked before it is believed. */
#include "kv-int.h"

/* --- vaults --- */

int kv_vault_create(struct kv *kv, const char *name, uint32_t retention_days)
{
	return kv_vault_create_with(kv, name, retention_days, 0);
}

int kv_vault_create_with(struct kv *kv, const char *name, uint32_t retention_days,
			 uint32_t max_versions)
{
	_cleanup_secbuf_ struct secbuf *key = NULL;
	struct store_vault v = { 0 };
	uint8_t aad[32];
	int r;

	if (!kv_name_valid(name))
		return -EINVAL;
	if (retention_days == 0)
		retention_days = VAULTFS_RETENTION_DEFAULT;
	if (retention_days < VAULTFS_RETENTION_MIN || retention_days > VAULTFS_RETENTION_MAX ||
	    max_versions > VAULTFS_VERSIONS_MAX)
		return -EINVAL;
	r = secbuf_new(CRYPTO_KEY_LEN, &key);
	if (r < 0)
		return r;
	r = crypto_random(key->data, CRYPTO_KEY_LEN);
	if (r < 0)
		return r;
	key->len = CRYPTO_KEY_LEN;

	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	str_copy(v.name, sizeof(v.name), name);
	v.created = kv_now(kv);
	v.retention_days = retention_days;
	v.max_versions = max_versions;
	v.prunes = max_versions != 0;
	r = store_vault_insert(kv->store, &v); /* assigns the id the key is bound to */
	if (r >= 0)
		r = crypto_wrap_key(kv->wrap_key->data, aad, kv_vault_aad(v.id, aad), key->data,
				    v.wrapped_key);
	if (r >= 0)
		r = kv_vault_mac(kv, &v, v.mac);
	if (r >= 0)
		r = store_vault_update(kv->store, &v);
	return kv_write_end(kv, r);
}

/* Purge protection on (nothing turns it off), max-versions set, or the vault deleted: one
 * write of its row. */
enum vault_op { VAULT_PROTECT, VAULT_MAX_VERSIONS, VAULT_DELETE };

static int vault_change(struct kv *kv, const char *name, enum vault_op op, uint32_t max_versions)
{
	struct store_vault v;
	int r;

	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_vault(kv, name, &v);
	if (r >= 0 && op == VAULT_DELETE) {
		r = store_vault_delete(kv->store, v.id);
	} else if (r >= 0 && op == VAULT_MAX_VERSIONS && v.max_versions != max_versions) {
		v.max_versions = max_versions;
		v.prunes = v.prunes || max_versions != 0; /* sticky (kv-prune.c) */
		r = kv_vault_mac(kv, &v, v.mac);
		if (r >= 0)
			r = store_vault_update(kv->store, &v);
	} else if (r >= 0 && op == VAULT_PROTECT && !v.purge_protection) {
		v.purge_protection = true;
		r = kv_vault_mac(kv, &v, v.mac);
		if (r >= 0)
			r = store_vault_update(kv->store, &v);
	}
	return kv_write_end(kv, r);
}

int kv_vault_protect(struct kv *kv, const char *name)
{
	return vault_change(kv, name, VAULT_PROTECT, 0);
}

int kv_vault_set_max_versions(struct kv *kv, const char *name, uint32_t max_versions)
{
	if (max_versions > VAULTFS_VERSIONS_MAX)
		return -EINVAL;
	return vault_change(kv, name, VAULT_MAX_VERSIONS, max_versions);
}

int kv_vault_delete(struct kv *kv, const char *name)
{
	return vault_change(kv, name, VAULT_DELETE, 0);
}

static void vault_info(const struct store_vault *v, struct kv_vault_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->id = v->id;
	str_copy(ret->name, sizeof(ret->name), v->name);
	ret->created = v->created;
	ret->retention_days = v->retention_days;
	ret->purge_protection = v->purge_protection;
	ret->max_versions = v->max_versions;
}

int kv_vault_name(struct kv *kv, int64_t vault_id, char ret_name[VAULTFS_NAME_MAX + 1])
{
	struct store_vault v;
	int r;

	r = kv_read_call_begin(kv);
	if (r == -EBUSY) { /* inside a transaction of the caller's: one checked row, as is */
		r = kv_load_vault_id(kv, vault_id, &v);
	} else if (r >= 0) {
		r = kv_read_call_end(kv, kv_cached_vault_id(kv, vault_id, &v));
	}
	if (r < 0)
		return r;
	memcpy(ret_name, v.name, sizeof(v.name));
	return 0;
}

int kv_object_names(struct kv *kv, int64_t object_id, char ret_vault[VAULTFS_NAME_MAX + 1],
		    char ret_name[VAULTFS_NAME_MAX + 1])
{
	struct store_object o;
	struct store_vault v;
	int r;

	r = kv_read_call_begin(kv);
	if (r < 0)
		return r;
	r = kv_cached_object_id(kv, object_id, &o);
	if (r >= 0)
		r = kv_cached_vault_id(kv, o.vault_id, &v);
	r = kv_read_call_end(kv, r);
	if (r < 0)
		return r;
	memcpy(ret_vault, v.name, sizeof(v.name));
	memcpy(ret_name, o.name, sizeof(o.name));
	return 0;
}

int kv_vault_get(struct kv *kv, const char *name, struct kv_vault_info *ret)
{
	struct store_vault v;
	int r;

	r = kv_read_call_begin(kv);
	if (r == -EBUSY) /* inside a transaction of the caller's: one checked row, as is */
		r = kv_load_vault(kv, name, &v);
	else if (r >= 0)
		r = kv_read_call_end(kv, kv_cached_vault(kv, name, &v));
	if (r < 0)
		return r;
	vault_info(&v, ret);
	return 0;
}

struct vault_list_ctx {
	struct kv *kv;
	int (*cb)(const struct kv_vault_info *v, void *ud);
	void *ud;
};

static int vault_list_one(const struct store_vault *v, void *userdata)
{
	struct vault_list_ctx *ctx = userdata;
	struct kv_vault_info info;
	int r;

	r = kv_vault_verify(ctx->kv, v);
	if (r < 0)
		return r;
	vault_info(v, &info);
	return ctx->cb(&info, ctx->ud);
}

/* The vault listing, whole (limit 0) or a page of it. */
static int vault_list(struct kv *kv, const char *after, unsigned limit,
		      int (*cb)(const struct kv_vault_info *v, void *ud), void *ud)
{
	struct vault_list_ctx ctx = { kv, cb, ud };
	int r;

	r = kv_read_call_begin(kv);
	if (r >= 0)
		r = kv_read_need_store(kv);
	if (r < 0)
		return r;
	if (limit)
		r = store_vault_page(kv->store, after, limit, vault_list_one, &ctx);
	else
		r = store_vault_foreach(kv->store, vault_list_one, &ctx);
	return kv_read_call_end(kv, r);
}

int kv_vault_list(struct kv *kv, int (*cb)(const struct kv_vault_info *v, void *ud), void *ud)
{
	return vault_list(kv, NULL, 0, cb, ud);
}

int kv_vault_list_page(struct kv *kv, const char *after, unsigned limit,
		       int (*cb)(const struct kv_vault_info *v, void *ud), void *ud)
{
	if (limit == 0)
		return -EINVAL;
	return vault_list(kv, after, limit, cb, ud);
}
