/* kv-rotation.c: a key's rotation policy (kv.h): its row (key_rotation, MAC'd like every row
 * that decides something), and the daemon's pass that carries it out on time: a key whose
 * current version is older than rotate_after gets a new version (expiring expires_after after
 * it is made), one whose current version expires within notify_before is reported once. Each
 * row is checked before it is believed; a rotation is one write transaction of its own. */
#include "kv-int.h"

#define ROTATION_BATCH 64u

static int rotation_mac(const struct kv *kv, const struct store_rotation *p,
			uint8_t out[CRYPTO_MAC_LEN])
{
	uint8_t m[64];
	size_t n = 0;

	memcpy(m, "vaultfs.rotation.v1", 19);
	n = 19;
	kv_put_le(m + n, (uint64_t)p->object_id, 8), n += 8;
	kv_put_le(m + n, (uint64_t)p->rotate_after, 8), n += 8;
	kv_put_le(m + n, (uint64_t)p->notify_before, 8), n += 8;
	kv_put_le(m + n, (uint64_t)p->expires_after, 8), n += 8;
	kv_put_le(m + n, p->notified_version, 4), n += 4;
	kv_put_le(m + n, (uint64_t)p->updated, 8), n += 8;
	return crypto_mac_compute(kv->mac, m, n, out);
}

/* The policy row of object o, checked: -ENOENT none. */
int kv_rotation_load(struct kv *kv, int64_t object_id, struct store_rotation *ret)
{
	uint8_t mac[CRYPTO_MAC_LEN];
	int r;

	r = store_rotation_get(kv->store, object_id, ret);
	if (r < 0)
		return r;
	r = rotation_mac(kv, ret, mac);
	if (r < 0)
		return r;
	return crypto_memeq(mac, ret->mac, CRYPTO_MAC_LEN) && ret->object_id == object_id ?
		       0 :
		       -EBADMSG;
}

int kv_rotation_put(struct kv *kv, struct store_rotation *p)
{
	int r;

	p->updated = kv_now(kv);
	r = rotation_mac(kv, p, p->mac);
	return r < 0 ? r : store_rotation_set(kv->store, p);
}

static bool policy_empty(const struct kv_key_rotation *p)
{
	return p->rotate_after == 0 && p->notify_before == 0 && p->expires_after == 0;
}

int kv_key_rotation_set(struct kv *kv, const char *vault, const char *name,
			const struct kv_key_rotation *policy)
{
	struct store_rotation row = {};
	struct store_vault v;
	struct store_object o;
	int r;

	if (policy->rotate_after < 0 || policy->notify_before < 0 || policy->expires_after < 0)
		return -EINVAL;
	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_named(kv, OBJECT_KEY, vault, name, false, &v, &o);
	if (r < 0)
		goto end;
	if (policy_empty(policy)) {
		r = store_rotation_delete(kv->store, o.id);
		goto end;
	}
	r = kv_rotation_load(kv, o.id, &row); /* notified_version is kept: said once a version */
	if (r == -ENOENT)
		row = (struct store_rotation){ 0 };
	else if (r < 0)
		goto end;
	row.object_id = o.id;
	row.rotate_after = policy->rotate_after;
	row.notify_before = policy->notify_before;
	row.expires_after = policy->expires_after;
	r = kv_rotation_put(kv, &row);
end:
	return kv_write_end(kv, r);
}

int kv_key_rotation_get(struct kv *kv, const char *vault, const char *name,
			struct kv_key_rotation *ret)
{
	struct store_rotation row;
	struct store_vault v;
	struct store_object o;
	int r;

	r = kv_own_read_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_named(kv, OBJECT_KEY, vault, name, false, &v, &o);
	if (r >= 0)
		r = kv_rotation_load(kv, o.id, &row);
	r = kv_own_read_end(kv, r);
	if (r < 0)
		return r;
	*ret = (struct kv_key_rotation){ .rotate_after = row.rotate_after,
					 .notify_before = row.notify_before,
					 .expires_after = row.expires_after };
	return 0;
}

int kv_key_rotation_expiry(struct kv *kv, const char *vault, const char *name, int64_t *ret)
{
	struct kv_key_rotation p;
	int r;

	r = kv_key_rotation_get(kv, vault, name, &p);
	if (r == -ENOENT || (r >= 0 && p.expires_after == 0)) {
		*ret = 0;
		return 0;
	}
	if (r < 0)
		return r;
	*ret = kv_now(kv) + p.expires_after;
	return 0;
}

/* --- the daemon's pass --- */

struct due_key {
	int64_t object_id;
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1];
	enum kv_rotation_event event;
	uint32_t version;
};

struct rotation_scan {
	struct kv *kv;
	struct due_key due[ROTATION_BATCH];
	unsigned n;
	int64_t last;
};

static int scan_one(const struct store_rotation *p, void *ud)
{
	struct rotation_scan *sc = ud;
	struct kv *kv = sc->kv;
	uint8_t mac[CRYPTO_MAC_LEN];
	struct store_object o;
	struct store_vault v;
	struct store_version row;
	int64_t now = kv_now(kv);
	int r;

	sc->last = p->object_id;
	r = rotation_mac(kv, p, mac);
	if (r < 0)
		return r;
	if (!crypto_memeq(mac, p->mac, CRYPTO_MAC_LEN))
		return -EBADMSG;
	r = kv_load_object_id(kv, p->object_id, &o);
	if (r >= 0)
		r = kv_load_vault_id(kv, o.vault_id, &v);
	if (r < 0)
		return r;
	if (o.deleted_at || o.type != OBJECT_KEY || o.current_version == 0)
		return 0;
	r = kv_load_version(kv, &o, o.current_version, true, &row);
	if (r < 0)
		return r;
	struct due_key d = { .object_id = o.id, .version = o.current_version };

	if (p->rotate_after && row.created + p->rotate_after <= now)
		d.event = KV_ROTATION_ROTATE;
	else if (p->notify_before && row.expires && row.expires - p->notify_before <= now &&
		 p->notified_version != o.current_version)
		d.event = KV_ROTATION_EXPIRING;
	store_version_done(&row);
	if (!d.event)
		return 0;
	memcpy(d.vault, v.name, sizeof(d.vault));
	memcpy(d.name, o.name, sizeof(d.name));
	sc->due[sc->n++] = d;
	return sc->n == ROTATION_BATCH ? -EAGAIN : 0; /* the rest at the next pass */
}

/* The notice of d is said: remember it for its version. */
static int mark_notified(struct kv *kv, const struct due_key *d)
{
	struct store_rotation row;
	int r;

	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	r = kv_rotation_load(kv, d->object_id, &row);
	if (r >= 0) {
		row.notified_version = d->version;
		r = kv_rotation_put(kv, &row);
	}
	return kv_write_end(kv, r);
}

int kv_key_rotation_due(struct kv *kv, const char *tcti,
			int (*cb)(const struct kv_rotation_notice *n, void *ud), void *ud)
{
	struct rotation_scan sc = { .kv = kv };
	int r, more;

	r = kv_own_read_begin(kv);
	if (r < 0)
		return r;
	more = store_rotation_page(kv->store, 0, INT32_MAX, scan_one, &sc);
	r = kv_own_read_end(kv, more == -EAGAIN ? 0 : more);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < sc.n; i++) {
		struct kv_rotation_notice n = { .vault = sc.due[i].vault,
						.name = sc.due[i].name,
						.event = sc.due[i].event,
						.version = sc.due[i].version };

		if (n.event == KV_ROTATION_ROTATE) {
			/* NULL attrs: the policy's expiry for the new version (kv_key_rotate) */
			n.err = kv_key_rotate(kv, tcti, n.vault, n.name, NULL, &n.new_version);
		} else {
			n.err = mark_notified(kv, &sc.due[i]);
		}
		r = cb(&n, ud);
		if (r < 0)
			return r;
	}
	return more == -EAGAIN ? 1 : 0;
}
