/* kv-fleet.c: a fleet vault's local side (kv-fleet.h): the fleet_applied row (the mark and the
 * applied state, MAC'd over every field and its vault's id), and the apply of one change body
 * in one write transaction with that row. Like every kv write, the version it sets is sealed
 * anew under this host's keys. It must never believe a row before its MAC is checked, never
 * apply a body whose row was not verified (its caller's job: fleet_chain_check), and never
 * speak to the center: that is fleet-pg's, and a read never waits for it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "kv-fleet.h"
#include "key.h"
#include "kv-int.h"

#define APPLIED_MAC_LABEL "vaultfs.fleet-applied.v1"
#define REMOVED_META "fleet.removed."
#define FENCE_META "fleet.fence."

/* --- hosts removed, as this host learned it --- */

static int removed_key(const char *host, char buf[sizeof(REMOVED_META) + FLEET_HOST_NAME_MAX])
{
	if (!fleet_host_name_valid(host))
		return -EINVAL;
	snprintf(buf, sizeof(REMOVED_META) + FLEET_HOST_NAME_MAX, "%s%s", REMOVED_META, host);
	return 0;
}

int fleet_removed_add(struct store *s, const char *host)
{
	char key[sizeof(REMOVED_META) + FLEET_HOST_NAME_MAX];
	int r = removed_key(host, key);

	return r < 0 ? r : store_meta_set(s, key, "1", 1);
}

int fleet_removed_mark(struct store *s, struct fleet_host *hosts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char key[sizeof(REMOVED_META) + FLEET_HOST_NAME_MAX], v[4];
		int r = removed_key(hosts[i].name, key);

		if (r >= 0)
			r = store_meta_text(s, key, v, sizeof(v));
		if (r >= 0)
			hosts[i].removed = true;
		else if (r != -ENOENT && r != -EINVAL)
			return r;
	}
	return 0;
}

/* The epoch vault v is fenced at (its last REVOKE row's), 0 none. */
static int fence_get(struct kv *kv, const struct store_vault *v, uint32_t *ret)
{
	char key[sizeof(FENCE_META) + 24], text[16];
	int r;

	snprintf(key, sizeof(key), "%s%" PRId64, FENCE_META, v->id);
	r = store_meta_text(kv->store, key, text, sizeof(text));
	if (r == -ENOENT) {
		*ret = 0;
		return 0;
	}
	if (r < 0)
		return r;
	*ret = (uint32_t)strtoul(text, NULL, 10);
	return 0;
}

static int fence_set(struct kv *kv, const struct store_vault *v, uint32_t epoch)
{
	char key[sizeof(FENCE_META) + 24], text[16];

	snprintf(key, sizeof(key), "%s%" PRId64, FENCE_META, v->id);
	snprintf(text, sizeof(text), "%" PRIu32, epoch);
	return store_meta_set(kv->store, key, text, strlen(text));
}

/* What a fleet carries: secrets, keys and certificates (a version's whole record: the private
 * material, sealed anew under each host's keys, the public parts, the attributes), but not a
 * key bound to one host's TPM (its blob opens in that TPM only): -EOPNOTSUPP. The kind's own
 * state beside its versions (a key's rotation policy, a certificate's policy and renewal
 * state) stays the host's where it was set: that host's scan makes the new versions, and they
 * travel. */
static bool kind_travels(int kind)
{
	return kind == OBJECT_SECRET || kind == OBJECT_KEY || kind == OBJECT_CERT;
}

/* byte 5 of a key record ("VKR1" type protection); a certificate record holds one at 12 */
#define KEYREC_PROTECTION 5u
#define CERTREC_KEYREC 12u

static int material_travels(enum object_type kind, const uint8_t *mat, size_t len)
{
	size_t at = kind == OBJECT_KEY ? KEYREC_PROTECTION : CERTREC_KEYREC + KEYREC_PROTECTION;

	if (!kind_travels(kind))
		return -EOPNOTSUPP;
	if (kind == OBJECT_SECRET || !mat) /* a change other than a new version */
		return 0;
	return len > at && mat[at] == KEY_PROTECTION_TPM ? -EOPNOTSUPP : 0;
}

static int applied_mac(const struct kv *kv, const struct store_fleet_applied *a,
		       uint8_t out[CRYPTO_MAC_LEN])
{
	uint8_t m[sizeof(APPLIED_MAC_LABEL) - 1 + 8 + 8 + 4 + CRYPTO_MAC_LEN + 8];
	size_t n = sizeof(APPLIED_MAC_LABEL) - 1;

	memcpy(m, APPLIED_MAC_LABEL, n);
	kv_put_le(m + n, (uint64_t)a->vault_id, 8), n += 8;
	kv_put_le(m + n, (uint64_t)a->seq, 8), n += 8;
	kv_put_le(m + n, a->epoch, 4), n += 4;
	memcpy(m + n, a->last_mac, CRYPTO_MAC_LEN), n += CRYPTO_MAC_LEN;
	kv_put_le(m + n, (uint64_t)a->updated, 8), n += 8;
	return crypto_mac_compute(kv->mac, m, n, out);
}

/* The row of vault v, checked, inside the caller's transaction: -ENOENT none. */
static int applied_load(struct kv *kv, const struct store_vault *v, struct store_fleet_applied *ret)
{
	uint8_t mac[CRYPTO_MAC_LEN];
	int r;

	r = store_fleet_applied_get(kv->store, v->id, ret);
	if (r < 0)
		return r;
	r = applied_mac(kv, ret, mac);
	if (r >= 0 && (!crypto_memeq(mac, ret->mac, CRYPTO_MAC_LEN) || ret->vault_id != v->id))
		r = -EBADMSG;
	return r;
}

static int applied_put(struct kv *kv, const struct store_vault *v, const struct fleet_applied *a)
{
	struct store_fleet_applied row = { .vault_id = v->id, .seq = a->seq, .epoch = a->epoch };
	int r;

	if (a->seq < 0)
		return -EINVAL;
	memcpy(row.last_mac, a->mac, CRYPTO_MAC_LEN);
	row.updated = kv_now(kv) > 0 ? kv_now(kv) : 0;
	r = applied_mac(kv, &row, row.mac);
	return r < 0 ? r : store_fleet_applied_set(kv->store, &row);
}

static void applied_of(const struct store_fleet_applied *row, struct fleet_applied *ret)
{
	ret->seq = row->seq;
	ret->epoch = row->epoch;
	memcpy(ret->mac, row->last_mac, CRYPTO_MAC_LEN);
}

int kv_fleet_mark(struct kv *kv, const char *vault)
{
	static const struct fleet_applied zero = { 0 };
	struct store_fleet_applied row;
	struct store_vault v;
	int r;

	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_vault(kv, vault, &v);
	if (r >= 0) {
		r = applied_load(kv, &v, &row);
		if (r == -ENOENT) {
			r = applied_put(kv, &v, &zero);
			if (r >= 0) /* a vault of this id before: its fence is not this one's */
				r = fence_set(kv, &v, 0);
		}
	}
	return kv_write_end(kv, r < 0 ? r : 0);
}

int kv_fleet_applied(struct kv *kv, const char *vault, struct fleet_applied *ret)
{
	struct store_fleet_applied row;
	struct store_vault v;
	int r;

	r = kv_own_read_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_vault(kv, vault, &v);
	if (r >= 0)
		r = applied_load(kv, &v, &row);
	if (r >= 0)
		applied_of(&row, ret);
	return kv_own_read_end(kv, r);
}

int kv_fleet_is(struct kv *kv, const char *vault)
{
	struct store_fleet_applied row;
	struct store_vault v;
	int r;

	r = kv_own_read_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_vault(kv, vault, &v);
	if (r >= 0) {
		r = applied_load(kv, &v, &row);
		r = r >= 0 ? 1 : r == -ENOENT ? 0 : r;
	}
	return kv_own_read_end(kv, r);
}

/* The body's attributes on a version row (tags: the canonical lines, checked again). */
static int body_attrs(const struct fleet_body *b, struct store_version *row)
{
	_cleanup_free_ char *copy = strdup(b->tags);
	const char *tags[VAULTFS_TAGS_MAX + 1];
	struct kv_attrs a = { .enabled = b->enabled,
			      .not_before = b->not_before,
			      .expires = b->expires,
			      .content_type = b->content_type,
			      .tags = tags };
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
		if (a.n_tags == VAULTFS_TAGS_MAX)
			return -EINVAL;
		tags[a.n_tags++] = t;
	}
	return kv_apply_attrs(row, &a);
}

/* FLEET_OP_SET: version b->version of the object, the next one it has (a new object at 1). */
static int apply_set(struct kv *kv, const struct store_vault *v, const struct fleet_body *b,
		     const struct secbuf *material)
{
	const struct kv_kind *k = kv_kind_get(b->kind);
	struct store_version row = { .enabled = true };
	struct store_object o;
	int r;

	if (!k || !material || material->len > k->material_max)
		return -EINVAL;
	r = material_travels(b->kind, material->data, material->len);
	if (r < 0)
		return r;
	if (k->check_material) {
		r = k->check_material(material->data, material->len);
		if (r < 0)
			return r;
	}
	r = kv_load_object(kv, v, b->name, true, &o);
	if (r == -ENOENT) {
		r = kv_name_clash(kv, v, b->kind, b->name);
		memset(&o, 0, sizeof(o));
		o.vault_id = v->id;
		str_copy(o.name, sizeof(o.name), b->name);
		o.type = b->kind;
		o.created = kv_now(kv);
		if (r >= 0)
			r = store_object_insert(kv->store, &o);
	} else if (r >= 0 && (o.deleted_at || o.type != b->kind))
		r = -EEXIST;
	if (r < 0)
		return r;
	if (b->version != o.current_version + 1)
		return -ESTALE; /* this store is not where the chain says it is */
	row.tags = strdup("");
	if (!row.tags)
		return -ENOMEM;
	r = body_attrs(b, &row);
	row.object_id = o.id;
	row.version = b->version;
	row.created = row.updated = kv_now(kv);
	if (r >= 0)
		r = kv_seal_version(kv, v, &o, row.version, material->data, material->len, &row);
	if (r >= 0)
		r = kv_version_mac(kv, &row, row.mac);
	if (r >= 0)
		r = store_version_insert(kv->store, &row);
	if (r >= 0) {
		o.current_version = row.version;
		r = kv_object_mac(kv, &o, o.mac);
	}
	if (r >= 0)
		r = store_object_update(kv->store, &o);
	store_version_done(&row);
	return r;
}

static int apply_update(struct kv *kv, const struct store_vault *v, const struct fleet_body *b)
{
	struct store_version row = { 0 };
	struct store_object o;
	int r;

	r = kv_load_object(kv, v, b->name, false, &o);
	if (r >= 0 && o.type != b->kind)
		r = -ENOENT;
	if (r >= 0)
		r = kv_version_number(&o, b->version);
	if (r >= 0)
		r = kv_load_version(kv, &o, b->version, true, &row);
	if (r >= 0)
		r = body_attrs(b, &row);
	if (r >= 0) {
		row.updated = kv_now(kv);
		r = kv_version_mac(kv, &row, row.mac);
	}
	if (r >= 0)
		r = store_version_update_attrs(kv->store, &row);
	store_version_done(&row);
	return r;
}

/* DELETE, RECOVER, PURGE: as kv-object.c's lifecycle. A purge the center's chain carries
 * honours this host's vault: one its purge protection still keeps is held back (1: the object
 * stays soft-deleted here, to be purged here when its retention allows), since anyone holding
 * the vault key can make a PURGE row; one of an object gone already changes nothing (held back
 * here, purged here later: the row that says it reaches hosts that purged it before). */
static int apply_lifecycle(struct kv *kv, const struct store_vault *v, const struct fleet_body *b)
{
	struct store_object o;
	int r;

	r = kv_load_object(kv, v, b->name, true, &o);
	if (r >= 0 && o.type != b->kind)
		r = -ENOENT;
	if (r == -ENOENT && b->op == FLEET_OP_PURGE)
		return 0;
	if (r < 0)
		return r;
	if ((b->op == FLEET_OP_DELETE) != (o.deleted_at == 0))
		return -ENOENT;
	if (b->op == FLEET_OP_PURGE && v->purge_protection &&
	    kv_now(kv) < o.deleted_at + (int64_t)v->retention_days * 86400)
		return 1;
	if (b->op == FLEET_OP_PURGE)
		return store_object_purge(kv->store, o.id);
	if (b->op == FLEET_OP_RECOVER) {
		r = kv_name_clash(kv, v, o.type, o.name);
		if (r < 0)
			return r;
	}
	o.deleted_at = b->op == FLEET_OP_DELETE ? kv_now(kv) : 0;
	r = kv_object_mac(kv, &o, o.mac);
	return r < 0 ? r : store_object_update(kv->store, &o);
}

int kv_fleet_apply(struct kv *kv, const char *vault, const struct fleet_applied *from,
		   const struct fleet_applied *to, const struct fleet_body *b,
		   const struct secbuf *material)
{
	struct store_fleet_applied row;
	struct store_vault v;
	uint32_t fence = 0;
	int r, held = 0;

	if (to->seq != from->seq + 1 || (material && b->op != FLEET_OP_SET))
		return -EINVAL;
	if (b->op != FLEET_OP_REKEY && b->op != FLEET_OP_REVOKE &&
	    (!kind_travels(b->kind) || !kv_name_valid(b->name)))
		return -EINVAL;
	if (b->op == FLEET_OP_REVOKE && !fleet_host_name_valid(b->host))
		return -EINVAL;
	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_vault(kv, vault, &v);
	if (r >= 0)
		r = applied_load(kv, &v, &row);
	if (r >= 0 && (row.seq != from->seq || row.epoch != from->epoch ||
		       !crypto_memeq(row.last_mac, from->mac, CRYPTO_MAC_LEN)))
		r = -ESTALE;
	if (r >= 0)
		r = fence_get(kv, &v, &fence);
	/* after a removal at epoch E, the removed host holds K_E: only the REKEY (of E + 1) and
	 * other removals are taken, no row of E it could have made */
	if (r >= 0 && fence && b->op != FLEET_OP_REVOKE && to->epoch <= fence)
		r = -EKEYREVOKED;
	if (r < 0)
		return kv_write_end(kv, r);
	switch (b->op) {
	case FLEET_OP_SET:
		r = apply_set(kv, &v, b, material);
		break;
	case FLEET_OP_UPDATE:
		r = apply_update(kv, &v, b);
		break;
	case FLEET_OP_DELETE:
	case FLEET_OP_RECOVER:
	case FLEET_OP_PURGE:
		r = apply_lifecycle(kv, &v, b);
		break;
	case FLEET_OP_REKEY:
		r = 0;
		break;
	case FLEET_OP_REVOKE:
		r = fleet_removed_add(kv->store, b->host);
		if (r >= 0)
			r = fence_set(kv, &v, MAX(fence, to->epoch));
		break;
	default:
		r = -EINVAL;
	}
	held = r > 0;
	if (r >= 0)
		r = applied_put(kv, &v, to);
	r = kv_write_end(kv, r);
	return r < 0 ? r : held;
}

int kv_fleet_local_only(struct kv *kv, const struct store_vault *v)
{
	struct store_fleet_applied row;
	int r = applied_load(kv, v, &row);

	return r == -ENOENT ? 0 : r >= 0 ? -EOPNOTSUPP : r;
}

/* --- changes made here: to the center first (kv->fleet_commit), which applies them --- */

void kv_fleet_hook(struct kv *kv, kv_fleet_commit_fn fn, void *ud)
{
	kv->fleet_commit = fn;
	kv->fleet_ud = ud;
}

/* The body of a change, from what the store holds now (inside a read transaction). */
typedef int (*build_fn)(struct kv *kv, const struct store_vault *v, enum object_type kind,
			void *ctx, struct fleet_body *b);

/* The route of a change of an object of vault: KV_FLEET_LOCAL for a local vault (or none:
 * the local path says so); for a fleet vault the body built and committed by the hook, built
 * again when the hook applied other hosts' changes first (-EAGAIN), a few times at most. */
static int route(struct kv *kv, const char *vault, enum object_type kind, build_fn build, void *ctx,
		 const void *mat, size_t len, struct fleet_body *b)
{
	_cleanup_secbuf_ struct secbuf *material = NULL;
	struct store_fleet_applied row;
	struct store_vault v;
	uint32_t fence;
	int r;

	for (unsigned tries = 0;; tries++) {
		*b = (struct fleet_body){ 0 };
		r = kv_own_read_begin(kv);
		if (r < 0)
			return r;
		r = kv_load_vault(kv, vault, &v);
		if (r >= 0)
			r = applied_load(kv, &v, &row);
		if (r == -ENOENT) {
			(void)kv_own_read_end(kv, 0);
			return KV_FLEET_LOCAL;
		}
		if (r >= 0)
			r = fence_get(kv, &v, &fence);
		if (r >= 0 && fence && row.epoch <= fence)
			r = -ENOKEY; /* a host was removed: no new rows until the rekey */
		if (r >= 0)
			r = material_travels(kind, mat, len);
		if (r >= 0)
			r = build(kv, &v, kind, ctx, b);
		r = kv_own_read_end(kv, r);
		if (r < 0)
			return r;
		if (!kv->fleet_commit)
			return -EHOSTDOWN; /* no center here: a fleet change cannot be made */
		if (mat && !material) {
			r = secbuf_new(MAX(len, (size_t)1), &material);
			if (r < 0)
				return r;
			memcpy(material->data, mat, len);
			material->len = len;
		}
		r = kv->fleet_commit(kv->fleet_ud, vault, b, material);
		if (r != -EAGAIN || tries == 7)
			return r;
	}
}

static int body_from_row(const struct store_version *row, struct fleet_body *b)
{
	b->version = row->version;
	b->enabled = row->enabled;
	b->not_before = row->not_before;
	b->expires = row->expires;
	str_copy(b->content_type, sizeof(b->content_type), row->content_type);
	if (strlen(row->tags) >= sizeof(b->tags))
		return -EINVAL;
	str_copy(b->tags, sizeof(b->tags), row->tags);
	return 0;
}

struct set_ctx {
	const char *name;
	const struct kv_attrs *attrs;
};

static int build_set(struct kv *kv, const struct store_vault *v, enum object_type kind, void *ud,
		     struct fleet_body *b)
{
	static const struct kv_attrs defaults = { .enabled = 1, .content_type = "" };
	const struct set_ctx *c = ud;
	struct store_version row = { .enabled = true };
	struct store_object o;
	int r;

	r = kv_load_object(kv, v, c->name, true, &o);
	if (r == -ENOENT) {
		r = kv_name_clash(kv, v, kind, c->name);
		o = (struct store_object){ 0 };
	} else if (r >= 0 && (o.deleted_at || o.type != (int)kind))
		r = -EEXIST;
	else if (r >= 0 && o.current_version >= VAULTFS_VERSIONS_MAX)
		r = -ENOSPC;
	if (r < 0)
		return r;
	row.tags = strdup("");
	if (!row.tags)
		return -ENOMEM;
	r = kv_apply_attrs(&row, c->attrs ? c->attrs : &defaults);
	row.version = o.current_version + 1;
	if (r >= 0)
		r = body_from_row(&row, b);
	b->op = FLEET_OP_SET;
	b->kind = kind;
	str_copy(b->name, sizeof(b->name), c->name);
	store_version_done(&row);
	return r;
}

int kv_fleet_route_set(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		       const void *material, size_t len, const struct kv_attrs *attrs,
		       uint32_t *ret_version)
{
	struct set_ctx c = { name, attrs };
	struct fleet_body b;
	int r;

	r = route(kv, vault, kind, build_set, &c, material ? material : "", len, &b);
	if (r >= 0 && r != KV_FLEET_LOCAL && ret_version)
		*ret_version = b.version;
	return r;
}

struct update_ctx {
	const char *name;
	uint32_t version;
	const struct kv_attrs *attrs;
};

static int build_update(struct kv *kv, const struct store_vault *v, enum object_type kind, void *ud,
			struct fleet_body *b)
{
	static const struct kv_attrs keep = KV_ATTRS_KEEP;
	const struct update_ctx *c = ud;
	struct store_version row = { 0 };
	struct store_object o;
	int r;

	r = kv_load_object(kv, v, c->name, false, &o);
	if (r >= 0)
		r = kv_check_kind(&o, kind);
	if (r >= 0)
		r = kv_version_number(&o, c->version);
	if (r >= 0)
		r = kv_load_version(kv, &o, (uint32_t)r, true, &row);
	if (r >= 0)
		r = kv_apply_attrs(&row, c->attrs ? c->attrs : &keep);
	if (r >= 0)
		r = body_from_row(&row, b);
	b->op = FLEET_OP_UPDATE;
	b->kind = kind;
	str_copy(b->name, sizeof(b->name), c->name);
	store_version_done(&row);
	return r;
}

int kv_fleet_route_update(struct kv *kv, enum object_type kind, const char *vault, const char *name,
			  uint32_t version, const struct kv_attrs *attrs)
{
	struct update_ctx c = { name, version, attrs };
	struct fleet_body b;

	return route(kv, vault, kind, build_update, &c, NULL, 0, &b);
}

struct lifecycle_ctx {
	const char *name;
	int op;
};

/* What kv-object.c's lifecycle checks, here before the center takes the change. */
static int build_lifecycle(struct kv *kv, const struct store_vault *v, enum object_type kind,
			   void *ud, struct fleet_body *b)
{
	const struct lifecycle_ctx *c = ud;
	struct store_object o;
	int r;

	r = kv_load_object(kv, v, c->name, true, &o);
	if (r >= 0)
		r = kv_check_kind(&o, kind);
	if (r < 0)
		return r;
	if ((c->op == FLEET_OP_DELETE) != (o.deleted_at == 0))
		return -ENOENT;
	if (c->op == FLEET_OP_RECOVER) {
		r = kv_name_clash(kv, v, o.type, o.name);
		if (r < 0)
			return r;
	}
	if (c->op == FLEET_OP_PURGE && v->purge_protection &&
	    kv_now(kv) < o.deleted_at + (int64_t)v->retention_days * 86400)
		return -EPERM;
	b->op = c->op;
	b->kind = kind;
	str_copy(b->name, sizeof(b->name), c->name);
	return 0;
}

int kv_fleet_route_lifecycle(struct kv *kv, enum object_type kind, const char *vault,
			     const char *name, int op)
{
	struct lifecycle_ctx c = { name, op };
	struct fleet_body b;

	return route(kv, vault, kind, build_lifecycle, &c, NULL, 0, &b);
}

/* --- a local vault's contents, pushed when it enters the fleet --- */

struct listed {
	char name[VAULTFS_NAME_MAX + 1];
	int kind;
	uint32_t versions;
	bool deleted;
};

struct listing {
	struct listed *o;
	size_t n, cap;
};

static int list_one(const struct store_object *o, void *ud)
{
	struct listing *l = ud;

	if (!kind_travels(o->type))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct listed *m = reallocarray(l->o, cap, sizeof(*m));

		if (!m)
			return -ENOMEM;
		l->o = m;
		l->cap = cap;
	}
	str_copy(l->o[l->n].name, sizeof(l->o[l->n].name), o->name);
	l->o[l->n].kind = o->type;
	l->o[l->n].versions = o->current_version;
	l->o[l->n].deleted = o->deleted_at != 0;
	l->n++;
	return 0;
}

/* Version `version` of vault/name as a SET body and its material (one read transaction). */
static int version_body(struct kv *kv, const char *vault, const struct listed *e, uint32_t version,
			struct fleet_body *b, struct secbuf **ret_material)
{
	struct store_version row = { 0 };
	struct store_object o;
	struct store_vault v;
	int r;

	r = kv_own_read_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_vault(kv, vault, &v);
	if (r >= 0)
		r = kv_load_object(kv, &v, e->name, true, &o);
	if (r >= 0 && (o.type != e->kind || version > o.current_version))
		r = -ESTALE; /* changed since listed */
	if (r >= 0) {
		r = kv_load_version(kv, &o, version, false, &row);
		if (r == -EBADMSG && kv_version_gone(kv, &o, version) == -ENOENT)
			r = -EOPNOTSUPP; /* pruned: cannot be made again elsewhere */
	}
	if (r >= 0)
		r = kv_open_version(kv, &v, &o, &row, ret_material);
	if (r >= 0)
		r = body_from_row(&row, b);
	store_version_done(&row);
	r = kv_own_read_end(kv, r);
	if (r < 0)
		return r;
	b->op = FLEET_OP_SET;
	b->kind = e->kind;
	str_copy(b->name, sizeof(b->name), e->name);
	r = material_travels(e->kind, (*ret_material)->data, (*ret_material)->len);
	if (r < 0) {
		secbuf_free(*ret_material);
		*ret_material = NULL;
	}
	return r;
}

int kv_fleet_contents(struct kv *kv, const char *vault, kv_fleet_row_fn fn, void *ud)
{
	struct listing l = { 0 };
	struct store_vault v;
	int r;

	r = kv_own_read_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_vault(kv, vault, &v);
	if (r >= 0)
		r = store_object_foreach(kv->store, v.id, list_one, &l);
	r = kv_own_read_end(kv, r);
	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		for (uint32_t ver = 1; r >= 0 && ver <= l.o[i].versions; ver++) {
			_cleanup_secbuf_ struct secbuf *material = NULL;
			struct fleet_body b = { 0 };

			r = version_body(kv, vault, &l.o[i], ver, &b, &material);
			if (r >= 0)
				r = fn(ud, &b, material);
		}
		if (r >= 0 && l.o[i].deleted) {
			struct fleet_body b = { .op = FLEET_OP_DELETE, .kind = l.o[i].kind };

			str_copy(b.name, sizeof(b.name), l.o[i].name);
			r = fn(ud, &b, NULL);
		}
	}
	free(l.o);
	return r < 0 ? r : 0;
}

int kv_fleet_skip(struct kv *kv, const char *vault, const struct fleet_applied *from,
		  const struct fleet_applied *to)
{
	struct store_fleet_applied row;
	struct store_vault v;
	int r;

	if (to->seq != from->seq + 1)
		return -EINVAL;
	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_vault(kv, vault, &v);
	if (r >= 0)
		r = applied_load(kv, &v, &row);
	if (r >= 0 && (row.seq != from->seq || row.epoch != from->epoch ||
		       !crypto_memeq(row.last_mac, from->mac, CRYPTO_MAC_LEN)))
		r = -ESTALE;
	if (r >= 0)
		r = applied_put(kv, &v, to);
	return kv_write_end(kv, r);
}
