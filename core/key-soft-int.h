/* key-soft-int.h: what the files of the software-key module share (key-soft.c, key-cipher.c,
 * key-import*.c, key-load.c), and x509-p12.c (a PKCS#12's key in and out of its key.h form):
 * keys in and out of their key.h forms as OpenSSL keys, and base64 into locked memory. Not for
 * use outside these files. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/bn.h>
#include <openssl/evp.h>

#include "core/crypto.h"
#include "core/key.h"
#include "core/secbuf.h"

/* The largest RSA modulus of a key type (RSA 4096), bytes: importers refuse a larger one before
 * computing with it. */
#define KEY_RSA_MODULUS_MAX 512

static inline void key_pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}

static inline void key_pkey_ctx_freep(EVP_PKEY_CTX **p)
{
	EVP_PKEY_CTX_free(*p);
}

static inline void key_bn_clear_freep(BIGNUM **p)
{
	BN_clear_free(*p);
}

/* The key.h type of pk: 0, or -EOPNOTSUPP for a key of another size, curve or algorithm. */
int key_pkey_type(EVP_PKEY *pk, enum key_type *ret);
/* PKCS#8 DER material of type t as a key: -EINVAL when it does not parse or is of another
 * type. */
int key_pkey_from_material(enum key_type t, const struct secbuf *material, EVP_PKEY **ret);
/* key_pkey_from_material for signing only, faster: an EC key without its public point, an
 * Ed25519 key with the public key of spki (its SubjectPublicKeyInfo DER, or NULL: derived).
 * The caller vouches that spki is the public half of material (both from one authenticated
 * record): an Ed25519 signature made with another public key gives the private key away. */
int key_pkey_for_sign(enum key_type t, const struct secbuf *material, const uint8_t *spki,
		      size_t spki_len, EVP_PKEY **ret);
/* SPKI DER of type t as a key: -EINVAL when it does not parse or is of another type. */
int key_pkey_from_spki(enum key_type t, const uint8_t *spki, size_t len, EVP_PKEY **ret);
/* A private key as PKCS#8 DER in a new secbuf (its type checked by key_pkey_type first). */
int key_pkey_to_material(EVP_PKEY *pk, enum key_type *ret_type, struct secbuf **ret);

/* Base64 (standard alphabet, whitespace skipped, '=' padding required where due) or base64url
 * (no padding, no whitespace) of n characters into a new secbuf: -EINVAL for any other
 * character or a length that cannot be. */
int key_base64_decode(const char *s, size_t n, bool url, struct secbuf **ret);

/* Keys from their parts, for the importers; each checks that the private and the public half
 * belong together (-EINVAL when not). RSA: every BIGNUM given (the CRT parts too). EC: pub the
 * uncompressed point 0x04 || x || y of curve t. Ed25519: the 32-byte seed (RFC 8032's private
 * key), and the 32-byte public key to check against it, or NULL. */
int key_rsa_from_parts(const BIGNUM *n, const BIGNUM *e, const BIGNUM *d, const BIGNUM *p,
		       const BIGNUM *q, const BIGNUM *dp, const BIGNUM *dq, const BIGNUM *qi,
		       EVP_PKEY **ret);
int key_ec_from_parts(enum key_type t, const uint8_t *pub, size_t publen, const BIGNUM *d,
		      EVP_PKEY **ret);
int key_ed25519_from_seed(const uint8_t *seed, const uint8_t *pub, EVP_PKEY **ret);
/* The end of every import: the key's type (-EOPNOTSUPP for one not in key.h) and its PKCS#8
 * material. */
int key_import_finish(EVP_PKEY *pk, enum key_type *ret_type, struct secbuf **ret_material);

/* Import of the forms other than PEM PKCS#1/SEC1/PKCS#8, same results as key_soft_import. */
int key_import_openssh(const uint8_t *blob, size_t n, enum key_type *ret_type,
		       struct secbuf **ret_material);
int key_import_jwk(const uint8_t *in, size_t n, enum key_type *ret_type,
		   struct secbuf **ret_material);
