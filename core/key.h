/* key.h: the vocabulary of key objects shared by every module that touches one: key types,
 * algorithms, operations, their names, and the forms key material and outputs take between
 * modules. The crypto itself is in key-soft.c (software keys, OpenSSL) and tpm-key.c (keys that
 * live in the TPM); the wire forms of OpenSSH in ssh-wire.c. Nothing here holds a secret.
 *
 * Forms, the contract between the modules:
 * - software private material: PKCS#8 DER (RSA, EC, Ed25519), or the 32 raw bytes (AES-256),
 *   always in a struct secbuf;
 * - TPM key material: the TPM's public and private areas (TPM2B_PUBLIC || TPM2B_PRIVATE,
 *   marshalled), which only that TPM can load; not secret, but kept like material;
 * - a public key: SubjectPublicKeyInfo DER (RSA, EC, Ed25519); AES keys have none;
 * - a signature: JWS form (RFC 7518): RSA the modulus-sized bytes, ECDSA r || s each padded to
 *   the curve's size, EdDSA the 64 bytes of RFC 8032.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum key_type {
	KEY_TYPE_INVALID = 0,
	KEY_RSA_2048,
	KEY_RSA_3072,
	KEY_RSA_4096,
	KEY_EC_P256,
	KEY_EC_P384,
	KEY_EC_P521,
	KEY_ED25519,
	KEY_AES_256,
	_KEY_TYPE_MAX,
};

enum key_alg {
	KEY_ALG_INVALID = 0,
	/* sign / verify */
	KEY_ALG_RS256,
	KEY_ALG_RS384,
	KEY_ALG_RS512,
	KEY_ALG_PS256,
	KEY_ALG_PS384,
	KEY_ALG_PS512,
	KEY_ALG_ES256,
	KEY_ALG_ES384,
	KEY_ALG_ES512,
	KEY_ALG_EDDSA,
	/* encrypt / decrypt */
	KEY_ALG_RSA_OAEP_256,
	KEY_ALG_RSA_OAEP, /* SHA-1: decrypt only, for old data */
	KEY_ALG_A256GCM,
	/* wrap / unwrap (and RSA_OAEP_256) */
	KEY_ALG_A256KW,	 /* RFC 3394 */
	KEY_ALG_A256KWP, /* RFC 5649 */
	_KEY_ALG_MAX,
};

/* Operations, as a bit set (a key's key_ops) and one at a time. */
enum key_op {
	KEY_OP_SIGN = 1u << 0,
	KEY_OP_VERIFY = 1u << 1,
	KEY_OP_ENCRYPT = 1u << 2,
	KEY_OP_DECRYPT = 1u << 3,
	KEY_OP_WRAP = 1u << 4,
	KEY_OP_UNWRAP = 1u << 5,
};
#define KEY_OPS_ALL 0x3fu

enum key_protection {
	KEY_PROTECTION_SOFTWARE = 0,
	KEY_PROTECTION_TPM = 1,
};

/* Caps on what a caller hands in (bytes). */
#define KEY_INPUT_MAX (64u * 1024u)   /* data to sign with --data, or to encrypt (A256GCM) */
#define KEY_IMPORT_MAX (64u * 1024u)  /* a PEM, OpenSSH or JWK private key */
#define KEY_AAD_MAX 4096u	      /* A256GCM additional data */
#define KEY_WRAP_INPUT_MAX 1024u      /* a key to wrap */
#define KEY_SIG_MAX 1024u	      /* the largest signature (RSA 4096: 512) */
#define KEY_PUBLIC_DER_MAX 1024u      /* SubjectPublicKeyInfo DER (RSA 4096: ~550) */
#define KEY_TPM_BLOB_MAX 2048u	      /* TPM2B_PUBLIC || TPM2B_PRIVATE */
#define KEY_MATERIAL_MAX (8u * 1024u) /* PKCS#8 DER of RSA 4096 is ~2.4 KiB */

/* Names, as the CLI, requests, policy and records spell them ("rsa-2048", "ec-p256", "ed25519",
 * "aes-256"; "RS256" ... "EdDSA", "RSA-OAEP-256", "RSA-OAEP", "A256GCM", "A256KW", "A256KWP";
 * "sign" ... "unwrap"; "software", "tpm"). *_from_name: the value, or 0 / -EINVAL for an unknown
 * name. key_op_name takes one bit. */
const char *key_type_name(enum key_type t);
enum key_type key_type_from_name(const char *s);
const char *key_alg_name(enum key_alg a);
enum key_alg key_alg_from_name(const char *s);
const char *key_op_name(enum key_op op);
int key_op_from_name(const char *s); /* the bit, or -EINVAL */
/* "sign,verify" and back; *_parse: -EINVAL for an unknown or repeated name or an empty list. */
int key_ops_parse(const char *s, unsigned *ret);
int key_ops_format(unsigned ops, char *buf, size_t size);

/* What a type can do: the ops it supports at all, and whether alg fits type and op (0, or
 * -EINVAL for an unknown algorithm, -EOPNOTSUPP for an algorithm the type or op cannot use). */
unsigned key_type_ops(enum key_type t);
int key_alg_check(enum key_type t, enum key_op op, enum key_alg a);
/* Digest length alg signs (32/48/64), 0 for EdDSA (which signs the message itself). */
size_t key_alg_digest_len(enum key_alg a);
bool key_type_is_rsa(enum key_type t);
bool key_type_is_ec(enum key_type t);
