/* kv-object.c: secrets: names, versions, attributes, lifecycle (soft delete, recover, purge),
 * lookup and listing. Every row checked before it is believed; a value is decrypted into a
 * secbuf and nowhere else; writes in one transaction. */
#include <ctype.h>

#include "kv-int.h"

/* --- attribute validation --- */

bool kv_text_ok(const char *s, size_t max, bool allow_empty)
{
	size_t n = strlen(s);

	if (n > max || (!allow_empty && n == 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if (iscntrl((unsigned char)s[i]))
			return false;
	return true;
}

static int tag_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t kx = strcspn(x, "="), ky = strcspn(y, "=");
	int c = memcmp(x, y, kx < ky ? kx : ky);

	return c ? c : (kx > ky) - (kx < ky);
}

/* "k=v" strings to the canonical form: sorted by key, one "k=v\n" each, no duplicate keys. */
int kv_tags_canonical(const char *const *tags, size_t n, char **ret)
{
	_cleanup_free_ const char **sorted = NULL;
	_cleanup_free_ char *out = NULL;
	size_t len = 0;

	if (n > VAULTFS_TAGS_MAX)
		return -EINVAL;
	sorted = calloc(n ? n : 1, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(tags[i], '=');
		size_t k;

		if (!eq)
			return -EINVAL;
		k = (size_t)(eq - tags[i]);
		if (k == 0 || k > VAULTFS_TAG_KEY_MAX ||
		    !kv_text_ok(eq + 1, VAULTFS_TAG_VALUE_MAX, true))
			return -EINVAL;
		for (size_t j = 0; j < k; j++)
			if (iscntrl((unsigned char)tags[i][j]) ||
			    isspace((unsigned char)tags[i][j]))
				return -EINVAL;
		sorted[i] = tags[i];
		len += strlen(tags[i]) + 1;
	}
	qsort(sorted, n, sizeof(*sorted), tag_cmp);
	for (size_t i = 1; i < n; i++)
		if (tag_cmp(&sorted[i - 1], &sorted[i]) == 0)
			return -EINVAL;
	out = malloc(len + 1);
	if (!out)
		return -ENOMEM;
	out[0] = '\0';
	for (size_t i = 0, o = 0; i < n; i++) {
		size_t l = strlen(sorted[i]);

		memcpy(out + o, sorted[i], l);
		out[o + l] = '\n';
		o += l + 1;
		out[o] = '\0';
	}
	*ret = TAKE_PTR(out);
	return 0;
}

static bool time_ok(int64_t t)
{
	return t == KV_KEEP || t >= 0;
}

/* Apply attrs (KEEP fields untouched) to a version row, validating everything first. */
static int apply_attrs(struct store_version *v, const struct kv_attrs *a)
{
	_cleanup_free_ char *tags = NULL;
	int64_t nbf, exp;
	int r;

	if (a->enabled < -1 || a->enabled > 1 || !time_ok(a->not_before) || !time_ok(a->expires))
		return -EINVAL;
	if (a->content_type && !kv_text_ok(a->content_type, VAULTFS_CONTENT_TYPE_MAX, true))
		return -EINVAL;
	if (a->tags) {
		r = kv_tags_canonical(a->tags, a->n_tags, &tags);
		if (r < 0)
			return r;
	}
	nbf = a->not_before == KV_KEEP ? v->not_before : a->not_before;
	exp = a->expires == KV_KEEP ? v->expires : a->expires;
	if (nbf && exp && exp < nbf)
		return -EINVAL;

	if (a->enabled >= 0)
		v->enabled = a->enabled;
	v->not_before = nbf;
	v->expires = exp;
	if (a->content_type)
		str_copy(v->content_type, sizeof(v->content_type), a->content_type);
	if (tags) {
		free(v->tags);
		v->tags = TAKE_PTR(tags);
	}
	return 0;
}

static void version_info(const struct store_version *v, struct kv_version_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->object_id = v->object_id;
	ret->version = v->version;
	ret->enabled = v->enabled;
	ret->not_before = v->not_before;
	ret->expires = v->expires;
	ret->created = v->created;
	ret->updated = v->updated;
	str_copy(ret->content_type, sizeof(ret->content_type), v->content_type);
	str_copy(ret->tags, sizeof(ret->tags), v->tags ? v->tags : "");
	ret->size = v->ciphertext_len >= CRYPTO_AEAD_OVERHEAD ?
			    v->ciphertext_len - CRYPTO_AEAD_OVERHEAD :
			    0;
}

/* --- secrets --- */

int kv_secret_set(struct kv *kv, const char *vault, const char *name, const void *value,
		  size_t len, const struct kv_attrs *attrs, uint32_t *ret_version)
{
	static const struct kv_attrs defaults = { .enabled = 1, .content_type = "" };
	struct store_version row = { .enabled = true };
	struct store_vault v;
	struct store_object o;
	int r;

	if (!kv_name_valid(vault) || !kv_name_valid(name))
		return -EINVAL;
	if (len > VAULTFS_VALUE_MAX)
		return -EMSGSIZE;
	row.tags = strdup("");
	if (!row.tags)
		return -ENOMEM;
	r = apply_attrs(&row, attrs ? attrs : &defaults);
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
		memset(&o, 0, sizeof(o));
		o.vault_id = v.id;
		str_copy(o.name, sizeof(o.name), name);
		o.type = OBJECT_SECRET;
		o.created = kv_now(kv);
		r = store_object_insert(kv->store, &o);
	} else if (r >= 0 && o.deleted_at) {
		r = -EEXIST; /* soft-deleted: recover or purge it first */
	} else if (r >= 0 && o.type != OBJECT_SECRET) {
		r = -EEXIST;
	} else if (r >= 0 && o.current_version >= VAULTFS_VERSIONS_MAX) {
		r = -ENOSPC;
	}
	if (r < 0)
		goto end;

	row.object_id = o.id;
	row.version = o.current_version + 1;
	row.created = row.updated = kv_now(kv);
	r = kv_seal_version(kv, &v, &o, row.version, value, len, &row);
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

/* Load and check version `version` (0 = current) of vault/name inside the caller's
 * transaction. */
static int load_version(struct kv *kv, const char *vault, const char *name, uint32_t version,
			struct store_vault *ret_v, struct store_object *ret_o,
			struct store_version *ret_row)
{
	int r;

	r = kv_load_vault(kv, vault, ret_v);
	if (r < 0)
		return r;
	r = kv_load_object(kv, ret_v, name, false, ret_o);
	if (r < 0)
		return r;
	r = kv_version_number(ret_o, version);
	if (r < 0)
		return r;
	return kv_load_version(kv, ret_o, (uint32_t)r, false, ret_row);
}

static int lifecycle_check(const struct kv *kv, const struct store_version *row)
{
	int64_t t = kv_now(kv);

	if (!row->enabled)
		return -EKEYREVOKED;
	if (row->not_before && t < row->not_before)
		return -EKEYREJECTED;
	if (row->expires && t >= row->expires)
		return -EKEYEXPIRED;
	return 0;
}

int kv_secret_get(struct kv *kv, const char *vault, const char *name, uint32_t version,
		  struct secbuf **ret_value, struct kv_version_info *ret_info)
{
	const struct store_version *row = NULL;
	struct kv_version_info info;
	struct store_vault v;
	struct store_object o;
	struct secbuf *val = NULL;
	int r;

	r = kv_read_call_begin(kv);
	if (r < 0)
		return r;
	r = kv_cached_row(kv, vault, name, version, &v, &o, &row);
	if (r >= 0)
		r = lifecycle_check(kv, row);
	if (r >= 0)
		r = kv_open_version(kv, &v, &o, row, &val);
	if (r >= 0 && ret_info)
		version_info(row, &info);
	r = kv_read_call_end(kv, r);
	if (r < 0) {
		secbuf_free(val);
		return r;
	}
	if (ret_info)
		*ret_info = info;
	*ret_value = val;
	return 0;
}

int kv_secret_info(struct kv *kv, const char *vault, const char *name, uint32_t version,
		   struct kv_version_info *ret)
{
	const struct store_version *row = NULL;
	struct kv_version_info info;
	struct store_vault v;
	struct store_object o;
	int r;

	r = kv_read_call_begin(kv);
	if (r < 0)
		return r;
	r = kv_cached_row(kv, vault, name, version, &v, &o, &row);
	if (r >= 0)
		version_info(row, &info);
	r = kv_read_call_end(kv, r);
	if (r < 0)
		return r;
	*ret = info;
	return 0;
}

/* What a listing says of object o of vault v (both checked): with its current version's row,
 * read and checked, for the expiry and the enabled flag. */
static int secret_info(struct kv *kv, const struct store_vault *v, const struct store_object *o,
		       struct kv_secret_info *ret)
{
	struct kv_secret_info info = { 0 };
	int r;

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

struct secret_list_ctx {
	struct kv *kv;
	const struct store_vault *vault;
	bool deleted;
	int (*cb)(const struct kv_secret_info *s, void *ud);
	void *ud;
	char last[VAULTFS_NAME_MAX + 1]; /* the name of the last row checked */
};

/* Every row is checked before anything in it is believed, the ones left out (of the other
 * state) too: a changed deleted_at can neither hide a secret nor show one. */
static int secret_list_one(const struct store_object *o, void *userdata)
{
	struct secret_list_ctx *ctx = userdata;
	struct kv_secret_info info;
	int r;

	r = kv_object_verify(ctx->kv, o);
	if (r < 0)
		return r;
	if (o->vault_id != ctx->vault->id)
		return -EBADMSG;
	memcpy(ctx->last, o->name, sizeof(ctx->last));
	if ((o->deleted_at != 0) != ctx->deleted)
		return 0;
	r = secret_info(ctx->kv, ctx->vault, o, &info);
	if (r < 0)
		return r;
	return ctx->cb(&info, ctx->ud);
}

/* The listing of kv_secret_list, whole (limit 0) or a page of it: the count of rows read. */
static int secret_list(struct kv *kv, const char *vault, bool deleted, const char *after,
		       unsigned limit, int (*cb)(const struct kv_secret_info *s, void *ud),
		       void *ud, char ret_last[VAULTFS_NAME_MAX + 1])
{
	struct store_vault v;
	struct secret_list_ctx ctx = { kv, &v, deleted, cb, ud, "" };
	int r;

	r = kv_read_call_begin(kv);
	if (r >= 0)
		r = kv_read_need_store(kv);
	if (r < 0)
		return r;
	r = kv_cached_vault(kv, vault, &v);
	if (r >= 0 && limit)
		r = store_object_page(kv->store, v.id, after, limit, secret_list_one, &ctx);
	else if (r >= 0)
		r = store_object_foreach(kv->store, v.id, secret_list_one, &ctx);
	r = kv_read_call_end(kv, r);
	if (r >= 0 && ret_last)
		memcpy(ret_last, ctx.last, sizeof(ctx.last));
	return r;
}

int kv_secret_list(struct kv *kv, const char *vault, bool deleted,
		   int (*cb)(const struct kv_secret_info *s, void *ud), void *ud)
{
	return secret_list(kv, vault, deleted, NULL, 0, cb, ud, NULL);
}

int kv_secret_list_page(struct kv *kv, const char *vault, bool deleted, const char *after,
			unsigned limit, int (*cb)(const struct kv_secret_info *s, void *ud),
			void *ud, char ret_last[VAULTFS_NAME_MAX + 1])
{
	if (limit == 0)
		return -EINVAL;
	return secret_list(kv, vault, deleted, after, limit, cb, ud, ret_last);
}

int kv_secret_lookup(struct kv *kv, const char *vault, const char *name,
		     struct kv_secret_info *ret)
{
	struct kv_secret_info info;
	struct store_vault v;
	struct store_object o;
	int r;

	r = kv_read_call_begin(kv);
	if (r >= 0)
		r = kv_read_need_store(kv);
	if (r < 0)
		return r;
	r = kv_cached_vault(kv, vault, &v);
	if (r >= 0)
		r = kv_cached_object(kv, &v, name, true, &o);
	if (r >= 0)
		r = secret_info(kv, &v, &o, &info);
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
	int (*cb)(const struct kv_version_info *v, void *ud);
	void *ud;
};

static int versions_one(const struct store_version *row, void *userdata)
{
	struct versions_ctx *ctx = userdata;
	struct kv_version_info info;
	int r;

	/* versions are 1..current with no gaps: anything else was edited */
	r = kv_check_version(ctx->kv, ctx->object, ++ctx->expect, row);
	if (r < 0)
		return r;
	version_info(row, &info);
	return ctx->cb(&info, ctx->ud);
}

/* The listing of kv_secret_versions, whole (limit 0) or a page of it: the count of rows. */
static int secret_versions(struct kv *kv, const char *vault, const char *name, uint32_t after,
			   unsigned limit, int (*cb)(const struct kv_version_info *v, void *ud),
			   void *ud)
{
	struct store_vault v;
	struct store_object o;
	struct versions_ctx ctx = { kv, &o, after, cb, ud };
	int r;

	r = kv_read_call_begin(kv);
	if (r >= 0)
		r = kv_read_need_store(kv);
	if (r < 0)
		return r;
	r = kv_cached_vault(kv, vault, &v);
	if (r >= 0)
		r = kv_cached_object(kv, &v, name, false, &o);
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

int kv_secret_versions(struct kv *kv, const char *vault, const char *name,
		       int (*cb)(const struct kv_version_info *v, void *ud), void *ud)
{
	return secret_versions(kv, vault, name, 0, 0, cb, ud);
}

int kv_secret_versions_page(struct kv *kv, const char *vault, const char *name, uint32_t after,
			    unsigned limit, int (*cb)(const struct kv_version_info *v, void *ud),
			    void *ud)
{
	if (limit == 0)
		return -EINVAL;
	return secret_versions(kv, vault, name, after, limit, cb, ud);
}

int kv_secret_update(struct kv *kv, const char *vault, const char *name, uint32_t version,
		     const struct kv_attrs *attrs)
{
	struct store_version row = { 0 };
	struct store_vault v;
	struct store_object o;
	int r;

	static const struct kv_attrs keep = KV_ATTRS_KEEP;

	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	r = load_version(kv, vault, name, version, &v, &o, &row);
	if (r >= 0)
		r = apply_attrs(&row, attrs ? attrs : &keep);
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

static int lifecycle(struct kv *kv, const char *vault, const char *name, enum lifecycle_op op)
{
	struct store_vault v;
	struct store_object o;
	int r;

	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_vault(kv, vault, &v);
	if (r >= 0)
		r = kv_load_object(kv, &v, name, true, &o);
	if (r < 0)
		return kv_write_end(kv, r);
	/* delete needs a live secret; recover and purge a deleted one */
	if ((op == OP_DELETE) != (o.deleted_at == 0))
		return kv_write_end(kv, -ENOENT);
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

int kv_secret_delete(struct kv *kv, const char *vault, const char *name)
{
	return lifecycle(kv, vault, name, OP_DELETE);
}

int kv_secret_recover(struct kv *kv, const char *vault, const char *name)
{
	return lifecycle(kv, vault, name, OP_RECOVER);
}

int kv_secret_purge(struct kv *kv, const char *vault, const char *name)
{
	return lifecycle(kv, vault, name, OP_PURGE);
}

