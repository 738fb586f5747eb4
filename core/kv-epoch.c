/* kv-epoch.c: the rollback guard of kv.h: the running sum of every row's MAC under a keyed
 * function, checked at open against the state the store's epoch record names, and the state
 * each write transaction leaves bound into that record before it commits. Reads every row's
 * MAC at open (one HMAC each) and never on a read path; never trusts the sum the store keeps
 * without the record's MAC over it. */
#include "kv-int.h"
#include "seal.h"

int kv_rows_fn(void *ud, const uint8_t mac[CRYPTO_MAC_LEN], uint8_t out[STORE_SUM_LEN])
{
	struct kv *kv = ud;

	return crypto_mac_compute(kv->rows_mac, mac, CRYPTO_MAC_LEN, out);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

int kv_epoch_commit_state(struct kv *kv)
{
	uint8_t sum[STORE_SUM_LEN];
	int r;

	r = store_rows_sum_kept(kv->store, sum);
	if (r < 0)
		return r;
	r = seal_epoch_set_state(kv->store, kv->master, sum);
	/* a store with no epoch record yet (never bound, or no TPM) keeps nothing */
	return r == -ENOENT || r == -EOPNOTSUPP || r == -ENOMEDIUM ? 0 : r;
}

/* In a write transaction: the rows' sum against the record's state (set when unset), and the
 * kept sum made right. */
static int check_rows(struct kv *kv, struct seal_epoch *ev)
{
	uint8_t sum[STORE_SUM_LEN], kept[STORE_SUM_LEN];
	int r;

	r = store_rows_sum(kv->store, kv_rows_fn, kv, sum);
	if (r < 0)
		return r;
	if (ev->bound || all_zero(ev->state, SEAL_STATE_LEN)) {
		r = seal_epoch_set_state(kv->store, kv->master, sum);
		if (r < 0)
			return r;
		memcpy(ev->state, sum, SEAL_STATE_LEN);
		ev->bound = true; /* bound now, to the rows as they are (after an accept too) */
	} else if (!crypto_memeq(sum, ev->state, SEAL_STATE_LEN)) {
		return -EUCLEAN;
	}
	r = store_rows_sum_kept(kv->store, kept);
	if (r == -EBADMSG || (r >= 0 && !crypto_memeq(kept, sum, STORE_SUM_LEN)))
		r = store_rows_sum_keep(kv->store, sum);
	return r;
}

int kv_epoch_open(struct kv *kv, const struct config *c, struct seal_epoch *ret)
{
	int r;

	if (kv->read != KV_READ_NONE)
		return -EBUSY;
	r = seal_epoch_open(kv->store, c, kv->master, ret);
	if (r < 0)
		return r;
	r = store_begin(kv->store);
	if (r < 0)
		return r;
	r = check_rows(kv, ret);
	if (r >= 0)
		r = store_commit(kv->store);
	if (r < 0) {
		store_rollback(kv->store);
		return r;
	}
	kv->epoch = ret->store_epoch;
	kv->anchor_min = ret->bound ? 0 : ret->store_epoch;
	return 0;
}

int kv_epoch_advance_begin(struct kv *kv, const struct config *c, struct seal_epoch *ret)
{
	if (kv->read != KV_READ_NONE)
		return -EBUSY;
	return seal_epoch_advance_begin(kv->store, c, kv->master, ret);
}

int kv_epoch_advance_end(struct kv *kv, const struct config *c, struct seal_epoch *ret)
{
	int r;

	if (kv->read != KV_READ_NONE)
		return -EBUSY;
	r = seal_epoch_advance_end(kv->store, c, kv->master, ret);
	if (r < 0)
		return r;
	kv->epoch = kv->anchor_min = ret->store_epoch;
	return 0;
}

void kv_epoch(const struct kv *kv, uint64_t *ret_epoch, uint64_t *ret_anchor_min)
{
	*ret_epoch = kv->epoch;
	*ret_anchor_min = kv->anchor_min;
}

uint64_t kv_changes(const struct kv *kv)
{
	return kv->changes;
}
