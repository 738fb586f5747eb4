/* x509.c: new certificates and CSRs (x509.h) signed by a key that stays where it lives: the
 * TBSCertificate / CertificationRequestInfo is built with OpenSSL, its DER hashed and handed
 * to the signer's callback, the JWS signature turned into X.509's form and the outer SEQUENCE
 * written here; the result is parsed back and verified with the signer's public key before it
 * is returned. Never sees a private key, never logs above debug; OpenSSL's failures become
 * -errno through crypto_openssl_errno only.
 *
 * OpenSSL 3.0 has no setter for a certificate's inner signature AlgorithmIdentifier (X509_sign
 * and ASN1_item_sign want an EVP_PKEY that can sign): the one X509_get0_tbs_sigalg points at is
 * set in place (X509_ALGOR_copy), and i2d_re_X509_tbs re-encodes the TBS with it. The
 * AlgorithmIdentifier itself is OpenSSL's own, asked of a verify context of the signer's public
 * key (OSSL_SIGNATURE_PARAM_ALGORITHM_ID), so PSS parameters are exactly what it would write. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/crypto.h"
#include "core/key-soft.h"
#include "core/log.h"
#include "core/x509-int.h"
#include "core/x509.h"

static inline void md_ctx_freep(EVP_MD_CTX **p)
{
	EVP_MD_CTX_free(*p);
}

static inline void algor_freep(X509_ALGOR **p)
{
	X509_ALGOR_free(*p);
}

static inline void bn_freep(BIGNUM **p)
{
	BN_free(*p);
}

int x509_reason(int err, char *reason, const char *fmt, ...)
{
	va_list ap;

	if (reason) {
		va_start(ap, fmt);
		(void)vsnprintf(reason, X509_REASON_MAX, fmt, ap);
		va_end(ap);
	}
	return err;
}

enum key_alg x509_default_alg(enum key_type t)
{
	switch (t) {
	case KEY_RSA_2048:
	case KEY_RSA_3072:
	case KEY_RSA_4096:
		return KEY_ALG_RS256;
	case KEY_EC_P256:
		return KEY_ALG_ES256;
	case KEY_EC_P384:
		return KEY_ALG_ES384;
	case KEY_EC_P521:
		return KEY_ALG_ES512;
	case KEY_ED25519:
		return KEY_ALG_EDDSA;
	default:
		return KEY_ALG_INVALID;
	}
}

/* --- signing --- */

static const char *alg_md_name(enum key_alg a)
{
	switch (a) {
	case KEY_ALG_RS256:
	case KEY_ALG_PS256:
	case KEY_ALG_ES256:
		return "SHA256";
	case KEY_ALG_RS384:
	case KEY_ALG_PS384:
	case KEY_ALG_ES384:
		return "SHA384";
	case KEY_ALG_RS512:
	case KEY_ALG_PS512:
	case KEY_ALG_ES512:
		return "SHA512";
	default:
		return NULL;
	}
}

static bool alg_is_pss(enum key_alg a)
{
	return a == KEY_ALG_PS256 || a == KEY_ALG_PS384 || a == KEY_ALG_PS512;
}

/* The signer checked, its public key and algorithm. */
static int signer_open(const struct x509_signer *s, EVP_PKEY **ret_pk, enum key_alg *ret_alg)
{
	const unsigned char *p;
	enum key_alg a;
	EVP_PKEY *pk;
	int r;

	if (!s || !s->sign || !s->spki || s->spki_len == 0)
		return -EINVAL;
	if (s->spki_len > KEY_PUBLIC_DER_MAX)
		return -EMSGSIZE;
	a = s->alg ? s->alg : x509_default_alg(s->type);
	if (a == KEY_ALG_INVALID)
		return -EOPNOTSUPP;
	r = key_alg_check(s->type, KEY_OP_SIGN, a);
	if (r < 0)
		return r;
	p = s->spki;
	pk = d2i_PUBKEY(NULL, &p, (long)s->spki_len);
	if (!pk || p != s->spki + s->spki_len) {
		EVP_PKEY_free(pk);
		return crypto_openssl_errno(-EINVAL);
	}
	*ret_pk = pk;
	*ret_alg = a;
	return 0;
}

/* OpenSSL's own AlgorithmIdentifier for a signature by pk with a. */
static int sig_algor(EVP_PKEY *pk, enum key_alg a, X509_ALGOR **ret)
{
	_cleanup_(md_ctx_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[256];
	const unsigned char *p = buf;
	EVP_PKEY_CTX *pctx = NULL;
	OSSL_PARAM params[2];
	X509_ALGOR *alg;

	if (!md)
		return crypto_openssl_errno(-ENOMEM);
	if (EVP_DigestVerifyInit_ex(md, &pctx, alg_md_name(a), NULL, NULL, pk, NULL) != 1)
		return crypto_openssl_errno(-EINVAL);
	if (alg_is_pss(a) && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
			      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		return crypto_openssl_errno(-EIO);
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, buf,
						      sizeof(buf));
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_CTX_get_params(pctx, params) != 1 || !OSSL_PARAM_modified(&params[0]))
		return crypto_openssl_errno(-EIO);
	alg = d2i_X509_ALGOR(NULL, &p, (long)params[0].return_size);
	if (!alg)
		return crypto_openssl_errno(-EIO);
	*ret = alg;
	return 0;
}

/* Sign tbs with s (alg a): the signature in X.509's form (ECDSA-Sig-Value DER; RSA and EdDSA
 * as they are) into sig (KEY_SIG_MAX + 16 bytes). */
static int sign_tbs(const struct x509_signer *s, enum key_alg a, const uint8_t *tbs, size_t n,
		    uint8_t *sig, size_t *siglen)
{
	uint8_t dg[KEY_DIGEST_MAX], raw[KEY_SIG_MAX];
	size_t dglen = sizeof(dg), rawlen = sizeof(raw);
	const uint8_t *in = tbs;
	size_t inlen = n;
	int r;

	if (n > KEY_INPUT_MAX)
		return -EMSGSIZE;
	if (a != KEY_ALG_EDDSA) {
		r = key_digest(a, tbs, n, dg, &dglen);
		if (r < 0)
			return r;
		in = dg;
		inlen = dglen;
	}
	r = s->sign(s->ud, a, in, inlen, raw, &rawlen);
	if (r < 0)
		return r;
	if (rawlen > sizeof(raw))
		return -EIO;
	if (a == KEY_ALG_ES256 || a == KEY_ALG_ES384 || a == KEY_ALG_ES512) {
		_cleanup_(bn_freep) BIGNUM *br = NULL, *bs = NULL;
		ECDSA_SIG *es;
		unsigned char *q = sig;
		int k;

		if (rawlen == 0 || rawlen % 2)
			return -EINVAL;
		br = BN_bin2bn(raw, (int)(rawlen / 2), NULL);
		bs = BN_bin2bn(raw + rawlen / 2, (int)(rawlen / 2), NULL);
		es = ECDSA_SIG_new();
		if (!br || !bs || !es || ECDSA_SIG_set0(es, br, bs) != 1) {
			ECDSA_SIG_free(es);
			return crypto_openssl_errno(-ENOMEM);
		}
		br = bs = NULL;
		k = i2d_ECDSA_SIG(es, NULL);
		if (k <= 0 || (size_t)k > KEY_SIG_MAX + 16) {
			ECDSA_SIG_free(es);
			return crypto_openssl_errno(-EIO);
		}
		k = i2d_ECDSA_SIG(es, &q);
		ECDSA_SIG_free(es);
		*siglen = (size_t)k;
		return 0;
	}
	memcpy(sig, raw, rawlen);
	*siglen = rawlen;
	return 0;
}

/* A DER length header for n content bytes into out (at most 5 bytes): its size. */
static size_t der_len(size_t n, uint8_t *out)
{
	if (n < 128) {
		out[0] = (uint8_t)n;
		return 1;
	}
	size_t k = n < 256 ? 1 : n < 65536 ? 2 : 3;

	out[0] = (uint8_t)(0x80 | k);
	for (size_t i = 0; i < k; i++)
		out[1 + i] = (uint8_t)(n >> (8 * (k - 1 - i)));
	return 1 + k;
}

/* SEQUENCE { tbs, alg, BIT STRING sig }: the signed object's DER (heap). */
static int der_signed(const uint8_t *tbs, size_t tbslen, X509_ALGOR *alg, const uint8_t *sig,
		      size_t siglen, uint8_t **ret, size_t *ret_len)
{
	_cleanup_(x509_ossl_freep) unsigned char *a = NULL;
	uint8_t hs[6], hb[6];
	size_t nhs, nhb, body, total;
	int alen;
	uint8_t *out, *q;

	alen = i2d_X509_ALGOR(alg, &a);
	if (alen <= 0)
		return crypto_openssl_errno(-EIO);
	hb[0] = 0x03;
	nhb = 1 + der_len(siglen + 1, hb + 1);
	body = tbslen + (size_t)alen + nhb + 1 + siglen;
	hs[0] = 0x30;
	nhs = 1 + der_len(body, hs + 1);
	total = nhs + body;
	out = malloc(total);
	if (!out)
		return -ENOMEM;
	q = out;
	memcpy(q, hs, nhs), q += nhs;
	memcpy(q, tbs, tbslen), q += tbslen;
	memcpy(q, a, (size_t)alen), q += alen;
	memcpy(q, hb, nhb), q += nhb;
	*q++ = 0x00; /* no unused bits */
	memcpy(q, sig, siglen);
	*ret = out;
	*ret_len = total;
	return 0;
}

int x509_load(const uint8_t *der, size_t len, X509 **ret)
{
	const unsigned char *p = der;
	X509 *x;

	if (!der || len == 0)
		return -EINVAL;
	if (len > X509_DER_MAX)
		return -EMSGSIZE;
	x = d2i_X509(NULL, &p, (long)len);
	if (!x || p != der + len) {
		X509_free(x);
		return crypto_openssl_errno(-EINVAL);
	}
	*ret = x;
	return 0;
}

int x509_der(X509 *x, uint8_t **ret, size_t *ret_len)
{
	_cleanup_(x509_ossl_freep) unsigned char *d = NULL;
	int n = i2d_X509(x, &d);
	uint8_t *out;

	if (n <= 0)
		return crypto_openssl_errno(-EIO);
	out = malloc((size_t)n);
	if (!out)
		return -ENOMEM;
	memcpy(out, d, (size_t)n);
	*ret = out;
	*ret_len = (size_t)n;
	return 0;
}

/* Sign the certificate x (everything but its signature set) with s: its DER, checked. */
static int cert_finish(X509 *x, const struct x509_signer *s, uint8_t **ret, size_t *ret_len)
{
	_cleanup_(x509_pkey_freep) EVP_PKEY *pk = NULL;
	_cleanup_(algor_freep) X509_ALGOR *alg = NULL;
	_cleanup_(x509_ossl_freep) unsigned char *tbs = NULL;
	_cleanup_(x509_freep) X509 *back = NULL;
	_cleanup_free_ uint8_t *der = NULL;
	uint8_t sig[KEY_SIG_MAX + 16];
	size_t siglen = 0, len = 0;
	enum key_alg a;
	int n, r;

	r = signer_open(s, &pk, &a);
	if (r < 0)
		return r;
	r = sig_algor(pk, a, &alg);
	if (r < 0)
		return r;
	/* OpenSSL 3.0 has no setter for the TBS's own copy: set it where it lives */
	if (X509_ALGOR_copy((X509_ALGOR *)X509_get0_tbs_sigalg(x), alg) != 1)
		return crypto_openssl_errno(-ENOMEM);
	n = i2d_re_X509_tbs(x, &tbs);
	if (n <= 0)
		return crypto_openssl_errno(-EIO);
	r = sign_tbs(s, a, tbs, (size_t)n, sig, &siglen);
	if (r < 0)
		return r;
	r = der_signed(tbs, (size_t)n, alg, sig, siglen, &der, &len);
	if (r < 0)
		return r;
	if (len > X509_DER_MAX)
		return -EMSGSIZE;
	r = x509_load(der, len, &back);
	if (r < 0)
		return -EIO;
	/* a signer whose key is not s->spki, or a TPM's PSS salt we did not expect */
	if (X509_verify(back, pk) != 1)
		return crypto_openssl_errno(-EKEYREJECTED);
	*ret = TAKE_PTR(der);
	*ret_len = len;
	return 0;
}

/* --- CSR --- */

int x509_csr_make(const struct x509_signer *s, const struct x509_profile *p, uint8_t **ret_der,
		  size_t *ret_len, char **ret_pem)
{
	_cleanup_(x509_req_freep) X509_REQ *req = NULL;
	_cleanup_(x509_pkey_freep) EVP_PKEY *pk = NULL;
	_cleanup_(x509_name_freep) X509_NAME *name = NULL;
	_cleanup_(x509_gens_freep) GENERAL_NAMES *gens = NULL;
	_cleanup_(x509_exts_freep) STACK_OF(X509_EXTENSION) *exts = NULL;
	_cleanup_(algor_freep) X509_ALGOR *alg = NULL;
	_cleanup_(x509_ossl_freep) unsigned char *tbs = NULL;
	_cleanup_(x509_req_freep) X509_REQ *back = NULL;
	_cleanup_free_ uint8_t *der = NULL;
	_cleanup_free_ char *pem = NULL;
	uint8_t sig[KEY_SIG_MAX + 16];
	size_t siglen = 0, len = 0;
	const unsigned char *q;
	enum key_alg a;
	int n, r;

	if (!p || !p->subject || !ret_der || !ret_len)
		return -EINVAL;
	r = signer_open(s, &pk, &a);
	if (r < 0)
		return r;
	r = x509_subject_parse(p->subject, &name);
	if (r < 0)
		return r;
	gens = sk_GENERAL_NAME_new_null();
	req = X509_REQ_new();
	if (!gens || !req)
		return -ENOMEM;
	r = x509_sans_build(p->sans, p->n_sans, gens);
	if (r < 0)
		return r;
	r = x509_exts_build(p, gens, false, X509_NAME_entry_count(name) == 0, &exts);
	if (r < 0)
		return r;
	if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, pk) != 1 ||
	    (exts && X509_REQ_add_extensions(req, exts) != 1))
		return crypto_openssl_errno(-EIO);
	r = sig_algor(pk, a, &alg);
	if (r < 0)
		return r;
	n = i2d_re_X509_REQ_tbs(req, &tbs);
	if (n <= 0)
		return crypto_openssl_errno(-EIO);
	r = sign_tbs(s, a, tbs, (size_t)n, sig, &siglen);
	if (r < 0)
		return r;
	r = der_signed(tbs, (size_t)n, alg, sig, siglen, &der, &len);
	if (r < 0)
		return r;
	if (len > X509_DER_MAX)
		return -EMSGSIZE;
	q = der;
	back = d2i_X509_REQ(NULL, &q, (long)len);
	if (!back)
		return crypto_openssl_errno(-EIO);
	if (X509_REQ_verify(back, pk) != 1)
		return crypto_openssl_errno(-EKEYREJECTED);
	if (ret_pem) {
		r = x509_der_to_pem(der, len, true, &pem);
		if (r < 0)
			return r;
		*ret_pem = TAKE_PTR(pem);
	}
	*ret_der = TAKE_PTR(der);
	*ret_len = len;
	return 0;
}

/* --- certificates --- */

static int serial_random(X509 *x)
{
	_cleanup_(bn_freep) BIGNUM *bn = NULL;
	uint8_t b[X509_SERIAL_BYTES];
	int r;

	r = crypto_random(b, sizeof(b));
	if (r < 0)
		return r;
	b[0] = (uint8_t)((b[0] & 0x7f) | 0x40); /* positive, always 16 octets: 126 random bits */
	bn = BN_bin2bn(b, sizeof(b), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		return crypto_openssl_errno(-ENOMEM);
	return 0;
}

static int key_id_ext(X509 *x, const X509 *issuer, bool self)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	const ASN1_OCTET_STRING *iski;
	int r = 0;

	if (!ski || !akid) {
		r = -ENOMEM;
		goto out;
	}
	if (X509_pubkey_digest(x, EVP_sha1(), md, &mdlen) != 1 ||
	    ASN1_OCTET_STRING_set(ski, md, (int)mdlen) != 1 ||
	    X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0, X509V3_ADD_REPLACE) != 1) {
		r = crypto_openssl_errno(-EIO);
		goto out;
	}
	iski = self ? NULL : X509_get0_subject_key_id((X509 *)issuer);
	if (iski)
		akid->keyid = ASN1_OCTET_STRING_dup(iski);
	else if (!self) {
		if (X509_pubkey_digest(issuer, EVP_sha1(), md, &mdlen) != 1) {
			r = crypto_openssl_errno(-EIO);
			goto out;
		}
		akid->keyid = ASN1_OCTET_STRING_new();
		if (akid->keyid)
			(void)ASN1_OCTET_STRING_set(akid->keyid, md, (int)mdlen);
	} else
		akid->keyid = ASN1_OCTET_STRING_dup(ski);
	if (!akid->keyid ||
	    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_REPLACE) != 1)
		r = crypto_openssl_errno(-ENOMEM);
out:
	ASN1_OCTET_STRING_free(ski);
	AUTHORITY_KEYID_free(akid);
	return r;
}

/* A certificate of subject name and key pk with p's extensions and dates, issued by
 * issuer_name (issuer NULL: self-signed) and signed by s. */
static int cert_make(const struct x509_signer *s, const X509 *issuer, const X509_NAME *name,
		     EVP_PKEY *pk, const struct x509_profile *p, GENERAL_NAMES *gens, uint8_t **ret,
		     size_t *ret_len)
{
	_cleanup_(x509_freep) X509 *x = X509_new();
	_cleanup_(x509_exts_freep) STACK_OF(X509_EXTENSION) *exts = NULL;
	int64_t nb = p->not_before ? p->not_before : (int64_t)time(NULL);
	int r;

	if (!x)
		return -ENOMEM;
	if (p->not_after <= nb)
		return -EINVAL;
	r = x509_exts_build(p, gens, true, X509_NAME_entry_count(name) == 0, &exts);
	if (r < 0)
		return r;
	if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) != 1 ||
	    X509_set_pubkey(x, pk) != 1 || !ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)p->not_after))
		return crypto_openssl_errno(-EIO);
	r = serial_random(x);
	if (r < 0)
		return r;
	for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++)
		if (X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1) != 1)
			return crypto_openssl_errno(-EIO);
	r = key_id_ext(x, issuer, !issuer);
	if (r < 0)
		return r;
	return cert_finish(x, s, ret, ret_len);
}

int x509_self_sign(const struct x509_signer *s, const struct x509_profile *p, uint8_t **ret_der,
		   size_t *ret_len)
{
	_cleanup_(x509_pkey_freep) EVP_PKEY *pk = NULL;
	_cleanup_(x509_name_freep) X509_NAME *name = NULL;
	_cleanup_(x509_gens_freep) GENERAL_NAMES *gens = NULL;
	enum key_alg a;
	int r;

	if (!p || !p->subject || !ret_der || !ret_len)
		return -EINVAL;
	r = signer_open(s, &pk, &a);
	if (r < 0)
		return r;
	r = x509_subject_parse(p->subject, &name);
	if (r < 0)
		return r;
	gens = sk_GENERAL_NAME_new_null();
	if (!gens)
		return -ENOMEM;
	r = x509_sans_build(p->sans, p->n_sans, gens);
	if (r < 0)
		return r;
	return cert_make(s, NULL, name, pk, p, gens, ret_der, ret_len);
}

/* The CA's certificate may issue this (a CA, keyCertSign, path length), and is of ca's key. */
static int issuer_check(X509 *cax, EVP_PKEY *capk, bool is_ca)
{
	long pl;

	if (EVP_PKEY_eq(X509_get0_pubkey(cax), capk) != 1)
		return -EKEYREJECTED;
	if (X509_check_ca(cax) != 1)
		return -EPERM;
	if ((X509_get_extension_flags(cax) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(cax) & KU_KEY_CERT_SIGN))
		return -EPERM;
	pl = X509_get_pathlen(cax);
	if (is_ca && pl == 0)
		return -EPERM;
	return 0;
}

int x509_issue(const struct x509_signer *ca, const uint8_t *ca_der, size_t ca_len,
	       const struct x509_issue *req, uint8_t **ret_der, size_t *ret_len)
{
	_cleanup_(x509_freep) X509 *cax = NULL;
	_cleanup_(x509_pkey_freep) EVP_PKEY *capk = NULL, *pk = NULL;
	_cleanup_(x509_req_freep) X509_REQ *csr = NULL;
	_cleanup_(x509_name_freep) X509_NAME *name = NULL;
	_cleanup_(x509_gens_freep) GENERAL_NAMES *gens = NULL, *asked = NULL;
	_cleanup_(x509_gens_freep) GENERAL_NAMES *csr_gens = NULL;
	struct x509_profile p;
	struct x509_san *sans = NULL;
	size_t n_sans = 0;
	enum key_alg a;
	int64_t ca_end;
	struct tm tm;
	int r;

	if (!req || !ret_der || !ret_len)
		return -EINVAL;
	p = req->profile;
	r = signer_open(ca, &capk, &a);
	if (r < 0)
		return r;
	r = x509_load(ca_der, ca_len, &cax);
	if (r < 0)
		return r;
	r = issuer_check(cax, capk, p.is_ca);
	if (r < 0)
		return r;
	if (req->csr) {
		const unsigned char *q = req->csr;

		if (req->csr_len > X509_DER_MAX)
			return -EMSGSIZE;
		csr = d2i_X509_REQ(NULL, &q, (long)req->csr_len);
		if (!csr || q != req->csr + req->csr_len)
			return crypto_openssl_errno(-EINVAL);
		pk = X509_REQ_get_pubkey(csr);
		if (!pk)
			return crypto_openssl_errno(-EINVAL);
		if (X509_REQ_verify(csr, pk) != 1)
			return crypto_openssl_errno(-EBADMSG);
		if (!p.subject) {
			name = X509_NAME_dup(X509_REQ_get_subject_name(csr));
			if (!name)
				return -ENOMEM;
		}
		STACK_OF(X509_EXTENSION) *ce = X509_REQ_get_extensions(csr);
		csr_gens = ce ? X509V3_get_d2i(ce, NID_subject_alt_name, NULL, NULL) : NULL;
		sk_X509_EXTENSION_pop_free(ce, X509_EXTENSION_free);
	} else {
		const unsigned char *q = req->spki;

		if (!req->spki || req->spki_len == 0)
			return -EINVAL;
		if (req->spki_len > KEY_PUBLIC_DER_MAX)
			return -EMSGSIZE;
		pk = d2i_PUBKEY(NULL, &q, (long)req->spki_len);
		if (!pk || q != req->spki + req->spki_len)
			return crypto_openssl_errno(-EINVAL);
	}
	if (!name) {
		if (!p.subject)
			return -EINVAL;
		r = x509_subject_parse(p.subject, &name);
		if (r < 0)
			return r;
	}
	/* the SANs asked for: the CSR's, then the profile's, each through the filter */
	asked = sk_GENERAL_NAME_new_null();
	gens = sk_GENERAL_NAME_new_null();
	if (!asked || !gens)
		return -ENOMEM;
	r = x509_sans_from(csr_gens, &sans, &n_sans);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_sans + p.n_sans && r >= 0; i++) {
		const struct x509_san *sn = i < n_sans ? &sans[i] : &p.sans[i - n_sans];

		if (i >= X509_SANS_MAX) {
			r = -EMSGSIZE;
			break;
		}
		r = req->san_filter ? req->san_filter(req->ud, sn) : 1;
		if (r > 0)
			r = x509_san_add(gens, sn);
	}
	x509_sans_free(sans, n_sans);
	if (r < 0)
		return r;
	/* never past the CA's own end */
	if (ASN1_TIME_to_tm(X509_get0_notAfter(cax), &tm) != 1)
		return crypto_openssl_errno(-EINVAL);
	ca_end = (int64_t)timegm(&tm);
	if (p.not_after > ca_end)
		p.not_after = ca_end;
	return cert_make(ca, cax, name, pk, &p, gens, ret_der, ret_len);
}
