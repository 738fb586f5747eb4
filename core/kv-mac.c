/* kv-mac.c: the MAC of every vault, object and version row (a canonical, tagged serialization
 * of each field that decides access) and the loads that check it before any field is believed.
 * Never trusts a row it has not verified; never caches (kv-session.c does). */
#include "kv-int.h"

/* --- canonical serialization for MACs: tagged, length-prefixed, fixed-width integers --- */

struct macbuf {
	uint8_t b[8192];
	size_t n;
	bool overflow;
};

static void mb_raw(struct macbuf *m, const void *p, size_t n)
{
	if (m->overflow || n > sizeof(m->b) - m->n) {
		m->overflow = true;
		return;
	}
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void mb_u64(struct macbuf *m, uint64_t v)
{
	uint8_t le[8];

	kv_put_le(le, v, sizeof(le));
	mb_raw(m, le, sizeof(le));
}

static void mb_bytes(struct macbuf *m, const void *p, size_t n)
{
	mb_u64(m, n);
	mb_raw(m, p, n);
}

static void mb_str(struct macbuf *m, const char *s)
{
	mb_bytes(m, s, strlen(s));
}

static int mb_finish(const struct kv *kv, struct macbuf *m, uint8_t out[CRYPTO_MAC_LEN])
{
	if (m->overflow)
		return -EMSGSIZE;
	return crypto_mac_compute(kv->mac, m->b, m->n, out);
}

int kv_vault_mac(const struct kv *kv, const struct store_vault *v, uint8_t out[32])
{
	struct macbuf m;

	m.n = 0;
	m.overflow = false;

	mb_str(&m, "vaultfs.vault.v1");
	mb_u64(&m, (uint64_t)v->id);
	mb_str(&m, v->name);
	mb_bytes(&m, v->wrapped_key, sizeof(v->wrapped_key));
	mb_u64(&m, (uint64_t)v->created);
	mb_u64(&m, v->retention_days);
	mb_u64(&m, v->purge_protection);
	/* schema 6: a vault that never had max-versions MACs as before (its row unchanged by the
	 * migration); one that has, with both fields after the others */
	if (v->max_versions || v->prunes) {
		mb_str(&m, "vaultfs.vault.prune.v1");
		mb_u64(&m, v->max_versions);
		mb_u64(&m, v->prunes);
	}
	return mb_finish(kv, &m, out);
}

int kv_object_mac(const struct kv *kv, const struct store_object *o, uint8_t out[32])
{
	struct macbuf m;

	m.n = 0;
	m.overflow = false;

	mb_str(&m, "vaultfs.object.v1");
	mb_u64(&m, (uint64_t)o->id);
	mb_u64(&m, (uint64_t)o->vault_id);
	mb_str(&m, o->name);
	mb_u64(&m, (uint64_t)o->type);
	mb_u64(&m, o->current_version);
	mb_u64(&m, (uint64_t)o->created);
	mb_u64(&m, (uint64_t)o->deleted_at);
	return mb_finish(kv, &m, out);
}

int kv_version_mac(const struct kv *kv, const struct store_version *v, uint8_t out[32])
{
	struct macbuf m;

	m.n = 0;
	m.overflow = false;

	mb_str(&m, "vaultfs.version.v1");
	mb_u64(&m, (uint64_t)v->object_id);
	mb_u64(&m, v->version);
	mb_u64(&m, v->enabled);
	mb_u64(&m, (uint64_t)v->not_before);
	mb_u64(&m, (uint64_t)v->expires);
	mb_u64(&m, (uint64_t)v->created);
	mb_u64(&m, (uint64_t)v->updated);
	mb_str(&m, v->content_type);
	mb_str(&m, v->tags ? v->tags : "");
	mb_bytes(&m, v->wrapped_dek, sizeof(v->wrapped_dek));
	mb_u64(&m, v->ciphertext_len);
	return mb_finish(kv, &m, out);
}

/* Recompute and compare: -EBADMSG when the row was changed behind our back. */
static int check_mac(int r, const uint8_t want[CRYPTO_MAC_LEN], uint8_t have[CRYPTO_MAC_LEN])
{
	if (r < 0)
		return r;
	return crypto_memeq(want, have, CRYPTO_MAC_LEN) ? 0 : -EBADMSG;
}

int kv_vault_verify(const struct kv *kv, const struct store_vault *v)
{
	uint8_t mac[CRYPTO_MAC_LEN];

	return check_mac(kv_vault_mac(kv, v, mac), v->mac, mac);
}

int kv_object_verify(const struct kv *kv, const struct store_object *o)
{
	uint8_t mac[CRYPTO_MAC_LEN];

	return check_mac(kv_object_mac(kv, o, mac), o->mac, mac);
}

int kv_version_verify(const struct kv *kv, const struct store_version *v)
{
	uint8_t mac[CRYPTO_MAC_LEN];

	return check_mac(kv_version_mac(kv, v, mac), v->mac, mac);
}

int kv_load_vault(struct kv *kv, const char *name, struct store_vault *ret)
{
	int r;

	if (!kv_name_valid(name))
		return -EINVAL;
	r = store_vault_get(kv->store, name, ret);
	if (r < 0)
		return r;
	return kv_vault_verify(kv, ret);
}

/* The object named name in vault v, checked; live only unless any_state. */
int kv_load_object(struct kv *kv, const struct store_vault *v, const char *name, bool any_state,
		   struct store_object *ret)
{
	int r;

	if (!kv_name_valid(name))
		return -EINVAL;
	r = store_object_get(kv->store, v->id, name, ret);
	if (r < 0)
		return r;
	r = kv_object_verify(kv, ret);
	if (r < 0)
		return r;
	if (ret->vault_id != v->id || !streq(ret->name, name))
		return -EBADMSG;
	r = kv_check_current(kv, ret);
	if (r < 0)
		return r;
	if (!any_state && ret->deleted_at != 0)
		return -ENOENT;
	return 0;
}

int kv_load_named(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		  bool any_state, struct store_vault *ret_v, struct store_object *ret_o)
{
	int r;

	r = kv_load_vault(kv, vault, ret_v);
	if (r >= 0)
		r = kv_load_object(kv, ret_v, name, any_state, ret_o);
	if (r >= 0)
		r = kv_check_kind(ret_o, kind);
	return r;
}

int kv_check_current(struct kv *kv, const struct store_object *o)
{
	uint32_t max;
	int r;

	/* The pointer must name the newest version: a rolled-back pointer (or a dropped newest
	 * version) is tampering, not a state we could have written. */
	r = store_version_max(kv->store, o->id, &max);
	if (r < 0)
		return r;
	return max == o->current_version ? 0 : -EBADMSG;
}

int kv_load_vault_id(struct kv *kv, int64_t id, struct store_vault *ret)
{
	int r;

	r = store_vault_get_by_id(kv->store, id, ret);
	if (r >= 0)
		r = kv_vault_verify(kv, ret);
	if (r >= 0 && ret->id != id)
		r = -EBADMSG;
	return r;
}

int kv_load_object_id(struct kv *kv, int64_t id, struct store_object *ret)
{
	int r;

	r = store_object_get_by_id(kv->store, id, ret);
	if (r >= 0)
		r = kv_object_verify(kv, ret);
	if (r >= 0 && ret->id != id)
		r = -EBADMSG;
	return r;
}

int kv_load_version(struct kv *kv, const struct store_object *o, uint32_t version, bool meta,
		    struct store_version *ret)
{
	int r;

	r = meta ? store_version_get_meta(kv->store, o->id, version, ret) :
		   store_version_get(kv->store, o->id, version, ret);
	if (r < 0) {
		store_version_done(ret);
		/* at or below the pointer: it must exist, unless pruned (kv-prune.c) */
		return r == -ENOENT ? kv_version_gone(kv, o, version) : r;
	}
	r = kv_check_version(kv, o, version, ret);
	if (r < 0)
		store_version_done(ret);
	return r;
}

int kv_check_version(const struct kv *kv, const struct store_object *o, uint32_t version,
		     const struct store_version *row)
{
	int r;

	r = kv_version_verify(kv, row);
	if (r < 0)
		return r;
	if (row->object_id != o->id || row->version != version ||
	    row->ciphertext_len < CRYPTO_AEAD_OVERHEAD)
		return -EBADMSG;
	return 0;
}
