/* test-crypto.c: unit tests for core/crypto.c: AES-256-GCM round trips and a published vector,
 * every tamper and refusal path of open (nonce, ciphertext, tag, AAD, key, length), key
 * wrapping bound to its AAD, HKDF-SHA256 and HMAC-SHA256 against known answers, constant-time
 * comparison, and that failures leave OpenSSL's error queue empty. The reused AEAD context
 * (struct crypto_aead): across many keys, nonces, AADs and lengths it agrees with the one-shot
 * functions both ways, its key is the one given each time, and after every failure (tampered
 * tag, nonce or ciphertext, wrong AAD or key, cut input, bad arguments) the next open succeeds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/secbuf.h"
#include "core/util.h"

#define BUF_MAX 2048

static const uint8_t key1[CRYPTO_KEY_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
	0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = strlen(s) / 2;

	assert_true(n <= max);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void assert_all(const uint8_t *p, uint8_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], v);
}

static void test_random(void **state)
{
	(void)state;
	uint8_t a[32] = { 0 }, b[32] = { 0 }, zero[32] = { 0 };

	assert_int_equal(crypto_random(a, sizeof(a)), 0);
	assert_int_equal(crypto_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(crypto_random(NULL, 0), 0);
	assert_int_equal(crypto_random(NULL, 1), -EINVAL);
}

static void roundtrip(const void *aad, size_t aadlen, size_t ptlen)
{
	uint8_t pt[BUF_MAX], ct[BUF_MAX + CRYPTO_AEAD_OVERHEAD], back[BUF_MAX + 1];

	assert_true(ptlen <= BUF_MAX);
	for (size_t i = 0; i < ptlen; i++)
		pt[i] = (uint8_t)(i * 31 + 7);
	memset(back, 0xee, sizeof(back));
	assert_int_equal(crypto_aead_seal(key1, aad, aadlen, pt, ptlen, ct), 0);
	if (ptlen >= 16)
		assert_memory_not_equal(ct + CRYPTO_NONCE_LEN, pt, ptlen);
	assert_int_equal(
		crypto_aead_open(key1, aad, aadlen, ct, ptlen + CRYPTO_AEAD_OVERHEAD, back), 0);
	if (ptlen > 0)
		assert_memory_equal(back, pt, ptlen);
	/* open writes exactly ptlen bytes */
	assert_int_equal(back[ptlen], 0xee);
}

static void test_aead_roundtrip(void **state)
{
	(void)state;
	static const size_t lens[] = { 0, 1, 15, 16, 17, 100, BUF_MAX };

	for (size_t i = 0; i < ELEMENTSOF(lens); i++) {
		roundtrip(NULL, 0, lens[i]);
		roundtrip("vault=1 object=2 version=3", 26, lens[i]);
	}
}

static void test_aead_empty(void **state)
{
	(void)state;
	uint8_t ct[CRYPTO_AEAD_OVERHEAD];

	/* NULL plaintext and NULL output are fine when there are no bytes. */
	assert_int_equal(crypto_aead_seal(key1, "ad", 2, NULL, 0, ct), 0);
	assert_int_equal(crypto_aead_open(key1, "ad", 2, ct, sizeof(ct), NULL), 0);
	/* The tag still authenticates the AAD. */
	assert_int_equal(crypto_aead_open(key1, "ae", 2, ct, sizeof(ct), NULL), -EBADMSG);
	ct[CRYPTO_AEAD_OVERHEAD - 1] ^= 1;
	assert_int_equal(crypto_aead_open(key1, "ad", 2, ct, sizeof(ct), NULL), -EBADMSG);
}

static void test_aead_fresh_nonce(void **state)
{
	(void)state;
	uint8_t a[16 + CRYPTO_AEAD_OVERHEAD], b[16 + CRYPTO_AEAD_OVERHEAD];

	assert_int_equal(crypto_aead_seal(key1, NULL, 0, "same plaintext!!", 16, a), 0);
	assert_int_equal(crypto_aead_seal(key1, NULL, 0, "same plaintext!!", 16, b), 0);
	assert_memory_not_equal(a, b, CRYPTO_NONCE_LEN);
	assert_memory_not_equal(a + CRYPTO_NONCE_LEN, b + CRYPTO_NONCE_LEN, 16);
}

/* McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test case 16 (AES-256, 96-bit
 * IV, with AAD), laid out as nonce || ciphertext || tag; also checked with pyca/cryptography.
 * Opened one-shot, or through a when given. */
static void known_answer(struct crypto_aead *a)
{
	uint8_t key[CRYPTO_KEY_LEN], in[256], aad[64], pt[128], out[128];
	size_t inlen, aadlen, ptlen;

	assert_int_equal(unhex("feffe9928665731c6d6a8f9467308308"
			       "feffe9928665731c6d6a8f9467308308",
			       key, sizeof(key)),
			 32);
	inlen = unhex("cafebabefacedbaddecaf888"
		      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
		      "76fc6ece0f4e1768cddf8853bb2d551b",
		      in, sizeof(in));
	aadlen = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, sizeof(aad));
	ptlen = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		      pt, sizeof(pt));
	assert_int_equal(inlen, ptlen + CRYPTO_AEAD_OVERHEAD);
	memset(out, 0, sizeof(out));
	if (a)
		assert_int_equal(crypto_aead_open_ctx(a, key, aad, aadlen, in, inlen, out), 0);
	else
		assert_int_equal(crypto_aead_open(key, aad, aadlen, in, inlen, out), 0);
	assert_memory_equal(out, pt, ptlen);
}

static void test_aead_known_answer(void **state)
{
	(void)state;
	known_answer(NULL);
}

static void test_aead_tamper(void **state)
{
	(void)state;
	const size_t ptlen = 40, inlen = ptlen + CRYPTO_AEAD_OVERHEAD;
	/* first nonce byte, last nonce byte, a ciphertext byte, first and last tag byte */
	const size_t where[] = { 0, CRYPTO_NONCE_LEN - 1, CRYPTO_NONCE_LEN + 5,
				 CRYPTO_NONCE_LEN + ptlen, inlen - 1 };
	uint8_t pt[40], ct[40 + CRYPTO_AEAD_OVERHEAD], out[40];

	memset(pt, 0x41, sizeof(pt));
	assert_int_equal(crypto_aead_seal(key1, "aad", 3, pt, ptlen, ct), 0);
	for (size_t i = 0; i < ELEMENTSOF(where); i++) {
		ct[where[i]] ^= 0x80;
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(crypto_aead_open(key1, "aad", 3, ct, inlen, out), -EBADMSG);
		/* no unauthenticated plaintext is left behind */
		assert_all(out, 0, sizeof(out));
		assert_int_equal(ERR_peek_error(), 0);
		ct[where[i]] ^= 0x80;
	}
	assert_int_equal(crypto_aead_open(key1, "aad", 3, ct, inlen, out), 0);
	assert_memory_equal(out, pt, ptlen);
}

static void test_aead_wrong_aad_key(void **state)
{
	(void)state;
	uint8_t ct[8 + CRYPTO_AEAD_OVERHEAD], out[8], key2[CRYPTO_KEY_LEN];
	const size_t inlen = sizeof(ct);

	assert_int_equal(crypto_aead_seal(key1, "vault-1", 7, "password", 8, ct), 0);
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(crypto_aead_open(key1, "vault-2", 7, ct, inlen, out), -EBADMSG);
	assert_all(out, 0, sizeof(out));
	/* AAD missing, shorter, longer */
	assert_int_equal(crypto_aead_open(key1, NULL, 0, ct, inlen, out), -EBADMSG);
	assert_int_equal(crypto_aead_open(key1, "vault-", 6, ct, inlen, out), -EBADMSG);
	assert_int_equal(crypto_aead_open(key1, "vault-1x", 8, ct, inlen, out), -EBADMSG);
	/* wrong key: one bit off */
	memcpy(key2, key1, sizeof(key2));
	key2[31] ^= 1;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(crypto_aead_open(key2, "vault-1", 7, ct, inlen, out), -EBADMSG);
	assert_all(out, 0, sizeof(out));
	assert_int_equal(crypto_aead_open(key1, "vault-1", 7, ct, inlen, out), 0);
	assert_memory_equal(out, "password", 8);
}

static void test_aead_truncated(void **state)
{
	(void)state;
	uint8_t ct[8 + CRYPTO_AEAD_OVERHEAD], out[8];

	assert_int_equal(crypto_aead_seal(key1, NULL, 0, "password", 8, ct), 0);
	/* shorter than nonce + tag: not even a ciphertext */
	assert_int_equal(crypto_aead_open(key1, NULL, 0, ct, CRYPTO_AEAD_OVERHEAD - 1, out),
			 -EINVAL);
	assert_int_equal(crypto_aead_open(key1, NULL, 0, ct, 0, out), -EINVAL);
	/* long enough but cut: the tag is read from the wrong place */
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(crypto_aead_open(key1, NULL, 0, ct, sizeof(ct) - 1, out), -EBADMSG);
	assert_all(out, 0, sizeof(out) - 1);
	assert_int_equal(crypto_aead_open(key1, NULL, 0, ct, CRYPTO_AEAD_OVERHEAD, out), -EBADMSG);
}

static void test_aead_bad_args(void **state)
{
	(void)state;
	uint8_t ct[4 + CRYPTO_AEAD_OVERHEAD], out[4];

	assert_int_equal(crypto_aead_seal(NULL, NULL, 0, "abcd", 4, ct), -EINVAL);
	assert_int_equal(crypto_aead_seal(key1, NULL, 1, "abcd", 4, ct), -EINVAL);
	assert_int_equal(crypto_aead_seal(key1, NULL, 0, NULL, 4, ct), -EINVAL);
	assert_int_equal(crypto_aead_seal(key1, NULL, 0, "abcd", 4, NULL), -EINVAL);
	assert_int_equal(crypto_aead_seal(key1, NULL, 0, "abcd", 4, ct), 0);
	assert_int_equal(crypto_aead_open(NULL, NULL, 0, ct, sizeof(ct), out), -EINVAL);
	assert_int_equal(crypto_aead_open(key1, NULL, 1, ct, sizeof(ct), out), -EINVAL);
	assert_int_equal(crypto_aead_open(key1, NULL, 0, NULL, sizeof(ct), out), -EINVAL);
	assert_int_equal(crypto_aead_open(key1, NULL, 0, ct, sizeof(ct), NULL), -EINVAL);
}

static void test_wrap_unwrap(void **state)
{
	(void)state;
	uint8_t key[CRYPTO_KEY_LEN], kek2[CRYPTO_KEY_LEN], w[CRYPTO_WRAPPED_KEY_LEN + 1];
	struct secbuf *b = NULL, *keep = (struct secbuf *)0x1;

	assert_int_equal(CRYPTO_WRAPPED_KEY_LEN, 60);
	assert_int_equal(crypto_random(key, sizeof(key)), 0);
	assert_int_equal(crypto_wrap_key(key1, "vault:7", 7, key, w), 0);
	assert_memory_not_equal(w + CRYPTO_NONCE_LEN, key, sizeof(key));

	assert_int_equal(crypto_unwrap_key(key1, "vault:7", 7, w, CRYPTO_WRAPPED_KEY_LEN, &b), 0);
	assert_non_null(b);
	assert_int_equal(b->len, CRYPTO_KEY_LEN);
	assert_int_equal(b->cap, CRYPTO_KEY_LEN);
	assert_memory_equal(b->data, key, sizeof(key));
	secbuf_free(b);

	/* bound to the AAD: another vault's id does not open it */
	assert_int_equal(crypto_unwrap_key(key1, "vault:8", 7, w, CRYPTO_WRAPPED_KEY_LEN, &keep),
			 -EBADMSG);
	assert_int_equal(crypto_unwrap_key(key1, NULL, 0, w, CRYPTO_WRAPPED_KEY_LEN, &keep),
			 -EBADMSG);
	memcpy(kek2, key1, sizeof(kek2));
	kek2[0] ^= 0xff;
	assert_int_equal(crypto_unwrap_key(kek2, "vault:7", 7, w, CRYPTO_WRAPPED_KEY_LEN, &keep),
			 -EBADMSG);
	w[20] ^= 4;
	assert_int_equal(crypto_unwrap_key(key1, "vault:7", 7, w, CRYPTO_WRAPPED_KEY_LEN, &keep),
			 -EBADMSG);
	w[20] ^= 4;
	/* wrong lengths */
	assert_int_equal(
		crypto_unwrap_key(key1, "vault:7", 7, w, CRYPTO_WRAPPED_KEY_LEN - 1, &keep),
		-EINVAL);
	assert_int_equal(
		crypto_unwrap_key(key1, "vault:7", 7, w, CRYPTO_WRAPPED_KEY_LEN + 1, &keep),
		-EINVAL);
	assert_int_equal(crypto_unwrap_key(key1, "vault:7", 7, w, CRYPTO_WRAPPED_KEY_LEN, NULL),
			 -EINVAL);
	/* ret untouched on every failure */
	assert_ptr_equal(keep, (struct secbuf *)0x1);
	assert_int_equal(crypto_wrap_key(key1, NULL, 0, NULL, w), -EINVAL);
	secure_wipe(key, sizeof(key));
}

/* The reused context against the one-shot functions, operation after operation under a new
 * key, AAD and length each time, sealing and opening in turn on the one context. */
static void test_aead_ctx_matches(void **state)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 100, 300 };
	uint8_t key[CRYPTO_KEY_LEN], prev[CRYPTO_KEY_LEN], aad[64], pt[300];
	uint8_t ct[300 + CRYPTO_AEAD_OVERHEAD], ct2[300 + CRYPTO_AEAD_OVERHEAD], back[301];
	struct crypto_aead *a = NULL;

	(void)state;
	assert_int_equal(crypto_aead_new(&a), 0);
	assert_non_null(a);
	memset(prev, 0, sizeof(prev));
	for (size_t i = 0; i < 200; i++) {
		size_t ptlen = lens[i % ELEMENTSOF(lens)], aadlen = i % 50, inlen;

		assert_int_equal(crypto_random(key, sizeof(key)), 0);
		assert_int_equal(crypto_random(aad, sizeof(aad)), 0);
		assert_int_equal(crypto_random(pt, sizeof(pt)), 0);
		inlen = ptlen + CRYPTO_AEAD_OVERHEAD;
		/* sealed on the context, opened one-shot and on the context */
		assert_int_equal(crypto_aead_seal_ctx(a, key, aad, aadlen, pt, ptlen, ct), 0);
		memset(back, 0xee, sizeof(back));
		assert_int_equal(crypto_aead_open(key, aad, aadlen, ct, inlen, back), 0);
		assert_memory_equal(back, pt, ptlen);
		memset(back, 0xee, sizeof(back));
		assert_int_equal(crypto_aead_open_ctx(a, key, aad, aadlen, ct, inlen, back), 0);
		assert_memory_equal(back, pt, ptlen);
		assert_int_equal(back[ptlen], 0xee); /* exactly ptlen bytes written */
		/* sealed one-shot, opened on the context */
		assert_int_equal(crypto_aead_seal(key, aad, aadlen, pt, ptlen, ct2), 0);
		memset(back, 0xee, sizeof(back));
		assert_int_equal(crypto_aead_open_ctx(a, key, aad, aadlen, ct2, inlen, back), 0);
		assert_memory_equal(back, pt, ptlen);
		/* a fresh nonce each seal */
		assert_memory_not_equal(ct, ct2, CRYPTO_NONCE_LEN);
		/* the key given is the key used: the last operation's does not open it */
		if (i > 0) {
			memset(back, 0xaa, sizeof(back));
			assert_int_equal(
				crypto_aead_open_ctx(a, prev, aad, aadlen, ct, inlen, back),
				-EBADMSG);
			assert_all(back, 0, ptlen);
		}
		memcpy(prev, key, sizeof(key));
		/* forgetting the key (every few rounds, twice in a row too) changes no result */
		if (i % 7 == 0) {
			crypto_aead_forget(a);
			if (i % 14 == 0)
				crypto_aead_forget(a);
		}
	}
	crypto_aead_forget(NULL);
	known_answer(a);
	/* no bytes: NULL plaintext and output, the tag still over the AAD */
	assert_int_equal(crypto_aead_seal_ctx(a, key1, "ad", 2, NULL, 0, ct), 0);
	assert_int_equal(crypto_aead_open_ctx(a, key1, "ad", 2, ct, CRYPTO_AEAD_OVERHEAD, NULL), 0);
	assert_int_equal(crypto_aead_open(key1, "ad", 2, ct, CRYPTO_AEAD_OVERHEAD, NULL), 0);
	assert_int_equal(crypto_aead_open_ctx(a, key1, "ae", 2, ct, CRYPTO_AEAD_OVERHEAD, NULL),
			 -EBADMSG);
	assert_int_equal(ERR_peek_error(), 0);
	crypto_aead_free(a);
	crypto_aead_free(NULL);
	secure_wipe(key, sizeof(key));
	secure_wipe(prev, sizeof(prev));
}

/* Every failure on the context, each followed by a good open that must succeed. */
static void test_aead_ctx_after_failure(void **state)
{
	const size_t ptlen = 40, inlen = ptlen + CRYPTO_AEAD_OVERHEAD;
	/* first nonce byte, last nonce byte, a ciphertext byte, first and last tag byte */
	const size_t where[] = { 0, CRYPTO_NONCE_LEN - 1, CRYPTO_NONCE_LEN + 5,
				 CRYPTO_NONCE_LEN + ptlen, inlen - 1 };
	uint8_t pt[40], ct[40 + CRYPTO_AEAD_OVERHEAD], out[40], key2[CRYPTO_KEY_LEN];
	struct crypto_aead *a = NULL;

	(void)state;
	memset(pt, 0x41, sizeof(pt));
	assert_int_equal(crypto_aead_new(&a), 0);
	assert_int_equal(crypto_aead_seal_ctx(a, key1, "aad", 3, pt, ptlen, ct), 0);

#define GOOD_OPEN()                                                                                \
	do {                                                                                       \
		memset(out, 0, sizeof(out));                                                       \
		assert_int_equal(crypto_aead_open_ctx(a, key1, "aad", 3, ct, inlen, out), 0);      \
		assert_memory_equal(out, pt, ptlen);                                               \
	} while (0)

	for (size_t i = 0; i < ELEMENTSOF(where); i++) {
		ct[where[i]] ^= 0x80;
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(crypto_aead_open_ctx(a, key1, "aad", 3, ct, inlen, out), -EBADMSG);
		assert_all(out, 0, sizeof(out)); /* no unauthenticated plaintext left */
		assert_int_equal(ERR_peek_error(), 0);
		ct[where[i]] ^= 0x80;
		GOOD_OPEN();
	}
	/* wrong AAD, wrong key */
	assert_int_equal(crypto_aead_open_ctx(a, key1, "aae", 3, ct, inlen, out), -EBADMSG);
	GOOD_OPEN();
	memcpy(key2, key1, sizeof(key2));
	key2[31] ^= 1;
	assert_int_equal(crypto_aead_open_ctx(a, key2, "aad", 3, ct, inlen, out), -EBADMSG);
	assert_all(out, 0, sizeof(out));
	GOOD_OPEN();
	/* cut: the tag read from the wrong place; too short for a ciphertext */
	assert_int_equal(crypto_aead_open_ctx(a, key1, "aad", 3, ct, inlen - 1, out), -EBADMSG);
	GOOD_OPEN();
	assert_int_equal(crypto_aead_open_ctx(a, key1, "aad", 3, ct, CRYPTO_AEAD_OVERHEAD - 1, out),
			 -EINVAL);
	GOOD_OPEN();
	/* bad arguments */
	assert_int_equal(crypto_aead_open_ctx(NULL, key1, "aad", 3, ct, inlen, out), -EINVAL);
	assert_int_equal(crypto_aead_open_ctx(a, NULL, "aad", 3, ct, inlen, out), -EINVAL);
	assert_int_equal(crypto_aead_open_ctx(a, key1, NULL, 3, ct, inlen, out), -EINVAL);
	assert_int_equal(crypto_aead_open_ctx(a, key1, "aad", 3, NULL, inlen, out), -EINVAL);
	assert_int_equal(crypto_aead_open_ctx(a, key1, "aad", 3, ct, inlen, NULL), -EINVAL);
	assert_int_equal(crypto_aead_seal_ctx(NULL, key1, "aad", 3, pt, ptlen, out), -EINVAL);
	assert_int_equal(crypto_aead_seal_ctx(a, NULL, "aad", 3, pt, ptlen, ct), -EINVAL);
	assert_int_equal(crypto_aead_seal_ctx(a, key1, NULL, 3, pt, ptlen, ct), -EINVAL);
	assert_int_equal(crypto_aead_seal_ctx(a, key1, "aad", 3, NULL, ptlen, ct), -EINVAL);
	assert_int_equal(crypto_aead_seal_ctx(a, key1, "aad", 3, pt, ptlen, NULL), -EINVAL);
	GOOD_OPEN();
#undef GOOD_OPEN
	assert_int_equal(crypto_aead_new(NULL), -EINVAL);
	crypto_aead_free(a);
}

/* RFC 5869 A.3: IKM = 22 x 0x0b, salt and info empty, L = 42. With no salt and label "", our
 * HKDF is exactly this case (an absent salt is HashLen zero bytes). */
static void test_hkdf_rfc5869_case3(void **state)
{
	(void)state;
	uint8_t ikm[22], okm[42], want[42];

	memset(ikm, 0x0b, sizeof(ikm));
	unhex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
	      "9d201395faa4b61a96c8",
	      want, sizeof(want));
	assert_int_equal(crypto_hkdf(ikm, sizeof(ikm), "", okm, sizeof(okm)), 0);
	assert_memory_equal(okm, want, sizeof(want));
	/* shorter output is a prefix */
	assert_int_equal(crypto_hkdf(ikm, sizeof(ikm), "", okm, 10), 0);
	assert_memory_equal(okm, want, 10);
}

static void test_hkdf_label(void **state)
{
	(void)state;
	uint8_t ikm[22], okm[42], other[42], want[42], big[255 * 32];

	/* Computed once with `openssl kdf -keylen 42 -kdfopt digest:SHA256 -kdfopt hexkey:0b..0b
	 * (22 bytes) -kdfopt info:vaultfs-test HKDF` and checked with Python's hmac module. */
	memset(ikm, 0x0b, sizeof(ikm));
	unhex("f82fcfe80c23e85f9ade7033efd1bba01cfc5cfb849fb7d08b1bc26f3e74b328"
	      "e0c91d6049178c1851d8",
	      want, sizeof(want));
	assert_int_equal(crypto_hkdf(ikm, sizeof(ikm), "vaultfs-test", okm, sizeof(okm)), 0);
	assert_memory_equal(okm, want, sizeof(want));
	assert_int_equal(crypto_hkdf(ikm, sizeof(ikm), "vaultfs-tesu", other, sizeof(other)), 0);
	assert_memory_not_equal(okm, other, sizeof(okm));

	/* limits: 1..255*32 bytes; ikm and label required */
	assert_int_equal(crypto_hkdf(ikm, sizeof(ikm), "x", big, sizeof(big)), 0);
	assert_int_equal(crypto_hkdf(ikm, sizeof(ikm), "x", big, sizeof(big) + 1), -EINVAL);
	assert_int_equal(crypto_hkdf(ikm, sizeof(ikm), "x", okm, 0), -EINVAL);
	assert_int_equal(crypto_hkdf(ikm, sizeof(ikm), NULL, okm, 16), -EINVAL);
	assert_int_equal(crypto_hkdf(ikm, 0, "x", okm, 16), -EINVAL);
	assert_int_equal(crypto_hkdf(NULL, 22, "x", okm, 16), -EINVAL);
	assert_int_equal(crypto_hkdf(ikm, sizeof(ikm), "x", NULL, 16), -EINVAL);
}

static void check_hmac(const uint8_t key[CRYPTO_KEY_LEN], const void *data, size_t n,
		       const char *hex)
{
	uint8_t mac[CRYPTO_MAC_LEN], want[CRYPTO_MAC_LEN];

	assert_int_equal(unhex(hex, want, sizeof(want)), CRYPTO_MAC_LEN);
	assert_int_equal(crypto_hmac(key, data, n, mac), 0);
	assert_memory_equal(mac, want, sizeof(want));
}

static void test_hmac(void **state)
{
	(void)state;
	uint8_t k[CRYPTO_KEY_LEN] = { 0 }, mac[CRYPTO_MAC_LEN];

	/* RFC 4231 cases 1 and 2. HMAC pads a short key with zeros to the block size, so the
	 * 20-byte and 4-byte keys zero-padded to 32 bytes give the published results. */
	memset(k, 0x0b, 20);
	check_hmac(k, "Hi There", 8,
		   "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	memset(k, 0, sizeof(k));
	memcpy(k, "Jefe", 4);
	check_hmac(k, "what do ya want for nothing?", 28,
		   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* A full 32-byte key: computed once with `printf 'vaultfs hmac test' | openssl dgst
	 * -sha256 -mac HMAC -macopt hexkey:000102..1f` and checked with Python's hmac module. */
	check_hmac(key1, "vaultfs hmac test", 17,
		   "c6fb4641e80fe74160c3319b58259e1f7087e7ee66080355710df7728ff496e9");
	/* Empty message, same origin (printf ''). */
	check_hmac(key1, NULL, 0,
		   "d38b42096d80f45f826b44a9d5607de72496a415d3f4a1a8c88e3bb9da8dc1cb");
	check_hmac(key1, "", 0, "d38b42096d80f45f826b44a9d5607de72496a415d3f4a1a8c88e3bb9da8dc1cb");

	assert_int_equal(crypto_hmac(NULL, "a", 1, mac), -EINVAL);
	assert_int_equal(crypto_hmac(key1, NULL, 1, mac), -EINVAL);
	assert_int_equal(crypto_hmac(key1, "a", 1, NULL), -EINVAL);
}

static void test_memeq(void **state)
{
	(void)state;
	uint8_t a[32], b[32];

	memset(a, 7, sizeof(a));
	memset(b, 7, sizeof(b));
	assert_int_equal(crypto_memeq(a, b, sizeof(a)), 1);
	b[31] = 8;
	assert_int_equal(crypto_memeq(a, b, sizeof(a)), 0);
	assert_int_equal(crypto_memeq(a, b, 31), 1);
	b[0] = 8;
	assert_int_equal(crypto_memeq(a, b, 1), 0);
	assert_int_equal(crypto_memeq(a, b, 0), 1);
}

/* The keyed context gives what the one-shot HMAC gives, message after message. */
static void test_mac_keyed(void **state)
{
	uint8_t key[CRYPTO_KEY_LEN], msg[300], want[CRYPTO_MAC_LEN], have[CRYPTO_MAC_LEN];
	struct crypto_mac *m = NULL, *unset = (struct crypto_mac *)0x1;

	(void)state;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 13 + 1);
	assert_int_equal(crypto_mac_new(key, &m), 0);
	for (size_t n = 0; n < sizeof(msg); n += 37) {
		for (size_t i = 0; i < n; i++)
			msg[i] = (uint8_t)(n + i);
		assert_int_equal(crypto_hmac(key, msg, n, want), 0);
		assert_int_equal(crypto_mac_compute(m, msg, n, have), 0);
		assert_memory_equal(have, want, sizeof(want));
	}
	assert_int_equal(crypto_mac_compute(m, NULL, 0, have), 0);
	assert_int_equal(crypto_hmac(key, NULL, 0, want), 0);
	assert_memory_equal(have, want, sizeof(want));
	assert_int_equal(crypto_mac_compute(m, NULL, 1, have), -EINVAL);
	assert_int_equal(crypto_mac_compute(NULL, msg, 1, have), -EINVAL);
	assert_int_equal(crypto_mac_new(NULL, &unset), -EINVAL);
	assert_ptr_equal(unset, (struct crypto_mac *)0x1);
	/* another key, another MAC */
	key[0] ^= 1;
	crypto_mac_free(m);
	assert_int_equal(crypto_mac_new(key, &m), 0);
	assert_int_equal(crypto_mac_compute(m, NULL, 0, have), 0);
	assert_memory_not_equal(have, want, sizeof(want));
	crypto_mac_free(m);
	crypto_mac_free(NULL);
}

/* An OpenSSL failure keeps OpenSSL's own words for the log line at the edge: in a library
 * context of this thread's with only the "null" provider, HKDF cannot be fetched. An AEAD tag
 * that does not verify stays a silent -EBADMSG: there is nothing of OpenSSL's to tell, and the
 * queue is left empty. */
static void test_openssl_words(void **state)
{
	uint8_t key[CRYPTO_KEY_LEN], out[32], ct[4 + CRYPTO_AEAD_OVERHEAD], pt[4];
	OSSL_LIB_CTX *empty, *was;
	OSSL_PROVIDER *null;

	(void)state;
	memset(key, 7, sizeof(key));
	assert_int_equal(crypto_aead_seal(key, "ad", 2, "abcd", 4, ct), 0);
	ct[sizeof(ct) - 1] ^= 1;
	log_foreign_clear();
	assert_int_equal(crypto_aead_open(key, "ad", 2, ct, sizeof(ct), pt), -EBADMSG);
	assert_string_equal(log_foreign_last(), "");
	assert_int_equal(ERR_peek_error(), 0);

	empty = OSSL_LIB_CTX_new();
	assert_non_null(empty);
	null = OSSL_PROVIDER_load(empty, "null");
	assert_non_null(null);
	was = OSSL_LIB_CTX_set0_default(empty);
	assert_int_equal(crypto_hkdf(key, sizeof(key), "label", out, sizeof(out)), -EIO);
	OSSL_LIB_CTX_set0_default(was);
	assert_non_null(strstr(log_foreign_last(), "openssl: "));
	assert_non_null(strstr(log_foreign_last(), "unsupported"));
	assert_int_equal(ERR_peek_error(), 0); /* the queue emptied */
	OSSL_PROVIDER_unload(null);
	OSSL_LIB_CTX_free(empty);
	log_foreign_clear();
	assert_int_equal(crypto_hkdf(key, sizeof(key), "label", out, sizeof(out)), 0);
	assert_string_equal(log_foreign_last(), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_keyed),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_aead_roundtrip),
		cmocka_unit_test(test_aead_empty),
		cmocka_unit_test(test_aead_fresh_nonce),
		cmocka_unit_test(test_aead_known_answer),
		cmocka_unit_test(test_aead_tamper),
		cmocka_unit_test(test_aead_wrong_aad_key),
		cmocka_unit_test(test_aead_truncated),
		cmocka_unit_test(test_aead_bad_args),
		cmocka_unit_test(test_aead_ctx_matches),
		cmocka_unit_test(test_aead_ctx_after_failure),
		cmocka_unit_test(test_wrap_unwrap),
		cmocka_unit_test(test_hkdf_rfc5869_case3),
		cmocka_unit_test(test_hkdf_label),
		cmocka_unit_test(test_hmac),
		cmocka_unit_test(test_memeq),
		cmocka_unit_test(test_openssl_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
