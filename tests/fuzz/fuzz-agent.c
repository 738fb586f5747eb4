/* fuzz-agent.c: libFuzzer target for the ssh-agent engine (core/agent.c) and OpenSSH's wire forms
 * (core/ssh-wire.c). The input is a stream of frames fed to agent_process on one connection, with
 * a backend that lists two fixed keys and "signs" with fixed bytes of the right length; the same
 * bytes are also read as a key blob, an SPKI and a signature blob. It checks the invariants a
 * server relies on: every reply is one whole frame within the cap, a whole frame is answered
 * with exactly one reply or the connection is to be closed, what parses round-trips. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 8032's first public key, and a P-256 key (ssh-keygen), as SPKI DER */
static const uint8_t ed_spki[] = {
	0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, 0xd7, 0x5a, 0x98,
	0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1,
	0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
};

static int fz_list(void *ud, const struct agent_conn *c,
		   int (*add)(void *ctx, const uint8_t *spki, size_t spki_len, const char *comment),
		   void *ctx)
{
	(void)ud;
	(void)c;
	return add(ctx, ed_spki, sizeof(ed_spki), "fuzz/ed");
}

static int fz_sign(void *ud, const struct agent_conn *c, const uint8_t *spki, size_t spki_len,
		   enum key_alg alg, const uint8_t *data, size_t n,
		   const struct agent_sign_info *info, uint8_t *sig, size_t *siglen)
{
	size_t len;

	(void)ud;
	(void)c;
	(void)data;
	assert(spki_len > 0 && spki_len <= SSH_SPKI_MAX && spki);
	assert(n <= AGENT_MSG_MAX);
	assert(info->kind <= AGENT_DATA_SSHSIG);
	assert(strlen(info->namespace) <= AGENT_NAMESPACE_MAX);
	if (info->kind == AGENT_DATA_SSHSIG)
		assert(info->namespace[0] != '\0');
	switch (alg) {
	case KEY_ALG_EDDSA:
	case KEY_ALG_ES256:
		len = 64;
		break;
	case KEY_ALG_ES384:
		len = 96;
		break;
	case KEY_ALG_ES512:
		len = 132;
		break;
	case KEY_ALG_RS256:
	case KEY_ALG_RS512:
		len = 256;
		break;
	default:
		assert(!"an algorithm the engine must not ask for");
		return -EINVAL;
	}
	assert(*siglen >= len);
	memset(sig, 0x5a, len);
	*siglen = len;
	return 0;
}

static void fz_refused(void *ud, const struct agent_conn *c, uint8_t type, const char *what)
{
	(void)ud;
	(void)c;
	(void)type;
	assert(what && what[0]);
}

static void wire_forms(const uint8_t *data, size_t size)
{
	uint8_t a[SSH_SPKI_MAX], b[SSH_KEY_BLOB_MAX], s[KEY_SIG_MAX * 4];
	size_t alen, blen, slen;
	enum key_alg alg;

	if (ssh_key_to_spki(data, size, a, sizeof(a), &alen) == 0) {
		/* a blob that makes an SPKI is the blob that SPKI makes */
		assert(ssh_key_from_spki(a, alen, b, sizeof(b), &blen) == 0);
		assert(blen == size && memcmp(b, data, size) == 0);
	}
	if (ssh_key_from_spki(data, size, b, sizeof(b), &blen) == 0) {
		assert(ssh_key_to_spki(b, blen, a, sizeof(a), &alen) == 0);
		assert(alen == size && memcmp(a, data, size) == 0);
	}
	if (ssh_sig_to_jws(data, size, &alg, s, sizeof(s), &slen) == 0) {
		uint8_t back[SSH_SIG_BLOB_MAX];
		size_t n;
		int r = ssh_sig_from_jws(alg, s, slen, back, sizeof(back), &n);

		/* RSA of an odd size is read but not written; the rest round-trips in length */
		assert(r == 0 || r == -EINVAL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct agent_backend be = {
		.list = fz_list,
		.sign = fz_sign,
		.refused = fz_refused,
	};
	struct agent_conn *c = malloc(sizeof(*c));
	struct buf out = BUF_INIT(4 + AGENT_MSG_MAX);
	uint8_t *in = malloc(size ? size : 1);
	size_t used = 0, off = 0, frames = 0, total;
	int r;

	assert(c && in);
	memcpy(in, data, size);
	agent_conn_init(c, NULL);
	r = agent_process(&be, NULL, c, in, size, &out, &used);
	/* the whole frames before the first incomplete or bad header: one reply each */
	while (agent_frame_len(data + off, size - off, &total) == 0 && total <= size - off) {
		off += total;
		frames++;
	}
	if (r == 0)
		assert(used == off);
	else
		assert(r == -EMSGSIZE || r == -EBADMSG);
	off = 0;
	while (off < out.len) {
		assert(agent_frame_len((const uint8_t *)out.p + off, out.len - off, &total) == 0);
		assert(total <= out.len - off);
		off += total;
		frames--;
	}
	assert(frames == 0);
	assert(c->nbindings <= AGENT_BINDINGS_MAX);
	buf_done(&out);
	free(in);
	free(c);
	wire_forms(data, size);
	return 0;
}
