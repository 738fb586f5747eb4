/* test-agent.c: the ssh-agent engine (core/agent.h) against a backend of OpenSSL keys made here:
 * every message type and its exact reply, the framing's caps, truncated requests and lengths
 * inside strings that overrun, SSHSIG and login data classified (and malformed SSHSIG refused),
 * session-bind's rules, the query extension, refusals reported and secrets wiped. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/agent.h"
#include "core/util.h"
#include "tests/unit/sshtest.h"
#include "tests/unit/testlib.h"

#define NKEYS 3

struct mock {
	EVP_PKEY *pk[NKEYS];
	uint8_t spki[NKEYS][1024];
	size_t spki_len[NKEYS];
	uint8_t blob[NKEYS][SSH_KEY_BLOB_MAX];
	size_t blob_len[NKEYS];
	int list_result;     /* what list returns */
	unsigned list_extra; /* identities to add beyond the keys (the cap test) */
	int sign_result;     /* < 0: sign refuses with it */
	bool sign_short;     /* sign returns a signature one byte short */
	unsigned signs, refusals;
	enum key_alg last_alg;
	struct agent_sign_info last_info;
	uint8_t last_type;
	const char *last_what;
};

static struct mock M;

static int mock_list(void *ud, const struct agent_conn *c,
		     int (*add)(void *ctx, const uint8_t *spki, size_t spki_len,
				const char *comment),
		     void *ctx)
{
	static const char *names[NKEYS] = { "v/ed", "v/ec", "v/rsa" };
	struct mock *m = ud;
	uint8_t junk[8] = { 0x30, 0x06, 1, 2, 3, 4, 5, 6 };

	(void)c;
	if (m->list_result < 0)
		return m->list_result;
	for (int i = 0; i < NKEYS; i++)
		assert_int_equal(add(ctx, m->spki[i], m->spki_len[i], names[i]), 0);
	assert_int_equal(add(ctx, junk, sizeof(junk), "junk"), 0); /* skipped */
	for (unsigned i = 0; i < m->list_extra; i++)
		assert_int_equal(add(ctx, m->spki[2], m->spki_len[2], "many"), 0);
	return 0;
}

static int mock_sign(void *ud, const struct agent_conn *c, const uint8_t *spki, size_t spki_len,
		     enum key_alg alg, const uint8_t *data, size_t n,
		     const struct agent_sign_info *info, uint8_t *sig, size_t *siglen)
{
	struct mock *m = ud;

	(void)c;
	m->signs++;
	m->last_alg = alg;
	m->last_info = *info;
	assert_int_equal(*siglen, KEY_SIG_MAX);
	if (m->sign_result < 0)
		return m->sign_result;
	for (int i = 0; i < NKEYS; i++)
		if (spki_len == m->spki_len[i] && memcmp(spki, m->spki[i], spki_len) == 0) {
			assert_int_equal(sshtest_sign(m->pk[i], alg, data, n, sig, siglen), 0);
			if (m->sign_short)
				(*siglen)--;
			return 0;
		}
	return -ENOENT;
}

static void mock_refused(void *ud, const struct agent_conn *c, uint8_t type, const char *what)
{
	struct mock *m = ud;

	(void)c;
	m->refusals++;
	m->last_type = type;
	m->last_what = what;
}

static const struct agent_backend BE = {
	.list = mock_list,
	.sign = mock_sign,
	.refused = mock_refused,
};

static int setup_keys(void **state)
{
	static const char *what[NKEYS] = { "ed25519", "p256", "rsa2048" };

	(void)state;
	memset(&M, 0, sizeof(M));
	for (int i = 0; i < NKEYS; i++) {
		int n;

		M.pk[i] = sshtest_keygen(what[i]);
		if (!M.pk[i])
			return -1;
		n = sshtest_spki(M.pk[i], M.spki[i], sizeof(M.spki[i]));
		if (n < 0)
			return -1;
		M.spki_len[i] = (size_t)n;
		if (ssh_key_from_spki(M.spki[i], M.spki_len[i], M.blob[i], sizeof(M.blob[i]),
				      &M.blob_len[i]) < 0)
			return -1;
	}
	return 0;
}

static int teardown_keys(void **state)
{
	(void)state;
	for (int i = 0; i < NKEYS; i++)
		EVP_PKEY_free(M.pk[i]);
	return 0;
}

/* Each test starts from a backend that allows everything. */
static int reset(void **state)
{
	(void)state;
	M.list_result = 0;
	M.list_extra = 0;
	M.sign_result = 0;
	M.sign_short = false;
	M.signs = M.refusals = 0;
	M.last_type = 0;
	M.last_what = NULL;
	memset(&M.last_info, 0xaa, sizeof(M.last_info));
	return 0;
}

/* A request being built: frame length patched by req_end. */
struct req {
	uint8_t p[8192];
	struct ssh_writer w;
};

static void req_begin(struct req *r, uint8_t type)
{
	r->w = ssh_writer_make(r->p, sizeof(r->p));
	ssh_put_u32(&r->w, 0);
	ssh_put_u8(&r->w, type);
}

static size_t req_end(struct req *r)
{
	assert_int_equal(r->w.err, 0);
	ssh_patch_u32(&r->w, 0, (uint32_t)(r->w.len - 4));
	return r->w.len;
}

/* Send one frame; the reply's body (after its length) in *body. Returns the reply's type. */
static uint8_t roundtrip(struct agent_conn *c, uint8_t *p, size_t n, struct buf *out,
			 struct ssh_reader *body)
{
	uint32_t len;
	uint8_t type;

	buf_clear(out);
	assert_int_equal(agent_handle(&BE, &M, c, p, n, out), 0);
	*body = ssh_reader_make(out->p, out->len);
	assert_int_equal(ssh_get_u32(body, &len), 0);
	assert_int_equal(len, body->n); /* exactly one frame */
	assert_int_equal(ssh_get_u8(body, &type), 0);
	return type;
}

static void test_frame_len(void **state)
{
	uint8_t h[5] = { 0, 0, 0, 0, 11 };
	size_t total = 0;

	(void)state;
	assert_int_equal(agent_frame_len(h, 3, &total), -EAGAIN);
	assert_int_equal(agent_frame_len(h, 4, &total), -EBADMSG); /* empty */
	h[3] = 1;
	assert_int_equal(agent_frame_len(h, 4, &total), 0);
	assert_int_equal(total, 5);
	h[1] = 0x04; /* 256 KiB + 1 */
	assert_int_equal(agent_frame_len(h, 4, &total), -EMSGSIZE);
	h[3] = 0; /* exactly 256 KiB */
	assert_int_equal(agent_frame_len(h, 4, &total), 0);
	assert_int_equal(total, 4 + AGENT_MSG_MAX);
	h[0] = 0xff;
	assert_int_equal(agent_frame_len(h, 4, &total), -EMSGSIZE);
}

static void test_identities(void **state)
{
	struct agent_conn c;
	struct buf out = BUF_INIT(0);
	struct req r;
	struct ssh_reader b;
	const uint8_t *blob, *comment;
	size_t n, blen, clen;
	uint32_t count;

	(void)state;
	agent_conn_init(&c, NULL);
	req_begin(&r, SSH_AGENTC_REQUEST_IDENTITIES);
	n = req_end(&r);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_IDENTITIES_ANSWER);
	assert_int_equal(ssh_get_u32(&b, &count), 0);
	assert_int_equal(count, NKEYS); /* the junk SPKI is not an identity */
	for (int i = 0; i < NKEYS; i++) {
		assert_int_equal(ssh_get_string(&b, &blob, &blen), 0);
		assert_int_equal(ssh_get_string(&b, &comment, &clen), 0);
		assert_int_equal(blen, M.blob_len[i]);
		assert_memory_equal(blob, M.blob[i], blen);
	}
	assert_int_equal(clen, 5);
	assert_memory_equal(comment, "v/rsa", 5);
	assert_int_equal(b.n, 0);

	/* the backend fails (a denied peer): FAILURE, nothing half-built left in out */
	M.list_result = -EPERM;
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
	assert_int_equal(b.n, 0);
	assert_int_equal(out.len, 5);

	/* more identities than a client reads: the answer stays within the cap, count exact */
	M.list_result = 0;
	M.list_extra = 3000;
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_IDENTITIES_ANSWER);
	assert_true(out.len <= 4 + AGENT_MSG_MAX);
	assert_int_equal(ssh_get_u32(&b, &count), 0);
	assert_true(count > NKEYS && count <= AGENT_IDENTITIES_MAX);
	for (uint32_t i = 0; i < count; i++) {
		assert_int_equal(ssh_get_string(&b, NULL, NULL), 0);
		assert_int_equal(ssh_get_string(&b, NULL, NULL), 0);
	}
	assert_int_equal(b.n, 0);
	buf_done(&out);
}

/* A SIGN_REQUEST of key i over data with flags. */
static size_t sign_req(struct req *r, int i, const void *data, size_t n, uint32_t flags)
{
	req_begin(r, SSH_AGENTC_SIGN_REQUEST);
	ssh_put_string(&r->w, M.blob[i], M.blob_len[i]);
	ssh_put_string(&r->w, data, n);
	ssh_put_u32(&r->w, flags);
	return req_end(r);
}

/* Expect a SIGN_RESPONSE whose signature (named name) verifies over data with key i. */
static void expect_signature(struct buf *out, struct ssh_reader *b, int i, const void *data,
			     size_t n, const char *name)
{
	const uint8_t *sig;
	size_t siglen;
	struct ssh_reader s;

	(void)out;
	assert_int_equal(ssh_get_string(b, &sig, &siglen), 0);
	assert_int_equal(b->n, 0);
	s = ssh_reader_make(sig, siglen);
	assert_int_equal(ssh_get_string_eq(&s, name), 0);
	assert_int_equal(ssh_sig_verify(M.blob[i], M.blob_len[i], sig, siglen, data, n), 0);
}

static void test_sign(void **state)
{
	struct agent_conn c;
	struct buf out = BUF_INIT(0);
	struct req r;
	struct ssh_reader b;
	uint8_t data[200];
	size_t n;

	(void)state;
	agent_conn_init(&c, NULL);
	test_fill(data, sizeof(data), 1);
	n = sign_req(&r, 0, data, sizeof(data), 0);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
	expect_signature(&out, &b, 0, data, sizeof(data), "ssh-ed25519");
	assert_int_equal(M.last_alg, KEY_ALG_EDDSA);
	assert_int_equal(M.last_info.kind, AGENT_DATA_OTHER);
	assert_string_equal(M.last_info.namespace, "");
	assert_string_equal(M.last_info.dest_hostkey_fp, "");
	assert_int_equal(M.last_info.hops, 0);
	assert_false(M.last_info.bind_attempted);

	n = sign_req(&r, 1, data, sizeof(data), SSH_AGENT_RSA_SHA2_256); /* ignored for EC */
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
	expect_signature(&out, &b, 1, data, sizeof(data), "ecdsa-sha2-nistp256");
	assert_int_equal(M.last_alg, KEY_ALG_ES256);
	assert_int_equal(M.last_info.flags, SSH_AGENT_RSA_SHA2_256);

	/* RSA: the flags choose the hash; none means SHA-512, never SHA-1 */
	n = sign_req(&r, 2, data, sizeof(data), SSH_AGENT_RSA_SHA2_256);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
	expect_signature(&out, &b, 2, data, sizeof(data), "rsa-sha2-256");
	assert_int_equal(M.last_alg, KEY_ALG_RS256);
	n = sign_req(&r, 2, data, sizeof(data), SSH_AGENT_RSA_SHA2_512);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
	expect_signature(&out, &b, 2, data, sizeof(data), "rsa-sha2-512");
	n = sign_req(&r, 2, data, sizeof(data), 0);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
	expect_signature(&out, &b, 2, data, sizeof(data), "rsa-sha2-512");
	assert_int_equal(M.last_alg, KEY_ALG_RS512);

	/* refused by the backend; a signature of the wrong length: FAILURE */
	M.sign_result = -EPERM;
	n = sign_req(&r, 1, data, sizeof(data), 0);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
	M.sign_result = 0;
	M.sign_short = true;
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
	M.sign_short = false;

	/* a key kind we do not speak never reaches the backend */
	M.signs = 0;
	req_begin(&r, SSH_AGENTC_SIGN_REQUEST);
	{
		struct ssh_writer w;
		uint8_t dss[64];

		w = ssh_writer_make(dss, sizeof(dss));
		ssh_put_cstring(&w, "ssh-dss");
		ssh_put_string(&w, data, 20);
		ssh_put_string(&r.w, dss, w.len);
	}
	ssh_put_string(&r.w, data, 10);
	ssh_put_u32(&r.w, 0);
	n = req_end(&r);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
	assert_int_equal(M.signs, 0);
	buf_done(&out);
}

static void test_sign_truncated(void **state)
{
	struct agent_conn c;
	struct buf out = BUF_INIT(0);
	struct req r;
	struct ssh_reader b;
	uint8_t data[16] = { 0 };
	size_t n;

	(void)state;
	agent_conn_init(&c, NULL);
	n = sign_req(&r, 1, data, sizeof(data), 0);
	M.signs = 0;
	/* every shorter frame (its length field saying so) is a FAILURE, never a signature */
	for (size_t cut = 5; cut < n; cut++) {
		uint8_t p[8192];

		memcpy(p, r.p, cut);
		p[0] = p[1] = 0;
		p[2] = (uint8_t)((cut - 4) >> 8);
		p[3] = (uint8_t)(cut - 4);
		assert_int_equal(roundtrip(&c, p, cut, &out, &b), SSH_AGENT_FAILURE);
	}
	assert_int_equal(M.signs, 0);
	/* a string length inside that overruns the frame */
	r.p[5 + 3] = 0xff; /* the key blob's length */
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
	n = sign_req(&r, 1, data, sizeof(data), 0);
	r.p[5 + 4 + M.blob_len[1] + 2] = 0x7f; /* the data's length */
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
	assert_int_equal(M.signs, 0);
	/* a frame whose n is not its length field's */
	n = sign_req(&r, 1, data, sizeof(data), 0);
	assert_int_equal(agent_handle(&BE, &M, &c, r.p, n - 1, &out), -EINVAL);
	assert_int_equal(agent_handle(&BE, &M, &c, r.p, 3, &out), -EINVAL);
	buf_done(&out);
}

/* PROTOCOL.sshsig's signed data into w. */
static void put_sshsig(struct ssh_writer *w, const char *ns, const char *hash, bool extra)
{
	uint8_t md[64] = { 7 };

	ssh_put_bytes(w, "SSHSIG", 6);
	ssh_put_cstring(w, ns);
	ssh_put_string(w, NULL, 0);
	ssh_put_cstring(w, hash);
	ssh_put_string(w, md, 64);
	if (extra)
		ssh_put_u8(w, 0);
}

static void test_sshsig(void **state)
{
	struct agent_conn c;
	struct buf out = BUF_INIT(0);
	struct req r;
	struct ssh_reader b;
	uint8_t data[512];
	struct ssh_writer w;
	size_t n;

	(void)state;
	agent_conn_init(&c, NULL);
	w = ssh_writer_make(data, sizeof(data));
	put_sshsig(&w, "git", "sha512", false);
	n = sign_req(&r, 0, data, w.len, 0);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
	expect_signature(&out, &b, 0, data, w.len, "ssh-ed25519");
	assert_int_equal(M.last_info.kind, AGENT_DATA_SSHSIG);
	assert_string_equal(M.last_info.namespace, "git");
	assert_string_equal(M.last_info.hashalg, "sha512");
	assert_string_equal(M.last_info.user, "");

	/* malformed SSHSIG data: refused and reported, the backend never asked */
	static const struct {
		const char *ns, *hash;
		bool extra;
	} bad[] = {
		{ "git", "sha512", true }, /* a byte after H(message) */
		{ "", "sha512", false },   /* an empty namespace */
		{ "g\nit", "sha512", false },
		{ "git", "", false },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		M.signs = M.refusals = 0;
		w = ssh_writer_make(data, sizeof(data));
		put_sshsig(&w, bad[i].ns, bad[i].hash, bad[i].extra);
		n = sign_req(&r, 0, data, w.len, 0);
		assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
		assert_int_equal(M.signs, 0);
		assert_int_equal(M.refusals, 1);
		assert_int_equal(M.last_type, SSH_AGENTC_SIGN_REQUEST);
		assert_string_equal(M.last_what, "sign: malformed SSHSIG data");
	}
	/* truncated inside: also refused */
	w = ssh_writer_make(data, sizeof(data));
	put_sshsig(&w, "file", "sha256", false);
	for (size_t cut = 6; cut < w.len; cut += 7) {
		M.signs = 0;
		n = sign_req(&r, 0, data, cut, 0);
		assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
		assert_int_equal(M.signs, 0);
	}
	/* "SSHSI" is not the magic: other data, signed */
	n = sign_req(&r, 0, "SSHSI", 5, 0);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
	assert_int_equal(M.last_info.kind, AGENT_DATA_OTHER);
	/* a namespace at the cap, and one past it */
	{
		char ns[AGENT_NAMESPACE_MAX + 2];

		memset(ns, 'n', sizeof(ns));
		ns[AGENT_NAMESPACE_MAX] = '\0';
		w = ssh_writer_make(data, sizeof(data));
		put_sshsig(&w, ns, "sha256", false);
		n = sign_req(&r, 0, data, w.len, 0);
		assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
		assert_string_equal(M.last_info.namespace, ns);
		ns[AGENT_NAMESPACE_MAX] = 'n';
		ns[AGENT_NAMESPACE_MAX + 1] = '\0';
		w = ssh_writer_make(data, sizeof(data));
		put_sshsig(&w, ns, "sha256", false);
		n = sign_req(&r, 0, data, w.len, 0);
		assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
	}
	buf_done(&out);
}

/* An RFC 4252 publickey request as ssh signs it, for key i (host: the hostbound method). */
static size_t put_userauth(uint8_t *p, size_t size, const uint8_t *sid, size_t sidlen, int i,
			   const char *service, const uint8_t *host, size_t hostlen)
{
	struct ssh_writer w = ssh_writer_make(p, size);

	ssh_put_string(&w, sid, sidlen);
	ssh_put_u8(&w, 50);
	ssh_put_cstring(&w, "alice");
	ssh_put_cstring(&w, service);
	ssh_put_cstring(&w, host ? "publickey-hostbound-v00@openssh.com" : "publickey");
	ssh_put_u8(&w, 1);
	ssh_put_cstring(&w, i == 2 ?
				    "rsa-sha2-512" :
				    ssh_key_kind_name(ssh_key_blob_kind(M.blob[i], M.blob_len[i])));
	ssh_put_string(&w, M.blob[i], M.blob_len[i]);
	if (host)
		ssh_put_string(&w, host, hostlen);
	assert_int_equal(w.err, 0);
	return w.len;
}

/* A session-bind request: host key hk binds sid, signed by hk (or not: bad_sig). */
static size_t bind_req(struct req *r, EVP_PKEY *hk, const uint8_t *sid, size_t sidlen, bool fwd,
		       bool bad_sig)
{
	uint8_t spki[1024], blob[SSH_KEY_BLOB_MAX], sig[KEY_SIG_MAX], sigblob[SSH_SIG_BLOB_MAX];
	size_t blen, siglen = sizeof(sig), sbl;
	int n = sshtest_spki(hk, spki, sizeof(spki));

	assert_true(n > 0);
	assert_int_equal(ssh_key_from_spki(spki, (size_t)n, blob, sizeof(blob), &blen), 0);
	assert_int_equal(sshtest_sign(hk, KEY_ALG_ES256, sid, sidlen, sig, &siglen), 0);
	if (bad_sig)
		sig[5] ^= 1;
	assert_int_equal(
		ssh_sig_from_jws(KEY_ALG_ES256, sig, siglen, sigblob, sizeof(sigblob), &sbl), 0);
	req_begin(r, SSH_AGENTC_EXTENSION);
	ssh_put_cstring(&r->w, "session-bind@openssh.com");
	ssh_put_string(&r->w, blob, blen);
	ssh_put_string(&r->w, sid, sidlen);
	ssh_put_string(&r->w, sigblob, sbl);
	ssh_put_u8(&r->w, fwd);
	return req_end(r);
}

static void test_login(void **state)
{
	struct agent_conn c;
	struct buf out = BUF_INIT(0);
	struct req r;
	struct ssh_reader b;
	uint8_t sid[32], data[2048];
	char fp[SSH_FINGERPRINT_MAX];
	size_t n, dn;

	(void)state;
	agent_conn_init(&c, NULL);
	test_fill(sid, sizeof(sid), 3);
	for (int i = 0; i < NKEYS; i++) {
		dn = put_userauth(data, sizeof(data), sid, sizeof(sid), i, "ssh-connection", NULL,
				  0);
		n = sign_req(&r, i, data, dn, SSH_AGENT_RSA_SHA2_512);
		assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
		assert_int_equal(M.last_info.kind, AGENT_DATA_LOGIN);
		assert_string_equal(M.last_info.user, "alice");
		assert_false(M.last_info.hostbound);
		assert_false(M.last_info.sid_matches); /* never bound */
	}
	/* hostbound: the host key it names */
	dn = put_userauth(data, sizeof(data), sid, sizeof(sid), 0, "ssh-connection", M.blob[1],
			  M.blob_len[1]);
	n = sign_req(&r, 0, data, dn, 0);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
	assert_int_equal(M.last_info.kind, AGENT_DATA_LOGIN);
	assert_true(M.last_info.hostbound);
	assert_int_equal(ssh_fingerprint(M.blob[1], M.blob_len[1], fp), 0);
	assert_string_equal(M.last_info.login_hostkey_fp, fp);
	/* not a login: another key's blob inside, another service, a byte more */
	dn = put_userauth(data, sizeof(data), sid, sizeof(sid), 1, "ssh-connection", NULL, 0);
	n = sign_req(&r, 0, data, dn, 0);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
	assert_int_equal(M.last_info.kind, AGENT_DATA_OTHER);
	assert_string_equal(M.last_info.user, "");
	dn = put_userauth(data, sizeof(data), sid, sizeof(sid), 0, "ssh-userauth", NULL, 0);
	n = sign_req(&r, 0, data, dn, 0);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
	assert_int_equal(M.last_info.kind, AGENT_DATA_OTHER);
	dn = put_userauth(data, sizeof(data), sid, sizeof(sid), 0, "ssh-connection", NULL, 0);
	data[dn++] = 0;
	n = sign_req(&r, 0, data, dn, 0);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
	assert_int_equal(M.last_info.kind, AGENT_DATA_OTHER);

	/* after a session-bind of that sid: the login's sid matches, the destination is known */
	{
		EVP_PKEY *hk = sshtest_keygen("p256");
		uint8_t spki[256], blob[256];
		size_t blen;
		int sl;

		assert_non_null(hk);
		n = bind_req(&r, hk, sid, sizeof(sid), false, false);
		assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SUCCESS);
		sl = sshtest_spki(hk, spki, sizeof(spki));
		assert_int_equal(ssh_key_from_spki(spki, (size_t)sl, blob, sizeof(blob), &blen), 0);
		assert_int_equal(ssh_fingerprint(blob, blen, fp), 0);
		dn = put_userauth(data, sizeof(data), sid, sizeof(sid), 1, "ssh-connection", NULL,
				  0);
		n = sign_req(&r, 1, data, dn, 0);
		assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
		assert_int_equal(M.last_info.kind, AGENT_DATA_LOGIN);
		assert_true(M.last_info.sid_matches);
		assert_string_equal(M.last_info.dest_hostkey_fp, fp);
		assert_false(M.last_info.dest_forwarding);
		assert_int_equal(M.last_info.hops, 1);
		assert_true(M.last_info.bind_attempted);
		EVP_PKEY_free(hk);
	}
	buf_done(&out);
}

static void test_session_bind(void **state)
{
	EVP_PKEY *hk = sshtest_keygen("p256"), *hk2 = sshtest_keygen("p256");
	struct agent_conn c;
	struct buf out = BUF_INIT(0);
	struct req r;
	struct ssh_reader b;
	uint8_t sid[AGENT_SID_MAX + 1];
	size_t n;

	(void)state;
	assert_non_null(hk);
	assert_non_null(hk2);
	agent_conn_init(&c, NULL);
	test_fill(sid, sizeof(sid), 9);
	/* a bad signature, a session id over the cap */
	n = bind_req(&r, hk, sid, 32, true, true);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_EXTENSION_FAILURE);
	assert_true(c.bind_attempted);
	n = bind_req(&r, hk, sid, AGENT_SID_MAX + 1, true, false);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_EXTENSION_FAILURE);
	assert_int_equal(c.nbindings, 0);
	/* a sign after a failed bind: the backend knows one was tried, and no destination */
	n = sign_req(&r, 0, "x", 1, 0);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SIGN_RESPONSE);
	assert_true(M.last_info.bind_attempted);
	assert_string_equal(M.last_info.dest_hostkey_fp, "");
	assert_int_equal(M.last_info.hops, 0);
	/* truncated: each cut of a good one fails */
	n = bind_req(&r, hk, sid, 32, true, false);
	for (size_t cut = 5; cut < n; cut += 9) {
		uint8_t p[8192];

		memcpy(p, r.p, cut);
		p[0] = p[1] = 0;
		p[2] = (uint8_t)((cut - 4) >> 8);
		p[3] = (uint8_t)(cut - 4);
		assert_true(roundtrip(&c, p, cut, &out, &b) != SSH_AGENT_SUCCESS);
	}
	assert_int_equal(c.nbindings, 0);
	/* forwarding hop, then the same again (no new binding), then the same sid by another key */
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SUCCESS);
	assert_int_equal(c.nbindings, 1);
	assert_true(c.bindings[0].forwarding);
	assert_memory_equal(c.bindings[0].hostkey_fp, "SHA256:", 7);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SUCCESS);
	assert_int_equal(c.nbindings, 1);
	n = bind_req(&r, hk2, sid, 32, true, false);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_EXTENSION_FAILURE);
	/* the destination, for authentication */
	n = bind_req(&r, hk2, sid + 1, 32, false, false);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SUCCESS);
	assert_int_equal(c.nbindings, 2);
	assert_false(c.bindings[1].forwarding);
	/* nothing binds after a binding for authentication */
	n = bind_req(&r, hk, sid + 2, 32, true, false);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_EXTENSION_FAILURE);
	assert_int_equal(c.nbindings, 2);

	/* at most AGENT_BINDINGS_MAX forwarding hops */
	agent_conn_init(&c, NULL);
	for (unsigned i = 0; i < AGENT_BINDINGS_MAX; i++) {
		n = bind_req(&r, hk, sid + i, 32, true, false);
		assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_SUCCESS);
	}
	n = bind_req(&r, hk, sid + AGENT_BINDINGS_MAX, 32, true, false);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_EXTENSION_FAILURE);
	assert_int_equal(c.nbindings, AGENT_BINDINGS_MAX);
	EVP_PKEY_free(hk);
	EVP_PKEY_free(hk2);
	buf_done(&out);
}

static void test_extensions(void **state)
{
	struct agent_conn c;
	struct buf out = BUF_INIT(0);
	struct req r;
	struct ssh_reader b;
	size_t n;

	(void)state;
	agent_conn_init(&c, NULL);
	req_begin(&r, SSH_AGENTC_EXTENSION);
	ssh_put_cstring(&r.w, "query");
	n = req_end(&r);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_EXTENSION_RESPONSE);
	assert_int_equal(ssh_get_string_eq(&b, "query"), 0);
	assert_int_equal(ssh_get_string_eq(&b, "session-bind@openssh.com"), 0);
	assert_int_equal(b.n, 0);
	/* an extension we do not have; one whose name overruns the frame; none at all */
	req_begin(&r, SSH_AGENTC_EXTENSION);
	ssh_put_cstring(&r.w, "restrict-destination-v00@openssh.com");
	n = req_end(&r);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
	assert_int_equal(b.n, 0);
	r.p[8] = 0x40;
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
	req_begin(&r, SSH_AGENTC_EXTENSION);
	n = req_end(&r);
	assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
	buf_done(&out);
}

static void test_refused(void **state)
{
	static const uint8_t types[] = {
		SSH_AGENTC_ADD_IDENTITY,
		SSH_AGENTC_ADD_ID_CONSTRAINED,
		SSH_AGENTC_REMOVE_IDENTITY,
		SSH_AGENTC_REMOVE_ALL_IDENTITIES,
		SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES,
		SSH_AGENTC_ADD_SMARTCARD_KEY,
		SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED,
		SSH_AGENTC_REMOVE_SMARTCARD_KEY,
		SSH_AGENTC_LOCK,
		SSH_AGENTC_UNLOCK,
	};
	struct agent_conn c;
	struct buf out = BUF_INIT(0);
	struct req r;
	struct ssh_reader b;
	size_t n;

	(void)state;
	agent_conn_init(&c, NULL);
	for (size_t i = 0; i < ELEMENTSOF(types); i++) {
		bool secret = types[i] != SSH_AGENTC_REMOVE_IDENTITY &&
			      types[i] != SSH_AGENTC_REMOVE_ALL_IDENTITIES &&
			      types[i] != SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES;

		M.refusals = 0;
		req_begin(&r, types[i]);
		ssh_put_cstring(&r.w, "ssh-ed25519");
		ssh_put_cstring(&r.w, "a private key or a passphrase");
		n = req_end(&r);
		assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
		assert_int_equal(b.n, 0);
		assert_int_equal(M.refusals, 1);
		assert_int_equal(M.last_type, types[i]);
		assert_string_equal(M.last_what, agent_msg_name(types[i]));
		/* what may carry a secret is wiped in place once read */
		for (size_t j = 5; secret && j < n; j++)
			assert_int_equal(r.p[j], 0);
	}
	assert_string_equal(agent_msg_name(SSH_AGENTC_LOCK), "lock");
	assert_string_equal(agent_msg_name(SSH_AGENTC_ADD_IDENTITY), "add-identity");

	/* unknown types, and answers sent as requests: FAILURE, nothing reported */
	M.refusals = 0;
	for (unsigned t = 0; t < 256; t++) {
		if (t == SSH_AGENTC_REQUEST_IDENTITIES || t == SSH_AGENTC_SIGN_REQUEST ||
		    t == SSH_AGENTC_EXTENSION)
			continue;
		bool known = false;

		for (size_t i = 0; i < ELEMENTSOF(types); i++)
			known |= types[i] == t;
		if (known)
			continue;
		req_begin(&r, (uint8_t)t);
		n = req_end(&r);
		assert_int_equal(roundtrip(&c, r.p, n, &out, &b), SSH_AGENT_FAILURE);
	}
	assert_int_equal(M.refusals, 0);
	assert_string_equal(agent_msg_name(99), "unknown");
	buf_done(&out);
}

static void test_process(void **state)
{
	struct agent_conn c;
	struct buf out = BUF_INIT(0);
	uint8_t in[64] = {
		0, 0, 0, 1, SSH_AGENTC_LOCK, /* FAILURE */
		0, 0, 0, 1, 99,		     /* FAILURE */
		0, 0, 0, 5, SSH_AGENTC_EXTENSION,
		0 /* half a frame */
	};
	size_t used = 99;

	(void)state;
	agent_conn_init(&c, NULL);
	assert_int_equal(agent_process(&BE, &M, &c, in, 16, &out, &used), 0);
	assert_int_equal(used, 10);
	assert_int_equal(out.len, 10);
	assert_memory_equal(out.p, "\0\0\0\1\5\0\0\0\1\5", 10);
	/* nothing whole: nothing used */
	assert_int_equal(agent_process(&BE, &M, &c, in + 10, 6, &out, &used), 0);
	assert_int_equal(used, 0);
	assert_int_equal(agent_process(&BE, &M, &c, in, 2, &out, &used), 0);
	assert_int_equal(used, 0);
	/* a frame over the cap, or an empty one, after a good one: close */
	memcpy(in + 5, "\0\x04\0\x01\x0b", 5);
	assert_int_equal(agent_process(&BE, &M, &c, in, 10, &out, &used), -EMSGSIZE);
	memcpy(in + 5, "\0\0\0\0", 4);
	assert_int_equal(agent_process(&BE, &M, &c, in, 10, &out, &used), -EBADMSG);
	assert_int_equal(agent_handle(&BE, &M, &c, in + 5, 4, &out), -EBADMSG);
	buf_done(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_frame_len, reset),
		cmocka_unit_test_setup(test_identities, reset),
		cmocka_unit_test_setup(test_sign, reset),
		cmocka_unit_test_setup(test_sign_truncated, reset),
		cmocka_unit_test_setup(test_sshsig, reset),
		cmocka_unit_test_setup(test_login, reset),
		cmocka_unit_test_setup(test_session_bind, reset),
		cmocka_unit_test_setup(test_extensions, reset),
		cmocka_unit_test_setup(test_refused, reset),
		cmocka_unit_test_setup(test_process, reset),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
