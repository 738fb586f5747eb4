/* ssh-wire.h: the wire forms of OpenSSH (RFC 4251 strings, uint32, mpint; RFC 4253/5656/8709
 * public key and signature blobs; the authorized_keys line; the SHA256 fingerprint) and their
 * conversion from and to the forms of key.h: SubjectPublicKeyInfo DER and JWS signatures.
 * Bounded readers and writers: every length is checked against the bytes that remain. Nothing
 * here holds a secret.
 *
 * Key kinds: "ssh-ed25519", "ecdsa-sha2-nistp256/384/521", "ssh-rsa". Signatures: "ssh-ed25519",
 * "ecdsa-sha2-nistpNNN" (mpint r, mpint s inside a string), "rsa-sha2-256", "rsa-sha2-512";
 * the legacy SHA-1 "ssh-rsa" signature is refused (-EOPNOTSUPP) both ways.
 *
 * SPKI DER: the canonical form, as OpenSSL's i2d_PUBKEY writes it (EC: a named curve and an
 * uncompressed point; RSA: rsaEncryption with NULL parameters). Other forms (a compressed point,
 * explicit curve parameters, RSA-PSS keys) are -EOPNOTSUPP.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "key.h"

/* Caps (bytes). A blob holds RSA up to 16384 bits (a host key may be larger than ours). */
#define SSH_KEY_BLOB_MAX 4096u
#define SSH_SIG_BLOB_MAX 4096u
#define SSH_SPKI_MAX 4096u
/* "SHA256:" and 43 base64 digits, NUL. */
#define SSH_FINGERPRINT_MAX 51u
/* The comment of an authorized_keys line. */
#define SSH_COMMENT_MAX 1024u
/* RSA moduli we read (bits). */
#define SSH_RSA_BITS_MIN 1024u
#define SSH_RSA_BITS_MAX 16384u

/* --- bounded reader: -EBADMSG when a field does not fit what remains --- */
struct ssh_reader {
	const uint8_t *p;
	size_t n; /* bytes that remain */
};

static inline struct ssh_reader ssh_reader_make(const void *p, size_t n)
{
	return (struct ssh_reader){ .p = p, .n = n };
}
int ssh_get_u8(struct ssh_reader *r, uint8_t *ret);
int ssh_get_u32(struct ssh_reader *r, uint32_t *ret);
/* A boolean byte: 0 false, anything else true (RFC 4251). */
int ssh_get_bool(struct ssh_reader *r, bool *ret);
/* n raw bytes: a pointer into the input. */
int ssh_get_bytes(struct ssh_reader *r, size_t n, const uint8_t **ret);
/* A string: its bytes (a pointer into the input, not NUL-terminated) and length. */
int ssh_get_string(struct ssh_reader *r, const uint8_t **ret, size_t *ret_len);
/* A string that must equal the NUL-free text s: 0, -EBADMSG (truncated) or -ENOENT (other). */
int ssh_get_string_eq(struct ssh_reader *r, const char *s);
/* A non-negative mpint: its magnitude without leading zero bytes (empty for zero). -EBADMSG for
 * a negative one. Extra leading zeros are read, as OpenSSH reads them. */
int ssh_get_mpint(struct ssh_reader *r, const uint8_t **ret, size_t *ret_len);

/* --- bounded writer into a caller's buffer, with a sticky error (-EMSGSIZE) --- */
struct ssh_writer {
	uint8_t *p;
	size_t cap;
	size_t len;
	int err;
};

static inline struct ssh_writer ssh_writer_make(void *p, size_t cap)
{
	return (struct ssh_writer){ .p = p, .cap = cap };
}
int ssh_put_u8(struct ssh_writer *w, uint8_t v);
int ssh_put_u32(struct ssh_writer *w, uint32_t v);
int ssh_put_bytes(struct ssh_writer *w, const void *p, size_t n);
int ssh_put_string(struct ssh_writer *w, const void *p, size_t n);
int ssh_put_cstring(struct ssh_writer *w, const char *s);
/* An unsigned big-endian number of n bytes as a minimal mpint (leading zeros dropped, a zero
 * byte added before a high bit). */
int ssh_put_mpint(struct ssh_writer *w, const uint8_t *p, size_t n);
/* Overwrite 4 bytes at off (a length put before its contents were known). */
void ssh_patch_u32(struct ssh_writer *w, size_t off, uint32_t v);

/* --- public keys --- */
enum ssh_key_kind {
	SSH_KEY_UNKNOWN = 0,
	SSH_KEY_ED25519,
	SSH_KEY_ECDSA_P256,
	SSH_KEY_ECDSA_P384,
	SSH_KEY_ECDSA_P521,
	SSH_KEY_RSA,
};

/* "ssh-ed25519", "ecdsa-sha2-nistp256", ..., "ssh-rsa"; NULL for SSH_KEY_UNKNOWN. */
const char *ssh_key_kind_name(enum ssh_key_kind k);
/* The kind a key blob names in its first string: the kind, or -EBADMSG (not a blob),
 * -EOPNOTSUPP (another kind: DSA, certificates, security keys). Looks at the name only. */
int ssh_key_blob_kind(const uint8_t *blob, size_t n);

/* SPKI DER -> key blob. -EBADMSG malformed DER, -EOPNOTSUPP a form or type we do not speak,
 * -EMSGSIZE the blob does not fit size. */
int ssh_key_from_spki(const uint8_t *der, size_t n, uint8_t *blob, size_t size, size_t *ret_len);
/* Key blob -> SPKI DER (canonical: the bytes i2d_PUBKEY writes for that key), checking the blob
 * is exactly one well-formed key of its kind (a point's length and form, the curve name matching
 * the kind, RSA's size and a positive odd modulus; not that a point is on its curve). Errors as
 * ssh_key_from_spki. */
int ssh_key_to_spki(const uint8_t *blob, size_t n, uint8_t *der, size_t size, size_t *ret_len);

/* "TYPE BASE64 comment" (no newline; without the comment when it is NULL or empty) of a SPKI,
 * into buf. -EINVAL for a comment with a control character or longer than SSH_COMMENT_MAX,
 * -EMSGSIZE when it does not fit size; errors of ssh_key_from_spki. */
int ssh_pubkey_line(const uint8_t *der, size_t n, const char *comment, char *buf, size_t size);

/* Base64 (RFC 4648, with or without '=' padding) of n bytes into out, which holds
 * (n + 2) / 3 * 4 + 1 bytes; NUL-terminated; returns the length. */
size_t ssh_base64(const uint8_t *p, size_t n, char *out, bool pad);

/* "SHA256:" and the unpadded base64 of the SHA-256 of a blob, as ssh-keygen -l prints it. */
int ssh_fingerprint(const uint8_t *blob, size_t n, char buf[SSH_FINGERPRINT_MAX]);

/* --- signatures --- */
/* The key_alg an agent SIGN_REQUEST asks of a key of kind k with these flags
 * (SSH_AGENT_RSA_SHA2_256 = 2, SSH_AGENT_RSA_SHA2_512 = 4): RSA 2 -> RS256, 4 -> RS512, both ->
 * RS256 (as OpenSSH's agent), none -> RS512 (never SHA-1: ssh-add -T and every verifier that
 * does not name an algorithm accept it; a client that asked for "ssh-rsa" refuses the answer
 * itself). Ed25519 -> EdDSA, ECDSA P-256/384/521 -> ES256/384/512 whatever the flags.
 * KEY_ALG_INVALID for SSH_KEY_UNKNOWN. */
#define SSH_AGENT_RSA_SHA2_256 0x02u
#define SSH_AGENT_RSA_SHA2_512 0x04u
enum key_alg ssh_agent_sign_alg(enum ssh_key_kind k, uint32_t flags);

/* The signature name of alg: "ssh-ed25519", "ecdsa-sha2-nistp256/384/521", "rsa-sha2-256/512";
 * NULL for an algorithm OpenSSH has no name for (RS384, PS*, encryption). */
const char *ssh_sig_name(enum key_alg alg);

/* A JWS signature of alg -> an ssh signature blob. -EINVAL when n is not the length alg makes
 * (EdDSA 64, ES256 64, ES384 96, ES512 132; RSA 128..2048 bytes), -EOPNOTSUPP for an algorithm
 * without an ssh name, -EMSGSIZE when it does not fit size. */
int ssh_sig_from_jws(enum key_alg alg, const uint8_t *sig, size_t n, uint8_t *out, size_t size,
		     size_t *ret_len);
/* An ssh signature blob -> its alg and the JWS form (ECDSA r and s left-padded). -EBADMSG
 * malformed, -EOPNOTSUPP an unknown or SHA-1 name, -EMSGSIZE when it does not fit size. */
int ssh_sig_to_jws(const uint8_t *blob, size_t n, enum key_alg *ret_alg, uint8_t *out, size_t size,
		   size_t *ret_len);

/* Verify an ssh signature blob made by the key of a key blob over data (as the ssh protocol
 * signs: EdDSA the data itself, the others its SHA-2 digest by alg). 0 valid, -EBADMSG invalid
 * or malformed, -EOPNOTSUPP a kind or algorithm we do not speak, or an algorithm that does not
 * fit the key. */
int ssh_sig_verify(const uint8_t *key_blob, size_t key_len, const uint8_t *sig_blob, size_t sig_len,
		   const uint8_t *data, size_t n);
