/* crypto.h: the primitives vaultfs uses, over OpenSSL 3 EVP: AES-256-GCM with AAD, key
 * wrapping, HKDF-SHA256, HMAC-SHA256, random bytes and constant-time comparison. OpenSSL's
 * 0/1 results become -errno here and nowhere else. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "secbuf.h"

#define CRYPTO_KEY_LEN 32u
#define CRYPTO_NONCE_LEN 12u
#define CRYPTO_TAG_LEN 16u
#define CRYPTO_MAC_LEN 32u
/* aead_seal output is nonce || ciphertext || tag. */
#define CRYPTO_AEAD_OVERHEAD (CRYPTO_NONCE_LEN + CRYPTO_TAG_LEN)
/* A wrapped 32-byte key. */
#define CRYPTO_WRAPPED_KEY_LEN (CRYPTO_KEY_LEN + CRYPTO_AEAD_OVERHEAD)

/* Fill buf with n bytes from the CSPRNG. */
int crypto_random(void *buf, size_t n);

/* AES-256-GCM with a fresh random nonce. out must hold ptlen + CRYPTO_AEAD_OVERHEAD bytes.
 * aad may be NULL when aadlen is 0. */
int crypto_aead_seal(const uint8_t key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
		     const void *pt, size_t ptlen, uint8_t *out);
/* Inverse of crypto_aead_seal. out must hold inlen - CRYPTO_AEAD_OVERHEAD bytes. -EBADMSG when
 * the tag does not verify (wrong key, wrong AAD, changed bytes), -EINVAL when inlen is too
 * short. On failure out is wiped. */
int crypto_aead_open(const uint8_t key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
		     const uint8_t *in, size_t inlen, uint8_t *out);

/* One AES-256-GCM context for many operations under changing keys: the cipher is set up once
 * and each operation sets only key and nonce (the one-shot functions above make and free a
 * context per call). Results, output and errors are those of crypto_aead_seal/open; a failed
 * open (-EBADMSG) leaves the context usable. The schedule of the last key used stays in
 * OpenSSL's heap (not locked memory) until crypto_aead_forget overwrites it with a key of
 * zeros (a no-op when no key was used since; its owner calls it when a call of its own ends),
 * or crypto_aead_free cleanses it. Not to be used from two threads at once. */
struct crypto_aead;
int crypto_aead_new(struct crypto_aead **ret);
void crypto_aead_free(struct crypto_aead *a);
int crypto_aead_seal_ctx(struct crypto_aead *a, const uint8_t key[CRYPTO_KEY_LEN], const void *aad,
			 size_t aadlen, const void *pt, size_t ptlen, uint8_t *out);
int crypto_aead_open_ctx(struct crypto_aead *a, const uint8_t key[CRYPTO_KEY_LEN], const void *aad,
			 size_t aadlen, const uint8_t *in, size_t inlen, uint8_t *out);
void crypto_aead_forget(struct crypto_aead *a);

/* Wrap a 32-byte key under kek, bound to aad: out is CRYPTO_WRAPPED_KEY_LEN bytes. */
int crypto_wrap_key(const uint8_t kek[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
		    const uint8_t key[CRYPTO_KEY_LEN], uint8_t out[CRYPTO_WRAPPED_KEY_LEN]);
/* Unwrap into a new secure buffer of CRYPTO_KEY_LEN bytes. -EBADMSG on mismatch, -EINVAL when
 * inlen is not CRYPTO_WRAPPED_KEY_LEN. */
int crypto_unwrap_key(const uint8_t kek[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
		      const uint8_t *in, size_t inlen, struct secbuf **ret);

/* HKDF-SHA256 (extract and expand, no salt) of ikm with info = label, outlen bytes. */
int crypto_hkdf(const uint8_t *ikm, size_t ikmlen, const char *label, uint8_t *out, size_t outlen);
/* HMAC-SHA256 of data under a 32-byte key. */
int crypto_hmac(const uint8_t key[CRYPTO_KEY_LEN], const void *data, size_t n,
		uint8_t out[CRYPTO_MAC_LEN]);
/* A keyed HMAC-SHA256 for many messages under one key: the key schedule is done once (one-shot
 * crypto_hmac redoes it for every message). The keyed state lives in OpenSSL's heap, cleansed
 * when freed. Not to be used from two threads at once. */
struct crypto_mac;
int crypto_mac_new(const uint8_t key[CRYPTO_KEY_LEN], struct crypto_mac **ret);
int crypto_mac_compute(struct crypto_mac *m, const void *data, size_t n,
		       uint8_t out[CRYPTO_MAC_LEN]);
void crypto_mac_free(struct crypto_mac *m);

/* Constant-time equality: 1 equal, 0 different. */
int crypto_memeq(const void *a, const void *b, size_t n);

/* The one place an OpenSSL failure becomes an errno (for crypto.c and the other modules over
 * OpenSSL: key-soft, ssh-wire): -ENOMEM when the library ran out of memory (or fallback says an
 * allocation returned NULL), fallback (-EIO) for everything else; OpenSSL's own words for its
 * last error are kept (log_foreign) for the one log line at the edge. Always empties the
 * thread's error queue. */
int crypto_openssl_errno(int fallback);

/* OpenSSL's heap wiped on free: every block OpenSSL frees or moves in a realloc is
 * overwritten first, so what its structures held (a PKCS#12 of an exportable key, a key's
 * internals, the TSS library's session crypto, done through OpenSSL) is not left in freed
 * memory. ESAPI's own buffers are libc's (tpm-seal.c wipes what they hold). Call before
 * OpenSSL allocates anything (harden_process does): -EBUSY when it already has, and then
 * nothing changes. */
int crypto_wipe_heap(void);
