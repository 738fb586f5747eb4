/* kv-cert-due.c: the daemon's pass over certificates (kv_cert_due, kv.h): each vault's
 * certificates a page at a time, a renewal for each whose policy says it is due (before its
 * expiry, or at a part of its lifetime; a leaf its CA's validity cut short waits for the CA's
 * renewal). Uses kv_cert_get and kv_cert_renew only; never holds a key. */
#include "kv-int.h"

/* certificates looked at in one pass at most (the rest at the next: kv_cert_due returns 1) */
#define DUE_BATCH 64u

struct name_page {
	char names[DUE_BATCH][VAULTFS_NAME_MAX + 1];
	unsigned n;
};

static int collect_name(const struct kv_object_info *o, void *ud)
{
	struct name_page *pg = ud;

	if (pg->n < DUE_BATCH)
		str_copy(pg->names[pg->n++], VAULTFS_NAME_MAX + 1, o->name);
	return 0;
}

struct vault_names {
	char (*names)[VAULTFS_NAME_MAX + 1];
	size_t n, cap;
};

static int collect_vault(const struct kv_vault_info *v, void *ud)
{
	struct vault_names *vn = ud;

	if (vn->n == vn->cap) {
		size_t cap = vn->cap ? 2 * vn->cap : 16;
		void *p = reallocarray(vn->names, cap, sizeof(*vn->names));

		if (!p)
			return -ENOMEM;
		vn->names = p, vn->cap = cap;
	}
	str_copy(vn->names[vn->n++], VAULTFS_NAME_MAX + 1, v->name);
	return 0;
}

/* Was a leaf ending at not_after cut to its vault CA's current certificate (x509_issue ends a
 * leaf with its CA)? Then a renewal now would end there again, and again at every pass: the
 * leaf waits for the CA's own renewal. A CA that cannot be read: not cut (the renewal says
 * why it fails). */
static bool cut_by_ca(struct kv *kv, const char *issuer_name, int64_t not_after)
{
	char cav[VAULTFS_NAME_MAX + 1];
	const char *slash = strchr(issuer_name, '/');
	struct kv_cert_info ca;
	bool cut;

	if (!slash || (size_t)(slash - issuer_name) > VAULTFS_NAME_MAX)
		return false;
	memcpy(cav, issuer_name, slash - issuer_name);
	cav[slash - issuer_name] = 0;
	if (kv_cert_get(kv, cav, slash + 1, 0, &ca) < 0)
		return false;
	cut = not_after >= ca.not_after;
	kv_cert_info_done(&ca);
	return cut;
}

/* Is the newest issued version of vault/name, made by its own policy, due for renewal now?
 * Its number in *ret_version. Issuers other than self and a vault CA are never renewed here. */
static bool renewal_due(struct kv *kv, const char *vault, const char *name, uint32_t *ret_version)
{
	struct kv_cert_info c;
	const struct kv_cert_policy *p = &c.policy;
	int64_t now = kv_now(kv), life;
	bool due = false;

	if (kv_cert_get(kv, vault, name, 0, &c) < 0)
		return false; /* nothing issued yet, or gone meanwhile */
	life = c.not_after - c.not_before;
	if (p->issuer == KV_CERT_SELF || p->issuer == KV_CERT_VAULT_CA) {
		if (p->renew_before && c.not_after - p->renew_before <= now)
			due = true;
		if (p->renew_percent && life > 0 &&
		    c.not_before + life / 100 * (int64_t)p->renew_percent <= now)
			due = true;
	}
	if (due && p->issuer == KV_CERT_VAULT_CA)
		due = !cut_by_ca(kv, p->issuer_name, c.not_after);
	*ret_version = c.version;
	kv_cert_info_done(&c);
	return due;
}

int kv_cert_due(struct kv *kv, const char *tcti,
		int (*cb)(const struct kv_rotation_notice *n, void *ud), void *ud)
{
	_cleanup_free_ struct name_page *pg = NULL;
	struct vault_names vn = {};
	unsigned renewed = 0;
	int r;

	pg = calloc(1, sizeof(*pg));
	if (!pg)
		return -ENOMEM;
	r = kv_vault_list(kv, collect_vault, &vn);
	if (r > 0)
		r = 0;
	for (size_t i = 0; r == 0 && i < vn.n; i++) {
		char after[VAULTFS_NAME_MAX + 1] = "", last[VAULTFS_NAME_MAX + 1];
		int got;

		do { /* the vault's certificates a page at a time */
			pg->n = 0;
			got = kv_object_list_page(kv, OBJECT_CERT, vn.names[i], false, after,
						  DUE_BATCH, collect_name, pg, last);
			if (got < 0) {
				r = got;
				break;
			}
			memcpy(after, last, sizeof(after));
			for (unsigned j = 0; r == 0 && j < pg->n; j++) {
				struct kv_rotation_notice n = { .vault = vn.names[i],
								.name = pg->names[j],
								.event = KV_ROTATION_ROTATE };

				if (!renewal_due(kv, n.vault, n.name, &n.version))
					continue;
				if (renewed == DUE_BATCH) {
					r = 1; /* the rest at the next pass */
					break;
				}
				n.err = kv_cert_renew(kv, tcti, n.vault, n.name, &n.new_version);
				renewed++;
				r = cb(&n, ud);
				if (r > 0)
					r = 0;
			}
		} while (r == 0 && got == (int)DUE_BATCH);
	}
	free(vn.names);
	return r;
}
