/* key-soft.h: software keys over OpenSSL 3: generate, import (PEM PKCS#1, SEC1, PKCS#8,
 * OpenSSH, JWK), the public half, sign and verify, encrypt and decrypt, wrap and unwrap. The
 * forms are key.h's: private material is PKCS#8 DER or 32 raw AES bytes in a struct secbuf; a
 * public key is SubjectPublicKeyInfo DER; a signature is in JWS form. The functions named key_*
 * without "soft" need only the public key (SPKI), so they serve TPM keys as well.
 *
 * Errors, the same in every function:
 * -EINVAL     a wrong length (a digest not key_alg_digest_len long, a ciphertext of the wrong
 *             size), bad encoding (material that is not the key type's, garbage to import), an
 *             unknown algorithm, a NULL argument;
 * -EOPNOTSUPP an algorithm the type or op cannot use (key_alg_check), an operation the type
 *             cannot do (a public half of AES), an import of a size or curve not in key.h;
 * -EMSGSIZE   input over its cap (KEY_INPUT_MAX, KEY_IMPORT_MAX, KEY_AAD_MAX,
 *             KEY_WRAP_INPUT_MAX, KEY_SIG_MAX) or too long for the key (RSA-OAEP);
 * -ENOBUFS    the caller's output buffer (its size in *len) is too small: nothing written;
 * -EBADMSG    a signature that does not verify, a ciphertext or wrapped key that does not
 *             authenticate (tag, OAEP padding, RFC 3394 integrity check);
 * -ENOKEY     an import of a key encrypted under a passphrase (encrypted PKCS#8, "Proc-Type:
 *             4,ENCRYPTED" PEM, OpenSSH with a cipher other than "none"): decrypt it first;
 * -ENOMEM, -EIO  OpenSSL ran out of memory or failed (its words kept by log_foreign).
 * Out-parameters are written only on success. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/key.h"
#include "core/secbuf.h"

/* A256GCM's IV and tag; the largest output of key_soft_encrypt (A256GCM: KEY_INPUT_MAX + 28;
 * RSA: 512) and of key_soft_wrap (A256KWP: KEY_WRAP_INPUT_MAX rounded up to 8, + 8). */
#define KEY_GCM_IV_LEN 12u
#define KEY_GCM_TAG_LEN 16u
#define KEY_CIPHERTEXT_MAX (KEY_INPUT_MAX + KEY_GCM_IV_LEN + KEY_GCM_TAG_LEN)
#define KEY_WRAPPED_MAX (KEY_WRAP_INPUT_MAX + 16u)
/* The largest digest key_digest writes (SHA-512). */
#define KEY_DIGEST_MAX 64u

/* A new key of type t: PKCS#8 DER (RSA with e = 65537, EC, Ed25519) or 32 random bytes (AES). */
int key_soft_generate(enum key_type t, struct secbuf **ret_material);

/* A private key in any of these forms, recognised by its content: PEM "RSA PRIVATE KEY"
 * (PKCS#1), "EC PRIVATE KEY" (SEC1, named curve), "PRIVATE KEY" (PKCS#8), "OPENSSH PRIVATE
 * KEY" (cipher "none"; ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa), or a JWK object
 * (kty RSA, EC, OKP with crv Ed25519, oct of 32 bytes; "d" or "k" required). The key's type
 * and its material in the same form key_soft_generate makes. Every buffer that held private
 * bytes on the way is wiped. */
int key_soft_import(const uint8_t *in, size_t n, enum key_type *ret_type,
		    struct secbuf **ret_material);

/* Whether material is a well-formed key of type t (PKCS#8 DER that parses to that type and
 * size; AES: 32 bytes): 0, or -EINVAL. */
int key_soft_check(enum key_type t, const struct secbuf *material);

/* The public half of material as SubjectPublicKeyInfo DER into spki, whose size is *len on
 * entry; the length written on return. -EOPNOTSUPP for AES. */
int key_soft_public(enum key_type t, const struct secbuf *material, uint8_t *spki, size_t *len);

/* "-----BEGIN PUBLIC KEY-----" PEM of any SPKI DER (at most KEY_PUBLIC_DER_MAX bytes), a NUL
 * terminated heap string; the DER is checked to parse as a public key. */
int key_public_pem(const uint8_t *spki, size_t len, char **ret);

/* The digest of data for a signing algorithm (SHA-256/384/512) into out (size *outlen on entry,
 * key_alg_digest_len(a) on return). -EOPNOTSUPP for EdDSA (it signs the message itself) and
 * the algorithms that do not sign; data at most KEY_INPUT_MAX bytes. */
int key_digest(enum key_alg a, const uint8_t *data, size_t n, uint8_t *out, size_t *outlen);

/* Sign in (a digest of key_alg_digest_len(a) bytes; for EdDSA the message itself, at most
 * KEY_INPUT_MAX) into sig (size *siglen on entry, KEY_SIG_MAX is always enough): RS* PKCS#1
 * v1.5, PS* PSS with MGF1 of the same hash and a salt of the hash's length, ES* r || s, EdDSA
 * the 64 bytes of RFC 8032. */
int key_soft_sign(enum key_type t, const struct secbuf *material, enum key_alg a, const uint8_t *in,
		  size_t n, uint8_t *sig, size_t *siglen);

/* key_soft_sign with the key's public half at hand (spki, its SubjectPublicKeyInfo DER, as the
 * key's record keeps it beside material; NULL: none), which makes an Ed25519 load cheap (no
 * derivation of the public key). spki must be material's own public half: an Ed25519
 * signature over another public key gives the private key away. */
int key_soft_sign_spki(enum key_type t, const struct secbuf *material, const uint8_t *spki,
		       size_t spki_len, enum key_alg a, const uint8_t *in, size_t n, uint8_t *sig,
		       size_t *siglen);

/* A key loaded once for many signatures: key_soft_sign loads the material each time (tens of
 * microseconds for P-256 and Ed25519, as long as the signature itself), a loaded key does not. The private key
 * then lives in OpenSSL's key object (its secure heap when the program initialised one with
 * CRYPTO_secure_malloc_init, else its heap) until key_soft_free, which cleanses it: hold it no
 * longer than the key may be used. key_soft_sign_loaded is key_soft_sign with the key loaded,
 * same results; a loaded key may sign from several threads at once. -EOPNOTSUPP for AES. */
struct key_soft;
int key_soft_load(enum key_type t, const struct secbuf *material, struct key_soft **ret);
void key_soft_free(struct key_soft *k);
enum key_type key_soft_type(const struct key_soft *k);
int key_soft_sign_loaded(const struct key_soft *k, enum key_alg a, const uint8_t *in, size_t n,
			 uint8_t *sig, size_t *siglen);

/* Verify sig over in (as for key_soft_sign) with the public key spki of type t: 0 good,
 * -EBADMSG for a signature that does not verify (also one of the wrong length), -EINVAL for
 * an SPKI that is not a key of type t. */
int key_verify(enum key_type t, const uint8_t *spki, size_t spkilen, enum key_alg a,
	       const uint8_t *in, size_t n, const uint8_t *sig, size_t siglen);

/* RSA-OAEP-256 (SHA-256, MGF1 SHA-256, no label) with the public key only: op KEY_OP_ENCRYPT
 * (in at most KEY_INPUT_MAX) or KEY_OP_WRAP (in 1..KEY_WRAP_INPUT_MAX), and at most the
 * modulus size - 66 bytes either way (-EINVAL for another op). Output of the modulus' size into
 * out (size *outlen). */
int key_public_encrypt(enum key_type t, const uint8_t *spki, size_t spkilen, enum key_op op,
		       enum key_alg a, const uint8_t *in, size_t n, uint8_t *out, size_t *outlen);

/* Encrypt with a software key: RSA-OAEP-256 (as key_public_encrypt; aad must be empty) or
 * A256GCM (a random 12-byte IV; out is iv || ciphertext || tag, n + 28 bytes; aad at most
 * KEY_AAD_MAX, may be NULL when aadlen is 0). */
int key_soft_encrypt(enum key_type t, const struct secbuf *material, enum key_alg a,
		     const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t n, uint8_t *out,
		     size_t *outlen);
/* The inverse, and RSA-OAEP (SHA-1) for old data: the plaintext in a new secbuf. -EINVAL for a
 * ciphertext of the wrong size (RSA: not the modulus' size; A256GCM: shorter than 28 bytes),
 * -EBADMSG when it does not authenticate. */
int key_soft_decrypt(enum key_type t, const struct secbuf *material, enum key_alg a,
		     const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t n,
		     struct secbuf **ret_plaintext);

/* Wrap a key (in, 1..KEY_WRAP_INPUT_MAX bytes): RSA-OAEP-256; A256KW (RFC 3394: in a multiple
 * of 8 bytes, at least 16; out n + 8 bytes); A256KWP (RFC 5649: any length; out the length
 * padded to 8, + 8). */
int key_soft_wrap(enum key_type t, const struct secbuf *material, enum key_alg a, const uint8_t *in,
		  size_t n, uint8_t *out, size_t *outlen);
/* The inverse: the key in a new secbuf. -EINVAL for a wrapped length that cannot be (A256KW:
 * not a multiple of 8 or under 24; A256KWP: under 16 or not a multiple of 8), -EBADMSG for one
 * that does not pass the integrity check. */
int key_soft_unwrap(enum key_type t, const struct secbuf *material, enum key_alg a,
		    const uint8_t *in, size_t n, struct secbuf **ret_key);
