/* kv-backup.c: a sealed backup of one object (all its versions) and its restore. The blob's
 * plaintext is assembled and parsed only in secbufs, every length in it checked as hostile,
 * all of it parsed before anything is written. */
#include "kv-int.h"

/* The blob of one object (all its versions), sealed under HKDF(M, "vaultfs backup v1"), a key of
 * its own, so it opens only in a store with the same master key:
 *   header      "VFSBAK1\0" || format version (u32 LE, 3); clear, and the AAD of the seal
 *   sealed      nonce (12) || AES-256-GCM(plaintext) || tag (16)
 *   plaintext   (integers LE) type u32, name u16 len + bytes, created i64, versions u32, then
 *               per version: version u32, enabled u8, not_before, expires, created, updated
 *               i64, content type u16 len + bytes, tags u32 len + bytes, value u32 len + bytes;
 *               then (format 2) the object's policy: u8 0 none, 1 a key's rotation policy
 *               (rotate_after, notify_before, expires_after i64), 2 a certificate's policy for
 *               its next version (u32 len + the bytes kv_cert_policy_encode makes)
 * Format 3: the versions are first..current, first > 1 for a secret of a vault that prunes (its
 * oldest were pruned, kv-prune.c); formats 1 (no policy) and 2 start at 1 and still restore. A
 * blob that starts past 1 restores only into a vault that prunes: anywhere else the missing
 * versions would read as rows taken out of the store. The policy is all that is carried of the
 * state rows: which versions were noticed and the failed renewals start afresh in the new place.
 */

#define BACKUP_MAGIC "VFSBAK1" /* and its NUL: 8 bytes */
#define BACKUP_FORMAT 3u
#define BACKUP_HEADER_LEN 12u
/* The plaintext's fixed bytes before the versions (type, name length, created, count), and
 * those of one version besides its three strings. */
#define BACKUP_HEAD_FIXED (4u + 2u + 8u + 4u)
#define BACKUP_VERSION_FIXED (4u + 1u + 4u * 8u + 2u + 4u + 4u)
/* The smallest blob: header, seal, and a plaintext with a one-byte name and one version. */
#define BACKUP_MIN_LEN                                                                             \
	(BACKUP_HEADER_LEN + CRYPTO_AEAD_OVERHEAD + BACKUP_HEAD_FIXED + 1u + BACKUP_VERSION_FIXED)

static void backup_header(uint8_t hdr[BACKUP_HEADER_LEN], uint32_t format)
{
	memcpy(hdr, BACKUP_MAGIC, 8);
	kv_put_le(hdr + 8, format, 4);
}

/* The policy a blob carries (format 2). */
enum bk_policy_kind {
	BK_POLICY_NONE = 0,
	BK_POLICY_ROTATION = 1,
	BK_POLICY_CERT = 2,
};
struct bk_policy {
	enum bk_policy_kind kind;
	struct kv_key_rotation rotation;
	uint8_t *cert; /* kv_cert_policy_encode's bytes: heap (backup) or into the plaintext */
	size_t cert_len;
};

/* Writes into a secure buffer whose exact size was worked out before. */
struct bk_writer {
	uint8_t *p;
	size_t cap, n;
	bool overflow;
};

static void bw_raw(struct bk_writer *w, const void *p, size_t n)
{
	if (w->overflow || n > w->cap - w->n) {
		w->overflow = true;
		return;
	}
	if (n)
		memcpy(w->p + w->n, p, n);
	w->n += n;
}

static void bw_uint(struct bk_writer *w, uint64_t v, size_t bytes)
{
	uint8_t le[8];

	kv_put_le(le, v, bytes);
	bw_raw(w, le, bytes);
}

/* Reads the plaintext of a blob: every length is checked against what is left. */
struct bk_reader {
	const uint8_t *p;
	size_t n, off;
};

static int br_raw(struct bk_reader *rd, size_t n, const uint8_t **ret)
{
	if (n > rd->n - rd->off)
		return -EBADMSG;
	*ret = rd->p + rd->off;
	rd->off += n;
	return 0;
}

static int br_uint(struct bk_reader *rd, size_t bytes, uint64_t *ret)
{
	const uint8_t *p;
	uint64_t v = 0;
	int r;

	r = br_raw(rd, bytes, &p);
	if (r < 0)
		return r;
	for (size_t i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	*ret = v;
	return 0;
}

static int br_i64(struct bk_reader *rd, int64_t *ret)
{
	uint64_t v;
	int r = br_uint(rd, 8, &v);

	if (r < 0)
		return r;
	*ret = (int64_t)v;
	return 0;
}

/* A string of at most max bytes (length prefix of `bytes` bytes), without NUL, copied
 * NUL-terminated into out[max + 1]. */
static int br_str(struct bk_reader *rd, size_t bytes, size_t max, char *out)
{
	const uint8_t *p;
	uint64_t n;
	int r;

	r = br_uint(rd, bytes, &n);
	if (r < 0)
		return r;
	if (n > max)
		return -EBADMSG;
	r = br_raw(rd, (size_t)n, &p);
	if (r < 0)
		return r;
	if (memchr(p, '\0', (size_t)n))
		return -EBADMSG;
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	return 0;
}

struct bk_head {
	const struct kv_kind *kind;
	char name[VAULTFS_NAME_MAX + 1];
	int64_t created;
	uint32_t n_versions;
	uint32_t first; /* the first version's number (format 3: may be past 1) */
};

struct bk_version {
	uint32_t version;
	bool enabled;
	int64_t not_before, expires, created, updated;
	char content_type[VAULTFS_CONTENT_TYPE_MAX + 1];
	char tags[VAULTFS_TAGS_LEN_MAX + 1];
	const uint8_t *value; /* into the plaintext */
	size_t value_len;
};

/* A blob's policy, checked as kv_key_rotation_set and kv_cert_set_policy would. */
static int br_policy(struct bk_reader *rd, enum object_type type, struct bk_policy *ret)
{
	uint64_t kind, len;
	const uint8_t *p;
	int r;

	*ret = (struct bk_policy){ 0 };
	r = br_uint(rd, 1, &kind);
	if (r < 0)
		return r;
	if (kind == BK_POLICY_NONE)
		return 0;
	if (kind == BK_POLICY_ROTATION && type == OBJECT_KEY) {
		struct kv_key_rotation *k = &ret->rotation;

		if ((r = br_i64(rd, &k->rotate_after)) < 0 ||
		    (r = br_i64(rd, &k->notify_before)) < 0 ||
		    (r = br_i64(rd, &k->expires_after)) < 0)
			return r;
		if (k->rotate_after < 0 || k->notify_before < 0 || k->expires_after < 0)
			return -EBADMSG;
	} else if (kind == BK_POLICY_CERT && type == OBJECT_CERT) {
		_cleanup_free_ void *mem = NULL;
		struct kv_cert_policy pol;

		if ((r = br_uint(rd, 4, &len)) < 0)
			return r;
		if (len == 0 || len > STORE_CERT_POLICY_MAX)
			return -EBADMSG;
		if ((r = br_raw(rd, (size_t)len, &p)) < 0)
			return r;
		r = kv_cert_policy_decode(p, (size_t)len, &pol, &mem);
		if (r >= 0)
			r = kv_cert_policy_check(&pol);
		if (r < 0)
			return r == -ENOMEM ? r : -EBADMSG;
		ret->cert = (uint8_t *)p;
		ret->cert_len = (size_t)len;
	} else {
		return -EBADMSG;
	}
	ret->kind = (enum bk_policy_kind)kind;
	return 0;
}

static int br_head(struct bk_reader *rd, struct bk_head *ret)
{
	uint64_t type, n;
	int r;

	if ((r = br_uint(rd, 4, &type)) < 0 ||
	    (r = br_str(rd, 2, VAULTFS_NAME_MAX, ret->name)) < 0 ||
	    (r = br_i64(rd, &ret->created)) < 0 || (r = br_uint(rd, 4, &n)) < 0)
		return r;
	ret->kind = type <= INT32_MAX ? kv_kind_get((int)type) : NULL;
	if (!ret->kind || !kv_name_valid(ret->name) || n < 1 || n > VAULTFS_VERSIONS_MAX)
		return -EBADMSG;
	ret->n_versions = (uint32_t)n;
	return 0;
}

/* Is text exactly what tags_canonical makes of its own lines? */
static int tags_are_canonical(const char *text)
{
	_cleanup_free_ char *copy = NULL, *again = NULL;
	const char *tags[VAULTFS_TAGS_MAX];
	size_t n = 0;
	int r;

	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (char *p = copy, *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl || n == VAULTFS_TAGS_MAX)
			return -EBADMSG;
		*nl = '\0';
		tags[n++] = p;
	}
	r = kv_tags_canonical(tags, n, &again);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	return streq(again, text) ? 0 : -EBADMSG;
}

/* Version `expect` (0: any, the first of a format 3 blob) of an object of kind from rd, every
 * field checked as kv_object_set and update would. */
static int br_version(struct bk_reader *rd, const struct kv_kind *kind, uint32_t expect,
		      struct bk_version *ret)
{
	uint64_t version, enabled, len;
	int r;

	if ((r = br_uint(rd, 4, &version)) < 0 || (r = br_uint(rd, 1, &enabled)) < 0 ||
	    (r = br_i64(rd, &ret->not_before)) < 0 || (r = br_i64(rd, &ret->expires)) < 0 ||
	    (r = br_i64(rd, &ret->created)) < 0 || (r = br_i64(rd, &ret->updated)) < 0 ||
	    (r = br_str(rd, 2, VAULTFS_CONTENT_TYPE_MAX, ret->content_type)) < 0 ||
	    (r = br_str(rd, 4, VAULTFS_TAGS_LEN_MAX, ret->tags)) < 0 ||
	    (r = br_uint(rd, 4, &len)) < 0)
		return r;
	if ((expect ? version != expect : version < 1 || version > VAULTFS_VERSIONS_MAX) ||
	    enabled > 1 || ret->not_before < 0 || ret->expires < 0 ||
	    (ret->not_before && ret->expires && ret->expires < ret->not_before) ||
	    !kv_text_ok(ret->content_type, VAULTFS_CONTENT_TYPE_MAX, true) ||
	    len > kind->material_max)
		return -EBADMSG;
	r = tags_are_canonical(ret->tags);
	if (r < 0)
		return r;
	r = br_raw(rd, (size_t)len, &ret->value);
	if (r < 0)
		return r;
	if (kind->check_material && kind->check_material(ret->value, (size_t)len) < 0)
		return -EBADMSG;
	ret->version = (uint32_t)version;
	ret->enabled = enabled == 1;
	ret->value_len = (size_t)len;
	return 0;
}

/* The number the i-th version of a blob (i from 0) must carry: 0 (any) for the first of a format
 * 3 blob, 1 for that of an older one, then each one more than the last. */
static uint32_t version_expected(const struct bk_head *head, uint32_t format, uint32_t i)
{
	if (i == 0)
		return format >= 3 ? 0 : 1;
	return head->first + i;
}

/* Parse a whole plaintext of format (head, every version, the policy, nothing after): 0 or
 * -EBADMSG. The policy points into pt. */
static int backup_parse(const struct secbuf *pt, uint32_t format, struct bk_head *ret_head,
			struct bk_policy *ret_policy)
{
	struct bk_reader rd = { pt->data, pt->len, 0 };
	struct bk_version bv;
	int r;

	*ret_policy = (struct bk_policy){ 0 };
	r = br_head(&rd, ret_head);
	for (uint32_t i = 0; r >= 0 && i < ret_head->n_versions; i++) {
		r = br_version(&rd, ret_head->kind, version_expected(ret_head, format, i), &bv);
		if (r >= 0 && i == 0)
			ret_head->first = bv.version;
	}
	/* the last one is the current one: within the cap; only secrets are ever pruned */
	if (r >= 0 && (ret_head->n_versions - 1 > VAULTFS_VERSIONS_MAX - ret_head->first ||
		       (ret_head->first > 1 && ret_head->kind->type != OBJECT_SECRET)))
		r = -EBADMSG;
	secure_wipe(&bv, sizeof(bv));
	if (r >= 0 && format >= 2)
		r = br_policy(&rd, ret_head->kind->type, ret_policy);
	if (r < 0)
		return r;
	return rd.off == rd.n ? 0 : -EBADMSG;
}

/* Inside the caller's read transaction: the policy of object o (none: BK_POLICY_NONE). */
static int backup_policy_load(struct kv *kv, const struct store_object *o, struct bk_policy *ret)
{
	int r;

	*ret = (struct bk_policy){ 0 };
	if (o->type == OBJECT_KEY) {
		struct store_rotation row;

		r = kv_rotation_load(kv, o->id, &row);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return r;
		ret->kind = BK_POLICY_ROTATION;
		ret->rotation = (struct kv_key_rotation){ row.rotate_after, row.notify_before,
							  row.expires_after };
	} else if (o->type == OBJECT_CERT) {
		struct store_cert_state row;

		r = kv_cert_state_load(kv, o->id, &row);
		if (r == -ENOENT)
			return 0;
		if (r >= 0 && row.policy_len > 0) {
			ret->kind = BK_POLICY_CERT;
			ret->cert = TAKE_PTR(row.policy);
			ret->cert_len = row.policy_len;
		}
		store_cert_state_done(&row);
		return r;
	}
	return 0;
}

static size_t backup_policy_size(const struct bk_policy *p)
{
	return 1 + (p->kind == BK_POLICY_ROTATION ? 3 * 8 :
		    p->kind == BK_POLICY_CERT	  ? 4 + p->cert_len :
						    0);
}

static void bw_policy(struct bk_writer *w, const struct bk_policy *p)
{
	bw_uint(w, p->kind, 1);
	if (p->kind == BK_POLICY_ROTATION) {
		bw_uint(w, (uint64_t)p->rotation.rotate_after, 8);
		bw_uint(w, (uint64_t)p->rotation.notify_before, 8);
		bw_uint(w, (uint64_t)p->rotation.expires_after, 8);
	} else if (p->kind == BK_POLICY_CERT) {
		bw_uint(w, p->cert_len, 4);
		bw_raw(w, p->cert, p->cert_len);
	}
}

/* Inside the caller's write transaction: policy p as the new object o's row. */
static int restore_policy(struct kv *kv, const struct store_object *o, const struct bk_policy *p)
{
	if (p->kind == BK_POLICY_ROTATION) {
		struct store_rotation row = { .object_id = o->id,
					      .rotate_after = p->rotation.rotate_after,
					      .notify_before = p->rotation.notify_before,
					      .expires_after = p->rotation.expires_after };

		return kv_rotation_put(kv, &row);
	}
	if (p->kind == BK_POLICY_CERT) {
		struct store_cert_state row = { .object_id = o->id };
		int r;

		row.policy = malloc(p->cert_len);
		if (!row.policy)
			return -ENOMEM;
		memcpy(row.policy, p->cert, p->cert_len);
		row.policy_len = p->cert_len;
		r = kv_cert_state_put(kv, &row);
		store_cert_state_done(&row);
		return r;
	}
	return 0;
}

struct backup_size_ctx {
	struct kv *kv;
	const struct store_object *object;
	uint32_t first;	 /* the first row's number */
	uint32_t expect; /* the number of the last row met */
	bool skip_ok;	 /* the first row may come after a gap: the vault prunes */
	size_t size;
};

/* First pass over the versions: check each row, add up the blob's size. */
static int backup_size_one(const struct store_version *row, void *userdata)
{
	struct backup_size_ctx *ctx = userdata;
	int r;

	/* 1..current, or first..current in a vault that prunes, as kv_object_versions reads them */
	if (ctx->skip_ok && row->version > 1 && row->version <= ctx->object->current_version)
		ctx->expect = row->version - 1;
	if (!ctx->first)
		ctx->first = row->version;
	ctx->skip_ok = false;
	r = kv_check_version(ctx->kv, ctx->object, ++ctx->expect, row);
	if (r < 0)
		return r;
	ctx->size += BACKUP_VERSION_FIXED + strlen(row->content_type) +
		     strlen(row->tags ? row->tags : "") +
		     (row->ciphertext_len - CRYPTO_AEAD_OVERHEAD);
	return ctx->size > VAULTFS_BACKUP_MAX ? -EMSGSIZE : 0;
}

/* Second pass: version `version` of o, checked, its value decrypted straight into w. */
static int backup_write_version(struct kv *kv, const struct vkey *vk, const struct store_object *o,
				uint32_t version, struct bk_writer *w)
{
	struct store_version row = { 0 };
	const char *tags;
	size_t len;
	int r;

	r = kv_load_version(kv, o, version, false, &row);
	if (r < 0)
		return r;
	tags = row.tags ? row.tags : "";
	len = row.ciphertext_len - CRYPTO_AEAD_OVERHEAD;
	bw_uint(w, row.version, 4);
	bw_uint(w, row.enabled, 1);
	bw_uint(w, (uint64_t)row.not_before, 8);
	bw_uint(w, (uint64_t)row.expires, 8);
	bw_uint(w, (uint64_t)row.created, 8);
	bw_uint(w, (uint64_t)row.updated, 8);
	bw_uint(w, strlen(row.content_type), 2);
	bw_raw(w, row.content_type, strlen(row.content_type));
	bw_uint(w, strlen(tags), 4);
	bw_raw(w, tags, strlen(tags));
	bw_uint(w, len, 4);
	if (w->overflow || len > w->cap - w->n) {
		r = -EBADMSG; /* not the size the first pass saw */
		goto out;
	}
	r = kv_open_value(kv, vk, o, &row, w->p + w->n);
	if (r >= 0)
		w->n += len;
out:
	store_version_done(&row);
	return r;
}

int kv_object_backup(struct kv *kv, enum object_type kind, const char *vault, const char *name,
		     struct secbuf **ret_blob)
{
	_cleanup_secbuf_ struct secbuf *pt = NULL, *key = NULL, *blob = NULL;
	struct vkey vk;
	struct store_vault v;
	struct store_object o;
	struct backup_size_ctx ctx = { .kv = kv, .object = &o };
	struct bk_writer w = { 0 };
	struct bk_policy pol = { 0 };
	int r;

	if (!kv_kind_get(kind) || !kv_name_valid(vault) || !kv_name_valid(name) || !ret_blob)
		return -EINVAL;
	r = kv_own_read_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_named(kv, kind, vault, name, false, &v, &o);
	if (r < 0)
		return kv_own_read_end(kv, r);

	ctx.size = BACKUP_HEADER_LEN + CRYPTO_AEAD_OVERHEAD + BACKUP_HEAD_FIXED + strlen(o.name);
	ctx.skip_ok = v.prunes;
	r = store_version_foreach(kv->store, o.id, backup_size_one, &ctx);
	if (r >= 0 && (ctx.expect != o.current_version || ctx.expect == 0))
		r = -EBADMSG;
	if (r >= 0)
		r = backup_policy_load(kv, &o, &pol);
	ctx.size += backup_policy_size(&pol);
	if (r >= 0 && ctx.size > VAULTFS_BACKUP_MAX)
		r = -EMSGSIZE;
	if (r >= 0)
		r = secbuf_new(ctx.size - BACKUP_HEADER_LEN - CRYPTO_AEAD_OVERHEAD, &pt);
	if (r >= 0)
		r = kv_vault_key(kv, &v, &vk);
	if (r < 0) {
		free(pol.cert);
		return kv_own_read_end(kv, r);
	}

	w = (struct bk_writer){ pt->data, pt->cap, 0, false };
	bw_uint(&w, (uint64_t)o.type, 4);
	bw_uint(&w, strlen(o.name), 2);
	bw_raw(&w, o.name, strlen(o.name));
	bw_uint(&w, (uint64_t)o.created, 8);
	bw_uint(&w, o.current_version - ctx.first + 1, 4);
	for (uint32_t i = ctx.first; r >= 0 && i <= o.current_version; i++)
		r = backup_write_version(kv, &vk, &o, i, &w);
	bw_policy(&w, &pol);
	free(pol.cert);
	if (r >= 0 && (w.overflow || w.n != w.cap))
		r = -EBADMSG;
	r = kv_own_read_end(kv, r);
	if (r < 0)
		return r;
	pt->len = w.n;

	r = kv_derive(kv, "vaultfs backup v1", &key);
	if (r < 0)
		return r;
	r = secbuf_new(ctx.size, &blob);
	if (r < 0)
		return r;
	backup_header(blob->data, BACKUP_FORMAT);
	r = crypto_aead_seal(key->data, blob->data, BACKUP_HEADER_LEN, pt->data, pt->len,
			     blob->data + BACKUP_HEADER_LEN);
	if (r < 0)
		return r;
	blob->len = ctx.size;
	*ret_blob = TAKE_PTR(blob);
	return 0;
}

/* Inside the caller's write transaction: the versions of a parsed plaintext as object o in v. */
static int restore_versions(struct kv *kv, const struct store_vault *v, const struct secbuf *pt,
			    uint32_t format, struct store_object *o)
{
	struct bk_reader rd = { pt->data, pt->len, 0 };
	struct vkey vk;
	struct bk_head head;
	struct bk_version bv;
	int r;

	r = kv_vault_key(kv, v, &vk);
	if (r >= 0)
		r = br_head(&rd, &head);
	for (uint32_t i = 0; r >= 0 && i < head.n_versions; i++) {
		struct store_version row = { 0 };

		r = br_version(&rd, head.kind, version_expected(&head, format, i), &bv);
		if (r < 0)
			break;
		if (i == 0)
			head.first = bv.version;
		row.object_id = o->id;
		row.version = bv.version;
		row.enabled = bv.enabled;
		row.not_before = bv.not_before;
		row.expires = bv.expires;
		row.created = bv.created;
		row.updated = bv.updated;
		memcpy(row.content_type, bv.content_type, sizeof(row.content_type));
		row.tags = strdup(bv.tags);
		r = row.tags ? 0 : -ENOMEM;
		if (r >= 0)
			r = kv_seal_value(kv, &vk, o, row.version, bv.value, bv.value_len, &row);
		if (r >= 0)
			r = kv_version_mac(kv, &row, row.mac);
		if (r >= 0)
			r = store_version_insert(kv->store, &row);
		store_version_done(&row);
		o->current_version = bv.version;
	}
	secure_wipe(&bv, sizeof(bv));
	if (r < 0)
		return r;
	r = kv_object_mac(kv, o, o->mac);
	if (r < 0)
		return r;
	return store_object_update(kv->store, o);
}

/* Open and check a whole blob: its plaintext, format and head. */
static int backup_open(struct kv *kv, const void *blob, size_t len, struct secbuf **ret_pt,
		       uint32_t *ret_format, struct bk_head *ret_head, struct bk_policy *ret_policy)
{
	_cleanup_secbuf_ struct secbuf *key = NULL, *pt = NULL;
	uint8_t hdr[BACKUP_HEADER_LEN];
	uint32_t format;
	int r;

	if (!blob && len > 0)
		return -EINVAL;
	if (len > VAULTFS_BACKUP_MAX)
		return -EMSGSIZE;
	if (len < BACKUP_MIN_LEN)
		return -EBADMSG;
	/* this program's format or an older one (1: no policy, 2: versions from 1) */
	for (format = BACKUP_FORMAT; format > 0; format--) {
		backup_header(hdr, format);
		if (memcmp(blob, hdr, sizeof(hdr)) == 0)
			break;
	}
	if (format == 0)
		return -EBADMSG;
	r = kv_derive(kv, "vaultfs backup v1", &key);
	if (r < 0)
		return r;
	r = secbuf_new(len - BACKUP_HEADER_LEN - CRYPTO_AEAD_OVERHEAD, &pt);
	if (r < 0)
		return r;
	r = crypto_aead_open(key->data, blob, BACKUP_HEADER_LEN,
			     (const uint8_t *)blob + BACKUP_HEADER_LEN, len - BACKUP_HEADER_LEN,
			     pt->data);
	if (r < 0)
		return r == -EINVAL ? -EBADMSG : r;
	pt->len = len - BACKUP_HEADER_LEN - CRYPTO_AEAD_OVERHEAD;
	/* all of it checked before anything is written */
	r = backup_parse(pt, format, ret_head, ret_policy);
	if (r < 0)
		return r;
	*ret_pt = TAKE_PTR(pt);
	*ret_format = format;
	return 0;
}

int kv_backup_peek(struct kv *kv, const void *blob, size_t len, enum object_type *ret_kind,
		   char ret_name[VAULTFS_NAME_MAX + 1])
{
	_cleanup_secbuf_ struct secbuf *pt = NULL;
	struct bk_head head;
	struct bk_policy pol;
	uint32_t format;
	int r;

	r = backup_open(kv, blob, len, &pt, &format, &head, &pol);
	if (r < 0)
		return r;
	if (ret_kind)
		*ret_kind = head.kind->type;
	memcpy(ret_name, head.name, VAULTFS_NAME_MAX + 1);
	return 0;
}

int kv_object_restore(struct kv *kv, enum object_type kind, const char *vault, const void *blob,
		      size_t len, char ret_name[VAULTFS_NAME_MAX + 1])
{
	_cleanup_secbuf_ struct secbuf *pt = NULL;
	struct store_vault v;
	struct store_object o = { 0 };
	struct bk_head head;
	struct bk_policy pol;
	uint32_t format;
	int r;

	if ((kind != KV_KIND_ANY && !kv_kind_get(kind)) || !kv_name_valid(vault) || !ret_name)
		return -EINVAL;
	r = backup_open(kv, blob, len, &pt, &format, &head, &pol);
	if (r < 0)
		return r;
	if (kind != KV_KIND_ANY && head.kind->type != kind)
		return -EMEDIUMTYPE;

	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_vault(kv, vault, &v);
	if (r >= 0) /* a fleet vault's versions come through its center only */
		r = kv_fleet_local_only(kv, &v);
	if (r >= 0 && head.first > 1 && !v.prunes)
		r = -EXDEV; /* its pruned versions would read as rows taken out */
	if (r >= 0) {
		r = store_object_get(kv->store, v.id, head.name, &o);
		if (r >= 0)
			r = -EEXIST; /* live or soft-deleted, of any kind */
		else if (r == -ENOENT)
			r = kv_name_clash(kv, &v, head.kind->type, head.name);
	}
	if (r >= 0) {
		memset(&o, 0, sizeof(o));
		o.vault_id = v.id;
		memcpy(o.name, head.name, sizeof(o.name));
		o.type = head.kind->type;
		o.created = head.created;
		r = store_object_insert(kv->store, &o);
	}
	if (r >= 0)
		r = restore_versions(kv, &v, pt, format, &o);
	if (r >= 0)
		r = restore_policy(kv, &o, &pol);
	r = kv_write_end(kv, r);
	if (r < 0)
		return r;
	memcpy(ret_name, head.name, sizeof(head.name));
	return 0;
}
