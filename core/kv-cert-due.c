/* kv-cert-due.c: the daemon's pass over certificates (kv_cert_due, kv.h): each vault's
 * certificates a page at a time; for each, by the policy its next version is made by: a
 * renewal when due (before its expiry, or at a part of its lifetime; a leaf its CA's validity
 * cut short waits for the CA's renewal), not before the backoff of the failures before it has
 * passed; an ACME certificate's pending version made and told; near-expiry and expired notices
 * once per version. Uses kv's certificate calls and the state row (kv-cert-state.c) only;
 * never holds a key. */
#include <stdio.h>

#include "errtext.h"
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

/* Is a version valid from not_before to not_after due for renewal now by policy p? */
static bool renewal_due(const struct kv_cert_policy *p, int64_t not_before, int64_t not_after,
			int64_t now)
{
	int64_t life = not_after - not_before;

	if (p->renew_before && not_after - p->renew_before <= now)
		return true;
	return p->renew_percent && life > 0 &&
	       not_before + life / 100 * (int64_t)p->renew_percent <= now;
}

/* Why a renewal by p failed, for a person. */
static void failure_reason(const struct kv_cert_policy *p, int err, char *buf, size_t size)
{
	const char *what = NULL;

	if (p->issuer == KV_CERT_VAULT_CA) {
		switch (err) {
		case -ENOENT:
			what = "is not a certificate of this store (missing or deleted)";
			break;
		case -EPERM:
			what = "is not a CA";
			break;
		case -EKEYREVOKED:
			what = "is disabled";
			break;
		case -EKEYEXPIRED:
			what = "has expired";
			break;
		case -EKEYREJECTED:
			what = "is not valid yet";
			break;
		default:
			break;
		}
	}
	if (what)
		(void)snprintf(buf, size, "the issuer %s %s", p->issuer_name, what);
	else
		(void)snprintf(buf, size, "renewal failed: %s", errtext(ERRTEXT_OBJECT, err));
}

struct pass {
	struct kv *kv;
	const char *tcti;
	int (*cb)(const struct kv_rotation_notice *n, void *ud);
	void *ud;
	unsigned work;	  /* renewals so far */
	unsigned pending; /* pending versions told so far */
	int64_t now;
};

static int tell(struct pass *ps, struct kv_rotation_notice *n)
{
	int r = ps->cb(n, ps->ud);

	return r > 0 ? 0 : r;
}

/* A renewal by policy p (its failure recorded with its reason); for ACME the pending version
 * it made is told. *ret_made: a version was made. */
static int renew(struct pass *ps, const char *vault, const char *name,
		 const struct kv_cert_policy *p, uint32_t version, bool *ret_made)
{
	char why[STORE_CERT_ERROR_MAX];
	struct kv_rotation_notice n = {
		.vault = vault, .name = name, .event = KV_ROTATION_ROTATE, .version = version
	};

	ps->work++;
	n.err = kv_cert_renew(ps->kv, ps->tcti, vault, name, &n.new_version);
	*ret_made = n.err >= 0;
	if (n.err < 0) {
		failure_reason(p, n.err, why, sizeof(why));
		n.why = why;
		(void)kv_cert_renewal_failed(ps->kv, vault, name, n.err, why);
	} else if (p->issuer == KV_CERT_ACME) {
		n.event = KV_ROTATION_PENDING;
		n.version = n.new_version;
	}
	return tell(ps, &n);
}

/* The expiry notices of the newest issued version i, by policy p, once each. */
static int notices(struct pass *ps, const char *vault, const char *name,
		   const struct kv_cert_policy *p, const struct kv_cert_info *i,
		   const struct store_cert_state *st)
{
	struct kv_rotation_notice n = { .vault = vault, .name = name, .version = i->version };

	if (i->not_after <= ps->now) {
		if (st->expired_version == i->version)
			return 0;
		n.event = KV_ROTATION_EXPIRED;
	} else if (p->notify_before && i->not_after - p->notify_before <= ps->now) {
		if (st->notified_version == i->version)
			return 0;
		n.event = KV_ROTATION_NOTIFY;
	} else {
		return 0;
	}
	n.err = kv_cert_state_noticed(ps->kv, vault, name, n.event, i->version);
	return tell(ps, &n);
}

/* One certificate: 1 when the batch is full before its work. */
static int one(struct pass *ps, const char *vault, const char *name)
{
	struct kv_cert_info pol = {}, issued = {};
	const struct kv_cert_policy *p = &pol.policy;
	struct store_cert_state st = {};
	bool found, have_issued, pending, backoff, made = false, due;
	int r;

	r = kv_cert_get_policy(ps->kv, vault, name, &pol);
	if (r >= 0)
		r = kv_cert_state_read(ps->kv, vault, name, &st, &found);
	if (r == -ENOENT)
		return 0; /* gone meanwhile */
	if (r <
	    0) { /* a row or record that does not verify (said at every pass), or a failed read */
		struct kv_rotation_notice n = {
			.vault = vault,
			.name = name,
			.event = KV_ROTATION_ROTATE,
			.err = r,
			.why = r == -EBADMSG ? "its state or policy does not verify" : NULL
		};

		kv_cert_info_done(&pol);
		return tell(ps, &n);
	}
	have_issued = kv_cert_get(ps->kv, vault, name, 0, &issued) >= 0;
	pending = !have_issued || issued.version != pol.version;
	backoff = st.next_try > ps->now;
	due = !have_issued || renewal_due(p, issued.not_before, issued.not_after, ps->now);
	switch (backoff ? KV_CERT_EXTERNAL : p->issuer) {
	case KV_CERT_VAULT_CA:
		if (due && have_issued && cut_by_ca(ps->kv, p->issuer_name, issued.not_after))
			break;
		/* fall through */
	case KV_CERT_SELF:
		if (!due)
			break;
		if (ps->work == DUE_BATCH) {
			r = 1;
			break;
		}
		r = renew(ps, vault, name, p, pol.version, &made);
		break;
	case KV_CERT_ACME:
		if (pending) {
			struct kv_rotation_notice n = { .vault = vault,
							.name = name,
							.event = KV_ROTATION_PENDING,
							.version = pol.version };

			/* at most a batch a pass, the rest at the next regular one: they stay
			 * pending until their client merges or fails them (no pass again soon) */
			if (ps->pending == DUE_BATCH)
				break;
			ps->pending++;
			r = tell(ps, &n);
		} else if (due) {
			if (ps->work == DUE_BATCH) {
				r = 1;
				break;
			}
			r = renew(ps, vault, name, p, pol.version, &made);
		}
		break;
	default: /* external: its CA's; or waiting out a backoff */
		break;
	}
	if (r == 0 && have_issued && !(made && p->issuer != KV_CERT_ACME))
		r = notices(ps, vault, name, p, &issued, &st);
	store_cert_state_done(&st);
	kv_cert_info_done(&issued);
	kv_cert_info_done(&pol);
	return r;
}

int kv_cert_due(struct kv *kv, const char *tcti,
		int (*cb)(const struct kv_rotation_notice *n, void *ud), void *ud)
{
	_cleanup_free_ struct name_page *pg = NULL;
	struct vault_names vn = {};
	struct pass ps = { .kv = kv, .tcti = tcti, .cb = cb, .ud = ud, .now = kv_now(kv) };
	int r;

	if (!cb)
		return -EINVAL;
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
			for (unsigned j = 0; r == 0 && j < pg->n; j++)
				r = one(&ps, vn.names[i], pg->names[j]);
		} while (r == 0 && got == (int)DUE_BATCH);
	}
	free(vn.names);
	return r;
}
