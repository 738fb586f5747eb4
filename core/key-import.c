/* key-import.c: key_soft_import: recognises the form of a private key (PEM PKCS#1, SEC1,
 * PKCS#8, OpenSSH, or a JWK object), decodes it, and normalises it to the material
 * key_soft_generate makes; and what the importers share: base64 into a secbuf, keys built from
 * their parts, the consistency check. PEM is decoded here, not by OpenSSL's readers, so every
 * buffer that held the key's bytes is a secbuf and is wiped. Never logs above debug, never
 * accepts a key that is encrypted (-ENOKEY) or one whose halves do not belong together. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "core/key-soft-int.h"
#include "core/key-soft.h"
#include "core/util.h"

static inline void param_bld_freep(OSSL_PARAM_BLD **p)
{
	OSSL_PARAM_BLD_free(*p);
}

static inline void params_freep(OSSL_PARAM **p)
{
	OSSL_PARAM_free(*p);
}

static inline void p8_freep(PKCS8_PRIV_KEY_INFO **p)
{
	PKCS8_PRIV_KEY_INFO_free(*p);
}

static int b64_value(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

int key_base64_decode(const char *s, size_t n, bool url, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;
	size_t chars = 0, pad = 0;
	unsigned bits = 0;
	uint32_t acc = 0;
	int r;

	r = secbuf_new(n / 4 * 3 + 3, &b);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int v;

		if (!url && (c == '\n' || c == '\r' || c == ' ' || c == '\t'))
			continue;
		if (!url && c == '=') {
			pad++;
			continue;
		}
		v = b64_value(c, url);
		if (v < 0 || pad > 0) {
			secure_wipe(&acc, sizeof(acc));
			return -EINVAL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		chars++;
		if (bits >= 8) {
			bits -= 8;
			b->data[b->len++] = (uint8_t)(acc >> bits);
		}
	}
	r = 0;
	/* no data; a lone last character; padding that is not what is due; bits left over */
	if (chars == 0 || chars % 4 == 1 || (!url && pad != (4 - chars % 4) % 4) ||
	    (acc & ((1u << bits) - 1)) != 0)
		r = -EINVAL;
	secure_wipe(&acc, sizeof(acc));
	if (r < 0)
		return r;
	*ret = TAKE_PTR(b);
	return 0;
}

/* EVP_PKEY_fromdata of params for the algorithm name, then the pairwise check. */
static int pkey_from_params(const char *name, OSSL_PARAM_BLD *bld, EVP_PKEY **ret)
{
	_cleanup_(params_freep) OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	_cleanup_(key_pkey_ctx_freep) EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;

	if (!params)
		return crypto_openssl_errno(-ENOMEM);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
	if (!ctx)
		return crypto_openssl_errno(-ENOMEM);
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, params) != 1)
		return crypto_openssl_errno(-EINVAL);
	*ret = pk;
	return 0;
}

int key_rsa_from_parts(const BIGNUM *n, const BIGNUM *e, const BIGNUM *d, const BIGNUM *p,
		       const BIGNUM *q, const BIGNUM *dp, const BIGNUM *dq, const BIGNUM *qi,
		       EVP_PKEY **ret)
{
	_cleanup_(param_bld_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();

	if (!bld)
		return -ENOMEM;
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi) != 1)
		return crypto_openssl_errno(-ENOMEM);
	return pkey_from_params("RSA", bld, ret);
}

int key_ec_from_parts(enum key_type t, const uint8_t *pub, size_t publen, const BIGNUM *d,
		      EVP_PKEY **ret)
{
	_cleanup_(param_bld_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	const char *group = t == KEY_EC_P256 ? "P-256" : t == KEY_EC_P384 ? "P-384" : "P-521";

	if (!key_type_is_ec(t))
		return -EINVAL;
	if (!bld)
		return -ENOMEM;
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, publen) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1)
		return crypto_openssl_errno(-ENOMEM);
	return pkey_from_params("EC", bld, ret);
}

int key_ed25519_from_seed(const uint8_t *seed, const uint8_t *pub, EVP_PKEY **ret)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	uint8_t derived[32];
	size_t len = sizeof(derived);

	pk = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed, 32);
	if (!pk)
		return crypto_openssl_errno(-EINVAL);
	if (pub) {
		if (EVP_PKEY_get_raw_public_key(pk, derived, &len) != 1)
			return crypto_openssl_errno(-EIO);
		if (len != 32 || CRYPTO_memcmp(derived, pub, 32) != 0)
			return -EINVAL;
	}
	*ret = TAKE_PTR(pk);
	return 0;
}

int key_import_finish(EVP_PKEY *pk, enum key_type *ret_type, struct secbuf **ret_material)
{
	_cleanup_(key_pkey_ctx_freep) EVP_PKEY_CTX *ctx = NULL;
	enum key_type t;
	int r;

	r = key_pkey_type(pk, &t);
	if (r < 0)
		return r;
	/* the private and public halves belong together (for Ed25519 one comes from the
	 * other) */
	if (t != KEY_ED25519) {
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
		if (!ctx)
			return crypto_openssl_errno(-ENOMEM);
		if (EVP_PKEY_pairwise_check(ctx) != 1)
			return crypto_openssl_errno(-EINVAL);
	}
	return key_pkey_to_material(pk, ret_type, ret_material);
}

/* The next PEM block at or after *pos: its label (cut to size: -EINVAL when it does not fit)
 * and its body; *pos moves past it. -ENOENT when there is none, -EINVAL for one without its
 * END line (cut short). */
static int pem_next(const char *s, size_t n, size_t *pos, char *label, size_t size,
		    const char **ret_body, size_t *ret_len)
{
	static const char begin[] = "-----BEGIN ", dashes[] = "-----";
	char end[128];
	const char *b, *l, *e, *body;
	size_t k;

	b = memmem(s + *pos, n - *pos, begin, sizeof(begin) - 1);
	if (!b)
		return -ENOENT;
	l = b + sizeof(begin) - 1;
	e = memmem(l, n - (size_t)(l - s), dashes, sizeof(dashes) - 1);
	if (!e || memchr(l, '\n', (size_t)(e - l)))
		return -EINVAL;
	k = (size_t)(e - l);
	if (k == 0 || k >= size)
		return -EINVAL;
	memcpy(label, l, k);
	label[k] = '\0';
	body = e + sizeof(dashes) - 1;
	(void)snprintf(end, sizeof(end), "-----END %s-----", label);
	e = memmem(body, n - (size_t)(body - s), end, strlen(end));
	if (!e)
		return -EINVAL;
	*ret_body = body;
	*ret_len = (size_t)(e - body);
	*pos = (size_t)(e - s) + strlen(end);
	return 0;
}

/* The DER of a PEM block by its label as a key. */
static int pem_der_key(const char *label, const struct secbuf *der, EVP_PKEY **ret)
{
	_cleanup_(p8_freep) PKCS8_PRIV_KEY_INFO *p8 = NULL;
	const unsigned char *p = der->data;
	EVP_PKEY *pk = NULL;

	if (streq(label, "RSA PRIVATE KEY"))
		pk = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, (long)der->len);
	else if (streq(label, "EC PRIVATE KEY"))
		pk = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, (long)der->len);
	else if (streq(label, "PRIVATE KEY")) {
		p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)der->len);
		if (!p8 || p != der->data + der->len)
			return crypto_openssl_errno(-EINVAL);
		pk = EVP_PKCS82PKEY(p8);
		/* well-formed PKCS#8 of an algorithm OpenSSL does not know */
		if (!pk)
			return crypto_openssl_errno(-EOPNOTSUPP);
	} else
		return -EINVAL;
	if (!pk)
		return crypto_openssl_errno(-EINVAL);
	*ret = pk;
	return 0;
}

static int import_pem(const char *s, size_t n, enum key_type *ret_type,
		      struct secbuf **ret_material)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	_cleanup_secbuf_ struct secbuf *der = NULL;
	const char *body = NULL;
	size_t pos = 0, len = 0;
	char label[64];
	int r;

	/* openssl ecparam -genkey puts the curve's parameters first */
	do {
		r = pem_next(s, n, &pos, label, sizeof(label), &body, &len);
		if (r == -ENOENT)
			return -EINVAL;
		if (r < 0)
			return r;
	} while (streq(label, "EC PARAMETERS"));
	if (streq(label, "ENCRYPTED PRIVATE KEY"))
		return -ENOKEY;
	/* RFC 1421 headers: only an encrypted traditional key has them */
	if (memchr(body, ':', len))
		return memmem(body, len, "ENCRYPTED", 9) ? -ENOKEY : -EINVAL;
	r = key_base64_decode(body, len, false, &der);
	if (r < 0)
		return r;
	if (streq(label, "OPENSSH PRIVATE KEY"))
		return key_import_openssh(der->data, der->len, ret_type, ret_material);
	r = pem_der_key(label, der, &pk);
	if (r < 0)
		return r;
	return key_import_finish(pk, ret_type, ret_material);
}

int key_soft_import(const uint8_t *in, size_t n, enum key_type *ret_type,
		    struct secbuf **ret_material)
{
	size_t i = 0;

	if (!in || !ret_type || !ret_material)
		return -EINVAL;
	if (n > KEY_IMPORT_MAX)
		return -EMSGSIZE;
	while (i < n && (in[i] == ' ' || in[i] == '\t' || in[i] == '\n' || in[i] == '\r'))
		i++;
	if (i == n)
		return -EINVAL;
	if (in[i] == '{')
		return key_import_jwk(in, n, ret_type, ret_material);
	return import_pem((const char *)in, n, ret_type, ret_material);
}
