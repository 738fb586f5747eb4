/* kv-expiry.c: what the daemon's timer asks of kv: the scheduled purge of soft-deleted objects
 * whose retention has passed, and expiry notices. Callbacks run outside any transaction; every
 * row reported is checked. */
#include "kv-int.h"

/* --- purge when retention has passed --- */

#define PURGE_BATCH 32u

struct due {
	int64_t vault_id;
	char name[VAULTFS_NAME_MAX + 1];
};

struct due_list {
	struct due d[PURGE_BATCH];
	unsigned n;
};

static int due_one(const struct store_object *o, void *userdata)
{
	struct due_list *l = userdata;

	l->d[l->n].vault_id = o->vault_id;
	memcpy(l->d[l->n].name, o->name, sizeof(l->d[l->n].name));
	l->n++;
	return 0;
}

int kv_purge_due(struct kv *kv, int (*cb)(const char *vault, const char *name, void *ud), void *ud)
{
	struct due_list l = { .n = 0 };
	int64_t t = kv_now(kv);
	unsigned purged = 0;
	int r;

	r = kv_own_read_begin(kv);
	if (r < 0)
		return r;
	r = kv_own_read_end(kv,
			    store_object_deleted_foreach(kv->store, t, PURGE_BATCH, due_one, &l));
	if (r < 0)
		return r;
	for (unsigned i = 0; i < l.n; i++) {
		struct store_vault v;
		struct store_object o;

		/* the rows read above were not verified: the vault's and the object's rows are
		 * now, and the purge checks them again (a forged deletion time is -EBADMSG) */
		r = kv_own_read_begin(kv);
		if (r < 0)
			return r;
		r = kv_load_vault_id(kv, l.d[i].vault_id, &v);
		if (r >= 0)
			r = kv_load_object(kv, &v, l.d[i].name, true, &o);
		r = kv_own_read_end(kv, r);
		if (r < 0)
			return r;
		if (o.deleted_at == 0 || o.deleted_at + (int64_t)v.retention_days * 86400 > t)
			continue; /* recovered meanwhile, or this vault keeps them longer */
		r = cb(v.name, l.d[i].name, ud);
		if (r < 0)
			return r;
		r = kv_object_purge(kv, o.type, v.name, l.d[i].name);
		if (r < 0)
			return r;
		purged++;
	}
	return l.n == PURGE_BATCH ? (int)purged + 1 : (int)purged;
}

/* --- expiry notices ---
 * The notices table carries no MAC, and needs none: all it can do is keep a reminder from
 * being given (a forged or copied mark suppresses one, a deleted mark repeats one). It never
 * decides access and never makes us believe a row we did not check: every version, object and
 * vault row the scan reports is MAC-verified like any other read. */

/* Notices read in one read transaction, then given (outside it) and recorded. */
#define EXPIRY_BATCH 64u

struct expiry_item {
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1];
	int64_t object_id;
	uint32_t version;
	int64_t expires;
	int event;
};

struct expiry_ctx {
	struct kv *kv;
	int64_t now;
	struct store_expiry_scan q; /* its cursor moves past every row read */
	struct expiry_item *items;
	size_t n, rows;
	struct store_object o; /* the last object and vault looked up, checked */
	struct store_vault v;
	bool have_o, have_v;
};

static int expiry_one(const struct store_version *row, void *userdata)
{
	struct expiry_ctx *ctx = userdata;
	struct expiry_item *it;
	int r;

	ctx->rows++;
	r = kv_version_verify(ctx->kv, row);
	if (r < 0)
		return r;
	if (row->expires <= 0 || row->expires > ctx->q.until || ctx->n >= EXPIRY_BATCH)
		return -EBADMSG;
	ctx->q.after_expires = row->expires;
	ctx->q.after_object = row->object_id;
	ctx->q.after_version = row->version;

	if (!ctx->have_o || ctx->o.id != row->object_id) {
		ctx->have_o = false;
		r = kv_load_object_id(ctx->kv, row->object_id, &ctx->o);
		if (r >= 0)
			r = kv_check_current(ctx->kv, &ctx->o);
		if (r < 0)
			return r == -ENOENT ? -EBADMSG : r;
		ctx->have_o = true;
	}
	if (row->version > ctx->o.current_version)
		return -EBADMSG;
	if (ctx->o.deleted_at != 0)
		return 0; /* the store filtered on the unchecked column: the checked one decides */
	if (ctx->o.type == OBJECT_CERT)
		return 0; /* kv_cert_due tells a certificate's, by its policy, of its newest version */
	if (!ctx->have_v || ctx->v.id != ctx->o.vault_id) {
		ctx->have_v = false;
		r = kv_load_vault_id(ctx->kv, ctx->o.vault_id, &ctx->v);
		if (r < 0)
			return r == -ENOENT ? -EBADMSG : r;
		ctx->have_v = true;
	}

	it = &ctx->items[ctx->n++];
	memcpy(it->vault, ctx->v.name, sizeof(it->vault));
	memcpy(it->name, ctx->o.name, sizeof(it->name));
	it->object_id = row->object_id;
	it->version = row->version;
	it->expires = row->expires;
	it->event = ctx->now >= row->expires ? KV_EXPIRED : KV_NEAR_EXPIRY;
	return 0;
}

/* Record the notices given, in one transaction. A version the callback purged meanwhile has
 * nothing left to remember. */
static int expiry_mark(struct kv *kv, const struct expiry_item *items, size_t n)
{
	int r;

	if (n == 0)
		return 0;
	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = store_notice_mark(kv->store, items[i].object_id, items[i].version,
				      items[i].event == KV_EXPIRED ? STORE_NOTICE_EXPIRED :
								     STORE_NOTICE_NEAR,
				      items[i].expires);
		if (r == -ENOENT)
			r = 0;
	}
	return kv_write_end(kv, r);
}

int kv_expiry_scan(struct kv *kv, int64_t horizon,
		   int (*cb)(const char *vault, const char *name, uint32_t version, int64_t expires,
			     int event, void *ud),
		   void *ud)
{
	_cleanup_free_ struct expiry_item *items = NULL;
	struct expiry_ctx ctx = { .kv = kv };
	int r, k;

	if (horizon < 0 || !cb)
		return -EINVAL;
	items = calloc(EXPIRY_BATCH, sizeof(*items));
	if (!items)
		return -ENOMEM;
	ctx.items = items;
	ctx.now = kv_now(kv);
	ctx.q.now = ctx.now;
	if (__builtin_add_overflow(ctx.now, horizon, &ctx.q.until))
		ctx.q.until = INT64_MAX;
	ctx.q.limit = EXPIRY_BATCH;

	for (;;) {
		size_t given = 0;

		ctx.n = ctx.rows = 0;
		ctx.have_o = ctx.have_v = false;
		r = kv_own_read_begin(kv);
		if (r < 0)
			return r;
		r = kv_own_read_end(kv, store_expiry_foreach(kv->store, &ctx.q, expiry_one, &ctx));
		if (r < 0)
			return r;
		for (; given < ctx.n; given++) {
			const struct expiry_item *it = &items[given];

			r = cb(it->vault, it->name, it->version, it->expires, it->event, ud);
			if (r < 0)
				break;
		}
		k = expiry_mark(kv, items, given);
		if (r < 0)
			return r;
		if (k < 0)
			return k;
		if (ctx.rows < EXPIRY_BATCH)
			return 0;
	}
}
