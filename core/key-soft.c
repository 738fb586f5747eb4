/* key-soft.c: software keys over OpenSSL 3: generate, the public half, its PEM, digests, sign
 * and verify in JWS form; and what the module's other files share (key-soft-int.h): keys in
 * and out of PKCS#8 and SPKI DER, and the module's one conversion of OpenSSL's failures to
 * -errno. Private material lives only in secbufs and in OpenSSL's key objects, which free it
 * cleansed; it must never be copied to a plain buffer, logged, or kept past the call, and no
 * deprecated OpenSSL API is used (but in key-ec.c, for ECDSA without OpenSSL 3.0's curve build
 * per key). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/crypto.h"
#include "core/key-ec.h"
#include "core/key-soft-int.h"
#include "core/key-soft.h"
#include "core/log.h"
#include "core/util.h"

static inline void md_ctx_freep(EVP_MD_CTX **p)
{
	EVP_MD_CTX_free(*p);
}

static inline void encoder_ctx_freep(OSSL_ENCODER_CTX **p)
{
	OSSL_ENCODER_CTX_free(*p);
}

static inline void ecdsa_sig_freep(ECDSA_SIG **p)
{
	ECDSA_SIG_free(*p);
}

static inline void openssl_freep(unsigned char **p)
{
	OPENSSL_free(*p);
}

int key_pkey_type(EVP_PKEY *pk, enum key_type *ret)
{
	enum key_type t = KEY_TYPE_INVALID;
	char group[64];

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		switch (EVP_PKEY_get_bits(pk)) {
		case 2048:
			t = KEY_RSA_2048;
			break;
		case 3072:
			t = KEY_RSA_3072;
			break;
		case 4096:
			t = KEY_RSA_4096;
			break;
		}
		break;
	case EVP_PKEY_EC:
		/* A key with explicit curve parameters has no group name: refused. */
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1)
			break;
		switch (OBJ_sn2nid(group)) {
		case NID_X9_62_prime256v1:
			t = KEY_EC_P256;
			break;
		case NID_secp384r1:
			t = KEY_EC_P384;
			break;
		case NID_secp521r1:
			t = KEY_EC_P521;
			break;
		}
		break;
	case EVP_PKEY_ED25519:
		t = KEY_ED25519;
		break;
	}
	ERR_clear_error();
	if (t == KEY_TYPE_INVALID)
		return -EOPNOTSUPP;
	*ret = t;
	return 0;
}

int key_pkey_from_spki(enum key_type t, const uint8_t *spki, size_t len, EVP_PKEY **ret)
{
	const unsigned char *p = spki;
	enum key_type got;
	EVP_PKEY *pk;

	if (!spki || len == 0)
		return -EINVAL;
	if (len > KEY_PUBLIC_DER_MAX)
		return -EMSGSIZE;
	pk = d2i_PUBKEY(NULL, &p, (long)len);
	if (!pk || p != spki + len) {
		EVP_PKEY_free(pk);
		return crypto_openssl_errno(-EINVAL);
	}
	if (key_pkey_type(pk, &got) < 0 || (t != KEY_TYPE_INVALID && got != t)) {
		EVP_PKEY_free(pk);
		return -EINVAL;
	}
	*ret = pk;
	return 0;
}

/* OSSL_ENCODER straight into locked memory: EVP_PKEY2PKCS8 would encode to a heap buffer of
 * OpenSSL's own first and parse it back. */
int key_pkey_to_material(EVP_PKEY *pk, enum key_type *ret_type, struct secbuf **ret)
{
	_cleanup_(encoder_ctx_freep) OSSL_ENCODER_CTX *ctx = NULL;
	_cleanup_secbuf_ struct secbuf *big = NULL;
	enum key_type t;
	unsigned char *q;
	size_t left = KEY_MATERIAL_MAX;
	int r;

	r = key_pkey_type(pk, &t);
	if (r < 0)
		return r;
	ctx = OSSL_ENCODER_CTX_new_for_pkey(pk, EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo", NULL);
	if (!ctx || OSSL_ENCODER_CTX_get_num_encoders(ctx) == 0)
		return crypto_openssl_errno(-EIO);
	r = secbuf_new(KEY_MATERIAL_MAX, &big);
	if (r < 0)
		return r;
	q = big->data;
	if (OSSL_ENCODER_to_data(ctx, &q, &left) != 1 || left >= KEY_MATERIAL_MAX)
		return crypto_openssl_errno(-EIO);
	r = secbuf_dup(big->data, KEY_MATERIAL_MAX - left, ret);
	if (r < 0)
		return r;
	if (ret_type)
		*ret_type = t;
	return 0;
}

int key_soft_generate(enum key_type t, struct secbuf **ret_material)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	_cleanup_secbuf_ struct secbuf *b = NULL;
	int r;

	if (!ret_material)
		return -EINVAL;
	switch (t) {
	case KEY_RSA_2048:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case KEY_RSA_3072:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	case KEY_RSA_4096:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
		break;
	case KEY_EC_P256:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case KEY_EC_P384:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case KEY_EC_P521:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
		break;
	case KEY_ED25519:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case KEY_AES_256:
		r = secbuf_new(32, &b);
		if (r < 0)
			return r;
		r = crypto_random(b->data, 32);
		if (r < 0)
			return r;
		b->len = 32;
		*ret_material = TAKE_PTR(b);
		return 0;
	default:
		return -EINVAL;
	}
	if (!pk)
		return crypto_openssl_errno(-EIO);
	return key_pkey_to_material(pk, NULL, ret_material);
}

int key_soft_check(enum key_type t, const struct secbuf *material)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;

	if (t == KEY_AES_256)
		return material && material->len == 32 ? 0 : -EINVAL;
	return key_pkey_from_material(t, material, &pk);
}

/* The DER public key of pk into out (size *len). */
static int pkey_spki(EVP_PKEY *pk, uint8_t *out, size_t *len)
{
	unsigned char *q = out;
	int n = i2d_PUBKEY(pk, NULL);

	if (n <= 0)
		return crypto_openssl_errno(-EIO);
	if ((size_t)n > *len)
		return -ENOBUFS;
	if (i2d_PUBKEY(pk, &q) != n)
		return crypto_openssl_errno(-EIO);
	*len = (size_t)n;
	return 0;
}

int key_soft_public(enum key_type t, const struct secbuf *material, uint8_t *spki, size_t *len)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	int r;

	if (t == KEY_AES_256)
		return -EOPNOTSUPP;
	if (!spki || !len)
		return -EINVAL;
	r = key_pkey_from_material(t, material, &pk);
	if (r < 0)
		return r;
	return pkey_spki(pk, spki, len);
}

int key_public_pem(const uint8_t *spki, size_t len, char **ret)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	static const char head[] = "-----BEGIN PUBLIC KEY-----\n";
	static const char tail[] = "-----END PUBLIC KEY-----\n";
	unsigned char b64[(KEY_PUBLIC_DER_MAX + 2) / 3 * 4 + 1];
	const unsigned char *p = spki;
	size_t n, pos;
	char *s;
	int r;

	if (!spki || !ret || len == 0)
		return -EINVAL;
	if (len > KEY_PUBLIC_DER_MAX)
		return -EMSGSIZE;
	pk = d2i_PUBKEY(NULL, &p, (long)len);
	if (!pk || p != spki + len)
		return crypto_openssl_errno(-EINVAL);
	r = EVP_EncodeBlock(b64, spki, (int)len);
	if (r <= 0)
		return crypto_openssl_errno(-EIO);
	n = (size_t)r;
	s = malloc(sizeof(head) + n + n / 64 + 1 + sizeof(tail));
	if (!s)
		return -ENOMEM;
	memcpy(s, head, sizeof(head) - 1);
	pos = sizeof(head) - 1;
	for (size_t i = 0; i < n; i += 64) {
		size_t k = MIN((size_t)64, n - i);

		memcpy(s + pos, b64 + i, k);
		pos += k;
		s[pos++] = '\n';
	}
	memcpy(s + pos, tail, sizeof(tail));
	*ret = s;
	return 0;
}

static const EVP_MD *alg_md(enum key_alg a)
{
	switch (key_alg_digest_len(a)) {
	case 32:
		return EVP_sha256();
	case 48:
		return EVP_sha384();
	case 64:
		return EVP_sha512();
	default:
		return NULL;
	}
}

int key_digest(enum key_alg a, const uint8_t *data, size_t n, uint8_t *out, size_t *outlen)
{
	const EVP_MD *md = alg_md(a);
	unsigned len = 0;

	if ((unsigned)a >= _KEY_ALG_MAX || a == KEY_ALG_INVALID)
		return -EINVAL;
	if (!md)
		return -EOPNOTSUPP;
	if ((!data && n > 0) || !out || !outlen)
		return -EINVAL;
	if (n > KEY_INPUT_MAX)
		return -EMSGSIZE;
	if (*outlen < key_alg_digest_len(a))
		return -ENOBUFS;
	if (EVP_Digest(data ? data : (const uint8_t *)"", n, out, &len, md, NULL) != 1)
		return crypto_openssl_errno(-EIO);
	*outlen = len;
	return 0;
}

/* The size of each of r and s in an ES* signature. */
static size_t ec_coord_len(enum key_type t)
{
	return t == KEY_EC_P256 ? 32 : t == KEY_EC_P384 ? 48 : 66;
}

/* The input checks sign and verify share: alg for type and op, the digest's length, caps. */
static int check_sign_input(enum key_type t, enum key_op op, enum key_alg a, const uint8_t *in,
			    size_t n)
{
	int r = key_alg_check(t, op, a);

	if (r < 0)
		return r;
	if (!in && n > 0)
		return -EINVAL;
	if (a == KEY_ALG_EDDSA)
		return n > KEY_INPUT_MAX ? -EMSGSIZE : 0;
	return n == key_alg_digest_len(a) ? 0 : -EINVAL;
}

/* A sign or verify context for a digest: the hash, and RSA's padding (PSS: MGF1 of the same
 * hash, salt of the hash's length). */
static int setup_digest_ctx(EVP_PKEY_CTX *ctx, enum key_type t, enum key_alg a)
{
	const EVP_MD *md = alg_md(a);

	if (EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0)
		return crypto_openssl_errno(-EIO);
	if (!key_type_is_rsa(t))
		return 0;
	if (a >= KEY_ALG_PS256 && a <= KEY_ALG_PS512) {
		if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) <= 0)
			return crypto_openssl_errno(-EIO);
	} else if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0)
		return crypto_openssl_errno(-EIO);
	return 0;
}

/* A DER ECDSA-Sig-Value as r || s, each of size c. */
static int ecdsa_der_to_jws(const uint8_t *der, size_t derlen, size_t c, uint8_t *out)
{
	_cleanup_(ecdsa_sig_freep) ECDSA_SIG *es = NULL;
	const unsigned char *p = der;
	const BIGNUM *r, *s;

	es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	if (!es)
		return crypto_openssl_errno(-EIO);
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, out, (int)c) < 0 || BN_bn2binpad(s, out + c, (int)c) < 0)
		return crypto_openssl_errno(-EIO);
	return 0;
}

static int sign_eddsa(EVP_PKEY *pk, const uint8_t *in, size_t n, uint8_t *sig, size_t *siglen)
{
	_cleanup_(md_ctx_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	size_t len = 64;

	if (!mctx)
		return -ENOMEM;
	if (*siglen < 64)
		return -ENOBUFS;
	if (EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, NULL, pk, NULL) != 1 ||
	    EVP_DigestSign(mctx, sig, &len, in ? in : (const uint8_t *)"", n) != 1)
		return crypto_openssl_errno(-EIO);
	*siglen = len;
	return 0;
}

/* The signature of in (checked by the caller) with pk of type t. */
static int sign_pkey(EVP_PKEY *pk, enum key_type t, enum key_alg a, const uint8_t *in, size_t n,
		     uint8_t *sig, size_t *siglen)
{
	_cleanup_(key_pkey_ctx_freep) EVP_PKEY_CTX *ctx = NULL;
	uint8_t der[KEY_SIG_MAX];
	size_t len = sizeof(der), need;
	int r;

	if (a == KEY_ALG_EDDSA)
		return sign_eddsa(pk, in, n, sig, siglen);
	need = key_type_is_ec(t) ? 2 * ec_coord_len(t) : (size_t)EVP_PKEY_get_size(pk);
	if (*siglen < need)
		return -ENOBUFS;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (!ctx)
		return crypto_openssl_errno(-ENOMEM);
	if (EVP_PKEY_sign_init(ctx) != 1)
		return crypto_openssl_errno(-EIO);
	r = setup_digest_ctx(ctx, t, a);
	if (r < 0)
		return r;
	if (key_type_is_rsa(t)) {
		len = *siglen;
		if (EVP_PKEY_sign(ctx, sig, &len, in, n) != 1)
			return crypto_openssl_errno(-EIO);
		*siglen = len;
		return 0;
	}
	if (EVP_PKEY_sign(ctx, der, &len, in, n) != 1)
		return crypto_openssl_errno(-EIO);
	r = ecdsa_der_to_jws(der, len, ec_coord_len(t), sig);
	if (r < 0)
		return r;
	*siglen = need;
	return 0;
}

int key_soft_sign_spki(enum key_type t, const struct secbuf *material, const uint8_t *spki,
		       size_t spki_len, enum key_alg a, const uint8_t *in, size_t n, uint8_t *sig,
		       size_t *siglen)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	int r;

	r = check_sign_input(t, KEY_OP_SIGN, a, in, n);
	if (r < 0)
		return r;
	if (!sig || !siglen)
		return -EINVAL;
	if (key_type_is_ec(t)) {
		/* without building the curve for this key: key-ec.c */
		r = key_ec_sign_material(t, material, in, n, sig, siglen);
		if (r != -EOPNOTSUPP)
			return r;
	}
	r = key_pkey_for_sign(t, material, spki, spki_len, &pk);
	if (r < 0)
		return r;
	return sign_pkey(pk, t, a, in, n, sig, siglen);
}

int key_soft_sign(enum key_type t, const struct secbuf *material, enum key_alg a, const uint8_t *in,
		  size_t n, uint8_t *sig, size_t *siglen)
{
	return key_soft_sign_spki(t, material, NULL, 0, a, in, n, sig, siglen);
}

/* A loaded key: its type and OpenSSL's object. */
struct key_soft {
	enum key_type type;
	EVP_PKEY *pk;
};

int key_soft_load(enum key_type t, const struct secbuf *material, struct key_soft **ret)
{
	struct key_soft *k;
	EVP_PKEY *pk = NULL;
	int r;

	if (!ret)
		return -EINVAL;
	if (t == KEY_AES_256)
		return -EOPNOTSUPP;
	r = key_pkey_from_material(t, material, &pk);
	if (r < 0)
		return r;
	k = malloc(sizeof(*k));
	if (!k) {
		EVP_PKEY_free(pk);
		return -ENOMEM;
	}
	*k = (struct key_soft){ .type = t, .pk = pk };
	*ret = k;
	return 0;
}

void key_soft_free(struct key_soft *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pk);
	free(k);
}

enum key_type key_soft_type(const struct key_soft *k)
{
	return k ? k->type : KEY_TYPE_INVALID;
}

int key_soft_sign_loaded(const struct key_soft *k, enum key_alg a, const uint8_t *in, size_t n,
			 uint8_t *sig, size_t *siglen)
{
	int r;

	if (!k)
		return -EINVAL;
	r = check_sign_input(k->type, KEY_OP_SIGN, a, in, n);
	if (r < 0)
		return r;
	if (!sig || !siglen)
		return -EINVAL;
	return sign_pkey(k->pk, k->type, a, in, n, sig, siglen);
}

/* r || s as a DER ECDSA-Sig-Value, on the heap (OPENSSL_free). */
static int ecdsa_jws_to_der(const uint8_t *sig, size_t c, unsigned char **ret, size_t *ret_len)
{
	_cleanup_(ecdsa_sig_freep) ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)c, NULL), *s = BN_bin2bn(sig + c, (int)c, NULL);
	unsigned char *der = NULL;
	int len;

	if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		return crypto_openssl_errno(-ENOMEM);
	}
	len = i2d_ECDSA_SIG(es, &der);
	if (len <= 0)
		return crypto_openssl_errno(-EIO);
	*ret = der;
	*ret_len = (size_t)len;
	return 0;
}

static int verify_eddsa(EVP_PKEY *pk, const uint8_t *in, size_t n, const uint8_t *sig,
			size_t siglen)
{
	_cleanup_(md_ctx_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();

	if (!mctx)
		return -ENOMEM;
	if (siglen != 64)
		return -EBADMSG;
	if (EVP_DigestVerifyInit_ex(mctx, NULL, NULL, NULL, NULL, pk, NULL) != 1)
		return crypto_openssl_errno(-EIO);
	if (EVP_DigestVerify(mctx, sig, siglen, in ? in : (const uint8_t *)"", n) != 1) {
		/* a bad signature is an answer, not a failure: no foreign words for it */
		ERR_clear_error();
		return -EBADMSG;
	}
	return 0;
}

int key_verify(enum key_type t, const uint8_t *spki, size_t spkilen, enum key_alg a,
	       const uint8_t *in, size_t n, const uint8_t *sig, size_t siglen)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	_cleanup_(key_pkey_ctx_freep) EVP_PKEY_CTX *ctx = NULL;
	_cleanup_(openssl_freep) unsigned char *der = NULL;
	size_t derlen = 0;
	int r;

	r = check_sign_input(t, KEY_OP_VERIFY, a, in, n);
	if (r < 0)
		return r;
	if (!sig && siglen > 0)
		return -EINVAL;
	if (siglen > KEY_SIG_MAX)
		return -EMSGSIZE;
	r = key_pkey_from_spki(t, spki, spkilen, &pk);
	if (r < 0)
		return r;
	if (a == KEY_ALG_EDDSA)
		return verify_eddsa(pk, in, n, sig, siglen);
	if (key_type_is_ec(t)) {
		if (siglen != 2 * ec_coord_len(t))
			return -EBADMSG;
		r = ecdsa_jws_to_der(sig, ec_coord_len(t), &der, &derlen);
		if (r < 0)
			return r;
	} else if (siglen != (size_t)EVP_PKEY_get_size(pk))
		return -EBADMSG;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (!ctx)
		return crypto_openssl_errno(-ENOMEM);
	if (EVP_PKEY_verify_init(ctx) != 1)
		return crypto_openssl_errno(-EIO);
	r = setup_digest_ctx(ctx, t, a);
	if (r < 0)
		return r;
	if (der)
		r = EVP_PKEY_verify(ctx, der, derlen, in, n);
	else
		r = EVP_PKEY_verify(ctx, sig, siglen, in, n);
	if (r != 1) {
		ERR_clear_error();
		return -EBADMSG;
	}
	return 0;
}
