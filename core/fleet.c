/* fleet.c: the fleet's keys and checks, with no database in sight (fleet.h is the design): the
 * host key (in the TPM, or in software sealed by the store), the signed approvals and grants
 * and the trust walk to the anchor, fleet vault keys wrapped for hosts, and the change chain
 * with the applied-sequence guard. It must never let a key or a value out of a secbuf, never
 * believe a row from the center before its signature or MAC verifies, and never log above
 * debug. */
#include <stdio.h>

#include "buf.h"
#include "crypto.h"
#include "fleet-int.h"
#include "fleet.h"
#include "key-soft.h"
#include "key.h"
#include "tpm-key.h"
#include "util.h"

#define HOST_KEY_TYPE KEY_RSA_2048
#define SIG_ALG KEY_ALG_RS256
#define WRAP_ALG KEY_ALG_RSA_OAEP_256
#define SAVE_MAGIC "VFK1"
#define SAVE_AAD "vaultfs fleet host key v1"

struct fleet_key {
	enum fleet_key_kind kind;
	uint8_t *spki;
	size_t spki_len;
	uint8_t *blob; /* FLEET_KEY_TPM: the TPM's blob */
	size_t blob_len;
	char *tcti;
	struct secbuf *material; /* FLEET_KEY_SOFT: PKCS#8 DER */
};

bool fleet_host_name_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n == 0 || n > FLEET_HOST_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum =
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '-')))
			return false;
	}
	return true;
}

const char *fleet_key_kind_name(enum fleet_key_kind k)
{
	return k == FLEET_KEY_TPM ? "tpm" : k == FLEET_KEY_SOFT ? "soft" : "?";
}

void fleet_key_free(struct fleet_key *k)
{
	if (!k)
		return;
	free(k->spki);
	free(k->blob);
	free(k->tcti);
	secbuf_free(k->material);
	free(k);
}

static void fleet_key_freep(struct fleet_key **k)
{
	fleet_key_free(*k);
}

static int key_new(enum fleet_key_kind kind, const char *tcti, struct fleet_key **ret)
{
	struct fleet_key *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	k->kind = kind;
	if (tcti) {
		k->tcti = strdup(tcti);
		if (!k->tcti) {
			free(k);
			return -ENOMEM;
		}
	}
	*ret = k;
	return 0;
}

static int soft_public(struct fleet_key *k)
{
	uint8_t spki[KEY_PUBLIC_DER_MAX];
	size_t len = sizeof(spki);
	int r;

	r = key_soft_public(HOST_KEY_TYPE, k->material, spki, &len);
	if (r < 0)
		return r;
	k->spki = malloc(len);
	if (!k->spki)
		return -ENOMEM;
	memcpy(k->spki, spki, len);
	k->spki_len = len;
	return 0;
}

int fleet_key_create(const char *tcti, struct fleet_key **ret)
{
	_cleanup_(fleet_key_freep) struct fleet_key *k = NULL;
	int r;

	r = key_new(tcti ? FLEET_KEY_TPM : FLEET_KEY_SOFT, tcti, &k);
	if (r < 0)
		return r;
	if (tcti)
		r = tpm_key_create(tcti, HOST_KEY_TYPE, &k->blob, &k->blob_len, &k->spki,
				   &k->spki_len);
	else {
		r = key_soft_generate(HOST_KEY_TYPE, &k->material);
		if (r >= 0)
			r = soft_public(k);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(k);
	return 0;
}

enum fleet_key_kind fleet_key_kind(const struct fleet_key *k)
{
	return k->kind;
}

const uint8_t *fleet_key_spki(const struct fleet_key *k, size_t *ret_len)
{
	*ret_len = k->spki_len;
	return k->spki;
}

static int buf_put_be32(struct buf *b, uint32_t v)
{
	uint8_t p[4];

	fleet_put_be32(p, v);
	return buf_put(b, p, sizeof(p));
}

static int buf_put_be64(struct buf *b, uint64_t v)
{
	uint8_t p[8];

	fleet_put_be64(p, v);
	return buf_put(b, p, sizeof(p));
}

/* A string with its NUL: the names of the messages below cannot hold one. */
static int buf_put_name(struct buf *b, const char *s)
{
	return buf_put(b, s, strlen(s) + 1);
}

/* Saved form: "VFK1" kind(1) be32(spki_len) spki be32(n) payload (TPM blob, or the PKCS#8
 * sealed under seal_key with AAD SAVE_AAD). */
int fleet_key_save(const struct fleet_key *k, const uint8_t seal_key[CRYPTO_KEY_LEN], uint8_t **ret,
		   size_t *ret_len)
{
	_cleanup_free_ uint8_t *sealed = NULL;
	struct buf b = BUF_INIT(0);
	const uint8_t *payload;
	size_t n;
	uint8_t kind = (uint8_t)k->kind;
	int r;

	if (k->kind == FLEET_KEY_TPM) {
		payload = k->blob;
		n = k->blob_len;
	} else {
		n = k->material->len + CRYPTO_AEAD_OVERHEAD;
		sealed = malloc(n);
		if (!sealed)
			return -ENOMEM;
		r = crypto_aead_seal(seal_key, SAVE_AAD, strlen(SAVE_AAD), k->material->data,
				     k->material->len, sealed);
		if (r < 0)
			return r;
		payload = sealed;
	}
	buf_put(&b, SAVE_MAGIC, 4);
	buf_put(&b, &kind, 1);
	buf_put_be32(&b, (uint32_t)k->spki_len);
	buf_put(&b, k->spki, k->spki_len);
	buf_put_be32(&b, (uint32_t)n);
	buf_put(&b, payload, n);
	r = buf_steal(&b, (char **)ret, ret_len);
	buf_done(&b);
	return r;
}

int fleet_key_load(const uint8_t *in, size_t len, const uint8_t seal_key[CRYPTO_KEY_LEN],
		   const char *tcti, struct fleet_key **ret)
{
	_cleanup_(fleet_key_freep) struct fleet_key *k = NULL;
	const uint8_t *p = in, *end = in + len;
	uint32_t n;
	int r;

	if (len < 9 || memcmp(p, SAVE_MAGIC, 4) != 0 ||
	    (p[4] != FLEET_KEY_TPM && p[4] != FLEET_KEY_SOFT))
		return -EBADMSG;
	r = key_new((enum fleet_key_kind)p[4], p[4] == FLEET_KEY_TPM ? tcti : NULL, &k);
	if (r < 0)
		return r;
	p += 5;
	n = fleet_get_be32(p);
	p += 4;
	if (n == 0 || n > FLEET_SPKI_MAX || (size_t)(end - p) < (size_t)n + 4)
		return -EBADMSG;
	k->spki = malloc(n);
	if (!k->spki)
		return -ENOMEM;
	memcpy(k->spki, p, n);
	k->spki_len = n;
	p += n;
	n = fleet_get_be32(p);
	p += 4;
	if ((size_t)(end - p) != n)
		return -EBADMSG;
	if (k->kind == FLEET_KEY_TPM) {
		if (!tcti || n == 0 || n > KEY_TPM_BLOB_MAX)
			return tcti ? -EBADMSG : -EINVAL;
		k->blob = malloc(n);
		if (!k->blob)
			return -ENOMEM;
		memcpy(k->blob, p, n);
		k->blob_len = n;
	} else {
		if (n <= CRYPTO_AEAD_OVERHEAD)
			return -EBADMSG;
		r = secbuf_new(n - CRYPTO_AEAD_OVERHEAD, &k->material);
		if (r < 0)
			return r;
		r = crypto_aead_open(seal_key, SAVE_AAD, strlen(SAVE_AAD), p, n, k->material->data);
		if (r < 0)
			return r;
		k->material->len = n - CRYPTO_AEAD_OVERHEAD;
		r = key_soft_check(HOST_KEY_TYPE, k->material);
		if (r < 0)
			return -EBADMSG;
	}
	*ret = TAKE_PTR(k);
	return 0;
}

static int sha256(const void *p, size_t n, uint8_t out[32])
{
	size_t len = 32;

	return key_digest(KEY_ALG_RS256, p, n, out, &len);
}

int fleet_fingerprint(const uint8_t *spki, size_t len, char ret[FLEET_FPR_LEN])
{
	uint8_t d[32];
	int r;

	r = sha256(spki, len, d);
	if (r < 0)
		return r;
	memcpy(ret, "SHA256:", 7);
	hex_encode(d, sizeof(d), ret + 7);
	ret[FLEET_FPR_LEN - 1] = '\0';
	return 0;
}

int fleet_sign(const struct fleet_key *k, const void *msg, size_t n, uint8_t *sig, size_t *siglen)
{
	uint8_t d[32];
	size_t len = FLEET_SIG_MAX;
	int r;

	r = sha256(msg, n, d);
	if (r < 0)
		return r;
	if (k->kind == FLEET_KEY_TPM)
		r = tpm_key_sign(k->tcti, k->blob, k->blob_len, HOST_KEY_TYPE, SIG_ALG, d,
				 sizeof(d), sig, &len);
	else
		r = key_soft_sign(HOST_KEY_TYPE, k->material, SIG_ALG, d, sizeof(d), sig, &len);
	if (r < 0)
		return r;
	*siglen = len;
	return 0;
}

int fleet_verify(const uint8_t *spki, size_t spki_len, const void *msg, size_t n,
		 const uint8_t *sig, size_t siglen)
{
	uint8_t d[32];
	int r;

	r = sha256(msg, n, d);
	if (r < 0)
		return r;
	r = key_verify(HOST_KEY_TYPE, spki, spki_len, SIG_ALG, d, sizeof(d), sig, siglen);
	return r == -EINVAL ? -EBADMSG : r; /* a key that is not one: nothing verifies */
}

/* --- hosts --- */

static int host_msg(const struct fleet_host *h, struct buf *b)
{
	buf_puts(b, "vaultfs fleet host v1");
	buf_putc(b, '\0');
	buf_put_name(b, h->name);
	buf_put_be32(b, (uint32_t)h->kind);
	buf_put_be32(b, (uint32_t)h->spki_len);
	buf_put(b, h->spki, h->spki_len);
	buf_put_name(b, h->approved_by);
	return b->err;
}

/* v1: no cut; v2 (cut_head not NULL): the cut after the revoker's name, be64(seq) head. */
static int revoke_msg(const struct fleet_host *h, int64_t cut_seq, const uint8_t *cut_head,
		      struct buf *b)
{
	uint8_t d[32];
	int r;

	r = sha256(h->spki, h->spki_len, d);
	if (r < 0)
		return r;
	buf_puts(b, cut_head ? "vaultfs fleet revoke v2" : "vaultfs fleet revoke v1");
	buf_putc(b, '\0');
	buf_put_name(b, h->name);
	buf_put(b, d, sizeof(d));
	buf_put_name(b, h->revoked_by);
	if (cut_head) {
		buf_put_be64(b, (uint64_t)cut_seq);
		buf_put(b, cut_head, FLEET_CUT_HEAD_LEN);
	}
	return b->err;
}

/* h's revocation under by's key: 1 a v2 one (its cut in *seq, head), 0 a v1 one, -EBADMSG
 * neither verifies, -ENOMEM. */
static int revocation_verify(const struct fleet_host *h, const struct fleet_host *by, int64_t *seq,
			     uint8_t head[FLEET_CUT_HEAD_LEN])
{
	struct buf b = BUF_INIT(0);
	size_t siglen;
	int r;

	r = revoke_msg(h, 0, NULL, &b);
	if (r >= 0)
		r = fleet_verify(by->spki, by->spki_len, b.p, b.len, h->revoked_sig,
				 h->revoked_sig_len);
	buf_done(&b);
	if (r >= 0 || r == -ENOMEM || h->revoked_sig_len <= FLEET_CUT_LEN)
		return r < 0 ? r : 0;
	siglen = h->revoked_sig_len - FLEET_CUT_LEN;
	*seq = (int64_t)fleet_get_be64(h->revoked_sig + siglen);
	memcpy(head, h->revoked_sig + siglen + 8, FLEET_CUT_HEAD_LEN);
	b = (struct buf)BUF_INIT(0);
	r = revoke_msg(h, *seq, head, &b);
	if (r >= 0)
		r = fleet_verify(by->spki, by->spki_len, b.p, b.len, h->revoked_sig, siglen);
	buf_done(&b);
	return r < 0 ? r : 1;
}

int fleet_host_approve(const struct fleet_key *by, const char *by_name, struct fleet_host *h)
{
	struct buf b = BUF_INIT(0);
	int r;

	if (!fleet_host_name_valid(by_name) || !fleet_host_name_valid(h->name))
		return -EINVAL;
	str_copy(h->approved_by, sizeof(h->approved_by), by_name);
	r = host_msg(h, &b);
	if (r >= 0)
		r = fleet_sign(by, b.p, b.len, h->sig, &h->sig_len);
	buf_done(&b);
	if (r < 0) {
		h->approved_by[0] = '\0';
		h->sig_len = 0;
	}
	return r;
}

static int host_revoke(const struct fleet_key *by, const char *by_name, struct fleet_host *h,
		       int64_t cut_seq, const uint8_t *cut_head)
{
	struct buf b = BUF_INIT(0);
	int r;

	if (!fleet_host_name_valid(by_name) || cut_seq < 0)
		return -EINVAL;
	str_copy(h->revoked_by, sizeof(h->revoked_by), by_name);
	r = revoke_msg(h, cut_seq, cut_head, &b);
	if (r >= 0)
		r = fleet_sign(by, b.p, b.len, h->revoked_sig, &h->revoked_sig_len);
	if (r >= 0 && cut_head) {
		if (h->revoked_sig_len + FLEET_CUT_LEN > sizeof(h->revoked_sig))
			r = -EMSGSIZE;
		else {
			fleet_put_be64(h->revoked_sig + h->revoked_sig_len, (uint64_t)cut_seq);
			memcpy(h->revoked_sig + h->revoked_sig_len + 8, cut_head,
			       FLEET_CUT_HEAD_LEN);
			h->revoked_sig_len += FLEET_CUT_LEN;
		}
	}
	buf_done(&b);
	if (r < 0) {
		h->revoked_by[0] = '\0';
		h->revoked_sig_len = 0;
	}
	return r;
}

int fleet_host_revoke(const struct fleet_key *by, const char *by_name, struct fleet_host *h)
{
	return host_revoke(by, by_name, h, 0, NULL);
}

int fleet_host_revoke_at(const struct fleet_key *by, const char *by_name, struct fleet_host *h,
			 int64_t last_seq, const uint8_t head[FLEET_CUT_HEAD_LEN])
{
	return host_revoke(by, by_name, h, last_seq, head);
}

static const struct fleet_host *host_find(const struct fleet_host *hosts, size_t n,
					  const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(hosts[i].name, name))
			return &hosts[i];
	return NULL;
}

static int approval_ok(const struct fleet_host *h, const struct fleet_host *by)
{
	struct buf b = BUF_INIT(0);
	int r;

	r = host_msg(h, &b);
	if (r >= 0)
		r = fleet_verify(by->spki, by->spki_len, b.p, b.len, h->sig, h->sig_len);
	buf_done(&b);
	return r;
}

/* The approvals from name up to the anchor (revocations not looked at). */
static int approvals_ok(const struct fleet_host *hosts, size_t n, const char *anchor,
			const char *name)
{
	const struct fleet_host *cur = host_find(hosts, n, name);
	char fpr[FLEET_FPR_LEN];
	int r;

	if (!cur)
		return -ENOENT;
	if (cur->approved_by[0] == '\0')
		return -EACCES;
	for (unsigned depth = 0; depth < FLEET_CHAIN_DEPTH_MAX; depth++) {
		const struct fleet_host *by = host_find(hosts, n, cur->approved_by);

		if (!by || approval_ok(cur, by) < 0)
			return -ENOKEY;
		if (by == cur) {
			r = fleet_fingerprint(cur->spki, cur->spki_len, fpr);
			if (r < 0)
				return r;
			return anchor && streq(fpr, anchor) ? 0 : -ENOKEY;
		}
		cur = by;
	}
	return -ENOKEY;
}

/* Whether h was removed: a revocation that verifies under a host whose approvals hold up to the
 * anchor. One that does not verify is no revocation (the center could as well have dropped
 * it). 1 removed, 0 not, -ENOMEM. */
static int host_revoked(const struct fleet_host *hosts, size_t n, const char *anchor,
			const struct fleet_host *h)
{
	const struct fleet_host *by;
	uint8_t head[FLEET_CUT_HEAD_LEN];
	int64_t seq;
	int r;

	if (h->removed)
		return 1; /* this host remembers the removal: the center cannot take it back */
	if (!h->revoked_by[0] || !(by = host_find(hosts, n, h->revoked_by)))
		return 0;
	r = revocation_verify(h, by, &seq, head);
	if (r == -ENOMEM)
		return r;
	return r >= 0 && approvals_ok(hosts, n, anchor, by->name) >= 0;
}

int fleet_host_trusted(const struct fleet_host *hosts, size_t n, const char *anchor,
		       const char *name, const struct fleet_host **ret)
{
	const struct fleet_host *h = host_find(hosts, n, name), *cur = h;
	int r;

	r = approvals_ok(hosts, n, anchor, name);
	if (r < 0)
		return r;
	/* a removed host counts for nothing, and nor does any approval on the way up from h:
	 * approvals carry no time, so what a removed host signs after its removal (a key the
	 * center put in, another host's name on it) could not be told from what it signed
	 * before. The hosts it approved are approved again by a host that counts. */
	for (unsigned depth = 0; depth < FLEET_CHAIN_DEPTH_MAX; depth++) {
		r = host_revoked(hosts, n, anchor, cur);
		if (r < 0)
			return r;
		if (r > 0)
			return cur == h ? -EKEYREVOKED : -ENOKEY;
		if (streq(cur->approved_by, cur->name))
			break; /* the anchor: approvals_ok checked the way */
		cur = host_find(hosts, n, cur->approved_by);
	}
	if (ret)
		*ret = h;
	return 0;
}

int fleet_host_revoked_cut(const struct fleet_host *hosts, size_t n, const char *anchor,
			   const struct fleet_host *h, int64_t *ret_seq,
			   uint8_t ret_head[FLEET_CUT_HEAD_LEN])
{
	const struct fleet_host *by;
	uint8_t head[FLEET_CUT_HEAD_LEN];
	int64_t seq;
	int r;

	if (!h->revoked_by[0] || !(by = host_find(hosts, n, h->revoked_by)))
		return -ENOENT;
	r = revocation_verify(h, by, &seq, head);
	if (r == -ENOMEM)
		return r;
	if (r < 1 || approvals_ok(hosts, n, anchor, by->name) < 0 ||
	    host_revoked(hosts, n, anchor, by) != 0)
		return -ENOENT;
	*ret_seq = seq;
	memcpy(ret_head, head, FLEET_CUT_HEAD_LEN);
	return 0;
}

/* --- grants --- */

int fleet_vault_key_new(struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *k = NULL;
	int r;

	r = secbuf_new(CRYPTO_KEY_LEN, &k);
	if (r < 0)
		return r;
	r = crypto_random(k->data, CRYPTO_KEY_LEN);
	if (r < 0)
		return r;
	k->len = CRYPTO_KEY_LEN;
	*ret = TAKE_PTR(k);
	return 0;
}

static int grant_msg(const struct fleet_grant *g, const uint8_t *spki, size_t spki_len,
		     struct buf *b)
{
	uint8_t d[32];
	int r;

	r = sha256(spki, spki_len, d);
	if (r < 0)
		return r;
	buf_puts(b, "vaultfs fleet grant v1");
	buf_putc(b, '\0');
	buf_put_name(b, g->vault);
	buf_put_be32(b, g->epoch);
	buf_put_name(b, g->host);
	buf_put(b, d, sizeof(d));
	buf_put_name(b, g->granted_by);
	buf_put_be32(b, (uint32_t)g->wrapped_len);
	buf_put(b, g->wrapped, g->wrapped_len);
	return b->err;
}

int fleet_grant_make(const struct fleet_key *by, const char *by_name, const struct fleet_host *to,
		     const char *vault, uint32_t epoch, const struct secbuf *vkey,
		     struct fleet_grant *ret)
{
	struct fleet_grant g = { .epoch = epoch };
	struct buf b = BUF_INIT(0);
	size_t len = sizeof(g.wrapped);
	int r;

	if (!fleet_host_name_valid(by_name) || !fleet_host_name_valid(to->name) || !vault ||
	    strlen(vault) > VAULTFS_NAME_MAX || vkey->len != CRYPTO_KEY_LEN || epoch == 0)
		return -EINVAL;
	str_copy(g.vault, sizeof(g.vault), vault);
	str_copy(g.host, sizeof(g.host), to->name);
	str_copy(g.granted_by, sizeof(g.granted_by), by_name);
	r = key_public_encrypt(HOST_KEY_TYPE, to->spki, to->spki_len, KEY_OP_WRAP, WRAP_ALG,
			       vkey->data, vkey->len, g.wrapped, &len);
	if (r < 0)
		return r;
	g.wrapped_len = len;
	r = grant_msg(&g, to->spki, to->spki_len, &b);
	if (r >= 0)
		r = fleet_sign(by, b.p, b.len, g.sig, &g.sig_len);
	buf_done(&b);
	if (r < 0)
		return r;
	*ret = g;
	return 0;
}

int fleet_grant_open(const struct fleet_key *me, const char *my_name, const struct fleet_grant *g,
		     const struct fleet_host *hosts, size_t n, const char *anchor,
		     struct secbuf **ret_vkey)
{
	_cleanup_secbuf_ struct secbuf *k = NULL;
	const struct fleet_host *mine, *by;
	struct buf b = BUF_INIT(0);
	int r;

	if (!streq(g->host, my_name))
		return -EINVAL;
	r = fleet_host_trusted(hosts, n, anchor, my_name, &mine);
	if (r < 0)
		return r;
	/* the row must be mine: a public key swapped in my row is not my key */
	if (mine->spki_len != me->spki_len || memcmp(mine->spki, me->spki, me->spki_len) != 0)
		return -ENOKEY;
	r = fleet_host_trusted(hosts, n, anchor, g->granted_by, &by);
	if (r < 0)
		return r;
	r = grant_msg(g, me->spki, me->spki_len, &b);
	if (r >= 0)
		r = fleet_verify(by->spki, by->spki_len, b.p, b.len, g->sig, g->sig_len);
	buf_done(&b);
	if (r < 0)
		return r;
	if (me->kind == FLEET_KEY_TPM)
		r = tpm_key_decrypt(me->tcti, me->blob, me->blob_len, HOST_KEY_TYPE, WRAP_ALG,
				    g->wrapped, g->wrapped_len, &k);
	else
		r = key_soft_decrypt(HOST_KEY_TYPE, me->material, WRAP_ALG, NULL, 0, g->wrapped,
				     g->wrapped_len, &k);
	if (r == -EINVAL)
		r = -EBADMSG;
	if (r < 0)
		return r;
	if (k->len != CRYPTO_KEY_LEN)
		return -EBADMSG;
	*ret_vkey = TAKE_PTR(k);
	return 0;
}

int fleet_grant_verify(const struct fleet_grant *g, const struct fleet_host *hosts, size_t n,
		       const char *anchor)
{
	const struct fleet_host *to, *by;
	struct buf b = BUF_INIT(0);
	int r;

	r = fleet_host_trusted(hosts, n, anchor, g->host, &to);
	if (r >= 0)
		r = fleet_host_trusted(hosts, n, anchor, g->granted_by, &by);
	if (r < 0)
		return r;
	r = grant_msg(g, to->spki, to->spki_len, &b);
	if (r >= 0)
		r = fleet_verify(by->spki, by->spki_len, b.p, b.len, g->sig, g->sig_len);
	buf_done(&b);
	return r;
}

/* --- the chain --- */

void fleet_change_done(struct fleet_change *c)
{
	if (!c)
		return;
	free(c->body);
	c->body = NULL;
	c->body_len = 0;
}

int fleet_change_mac(const struct secbuf *vkey, const struct fleet_change *c,
		     const uint8_t prev[CRYPTO_MAC_LEN], uint8_t ret[CRYPTO_MAC_LEN])
{
	uint8_t k[CRYPTO_KEY_LEN];
	struct buf b = BUF_INIT(FLEET_BODY_MAX + 1024);
	int r;

	if (vkey->len != CRYPTO_KEY_LEN || c->seq <= 0)
		return -EINVAL;
	buf_puts(&b, "vaultfs fleet change v1");
	buf_putc(&b, '\0');
	buf_put_name(&b, c->vault);
	buf_put_be64(&b, (uint64_t)c->seq);
	buf_put_be32(&b, c->epoch);
	buf_put_name(&b, c->host);
	buf_put_be64(&b, c->body_len);
	buf_put(&b, c->body, c->body_len);
	buf_put(&b, prev, CRYPTO_MAC_LEN);
	r = b.err;
	if (r >= 0)
		r = crypto_hkdf(vkey->data, vkey->len, "vaultfs fleet chain v1", k, sizeof(k));
	if (r >= 0)
		r = crypto_hmac(k, b.p, b.len, ret);
	secure_wipe(k, sizeof(k));
	buf_done(&b);
	return r;
}

int fleet_chain_check(struct fleet_applied *a, const struct fleet_change *rows, size_t n,
		      int (*key)(void *ud, uint32_t epoch, const struct secbuf **ret), void *ud,
		      size_t *ret_good)
{
	size_t i = 0, good = 0;
	int r = 0;

	if (a->seq > 0) {
		/* the row applied last must still be there as it was */
		if (n == 0 || rows[0].seq != a->seq ||
		    !crypto_memeq(rows[0].mac, a->mac, CRYPTO_MAC_LEN)) {
			r = -ESTALE;
			goto out;
		}
		i = 1;
	}
	for (; i < n; i++) {
		const struct fleet_change *c = &rows[i];
		const struct secbuf *k;
		uint8_t mac[CRYPTO_MAC_LEN];

		if (c->seq != a->seq + 1) {
			r = -EBADMSG;
			break;
		}
		if (c->epoch < a->epoch) {
			r = -EKEYREVOKED;
			break;
		}
		r = key(ud, c->epoch, &k);
		if (r < 0)
			break;
		r = fleet_change_mac(k, c, a->mac, mac);
		if (r < 0)
			break;
		if (!crypto_memeq(mac, c->mac, CRYPTO_MAC_LEN)) {
			r = -EBADMSG;
			break;
		}
		a->seq = c->seq;
		a->epoch = c->epoch;
		memcpy(a->mac, c->mac, CRYPTO_MAC_LEN);
		good++;
	}
out:
	if (ret_good)
		*ret_good = good;
	return r < 0 ? r : 0;
}

void fleet_applied_encode(const struct fleet_applied *a, uint8_t out[FLEET_APPLIED_LEN])
{
	fleet_put_be64(out, (uint64_t)a->seq);
	fleet_put_be32(out + 8, a->epoch);
	memcpy(out + 12, a->mac, CRYPTO_MAC_LEN);
}

int fleet_applied_decode(const uint8_t *in, size_t len, struct fleet_applied *ret)
{
	struct fleet_applied a;

	if (len != FLEET_APPLIED_LEN)
		return -EBADMSG;
	a.seq = (int64_t)fleet_get_be64(in);
	a.epoch = fleet_get_be32(in + 8);
	memcpy(a.mac, in + 12, CRYPTO_MAC_LEN);
	if (a.seq < 0)
		return -EBADMSG;
	*ret = a;
	return 0;
}
