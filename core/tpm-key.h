/* tpm-key.h: keys that live in a TPM 2.0 (tpm2-tss ESAPI). A key is created inside the TPM as a
 * child of the owner hierarchy's primary storage key, the one tpm_seal() uses (the same template:
 * ECC P-256, noDA, re-created on each call, nothing persisted in the TPM), non-duplicable
 * (fixedTPM, fixedParent, sensitiveDataOrigin), noDA, with an empty auth value. Its private half
 * never leaves that TPM: what the caller keeps is the blob key.h names, TPM2B_PUBLIC ||
 * TPM2B_PRIVATE marshalled, whose private area is encrypted and integrity-protected by the
 * parent, so only the TPM that made it can load it. Each operation connects, re-creates the
 * primary, loads the key, uses it and flushes both (see tpm.h for the lock of a TPM without a
 * resource manager and the retries of a busy one). Outputs are in key.h's forms: public keys as
 * SubjectPublicKeyInfo DER, signatures in JWS form.
 *
 * Types: RSA 2048/3072 (sign and decrypt, the scheme chosen per operation: RSASSA, RSAPSS or
 * OAEP) and EC P-256/P-384 (sign only, ECDSA), where the TPM supports them. The errors common to
 * every call that reaches the TPM are tpm_seal's: -ENODEV no TPM reachable, -EBUSY the TPM
 * stayed busy or its lock was held, -EIO other TPM failure; TSS2's own words are kept
 * (log_foreign). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/key.h"
#include "core/secbuf.h"

/* Whether t is a type a TPM key may have at all (RSA 2048/3072, EC P-256/P-384): the others
 * (RSA 4096, P-521, Ed25519, AES-256) are refused by every call with -EOPNOTSUPP, before any
 * TPM is asked and without foreign words; the caller says "a TPM key is RSA 2048/3072 or EC
 * P-256/P-384". No TPM needed. */
bool tpm_key_type_allowed(enum key_type t);

/* Whether the TPM reached by tcti makes keys of type t (TPM2_TestParms with the key's template).
 * 0 when it does; -EOPNOTSUPP for a type not allowed (above, no foreign words) or one this TPM
 * refuses (the foreign words then say "this TPM cannot make <type> keys" and the TPM's answer). */
int tpm_key_supported(const char *tcti, enum key_type t);

/* Create a key of type t in the TPM. Returns its blob (heap, at most KEY_TPM_BLOB_MAX bytes) and
 * its public key as SubjectPublicKeyInfo DER (heap). -EINVAL bad arguments (an unknown type
 * too), -EOPNOTSUPP as for tpm_key_supported, others as above. */
int tpm_key_create(const char *tcti, enum key_type t, uint8_t **ret_blob, size_t *ret_blob_len,
		   uint8_t **ret_spki, size_t *ret_spki_len);

/* The type of a blob from tpm_key_create, after the same checks of its form as every operation
 * makes (its public area exactly as tpm_key_create makes them, no trailing byte). -EBADMSG for a
 * blob that is not one. No TPM needed. */
int tpm_key_blob_type(const uint8_t *blob, size_t len, enum key_type *ret);

/* The public key of a blob (SubjectPublicKeyInfo DER, heap), read from its TPM2B_PUBLIC. No TPM
 * needed, so nothing is checked beyond the blob's form: the public area is only as genuine as
 * the blob (a TPM checks it against the private area when it loads the key). -EBADMSG for a
 * blob that is not one. */
int tpm_key_public(const uint8_t *blob, size_t len, uint8_t **ret_spki, size_t *ret_spki_len);

/* Sign the digest (dlen bytes: key_alg_digest_len(alg)) with the key of blob, which must be of
 * type t: RS256/384/512 as RSASSA-PKCS1-v1_5, PS256/384/512 as RSASSA-PSS (the salt length is
 * the TPM's: verify with the salt length recovered from the signature, RSA_PSS_SALTLEN_AUTO),
 * ES256 (P-256) and ES384 (P-384) as ECDSA. The signature, in JWS form (RSA: the modulus-sized
 * bytes; ECDSA: r || s, each padded to the curve's size), goes to sig, which holds *siglen bytes
 * (KEY_SIG_MAX is enough); *siglen becomes its length. -EINVAL bad arguments or a digest of the
 * wrong length, -EOPNOTSUPP a type not allowed or an algorithm the type cannot sign with,
 * -ENOBUFS sig too small, -EBADMSG a blob that is not one, not of type t, or not loadable by this
 * TPM (another TPM's, or changed), others as above. */
int tpm_key_sign(const char *tcti, const uint8_t *blob, size_t len, enum key_type t,
		 enum key_alg alg, const uint8_t *digest, size_t dlen, uint8_t *sig,
		 size_t *siglen);

/* Decrypt n bytes (the modulus size) of RSA-OAEP ciphertext with the RSA key of blob, of type t:
 * alg KEY_ALG_RSA_OAEP_256 (SHA-256, MGF1-SHA-256) or KEY_ALG_RSA_OAEP (SHA-1), empty label.
 * The plaintext goes to a new secure buffer; it crosses the bus encrypted (a session salted to
 * the primary) and the library's copies are wiped. -EINVAL bad arguments or a ciphertext of the
 * wrong length, -EOPNOTSUPP an EC key, a type not allowed or another algorithm, -EBADMSG a blob
 * as for tpm_key_sign, or a ciphertext that does not decrypt under this key and algorithm,
 * others as above. */
int tpm_key_decrypt(const char *tcti, const uint8_t *blob, size_t len, enum key_type t,
		    enum key_alg alg, const uint8_t *in, size_t n, struct secbuf **ret);
