/* key-load.c: PKCS#8 material (key-soft.h's form) back into an OpenSSL key for one operation,
 * fast: OpenSSL 3.0's decoders take ~0.7 ms per key, twenty times an ECDSA signature, so the
 * forms key_soft_generate and key_soft_import write (PKCS#8 of PKCS#1 RSA, of SEC1 EC with its
 * public point, of an Ed25519 seed) are read here by a small DER reader over the secbuf itself
 * and handed to OpenSSL as parameters (secure BIGNUMs, cleansed); anything else goes through
 * OpenSSL's decoder. It never copies private bytes to plain memory and never logs. */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "core/key-ec.h"
#include "core/key-soft-int.h"
#include "core/util.h"

static inline void p8_freep(PKCS8_PRIV_KEY_INFO **p)
{
	PKCS8_PRIV_KEY_INFO_free(*p);
}

static inline void param_bld_freep(OSSL_PARAM_BLD **p)
{
	OSSL_PARAM_BLD_free(*p);
}

static inline void params_freep(OSSL_PARAM **p)
{
	OSSL_PARAM_free(*p);
}

/* A DER reader: the contents of the next element, which must have tag. Lengths up to 64 KiB
 * (two length octets), which is all key material can be. */
struct der {
	const uint8_t *p;
	size_t n;
};

static int der_next(struct der *d, uint8_t tag, struct der *ret)
{
	size_t len, hdr = 2;

	if (d->n < 2 || d->p[0] != tag)
		return -EINVAL;
	len = d->p[1];
	if (len & 0x80) {
		size_t k = len & 0x7f;

		if (k == 0 || k > 2 || d->n < 2 + k)
			return -EINVAL;
		len = 0;
		for (size_t i = 0; i < k; i++)
			len = len << 8 | d->p[2 + i];
		hdr += k;
	}
	if (d->n - hdr < len)
		return -EINVAL;
	ret->p = d->p + hdr;
	ret->n = len;
	d->p += hdr + len;
	d->n -= hdr + len;
	return 0;
}

/* The next INTEGER, positive, as a new secure BIGNUM. */
static int der_bn(struct der *d, BIGNUM **ret)
{
	struct der v;
	BIGNUM *bn;

	if (der_next(d, 0x02, &v) < 0 || v.n == 0 || (v.p[0] & 0x80))
		return -EINVAL;
	bn = BN_secure_new();
	if (!bn)
		return -ENOMEM;
	if (!BN_bin2bn(v.p, (int)v.n, bn)) {
		BN_clear_free(bn);
		return -ENOMEM;
	}
	*ret = bn;
	return 0;
}

static int params_to_pkey(const char *name, OSSL_PARAM_BLD *bld, EVP_PKEY **ret)
{
	_cleanup_(params_freep) OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	_cleanup_(key_pkey_ctx_freep) EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;

	if (!params)
		return -ENOMEM;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, params) != 1)
		return -EINVAL;
	*ret = pk;
	return 0;
}

/* RSAPrivateKey (RFC 8017 A.1.2), two primes. */
static int load_rsa(struct der d, EVP_PKEY **ret)
{
	static const char *const names[] = {
		OSSL_PKEY_PARAM_RSA_N,	       OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D,	       OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	_cleanup_(param_bld_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn[ELEMENTSOF(names)] = { NULL };
	struct der seq, ver;
	int r = -EINVAL;

	if (!bld)
		return -ENOMEM;
	if (der_next(&d, 0x30, &seq) < 0 || d.n != 0 || der_next(&seq, 0x02, &ver) < 0 ||
	    ver.n != 1 || ver.p[0] != 0)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		r = der_bn(&seq, &bn[i]);
		if (r < 0)
			goto out;
		if (OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i]) != 1) {
			r = -ENOMEM;
			goto out;
		}
	}
	r = seq.n == 0 ? params_to_pkey("RSA", bld, ret) : -EINVAL;
out:
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		BN_clear_free(bn[i]);
	return r;
}

/* ECPrivateKey (RFC 5915) with its public point: the private scalar's octets in *priv, the
 * point's (0x04 || x || y) in *pub. */
static int ec_parts(struct der d, struct der *priv, struct der *pub)
{
	struct der seq, ver, ctx;

	if (der_next(&d, 0x30, &seq) < 0 || d.n != 0 || der_next(&seq, 0x02, &ver) < 0 ||
	    ver.n != 1 || ver.p[0] != 1 || der_next(&seq, 0x04, priv) < 0)
		return -EINVAL;
	/* [0] parameters, optional (PKCS#8 names the curve already), then [1] publicKey */
	if (seq.n > 0 && seq.p[0] == 0xa0 && der_next(&seq, 0xa0, &ctx) < 0)
		return -EINVAL;
	if (der_next(&seq, 0xa1, &ctx) < 0 || seq.n != 0 || der_next(&ctx, 0x03, pub) < 0 ||
	    ctx.n != 0 || pub->n < 2 || pub->p[0] != 0)
		return -EINVAL;
	pub->p++, pub->n--;
	return 0;
}

/* ECPrivateKey as a key; with_pub false: the private scalar only (it signs the same, and
 * decoding the point is half the load). */
static int load_ec(enum key_type t, struct der d, bool with_pub, EVP_PKEY **ret)
{
	_cleanup_(param_bld_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	_cleanup_(key_bn_clear_freep) BIGNUM *bn = NULL;
	const char *group = t == KEY_EC_P256 ? "P-256" : t == KEY_EC_P384 ? "P-384" : "P-521";
	struct der priv, pub;

	if (!bld)
		return -ENOMEM;
	if (ec_parts(d, &priv, &pub) < 0)
		return -EINVAL;
	bn = BN_secure_new();
	if (!bn)
		return -ENOMEM;
	if (!BN_bin2bn(priv.p, (int)priv.n, bn))
		return -ENOMEM;
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
	    (with_pub &&
	     OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub.p, pub.n) != 1) ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn) != 1)
		return -ENOMEM;
	return params_to_pkey("EC", bld, ret);
}

/* CurvePrivateKey (RFC 8410): an OCTET STRING of the 32-byte seed. pub: its public key (32
 * bytes) when the caller holds it, else NULL: deriving it is a scalar multiplication, as long
 * as a signature. */
static int load_ed25519(struct der d, const uint8_t *pub, EVP_PKEY **ret)
{
	_cleanup_(key_pkey_ctx_freep) EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM params[3];
	struct der seed;
	EVP_PKEY *pk = NULL;

	if (der_next(&d, 0x04, &seed) < 0 || d.n != 0 || seed.n != 32)
		return -EINVAL;
	if (!pub) {
		pk = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed.p, 32);
		if (!pk)
			return -EINVAL;
		*ret = pk;
		return 0;
	}
	/* OpenSSL copies the seed into its key object (cleansed when freed), as above */
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, (void *)seed.p, 32);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, 32);
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "ED25519", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, params) != 1)
		return -EINVAL;
	*ret = pk;
	return 0;
}

/* How a key is loaded: full (public half included, for any use), or to sign only, with the
 * Ed25519 public key the caller holds (NULL: derived). */
struct load_how {
	bool sign_only;
	const uint8_t *ed25519_pub;
};

/* The algorithms of the fast path, by their PKCS#8 AlgorithmIdentifier's DER (OID, then the
 * parameters: RSA's NULL, an EC key's named curve). */
struct p8_alg {
	int nid;
	enum key_type curve; /* EC: the curve; else invalid */
	uint8_t der[20];
	size_t len;
};

static const struct p8_alg p8_algs[] = {
	{ NID_rsaEncryption,
	  KEY_TYPE_INVALID,
	  { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00 },
	  13 },
	{ NID_X9_62_id_ecPublicKey,
	  KEY_EC_P256,
	  { 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
	    0xce, 0x3d, 0x03, 0x01, 0x07 },
	  19 },
	{ NID_X9_62_id_ecPublicKey,
	  KEY_EC_P384,
	  { 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
	    0x00, 0x22 },
	  16 },
	{ NID_X9_62_id_ecPublicKey,
	  KEY_EC_P521,
	  { 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
	    0x00, 0x23 },
	  16 },
	{ NID_ED25519, KEY_TYPE_INVALID, { 0x06, 0x03, 0x2b, 0x65, 0x70 }, 5 },
};

/* PKCS#8 in the form key_soft_generate and key_soft_import write (RFC 5208's PrivateKeyInfo:
 * version 0, one of p8_algs, the key; no attributes), read in place, without a copy of the
 * private bytes: its algorithm and the key inside. -EINVAL for any other form (OpenSSL's
 * decoder reads those). */
static int p8_read(const struct secbuf *material, const struct p8_alg **ret_alg,
		   struct der *ret_inner)
{
	struct der d = { material->data, material->len }, seq, ver, alg, inner;

	if (der_next(&d, 0x30, &seq) < 0 || d.n != 0 || der_next(&seq, 0x02, &ver) < 0 ||
	    ver.n != 1 || ver.p[0] != 0 || der_next(&seq, 0x30, &alg) < 0 ||
	    der_next(&seq, 0x04, &inner) < 0 || seq.n != 0 || inner.n == 0)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(p8_algs); i++)
		if (alg.n == p8_algs[i].len && memcmp(alg.p, p8_algs[i].der, alg.n) == 0) {
			*ret_alg = &p8_algs[i];
			*ret_inner = inner;
			return 0;
		}
	return -EINVAL;
}

/* The fast path over material, for type t: -EINVAL when the form is not the one expected. */
static int load_fast(enum key_type t, const struct secbuf *material, const struct load_how *how,
		     EVP_PKEY **ret)
{
	const struct p8_alg *alg;
	struct der inner;

	if (p8_read(material, &alg, &inner) < 0)
		return -EINVAL;
	switch (alg->nid) {
	case NID_rsaEncryption:
		return key_type_is_rsa(t) ? load_rsa(inner, ret) : -EINVAL;
	case NID_X9_62_id_ecPublicKey:
		return alg->curve == t ? load_ec(t, inner, !how->sign_only, ret) : -EINVAL;
	case NID_ED25519:
		return t == KEY_ED25519 ? load_ed25519(inner, how->ed25519_pub, ret) : -EINVAL;
	}
	return -EINVAL;
}

static int from_material(enum key_type t, const struct secbuf *material, const struct load_how *how,
			 EVP_PKEY **ret)
{
	_cleanup_(p8_freep) PKCS8_PRIV_KEY_INFO *p8 = NULL;
	const unsigned char *p;
	enum key_type got;
	EVP_PKEY *pk = NULL;

	if (!material || material->len == 0 || material->len > KEY_MATERIAL_MAX || t == KEY_AES_256)
		return -EINVAL;
	if (load_fast(t, material, how, &pk) < 0) {
		/* another form of PKCS#8 (or not this type's): OpenSSL's decoder decides */
		ERR_clear_error();
		p = material->data;
		p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)material->len);
		if (!p8 || p != material->data + material->len)
			return crypto_openssl_errno(-EINVAL);
		pk = EVP_PKCS82PKEY(p8);
		if (!pk)
			return crypto_openssl_errno(-EINVAL);
	}
	if (key_pkey_type(pk, &got) < 0 || got != t) {
		EVP_PKEY_free(pk);
		return -EINVAL;
	}
	*ret = pk;
	return 0;
}

int key_pkey_from_material(enum key_type t, const struct secbuf *material, EVP_PKEY **ret)
{
	return from_material(t, material, &(struct load_how){}, ret);
}

/* The SubjectPublicKeyInfo of an Ed25519 key (RFC 8410): this prefix, then the 32 bytes. */
static const uint8_t ed25519_spki_prefix[] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
					       0x2b, 0x65, 0x70, 0x03, 0x21, 0x00 };

int key_pkey_for_sign(enum key_type t, const struct secbuf *material, const uint8_t *spki,
		      size_t spki_len, EVP_PKEY **ret)
{
	struct load_how how = { .sign_only = true };

	if (t == KEY_ED25519 && spki && spki_len == sizeof(ed25519_spki_prefix) + 32 &&
	    memcmp(spki, ed25519_spki_prefix, sizeof(ed25519_spki_prefix)) == 0)
		how.ed25519_pub = spki + sizeof(ed25519_spki_prefix);
	return from_material(t, material, &how, ret);
}

int key_ec_sign_material(enum key_type t, const struct secbuf *material, const uint8_t *dgst,
			 size_t n, uint8_t *sig, size_t *siglen)
{
	const struct p8_alg *alg;
	struct der inner, priv, pub;

	if (!key_type_is_ec(t) || !material || material->len == 0 ||
	    material->len > KEY_MATERIAL_MAX || p8_read(material, &alg, &inner) < 0 ||
	    alg->nid != NID_X9_62_id_ecPublicKey || alg->curve != t ||
	    ec_parts(inner, &priv, &pub) < 0)
		return -EOPNOTSUPP; /* the EVP path decides, and says what is wrong */
	return key_ec_sign_scalar(t, priv.p, priv.n, dgst, n, sig, siglen);
}
