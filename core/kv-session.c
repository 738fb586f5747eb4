/* kv-session.c: transactions, read sessions and the cache of checked rows. A read session
 * (kv_read_begin) makes one caller's reads one snapshot; rows checked once are kept while the
 * store's generation is the same, and any change anywhere empties the cache. Writes never read
 * from it, and no write is made inside a session. */
#include "kv-int.h"

/* --- transactions: every public call is one of these ---
 * A write: kv_write_begin .. kv_write_end, never inside a session.
 * A read of rows through the cache: kv_read_call_begin .. kv_read_call_end (the session's
 * reads, or a read transaction of its own), with kv_read_need_store() before any read of the
 * store itself (it begins a deferred session's transaction).
 * A read that passes the cache by (backup, the daemon's scans): kv_own_read_begin ..
 * kv_own_read_end, never inside a session. */

static int txn_end(struct kv *kv, int r)
{
	crypto_aead_forget(kv->aead); /* no key's schedule left behind a call (crypto.h) */
	if (r < 0)
		store_rollback(kv->store);
	else
		store_commit(kv->store);
	return r;
}

int kv_write_begin(struct kv *kv)
{
	/* a deferred session has no transaction yet: the store could not be the one to refuse */
	return kv->read != KV_READ_NONE ? -EBUSY : store_begin(kv->store);
}

int kv_write_end(struct kv *kv, int r)
{
	crypto_aead_forget(kv->aead);
	if (r >= 0) {
		int k = kv_epoch_commit_state(kv);

		if (k >= 0)
			k = store_commit(kv->store);
		if (k >= 0) {
			kv->changes++;
			return r;
		}
		r = k;
	}
	store_rollback(kv->store);
	return r;
}

int kv_own_read_begin(struct kv *kv)
{
	return kv->read != KV_READ_NONE ? -EBUSY : store_begin_read(kv->store);
}

int kv_own_read_end(struct kv *kv, int r)
{
	return txn_end(kv, r);
}

static bool same_generation(const struct store_generation *a, const struct store_generation *b)
{
	return a->data_version == b->data_version && a->local == b->local;
}

/* Begin a read transaction and bring the cache to its snapshot (emptied unless the generation
 * is the one it was filled under); the mark taken first vouches for the cache until something
 * is committed anywhere. */
static int txn_begin_synced(struct kv *kv)
{
	struct store_generation g;
	struct store_mark m;
	bool marked = store_mark(kv->store, &m) >= 0;
	int r;

	r = store_begin_read(kv->store);
	if (r < 0)
		return r;
	r = store_generation(kv->store, &g);
	if (r < 0) {
		store_rollback(kv->store);
		return r;
	}
	if (!kv->cache.valid || !same_generation(&g, &kv->cache.gen)) {
		kv_cache_clear(kv);
		kv->cache.gen = g;
		kv->cache.valid = true;
	}
	kv->cache.mark = m;
	kv->cache.marked = marked;
	return 0;
}

int kv_read_call_begin(struct kv *kv)
{
	return kv->read != KV_READ_NONE ? 0 : txn_begin_synced(kv);
}

int kv_read_call_end(struct kv *kv, int r)
{
	return kv->read != KV_READ_NONE ? r : txn_end(kv, r);
}

/* A deferred session's transaction begins before the first row that does not come from the
 * cache. When something was committed since the cache was filled, the rest of the session
 * reads past the cache (KV_READ_STALE). What it served before held when the session began, and
 * what it points to stays valid: it is emptied when the session ends. */
int kv_read_need_store(struct kv *kv)
{
	struct store_generation g;
	int r;

	if (kv->read != KV_READ_DEFERRED)
		return 0;
	kv->read = KV_READ_OPEN;
	r = store_begin_read(kv->store);
	if (r >= 0)
		r = store_generation(kv->store, &g);
	if (r < 0 || !same_generation(&g, &kv->cache.gen))
		kv->read = KV_READ_STALE;
	return r;
}

int kv_read_begin(struct kv *kv)
{
	int r;

	if (kv->read != KV_READ_NONE)
		return -EBUSY;
	/* nothing committed since the cache was filled: no transaction unless a row is missing */
	if (kv->cache.valid && kv->cache.marked && store_unchanged(kv->store, &kv->cache.mark)) {
		kv->read = KV_READ_DEFERRED;
		return 0;
	}
	r = txn_begin_synced(kv);
	if (r < 0)
		return r;
	kv->read = KV_READ_OPEN;
	return 0;
}

void kv_read_end(struct kv *kv)
{
	enum kv_read_state was;

	if (!kv || kv->read == KV_READ_NONE)
		return;
	was = kv->read;
	kv->read = KV_READ_NONE;
	if (was == KV_READ_DEFERRED)
		crypto_aead_forget(kv->aead);
	else
		(void)txn_end(kv, 0);
	if (was == KV_READ_STALE)
		kv_cache_clear(kv);
}

/* --- the cache of verified rows: only inside kv_read_call_begin()/kv_read_call_end() ---
 * Each helper reads the cache only while it holds (kv_cache_usable), and begins a deferred
 * transaction (kv_read_need_store) before it reads the store. */

/* Vault name, checked. */
int kv_cached_vault(struct kv *kv, const char *name, struct store_vault *ret)
{
	struct kv_cache *c = &kv->cache;
	int r;

	if (!kv_name_valid(name))
		return -EINVAL;
	for (size_t i = 0; i < KV_CACHE_VAULTS && kv_cache_usable(kv); i++)
		if (c->vault[i].id && streq(c->vault[i].name, name)) {
			*ret = c->vault[i];
			return 0;
		}
	r = kv_read_need_store(kv);
	if (r >= 0)
		r = kv_load_vault(kv, name, ret);
	if (r < 0)
		return r;
	c->vault[c->next_vault++ % KV_CACHE_VAULTS] = *ret;
	return 0;
}

int kv_cached_vault_id(struct kv *kv, int64_t id, struct store_vault *ret)
{
	struct kv_cache *c = &kv->cache;
	int r;

	for (size_t i = 0; i < KV_CACHE_VAULTS && kv_cache_usable(kv); i++)
		if (c->vault[i].id && c->vault[i].id == id) {
			*ret = c->vault[i];
			return 0;
		}
	r = kv_read_need_store(kv);
	if (r >= 0)
		r = kv_load_vault_id(kv, id, ret);
	if (r < 0)
		return r;
	c->vault[c->next_vault++ % KV_CACHE_VAULTS] = *ret;
	return 0;
}

static void object_put(struct kv *kv, const struct store_object *o, bool full)
{
	struct kv_cache *c = &kv->cache;
	unsigned i = c->next_object++ % KV_CACHE_OBJECTS;

	c->object[i] = *o;
	c->object_full[i] = full;
}

/* kv_load_object() through the cache. */
int kv_cached_object(struct kv *kv, const struct store_vault *v, const char *name, bool any_state,
		     struct store_object *ret)
{
	struct kv_cache *c = &kv->cache;
	struct store_object o;
	int r;

	if (!kv_name_valid(name))
		return -EINVAL;
	for (size_t i = 0; i < KV_CACHE_OBJECTS && kv_cache_usable(kv); i++) {
		if (!c->object[i].id || c->object[i].vault_id != v->id ||
		    !streq(c->object[i].name, name))
			continue;
		if (!c->object_full[i]) { /* met by id: the pointer was not checked */
			r = kv_read_need_store(kv);
			if (r < 0)
				return r;
			if (!kv_cache_usable(kv)) /* the row may be older than the store now */
				break;
			r = kv_check_current(kv, &c->object[i]);
			if (r < 0)
				return r;
			c->object_full[i] = true;
		}
		if (!any_state && c->object[i].deleted_at != 0)
			return -ENOENT;
		*ret = c->object[i];
		return 0;
	}
	r = kv_read_need_store(kv);
	if (r >= 0)
		r = kv_load_object(kv, v, name, true, &o);
	if (r < 0)
		return r;
	object_put(kv, &o, true);
	if (!any_state && o.deleted_at != 0)
		return -ENOENT;
	*ret = o;
	return 0;
}

/* The object row of id, checked (its current-version pointer is not: names only). */
int kv_cached_object_id(struct kv *kv, int64_t id, struct store_object *ret)
{
	struct kv_cache *c = &kv->cache;
	int r;

	for (size_t i = 0; i < KV_CACHE_OBJECTS && kv_cache_usable(kv); i++)
		if (c->object[i].id && c->object[i].id == id) {
			*ret = c->object[i];
			return 0;
		}
	r = kv_read_need_store(kv);
	if (r >= 0)
		r = kv_load_object_id(kv, id, ret);
	if (r < 0)
		return r;
	object_put(kv, ret, false);
	return 0;
}

/* Version `version` (not 0) of o, checked, with its ciphertext: a row of the cache, valid until
 * the next row is put in it. */
int kv_cached_version(struct kv *kv, const struct store_object *o, uint32_t version,
		      const struct store_version **ret)
{
	struct kv_cache *c = &kv->cache;
	struct store_version *row;
	int r;

	for (size_t i = 0; i < KV_CACHE_VERSIONS && kv_cache_usable(kv); i++)
		if (c->version[i].object_id == o->id && c->version[i].version == version &&
		    c->version[i].object_id) {
			*ret = &c->version[i];
			return 0;
		}
	r = kv_read_need_store(kv);
	if (r < 0)
		return r;
	row = &c->version[c->next_version++ % KV_CACHE_VERSIONS];
	store_version_done(row);
	r = store_version_get(kv->store, o->id, version, row);
	if (r < 0) {
		store_version_done(row);
		/* below the pointer, so it must exist; unless the store changed during the session
		 * and o is older than it (purged meanwhile: gone, and the next read checks again) */
		if (r == -ENOENT && kv_cache_usable(kv))
			r = kv_version_gone(kv, o, version); /* pruned (kv-prune.c), or -EBADMSG */
		return r;
	}
	r = kv_check_version(kv, o, version, row);
	if (r < 0) {
		store_version_done(row);
		return r;
	}
	*ret = row;
	return 0;
}

/* kv_load_named() through the cache. */
int kv_cached_named(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		    bool any_state, struct store_vault *ret_v, struct store_object *ret_o)
{
	int r;

	r = kv_cached_vault(kv, vault, ret_v);
	if (r >= 0)
		r = kv_cached_object(kv, ret_v, name, any_state, ret_o);
	if (r >= 0)
		r = kv_check_kind(ret_o, kind);
	return r;
}

int kv_cached_row(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		  uint32_t version, struct store_vault *ret_v, struct store_object *ret_o,
		  const struct store_version **ret_row)
{
	int r;

	r = kv_cached_named(kv, kind, vault, name, false, ret_v, ret_o);
	if (r < 0)
		return r;
	r = kv_version_number(ret_o, version);
	if (r < 0)
		return r;
	return kv_cached_version(kv, ret_o, (uint32_t)r, ret_row);
}
