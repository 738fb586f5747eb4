/* test-key-soft.c: unit tests for the software keys (core/key-soft.h): generation of every
 * type; every type x every algorithm it supports signed and verified, a tampered signature or
 * digest refused with -EBADMSG, every algorithm it does not support refused; signatures checked
 * by the openssl CLI and the CLI's checked by key_verify; RSA-OAEP both ways with the CLI;
 * A256GCM against OpenSSL's EVP; the RFC 3394 §4.6 and RFC 5649 §6 vectors exactly; RFC 8037's
 * Ed25519 signature exactly; imports of keys made at run time by openssl and ssh-keygen, of JWKs
 * written here, and of malformed, encrypted and unsupported keys with their exact errors. Every
 * key is generated once per run (RSA 4096 is slow); the CLI runs in a mkdtemp directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/key-soft.h"
#include "core/key.h"
#include "core/secbuf.h"
#include "core/util.h"
#include "tests/unit/testlib.h"

/* What the tests share: one key of each type, its SPKI, and the temp dir. */
struct keys {
	char *dir;
	struct secbuf *mat[_KEY_TYPE_MAX];
	uint8_t spki[_KEY_TYPE_MAX][KEY_PUBLIC_DER_MAX];
	size_t spkilen[_KEY_TYPE_MAX];
};

static const char msg[] = "The quick brown fox jumps over the lazy dog";

static int setup(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -1;
	r = test_tmpdir(&k->dir);
	if (r < 0)
		return -1;
	for (unsigned t = 1; t < _KEY_TYPE_MAX; t++) {
		if (key_soft_generate((enum key_type)t, &k->mat[t]) < 0)
			return -1;
		k->spkilen[t] = sizeof(k->spki[t]);
		if (t != KEY_AES_256 &&
		    key_soft_public((enum key_type)t, k->mat[t], k->spki[t], &k->spkilen[t]) < 0)
			return -1;
	}
	*state = k;
	return 0;
}

static int teardown(void **state)
{
	struct keys *k = *state;

	for (unsigned t = 1; t < _KEY_TYPE_MAX; t++)
		secbuf_free(k->mat[t]);
	test_rmtree(k->dir);
	free(k->dir);
	free(k);
	return 0;
}

/* Run a shell command (in the test's temp dir, output dropped): its exit status. */
static int run(struct keys *k, const char *fmt, ...) _printf_(2, 3);
static int run(struct keys *k, const char *fmt, ...)
{
	char cmd[2048], full[2304];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(r > 0 && (size_t)r < sizeof(cmd));
	r = snprintf(full, sizeof(full), "cd '%s' && { %s; } >/dev/null 2>&1", k->dir, cmd);
	assert_true(r > 0 && (size_t)r < sizeof(full));
	r = system(full);
	assert_true(r >= 0 && WIFEXITED(r));
	return WEXITSTATUS(r);
}

static void path_of(struct keys *k, const char *name, char *buf, size_t size)
{
	int r = snprintf(buf, size, "%s/%s", k->dir, name);

	assert_true(r > 0 && (size_t)r < size);
}

static void put(struct keys *k, const char *name, const void *p, size_t n)
{
	char path[512];

	path_of(k, name, path, sizeof(path));
	test_write_file(path, p, n, 0600);
}

/* A file of the temp dir, whole, into a secbuf (it may be a private key). */
static struct secbuf *get(struct keys *k, const char *name)
{
	struct secbuf *b = NULL;
	uint8_t *data = NULL;
	size_t n = 0;
	char path[512];

	path_of(k, name, path, sizeof(path));
	assert_int_equal(test_read_file(path, &data, &n), 0);
	assert_int_equal(secbuf_dup(data, n > 0 ? n : 1, &b), 0);
	b->len = n;
	secure_wipe(data, n);
	free(data);
	return b;
}

static void put_pub_pem(struct keys *k, enum key_type t, const char *name)
{
	char *pem = NULL;

	assert_int_equal(key_public_pem(k->spki[t], k->spkilen[t], &pem), 0);
	put(k, name, pem, strlen(pem));
	free(pem);
}

static const char *md_name(enum key_alg a)
{
	size_t n = key_alg_digest_len(a);

	return n == 32 ? "sha256" : n == 48 ? "sha384" : "sha512";
}

/* What to sign for alg: the digest of msg, or msg itself for EdDSA. */
static size_t sign_input(enum key_alg a, uint8_t *out)
{
	size_t n = KEY_DIGEST_MAX;

	if (a == KEY_ALG_EDDSA) {
		memcpy(out, msg, strlen(msg));
		return strlen(msg);
	}
	assert_int_equal(key_digest(a, (const uint8_t *)msg, strlen(msg), out, &n), 0);
	assert_int_equal(n, key_alg_digest_len(a));
	return n;
}

static size_t ec_size(enum key_type t)
{
	return t == KEY_EC_P256 ? 32 : t == KEY_EC_P384 ? 48 : 66;
}

static size_t sig_size(enum key_type t)
{
	switch (t) {
	case KEY_RSA_2048:
		return 256;
	case KEY_RSA_3072:
		return 384;
	case KEY_RSA_4096:
		return 512;
	case KEY_ED25519:
		return 64;
	default:
		return 2 * ec_size(t);
	}
}

static void test_generate(void **state)
{
	struct keys *k = *state;
	struct secbuf *b = NULL, *c = NULL;

	for (unsigned t = 1; t < _KEY_TYPE_MAX; t++) {
		assert_non_null(k->mat[t]);
		assert_int_equal(key_soft_check((enum key_type)t, k->mat[t]), 0);
		/* material is not another type's */
		for (unsigned u = 1; u < _KEY_TYPE_MAX; u++)
			if (u != t && !(t == KEY_AES_256 || u == KEY_AES_256))
				assert_int_equal(key_soft_check((enum key_type)u, k->mat[t]),
						 -EINVAL);
	}
	assert_int_equal(k->mat[KEY_AES_256]->len, 32);
	assert_int_equal(key_soft_generate(KEY_AES_256, &b), 0);
	assert_memory_not_equal(b->data, k->mat[KEY_AES_256]->data, 32);
	secbuf_free(b);
	assert_int_equal(key_soft_generate(KEY_ED25519, &b), 0);
	assert_int_equal(key_soft_generate(KEY_ED25519, &c), 0);
	assert_int_equal(b->len, c->len);
	assert_memory_not_equal(b->data, c->data, b->len);
	secbuf_free(b);
	secbuf_free(c);
	b = NULL;
	assert_int_equal(key_soft_generate(KEY_TYPE_INVALID, &b), -EINVAL);
	assert_int_equal(key_soft_generate(_KEY_TYPE_MAX, &b), -EINVAL);
	assert_int_equal(key_soft_generate(KEY_EC_P256, NULL), -EINVAL);
	assert_null(b);
	/* an RSA key has e = 65537 */
	{
		const unsigned char *p = k->mat[KEY_RSA_2048]->data;
		EVP_PKEY *pk = d2i_AutoPrivateKey(NULL, &p, (long)k->mat[KEY_RSA_2048]->len);
		BIGNUM *e = NULL;

		assert_non_null(pk);
		assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e), 1);
		assert_int_equal(BN_get_word(e), 65537);
		BN_free(e);
		EVP_PKEY_free(pk);
	}
}

static void test_public(void **state)
{
	struct keys *k = *state;
	uint8_t spki[KEY_PUBLIC_DER_MAX];
	size_t len = sizeof(spki);
	char *pem = NULL;

	/* the sizes of SPKI DER: RSA by modulus, EC uncompressed points, Ed25519 */
	assert_int_equal(k->spkilen[KEY_RSA_2048], 294);
	assert_int_equal(k->spkilen[KEY_RSA_3072], 422);
	assert_int_equal(k->spkilen[KEY_RSA_4096], 550);
	assert_int_equal(k->spkilen[KEY_EC_P256], 91);
	assert_int_equal(k->spkilen[KEY_EC_P384], 120);
	assert_int_equal(k->spkilen[KEY_EC_P521], 158);
	assert_int_equal(k->spkilen[KEY_ED25519], 44);
	assert_int_equal(key_soft_public(KEY_AES_256, k->mat[KEY_AES_256], spki, &len),
			 -EOPNOTSUPP);
	len = 90;
	assert_int_equal(key_soft_public(KEY_EC_P256, k->mat[KEY_EC_P256], spki, &len), -ENOBUFS);
	assert_int_equal(len, 90);
	len = 91;
	assert_int_equal(key_soft_public(KEY_EC_P256, k->mat[KEY_EC_P256], spki, &len), 0);
	assert_memory_equal(spki, k->spki[KEY_EC_P256], 91);
	assert_int_equal(key_soft_public(KEY_EC_P384, k->mat[KEY_EC_P256], spki, &len), -EINVAL);

	/* PEM: the openssl CLI reads it back to the same DER, for every type */
	for (unsigned t = 1; t < KEY_AES_256; t++) {
		struct secbuf *der;

		put_pub_pem(k, (enum key_type)t, "pub.pem");
		assert_int_equal(
			run(k, "openssl pkey -pubin -in pub.pem -outform DER -out pub.der"), 0);
		der = get(k, "pub.der");
		assert_int_equal(der->len, k->spkilen[t]);
		assert_memory_equal(der->data, k->spki[t], der->len);
		secbuf_free(der);
	}
	assert_int_equal(key_public_pem(k->spki[KEY_ED25519], k->spkilen[KEY_ED25519], &pem), 0);
	/* Ed25519's SPKI is 12 fixed bytes and the key: 60 characters, one line */
	assert_int_equal(strlen(pem), 27 + 61 + 25);
	assert_memory_equal(pem, "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA", 43);
	assert_string_equal(pem + 27 + 61, "-----END PUBLIC KEY-----\n");
	free(pem);
}

static void test_public_pem_errors(void **state)
{
	struct keys *k = *state;
	uint8_t bad[KEY_PUBLIC_DER_MAX + 1] = { 0 };
	char *pem = (char *)"untouched";

	assert_int_equal(key_public_pem(bad, 44, &pem), -EINVAL);
	assert_int_equal(key_public_pem(bad, sizeof(bad), &pem), -EMSGSIZE);
	assert_int_equal(key_public_pem(NULL, 44, &pem), -EINVAL);
	/* a DER public key with a byte more after it */
	memcpy(bad, k->spki[KEY_ED25519], 44);
	assert_int_equal(key_public_pem(bad, 45, &pem), -EINVAL);
	assert_int_equal(key_public_pem(bad, 43, &pem), -EINVAL);
	assert_string_equal(pem, "untouched");
}

static void test_digest(void **state)
{
	(void)state;
	uint8_t out[KEY_DIGEST_MAX];
	size_t n = sizeof(out);
	static const uint8_t sha256_abc[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
		0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
		0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	static const uint8_t sha384_abc_head[8] = {
		0xcb, 0x00, 0x75, 0x3f, 0x45, 0xa3, 0x5e, 0x8b
	};
	static const uint8_t sha512_abc_head[8] = {
		0xdd, 0xaf, 0x35, 0xa1, 0x93, 0x61, 0x7a, 0xba
	};
	uint8_t *big = calloc(1, KEY_INPUT_MAX + 1);

	assert_int_equal(key_digest(KEY_ALG_ES256, (const uint8_t *)"abc", 3, out, &n), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(out, sha256_abc, 32);
	n = sizeof(out);
	assert_int_equal(key_digest(KEY_ALG_PS384, (const uint8_t *)"abc", 3, out, &n), 0);
	assert_int_equal(n, 48);
	assert_memory_equal(out, sha384_abc_head, 8);
	n = sizeof(out);
	assert_int_equal(key_digest(KEY_ALG_RS512, (const uint8_t *)"abc", 3, out, &n), 0);
	assert_int_equal(n, 64);
	assert_memory_equal(out, sha512_abc_head, 8);
	n = sizeof(out);
	assert_int_equal(key_digest(KEY_ALG_RS256, NULL, 0, out, &n), 0);
	assert_int_equal(n, 32);
	n = sizeof(out);
	assert_int_equal(key_digest(KEY_ALG_RS256, big, KEY_INPUT_MAX, out, &n), 0);
	n = sizeof(out);
	assert_int_equal(key_digest(KEY_ALG_RS256, big, KEY_INPUT_MAX + 1, out, &n), -EMSGSIZE);
	assert_int_equal(key_digest(KEY_ALG_EDDSA, big, 3, out, &n), -EOPNOTSUPP);
	assert_int_equal(key_digest(KEY_ALG_RSA_OAEP_256, big, 3, out, &n), -EOPNOTSUPP);
	assert_int_equal(key_digest(KEY_ALG_A256KW, big, 3, out, &n), -EOPNOTSUPP);
	assert_int_equal(key_digest(KEY_ALG_INVALID, big, 3, out, &n), -EINVAL);
	assert_int_equal(key_digest(_KEY_ALG_MAX, big, 3, out, &n), -EINVAL);
	n = 47;
	assert_int_equal(key_digest(KEY_ALG_ES384, big, 3, out, &n), -ENOBUFS);
	assert_int_equal(n, 47);
	free(big);
}

/* Sign and verify with every algorithm type t supports, the refusals of those it does not. */
static void sign_verify_type(struct keys *k, enum key_type t)
{
	unsigned done = 0;

	for (unsigned a = 1; a < _KEY_ALG_MAX; a++) {
		enum key_alg alg = (enum key_alg)a;
		uint8_t in[128], sig[KEY_SIG_MAX], sig2[KEY_SIG_MAX];
		size_t n, siglen = sizeof(sig), siglen2 = sizeof(sig2);

		if (key_alg_check(t, KEY_OP_SIGN, alg) < 0) {
			memset(in, 1, sizeof(in));
			n = key_alg_digest_len(alg) ? key_alg_digest_len(alg) : 10;
			assert_int_equal(key_soft_sign(t, k->mat[t], alg, in, n, sig, &siglen),
					 -EOPNOTSUPP);
			assert_int_equal(siglen, sizeof(sig));
			assert_int_equal(
				key_verify(t, k->spki[t], k->spkilen[t], alg, in, n, sig, 64),
				-EOPNOTSUPP);
			continue;
		}
		done++;
		n = sign_input(alg, in);
		assert_int_equal(key_soft_sign(t, k->mat[t], alg, in, n, sig, &siglen), 0);
		assert_int_equal(siglen, sig_size(t));
		assert_int_equal(key_verify(t, k->spki[t], k->spkilen[t], alg, in, n, sig, siglen),
				 0);
		/* PKCS#1 v1.5 and Ed25519 are deterministic; PSS and ECDSA are not */
		assert_int_equal(key_soft_sign(t, k->mat[t], alg, in, n, sig2, &siglen2), 0);
		assert_int_equal(siglen2, siglen);
		if ((alg >= KEY_ALG_RS256 && alg <= KEY_ALG_RS512) || alg == KEY_ALG_EDDSA)
			assert_memory_equal(sig, sig2, siglen);
		else
			assert_memory_not_equal(sig, sig2, siglen);
		/* a tampered signature, first and last byte */
		sig[0] ^= 0x01;
		assert_int_equal(key_verify(t, k->spki[t], k->spkilen[t], alg, in, n, sig, siglen),
				 -EBADMSG);
		sig[0] ^= 0x01;
		sig[siglen - 1] ^= 0x80;
		assert_int_equal(key_verify(t, k->spki[t], k->spkilen[t], alg, in, n, sig, siglen),
				 -EBADMSG);
		sig[siglen - 1] ^= 0x80;
		assert_int_equal(ERR_peek_error(), 0);
		/* another digest or message */
		in[3] ^= 0x10;
		assert_int_equal(key_verify(t, k->spki[t], k->spkilen[t], alg, in, n, sig, siglen),
				 -EBADMSG);
		in[3] ^= 0x10;
		/* a signature cut short or too long */
		assert_int_equal(
			key_verify(t, k->spki[t], k->spkilen[t], alg, in, n, sig, siglen - 1),
			-EBADMSG);
		assert_int_equal(
			key_verify(t, k->spki[t], k->spkilen[t], alg, in, n, sig, siglen + 1),
			-EBADMSG);
		assert_int_equal(key_verify(t, k->spki[t], k->spkilen[t], alg, in, n, sig, 0),
				 -EBADMSG);
		assert_int_equal(
			key_verify(t, k->spki[t], k->spkilen[t], alg, in, n, sig, KEY_SIG_MAX + 1),
			-EMSGSIZE);
		assert_int_equal(key_verify(t, k->spki[t], k->spkilen[t], alg, in, n, sig, siglen),
				 0);
		if (alg != KEY_ALG_EDDSA) {
			/* a digest of the wrong length */
			siglen2 = sizeof(sig2);
			assert_int_equal(
				key_soft_sign(t, k->mat[t], alg, in, n - 1, sig2, &siglen2),
				-EINVAL);
			assert_int_equal(
				key_soft_sign(t, k->mat[t], alg, in, n + 1, sig2, &siglen2),
				-EINVAL);
			assert_int_equal(key_verify(t, k->spki[t], k->spkilen[t], alg, in, n + 1,
						    sig, siglen),
					 -EINVAL);
		}
		/* an output buffer too small */
		siglen2 = sig_size(t) - 1;
		assert_int_equal(key_soft_sign(t, k->mat[t], alg, in, n, sig2, &siglen2), -ENOBUFS);
		assert_int_equal(siglen2, sig_size(t) - 1);
	}
	assert_int_equal(done, key_type_is_rsa(t) ? 6 : t == KEY_AES_256 ? 0 : 1);
}

static void test_sign_verify(void **state)
{
	struct keys *k = *state;

	for (unsigned t = 1; t < _KEY_TYPE_MAX; t++)
		sign_verify_type(k, (enum key_type)t);
}

static void test_sign_errors(void **state)
{
	struct keys *k = *state;
	uint8_t in[64] = { 0 }, sig[KEY_SIG_MAX];
	size_t siglen = sizeof(sig);
	uint8_t *big = calloc(1, KEY_INPUT_MAX + 1);
	struct secbuf *other = NULL;

	/* material of another type, or not a key at all */
	assert_int_equal(key_soft_sign(KEY_EC_P256, k->mat[KEY_EC_P384], KEY_ALG_ES256, in, 32, sig,
				       &siglen),
			 -EINVAL);
	assert_int_equal(key_soft_sign(KEY_EC_P256, k->mat[KEY_AES_256], KEY_ALG_ES256, in, 32, sig,
				       &siglen),
			 -EINVAL);
	assert_int_equal(key_soft_sign(KEY_EC_P256, NULL, KEY_ALG_ES256, in, 32, sig, &siglen),
			 -EINVAL);
	assert_int_equal(key_soft_sign(KEY_AES_256, k->mat[KEY_AES_256], KEY_ALG_ES256, in, 32, sig,
				       &siglen),
			 -EOPNOTSUPP);
	assert_int_equal(key_soft_sign(KEY_EC_P256, k->mat[KEY_EC_P256], KEY_ALG_INVALID, in, 32,
				       sig, &siglen),
			 -EINVAL);
	/* EdDSA signs up to KEY_INPUT_MAX bytes of message, and an empty one */
	assert_int_equal(key_soft_sign(KEY_ED25519, k->mat[KEY_ED25519], KEY_ALG_EDDSA, big,
				       KEY_INPUT_MAX, sig, &siglen),
			 0);
	assert_int_equal(key_verify(KEY_ED25519, k->spki[KEY_ED25519], k->spkilen[KEY_ED25519],
				    KEY_ALG_EDDSA, big, KEY_INPUT_MAX, sig, siglen),
			 0);
	assert_int_equal(key_soft_sign(KEY_ED25519, k->mat[KEY_ED25519], KEY_ALG_EDDSA, big,
				       KEY_INPUT_MAX + 1, sig, &siglen),
			 -EMSGSIZE);
	assert_int_equal(key_verify(KEY_ED25519, k->spki[KEY_ED25519], k->spkilen[KEY_ED25519],
				    KEY_ALG_EDDSA, big, KEY_INPUT_MAX + 1, sig, siglen),
			 -EMSGSIZE);
	siglen = sizeof(sig);
	assert_int_equal(key_soft_sign(KEY_ED25519, k->mat[KEY_ED25519], KEY_ALG_EDDSA, NULL, 0,
				       sig, &siglen),
			 0);
	assert_int_equal(key_verify(KEY_ED25519, k->spki[KEY_ED25519], k->spkilen[KEY_ED25519],
				    KEY_ALG_EDDSA, NULL, 0, sig, siglen),
			 0);
	/* an SPKI of another type, a cut one, garbage */
	assert_int_equal(key_verify(KEY_EC_P256, k->spki[KEY_EC_P384], k->spkilen[KEY_EC_P384],
				    KEY_ALG_ES256, in, 32, sig, 64),
			 -EINVAL);
	assert_int_equal(
		key_verify(KEY_EC_P256, k->spki[KEY_EC_P256], 90, KEY_ALG_ES256, in, 32, sig, 64),
		-EINVAL);
	assert_int_equal(key_verify(KEY_EC_P256, in, sizeof(in), KEY_ALG_ES256, in, 32, sig, 64),
			 -EINVAL);
	assert_int_equal(key_verify(KEY_EC_P256, k->spki[KEY_EC_P256], KEY_PUBLIC_DER_MAX + 1,
				    KEY_ALG_ES256, in, 32, sig, 64),
			 -EMSGSIZE);
	/* a good signature under another key of the same type */
	assert_int_equal(key_soft_generate(KEY_EC_P256, &other), 0);
	siglen = sizeof(sig);
	assert_int_equal(key_soft_sign(KEY_EC_P256, other, KEY_ALG_ES256, in, 32, sig, &siglen), 0);
	assert_int_equal(key_verify(KEY_EC_P256, k->spki[KEY_EC_P256], k->spkilen[KEY_EC_P256],
				    KEY_ALG_ES256, in, 32, sig, siglen),
			 -EBADMSG);
	secbuf_free(other);
	/* RS256's signature is not PS256's */
	siglen = sizeof(sig);
	assert_int_equal(key_soft_sign(KEY_RSA_2048, k->mat[KEY_RSA_2048], KEY_ALG_RS256, in, 32,
				       sig, &siglen),
			 0);
	assert_int_equal(key_verify(KEY_RSA_2048, k->spki[KEY_RSA_2048], k->spkilen[KEY_RSA_2048],
				    KEY_ALG_PS256, in, 32, sig, siglen),
			 -EBADMSG);
	free(big);
	assert_int_equal(ERR_peek_error(), 0);
}

/* r || s as DER, for the openssl CLI. */
static size_t jws_to_der(const uint8_t *sig, size_t c, uint8_t *der)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	unsigned char *q = der;
	int len;

	assert_int_equal(
		ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)c, NULL), BN_bin2bn(sig + c, (int)c, NULL)),
		1);
	len = i2d_ECDSA_SIG(es, &q);
	assert_true(len > 0);
	ECDSA_SIG_free(es);
	return (size_t)len;
}

static size_t der_to_jws(const uint8_t *der, size_t n, size_t c, uint8_t *sig)
{
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
	const BIGNUM *r, *s;

	assert_non_null(es);
	ECDSA_SIG_get0(es, &r, &s);
	assert_int_equal(BN_bn2binpad(r, sig, (int)c), (int)c);
	assert_int_equal(BN_bn2binpad(s, sig + c, (int)c), (int)c);
	ECDSA_SIG_free(es);
	return 2 * c;
}

/* The -pkeyopt options of openssl pkeyutl for alg. */
static void pkeyopts(enum key_alg a, char *buf, size_t size)
{
	const char *md = md_name(a);

	if (a >= KEY_ALG_PS256 && a <= KEY_ALG_PS512)
		snprintf(buf, size,
			 "-pkeyopt digest:%s -pkeyopt rsa_padding_mode:pss "
			 "-pkeyopt rsa_pss_saltlen:digest -pkeyopt rsa_mgf1_md:%s",
			 md, md);
	else if (a >= KEY_ALG_RS256 && a <= KEY_ALG_RS512)
		snprintf(buf, size, "-pkeyopt digest:%s -pkeyopt rsa_padding_mode:pkcs1", md);
	else if (a == KEY_ALG_EDDSA)
		snprintf(buf, size, "-rawin");
	else
		snprintf(buf, size, "-pkeyopt digest:%s", md);
}

/* Every signature verifies with openssl pkeyutl against the PEM public key, and a tampered one
 * does not; openssl's signature with our material verifies with key_verify. */
static void test_sign_openssl(void **state)
{
	struct keys *k = *state;
	unsigned checked = 0;

	for (unsigned t = 1; t < KEY_AES_256; t++) {
		put_pub_pem(k, (enum key_type)t, "pub.pem");
		put(k, "priv.der", k->mat[t]->data, k->mat[t]->len);
		for (unsigned a = 1; a < _KEY_ALG_MAX; a++) {
			enum key_alg alg = (enum key_alg)a;
			uint8_t in[128], sig[KEY_SIG_MAX], der[KEY_SIG_MAX];
			size_t n, siglen = sizeof(sig), derlen;
			char opts[256];
			struct secbuf *got;

			if (key_alg_check((enum key_type)t, KEY_OP_SIGN, alg) < 0)
				continue;
			pkeyopts(alg, opts, sizeof(opts));
			n = sign_input(alg, in);
			put(k, "in.bin", in, n);
			assert_int_equal(key_soft_sign((enum key_type)t, k->mat[t], alg, in, n, sig,
						       &siglen),
					 0);
			derlen = siglen;
			if (key_type_is_ec((enum key_type)t))
				derlen = jws_to_der(sig, ec_size((enum key_type)t), der);
			else
				memcpy(der, sig, siglen);
			put(k, "sig.bin", der, derlen);
			assert_int_equal(run(k,
					     "openssl pkeyutl -verify -pubin -inkey pub.pem "
					     "-in in.bin -sigfile sig.bin %s",
					     opts),
					 0);
			der[derlen / 2] ^= 0x04;
			put(k, "sig.bin", der, derlen);
			assert_int_equal(run(k,
					     "openssl pkeyutl -verify -pubin -inkey pub.pem "
					     "-in in.bin -sigfile sig.bin %s",
					     opts),
					 1);
			/* the other way: openssl signs with the material */
			assert_int_equal(run(k,
					     "openssl pkeyutl -sign -inkey priv.der -keyform DER "
					     "-in in.bin -out osig.bin %s",
					     opts),
					 0);
			got = get(k, "osig.bin");
			if (key_type_is_ec((enum key_type)t))
				siglen = der_to_jws(got->data, got->len, ec_size((enum key_type)t),
						    sig);
			else {
				siglen = got->len;
				memcpy(sig, got->data, siglen);
			}
			secbuf_free(got);
			assert_int_equal(key_verify((enum key_type)t, k->spki[t], k->spkilen[t],
						    alg, in, n, sig, siglen),
					 0);
			checked++;
		}
	}
	assert_int_equal(checked, 3 * 6 + 3 + 1);
}

/* RFC 8037 A.1 and A.4: the Ed25519 JWK and its signature of the JWS signing input. */
static void test_ed25519_rfc8037(void **state)
{
	(void)state;
	static const char jwk[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
				  "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
				  "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
	static const char input[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
	/* hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg */
	static const uint8_t want[64] = {
		0x86, 0x0c, 0x98, 0xd2, 0x29, 0x7f, 0x30, 0x60, 0xa3, 0x3f, 0x42, 0x73, 0x96,
		0x72, 0xd6, 0x1b, 0x53, 0xcf, 0x3a, 0xde, 0xfe, 0xd3, 0xd3, 0xc6, 0x72, 0xf3,
		0x20, 0xdc, 0x02, 0x1b, 0x41, 0x1e, 0x9d, 0x59, 0xb8, 0x62, 0x8d, 0xc3, 0x51,
		0xe2, 0x48, 0xb8, 0x8b, 0x29, 0x46, 0x8e, 0x0e, 0x41, 0x85, 0x5b, 0x0f, 0xb7,
		0xd8, 0x3b, 0xb1, 0x5b, 0xe9, 0x02, 0xbf, 0xcc, 0xb8, 0xcd, 0x0a, 0x02,
	};
	struct secbuf *m = NULL;
	enum key_type t = KEY_TYPE_INVALID;
	uint8_t sig[KEY_SIG_MAX], spki[KEY_PUBLIC_DER_MAX];
	size_t siglen = sizeof(sig), len = sizeof(spki);

	assert_int_equal(key_soft_import((const uint8_t *)jwk, strlen(jwk), &t, &m), 0);
	assert_int_equal(t, KEY_ED25519);
	assert_int_equal(key_soft_sign(t, m, KEY_ALG_EDDSA, (const uint8_t *)input, strlen(input),
				       sig, &siglen),
			 0);
	assert_int_equal(siglen, 64);
	assert_memory_equal(sig, want, 64);
	assert_int_equal(key_soft_public(t, m, spki, &len), 0);
	assert_int_equal(key_verify(t, spki, len, KEY_ALG_EDDSA, (const uint8_t *)input,
				    strlen(input), want, 64),
			 0);
	secbuf_free(m);
}

static size_t rsa_size(enum key_type t)
{
	return t == KEY_RSA_2048 ? 256 : t == KEY_RSA_3072 ? 384 : 512;
}

static void test_rsa_oaep(void **state)
{
	struct keys *k = *state;
	uint8_t pt[512], ct[KEY_SIG_MAX];

	test_fill(pt, sizeof(pt), 7);
	for (enum key_type t = KEY_RSA_2048; t <= KEY_RSA_4096; t++) {
		size_t max = rsa_size(t) - 66, len = sizeof(ct);
		struct secbuf *back = NULL;

		/* with the material, and with the public key only */
		assert_int_equal(key_soft_encrypt(t, k->mat[t], KEY_ALG_RSA_OAEP_256, NULL, 0, pt,
						  max, ct, &len),
				 0);
		assert_int_equal(len, rsa_size(t));
		assert_int_equal(key_soft_decrypt(t, k->mat[t], KEY_ALG_RSA_OAEP_256, NULL, 0, ct,
						  len, &back),
				 0);
		assert_int_equal(back->len, max);
		assert_memory_equal(back->data, pt, max);
		secbuf_free(back);
		back = NULL;
		len = sizeof(ct);
		assert_int_equal(key_public_encrypt(t, k->spki[t], k->spkilen[t], KEY_OP_ENCRYPT,
						    KEY_ALG_RSA_OAEP_256, pt, 10, ct, &len),
				 0);
		assert_int_equal(key_soft_decrypt(t, k->mat[t], KEY_ALG_RSA_OAEP_256, NULL, 0, ct,
						  len, &back),
				 0);
		assert_int_equal(back->len, 10);
		assert_memory_equal(back->data, pt, 10);
		secbuf_free(back);
		back = NULL;
		/* the SHA-1 variant does not decrypt a SHA-256 ciphertext */
		assert_int_equal(
			key_soft_decrypt(t, k->mat[t], KEY_ALG_RSA_OAEP, NULL, 0, ct, len, &back),
			-EBADMSG);
		/* tampered, cut, too long */
		ct[len / 2] ^= 1;
		assert_int_equal(key_soft_decrypt(t, k->mat[t], KEY_ALG_RSA_OAEP_256, NULL, 0, ct,
						  len, &back),
				 -EBADMSG);
		assert_int_equal(key_soft_decrypt(t, k->mat[t], KEY_ALG_RSA_OAEP_256, NULL, 0, ct,
						  len - 1, &back),
				 -EINVAL);
		assert_int_equal(key_soft_decrypt(t, k->mat[t], KEY_ALG_RSA_OAEP_256, NULL, 0, ct,
						  len + 1, &back),
				 -EINVAL);
		assert_null(back);
		/* one byte over what OAEP-256 can carry */
		len = sizeof(ct);
		assert_int_equal(key_soft_encrypt(t, k->mat[t], KEY_ALG_RSA_OAEP_256, NULL, 0, pt,
						  max + 1, ct, &len),
				 -EMSGSIZE);
		assert_int_equal(key_public_encrypt(t, k->spki[t], k->spkilen[t], KEY_OP_ENCRYPT,
						    KEY_ALG_RSA_OAEP_256, pt, max + 1, ct, &len),
				 -EMSGSIZE);
		/* output too small */
		len = rsa_size(t) - 1;
		assert_int_equal(key_soft_encrypt(t, k->mat[t], KEY_ALG_RSA_OAEP_256, NULL, 0, pt,
						  10, ct, &len),
				 -ENOBUFS);
		/* SHA-1 OAEP is for decrypting old data only; RSA has no AAD and no GCM */
		len = sizeof(ct);
		assert_int_equal(
			key_soft_encrypt(t, k->mat[t], KEY_ALG_RSA_OAEP, NULL, 0, pt, 10, ct, &len),
			-EOPNOTSUPP);
		assert_int_equal(key_public_encrypt(t, k->spki[t], k->spkilen[t], KEY_OP_ENCRYPT,
						    KEY_ALG_RSA_OAEP, pt, 10, ct, &len),
				 -EOPNOTSUPP);
		assert_int_equal(
			key_soft_encrypt(t, k->mat[t], KEY_ALG_A256GCM, NULL, 0, pt, 10, ct, &len),
			-EOPNOTSUPP);
		assert_int_equal(key_soft_encrypt(t, k->mat[t], KEY_ALG_RSA_OAEP_256,
						  (const uint8_t *)"ad", 2, pt, 10, ct, &len),
				 -EINVAL);
	}
	/* not for EC, Ed25519 */
	{
		uint8_t out[600];
		size_t len = sizeof(out);

		assert_int_equal(key_public_encrypt(KEY_EC_P256, k->spki[KEY_EC_P256],
						    k->spkilen[KEY_EC_P256], KEY_OP_ENCRYPT,
						    KEY_ALG_RSA_OAEP_256, pt, 10, out, &len),
				 -EOPNOTSUPP);
		assert_int_equal(key_soft_encrypt(KEY_ED25519, k->mat[KEY_ED25519],
						  KEY_ALG_RSA_OAEP_256, NULL, 0, pt, 10, out, &len),
				 -EOPNOTSUPP);
		/* an SPKI of another RSA size */
		assert_int_equal(key_public_encrypt(KEY_RSA_2048, k->spki[KEY_RSA_3072],
						    k->spkilen[KEY_RSA_3072], KEY_OP_ENCRYPT,
						    KEY_ALG_RSA_OAEP_256, pt, 10, out, &len),
				 -EINVAL);
		assert_int_equal(key_public_encrypt(KEY_RSA_2048, k->spki[KEY_RSA_2048],
						    k->spkilen[KEY_RSA_2048], KEY_OP_SIGN,
						    KEY_ALG_RSA_OAEP_256, pt, 10, out, &len),
				 -EINVAL);
	}
	assert_int_equal(ERR_peek_error(), 0);
}

/* The openssl CLI encrypts with the PEM public key (OAEP SHA-256, and SHA-1: the CLI's
 * default), key_soft_decrypt decrypts; and the other way. */
static void test_rsa_oaep_openssl(void **state)
{
	struct keys *k = *state;
	uint8_t pt[100];

	test_fill(pt, sizeof(pt), 3);
	put(k, "pt.bin", pt, sizeof(pt));
	for (enum key_type t = KEY_RSA_2048; t <= KEY_RSA_4096; t++) {
		struct secbuf *ct, *back = NULL;
		uint8_t out[KEY_SIG_MAX];
		size_t len = sizeof(out);

		put_pub_pem(k, t, "pub.pem");
		put(k, "priv.der", k->mat[t]->data, k->mat[t]->len);
		assert_int_equal(run(k, "openssl pkeyutl -encrypt -pubin -inkey pub.pem -in pt.bin "
					"-out ct.bin -pkeyopt rsa_padding_mode:oaep "
					"-pkeyopt rsa_oaep_md:sha256"),
				 0);
		ct = get(k, "ct.bin");
		assert_int_equal(key_soft_decrypt(t, k->mat[t], KEY_ALG_RSA_OAEP_256, NULL, 0,
						  ct->data, ct->len, &back),
				 0);
		assert_int_equal(back->len, sizeof(pt));
		assert_memory_equal(back->data, pt, sizeof(pt));
		secbuf_free(back);
		back = NULL;
		secbuf_free(ct);
		assert_int_equal(run(k, "openssl pkeyutl -encrypt -pubin -inkey pub.pem -in pt.bin "
					"-out ct.bin -pkeyopt rsa_padding_mode:oaep"),
				 0);
		ct = get(k, "ct.bin");
		assert_int_equal(key_soft_decrypt(t, k->mat[t], KEY_ALG_RSA_OAEP_256, NULL, 0,
						  ct->data, ct->len, &back),
				 -EBADMSG);
		assert_int_equal(key_soft_decrypt(t, k->mat[t], KEY_ALG_RSA_OAEP, NULL, 0, ct->data,
						  ct->len, &back),
				 0);
		assert_memory_equal(back->data, pt, sizeof(pt));
		secbuf_free(back);
		secbuf_free(ct);
		/* ours to openssl */
		assert_int_equal(key_public_encrypt(t, k->spki[t], k->spkilen[t], KEY_OP_ENCRYPT,
						    KEY_ALG_RSA_OAEP_256, pt, sizeof(pt), out,
						    &len),
				 0);
		put(k, "ct.bin", out, len);
		assert_int_equal(run(k, "openssl pkeyutl -decrypt -inkey priv.der -keyform DER "
					"-in ct.bin -out back.bin -pkeyopt rsa_padding_mode:oaep "
					"-pkeyopt rsa_oaep_md:sha256"),
				 0);
		back = get(k, "back.bin");
		assert_int_equal(back->len, sizeof(pt));
		assert_memory_equal(back->data, pt, sizeof(pt));
		secbuf_free(back);
	}
}

/* AES-256-GCM of iv || ct || tag, opened with OpenSSL's EVP directly: 1 good, 0 not. */
static int evp_gcm_open(const uint8_t *key, const uint8_t *aad, size_t aadlen, const uint8_t *in,
			size_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, ok;

	assert_non_null(ctx);
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in) == 1 &&
	     (aadlen == 0 || EVP_DecryptUpdate(ctx, NULL, &len, aad, (int)aadlen) == 1) &&
	     EVP_DecryptUpdate(ctx, out, &len, in + 12, (int)(n - 28)) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)(in + n - 16)) == 1 &&
	     EVP_DecryptFinal_ex(ctx, out + len, &len) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

static void test_gcm(void **state)
{
	struct keys *k = *state;
	const struct secbuf *m = k->mat[KEY_AES_256];
	uint8_t *pt = malloc(KEY_INPUT_MAX + 1), *ct = malloc(KEY_CIPHERTEXT_MAX + 1);
	uint8_t aad[KEY_AAD_MAX + 1], back[100];
	size_t len = KEY_CIPHERTEXT_MAX + 1;
	struct secbuf *b = NULL;

	test_fill(pt, KEY_INPUT_MAX + 1, 11);
	test_fill(aad, sizeof(aad), 12);
	assert_int_equal(
		key_soft_encrypt(KEY_AES_256, m, KEY_ALG_A256GCM, aad, 20, pt, 100, ct, &len), 0);
	assert_int_equal(len, 100 + 28);
	assert_int_equal(evp_gcm_open(m->data, aad, 20, ct, len, back), 1);
	assert_memory_equal(back, pt, 100);
	assert_int_equal(key_soft_decrypt(KEY_AES_256, m, KEY_ALG_A256GCM, aad, 20, ct, len, &b),
			 0);
	assert_int_equal(b->len, 100);
	assert_memory_equal(b->data, pt, 100);
	secbuf_free(b);
	b = NULL;
	/* another AAD, none, a tampered IV, ciphertext or tag */
	assert_int_equal(key_soft_decrypt(KEY_AES_256, m, KEY_ALG_A256GCM, aad, 19, ct, len, &b),
			 -EBADMSG);
	assert_int_equal(key_soft_decrypt(KEY_AES_256, m, KEY_ALG_A256GCM, NULL, 0, ct, len, &b),
			 -EBADMSG);
	for (size_t i = 0; i < 3; i++) {
		size_t at = i == 0 ? 0 : i == 1 ? 50 : len - 1;

		ct[at] ^= 0x20;
		assert_int_equal(
			key_soft_decrypt(KEY_AES_256, m, KEY_ALG_A256GCM, aad, 20, ct, len, &b),
			-EBADMSG);
		ct[at] ^= 0x20;
	}
	/* shorter than IV and tag; one byte cut */
	assert_int_equal(key_soft_decrypt(KEY_AES_256, m, KEY_ALG_A256GCM, aad, 20, ct, 27, &b),
			 -EINVAL);
	assert_int_equal(
		key_soft_decrypt(KEY_AES_256, m, KEY_ALG_A256GCM, aad, 20, ct, len - 1, &b),
		-EBADMSG);
	assert_null(b);
	/* two encryptions differ (fresh IV) */
	{
		uint8_t ct2[128];
		size_t len2 = sizeof(ct2);

		assert_int_equal(key_soft_encrypt(KEY_AES_256, m, KEY_ALG_A256GCM, aad, 20, pt, 100,
						  ct2, &len2),
				 0);
		assert_memory_not_equal(ct, ct2, 12);
	}
	/* empty plaintext */
	len = 28;
	assert_int_equal(
		key_soft_encrypt(KEY_AES_256, m, KEY_ALG_A256GCM, NULL, 0, NULL, 0, ct, &len), 0);
	assert_int_equal(len, 28);
	assert_int_equal(key_soft_decrypt(KEY_AES_256, m, KEY_ALG_A256GCM, NULL, 0, ct, 28, &b), 0);
	assert_int_equal(b->len, 0);
	secbuf_free(b);
	b = NULL;
	/* caps: input, AAD; the largest of each works */
	len = KEY_CIPHERTEXT_MAX + 1;
	assert_int_equal(key_soft_encrypt(KEY_AES_256, m, KEY_ALG_A256GCM, aad, KEY_AAD_MAX, pt,
					  KEY_INPUT_MAX, ct, &len),
			 0);
	assert_int_equal(len, KEY_CIPHERTEXT_MAX);
	assert_int_equal(
		key_soft_decrypt(KEY_AES_256, m, KEY_ALG_A256GCM, aad, KEY_AAD_MAX, ct, len, &b),
		0);
	assert_int_equal(b->len, KEY_INPUT_MAX);
	assert_memory_equal(b->data, pt, KEY_INPUT_MAX);
	secbuf_free(b);
	b = NULL;
	len = KEY_CIPHERTEXT_MAX + 1;
	assert_int_equal(key_soft_encrypt(KEY_AES_256, m, KEY_ALG_A256GCM, aad, KEY_AAD_MAX + 1, pt,
					  10, ct, &len),
			 -EMSGSIZE);
	assert_int_equal(key_soft_encrypt(KEY_AES_256, m, KEY_ALG_A256GCM, aad, 0, pt,
					  KEY_INPUT_MAX + 1, ct, &len),
			 -EMSGSIZE);
	assert_int_equal(key_soft_decrypt(KEY_AES_256, m, KEY_ALG_A256GCM, aad, 0, ct,
					  KEY_CIPHERTEXT_MAX + 1, &b),
			 -EMSGSIZE);
	assert_int_equal(key_soft_decrypt(KEY_AES_256, m, KEY_ALG_A256GCM, aad, KEY_AAD_MAX + 1, ct,
					  100, &b),
			 -EMSGSIZE);
	len = 100 + 27;
	assert_int_equal(
		key_soft_encrypt(KEY_AES_256, m, KEY_ALG_A256GCM, NULL, 0, pt, 100, ct, &len),
		-ENOBUFS);
	/* wrong algorithms for AES; a key of the wrong length */
	len = KEY_CIPHERTEXT_MAX;
	assert_int_equal(
		key_soft_encrypt(KEY_AES_256, m, KEY_ALG_A256KW, NULL, 0, pt, 16, ct, &len),
		-EOPNOTSUPP);
	assert_int_equal(
		key_soft_encrypt(KEY_AES_256, m, KEY_ALG_RSA_OAEP_256, NULL, 0, pt, 16, ct, &len),
		-EOPNOTSUPP);
	assert_int_equal(key_soft_encrypt(KEY_AES_256, k->mat[KEY_ED25519], KEY_ALG_A256GCM, NULL,
					  0, pt, 16, ct, &len),
			 -EINVAL);
	free(pt);
	free(ct);
	assert_int_equal(ERR_peek_error(), 0);
}

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = strlen(s) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void wrap_vector(enum key_alg a, const char *kek_hex, const char *key_hex,
			const char *want_hex)
{
	struct secbuf *kek = NULL, *back = NULL;
	uint8_t key[64], want[80], out[KEY_WRAPPED_MAX], kb[32];
	size_t keylen = unhex(key_hex, key), wantlen = unhex(want_hex, want), len = sizeof(out);

	assert_int_equal(unhex(kek_hex, kb), 32);
	assert_int_equal(secbuf_dup(kb, 32, &kek), 0);
	assert_int_equal(key_soft_wrap(KEY_AES_256, kek, a, key, keylen, out, &len), 0);
	assert_int_equal(len, wantlen);
	assert_memory_equal(out, want, wantlen);
	assert_int_equal(key_soft_unwrap(KEY_AES_256, kek, a, want, wantlen, &back), 0);
	assert_int_equal(back->len, keylen);
	assert_memory_equal(back->data, key, keylen);
	secbuf_free(back);
	back = NULL;
	/* any changed bit fails the integrity check */
	for (size_t i = 0; i < wantlen; i += 7) {
		want[i] ^= 0x01;
		assert_int_equal(key_soft_unwrap(KEY_AES_256, kek, a, want, wantlen, &back),
				 -EBADMSG);
		want[i] ^= 0x01;
	}
	assert_null(back);
	secbuf_free(kek);
}

/* RFC 3394 §4.6: 256 bits of key data with a 256-bit KEK. */
static void test_kw_rfc3394(void **state)
{
	(void)state;
	wrap_vector(
		KEY_ALG_A256KW, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
		"00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
		"28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21");
}

/* RFC 5649's algorithm (§4.1) over AES-256-ECB, written out here: the alternative initial
 * value with the length, zero padding to 8 octets, one AES block for 8 octets or less, else
 * RFC 3394's wrapping. */
static size_t kwp_reference(const uint8_t *kek, const uint8_t *p, size_t n, uint8_t *out)
{
	size_t m = (n + 7) / 8 * 8, blocks = m / 8;
	uint8_t a[8] = { 0xa6,
			 0x59,
			 0x59,
			 0xa6,
			 (uint8_t)(n >> 24),
			 (uint8_t)(n >> 16),
			 (uint8_t)(n >> 8),
			 (uint8_t)n };
	uint8_t *r = out + 8, b[16];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len;

	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, kek, NULL), 1);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	memset(r, 0, m);
	memcpy(r, p, n);
	if (blocks == 1) {
		memcpy(b, a, 8);
		memcpy(b + 8, r, 8);
		assert_int_equal(EVP_EncryptUpdate(ctx, out, &len, b, 16), 1);
		EVP_CIPHER_CTX_free(ctx);
		return 16;
	}
	for (uint64_t j = 0; j < 6; j++)
		for (size_t i = 0; i < blocks; i++) {
			uint64_t t = blocks * j + i + 1;

			memcpy(b, a, 8);
			memcpy(b + 8, r + 8 * i, 8);
			assert_int_equal(EVP_EncryptUpdate(ctx, b, &len, b, 16), 1);
			for (int x = 0; x < 8; x++)
				a[x] = b[x] ^ (uint8_t)(t >> (56 - 8 * x));
			memcpy(r + 8 * i, b + 8, 8);
		}
	memcpy(out, a, 8);
	EVP_CIPHER_CTX_free(ctx);
	return m + 8;
}

/* RFC 5649 §6: its two vectors use a 192-bit KEK, which no key type here has: they are checked
 * exactly through OpenSSL's wrap with padding at 192 bits (the construction key_soft_wrap uses
 * at 256), then A256KWP against kwp_reference for every length from 1 to KEY_WRAP_INPUT_MAX. */
static void test_kwp_rfc5649(void **state)
{
	struct keys *k = *state;
	static const struct {
		const char *key, *want;
	} rfc[] = {
		{ "c37b7e6492584340bed12207808941155068f738",
		  "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a" },
		{ "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f" },
	};
	uint8_t kek192[24], key[KEY_WRAP_INPUT_MAX], want[KEY_WRAPPED_MAX], out[KEY_WRAPPED_MAX];
	const struct secbuf *kek = k->mat[KEY_AES_256];

	assert_int_equal(unhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", kek192), 24);
	for (size_t i = 0; i < ELEMENTSOF(rfc); i++) {
		size_t n = unhex(rfc[i].key, key), wn = unhex(rfc[i].want, want);
		EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
		int len = 0, fin = 0;

		EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
		assert_int_equal(
			EVP_EncryptInit_ex(ctx, EVP_aes_192_wrap_pad(), NULL, kek192, NULL), 1);
		assert_int_equal(EVP_EncryptUpdate(ctx, out, &len, key, (int)n), 1);
		assert_int_equal(EVP_EncryptFinal_ex(ctx, out + len, &fin), 1);
		assert_int_equal((size_t)(len + fin), wn);
		assert_memory_equal(out, want, wn);
		EVP_CIPHER_CTX_free(ctx);
	}
	test_fill(key, sizeof(key), 5);
	for (size_t n = 1; n <= KEY_WRAP_INPUT_MAX; n += n < 40 ? 1 : 97) {
		size_t wn = kwp_reference(kek->data, key, n, want), len = sizeof(out);
		struct secbuf *back = NULL;

		assert_int_equal(
			key_soft_wrap(KEY_AES_256, kek, KEY_ALG_A256KWP, key, n, out, &len), 0);
		assert_int_equal(len, wn);
		assert_memory_equal(out, want, wn);
		assert_int_equal(
			key_soft_unwrap(KEY_AES_256, kek, KEY_ALG_A256KWP, out, len, &back), 0);
		assert_int_equal(back->len, n);
		assert_memory_equal(back->data, key, n);
		secbuf_free(back);
	}
}

static void test_wrap_errors(void **state)
{
	struct keys *k = *state;
	const struct secbuf *kek = k->mat[KEY_AES_256];
	uint8_t key[KEY_WRAP_INPUT_MAX + 8], out[KEY_WRAPPED_MAX + 8];
	size_t len = sizeof(out);
	struct secbuf *back = NULL;

	test_fill(key, sizeof(key), 9);
	/* A256KW: a multiple of 8, at least 16 */
	assert_int_equal(key_soft_wrap(KEY_AES_256, kek, KEY_ALG_A256KW, key, 8, out, &len),
			 -EINVAL);
	assert_int_equal(key_soft_wrap(KEY_AES_256, kek, KEY_ALG_A256KW, key, 20, out, &len),
			 -EINVAL);
	assert_int_equal(key_soft_wrap(KEY_AES_256, kek, KEY_ALG_A256KW, key, 0, out, &len),
			 -EINVAL);
	assert_int_equal(key_soft_wrap(KEY_AES_256, kek, KEY_ALG_A256KW, key,
				       KEY_WRAP_INPUT_MAX + 8, out, &len),
			 -EMSGSIZE);
	assert_int_equal(key_soft_wrap(KEY_AES_256, kek, KEY_ALG_A256KWP, key,
				       KEY_WRAP_INPUT_MAX + 1, out, &len),
			 -EMSGSIZE);
	len = 16 + 7;
	assert_int_equal(key_soft_wrap(KEY_AES_256, kek, KEY_ALG_A256KW, key, 16, out, &len),
			 -ENOBUFS);
	len = sizeof(out);
	assert_int_equal(
		key_soft_wrap(KEY_AES_256, kek, KEY_ALG_A256KW, key, KEY_WRAP_INPUT_MAX, out, &len),
		0);
	assert_int_equal(len, KEY_WRAP_INPUT_MAX + 8);
	/* what cannot have been wrapped */
	assert_int_equal(key_soft_unwrap(KEY_AES_256, kek, KEY_ALG_A256KW, out, 16, &back),
			 -EINVAL);
	assert_int_equal(key_soft_unwrap(KEY_AES_256, kek, KEY_ALG_A256KW, out, 25, &back),
			 -EINVAL);
	assert_int_equal(key_soft_unwrap(KEY_AES_256, kek, KEY_ALG_A256KWP, out, 8, &back),
			 -EINVAL);
	assert_int_equal(key_soft_unwrap(KEY_AES_256, kek, KEY_ALG_A256KWP, out, 17, &back),
			 -EINVAL);
	assert_int_equal(
		key_soft_unwrap(KEY_AES_256, kek, KEY_ALG_A256KW, out, KEY_WRAPPED_MAX + 8, &back),
		-EMSGSIZE);
	/* A256KW's output is not A256KWP's: another initial value */
	assert_int_equal(key_soft_unwrap(KEY_AES_256, kek, KEY_ALG_A256KWP, out,
					 KEY_WRAP_INPUT_MAX + 8, &back),
			 -EBADMSG);
	assert_int_equal(key_soft_unwrap(KEY_AES_256, kek, KEY_ALG_A256KW, out,
					 KEY_WRAP_INPUT_MAX + 8, &back),
			 0);
	assert_int_equal(back->len, KEY_WRAP_INPUT_MAX);
	assert_memory_equal(back->data, key, KEY_WRAP_INPUT_MAX);
	secbuf_free(back);
	back = NULL;
	/* algorithms the type cannot wrap with */
	len = sizeof(out);
	assert_int_equal(key_soft_wrap(KEY_AES_256, kek, KEY_ALG_A256GCM, key, 32, out, &len),
			 -EOPNOTSUPP);
	assert_int_equal(key_soft_wrap(KEY_AES_256, kek, KEY_ALG_RSA_OAEP_256, key, 32, out, &len),
			 -EOPNOTSUPP);
	assert_int_equal(key_soft_wrap(KEY_RSA_2048, k->mat[KEY_RSA_2048], KEY_ALG_A256KW, key, 32,
				       out, &len),
			 -EOPNOTSUPP);
	assert_int_equal(key_soft_wrap(KEY_EC_P256, k->mat[KEY_EC_P256], KEY_ALG_RSA_OAEP_256, key,
				       32, out, &len),
			 -EOPNOTSUPP);
	assert_int_equal(key_soft_unwrap(KEY_RSA_2048, k->mat[KEY_RSA_2048], KEY_ALG_RSA_OAEP, out,
					 256, &back),
			 -EOPNOTSUPP);

	/* RSA-OAEP-256 wrap: with the material and with the public key, unwrap with the
	 * material */
	for (enum key_type t = KEY_RSA_2048; t <= KEY_RSA_4096; t++) {
		len = sizeof(out);
		assert_int_equal(
			key_soft_wrap(t, k->mat[t], KEY_ALG_RSA_OAEP_256, key, 32, out, &len), 0);
		assert_int_equal(len, rsa_size(t));
		assert_int_equal(
			key_soft_unwrap(t, k->mat[t], KEY_ALG_RSA_OAEP_256, out, len, &back), 0);
		assert_int_equal(back->len, 32);
		assert_memory_equal(back->data, key, 32);
		secbuf_free(back);
		back = NULL;
		len = sizeof(out);
		assert_int_equal(key_public_encrypt(t, k->spki[t], k->spkilen[t], KEY_OP_WRAP,
						    KEY_ALG_RSA_OAEP_256, key, 64, out, &len),
				 0);
		assert_int_equal(
			key_soft_unwrap(t, k->mat[t], KEY_ALG_RSA_OAEP_256, out, len, &back), 0);
		assert_int_equal(back->len, 64);
		assert_memory_equal(back->data, key, 64);
		secbuf_free(back);
		back = NULL;
		out[5] ^= 1;
		assert_int_equal(
			key_soft_unwrap(t, k->mat[t], KEY_ALG_RSA_OAEP_256, out, len, &back),
			-EBADMSG);
		assert_int_equal(
			key_soft_unwrap(t, k->mat[t], KEY_ALG_RSA_OAEP_256, out, len - 1, &back),
			-EINVAL);
		/* over the key's own limit, and over the wrap cap */
		len = sizeof(out);
		assert_int_equal(key_soft_wrap(t, k->mat[t], KEY_ALG_RSA_OAEP_256, key,
					       rsa_size(t) - 65, out, &len),
				 -EMSGSIZE);
		assert_int_equal(key_public_encrypt(t, k->spki[t], k->spkilen[t], KEY_OP_WRAP,
						    KEY_ALG_RSA_OAEP_256, key,
						    KEY_WRAP_INPUT_MAX + 1, out, &len),
				 -EMSGSIZE);
		assert_int_equal(
			key_soft_wrap(t, k->mat[t], KEY_ALG_RSA_OAEP_256, key, 0, out, &len),
			-EINVAL);
	}
	assert_null(back);
	assert_int_equal(ERR_peek_error(), 0);
}

/* A DER as PEM with this label, 64 columns, into a heap string. */
static char *pem_of(const char *label, const uint8_t *der, size_t n)
{
	size_t b64n = (n + 2) / 3 * 4;
	unsigned char *b64 = malloc(b64n + 1);
	char *s = malloc(b64n + b64n / 64 + 2 * strlen(label) + 64), *p = s;

	assert_int_equal(EVP_EncodeBlock(b64, der, (int)n), (int)b64n);
	p += sprintf(p, "-----BEGIN %s-----\n", label);
	for (size_t i = 0; i < b64n; i += 64) {
		size_t k = b64n - i < 64 ? b64n - i : 64;

		memcpy(p, b64 + i, k);
		p += k;
		*p++ = '\n';
	}
	sprintf(p, "-----END %s-----\n", label);
	free(b64);
	return s;
}

static int import_str(const char *s, enum key_type *t, struct secbuf **m)
{
	return key_soft_import((const uint8_t *)s, strlen(s), t, m);
}

/* Import file name of the temp dir: its type, and its public key equal to openssl's. */
static void import_file(struct keys *k, const char *name, enum key_type want)
{
	struct secbuf *in = get(k, name), *m = NULL, *der;
	enum key_type t = KEY_TYPE_INVALID;
	uint8_t spki[KEY_PUBLIC_DER_MAX], in_sig[128], sig[KEY_SIG_MAX];
	size_t len = sizeof(spki), n, siglen = sizeof(sig);
	enum key_alg a;

	assert_int_equal(key_soft_import(in->data, in->len, &t, &m), 0);
	assert_int_equal(t, want);
	assert_int_equal(key_soft_check(t, m), 0);
	assert_int_equal(key_soft_public(t, m, spki, &len), 0);
	assert_int_equal(run(k, "openssl pkey -in %s -pubout -outform DER -out pub.der", name), 0);
	der = get(k, "pub.der");
	assert_int_equal(der->len, len);
	assert_memory_equal(der->data, spki, len);
	/* it signs, and the signature verifies against openssl's public key */
	a = key_type_is_rsa(t) ? KEY_ALG_PS256 :
	    t == KEY_EC_P256   ? KEY_ALG_ES256 :
	    t == KEY_EC_P384   ? KEY_ALG_ES384 :
	    t == KEY_EC_P521   ? KEY_ALG_ES512 :
				 KEY_ALG_EDDSA;
	n = sign_input(a, in_sig);
	assert_int_equal(key_soft_sign(t, m, a, in_sig, n, sig, &siglen), 0);
	assert_int_equal(key_verify(t, der->data, der->len, a, in_sig, n, sig, siglen), 0);
	secbuf_free(der);
	secbuf_free(in);
	secbuf_free(m);
}

static void import_fails(struct keys *k, const char *name, int want)
{
	struct secbuf *in = get(k, name), *m = NULL;
	enum key_type t = KEY_TYPE_INVALID;

	assert_int_equal(key_soft_import(in->data, in->len, &t, &m), want);
	assert_null(m);
	assert_int_equal(t, KEY_TYPE_INVALID);
	/* a failure leaves OpenSSL's error queue empty */
	assert_int_equal(ERR_peek_error(), 0);
	secbuf_free(in);
}

/* Keys the openssl CLI makes: PKCS#8, PKCS#1 (-traditional), SEC1 with and without its
 * parameters block; sizes, curves and algorithms not in key.h; keys under a passphrase. */
static void test_import_openssl(void **state)
{
	struct keys *k = *state;

	assert_int_equal(run(k, "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
				"-out rsa2048.pem"),
			 0);
	import_file(k, "rsa2048.pem", KEY_RSA_2048);
	assert_int_equal(run(k, "openssl genrsa -traditional -out rsa3072.pem 3072"), 0);
	import_file(k, "rsa3072.pem", KEY_RSA_3072);
	assert_int_equal(run(k, "grep -q 'BEGIN RSA PRIVATE KEY' rsa3072.pem"), 0);
	assert_int_equal(run(k, "openssl ecparam -name prime256v1 -genkey -out p256.pem"), 0);
	assert_int_equal(run(k, "grep -q 'BEGIN EC PARAMETERS' p256.pem"), 0);
	import_file(k, "p256.pem", KEY_EC_P256);
	assert_int_equal(run(k, "openssl ecparam -name secp384r1 -genkey -noout -out p384.pem"), 0);
	import_file(k, "p384.pem", KEY_EC_P384);
	assert_int_equal(run(k, "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 "
				"-out p521.pem"),
			 0);
	import_file(k, "p521.pem", KEY_EC_P521);
	assert_int_equal(run(k, "openssl genpkey -algorithm ED25519 -out ed.pem"), 0);
	import_file(k, "ed.pem", KEY_ED25519);
	/* PKCS#1 and SEC1 from PKCS#8, the other way round */
	assert_int_equal(run(k, "openssl pkey -in p521.pem -out p521-sec1.pem -traditional"), 0);
	assert_int_equal(run(k, "grep -q 'BEGIN EC PRIVATE KEY' p521-sec1.pem"), 0);
	import_file(k, "p521-sec1.pem", KEY_EC_P521);
	assert_int_equal(run(k, "openssl pkey -in rsa2048.pem -out rsa2048-pkcs1.pem -traditional"),
			 0);
	import_file(k, "rsa2048-pkcs1.pem", KEY_RSA_2048);

	/* not key.h's */
	assert_int_equal(run(k, "openssl genrsa -traditional -out rsa1024.pem 1024"), 0);
	import_fails(k, "rsa1024.pem", -EOPNOTSUPP);
	assert_int_equal(run(k, "openssl ecparam -name secp256k1 -genkey -noout -out k1.pem"), 0);
	import_fails(k, "k1.pem", -EOPNOTSUPP);
	assert_int_equal(run(k, "openssl genpkey -algorithm ED448 -out ed448.pem"), 0);
	import_fails(k, "ed448.pem", -EOPNOTSUPP);
	assert_int_equal(run(k, "openssl genpkey -algorithm X25519 -out x25519.pem"), 0);
	import_fails(k, "x25519.pem", -EOPNOTSUPP);
	/* under a passphrase: PKCS#8 encrypted, and traditional PEM encryption */
	assert_int_equal(run(k, "openssl pkey -in ed.pem -aes-256-cbc -passout pass:secret "
				"-out ed-enc.pem"),
			 0);
	assert_int_equal(run(k, "grep -q 'BEGIN ENCRYPTED PRIVATE KEY' ed-enc.pem"), 0);
	import_fails(k, "ed-enc.pem", -ENOKEY);
	assert_int_equal(run(k, "openssl ec -in p384.pem -aes256 -passout pass:secret "
				"-out p384-enc.pem"),
			 0);
	assert_int_equal(run(k, "grep -q 'Proc-Type: 4,ENCRYPTED' p384-enc.pem"), 0);
	import_fails(k, "p384-enc.pem", -ENOKEY);
	/* a public key is not a private one */
	assert_int_equal(run(k, "openssl pkey -in p384.pem -pubout -out p384-pub.pem"), 0);
	import_fails(k, "p384-pub.pem", -EINVAL);
}

/* Generated material as "PRIVATE KEY" PEM imports to the same bytes. */
static void test_import_roundtrip(void **state)
{
	struct keys *k = *state;

	for (unsigned u = 1; u < KEY_AES_256; u++) {
		char *pem = pem_of("PRIVATE KEY", k->mat[u]->data, k->mat[u]->len);
		struct secbuf *m = NULL;
		enum key_type t;

		assert_int_equal(import_str(pem, &t, &m), 0);
		assert_int_equal(t, u);
		assert_int_equal(m->len, k->mat[u]->len);
		assert_memory_equal(m->data, k->mat[u]->data, m->len);
		secbuf_free(m);
		secure_wipe(pem, strlen(pem));
		free(pem);
	}
}

/* Base64 of a PEM body or an OpenSSH .pub field (whitespace dropped) into a heap buffer. */
static uint8_t *unbase64(const char *s, size_t n, size_t *ret_len)
{
	char *clean = malloc(n + 1);
	uint8_t *out = malloc(n + 1);
	size_t k = 0, pad = 0;
	int len;

	for (size_t i = 0; i < n; i++)
		if (s[i] != '\n' && s[i] != '\r')
			clean[k++] = s[i];
	for (size_t i = k; i > 0 && clean[i - 1] == '='; i--)
		pad++;
	len = EVP_DecodeBlock(out, (const unsigned char *)clean, (int)k);
	assert_true(len >= 0);
	free(clean);
	*ret_len = (size_t)len - pad;
	return out;
}

/* The DER (or blob) inside the first PEM block of s. */
static uint8_t *pem_body(const char *s, size_t *ret_len)
{
	const char *b = strstr(s, "-----\n"), *e = strstr(s, "\n-----END");

	assert_non_null(b);
	assert_non_null(e);
	b += 6;
	return unbase64(b, (size_t)(e - b), ret_len);
}

static void ssh_import(struct keys *k, const char *args, const char *name, enum key_type want)
{
	struct secbuf *in, *m = NULL;
	enum key_type t = KEY_TYPE_INVALID;
	uint8_t spki[KEY_PUBLIC_DER_MAX], data[128], sig[KEY_SIG_MAX];
	size_t len = sizeof(spki), n, siglen = sizeof(sig);
	enum key_alg a;

	assert_int_equal(run(k, "ssh-keygen -q %s -N '' -C test -f %s", args, name), 0);
	in = get(k, name);
	assert_int_equal(run(k, "grep -q 'BEGIN OPENSSH PRIVATE KEY' %s", name), 0);
	assert_int_equal(key_soft_import(in->data, in->len, &t, &m), 0);
	assert_int_equal(t, want);
	assert_int_equal(key_soft_public(t, m, spki, &len), 0);
	if (t == KEY_ED25519) {
		/* "ssh-ed25519 BASE64 test": the blob ends with the 32-byte public key, which
		 * is also the end of the SPKI */
		struct secbuf *pub = get(k, "id_ed25519.pub");
		const char *b = (const char *)pub->data + strlen("ssh-ed25519 ");
		const char *e = strchr(b, ' ');
		size_t bloblen;
		uint8_t *blob = unbase64(b, (size_t)(e - b), &bloblen);

		assert_int_equal(bloblen, 4 + 11 + 4 + 32);
		assert_int_equal(len, 44);
		assert_memory_equal(blob + bloblen - 32, spki + 12, 32);
		free(blob);
		secbuf_free(pub);
	} else {
		struct secbuf *pub;
		char *pem = NULL;

		assert_int_equal(run(k, "ssh-keygen -e -m PKCS8 -f %s.pub > %s.pkcs8", name, name),
				 0);
		{
			char file[64];

			snprintf(file, sizeof(file), "%s.pkcs8", name);
			pub = get(k, file);
		}
		assert_int_equal(key_public_pem(spki, len, &pem), 0);
		assert_int_equal(pub->len, strlen(pem));
		assert_memory_equal(pub->data, pem, pub->len);
		free(pem);
		secbuf_free(pub);
	}
	a = key_type_is_rsa(t) ? KEY_ALG_RS512 :
	    t == KEY_EC_P256   ? KEY_ALG_ES256 :
	    t == KEY_EC_P384   ? KEY_ALG_ES384 :
	    t == KEY_EC_P521   ? KEY_ALG_ES512 :
				 KEY_ALG_EDDSA;
	n = sign_input(a, data);
	assert_int_equal(key_soft_sign(t, m, a, data, n, sig, &siglen), 0);
	assert_int_equal(key_verify(t, spki, len, a, data, n, sig, siglen), 0);
	secbuf_free(m);
	secbuf_free(in);
}

static void test_import_ssh(void **state)
{
	struct keys *k = *state;

	ssh_import(k, "-t ed25519", "id_ed25519", KEY_ED25519);
	ssh_import(k, "-t ecdsa -b 256", "id_p256", KEY_EC_P256);
	ssh_import(k, "-t ecdsa -b 384", "id_p384", KEY_EC_P384);
	ssh_import(k, "-t ecdsa -b 521", "id_p521", KEY_EC_P521);
	ssh_import(k, "-t rsa -b 2048", "id_rsa", KEY_RSA_2048);
}

static int import_ssh_blob(const uint8_t *blob, size_t n)
{
	char *pem = pem_of("OPENSSH PRIVATE KEY", blob, n);
	struct secbuf *m = NULL;
	enum key_type t = KEY_TYPE_INVALID;
	int r = import_str(pem, &t, &m);

	assert_true(r < 0 || m);
	secbuf_free(m);
	free(pem);
	return r;
}

static void test_import_ssh_malformed(void **state)
{
	struct keys *k = *state;
	struct secbuf *in, *m = NULL;
	enum key_type t = KEY_TYPE_INVALID;
	uint8_t *blob;
	size_t n, publen, check;

	assert_int_equal(run(k, "ssh-keygen -q -t ed25519 -N '' -f bad"), 0);
	in = get(k, "bad");
	/* cut short: no END line */
	assert_int_equal(key_soft_import(in->data, in->len / 2, &t, &m), -EINVAL);
	/* the blob itself: as it is, then each fault */
	blob = pem_body((const char *)in->data, &n);
	assert_int_equal(import_ssh_blob(blob, n), 0);
	blob[0] ^= 0x01; /* "openssh-key-v1" */
	assert_int_equal(import_ssh_blob(blob, n), -EINVAL);
	blob[0] ^= 0x01;
	assert_int_equal(import_ssh_blob(blob, n / 2), -EINVAL);
	assert_int_equal(import_ssh_blob(blob, n - 1), -EINVAL);
	/* the first check word: after magic, cipher, kdf, kdf options, count, public key and
	 * the section's length */
	publen = (size_t)blob[39] << 24 | (size_t)blob[40] << 16 | (size_t)blob[41] << 8 | blob[42];
	assert_int_equal(publen, 4 + 11 + 4 + 32);
	check = 15 + 8 + 8 + 4 + 4 + 4 + publen + 4;
	blob[check] ^= 0x01;
	assert_int_equal(import_ssh_blob(blob, n), -EINVAL);
	blob[check] ^= 0x01;
	/* a key type not in key.h (the name in the public key and the private section) */
	for (size_t i = 0; i + 11 <= n; i++)
		if (memcmp(blob + i, "ssh-ed25519", 11) == 0)
			memcpy(blob + i, "ssh-ed448xx", 11);
	assert_int_equal(import_ssh_blob(blob, n), -EOPNOTSUPP);
	free(blob);
	secbuf_free(in);
	/* under a passphrase */
	assert_int_equal(run(k, "ssh-keygen -q -t ecdsa -N 'a secret' -f enc"), 0);
	import_fails(k, "enc", -ENOKEY);
	assert_null(m);
	assert_int_equal(ERR_peek_error(), 0);
}

/* base64url without padding, NUL-terminated, into buf. */
static const char *b64url(const uint8_t *p, size_t n, char *buf)
{
	int len = EVP_EncodeBlock((unsigned char *)buf, p, (int)n);

	for (int i = 0; i < len; i++)
		buf[i] = buf[i] == '+' ? '-' : buf[i] == '/' ? '_' : buf[i];
	while (len > 0 && buf[len - 1] == '=')
		len--;
	buf[len] = '\0';
	return buf;
}

static const char *bn_b64url(EVP_PKEY *pk, const char *param, char *buf)
{
	BIGNUM *bn = NULL;
	uint8_t bin[600];
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(pk, param, &bn), 1);
	n = BN_bn2bin(bn, bin);
	BN_clear_free(bn);
	return b64url(bin, (size_t)n, buf);
}

static EVP_PKEY *material_pkey(const struct secbuf *m)
{
	const unsigned char *p = m->data;
	EVP_PKEY *pk = d2i_AutoPrivateKey(NULL, &p, (long)m->len);

	assert_non_null(pk);
	return pk;
}

static void jwk_is(const char *jwk, enum key_type want, const struct secbuf *same)
{
	struct secbuf *m = NULL;
	enum key_type t = KEY_TYPE_INVALID;

	assert_int_equal(import_str(jwk, &t, &m), 0);
	assert_int_equal(t, want);
	if (same) {
		assert_int_equal(m->len, same->len);
		assert_memory_equal(m->data, same->data, m->len);
	}
	secbuf_free(m);
}

static void jwk_fails(const char *jwk, int want)
{
	struct secbuf *m = NULL;
	enum key_type t = KEY_TYPE_INVALID;

	assert_int_equal(import_str(jwk, &t, &m), want);
	assert_null(m);
	assert_int_equal(t, KEY_TYPE_INVALID);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_import_jwk(void **state)
{
	struct keys *k = *state;
	static char jwk[8192];
	char n[700], e[16], d[700], p[400], q[400], dp[400], dq[400], qi[400], x[100], y[100];
	EVP_PKEY *pk;
	uint8_t pub[133], bin[66];
	size_t publen;
	BIGNUM *bn = NULL;

	/* RSA: the generated 3072-bit key written as a JWK imports to the same material */
	pk = material_pkey(k->mat[KEY_RSA_3072]);
	snprintf(
		jwk, sizeof(jwk),
		"{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\",\"d\":\"%s\",\"p\":\"%s\",\"q\":\"%s\","
		"\"dp\":\"%s\",\"dq\":\"%s\",\"qi\":\"%s\",\"alg\":\"PS256\",\"kid\":\"k1\"}",
		bn_b64url(pk, OSSL_PKEY_PARAM_RSA_N, n), bn_b64url(pk, OSSL_PKEY_PARAM_RSA_E, e),
		bn_b64url(pk, OSSL_PKEY_PARAM_RSA_D, d),
		bn_b64url(pk, OSSL_PKEY_PARAM_RSA_FACTOR1, p),
		bn_b64url(pk, OSSL_PKEY_PARAM_RSA_FACTOR2, q),
		bn_b64url(pk, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp),
		bn_b64url(pk, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq),
		bn_b64url(pk, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi));
	EVP_PKEY_free(pk);
	jwk_is(jwk, KEY_RSA_3072, k->mat[KEY_RSA_3072]);
	/* without the CRT parameters; without d; d of another key */
	snprintf(jwk, sizeof(jwk), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\",\"d\":\"%s\"}", n, e,
		 d);
	jwk_fails(jwk, -EOPNOTSUPP);
	snprintf(jwk, sizeof(jwk),
		 "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\",\"p\":\"%s\",\"q\":\"%s\","
		 "\"dp\":\"%s\",\"dq\":\"%s\",\"qi\":\"%s\"}",
		 n, e, p, q, dp, dq, qi);
	jwk_fails(jwk, -EINVAL);
	snprintf(
		jwk, sizeof(jwk),
		"{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\",\"d\":\"%s\",\"p\":\"%s\",\"q\":\"%s\","
		"\"dp\":\"%s\",\"dq\":\"%s\",\"qi\":\"%s\"}",
		n, e, dp, p, q, dp, dq, qi);
	jwk_fails(jwk, -EINVAL);

	/* a modulus past RSA 4096 is refused before anything is computed with it */
	{
		uint8_t big[513];

		memset(big, 0xc5, sizeof(big));
		snprintf(jwk, sizeof(jwk),
			 "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\",\"d\":\"AQ\",\"p\":\"AQ\","
			 "\"q\":\"AQ\",\"dp\":\"AQ\",\"dq\":\"AQ\",\"qi\":\"AQ\"}",
			 b64url(big, sizeof(big), d));
		jwk_fails(jwk, -EOPNOTSUPP);
		snprintf(jwk, sizeof(jwk),
			 "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\",\"d\":\"AQ\",\"p\":\"AQ\","
			 "\"q\":\"AQ\",\"dp\":\"AQ\",\"dq\":\"AQ\",\"qi\":\"AQ\"}",
			 b64url(big, 512, d));
		jwk_fails(jwk, -EINVAL);
	}

	/* EC: the generated P-384 key */
	pk = material_pkey(k->mat[KEY_EC_P384]);
	assert_int_equal(EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pub,
							 sizeof(pub), &publen),
			 1);
	assert_int_equal(publen, 97);
	assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &bn), 1);
	assert_int_equal(BN_bn2binpad(bn, bin, 48), 48);
	BN_clear_free(bn);
	EVP_PKEY_free(pk);
	b64url(pub + 1, 48, x);
	b64url(pub + 49, 48, y);
	b64url(bin, 48, d);
	snprintf(jwk, sizeof(jwk),
		 " {\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\"}\n", x,
		 y, d);
	jwk_is(jwk, KEY_EC_P384, k->mat[KEY_EC_P384]);
	snprintf(jwk, sizeof(jwk), "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}",
		 x, y);
	jwk_fails(jwk, -EINVAL);
	/* y of another point; x cut one byte short; d with padding; another curve */
	snprintf(jwk, sizeof(jwk),
		 "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\"}", x, x,
		 d);
	jwk_fails(jwk, -EINVAL);
	snprintf(jwk, sizeof(jwk),
		 "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\"}",
		 b64url(pub + 1, 47, n), y, d);
	jwk_fails(jwk, -EINVAL);
	snprintf(jwk, sizeof(jwk),
		 "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s==\"}", x,
		 y, d);
	jwk_fails(jwk, -EINVAL);
	snprintf(jwk, sizeof(jwk),
		 "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\"}", x, y,
		 d);
	jwk_fails(jwk, -EINVAL);
	jwk_fails("{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\",\"d\":\"AA\"}",
		  -EOPNOTSUPP);
	/* RFC 7517 A.2's P-256 private key */
	jwk_is("{\"kty\":\"EC\",\"crv\":\"P-256\","
	       "\"x\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\","
	       "\"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\","
	       "\"d\":\"870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE\",\"use\":\"enc\",\"kid\":\"1\"}",
	       KEY_EC_P256, NULL);

	/* OKP: RFC 8037 A.1 (test_ed25519_rfc8037 signs with it); x of another key; X25519 */
	jwk_fails("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
		  "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
		  "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURp\"}",
		  -EINVAL);
	jwk_fails("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
		  "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
		  -EINVAL);
	jwk_fails("{\"kty\":\"OKP\",\"crv\":\"X25519\","
		  "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
		  "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
		  -EOPNOTSUPP);

	/* oct: 32 bytes (00..1f) is an AES-256 key; 16 is not */
	{
		struct secbuf *m = NULL;
		enum key_type t;
		uint8_t want[32];

		for (int i = 0; i < 32; i++)
			want[i] = (uint8_t)i;
		assert_int_equal(
			import_str(
				"{\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\""
				",\"alg\":\"A256KW\"}",
				&t, &m),
			0);
		assert_int_equal(t, KEY_AES_256);
		assert_int_equal(m->len, 32);
		assert_memory_equal(m->data, want, 32);
		secbuf_free(m);
	}
	jwk_fails("{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}", -EOPNOTSUPP);
	jwk_fails("{\"kty\":\"oct\"}", -EINVAL);
	jwk_fails("{\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+\"}",
		  -EINVAL);
	jwk_fails("{\"kty\":\"oct\",\"k\":32}", -EINVAL);

	/* not a JWK */
	jwk_fails("{\"kty\":\"DSA\"}", -EOPNOTSUPP);
	jwk_fails("{\"crv\":\"P-256\"}", -EINVAL);
	jwk_fails("{\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"} x",
		  -EINVAL);
	jwk_fails("{\"kty\":\"oct\",\"k\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"",
		  -EINVAL);
	jwk_fails("{}", -EINVAL);
	jwk_fails("{\"kty\":[\"oct\"]}", -EINVAL);
}

static void test_import_malformed(void **state)
{
	struct keys *k = *state;
	struct secbuf *m = NULL;
	enum key_type t = KEY_TYPE_INVALID;
	uint8_t *big = calloc(1, KEY_IMPORT_MAX + 1);
	char *pem;
	uint8_t der[KEY_MATERIAL_MAX];

	assert_int_equal(key_soft_import(big, 0, &t, &m), -EINVAL);
	memset(big, ' ', KEY_IMPORT_MAX + 1);
	assert_int_equal(key_soft_import(big, KEY_IMPORT_MAX, &t, &m), -EINVAL);
	assert_int_equal(key_soft_import(big, KEY_IMPORT_MAX + 1, &t, &m), -EMSGSIZE);
	assert_int_equal(key_soft_import(NULL, 10, &t, &m), -EINVAL);
	assert_int_equal(key_soft_import(big, 10, NULL, &m), -EINVAL);
	assert_int_equal(key_soft_import(big, 10, &t, NULL), -EINVAL);
	assert_int_equal(import_str("garbage", &t, &m), -EINVAL);
	assert_int_equal(
		import_str("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", &t, &m),
		-EINVAL);
	assert_int_equal(
		import_str("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJaKLUeSelHRftbb"
			   "xaZwmc69jfQJkcIF/djMx/7rmhgk\n",
			   &t, &m),
		-EINVAL);
	assert_int_equal(
		import_str("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJaKLUeSelHRftbb"
			   "xaZwmc69jfQJkcIF/djMx/7rmhgk\n-----END PRIVATE KEY-----\n",
			   &t, &m),
		0);
	assert_int_equal(t, KEY_ED25519);
	secbuf_free(m);
	m = NULL;
	t = KEY_TYPE_INVALID;
	/* a character outside base64; the END of another label; a header; another label */
	assert_int_equal(
		import_str("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJaKLUeSelHRftbb"
			   "xaZwmc69jfQJkcIF/djMx/7rmhg*\n-----END PRIVATE KEY-----\n",
			   &t, &m),
		-EINVAL);
	assert_int_equal(
		import_str("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJaKLUeSelHRftbb"
			   "xaZwmc69jfQJkcIF/djMx/7rmhgk\n-----END EC PRIVATE KEY-----\n",
			   &t, &m),
		-EINVAL);
	assert_int_equal(
		import_str("-----BEGIN PRIVATE KEY-----\nComment: x\n\nMC4CAQAwBQYDK2VwBCIE"
			   "IJaKLUeSelHRftbbxaZwmc69jfQJkcIF/djMx/7rmhgk\n"
			   "-----END PRIVATE KEY-----\n",
			   &t, &m),
		-EINVAL);
	assert_int_equal(
		import_str("-----BEGIN CERTIFICATE-----\nMC4CAQAwBQYDK2VwBCIEIJaKLUeSelHRftbb"
			   "xaZwmc69jfQJkcIF/djMx/7rmhgk\n-----END CERTIFICATE-----\n",
			   &t, &m),
		-EINVAL);
	/* PKCS#8 of the generated P-256 key: a byte more, a byte less, a line less */
	memcpy(der, k->mat[KEY_EC_P256]->data, k->mat[KEY_EC_P256]->len);
	der[k->mat[KEY_EC_P256]->len] = 0;
	pem = pem_of("PRIVATE KEY", der, k->mat[KEY_EC_P256]->len + 1);
	assert_int_equal(import_str(pem, &t, &m), -EINVAL);
	free(pem);
	pem = pem_of("PRIVATE KEY", der, k->mat[KEY_EC_P256]->len - 1);
	assert_int_equal(import_str(pem, &t, &m), -EINVAL);
	memmove(strchr(pem, '\n') + 1, strchr(pem, '\n') + 66, strlen(strchr(pem, '\n') + 66) + 1);
	assert_int_equal(import_str(pem, &t, &m), -EINVAL);
	free(pem);
	/* the same as SEC1 and PKCS#1 labels: not what they say */
	pem = pem_of("EC PRIVATE KEY", k->mat[KEY_ED25519]->data, k->mat[KEY_ED25519]->len);
	assert_int_equal(import_str(pem, &t, &m), -EINVAL);
	free(pem);
	pem = pem_of("RSA PRIVATE KEY", k->mat[KEY_EC_P256]->data, k->mat[KEY_EC_P256]->len);
	assert_int_equal(import_str(pem, &t, &m), -EINVAL);
	free(pem);
	assert_null(m);
	assert_int_equal(t, KEY_TYPE_INVALID);
	/* key_soft_check: a byte more */
	assert_int_equal(secbuf_dup(der, k->mat[KEY_EC_P256]->len + 1, &m), 0);
	assert_int_equal(key_soft_check(KEY_EC_P256, m), -EINVAL);
	m->len--;
	assert_int_equal(key_soft_check(KEY_EC_P256, m), 0);
	secbuf_free(m);
	free(big);
	assert_int_equal(ERR_peek_error(), 0);
}

struct signer {
	const struct key_soft *key;
	const uint8_t *spki;
	size_t spkilen;
	int failures;
};

static void *sign_many(void *arg)
{
	struct signer *s = arg;
	uint8_t in[32], sig[KEY_SIG_MAX];

	for (unsigned i = 0; i < 50; i++) {
		size_t siglen = sizeof(sig);

		memset(in, (int)i, sizeof(in));
		if (key_soft_sign_loaded(s->key, KEY_ALG_ES256, in, 32, sig, &siglen) != 0 ||
		    key_verify(KEY_EC_P256, s->spki, s->spkilen, KEY_ALG_ES256, in, 32, sig,
			       siglen) != 0)
			s->failures++;
	}
	return NULL;
}

/* A loaded key signs like key_soft_sign, with the same refusals, from two threads at once. */
static void test_loaded(void **state)
{
	struct keys *k = *state;
	struct key_soft *key = NULL;
	uint8_t in[128], sig[KEY_SIG_MAX];
	size_t n, siglen;

	for (unsigned t = 1; t < KEY_AES_256; t++) {
		enum key_alg a = key_type_is_rsa((enum key_type)t) ? KEY_ALG_PS512 :
				 t == KEY_EC_P256		   ? KEY_ALG_ES256 :
				 t == KEY_EC_P384		   ? KEY_ALG_ES384 :
				 t == KEY_EC_P521		   ? KEY_ALG_ES512 :
								     KEY_ALG_EDDSA;

		assert_int_equal(key_soft_load((enum key_type)t, k->mat[t], &key), 0);
		assert_int_equal(key_soft_type(key), t);
		n = sign_input(a, in);
		siglen = sizeof(sig);
		assert_int_equal(key_soft_sign_loaded(key, a, in, n, sig, &siglen), 0);
		assert_int_equal(siglen, sig_size((enum key_type)t));
		assert_int_equal(key_verify((enum key_type)t, k->spki[t], k->spkilen[t], a, in, n,
					    sig, siglen),
				 0);
		if (a != KEY_ALG_EDDSA)
			assert_int_equal(key_soft_sign_loaded(key, a, in, n - 1, sig, &siglen),
					 -EINVAL);
		assert_int_equal(key_soft_sign_loaded(key, KEY_ALG_A256GCM, in, n, sig, &siglen),
				 -EOPNOTSUPP);
		siglen = sig_size((enum key_type)t) - 1;
		assert_int_equal(key_soft_sign_loaded(key, a, in, n, sig, &siglen), -ENOBUFS);
		key_soft_free(key);
		key = NULL;
	}
	assert_int_equal(key_soft_load(KEY_AES_256, k->mat[KEY_AES_256], &key), -EOPNOTSUPP);
	assert_int_equal(key_soft_load(KEY_EC_P256, k->mat[KEY_EC_P384], &key), -EINVAL);
	assert_int_equal(key_soft_load(KEY_EC_P256, NULL, &key), -EINVAL);
	assert_null(key);
	assert_int_equal(key_soft_type(NULL), KEY_TYPE_INVALID);
	siglen = sizeof(sig);
	assert_int_equal(key_soft_sign_loaded(NULL, KEY_ALG_ES256, in, 32, sig, &siglen), -EINVAL);
	key_soft_free(NULL);

	assert_int_equal(key_soft_load(KEY_EC_P256, k->mat[KEY_EC_P256], &key), 0);
	{
		struct signer s[2] = {
			{ key, k->spki[KEY_EC_P256], k->spkilen[KEY_EC_P256], 0 },
			{ key, k->spki[KEY_EC_P256], k->spkilen[KEY_EC_P256], 0 },
		};
		pthread_t th[2];

		for (int i = 0; i < 2; i++)
			assert_int_equal(pthread_create(&th[i], NULL, sign_many, &s[i]), 0);
		for (int i = 0; i < 2; i++)
			assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(s[0].failures + s[1].failures, 0);
	}
	key_soft_free(key);
}

/* Material in a PKCS#8 form generate and import never write (SEC1 without its public point)
 * still loads, signs and checks: OpenSSL's decoder reads what the fast reader does not. */
static void test_material_other_form(void **state)
{
	struct keys *k = *state;
	struct secbuf *m, *pub;
	uint8_t in[128], sig[KEY_SIG_MAX];
	size_t n, siglen = sizeof(sig);

	assert_int_equal(
		run(k, "openssl ecparam -name secp384r1 -genkey -noout -out np.pem && "
		       "openssl ec -in np.pem -no_public -out np-sec1.pem && "
		       "openssl pkcs8 -topk8 -nocrypt -in np-sec1.pem -outform DER -out np.der && "
		       "openssl pkey -in np.pem -pubout -outform DER -out np-pub.der"),
		0);
	m = get(k, "np.der");
	pub = get(k, "np-pub.der");
	assert_int_equal(key_soft_check(KEY_EC_P384, m), 0);
	assert_int_equal(key_soft_check(KEY_EC_P256, m), -EINVAL);
	n = sign_input(KEY_ALG_ES384, in);
	assert_int_equal(key_soft_sign(KEY_EC_P384, m, KEY_ALG_ES384, in, n, sig, &siglen), 0);
	assert_int_equal(
		key_verify(KEY_EC_P384, pub->data, pub->len, KEY_ALG_ES384, in, n, sig, siglen), 0);
	secbuf_free(pub);
	secbuf_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_public),
		cmocka_unit_test(test_public_pem_errors),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_sign_errors),
		cmocka_unit_test(test_sign_openssl),
		cmocka_unit_test(test_ed25519_rfc8037),
		cmocka_unit_test(test_rsa_oaep),
		cmocka_unit_test(test_rsa_oaep_openssl),
		cmocka_unit_test(test_gcm),
		cmocka_unit_test(test_kw_rfc3394),
		cmocka_unit_test(test_kwp_rfc5649),
		cmocka_unit_test(test_wrap_errors),
		cmocka_unit_test(test_import_openssl),
		cmocka_unit_test(test_import_roundtrip),
		cmocka_unit_test(test_import_ssh),
		cmocka_unit_test(test_import_ssh_malformed),
		cmocka_unit_test(test_import_jwk),
		cmocka_unit_test(test_import_malformed),
		cmocka_unit_test(test_loaded),
		cmocka_unit_test(test_material_other_form),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
