/* seal-epoch.c: the store's epoch, its place on a TPM NV counter of its own, and the state of
 * its rows, in one MAC'd record ("seal.epoch"; see seal.h). Writes NV only when asked to
 * advance, never per read; never logs; key bytes stay in secbufs and wiped stack temporaries. */
#include "crypto.h"
#include "seal-int.h"
#include "tpm.h"
#include "util.h"

/* "seal.epoch": epoch and pending (u64 big-endian each), the rows' state, then HMAC-SHA256 of
 * "vaultfs epoch v2" || store id || those 48 bytes under HKDF(M, "vaultfs epoch mac v1"). */
#define EPOCH_LABEL "vaultfs epoch v2"
#define EPOCH_BODY_LEN (16u + SEAL_STATE_LEN)
#define EPOCH_REC_LEN (EPOCH_BODY_LEN + CRYPTO_MAC_LEN)

struct epoch_rec {
	uint64_t epoch;
	uint64_t pending;
	uint8_t state[SEAL_STATE_LEN];
};

/* What every call needs: the store's id and the tag of its counter. */
struct epoch_ctx {
	uint8_t id[STORE_ID_LEN];
	uint8_t tag[TPM_NV_TAG_LEN];
};

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int epoch_mac(const struct secbuf *m, const uint8_t id[STORE_ID_LEN],
		     const uint8_t body[EPOCH_BODY_LEN], uint8_t out[CRYPTO_MAC_LEN])
{
	uint8_t key[CRYPTO_KEY_LEN], msg[sizeof(EPOCH_LABEL) - 1 + STORE_ID_LEN + EPOCH_BODY_LEN];
	int r;

	r = crypto_hkdf(m->data, m->len, "vaultfs epoch mac v1", key, sizeof(key));
	if (r >= 0) {
		memcpy(msg, EPOCH_LABEL, sizeof(EPOCH_LABEL) - 1);
		memcpy(msg + sizeof(EPOCH_LABEL) - 1, id, STORE_ID_LEN);
		memcpy(msg + sizeof(EPOCH_LABEL) - 1 + STORE_ID_LEN, body, EPOCH_BODY_LEN);
		r = crypto_hmac(key, msg, sizeof(msg), out);
	}
	secure_wipe(key, sizeof(key));
	return r;
}

/* The store's epoch record: -ENOENT none yet, -EBADMSG changed or not made with m. */
static int epoch_get(struct store *s, const struct secbuf *m, const struct epoch_ctx *x,
		     struct epoch_rec *ret)
{
	uint8_t v[EPOCH_REC_LEN], mac[CRYPTO_MAC_LEN];
	int r;

	r = seal_meta_get_exact(s, "seal.epoch", sizeof(v), v);
	if (r < 0)
		return r;
	r = epoch_mac(m, x->id, v, mac);
	if (r < 0)
		return r;
	if (!crypto_memeq(mac, v + EPOCH_BODY_LEN, CRYPTO_MAC_LEN))
		return -EBADMSG;
	ret->epoch = get_be64(v);
	ret->pending = get_be64(v + 8);
	memcpy(ret->state, v + 16, SEAL_STATE_LEN);
	return 0;
}

static int epoch_set(struct store *s, const struct secbuf *m, const struct epoch_ctx *x,
		     const struct epoch_rec *rec)
{
	uint8_t v[EPOCH_REC_LEN];
	int r;

	put_be64(v, rec->epoch);
	put_be64(v + 8, rec->pending);
	memcpy(v + 16, rec->state, SEAL_STATE_LEN);
	r = epoch_mac(m, x->id, v, v + EPOCH_BODY_LEN);
	if (r < 0)
		return r;
	return store_meta_set(s, "seal.epoch", v, sizeof(v));
}

/* What the epoch needs of the store: a TPM sealer, the id, the counter's tag. */
static int epoch_prepare(struct store *s, struct epoch_ctx *x)
{
	char sealer[16];
	int r;

	r = seal_read_sealer(s, sealer, sizeof(sealer));
	if (r < 0)
		return r == -ENOENT ? -ENOMEDIUM : r;
	if (!seal_uses_tpm(sealer))
		return -EOPNOTSUPP;
	r = seal_meta_get_exact(s, "store_id", STORE_ID_LEN, x->id);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	return crypto_hkdf(x->id, STORE_ID_LEN, "vaultfs nv counter v1", x->tag, TPM_NV_TAG_LEN);
}

static void evidence(struct seal_epoch *ev, const struct epoch_rec *rec)
{
	ev->store_epoch = rec->epoch;
	ev->pending = rec->pending;
	memcpy(ev->state, rec->state, SEAL_STATE_LEN);
}

/* Check the store's epoch against the counter, in the caller's write transaction: binds a
 * store that has none yet and finishes an advance a crash cut short. */
static int epoch_check(struct store *s, const struct config *c, const struct secbuf *m,
		       const struct epoch_ctx *x, struct epoch_rec *rec, struct seal_epoch *ev)
{
	uint64_t v;
	int r;

	r = epoch_get(s, m, x, rec);
	if (r == -ENOENT) {
		/* Never bound. Its counter must not exist yet: if it does, this is a copy from
		 * before the binding. */
		r = tpm_counter_read(c->tcti, x->tag, false, &ev->nv_index, &v);
		if (r >= 0) {
			ev->tpm_value = v;
			return -ESTALE;
		}
		if (r != -ENOENT)
			return r;
		r = tpm_counter_read(c->tcti, x->tag, true, &ev->nv_index, &v);
		if (r < 0)
			return r;
		*rec = (struct epoch_rec){ .epoch = v, .pending = v };
		ev->bound = true;
		r = epoch_set(s, m, x, rec);
		if (r < 0)
			return r;
	} else if (r < 0) {
		return r;
	} else {
		evidence(ev, rec);
		r = tpm_counter_read(c->tcti, x->tag, false, &ev->nv_index, &v);
		if (r == -ENOENT)
			return -ENXIO; /* another TPM, or the index was undefined */
		if (r < 0)
			return r;
		ev->tpm_value = v;
		if (v != rec->epoch && !(v == rec->pending && rec->pending == rec->epoch + 1))
			return -ESTALE;
		if (v != rec->epoch) {
			/* an advance cut short after the counter moved: finish it */
			rec->epoch = rec->pending = v;
			r = epoch_set(s, m, x, rec);
			if (r < 0)
				return r;
		} else if (rec->pending != rec->epoch) {
			/* an advance cut short before the counter moved: nothing moved */
			rec->pending = rec->epoch;
			r = epoch_set(s, m, x, rec);
			if (r < 0)
				return r;
		}
	}
	evidence(ev, rec);
	ev->tpm_value = rec->epoch;
	return 0;
}

/* Check, and with advance commit pending = epoch + 1, in a write transaction of its own. */
static int epoch_open(struct store *s, const struct config *c, const struct secbuf *master,
		      bool advance, struct seal_epoch *ret)
{
	struct epoch_ctx x;
	struct seal_epoch ev = {};
	struct epoch_rec rec;
	int r;

	*ret = ev;
	r = epoch_prepare(s, &x);
	if (r < 0)
		return r;
	r = store_begin(s);
	if (r < 0)
		return r;
	r = epoch_check(s, c, master, &x, &rec, &ev);
	if (r >= 0 && advance) {
		rec.pending = rec.epoch + 1;
		r = epoch_set(s, master, &x, &rec);
		ev.pending = rec.pending;
	}
	*ret = ev; /* the evidence, also of a refusal */
	if (r >= 0)
		r = store_commit(s);
	if (r < 0)
		store_rollback(s);
	secure_wipe(&x, sizeof(x));
	return r;
}

int seal_epoch_open(struct store *s, const struct config *c, const struct secbuf *master,
		    struct seal_epoch *ret)
{
	return epoch_open(s, c, master, false, ret);
}

int seal_epoch_advance_begin(struct store *s, const struct config *c, const struct secbuf *master,
			     struct seal_epoch *ret)
{
	return epoch_open(s, c, master, true, ret);
}

int seal_epoch_advance_end(struct store *s, const struct config *c, const struct secbuf *master,
			   struct seal_epoch *ret)
{
	struct epoch_ctx x;
	struct epoch_rec rec;
	uint64_t v;
	int r;

	r = epoch_prepare(s, &x);
	if (r < 0)
		return r;
	r = tpm_counter_increment(c->tcti, x.tag, &v);
	if (r < 0)
		return r; /* pending stays: the next open sees the counter unmoved and drops it */
	ret->tpm_value = v;
	/* the counter moved to v: record it unless a later advance already did */
	r = store_begin(s);
	if (r < 0)
		return r;
	r = epoch_get(s, master, &x, &rec);
	if (r >= 0 && v > rec.epoch) {
		rec.epoch = rec.pending = v;
		r = epoch_set(s, master, &x, &rec);
	}
	if (r >= 0)
		r = store_commit(s);
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	evidence(ret, &rec);
	ret->advanced = true;
	return 0;
}

int seal_epoch_set_state(struct store *s, const struct secbuf *master,
			 const uint8_t state[SEAL_STATE_LEN])
{
	struct epoch_ctx x;
	struct epoch_rec rec;
	int r;

	r = epoch_prepare(s, &x);
	if (r >= 0)
		r = epoch_get(s, master, &x, &rec);
	if (r < 0)
		return r;
	if (crypto_memeq(rec.state, state, SEAL_STATE_LEN))
		return 0;
	memcpy(rec.state, state, SEAL_STATE_LEN);
	return epoch_set(s, master, &x, &rec);
}

int seal_epoch_accept(struct store *s, const struct config *c, const struct secbuf *recovery,
		      struct seal_epoch *ret)
{
	_cleanup_secbuf_ struct secbuf *m = NULL;
	struct epoch_ctx x;
	struct seal_epoch ev = {};
	struct epoch_rec rec;
	uint64_t v;
	int r;

	*ret = ev;
	if (recovery->len != SEAL_RECOVERY_KEY_LEN)
		return -EINVAL;
	r = epoch_prepare(s, &x);
	if (r < 0)
		return r;
	r = seal_recovery_master(s, x.id, recovery, &m);
	if (r < 0)
		return r;
	r = store_begin(s);
	if (r < 0)
		return r;
	if (epoch_get(s, m, &x, &rec) >= 0)
		ev.store_epoch = rec.epoch;
	r = tpm_counter_read(c->tcti, x.tag, true, &ev.nv_index, &v);
	if (r >= 0) {
		rec = (struct epoch_rec){ .epoch = v, .pending = v }; /* state unset */
		ev.tpm_value = v;
		ev.bound = true;
		r = epoch_set(s, m, &x, &rec);
	}
	if (r >= 0)
		r = store_commit(s);
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	*ret = ev;
	return 0;
}
