/* fleet-audit.c: the central audit's batches (fleet-audit.h has the design): a batch's head,
 * its signature by the host key and its check, and a reader's walk over a host's batches
 * (trusted host, signature, lines, seqs, links). Pure: no I/O, no libpq. It must never count a
 * batch whose host does not count or whose signature does not verify, and never needs any
 * host's audit key. */
#include <openssl/evp.h>
#include <stdio.h>

#include "audit.h"
#include "buf.h"
#include "fleet-audit.h"
#include "crypto.h"
#include "util.h"

#define HEAD_MAGIC "vaultfs audit batch v1"

void fleet_audit_batch_done(struct fleet_audit_batch *b)
{
	if (!b)
		return;
	free(b->lines);
	b->lines = NULL;
	b->lines_len = 0;
}

void fleet_audit_batches_free(struct fleet_audit_batch *b, size_t n)
{
	if (!b)
		return;
	for (size_t i = 0; i < n; i++)
		fleet_audit_batch_done(&b[i]);
	free(b);
}

/* SHA-256 of any length (key_digest caps its input at KEY_INPUT_MAX; a batch is up to
 * FLEET_AUDIT_BATCH_BYTES); OpenSSL's failure through crypto_openssl_errno. */
static int sha256(const void *p, size_t n, uint8_t out[FLEET_AUDIT_HASH_LEN])
{
	unsigned len = 0;

	if (EVP_Digest(n ? p : "", n, out, &len, EVP_sha256(), NULL) != 1 ||
	    len != FLEET_AUDIT_HASH_LEN)
		return crypto_openssl_errno(-EIO);
	return 0;
}

static void put_be64(uint8_t *out, int64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}

/* The head of b into b_out (fleet-audit.h: the form). */
static int head(const struct fleet_audit_batch *b, struct buf *out)
{
	uint8_t d[FLEET_AUDIT_HASH_LEN], n[16];
	int r;

	if (!fleet_host_name_valid(b->host) || b->first_seq < 1 || b->last_seq < b->first_seq)
		return -EBADMSG;
	r = sha256(b->lines ? b->lines : (const uint8_t *)"", b->lines_len, d);
	if (r < 0)
		return r;
	put_be64(n, b->first_seq);
	put_be64(n + 8, b->last_seq);
	buf_put(out, HEAD_MAGIC, sizeof(HEAD_MAGIC)); /* with its NUL */
	buf_put(out, b->host, strlen(b->host) + 1);
	buf_put(out, n, sizeof(n));
	buf_put(out, d, sizeof(d));
	buf_put(out, b->prev, sizeof(b->prev));
	return out->err;
}

int fleet_audit_head_hash(const struct fleet_audit_batch *b, uint8_t ret[FLEET_AUDIT_HASH_LEN])
{
	struct buf h = BUF_INIT(1024);
	int r;

	r = head(b, &h);
	if (r >= 0)
		r = sha256(h.p, h.len, ret);
	buf_done(&h);
	return r;
}

int fleet_audit_sign(const struct fleet_key *k, struct fleet_audit_batch *b)
{
	struct buf h = BUF_INIT(1024);
	int r;

	r = head(b, &h);
	if (r >= 0)
		r = fleet_sign(k, h.p, h.len, b->sig, &b->sig_len);
	buf_done(&h);
	return r;
}

/* The lines of b: canonical records, seqs first..last in order, each prev the mac before it
 * (prev_mac, ret_mac: see fleet_audit_batch_verify). */
static int lines_ok(const struct fleet_audit_batch *b, const uint8_t *prev_mac, uint8_t *ret_mac)
{
	const char *p = (const char *)b->lines, *end = p + b->lines_len;
	int64_t want = b->first_seq;
	uint8_t mac[CRYPTO_MAC_LEN];
	bool have = prev_mac != NULL;

	if (have)
		memcpy(mac, prev_mac, sizeof(mac));
	if (b->lines_len == 0 || end[-1] != '\n')
		return -EBADMSG;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct audit_entry e;
		bool ok;

		if (audit_parse_line(p, (size_t)(nl - p), &e) < 0)
			return -EBADMSG;
		ok = (int64_t)e.seq == want && (!have || crypto_memeq(e.prev, mac, sizeof(mac)));
		memcpy(mac, e.mac, sizeof(mac));
		have = true;
		audit_entry_done(&e);
		if (!ok)
			return -EBADMSG;
		want++;
		p = nl + 1;
	}
	if (want != b->last_seq + 1)
		return -EBADMSG;
	if (ret_mac)
		memcpy(ret_mac, mac, sizeof(mac));
	return 0;
}

int fleet_audit_batch_verify(const uint8_t *spki, size_t spki_len,
			     const struct fleet_audit_batch *b, const uint8_t *prev_mac,
			     uint8_t *ret_mac)
{
	struct buf h = BUF_INIT(1024);
	int r;

	r = head(b, &h);
	if (r >= 0)
		r = fleet_verify(spki, spki_len, h.p, h.len, b->sig, b->sig_len);
	buf_done(&h);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	return lines_ok(b, prev_mac, ret_mac);
}

const char *fleet_audit_state_name(enum fleet_audit_state s)
{
	switch (s) {
	case FLEET_AUDIT_OK:
		return "ok";
	case FLEET_AUDIT_GAP:
		return "records missing before it";
	case FLEET_AUDIT_UNLINKED:
		return "does not follow the batch before";
	case FLEET_AUDIT_BAD:
		return "does not verify";
	case FLEET_AUDIT_UNTRUSTED:
		return "its host does not count";
	}
	return "?";
}

int fleet_audit_verify_host(const struct fleet_host *hosts, size_t nhosts, const char *anchor,
			    const char *host, const struct fleet_audit_batch *b, size_t n,
			    enum fleet_audit_state *ret_state)
{
	static const uint8_t zeros[FLEET_AUDIT_HASH_LEN];
	const struct fleet_host *h = NULL;
	uint8_t prev_head[FLEET_AUDIT_HASH_LEN], mac[CRYPTO_MAC_LEN], cut_head[FLEET_CUT_HEAD_LEN];
	int64_t prev_last = 0, cut = -1;
	bool have_prev = false;
	int trust;

	trust = fleet_host_trusted(hosts, nhosts, anchor, host, &h);
	if (trust == -EKEYREVOKED) /* its key is still the one it signed with */
		for (size_t i = 0; i < nhosts && !h; i++)
			if (streq(hosts[i].name, host))
				h = &hosts[i];
	/* removed with a cut (its last batch when it was removed, signed by the remover): what
	 * it ships after is withheld, and the batch at the cut must be the one named */
	if (trust == -EKEYREVOKED && h) {
		int r = fleet_host_revoked_cut(hosts, nhosts, anchor, h, &cut, cut_head);

		if (r == -ENOMEM)
			return r;
		if (r < 0)
			cut = -1;
	}
	for (size_t i = 0; i < n; i++) {
		enum fleet_audit_state st = FLEET_AUDIT_OK;
		uint8_t last[CRYPTO_MAC_LEN];
		bool follows;
		int r;

		if ((trust < 0 && trust != -EKEYREVOKED) || !h || !streq(b[i].host, host) ||
		    (cut >= 0 && b[i].last_seq > cut)) {
			ret_state[i] = FLEET_AUDIT_UNTRUSTED;
			continue;
		}
		r = fleet_audit_batch_verify(h->spki, h->spki_len, &b[i], NULL, last);
		if (r >= 0 && cut >= 0 && b[i].last_seq == cut) {
			uint8_t head[FLEET_AUDIT_HASH_LEN];

			r = fleet_audit_head_hash(&b[i], head);
			if (r >= 0 && !crypto_memeq(head, cut_head, sizeof(head)))
				r = -EBADMSG; /* not the batch the removal named */
		}
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			ret_state[i] = FLEET_AUDIT_BAD;
			continue;
		}
		/* it verifies alone: does it follow on from the last good batch? */
		follows = have_prev && b[i].first_seq == prev_last + 1;
		if (!have_prev)
			st = crypto_memeq(b[i].prev, zeros, sizeof(zeros)) ?
				     FLEET_AUDIT_OK :
				     FLEET_AUDIT_GAP; /* the batches before it are gone */
		else if (!follows)
			st = FLEET_AUDIT_GAP;
		else if (!crypto_memeq(b[i].prev, prev_head, sizeof(prev_head)) ||
			 fleet_audit_batch_verify(h->spki, h->spki_len, &b[i], mac, NULL) < 0)
			st = FLEET_AUDIT_UNLINKED;
		ret_state[i] = st;
		r = fleet_audit_head_hash(&b[i], prev_head);
		if (r < 0)
			return r;
		memcpy(mac, last, sizeof(mac));
		prev_last = b[i].last_seq;
		have_prev = true;
	}
	return trust;
}
