/* agent.h: the ssh-agent protocol (draft-ietf-sshm-ssh-agent, OpenSSH's PROTOCOL.agent) as an
 * engine over buffers: framed requests in, framed replies out, no I/O. The keys are behind a
 * backend the caller supplies (list the identities a peer may use, sign with one of them, record
 * a refusal); the engine parses, classifies what is to be signed (an SSHSIG, an ssh login, other
 * data), keeps each connection's session bindings, and encodes the answers.
 *
 * What it answers:
 * - REQUEST_IDENTITIES: IDENTITIES_ANSWER with what backend->list gives (its failure: FAILURE);
 * - SIGN_REQUEST: SIGN_RESPONSE with backend->sign's signature, or FAILURE (backend refused or
 *   failed, unknown key kind, SHA-1 RSA impossible, malformed request or SSHSIG data);
 * - EXTENSION "session-bind@openssh.com": SUCCESS once the host's signature of the session id
 *   verifies and OpenSSH's rules for a binding hold, else EXTENSION_FAILURE; "query":
 *   EXTENSION_RESPONSE naming session-bind; any other extension: FAILURE;
 * - ADD_IDENTITY, ADD_ID_CONSTRAINED, REMOVE_IDENTITY, REMOVE_ALL_IDENTITIES (and SSH1's 9),
 *   ADD/REMOVE_SMARTCARD_KEY(_CONSTRAINED), LOCK, UNLOCK: FAILURE, and backend->refused;
 * - anything else: FAILURE.
 *
 * Framing: uint32 length, then that many bytes (the first the message type). A length over
 * AGENT_MSG_MAX or of 0 is the end of the connection: the caller closes it (as ssh-agent does).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "key.h"
#include "ssh-wire.h"

/* The largest message either way (bytes, without the length); OpenSSH's own cap. */
#define AGENT_MSG_MAX (256u * 1024u)
/* Identities in one answer (OpenSSH's clients read at most 2048). */
#define AGENT_IDENTITIES_MAX 2048u
/* Session bindings kept per connection, and a session id's length (OpenSSH's caps). */
#define AGENT_BINDINGS_MAX 16u
#define AGENT_SID_MAX 128u
/* An SSHSIG namespace, an SSHSIG hash name, a login's user name (bytes). */
#define AGENT_NAMESPACE_MAX 255u
#define AGENT_HASHALG_MAX 15u
#define AGENT_USER_MAX 255u

/* Message numbers. */
enum {
	SSH_AGENT_FAILURE = 5,
	SSH_AGENT_SUCCESS = 6,
	SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES = 9, /* SSH1; ssh-add -D still sends it */
	SSH_AGENTC_REQUEST_IDENTITIES = 11,
	SSH_AGENT_IDENTITIES_ANSWER = 12,
	SSH_AGENTC_SIGN_REQUEST = 13,
	SSH_AGENT_SIGN_RESPONSE = 14,
	SSH_AGENTC_ADD_IDENTITY = 17,
	SSH_AGENTC_REMOVE_IDENTITY = 18,
	SSH_AGENTC_REMOVE_ALL_IDENTITIES = 19,
	SSH_AGENTC_ADD_SMARTCARD_KEY = 20,
	SSH_AGENTC_REMOVE_SMARTCARD_KEY = 21,
	SSH_AGENTC_LOCK = 22,
	SSH_AGENTC_UNLOCK = 23,
	SSH_AGENTC_ADD_ID_CONSTRAINED = 25,
	SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED = 26,
	SSH_AGENTC_EXTENSION = 27,
	SSH_AGENT_EXTENSION_FAILURE = 28,
	SSH_AGENT_EXTENSION_RESPONSE = 29,
};

/* A request's name for records ("add-identity", "lock", ...); "unknown" for others. */
const char *agent_msg_name(uint8_t type);

/* One session-bind@openssh.com binding: the host key the client verified for that session. */
struct agent_binding {
	uint8_t sid[AGENT_SID_MAX];
	size_t sid_len;
	/* "SHA256:..." as ssh prints it; also how bindings' keys are compared (SHA-256 of the
	 * blob), so the blob itself is not kept */
	char hostkey_fp[SSH_FINGERPRINT_MAX];
	bool forwarding; /* bound for forwarding the agent on, not for a login */
};

/* The state of one client connection: the caller's peer (passed back to the backend untouched)
 * and the bindings made on it. Lives as long as the connection; nothing in it is secret or
 * allocated (agent_conn_init, and drop it with the connection). Not shared between threads. */
struct agent_conn {
	void *peer;
	unsigned nbindings;
	bool bind_attempted;
	struct agent_binding bindings[AGENT_BINDINGS_MAX];
};

void agent_conn_init(struct agent_conn *c, void *peer);

/* What the data of a SIGN_REQUEST is. */
enum agent_data_kind {
	AGENT_DATA_OTHER = 0, /* anything else (ssh-add -T's random bytes, a CA's certificate) */
	AGENT_DATA_LOGIN,     /* an SSH2_MSG_USERAUTH_REQUEST, "publickey", for this very key */
	AGENT_DATA_SSHSIG,    /* PROTOCOL.sshsig's signed data: ssh-keygen -Y sign, git */
};
const char *agent_data_kind_name(enum agent_data_kind k); /* "other", "login", "sshsig" */

/* What the engine knows of a SIGN_REQUEST, for the backend's policy and record. Strings are
 * NUL-terminated, "" when absent; none holds a control character (a request that would give
 * one is classified OTHER, or refused for SSHSIG). */
struct agent_sign_info {
	enum agent_data_kind kind;
	uint32_t flags; /* the request's flags, as sent */
	/* SSHSIG */
	char namespace[AGENT_NAMESPACE_MAX + 1]; /* "git", "file", ... never empty */
	char hashalg[AGENT_HASHALG_MAX + 1];	 /* "sha256" or "sha512" */
	/* LOGIN */
	char user[AGENT_USER_MAX + 1]; /* the account on the server */
	bool hostbound; /* "publickey-hostbound-v00@openssh.com": it names the host */
	char login_hostkey_fp[SSH_FINGERPRINT_MAX]; /* the host key it names, when hostbound */
	bool sid_matches; /* its session id is the connection's last bound one */
	/* the connection's binding (the last session-bind), "" when it was never bound */
	char dest_hostkey_fp[SSH_FINGERPRINT_MAX];
	bool dest_forwarding; /* that binding was for forwarding */
	unsigned hops;	      /* bindings on this connection (> 1: through forwarding) */
	/* a session-bind was tried on this connection, even one that failed: the request comes
	 * through ssh (OpenSSH then refuses destination-constrained keys when none succeeded) */
	bool bind_attempted;
};

/* The key store, implemented by the caller. ud is the backend's own; c the connection (c->peer
 * the caller's peer). Each returns 0 or a -errno (any -errno: FAILURE to the client). */
struct agent_backend {
	/* Call add for each identity this peer may use: its SubjectPublicKeyInfo DER and a
	 * comment (NUL-terminated, e.g. "vault/key"). add returns 0, or a -errno that list should
	 * return. Identities the wire cannot carry (AES, unknown forms) are skipped, as are those
	 * past AGENT_IDENTITIES_MAX or past the reply's cap. */
	int (*list)(void *ud, const struct agent_conn *c,
		    int (*add)(void *ctx, const uint8_t *spki, size_t spki_len,
			       const char *comment),
		    void *ctx);
	/* Sign data (the message itself: the backend hashes it as alg says; EdDSA signs it whole)
	 * with the key whose SPKI DER this is (canonical form, ssh-wire.h), alg one of EdDSA,
	 * ES256/384/512 (by the key's curve), RS256/RS512. On entry *siglen is sig's size
	 * (KEY_SIG_MAX); on success it is the JWS signature's length. A key this peer may not
	 * use, or does not exist, is a -errno like any other refusal (-EPERM, -ENOENT). */
	int (*sign)(void *ud, const struct agent_conn *c, const uint8_t *spki, size_t spki_len,
		    enum key_alg alg, const uint8_t *data, size_t n,
		    const struct agent_sign_info *info, uint8_t *sig, size_t *siglen);
	/* A request refused by design (type: the message, e.g. SSH_AGENTC_ADD_IDENTITY; what: a
	 * short static text, agent_msg_name's or "sign: malformed SSHSIG data"), to record. May be
	 * NULL. */
	void (*refused)(void *ud, const struct agent_conn *c, uint8_t type, const char *what);
};

/* The length of the frame at p (4 + its length field) once its header is there:
 * 0 and *ret_total, -EAGAIN fewer than 4 bytes, -EMSGSIZE over AGENT_MSG_MAX, -EBADMSG an empty
 * frame. The last two: close the connection. */
int agent_frame_len(const uint8_t *p, size_t n, size_t *ret_total);

/* Answer one whole frame (p, n: exactly 4 + its length) on connection c: the framed reply is
 * appended to out (a buf of max 0 or at least AGENT_MSG_MAX + 4). 0, or -EMSGSIZE/-EBADMSG as
 * agent_frame_len (close), -EINVAL n is not one frame, -ENOMEM (close). A frame that carries a
 * secret by design (ADD_IDENTITY's private key, LOCK's passphrase, a smartcard PIN) is wiped in
 * place once read. */
int agent_handle(const struct agent_backend *be, void *ud, struct agent_conn *c, uint8_t *p,
		 size_t n, struct buf *out);

/* Every whole frame in p[0, n), in order, their replies appended to out; *ret_used the bytes
 * they took (the caller keeps the rest for when more arrives). 0, or agent_handle's -errno
 * (close: what was appended before it may still be sent). */
int agent_process(const struct agent_backend *be, void *ud, struct agent_conn *c, uint8_t *p,
		  size_t n, struct buf *out, size_t *ret_used);
