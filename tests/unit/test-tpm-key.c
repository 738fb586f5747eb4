/* test-tpm-key.c: unit tests for core/tpm-key.c against a real software TPM. Run it under
 * tests/lib/with-swtpm (VAULTFS_TEST_TCTI). For each type a TPM key may have: create it (the
 * blob's public area carries fixedTPM, fixedParent, sensitiveDataOrigin and noDA), read its
 * public key back from the blob, sign a random digest with every algorithm the type allows and
 * verify the JWS-form signature with OpenSSL against the SubjectPublicKeyInfo (ECDSA through a
 * local r || s to DER conversion; PSS with the salt length recovered from the signature), and
 * for RSA decrypt OAEP ciphertexts (SHA-256 and SHA-1) made by OpenSSL with that public key.
 * Refusals: types no TPM key may have, algorithms a type cannot use, digests and ciphertexts of
 * the wrong length, a bad ciphertext, a blob asked as another type, arguments missing, a TPM not
 * reachable. The private area is integrity-protected by the parent: each byte flipped makes the
 * key fail to load (-EBADMSG), as does a blob taken to a second swtpm. A decrypted plaintext
 * never crosses the bus in the clear (a pcap TCTI capture). Every test ends with no transient
 * object or session left in the TPM. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "core/key.h"
#include "core/log.h"
#include "core/secbuf.h"
#include "core/tpm-key.h"
#include "core/util.h"
#include "tests/unit/testlib.h"

#define UNREACHABLE_TCTI "swtpm:host=127.0.0.1,port=1"
/* TPM2_TRANSIENT_FIRST and the session ranges, unsigned (the header's macros shift a signed
 * int into its sign bit). */
#define HANDLES_TRANSIENT UINT32_C(0x80000000)
#define HANDLES_HMAC UINT32_C(0x02000000)
#define HANDLES_POLICY UINT32_C(0x03000000)

/* key.h's digest_len and type tests, written out here: the test needs no other module. */
static size_t digest_len(enum key_alg a)
{
	switch (a) {
	case KEY_ALG_RS256:
	case KEY_ALG_PS256:
	case KEY_ALG_ES256:
		return 32;
	case KEY_ALG_RS384:
	case KEY_ALG_PS384:
	case KEY_ALG_ES384:
		return 48;
	case KEY_ALG_RS512:
	case KEY_ALG_PS512:
	case KEY_ALG_ES512:
		return 64;
	default:
		return 0;
	}
}

static bool is_rsa(enum key_type t)
{
	return t == KEY_RSA_2048 || t == KEY_RSA_3072 || t == KEY_RSA_4096;
}

/* ---- the TPM ---- */

/* swtpm has no resource manager: whatever tpm-key.c forgot to flush stays loaded. */
static void assert_tpm_clean(const char *tcti)
{
	static const TPM2_HANDLE ranges[] = { HANDLES_TRANSIENT, HANDLES_HMAC, HANDLES_POLICY };
	TSS2_TCTI_CONTEXT *t = NULL;
	ESYS_CONTEXT *esys = NULL;

	assert_int_equal(Tss2_TctiLdr_Initialize(tcti, &t), TSS2_RC_SUCCESS);
	if (Esys_Initialize(&esys, t, NULL) != TSS2_RC_SUCCESS) {
		Tss2_TctiLdr_Finalize(&t);
		fail_msg("Esys_Initialize");
	}
	for (size_t i = 0; i < ELEMENTSOF(ranges); i++) {
		TPMS_CAPABILITY_DATA *data = NULL;
		TPMI_YES_NO more = TPM2_NO;
		uint32_t count = UINT32_MAX;
		TSS2_RC rc;

		rc = Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_HANDLES, ranges[i], TPM2_MAX_CAP_HANDLES, &more,
					&data);
		if (rc == TSS2_RC_SUCCESS)
			count = data->data.handles.count;
		Esys_Free(data);
		if (rc != TSS2_RC_SUCCESS || count != 0) {
			Esys_Finalize(&esys);
			Tss2_TctiLdr_Finalize(&t);
			fail_msg("handles 0x%08x: rc 0x%08x, %u left in the TPM", ranges[i], rc,
				 count);
		}
	}
	Esys_Finalize(&esys);
	Tss2_TctiLdr_Finalize(&t);
}

/* A second swtpm: tests/lib/with-swtpm running "print the TCTI, then wait for EOF on stdin".
 * Closing our end of its stdin makes it stop the swtpm and clean up, also if we crash. */
struct other_tpm {
	pid_t pid;
	int fd;
	char tcti[256];
};

static void other_tpm_start(struct other_tpm *o)
{
	const char *with = getenv("VAULTFS_TEST_WITH_SWTPM");
	int in[2], out[2];
	size_t n = 0;

	if (!with || !*with)
		with = "tests/lib/with-swtpm";
	if (access(with, X_OK) < 0)
		fail_msg("cannot run '%s' to start a second swtpm", with);

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	o->pid = fork();
	assert_true(o->pid >= 0);
	if (o->pid == 0) {
		if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0)
			_exit(127);
		execl(with, with, "/bin/sh", "-c",
		      "printf '%s\\n' \"$VAULTFS_TEST_TCTI\"; exec cat >/dev/null", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	o->fd = in[1];

	while (n < sizeof(o->tcti) - 1) {
		ssize_t k = read(out[0], o->tcti + n, 1);

		if (k <= 0 || o->tcti[n] == '\n')
			break;
		n++;
	}
	o->tcti[n] = '\0';
	close(out[0]);
	if (strncmp(o->tcti, "swtpm:", 6) != 0)
		fail_msg("second swtpm did not start (got '%s')", o->tcti);
}

/* Stop it, and remove the lock file tpm.c took for its TCTI (FNV-1a 64 of the string, see
 * tpm.c's top comment): nobody uses a stopped swtpm's lock any more. */
static void other_tpm_stop(struct other_tpm *o)
{
	const char *dir = access("/run/lock", W_OK) == 0 ? "/run/lock" : "/tmp";
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	char path[128];
	int status, n;

	close(o->fd);
	assert_int_equal(waitpid(o->pid, &status, 0), o->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	for (const char *p = o->tcti; *p; p++) {
		h ^= (uint8_t)*p;
		h *= UINT64_C(0x100000001b3);
	}
	n = snprintf(path, sizeof(path), "%s/vaultfs-tpm-%016" PRIx64 ".lock", dir, h);
	if (n > 0 && (size_t)n < sizeof(path))
		(void)unlink(path);
}

/* ---- keys ---- */

struct key {
	enum key_type type;
	uint8_t *blob;
	size_t blob_len;
	uint8_t *spki;
	size_t spki_len;
	EVP_PKEY *pkey;
};

static void key_create(const char *tcti, enum key_type t, struct key *k)
{
	const unsigned char *p;
	uint8_t *spki2 = NULL;
	size_t spki2_len = 0;
	enum key_type bt = KEY_TYPE_INVALID;

	*k = (struct key){ .type = t };
	assert_int_equal(tpm_key_create(tcti, t, &k->blob, &k->blob_len, &k->spki, &k->spki_len),
			 0);
	assert_non_null(k->blob);
	assert_in_range(k->blob_len, 100, KEY_TPM_BLOB_MAX);
	assert_in_range(k->spki_len, 60, KEY_PUBLIC_DER_MAX);

	/* The blob names its type, and its public key is the one create gave. */
	assert_int_equal(tpm_key_blob_type(k->blob, k->blob_len, &bt), 0);
	assert_int_equal(bt, t);
	assert_int_equal(tpm_key_public(k->blob, k->blob_len, &spki2, &spki2_len), 0);
	assert_int_equal(spki2_len, k->spki_len);
	assert_memory_equal(spki2, k->spki, k->spki_len);
	free(spki2);

	/* OpenSSL reads the SubjectPublicKeyInfo whole, as the key of the right size. */
	p = k->spki;
	k->pkey = d2i_PUBKEY(NULL, &p, (long)k->spki_len);
	assert_non_null(k->pkey);
	assert_ptr_equal(p, k->spki + k->spki_len);
	switch (t) {
	case KEY_RSA_2048:
	case KEY_RSA_3072:
		assert_int_equal(EVP_PKEY_get_base_id(k->pkey), EVP_PKEY_RSA);
		assert_int_equal(EVP_PKEY_get_bits(k->pkey), t == KEY_RSA_2048 ? 2048 : 3072);
		break;
	default:
		assert_int_equal(EVP_PKEY_get_base_id(k->pkey), EVP_PKEY_EC);
		assert_int_equal(EVP_PKEY_get_bits(k->pkey), t == KEY_EC_P256 ? 256 : 384);
		break;
	}
}

static void key_done(struct key *k)
{
	EVP_PKEY_free(k->pkey);
	free(k->blob);
	free(k->spki);
	*k = (struct key){};
}

/* The blob's public area: what the TPM made the key with. */
static void assert_blob_attributes(const struct key *k)
{
	TPM2B_PUBLIC pub = {};
	size_t off = 0;
	TPMA_OBJECT a;

	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Unmarshal(k->blob, k->blob_len, &off, &pub),
			 TSS2_RC_SUCCESS);
	a = pub.publicArea.objectAttributes;
	assert_true(a & TPMA_OBJECT_FIXEDTPM);
	assert_true(a & TPMA_OBJECT_FIXEDPARENT);
	assert_true(a & TPMA_OBJECT_SENSITIVEDATAORIGIN);
	assert_true(a & TPMA_OBJECT_NODA);
	assert_true(a & TPMA_OBJECT_USERWITHAUTH);
	assert_true(a & TPMA_OBJECT_SIGN_ENCRYPT);
	assert_false(a & TPMA_OBJECT_RESTRICTED);
	assert_false(a & TPMA_OBJECT_ENCRYPTEDDUPLICATION);
	assert_int_equal(!!(a & TPMA_OBJECT_DECRYPT), is_rsa(k->type));
	assert_int_equal(pub.publicArea.authPolicy.size, 0);
}

/* ---- OpenSSL's side ---- */

static const EVP_MD *alg_md(enum key_alg a)
{
	switch (a) {
	case KEY_ALG_RS256:
	case KEY_ALG_PS256:
	case KEY_ALG_ES256:
		return EVP_sha256();
	case KEY_ALG_RS384:
	case KEY_ALG_PS384:
	case KEY_ALG_ES384:
		return EVP_sha384();
	default:
		return EVP_sha512();
	}
}

static bool alg_is_pss(enum key_alg a)
{
	return a == KEY_ALG_PS256 || a == KEY_ALG_PS384 || a == KEY_ALG_PS512;
}

/* A JWS ECDSA signature (r || s) as the DER ECDSA-Sig-Value OpenSSL verifies. */
static size_t ecdsa_jws_to_der(const uint8_t *sig, size_t siglen, uint8_t *der, size_t cap)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r, *s;
	unsigned char *p = der;
	int n;

	assert_non_null(es);
	assert_int_equal(siglen % 2, 0);
	r = BN_bin2bn(sig, (int)(siglen / 2), NULL);
	s = BN_bin2bn(sig + siglen / 2, (int)(siglen / 2), NULL);
	assert_non_null(r);
	assert_non_null(s);
	assert_int_equal(ECDSA_SIG_set0(es, r, s), 1);
	n = i2d_ECDSA_SIG(es, NULL);
	assert_true(n > 0 && (size_t)n <= cap);
	assert_int_equal(i2d_ECDSA_SIG(es, &p), n);
	ECDSA_SIG_free(es);
	return (size_t)n;
}

/* OpenSSL's verdict on sig over digest; saltlen is the PSS salt length to insist on. */
static bool verify_salt(EVP_PKEY *pkey, enum key_alg a, const uint8_t *digest, size_t dlen,
			const uint8_t *sig, size_t siglen, int saltlen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
	uint8_t der[256];
	int ok;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, alg_md(a)), 1);
	if (a >= KEY_ALG_RS256 && a <= KEY_ALG_RS512) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
	} else if (alg_is_pss(a)) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, saltlen), 1);
	} else {
		siglen = ecdsa_jws_to_der(sig, siglen, der, sizeof(der));
		sig = der;
	}
	ok = EVP_PKEY_verify(ctx, sig, siglen, digest, dlen);
	EVP_PKEY_CTX_free(ctx);
	return ok == 1;
}

static bool verify(EVP_PKEY *pkey, enum key_alg a, const uint8_t *digest, size_t dlen,
		   const uint8_t *sig, size_t siglen)
{
	return verify_salt(pkey, a, digest, dlen, sig, siglen, RSA_PSS_SALTLEN_AUTO);
}

static size_t oaep_encrypt(EVP_PKEY *pkey, enum key_alg a, const uint8_t *in, size_t n,
			   uint8_t *out, size_t cap)
{
	const EVP_MD *md = a == KEY_ALG_RSA_OAEP ? EVP_sha1() : EVP_sha256();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
	size_t outlen = cap;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md), 1);
	assert_int_equal(EVP_PKEY_encrypt(ctx, out, &outlen, in, n), 1);
	EVP_PKEY_CTX_free(ctx);
	return outlen;
}

/* ---- signing ---- */

/* Sign a fresh random digest with alg and check OpenSSL verifies it (and not another digest). */
static void sign_verify(const char *tcti, const struct key *k, enum key_alg a)
{
	size_t dlen = digest_len(a);
	uint8_t digest[64], sig[KEY_SIG_MAX];
	size_t siglen = sizeof(sig);

	assert_in_range(dlen, 32, 64);
	test_random(digest, dlen);
	assert_int_equal(
		tpm_key_sign(tcti, k->blob, k->blob_len, k->type, a, digest, dlen, sig, &siglen),
		0);
	/* JWS form: the modulus' size, or r || s of the curve's size each. */
	if (is_rsa(k->type))
		assert_int_equal(siglen, (size_t)EVP_PKEY_get_size(k->pkey));
	else
		assert_int_equal(siglen, k->type == KEY_EC_P256 ? 64u : 96u);
	assert_true(verify(k->pkey, a, digest, dlen, sig, siglen));
	digest[0] ^= 1;
	assert_false(verify(k->pkey, a, digest, dlen, sig, siglen));
}

/* The TPM's PSS salt length: which of "the hash's length" and "the most the key allows"
 * OpenSSL accepts (printed; the signature verifies under RSA_PSS_SALTLEN_AUTO either way). */
static void pss_salt(const char *tcti, const struct key *k, enum key_alg a)
{
	size_t dlen = digest_len(a);
	uint8_t digest[64], sig[KEY_SIG_MAX];
	size_t siglen = sizeof(sig);
	const char *what = "the most the key allows";
	bool hlen, max;

	test_random(digest, dlen);
	assert_int_equal(
		tpm_key_sign(tcti, k->blob, k->blob_len, k->type, a, digest, dlen, sig, &siglen),
		0);
	hlen = verify_salt(k->pkey, a, digest, dlen, sig, siglen, RSA_PSS_SALTLEN_DIGEST);
	max = verify_salt(k->pkey, a, digest, dlen, sig, siglen, RSA_PSS_SALTLEN_MAX);
	assert_true(hlen || max);
	if (hlen)
		what = max ? "the hash's length (= the most)" : "the hash's length";
	print_message("rsa-%d, %zu-byte digest: PSS salt length %s\n", EVP_PKEY_get_bits(k->pkey),
		      dlen, what);
}

static void decrypt_equals(const char *tcti, const struct key *k, enum key_alg a, const uint8_t *ct,
			   size_t ctlen, const uint8_t *pt, size_t ptlen)
{
	struct secbuf *sb = NULL;

	assert_int_equal(tpm_key_decrypt(tcti, k->blob, k->blob_len, k->type, a, ct, ctlen, &sb),
			 0);
	assert_non_null(sb);
	assert_int_equal(sb->len, ptlen);
	assert_memory_equal(sb->data, pt, ptlen);
	secbuf_free(sb);
}

static void assert_decrypt_fails(const char *tcti, const struct key *k, enum key_type t,
				 enum key_alg a, const uint8_t *ct, size_t ctlen, int err)
{
	struct secbuf sentinel = {};
	struct secbuf *sb = &sentinel;

	assert_int_equal(tpm_key_decrypt(tcti, k->blob, k->blob_len, t, a, ct, ctlen, &sb), err);
	assert_ptr_equal(sb, &sentinel);
}

static int sign_err(const char *tcti, const uint8_t *blob, size_t len, enum key_type t,
		    enum key_alg a, size_t dlen)
{
	uint8_t digest[64] = { 1 }, sig[KEY_SIG_MAX];
	size_t siglen = sizeof(sig);

	return tpm_key_sign(tcti, blob, len, t, a, digest, dlen, sig, &siglen);
}

static void test_rsa(const char *tcti, enum key_type t)
{
	static const enum key_alg algs[] = { KEY_ALG_RS256, KEY_ALG_RS384, KEY_ALG_RS512,
					     KEY_ALG_PS256, KEY_ALG_PS384, KEY_ALG_PS512 };
	uint8_t pt[190], ct[512], bad[512];
	size_t ctlen, ptlen;
	struct key k;

	key_create(tcti, t, &k);
	assert_blob_attributes(&k);

	for (size_t i = 0; i < ELEMENTSOF(algs); i++)
		sign_verify(tcti, &k, algs[i]);
	pss_salt(tcti, &k, KEY_ALG_PS256);
	pss_salt(tcti, &k, KEY_ALG_PS512);

	/* Algorithms and lengths an RSA key refuses. */
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, KEY_ALG_ES256, 32), -EOPNOTSUPP);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, KEY_ALG_EDDSA, 32), -EOPNOTSUPP);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, KEY_ALG_RSA_OAEP_256, 32),
			 -EOPNOTSUPP);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, KEY_ALG_RS256, 31), -EINVAL);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, KEY_ALG_RS256, 48), -EINVAL);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, KEY_ALG_PS512, 0), -EINVAL);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, KEY_ALG_PS384, 64), -EINVAL);
	/* Asked as the other RSA size: the blob is not what the caller says. */
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len,
				  t == KEY_RSA_2048 ? KEY_RSA_3072 : KEY_RSA_2048, KEY_ALG_RS256,
				  32),
			 -EBADMSG);
	{
		uint8_t digest[32] = {}, sig[KEY_SIG_MAX];
		size_t siglen = (size_t)EVP_PKEY_get_size(k.pkey) - 1;

		assert_int_equal(tpm_key_sign(tcti, k.blob, k.blob_len, t, KEY_ALG_RS256, digest,
					      sizeof(digest), sig, &siglen),
				 -ENOBUFS);
		assert_int_equal(siglen, (size_t)EVP_PKEY_get_size(k.pkey) - 1);
	}

	/* OAEP with SHA-256 (the most a 2048-bit key takes: 190 bytes) and SHA-1. */
	test_random(pt, sizeof(pt));
	ctlen = oaep_encrypt(k.pkey, KEY_ALG_RSA_OAEP_256, pt, sizeof(pt), ct, sizeof(ct));
	assert_int_equal(ctlen, (size_t)EVP_PKEY_get_size(k.pkey));
	decrypt_equals(tcti, &k, KEY_ALG_RSA_OAEP_256, ct, ctlen, pt, sizeof(pt));
	ptlen = 1;
	ctlen = oaep_encrypt(k.pkey, KEY_ALG_RSA_OAEP_256, pt, ptlen, ct, sizeof(ct));
	decrypt_equals(tcti, &k, KEY_ALG_RSA_OAEP_256, ct, ctlen, pt, ptlen);
	/* Under the other hash, it does not decrypt. */
	assert_decrypt_fails(tcti, &k, t, KEY_ALG_RSA_OAEP, ct, ctlen, -EBADMSG);
	ptlen = 32;
	ctlen = oaep_encrypt(k.pkey, KEY_ALG_RSA_OAEP, pt, ptlen, ct, sizeof(ct));
	decrypt_equals(tcti, &k, KEY_ALG_RSA_OAEP, ct, ctlen, pt, ptlen);

	/* A changed ciphertext, one of the wrong length, and other algorithms. */
	memcpy(bad, ct, ctlen);
	bad[ctlen / 2] ^= 0x10;
	assert_decrypt_fails(tcti, &k, t, KEY_ALG_RSA_OAEP, bad, ctlen, -EBADMSG);
	memset(bad, 0xff, ctlen); /* over the modulus */
	assert_decrypt_fails(tcti, &k, t, KEY_ALG_RSA_OAEP_256, bad, ctlen, -EBADMSG);
	assert_decrypt_fails(tcti, &k, t, KEY_ALG_RSA_OAEP_256, ct, ctlen - 1, -EINVAL);
	assert_decrypt_fails(tcti, &k, t, KEY_ALG_RSA_OAEP_256, ct, ctlen + 1, -EINVAL);
	assert_decrypt_fails(tcti, &k, t, KEY_ALG_RSA_OAEP_256, ct, 0, -EINVAL);
	assert_decrypt_fails(tcti, &k, t, KEY_ALG_A256GCM, ct, ctlen, -EOPNOTSUPP);
	assert_decrypt_fails(tcti, &k, t, KEY_ALG_A256KW, ct, ctlen, -EOPNOTSUPP);
	assert_decrypt_fails(tcti, &k, t, KEY_ALG_RS256, ct, ctlen, -EOPNOTSUPP);
	assert_decrypt_fails(tcti, &k, t, KEY_ALG_INVALID, ct, ctlen, -EINVAL);
	assert_decrypt_fails(tcti, &k, t, _KEY_ALG_MAX, ct, ctlen, -EINVAL);

	key_done(&k);
	assert_tpm_clean(tcti);
}

static void test_rsa_2048(void **state)
{
	(void)state;
	test_rsa(test_tcti(), KEY_RSA_2048);
}

static void test_rsa_3072(void **state)
{
	(void)state;
	test_rsa(test_tcti(), KEY_RSA_3072);
}

static void test_ec(const char *tcti, enum key_type t)
{
	enum key_alg a = t == KEY_EC_P256 ? KEY_ALG_ES256 : KEY_ALG_ES384;
	uint8_t ct[256] = { 1 };
	struct key k;

	key_create(tcti, t, &k);
	assert_blob_attributes(&k);
	for (int i = 0; i < 4; i++)
		sign_verify(tcti, &k, a);

	/* The other curve's algorithm, RSA's, EdDSA, and digests of the wrong length. */
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t,
				  t == KEY_EC_P256 ? KEY_ALG_ES384 : KEY_ALG_ES256, 48),
			 -EOPNOTSUPP);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, KEY_ALG_ES512, 64), -EOPNOTSUPP);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, KEY_ALG_RS256, 32), -EOPNOTSUPP);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, KEY_ALG_PS256, 32), -EOPNOTSUPP);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, KEY_ALG_EDDSA, 32), -EOPNOTSUPP);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, a, digest_len(a) - 1), -EINVAL);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, a, digest_len(a) + 1), -EINVAL);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, t, a, 64), -EINVAL);
	/* Asked as the other curve, or as RSA. */
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len,
				  t == KEY_EC_P256 ? KEY_EC_P384 : KEY_EC_P256,
				  t == KEY_EC_P256 ? KEY_ALG_ES384 : KEY_ALG_ES256,
				  t == KEY_EC_P256 ? 48 : 32),
			 -EBADMSG);
	assert_int_equal(sign_err(tcti, k.blob, k.blob_len, KEY_RSA_2048, KEY_ALG_RS256, 32),
			 -EBADMSG);
	/* An EC key does not decrypt. */
	assert_decrypt_fails(tcti, &k, t, KEY_ALG_RSA_OAEP_256, ct, t == KEY_EC_P256 ? 32 : 48,
			     -EOPNOTSUPP);
	assert_decrypt_fails(tcti, &k, t, KEY_ALG_RSA_OAEP_256, ct, 256, -EOPNOTSUPP);

	key_done(&k);
	assert_tpm_clean(tcti);
}

static void test_ec_p256(void **state)
{
	(void)state;
	test_ec(test_tcti(), KEY_EC_P256);
}

static void test_ec_p384(void **state)
{
	(void)state;
	test_ec(test_tcti(), KEY_EC_P384);
}

/* ---- refusals ---- */

static void test_types(void **state)
{
	static const enum key_type no[] = { KEY_RSA_4096, KEY_EC_P521, KEY_ED25519, KEY_AES_256 };
	static const enum key_type yes[] = { KEY_RSA_2048, KEY_RSA_3072, KEY_EC_P256, KEY_EC_P384 };
	const char *tcti = test_tcti();
	uint8_t sentinel = 0;
	uint8_t *blob = &sentinel, *spki = &sentinel;
	size_t blen = 7, slen = 7;

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		assert_true(tpm_key_type_allowed(yes[i]));
		/* swtpm makes every one of them. */
		assert_int_equal(tpm_key_supported(tcti, yes[i]), 0);
	}
	for (size_t i = 0; i < ELEMENTSOF(no); i++) {
		assert_false(tpm_key_type_allowed(no[i]));
		log_foreign_clear();
		assert_int_equal(tpm_key_supported(tcti, no[i]), -EOPNOTSUPP);
		assert_int_equal(tpm_key_create(tcti, no[i], &blob, &blen, &spki, &slen),
				 -EOPNOTSUPP);
		/* Refused before the TPM is asked: no foreign words. */
		assert_string_equal(log_foreign_last(), "");
		assert_int_equal(sign_err(tcti, (const uint8_t *)"x", 1, no[i],
					  no[i] == KEY_EC_P521 ? KEY_ALG_ES512 : KEY_ALG_RS256,
					  no[i] == KEY_EC_P521 ? 64 : 32),
				 -EOPNOTSUPP);
	}
	assert_false(tpm_key_type_allowed(KEY_TYPE_INVALID));
	assert_false(tpm_key_type_allowed(_KEY_TYPE_MAX));
	assert_int_equal(tpm_key_create(tcti, KEY_TYPE_INVALID, &blob, &blen, &spki, &slen),
			 -EINVAL);
	assert_int_equal(tpm_key_create(tcti, _KEY_TYPE_MAX, &blob, &blen, &spki, &slen), -EINVAL);
	assert_int_equal(tpm_key_supported(tcti, KEY_TYPE_INVALID), -EINVAL);
	assert_ptr_equal(blob, &sentinel);
	assert_ptr_equal(spki, &sentinel);
	assert_int_equal(blen, 7);
	assert_int_equal(slen, 7);
	assert_tpm_clean(tcti);
}

static void test_refusals(void **state)
{
	const char *tcti = test_tcti();
	uint8_t digest[32] = {}, sig[KEY_SIG_MAX], ct[256] = {};
	size_t siglen = sizeof(sig);
	struct secbuf *sb = NULL;
	uint8_t *blob = NULL, *spki = NULL;
	size_t blen = 0, slen = 0;
	enum key_type bt;
	struct key k;

	(void)state;
	key_create(tcti, KEY_EC_P256, &k);

	assert_int_equal(tpm_key_create(NULL, KEY_EC_P256, &blob, &blen, &spki, &slen), -EINVAL);
	assert_int_equal(tpm_key_create("", KEY_EC_P256, &blob, &blen, &spki, &slen), -EINVAL);
	assert_int_equal(tpm_key_create(tcti, KEY_EC_P256, NULL, &blen, &spki, &slen), -EINVAL);
	assert_int_equal(tpm_key_create(tcti, KEY_EC_P256, &blob, &blen, NULL, &slen), -EINVAL);
	assert_int_equal(tpm_key_supported(NULL, KEY_EC_P256), -EINVAL);
	assert_int_equal(tpm_key_public(NULL, 10, &spki, &slen), -EINVAL);
	assert_int_equal(tpm_key_public(k.blob, k.blob_len, NULL, &slen), -EINVAL);
	assert_int_equal(tpm_key_blob_type(k.blob, k.blob_len, NULL), -EINVAL);
	assert_int_equal(tpm_key_sign(NULL, k.blob, k.blob_len, KEY_EC_P256, KEY_ALG_ES256, digest,
				      32, sig, &siglen),
			 -EINVAL);
	assert_int_equal(tpm_key_sign(tcti, NULL, k.blob_len, KEY_EC_P256, KEY_ALG_ES256, digest,
				      32, sig, &siglen),
			 -EINVAL);
	assert_int_equal(tpm_key_sign(tcti, k.blob, k.blob_len, KEY_EC_P256, KEY_ALG_ES256, NULL,
				      32, sig, &siglen),
			 -EINVAL);
	assert_int_equal(tpm_key_sign(tcti, k.blob, k.blob_len, KEY_EC_P256, KEY_ALG_ES256, digest,
				      32, NULL, &siglen),
			 -EINVAL);
	assert_int_equal(tpm_key_sign(tcti, k.blob, k.blob_len, KEY_EC_P256, KEY_ALG_ES256, digest,
				      32, sig, NULL),
			 -EINVAL);
	assert_int_equal(tpm_key_sign(tcti, k.blob, k.blob_len, KEY_EC_P256, KEY_ALG_INVALID,
				      digest, 32, sig, &siglen),
			 -EINVAL);
	assert_int_equal(tpm_key_sign(tcti, k.blob, k.blob_len, KEY_EC_P256, _KEY_ALG_MAX, digest,
				      32, sig, &siglen),
			 -EINVAL);
	assert_int_equal(tpm_key_sign(tcti, k.blob, k.blob_len, KEY_TYPE_INVALID, KEY_ALG_ES256,
				      digest, 32, sig, &siglen),
			 -EINVAL);
	siglen = 63;
	assert_int_equal(tpm_key_sign(tcti, k.blob, k.blob_len, KEY_EC_P256, KEY_ALG_ES256, digest,
				      32, sig, &siglen),
			 -ENOBUFS);
	assert_int_equal(tpm_key_decrypt(tcti, k.blob, k.blob_len, KEY_EC_P256,
					 KEY_ALG_RSA_OAEP_256, ct, sizeof(ct), NULL),
			 -EINVAL);
	assert_int_equal(tpm_key_decrypt(tcti, k.blob, k.blob_len, KEY_EC_P256,
					 KEY_ALG_RSA_OAEP_256, NULL, sizeof(ct), &sb),
			 -EINVAL);
	assert_null(sb);

	/* Blobs that are not one, and a blob over the cap. */
	assert_int_equal(tpm_key_blob_type((const uint8_t *)"", 0, &bt), -EBADMSG);
	assert_int_equal(tpm_key_blob_type(ct, sizeof(ct), &bt), -EBADMSG);
	{
		uint8_t *big = calloc(1, KEY_TPM_BLOB_MAX + 1);

		assert_non_null(big);
		memcpy(big, k.blob, k.blob_len);
		assert_int_equal(tpm_key_blob_type(big, k.blob_len + 1, &bt), -EBADMSG);
		assert_int_equal(tpm_key_blob_type(big, KEY_TPM_BLOB_MAX + 1, &bt), -EBADMSG);
		free(big);
	}

	/* No TPM there. */
	siglen = sizeof(sig);
	log_foreign_clear();
	assert_int_equal(tpm_key_sign(UNREACHABLE_TCTI, k.blob, k.blob_len, KEY_EC_P256,
				      KEY_ALG_ES256, digest, 32, sig, &siglen),
			 -ENODEV);
	assert_non_null(strstr(log_foreign_last(), "tss2: "));
	log_foreign_clear();
	assert_int_equal(tpm_key_create(UNREACHABLE_TCTI, KEY_EC_P256, &blob, &blen, &spki, &slen),
			 -ENODEV);
	assert_null(blob);
	assert_null(spki);
	log_foreign_clear();

	key_done(&k);
	assert_tpm_clean(tcti);
}

/* ---- the blob ---- */

/* A heap copy of exactly len bytes of p, with byte i (if < len) flipped by x. */
static uint8_t *copy_flip(const uint8_t *p, size_t len, size_t i, uint8_t x)
{
	uint8_t *c = malloc(len ? len : 1);

	assert_non_null(c);
	memcpy(c, p, len);
	if (i < len)
		c[i] ^= x;
	return c;
}

/* Truncated at every length: never a crash (ASan sees each copy's exact end), always -EBADMSG,
 * without asking the TPM. */
static void test_truncated(void **state)
{
	const char *tcti = test_tcti();
	struct key k;

	(void)state;
	key_create(tcti, KEY_RSA_2048, &k);
	for (size_t n = 0; n < k.blob_len; n++) {
		uint8_t *c = copy_flip(k.blob, n, SIZE_MAX, 0);
		uint8_t *spki = NULL;
		size_t slen = 0;

		assert_int_equal(tpm_key_public(c, n, &spki, &slen), -EBADMSG);
		assert_null(spki);
		free(c);
	}
	key_done(&k);
	assert_tpm_clean(tcti);
}

/* Every byte of an EC key's blob flipped, and every byte of an RSA key's private area: the
 * public area is checked by its form or by the TPM (the private area's integrity value covers
 * the public area's name), the private area by its integrity value: -EBADMSG each time, and
 * the key never signs. The private half is in the blob only encrypted and authenticated by
 * the parent: no change to it goes unnoticed. */
static void flip_all(const char *tcti, const struct key *k, size_t from, enum key_alg a)
{
	size_t dlen = digest_len(a);

	for (size_t i = from; i < k->blob_len; i++) {
		uint8_t *c = copy_flip(k->blob, k->blob_len, i, (uint8_t)(1u << (i % 8)));

		log_foreign_clear();
		if (sign_err(tcti, c, k->blob_len, k->type, a, dlen) != -EBADMSG)
			fail_msg("byte %zu of %zu flipped: not -EBADMSG", i, k->blob_len);
		free(c);
	}
	log_foreign_clear();
}

static void test_flipped(void **state)
{
	const char *tcti = test_tcti();
	TPM2B_PUBLIC pub = {};
	size_t off = 0;
	struct key k;

	(void)state;
	key_create(tcti, KEY_EC_P256, &k);
	flip_all(tcti, &k, 0, KEY_ALG_ES256);
	/* A changed private area fails in the TPM's integrity check, with its words. */
	{
		uint8_t *c = copy_flip(k.blob, k.blob_len, k.blob_len - 5, 0x01);

		log_foreign_clear();
		assert_int_equal(sign_err(tcti, c, k.blob_len, k.type, KEY_ALG_ES256, 32),
				 -EBADMSG);
		assert_non_null(strstr(log_foreign_last(), "tss2: Esys_Load: "));
		assert_non_null(strstr(log_foreign_last(), "integrity"));
		log_foreign_clear();
		free(c);
	}
	key_done(&k);

	key_create(tcti, KEY_RSA_2048, &k);
	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Unmarshal(k.blob, k.blob_len, &off, &pub),
			 TSS2_RC_SUCCESS);
	flip_all(tcti, &k, off, KEY_ALG_RS256);
	sign_verify(tcti, &k, KEY_ALG_RS256);
	key_done(&k);
	assert_tpm_clean(tcti);
}

/* A blob made by one TPM does not load in another (its parent there is another key): -EBADMSG
 * with TSS2's words, both ways, and each still works at home. */
static void test_other_tpm(void **state)
{
	const char *tcti = test_tcti();
	uint8_t ct[256], pt[16] = "sixteen bytes!!";
	struct other_tpm o = {};
	struct key a, b;
	size_t ctlen;

	(void)state;
	other_tpm_start(&o);
	assert_string_not_equal(o.tcti, tcti);
	key_create(tcti, KEY_EC_P256, &a);
	key_create(o.tcti, KEY_RSA_2048, &b);

	log_foreign_clear();
	assert_int_equal(sign_err(o.tcti, a.blob, a.blob_len, a.type, KEY_ALG_ES256, 32), -EBADMSG);
	assert_non_null(strstr(log_foreign_last(), "tss2: Esys_Load: "));
	assert_int_equal(sign_err(tcti, b.blob, b.blob_len, b.type, KEY_ALG_PS256, 32), -EBADMSG);
	ctlen = oaep_encrypt(b.pkey, KEY_ALG_RSA_OAEP_256, pt, sizeof(pt), ct, sizeof(ct));
	assert_decrypt_fails(tcti, &b, b.type, KEY_ALG_RSA_OAEP_256, ct, ctlen, -EBADMSG);
	log_foreign_clear();

	sign_verify(tcti, &a, KEY_ALG_ES256);
	sign_verify(o.tcti, &b, KEY_ALG_PS256);
	decrypt_equals(o.tcti, &b, KEY_ALG_RSA_OAEP_256, ct, ctlen, pt, sizeof(pt));

	assert_tpm_clean(o.tcti);
	other_tpm_stop(&o);
	key_done(&a);
	key_done(&b);
	assert_tpm_clean(tcti);
}

/* Does the file at path contain any 8-byte window of p? */
static bool file_contains_window(const char *path, const uint8_t *p, size_t n, size_t *ret_size)
{
	uint8_t *buf = NULL;
	size_t size = 0;
	bool found = false;

	assert_int_equal(test_read_file(path, &buf, &size), 0);
	for (size_t i = 0; i + 8 <= n && !found; i++)
		found = memmem(buf, size, p + i, 8) != NULL;
	free(buf);
	*ret_size = size;
	return found;
}

/* Decrypt through the pcap TCTI, which records every command and response: the plaintext never
 * appears on the bus (the response is encrypted in a session salted to the primary), while the
 * ciphertext (sent in the clear) does, which shows the capture sees the payloads. */
static void test_bus_encrypted(void **state)
{
	const char *tcti = test_tcti();
	char *dir = NULL;
	char path[256], pcap[512];
	uint8_t pt[190], ct[256];
	size_t ctlen, size;
	struct key k;

	(void)state;
	assert_int_equal(test_tmpdir(&dir), 0);
	assert_in_range(snprintf(path, sizeof(path), "%s/bus.pcap", dir), 1, sizeof(path) - 1);
	assert_in_range(snprintf(pcap, sizeof(pcap), "pcap:%s", tcti), 1, sizeof(pcap) - 1);
	key_create(tcti, KEY_RSA_2048, &k);
	test_random(pt, sizeof(pt));
	ctlen = oaep_encrypt(k.pkey, KEY_ALG_RSA_OAEP_256, pt, sizeof(pt), ct, sizeof(ct));

	assert_int_equal(setenv("TCTI_PCAP_FILE", path, 1), 0);
	decrypt_equals(pcap, &k, KEY_ALG_RSA_OAEP_256, ct, ctlen, pt, sizeof(pt));
	assert_int_equal(unsetenv("TCTI_PCAP_FILE"), 0);

	assert_false(file_contains_window(path, pt, sizeof(pt), &size));
	assert_true(size > 1000);
	assert_true(file_contains_window(path, ct, ctlen, &size));
	key_done(&k);
	test_rmtree(dir);
	free(dir);
	assert_tpm_clean(tcti);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types),	  cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_ec_p256),	  cmocka_unit_test(test_ec_p384),
		cmocka_unit_test(test_rsa_2048),  cmocka_unit_test(test_rsa_3072),
		cmocka_unit_test(test_truncated), cmocka_unit_test(test_flipped),
		cmocka_unit_test(test_other_tpm), cmocka_unit_test(test_bus_encrypted),
	};

	(void)argc;
	(void)argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
