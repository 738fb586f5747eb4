/* kv-cert-state.c: a certificate's state row (cert_state, store.h): the policy its next version
 * is made by, the renewals that failed in a row with their backoff, and the versions whose
 * expiry notices were given. The row is MAC'd over every field (a row changed behind kv's back
 * is -EBADMSG) and counted in the row sum like every MAC'd row. It must never believe a row
 * before its MAC is checked, and never hold a key: the state says nothing secret. */
#include "kv-int.h"

#define STATE_MAC_LABEL "vaultfs.cert-state.v1"

static int state_mac(const struct kv *kv, const struct store_cert_state *c,
		     uint8_t out[CRYPTO_MAC_LEN])
{
	size_t elen = strnlen(c->last_error, sizeof(c->last_error));
	size_t cap = sizeof(STATE_MAC_LABEL) + 64 + elen + c->policy_len, n = 0;
	_cleanup_free_ uint8_t *m = NULL;

	if (elen >= sizeof(c->last_error))
		return -EBADMSG;
	m = malloc(cap);
	if (!m)
		return -ENOMEM;
	memcpy(m, STATE_MAC_LABEL, sizeof(STATE_MAC_LABEL) - 1);
	n = sizeof(STATE_MAC_LABEL) - 1;
	kv_put_le(m + n, (uint64_t)c->object_id, 8), n += 8;
	kv_put_le(m + n, c->failures, 4), n += 4;
	kv_put_le(m + n, (uint64_t)c->last_attempt, 8), n += 8;
	kv_put_le(m + n, (uint64_t)c->next_try, 8), n += 8;
	kv_put_le(m + n, (uint32_t)c->last_err, 4), n += 4;
	kv_put_le(m + n, elen, 1), n += 1;
	memcpy(m + n, c->last_error, elen), n += elen;
	kv_put_le(m + n, c->notified_version, 4), n += 4;
	kv_put_le(m + n, c->expired_version, 4), n += 4;
	kv_put_le(m + n, (uint64_t)c->updated, 8), n += 8;
	kv_put_le(m + n, c->policy_len, 4), n += 4;
	if (c->policy_len)
		memcpy(m + n, c->policy, c->policy_len);
	n += c->policy_len;
	return crypto_mac_compute(kv->mac, m, n, out);
}

/* The row of object o, checked, inside the caller's transaction: -ENOENT none. */
int kv_cert_state_load(struct kv *kv, int64_t object_id, struct store_cert_state *ret)
{
	uint8_t mac[CRYPTO_MAC_LEN];
	int r;

	r = store_cert_state_get(kv->store, object_id, ret);
	if (r < 0)
		return r;
	r = state_mac(kv, ret, mac);
	if (r >= 0 && (!crypto_memeq(mac, ret->mac, CRYPTO_MAC_LEN) || ret->object_id != object_id))
		r = -EBADMSG;
	if (r < 0)
		store_cert_state_done(ret);
	return r;
}

int kv_cert_state_put(struct kv *kv, struct store_cert_state *c)
{
	int r;

	c->updated = kv_now(kv) > 0 ? kv_now(kv) : 0;
	r = state_mac(kv, c, c->mac);
	return r < 0 ? r : store_cert_state_set(kv->store, c);
}

int kv_cert_state_read(struct kv *kv, const char *vault, const char *name,
		       struct store_cert_state *ret, bool *ret_found)
{
	struct store_vault v;
	struct store_object o;
	int r;

	*ret = (struct store_cert_state){};
	*ret_found = false;
	r = kv_read_call_begin(kv);
	if (r < 0)
		return r;
	r = kv_read_need_store(kv);
	if (r >= 0)
		r = kv_load_named(kv, OBJECT_CERT, vault, name, false, &v, &o);
	if (r >= 0) {
		r = kv_cert_state_load(kv, o.id, ret);
		if (r >= 0)
			*ret_found = true;
		else if (r == -ENOENT)
			r = 0;
	}
	return kv_read_call_end(kv, r);
}

/* Change the row of the live certificate vault/name in a transaction of its own: fn changes
 * *row (a new one all zero when there is none and create, else nothing is done). */
static int state_update(struct kv *kv, const char *vault, const char *name, bool create,
			void (*fn)(struct kv *kv, struct store_cert_state *row, void *ud), void *ud)
{
	struct store_cert_state row = {};
	struct store_vault v;
	struct store_object o;
	int r;

	r = kv_write_begin(kv);
	if (r < 0)
		return r;
	r = kv_load_named(kv, OBJECT_CERT, vault, name, false, &v, &o);
	if (r >= 0) {
		r = kv_cert_state_load(kv, o.id, &row);
		if (r == -ENOENT && create) {
			row = (struct store_cert_state){ .object_id = o.id };
			r = 0;
		} else if (r == -ENOENT) {
			return kv_write_end(kv, 0);
		}
	}
	if (r >= 0) {
		fn(kv, &row, ud);
		r = kv_cert_state_put(kv, &row);
	}
	store_cert_state_done(&row);
	return kv_write_end(kv, r);
}

/* --- the next version's policy --- */

struct policy_bytes {
	uint8_t *p;
	size_t n;
};

static void set_policy(struct kv *kv, struct store_cert_state *row, void *ud)
{
	struct policy_bytes *b = ud;

	(void)kv;
	free(row->policy);
	row->policy = TAKE_PTR(b->p);
	row->policy_len = b->n;
}

int kv_cert_set_policy(struct kv *kv, const char *vault, const char *name,
		       const struct kv_cert_policy *p)
{
	struct policy_bytes b = {};
	int r;

	if (!p || !kv_name_valid(vault) || !kv_name_valid(name))
		return -EINVAL;
	r = kv_cert_policy_check(p);
	if (r >= 0)
		r = kv_cert_policy_encode(p, &b.p, &b.n);
	if (r < 0)
		return r;
	r = state_update(kv, vault, name, true, set_policy, &b);
	free(b.p);
	return r;
}

int kv_cert_state_policy(struct kv *kv, const char *vault, const char *name,
			 struct kv_cert_policy *ret, void **mem)
{
	struct store_cert_state row;
	bool found;
	int r;

	r = kv_cert_state_read(kv, vault, name, &row, &found);
	if (r >= 0 && (!found || row.policy_len == 0))
		r = -ENODATA;
	if (r >= 0 && kv_cert_policy_decode(row.policy, row.policy_len, ret, mem) < 0)
		r = -EBADMSG; /* it passed its MAC: not one we made */
	store_cert_state_done(&row);
	return r;
}

int kv_cert_get_policy(struct kv *kv, const char *vault, const char *name, struct kv_cert_info *ret)
{
	struct kv_cert_info newest = {};
	struct kv_object_info o;
	int r;

	*ret = (struct kv_cert_info){};
	r = kv_object_lookup(kv, OBJECT_CERT, vault, name, &o);
	if (r >= 0 && o.deleted_at)
		r = -ENOENT;
	if (r < 0)
		return r;
	ret->version = o.current_version;
	r = kv_cert_state_policy(kv, vault, name, &ret->policy, &ret->mem_);
	if (r != -ENODATA)
		return r;
	r = kv_cert_get(kv, vault, name, o.current_version, &newest);
	if (r < 0)
		return r;
	ret->policy = newest.policy;
	ret->mem_ = TAKE_PTR(newest.mem_);
	kv_cert_info_done(&newest);
	return 0;
}

/* --- renewals that failed --- */

int kv_cert_renewal_get(struct kv *kv, const char *vault, const char *name,
			struct kv_cert_renewal *ret)
{
	struct store_cert_state row;
	bool found;
	int r;

	r = kv_cert_state_read(kv, vault, name, &row, &found);
	if (r < 0)
		return r;
	*ret = (struct kv_cert_renewal){ .failures = row.failures,
					 .last_attempt = row.last_attempt,
					 .next_try = row.next_try,
					 .last_err = row.last_err };
	str_copy(ret->last_error, sizeof(ret->last_error), row.last_error);
	store_cert_state_done(&row);
	return 0;
}

struct failure {
	int err;
	const char *why;
};

static void set_failed(struct kv *kv, struct store_cert_state *row, void *ud)
{
	const struct failure *f = ud;
	int64_t now = kv_now(kv) > 0 ? kv_now(kv) : 0, wait = KV_CERT_BACKOFF_MAX;
	size_t i = 0;

	if (row->failures < UINT32_MAX)
		row->failures++;
	if (row->failures - 1 < 16 && KV_CERT_BACKOFF_MIN << (row->failures - 1) < wait)
		wait = KV_CERT_BACKOFF_MIN << (row->failures - 1);
	row->last_attempt = now;
	row->next_try = now + wait;
	row->last_err = f->err;
	for (const char *s = f->why ? f->why : ""; *s && i < sizeof(row->last_error) - 1; s++)
		row->last_error[i++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	row->last_error[i] = 0;
}

int kv_cert_renewal_failed(struct kv *kv, const char *vault, const char *name, int err,
			   const char *why)
{
	struct failure f = { .err = err, .why = why };

	if (err >= 0 || err < -4095 || !kv_name_valid(vault) || !kv_name_valid(name))
		return -EINVAL;
	return state_update(kv, vault, name, true, set_failed, &f);
}

static void set_made(struct kv *kv, struct store_cert_state *row, void *ud)
{
	const bool *drop_policy = ud;

	(void)kv;
	row->failures = 0;
	row->last_attempt = row->next_try = 0;
	row->last_err = 0;
	row->last_error[0] = 0;
	if (*drop_policy) {
		free(row->policy);
		row->policy = NULL;
		row->policy_len = 0;
	}
}

int kv_cert_state_made(struct kv *kv, const char *vault, const char *name, bool drop_policy)
{
	struct store_cert_state row;
	bool found, change;
	int r;

	/* a read first: most versions are made with nothing to clear, and a write transaction
	 * costs a synchronous commit */
	r = kv_cert_state_read(kv, vault, name, &row, &found);
	change = found &&
		 (row.failures || row.next_try || row.last_err || (drop_policy && row.policy_len));
	store_cert_state_done(&row);
	if (r < 0 || !change)
		return r;
	return state_update(kv, vault, name, false, set_made, &drop_policy);
}

struct noticed {
	enum kv_rotation_event event;
	uint32_t version;
};

static void set_noticed(struct kv *kv, struct store_cert_state *row, void *ud)
{
	const struct noticed *n = ud;

	(void)kv;
	if (n->event == KV_ROTATION_EXPIRED)
		row->expired_version = n->version;
	row->notified_version = n->version; /* an expired version needs no near-expiry notice */
}

int kv_cert_state_noticed(struct kv *kv, const char *vault, const char *name,
			  enum kv_rotation_event event, uint32_t version)
{
	struct noticed n = { .event = event, .version = version };

	return state_update(kv, vault, name, true, set_noticed, &n);
}
