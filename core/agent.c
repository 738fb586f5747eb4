/* agent.c: the ssh-agent protocol engine (agent.h). One framed request in, one framed reply out,
 * on buffers: it never reads or writes a socket, never holds a private key (the backend signs),
 * and never adds, removes or unlocks anything: those requests are refused and reported. Every
 * length it reads is checked against what remains; every request gets exactly one reply, or the
 * connection is to be closed (a frame over the cap, an empty frame, no memory).
 */
#include <errno.h>
#include <string.h>

#include "agent.h"
#include "secbuf.h"
#include "util.h"

#define SSH2_MSG_USERAUTH_REQUEST 50
#define SESSION_BIND "session-bind@openssh.com"

static const struct {
	uint8_t type;
	const char *name;
} msg_names[] = {
	{ SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES, "remove-all-rsa1-identities" },
	{ SSH_AGENTC_REQUEST_IDENTITIES, "request-identities" },
	{ SSH_AGENTC_SIGN_REQUEST, "sign-request" },
	{ SSH_AGENTC_ADD_IDENTITY, "add-identity" },
	{ SSH_AGENTC_REMOVE_IDENTITY, "remove-identity" },
	{ SSH_AGENTC_REMOVE_ALL_IDENTITIES, "remove-all-identities" },
	{ SSH_AGENTC_ADD_SMARTCARD_KEY, "add-smartcard-key" },
	{ SSH_AGENTC_REMOVE_SMARTCARD_KEY, "remove-smartcard-key" },
	{ SSH_AGENTC_LOCK, "lock" },
	{ SSH_AGENTC_UNLOCK, "unlock" },
	{ SSH_AGENTC_ADD_ID_CONSTRAINED, "add-identity-constrained" },
	{ SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED, "add-smartcard-key-constrained" },
	{ SSH_AGENTC_EXTENSION, "extension" },
};

const char *agent_msg_name(uint8_t type)
{
	for (size_t i = 0; i < ELEMENTSOF(msg_names); i++)
		if (msg_names[i].type == type)
			return msg_names[i].name;
	return "unknown";
}

const char *agent_data_kind_name(enum agent_data_kind k)
{
	switch (k) {
	case AGENT_DATA_LOGIN:
		return "login";
	case AGENT_DATA_SSHSIG:
		return "sshsig";
	default:
		return "other";
	}
}

void agent_conn_init(struct agent_conn *c, void *peer)
{
	memset(c, 0, sizeof(*c));
	c->peer = peer;
}

int agent_frame_len(const uint8_t *p, size_t n, size_t *ret_total)
{
	uint32_t len;

	if (n < 4)
		return -EAGAIN;
	len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (len > AGENT_MSG_MAX)
		return -EMSGSIZE;
	if (len == 0)
		return -EBADMSG;
	*ret_total = 4 + (size_t)len;
	return 0;
}

/* --- replies, built in out: a frame's length is patched in when it is complete --- */

static void put_u32(struct buf *out, uint32_t v)
{
	char b[4] = { (char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v };

	buf_put(out, b, 4);
}

static void put_string(struct buf *out, const void *p, size_t n)
{
	put_u32(out, (uint32_t)n);
	buf_put(out, p, n);
}

static void patch_u32(struct buf *out, size_t off, uint32_t v)
{
	if (out->err)
		return;
	out->p[off] = (char)(v >> 24);
	out->p[off + 1] = (char)(v >> 16);
	out->p[off + 2] = (char)(v >> 8);
	out->p[off + 3] = (char)v;
}

/* A frame of one byte: FAILURE, SUCCESS, EXTENSION_FAILURE. */
static int reply_status(struct buf *out, uint8_t type)
{
	put_u32(out, 1);
	buf_putc(out, (char)type);
	return out->err;
}

/* --- REQUEST_IDENTITIES --- */

struct list_ctx {
	struct buf *out;
	size_t start; /* the frame's first byte in out */
	uint32_t count;
};

static int list_add(void *ctx, const uint8_t *spki, size_t spki_len, const char *comment)
{
	struct list_ctx *l = ctx;
	uint8_t blob[SSH_KEY_BLOB_MAX];
	size_t blen, clen = comment ? strnlen(comment, SSH_COMMENT_MAX) : 0;

	if (l->count >= AGENT_IDENTITIES_MAX)
		return 0;
	if (ssh_key_from_spki(spki, spki_len, blob, sizeof(blob), &blen) < 0)
		return 0; /* a key the wire cannot carry: not an identity */
	if (l->out->len - l->start + 8 + blen + clen > 4 + AGENT_MSG_MAX)
		return 0; /* past what a client reads */
	put_string(l->out, blob, blen);
	put_string(l->out, comment ? comment : "", clen);
	if (l->out->err)
		return l->out->err;
	l->count++;
	return 0;
}

static int handle_identities(const struct agent_backend *be, void *ud, struct agent_conn *c,
			     struct buf *out)
{
	struct list_ctx l = { .out = out, .start = out->len };
	int k;

	put_u32(out, 0);
	buf_putc(out, SSH_AGENT_IDENTITIES_ANSWER);
	put_u32(out, 0);
	if (out->err)
		return out->err;
	k = be->list(ud, c, list_add, &l);
	if (out->err)
		return out->err;
	if (k < 0) {
		out->len = l.start; /* drop what was begun */
		out->p[out->len] = '\0';
		return reply_status(out, SSH_AGENT_FAILURE);
	}
	patch_u32(out, l.start, (uint32_t)(out->len - l.start - 4));
	patch_u32(out, l.start + 5, l.count);
	return 0;
}

/* --- SIGN_REQUEST --- */

/* bytes as a NUL-terminated text of at most max bytes with no control character, into dst. */
static bool copy_text(char *dst, size_t max, const uint8_t *p, size_t n)
{
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return true;
}

/* PROTOCOL.sshsig §3: "SSHSIG", string namespace, string reserved, string hash_algorithm,
 * string H(message), nothing after. 0, -ENOENT (no magic: not SSHSIG), -EBADMSG. */
static int parse_sshsig(const uint8_t *data, size_t n, struct agent_sign_info *info)
{
	struct ssh_reader r = ssh_reader_make(data, n);
	const uint8_t *magic, *ns, *hash;
	size_t nslen, hashlen;

	if (ssh_get_bytes(&r, 6, &magic) < 0 || memcmp(magic, "SSHSIG", 6) != 0)
		return -ENOENT;
	if (ssh_get_string(&r, &ns, &nslen) < 0 || ssh_get_string(&r, NULL, NULL) < 0 ||
	    ssh_get_string(&r, &hash, &hashlen) < 0 || ssh_get_string(&r, NULL, NULL) < 0 ||
	    r.n != 0)
		return -EBADMSG;
	if (nslen == 0 || !copy_text(info->namespace, AGENT_NAMESPACE_MAX, ns, nslen) ||
	    hashlen == 0 || !copy_text(info->hashalg, AGENT_HASHALG_MAX, hash, hashlen))
		return -EBADMSG;
	return 0;
}

static bool pkalg_fits(int kind, const uint8_t *p, size_t n)
{
	static const char *const rsa[] = { "rsa-sha2-256", "rsa-sha2-512", "ssh-rsa" };
	const char *name = ssh_key_kind_name(kind);

	if (kind != SSH_KEY_RSA)
		return name && strlen(name) == n && memcmp(p, name, n) == 0;
	for (size_t i = 0; i < ELEMENTSOF(rsa); i++)
		if (strlen(rsa[i]) == n && memcmp(p, rsa[i], n) == 0)
			return true;
	return false;
}

/* RFC 4252 §7 as ssh signs it, for this very key (OpenSSH's parse_userauth_request): session
 * id, USERAUTH_REQUEST, user, "ssh-connection", "publickey" or the hostbound method, TRUE, the
 * key's algorithm, the key blob (and the host key blob for the hostbound method), nothing more.
 * Fills info when it is one; false otherwise. */
static bool parse_login(const uint8_t *data, size_t n, int kind, const uint8_t *key, size_t keylen,
			const struct agent_conn *c, struct agent_sign_info *info)
{
	struct ssh_reader r = ssh_reader_make(data, n);
	const uint8_t *sid, *user, *method, *alg, *blob, *host = NULL;
	size_t sidlen, userlen, methodlen, alglen, bloblen, hostlen = 0;
	uint8_t t, follows;
	bool hostbound;

	if (ssh_get_string(&r, &sid, &sidlen) < 0 || sidlen == 0 || ssh_get_u8(&r, &t) < 0 ||
	    t != SSH2_MSG_USERAUTH_REQUEST || ssh_get_string(&r, &user, &userlen) < 0 ||
	    ssh_get_string_eq(&r, "ssh-connection") < 0 ||
	    ssh_get_string(&r, &method, &methodlen) < 0 || ssh_get_u8(&r, &follows) < 0 ||
	    follows != 1 || ssh_get_string(&r, &alg, &alglen) < 0 ||
	    ssh_get_string(&r, &blob, &bloblen) < 0)
		return false;
	hostbound =
		methodlen == 35 && memcmp(method, "publickey-hostbound-v00@openssh.com", 35) == 0;
	if (!hostbound && !(methodlen == 9 && memcmp(method, "publickey", 9) == 0))
		return false;
	if (hostbound && ssh_get_string(&r, &host, &hostlen) < 0)
		return false;
	if (r.n != 0 || !pkalg_fits(kind, alg, alglen) || bloblen != keylen ||
	    memcmp(blob, key, keylen) != 0)
		return false;
	if (!copy_text(info->user, AGENT_USER_MAX, user, userlen))
		return false;
	if (hostbound && (ssh_key_blob_kind(host, hostlen) == -EBADMSG ||
			  ssh_fingerprint(host, hostlen, info->login_hostkey_fp) < 0))
		return false;
	info->hostbound = hostbound;
	if (c->nbindings > 0) {
		const struct agent_binding *b = &c->bindings[c->nbindings - 1];

		info->sid_matches = b->sid_len == sidlen && memcmp(b->sid, sid, sidlen) == 0;
	}
	info->kind = AGENT_DATA_LOGIN;
	return true;
}

static int handle_sign(const struct agent_backend *be, void *ud, struct agent_conn *c,
		       struct ssh_reader *r, struct buf *out)
{
	struct agent_sign_info info = { 0 };
	uint8_t spki[SSH_SPKI_MAX], sig[KEY_SIG_MAX], sigblob[SSH_SIG_BLOB_MAX];
	const uint8_t *key, *data;
	size_t keylen, n, spki_len, siglen = sizeof(sig), bloblen;
	enum key_alg alg;
	uint32_t flags;
	int kind, k;

	if (ssh_get_string(r, &key, &keylen) < 0 || ssh_get_string(r, &data, &n) < 0 ||
	    ssh_get_u32(r, &flags) < 0)
		return reply_status(out, SSH_AGENT_FAILURE);
	kind = ssh_key_blob_kind(key, keylen);
	if (kind < 0 || ssh_key_to_spki(key, keylen, spki, sizeof(spki), &spki_len) < 0)
		return reply_status(out, SSH_AGENT_FAILURE);
	alg = ssh_agent_sign_alg(kind, flags);
	info.flags = flags;
	k = parse_sshsig(data, n, &info);
	if (k == 0)
		info.kind = AGENT_DATA_SSHSIG;
	else if (k == -EBADMSG) {
		/* SSHSIG's magic exists so that such data is never anything else: refuse it */
		if (be->refused)
			be->refused(ud, c, SSH_AGENTC_SIGN_REQUEST, "sign: malformed SSHSIG data");
		return reply_status(out, SSH_AGENT_FAILURE);
	} else if (!parse_login(data, n, kind, key, keylen, c, &info)) {
		struct agent_sign_info clean = { .flags = flags };

		info = clean; /* nothing half-parsed */
	}
	if (c->nbindings > 0) {
		const struct agent_binding *b = &c->bindings[c->nbindings - 1];

		memcpy(info.dest_hostkey_fp, b->hostkey_fp, sizeof(info.dest_hostkey_fp));
		info.dest_forwarding = b->forwarding;
		info.hops = c->nbindings;
	}
	info.bind_attempted = c->bind_attempted;
	k = be->sign(ud, c, spki, spki_len, alg, data, n, &info, sig, &siglen);
	if (k < 0 || siglen > sizeof(sig))
		return reply_status(out, SSH_AGENT_FAILURE);
	if (ssh_sig_from_jws(alg, sig, siglen, sigblob, sizeof(sigblob), &bloblen) < 0)
		return reply_status(out, SSH_AGENT_FAILURE);
	put_u32(out, (uint32_t)(1 + 4 + bloblen));
	buf_putc(out, SSH_AGENT_SIGN_RESPONSE);
	put_string(out, sigblob, bloblen);
	return out->err;
}

/* --- EXTENSION --- */

/* PROTOCOL.agent §1, with OpenSSH's rules: the host's signature of the session id verifies; no
 * binding after one for authentication; a session id seen before only with the same key (then
 * nothing changes); at most AGENT_BINDINGS_MAX. */
static int session_bind(struct agent_conn *c, struct ssh_reader *r)
{
	const uint8_t *key, *sid, *sig;
	size_t keylen, sidlen, siglen;
	char fp[SSH_FINGERPRINT_MAX];
	struct agent_binding *b;
	bool fwd;

	c->bind_attempted = true;
	if (ssh_get_string(r, &key, &keylen) < 0 || ssh_get_string(r, &sid, &sidlen) < 0 ||
	    ssh_get_string(r, &sig, &siglen) < 0 || ssh_get_bool(r, &fwd) < 0)
		return -EBADMSG;
	if (sidlen > AGENT_SID_MAX || keylen > SSH_KEY_BLOB_MAX)
		return -EBADMSG;
	if (ssh_sig_verify(key, keylen, sig, siglen, sid, sidlen) < 0)
		return -EBADMSG;
	if (ssh_fingerprint(key, keylen, fp) < 0)
		return -EIO;
	for (unsigned i = 0; i < c->nbindings; i++) {
		bool sid_match, key_match;

		b = &c->bindings[i];
		if (!b->forwarding)
			return -EPERM; /* bound for authentication already */
		sid_match = b->sid_len == sidlen && memcmp(b->sid, sid, sidlen) == 0;
		key_match = streq(b->hostkey_fp, fp);
		if (sid_match && key_match)
			return 0;
		if (sid_match)
			return -EPERM;
	}
	if (c->nbindings >= AGENT_BINDINGS_MAX)
		return -ENOSPC;
	b = &c->bindings[c->nbindings];
	memcpy(b->hostkey_fp, fp, sizeof(fp));
	memcpy(b->sid, sid, sidlen);
	b->sid_len = sidlen;
	b->forwarding = fwd;
	c->nbindings++;
	return 0;
}

static bool name_is(const uint8_t *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

static int handle_extension(struct agent_conn *c, struct ssh_reader *r, struct buf *out)
{
	const uint8_t *name;
	size_t len, start = out->len;

	if (ssh_get_string(r, &name, &len) < 0)
		return reply_status(out, SSH_AGENT_FAILURE);
	if (name_is(name, len, SESSION_BIND))
		return reply_status(out, session_bind(c, r) == 0 ? SSH_AGENT_SUCCESS :
								   SSH_AGENT_EXTENSION_FAILURE);
	if (name_is(name, len, "query")) {
		/* as OpenSSH answers it: the name, then each supported extension's */
		put_u32(out, 0);
		buf_putc(out, SSH_AGENT_EXTENSION_RESPONSE);
		put_string(out, "query", 5);
		put_string(out, SESSION_BIND, strlen(SESSION_BIND));
		patch_u32(out, start, (uint32_t)(out->len - start - 4));
		return out->err;
	}
	return reply_status(out, SSH_AGENT_FAILURE); /* an extension we do not have */
}

int agent_handle(const struct agent_backend *be, void *ud, struct agent_conn *c, uint8_t *p,
		 size_t n, struct buf *out)
{
	struct ssh_reader r;
	size_t total;
	uint8_t type;
	int k;

	k = agent_frame_len(p, n, &total);
	if (k == -EAGAIN || (k == 0 && total != n))
		return -EINVAL;
	if (k < 0)
		return k;
	type = p[4];
	r = ssh_reader_make(p + 5, n - 5);
	switch (type) {
	case SSH_AGENTC_REQUEST_IDENTITIES:
		k = handle_identities(be, ud, c, out);
		break;
	case SSH_AGENTC_SIGN_REQUEST:
		k = handle_sign(be, ud, c, &r, out);
		break;
	case SSH_AGENTC_EXTENSION:
		k = handle_extension(c, &r, out);
		break;
	case SSH_AGENTC_ADD_IDENTITY:
	case SSH_AGENTC_ADD_ID_CONSTRAINED:
	case SSH_AGENTC_ADD_SMARTCARD_KEY:
	case SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED:
	case SSH_AGENTC_REMOVE_SMARTCARD_KEY:
	case SSH_AGENTC_LOCK:
	case SSH_AGENTC_UNLOCK:
		/* a private key, a PIN or a passphrase: not kept a moment longer */
		secure_wipe(p + 5, n - 5);
		/* fall through */
	case SSH_AGENTC_REMOVE_IDENTITY:
	case SSH_AGENTC_REMOVE_ALL_IDENTITIES:
	case SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES:
		if (be->refused)
			be->refused(ud, c, type, agent_msg_name(type));
		k = reply_status(out, SSH_AGENT_FAILURE);
		break;
	default:
		k = reply_status(out, SSH_AGENT_FAILURE);
		break;
	}
	return k;
}

int agent_process(const struct agent_backend *be, void *ud, struct agent_conn *c, uint8_t *p,
		  size_t n, struct buf *out, size_t *ret_used)
{
	size_t used = 0, total;
	int k;

	for (;;) {
		k = agent_frame_len(p + used, n - used, &total);
		if (k == -EAGAIN || (k == 0 && total > n - used))
			break;
		if (k < 0)
			return k;
		k = agent_handle(be, ud, c, p + used, total, out);
		if (k < 0)
			return k;
		used += total;
	}
	*ret_used = used;
	return 0;
}
