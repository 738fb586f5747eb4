/* kv-prune.c: a vault's max-versions (schema 6): the pruning of a secret's oldest non-current
 * versions down to the vault's max_versions, each told to the caller (who records it) before
 * its row goes, and what a version that has no row means in a vault that prunes. Only
 * secrets are pruned: a key's old versions decrypt and verify what they made, a certificate's
 * carry the chains and keys its consumers may still present, so neither is ever pruned here.
 * Never prunes the current version, never a version that purge protection still keeps (one
 * superseded less than the vault's retention ago), and never reads a value. */
#include <stdlib.h>

#include "kv-int.h"

int kv_version_gone(struct kv *kv, const struct store_object *o, uint32_t version)
{
	struct store_vault v;
	int r;

	if (version == 0 || version >= o->current_version)
		return -EBADMSG; /* the current one must exist */
	r = kv_load_vault_id(kv, o->vault_id, &v);
	if (r < 0)
		return r;
	return v.prunes && o->type == OBJECT_SECRET ? -ENOENT : -EBADMSG;
}

/* The versions of an object as the prune reads them: number and creation time, ascending. */
struct prune_row {
	uint32_t version;
	int64_t created;
};

struct prune_list {
	const struct kv *kv;
	const struct store_object *o;
	uint32_t n, cap;
	struct prune_row *rows;
};

static int prune_collect(const struct store_version *row, void *ud)
{
	struct prune_list *l = ud;
	int r;

	r = kv_check_version(l->kv, l->o, row->version, row);
	if (r < 0)
		return r;
	if (row->version > l->o->current_version ||
	    (l->n && row->version <= l->rows[l->n - 1].version))
		return -EBADMSG;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 16;
		struct prune_row *p = reallocarray(l->rows, cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->rows = p;
		l->cap = cap;
	}
	l->rows[l->n++] = (struct prune_row){ row->version, row->created };
	return 0;
}

int kv_secret_prune(struct kv *kv, const char *vault, const char *name,
		    int (*cb)(const char *vault, const char *name, uint32_t version, void *ud),
		    void *ud)
{
	struct store_vault v;
	struct store_object o;
	struct prune_list l = { .kv = kv, .o = &o };
	int64_t now = kv_now(kv);
	int pruned = 0, r;

	if (!kv_name_valid(vault) || !kv_name_valid(name) || !cb)
		return -EINVAL;
	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_named(kv, OBJECT_SECRET, vault, name, false, &v, &o);
	if (r < 0 || v.max_versions == 0 || o.current_version <= v.max_versions)
		goto end;
	r = store_version_foreach(kv->store, o.id, prune_collect, &l);
	if (r < 0)
		goto end;
	if (l.n == 0 || l.rows[l.n - 1].version != o.current_version) {
		r = -EBADMSG;
		goto end;
	}
	/* the oldest first, while more than max_versions are kept; never the current one (the
	 * last row), and with purge protection none superseded less than the retention ago (a
	 * version is superseded when the next one is made: the ones after it are younger) */
	for (uint32_t i = 0; i + 1 < l.n && l.n - i > v.max_versions; i++) {
		if (v.purge_protection &&
		    now < l.rows[i + 1].created + (int64_t)v.retention_days * 86400)
			break;
		r = cb(v.name, o.name, l.rows[i].version, ud);
		if (r >= 0)
			r = store_version_delete(kv->store, o.id, l.rows[i].version);
		if (r < 0)
			goto end;
		pruned++;
	}
	r = pruned;
end:
	free(l.rows);
	return kv_write_end(kv, r);
}
