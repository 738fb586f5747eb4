/* kv-object.c: the objects of a vault, of every kind (kv-kind.h): names, versions, attributes,
 * lifecycle (soft delete, recover, purge), lookup and listing, written once. What a kind adds
 * is asked of its kv_kind entry, never decided here by its type. Every row checked before it
 * is believed; material is decrypted into a secbuf and nowhere else; writes in one
 * transaction. */
#include "kv-int.h"

/* The kind a call names: -EINVAL for one kv does not know, or for KV_KIND_ANY where a call is
 * about one object of one kind. */
static int kind_check(enum object_type kind, bool any_ok)
{
	if (kind == KV_KIND_ANY)
		return any_ok ? 0 : -EINVAL;
	return kv_kind_get(kind) ? 0 : -EINVAL;
}

/* The reads of a call about kind that go to the store itself (listings, what a listing says):
 * end them with kv_read_call_end. */
static int read_store_begin(struct kv *kv, enum object_type kind, bool any_ok)
{
	int r;

	r = kind_check(kind, any_ok);
	if (r >= 0)
		r = kv_read_call_begin(kv);
	if (r >= 0)
		r = kv_read_need_store(kv);
	return r;
}

int kv_object_set(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		  const void *material, size_t len, const struct kv_attrs *attrs,
		  uint32_t *ret_version)
{
	static const struct kv_attrs defaults = { .enabled = 1, .content_type = "" };
	const struct kv_kind *k = kv_kind_get(kind);
	struct store_version row = { .enabled = true };
	struct store_vault v;
	struct store_object o;
	int r;

	if (!k || !kv_name_valid(vault) || !kv_name_valid(name))
		return -EINVAL;
	if (len > k->material_max)
		return -EMSGSIZE;
	if (k->check_material) {
		r = k->check_material(material, len);
		if (r < 0)
			return r;
	}
	r = kv_fleet_route_set(kv, kind, vault, name, material, len, attrs, ret_version);
	if (r != KV_FLEET_LOCAL)
		return r;
	row.tags = strdup("");
	if (!row.tags)
		return -ENOMEM;
	r = kv_apply_attrs(&row, attrs ? attrs : &defaults);
	if (r < 0)
		goto out;

	r = kv_write_begin(kv);
	if (r < 0)
		goto out;
	r = kv_load_vault(kv, vault, &v);
	if (r < 0)
		goto end;
	r = kv_load_object(kv, &v, name, true, &o);
	if (r == -ENOENT) {
		r = kv_name_clash(kv, &v, kind,
				  name); /* a certificate's views' names (kv-cert.c) */
		memset(&o, 0, sizeof(o));
		o.vault_id = v.id;
		str_copy(o.name, sizeof(o.name), name);
		o.type = kind;
		o.created = kv_now(kv);
		if (r >= 0)
			r = store_object_insert(kv->store, &o);
	} else if (r >= 0 && o.deleted_at) {
		r = -EEXIST; /* soft-deleted: recover or purge it first */
	} else if (r >= 0 && o.type != (int)kind) {
		r = -EEXIST; /* one name space per vault for every kind */
	} else if (r >= 0 && o.current_version >= VAULTFS_VERSIONS_MAX) {
		r = -ENOSPC;
	}
	if (r < 0)
		goto end;

	row.object_id = o.id;
	row.version = o.current_version + 1;
	row.created = row.updated = kv_now(kv);
	r = kv_seal_version(kv, &v, &o, row.version, material, len, &row);
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
end:
	r = kv_write_end(kv, r);
	if (r >= 0 && ret_version)
		*ret_version = row.version;
out:
	store_version_done(&row);
	return r;
}

/* Load and check version `version` (0 = current) of the object of kind vault/name inside the
 * caller's transaction. */
static int load_version(struct kv *kv, enum object_type kind, const char *vault, const char *name,
			uint32_t version, struct store_vault *ret_v, struct store_object *ret_o,
			struct store_version *ret_row)
{
	int r;

	r = kv_load_named(kv, kind, vault, name, false, ret_v, ret_o);
	if (r < 0)
		return r;
	r = kv_version_number(ret_o, version);
	if (r < 0)
		return r;
	return kv_load_version(kv, ret_o, (uint32_t)r, false, ret_row);
}

static int lifecycle_check(const struct kv *kv, const struct store_version *row, enum kv_use use)
{
	int64_t t = kv_now(kv);

	if (use == KV_USE_ANY)
		return 0;
	if (!row->enabled)
		return -EKEYREVOKED;
	if (use == KV_USE_CONSUME) /* verify, decrypt, unwrap: outside its dates too (AKV) */
		return 0;
	if (row->not_before && t < row->not_before)
		return -EKEYREJECTED;
	if (row->expires && t >= row->expires)
		return -EKEYEXPIRED;
	return 0;
}

/* Version `version` of the object: its material after the lifecycle checks into
 * *ret_material, or with ret_material NULL its attributes alone (no lifecycle check, no
 * decryption). */
static int read_version(struct kv *kv, enum object_type kind, const char *vault, const char *name,
			uint32_t version, enum kv_use use, struct secbuf **ret_material,
			struct kv_version_info *ret_info)
{
	const struct store_version *row = NULL;
	struct store_vault v;
	struct store_object o;
	struct secbuf *val = NULL;
	int r;

	r = kind_check(kind, false);
	if (r >= 0)
		r = kv_read_call_begin(kv);
	if (r < 0)
		return r;
	r = kv_cached_row(kv, kind, vault, name, version, &v, &o, &row);
	if (r >= 0 && ret_material)
		r = lifecycle_check(kv, row, use);
	if (r >= 0 && ret_material)
		r = kv_open_version(kv, &v, &o, row, &val);
	r = kv_read_call_end(kv, r);
	if (r < 0) {
		secbuf_free(val);
		return r;
	}
	/* row is the cache's, whose rows stay until the next is put in it (kv_cached_version):
	 * ending the call puts none. Filled in place, not copied (5 KiB, kv_version_info_fill) */
	if (ret_info)
		kv_version_info_fill(row, ret_info);
	if (ret_material)
		*ret_material = val;
	return 0;
}

int kv_object_get(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		  uint32_t version, struct secbuf **ret_material, struct kv_version_info *ret_info)
{
	if (!ret_material)
		return -EINVAL;
	return read_version(kv, kind, vault, name, version, KV_USE_PRODUCE, ret_material, ret_info);
}

int kv_object_get_for(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		      uint32_t version, enum kv_use use, struct secbuf **ret_material,
		      struct kv_version_info *ret_info)
{
	if (!ret_material)
		return -EINVAL;
	return read_version(kv, kind, vault, name, version, use, ret_material, ret_info);
}

int kv_object_info(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		   uint32_t version, struct kv_version_info *ret)
{
	if (!ret)
		return -EINVAL;
	return read_version(kv, kind, vault, name, version, KV_USE_ANY, NULL, ret);
}

/* What a listing says of object o of vault v (both checked): with its current version's row,
 * read and checked, for the expiry and the enabled flag. */
static int object_info(struct kv *kv, const struct store_vault *v, const struct store_object *o,
		       struct kv_object_info *ret)
{
	struct kv_object_info info = { 0 };
	int r;

	info.type = o->type;
	str_copy(info.name, sizeof(info.name), o->name);
	info.id = o->id;
	info.current_version = o->current_version;
	info.created = o->created;
	info.deleted_at = o->deleted_at;
	if (o->deleted_at)
		info.purge_after = o->deleted_at + (int64_t)v->retention_days * 86400;
	if (o->current_version) {
		struct store_version row;

		r = kv_load_version(kv, o, o->current_version, true, &row);
		if (r < 0)
			return r;
		info.expires = row.expires;
		info.enabled = row.enabled;
		store_version_done(&row);
	}
	*ret = info;
	return 0;
}

struct list_ctx {
	struct kv *kv;
	const struct store_vault *vault;
	enum object_type kind;
	bool deleted;
	int (*cb)(const struct kv_object_info *o, void *ud);
	void *ud;
	char last[VAULTFS_NAME_MAX + 1]; /* the name of the last row checked */
};

/* Every row is checked before anything in it is believed, the ones left out (of the other
 * state or kind) too: a changed deleted_at or type can neither hide an object nor show one. */
static int list_one(const struct store_object *o, void *userdata)
{
	struct list_ctx *ctx = userdata;
	struct kv_object_info info;
	int r;

	r = kv_object_verify(ctx->kv, o);
	if (r < 0)
		return r;
	if (o->vault_id != ctx->vault->id)
		return -EBADMSG;
	memcpy(ctx->last, o->name, sizeof(ctx->last));
	if ((o->deleted_at != 0) != ctx->deleted || kv_check_kind(o, ctx->kind) < 0)
		return 0;
	r = object_info(ctx->kv, ctx->vault, o, &info);
	if (r < 0)
		return r;
	return ctx->cb(&info, ctx->ud);
}

/* The listing of kv_object_list, whole (limit 0) or a page of it: the count of rows read. */
static int list(struct kv *kv, enum object_type kind, const char *vault, bool deleted,
		const char *after, unsigned limit,
		int (*cb)(const struct kv_object_info *o, void *ud), void *ud,
		char ret_last[VAULTFS_NAME_MAX + 1])
{
	struct store_vault v;
	struct list_ctx ctx = { kv, &v, kind, deleted, cb, ud, "" };
	int r;

	r = read_store_begin(kv, kind, true);
	if (r < 0)
		return r;
	r = kv_cached_vault(kv, vault, &v);
	if (r >= 0 && limit)
		r = store_object_page(kv->store, v.id, after, limit, list_one, &ctx);
	else if (r >= 0)
		r = store_object_foreach(kv->store, v.id, list_one, &ctx);
	r = kv_read_call_end(kv, r);
	if (r >= 0 && ret_last)
		memcpy(ret_last, ctx.last, sizeof(ctx.last));
	return r;
}

int kv_object_list(struct kv *kv, enum object_type kind, const char *vault, bool deleted,
		   int (*cb)(const struct kv_object_info *o, void *ud), void *ud)
{
	return list(kv, kind, vault, deleted, NULL, 0, cb, ud, NULL);
}

int kv_object_list_page(struct kv *kv, enum object_type kind, const char *vault, bool deleted,
			const char *after, unsigned limit,
			int (*cb)(const struct kv_object_info *o, void *ud), void *ud,
			char ret_last[VAULTFS_NAME_MAX + 1])
{
	if (limit == 0)
		return -EINVAL;
	return list(kv, kind, vault, deleted, after, limit, cb, ud, ret_last);
}

int kv_object_lookup(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		     struct kv_object_info *ret)
{
	struct kv_object_info info;
	struct store_vault v;
	struct store_object o;
	int r;

	r = read_store_begin(kv, kind, true);
	if (r < 0)
		return r;
	r = kv_cached_named(kv, kind, vault, name, true, &v, &o);
	if (r >= 0)
		r = object_info(kv, &v, &o, &info);
	r = kv_read_call_end(kv, r);
	if (r < 0)
		return r;
	*ret = info;
	return 0;
}

struct versions_ctx {
	struct kv *kv;
	const struct store_object *object;
	uint32_t expect; /* the number of the last version met */
	bool skip_ok;	 /* the first row may come after a gap: the vault prunes (kv-prune.c) */
	int (*cb)(const struct kv_version_info *v, void *ud);
	void *ud;
};

static int versions_one(const struct store_version *row, void *userdata)
{
	struct versions_ctx *ctx = userdata;
	struct kv_version_info info;
	int r;

	/* versions are 1..current with no gaps: anything else was edited; in a vault that
	 * prunes, first..current (the oldest ones pruned) */
	if (ctx->skip_ok && row->version > ctx->expect &&
	    row->version <= ctx->object->current_version)
		ctx->expect = row->version - 1;
	ctx->skip_ok = false;
	r = kv_check_version(ctx->kv, ctx->object, ++ctx->expect, row);
	if (r < 0)
		return r;
	kv_version_info_fill(row, &info);
	return ctx->cb(&info, ctx->ud);
}

/* The listing of kv_object_versions, whole (limit 0) or a page of it: the count of rows. */
static int versions(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		    uint32_t after, unsigned limit,
		    int (*cb)(const struct kv_version_info *v, void *ud), void *ud)
{
	struct store_vault v;
	struct store_object o;
	struct versions_ctx ctx = { kv, &o, after, false, cb, ud };
	int r;

	r = read_store_begin(kv, kind, false);
	if (r < 0)
		return r;
	r = kv_cached_named(kv, kind, vault, name, false, &v, &o);
	ctx.skip_ok = r >= 0 && v.prunes;
	if (r >= 0 && limit)
		r = store_version_page(kv->store, o.id, after, limit, versions_one, &ctx);
	else if (r >= 0)
		r = store_version_foreach(kv->store, o.id, versions_one, &ctx);
	/* a listing that got to the end must have met the current version (the pointer names
	 * the newest row, load_object checked: none lies past it) */
	if (r >= 0 && (!limit || (unsigned)r < limit) &&
	    ctx.expect != (after > o.current_version ? after : o.current_version))
		r = -EBADMSG;
	return kv_read_call_end(kv, r);
}

int kv_object_versions(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		       int (*cb)(const struct kv_version_info *v, void *ud), void *ud)
{
	return versions(kv, kind, vault, name, 0, 0, cb, ud);
}

int kv_object_versions_page(struct kv *kv, enum object_type kind, const char *vault,
			    const char *name, uint32_t after, unsigned limit,
			    int (*cb)(const struct kv_version_info *v, void *ud), void *ud)
{
	if (limit == 0)
		return -EINVAL;
	return versions(kv, kind, vault, name, after, limit, cb, ud);
}

int kv_object_update(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		     uint32_t version, const struct kv_attrs *attrs)
{
	struct store_version row = { 0 };
	struct store_vault v;
	struct store_object o;
	int r;

	static const struct kv_attrs keep = KV_ATTRS_KEEP;

	r = kind_check(kind, false);
	if (r >= 0)
		r = kv_fleet_route_update(kv, kind, vault, name, version, attrs);
	if (r != KV_FLEET_LOCAL)
		return r;
	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	r = load_version(kv, kind, vault, name, version, &v, &o, &row);
	if (r >= 0)
		r = kv_apply_attrs(&row, attrs ? attrs : &keep);
	if (r >= 0) {
		row.updated = kv_now(kv);
		r = kv_version_mac(kv, &row, row.mac);
	}
	if (r >= 0)
		r = store_version_update_attrs(kv->store, &row);
	r = kv_write_end(kv, r);
	store_version_done(&row);
	return r;
}

/* Soft delete (deleted_at = now), recover (deleted_at = 0) and purge share this frame. */
enum lifecycle_op { OP_DELETE, OP_RECOVER, OP_PURGE };

static int lifecycle(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		     enum lifecycle_op op)
{
	struct store_vault v;
	struct store_object o;
	int r;

	static const int fleet_op[] = { [OP_DELETE] = 3, [OP_RECOVER] = 4, [OP_PURGE] = 5 };

	r = kind_check(kind, false);
	if (r >= 0)
		r = kv_fleet_route_lifecycle(kv, kind, vault, name, fleet_op[op]);
	if (r != KV_FLEET_LOCAL)
		return r;
	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_named(kv, kind, vault, name, true, &v, &o);
	if (r < 0)
		return kv_write_end(kv, r);
	/* delete needs a live object; recover and purge a deleted one */
	if ((op == OP_DELETE) != (o.deleted_at == 0))
		return kv_write_end(kv, -ENOENT);
	if (op == OP_RECOVER) { /* a name made beside it while it was deleted (before the rule) */
		r = kv_name_clash(kv, &v, o.type, o.name);
		if (r < 0)
			return kv_write_end(kv, r);
	}
	switch (op) {
	case OP_DELETE:
	case OP_RECOVER:
		o.deleted_at = op == OP_DELETE ? kv_now(kv) : 0;
		r = kv_object_mac(kv, &o, o.mac);
		if (r >= 0)
			r = store_object_update(kv->store, &o);
		break;
	case OP_PURGE:
		if (v.purge_protection &&
		    kv_now(kv) < o.deleted_at + (int64_t)v.retention_days * 86400)
			r = -EPERM;
		else
			r = store_object_purge(kv->store, o.id);
		break;
	}
	return kv_write_end(kv, r);
}

int kv_object_delete(struct kv *kv, enum object_type kind, const char *vault, const char *name)
{
	return lifecycle(kv, kind, vault, name, OP_DELETE);
}

int kv_object_recover(struct kv *kv, enum object_type kind, const char *vault, const char *name)
{
	return lifecycle(kv, kind, vault, name, OP_RECOVER);
}

int kv_object_purge(struct kv *kv, enum object_type kind, const char *vault, const char *name)
{
	return lifecycle(kv, kind, vault, name, OP_PURGE);
}
