/* x509-chain.c: certificates read (x509.h): PEM and DER in and out, a bundle in any order put
 * leaf first and each link checked (names, key ids, signatures), and what one certificate or
 * CSR says. Handles public data only: a PEM block of a private key is never decoded here.
 * Never logs above debug; OpenSSL's failures become -errno through crypto_openssl_errno. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/crypto.h"
#include "core/x509-int.h"
#include "core/x509.h"

static inline void bio_freep(BIO **p)
{
	BIO_free(*p);
}

void x509_chain_free(struct x509_chain *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->certs[i].der);
	free(c->certs);
	free(c);
}

int x509_pem_next(const char *s, size_t n, size_t *pos, char label[X509_PEM_LABEL_MAX],
		  size_t *ret_start, size_t *ret_end)
{
	static const char begin[] = "-----BEGIN ", dashes[] = "-----";
	char end[X509_PEM_LABEL_MAX + 16];
	const char *b, *l, *e;
	size_t k;

	if (*pos >= n)
		return -ENOENT;
	b = memmem(s + *pos, n - *pos, begin, sizeof(begin) - 1);
	if (!b)
		return -ENOENT;
	l = b + sizeof(begin) - 1;
	e = memmem(l, n - (size_t)(l - s), dashes, sizeof(dashes) - 1);
	if (!e || memchr(l, '\n', (size_t)(e - l)))
		return -EINVAL;
	k = (size_t)(e - l);
	if (k == 0 || k >= X509_PEM_LABEL_MAX)
		return -EINVAL;
	memcpy(label, l, k);
	label[k] = '\0';
	(void)snprintf(end, sizeof(end), "-----END %s-----", label);
	e = memmem(e, n - (size_t)(e - s), end, strlen(end));
	if (!e)
		return -EINVAL;
	*ret_start = (size_t)(b - s);
	*ret_end = (size_t)(e - s) + strlen(end);
	*pos = *ret_end;
	return 0;
}

int x509_pem_block_der(const char *s, size_t n, uint8_t **ret, size_t *ret_len)
{
	_cleanup_(bio_freep) BIO *b = BIO_new_mem_buf(s, (int)n);
	_cleanup_(x509_ossl_freep) char *name = NULL, *header = NULL;
	_cleanup_(x509_ossl_freep) unsigned char *data = NULL;
	long len = 0;
	uint8_t *out;

	if (!b)
		return crypto_openssl_errno(-ENOMEM);
	if (PEM_read_bio(b, &name, &header, &data, &len) != 1 || len <= 0)
		return crypto_openssl_errno(-EINVAL);
	if ((size_t)len > X509_DER_MAX)
		return -EMSGSIZE;
	out = malloc((size_t)len);
	if (!out)
		return -ENOMEM;
	memcpy(out, data, (size_t)len);
	*ret = out;
	*ret_len = (size_t)len;
	return 0;
}

int x509_der_to_pem(const uint8_t *der, size_t len, bool csr, char **ret)
{
	_cleanup_(bio_freep) BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	if (!der || len == 0 || !ret)
		return -EINVAL;
	if (len > X509_DER_MAX)
		return -EMSGSIZE;
	if (!b)
		return crypto_openssl_errno(-ENOMEM);
	if (PEM_write_bio(b, csr ? "CERTIFICATE REQUEST" : "CERTIFICATE", "", der, (long)len) <= 0)
		return crypto_openssl_errno(-EIO);
	n = BIO_get_mem_data(b, &data);
	s = strndup(data, (size_t)n);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int x509_pem_to_der(const char *pem, size_t n, bool csr, uint8_t **ret_der, size_t *ret_len)
{
	char label[X509_PEM_LABEL_MAX];
	size_t pos = 0, a, z;
	int r;

	if (!pem || !ret_der || !ret_len)
		return -EINVAL;
	if (n > X509_INPUT_MAX)
		return -EMSGSIZE;
	for (;;) {
		r = x509_pem_next(pem, n, &pos, label, &a, &z);
		if (r == -ENOENT)
			return -EINVAL;
		if (r < 0)
			return r;
		if (csr ? streq(label, "CERTIFICATE REQUEST") ||
				    streq(label, "NEW CERTIFICATE REQUEST") :
			  streq(label, "CERTIFICATE"))
			return x509_pem_block_der(pem + a, z - a, ret_der, ret_len);
	}
}

/* --- chains --- */

static void certs_free(X509 **xs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		X509_free(xs[i]);
}

/* Whether a issued b: names, key ids and key usage (no signature). */
static bool issued(X509 *a, X509 *b)
{
	return X509_check_issued(a, b) == X509_V_OK;
}

static void cert_label(X509 *x, char *buf, size_t size)
{
	_cleanup_free_ char *s = NULL;

	if (x509_name_string(X509_get_subject_name(x), &s) < 0)
		s = NULL;
	str_copy(buf, size, s ? s : "?");
	ERR_clear_error();
}

static int chain_put(struct x509_chain *c, X509 *x)
{
	int r = x509_der(x, &c->certs[c->n].der, &c->certs[c->n].len);

	if (r < 0)
		return r;
	c->n++;
	return 0;
}

int x509_chain_order(X509 **xs, size_t n, const uint8_t *spki, size_t spki_len,
		     struct x509_chain **ret, char *reason)
{
	_cleanup_(x509_pkey_freep) EVP_PKEY *pk = NULL;
	_cleanup_(x509_chain_freep) struct x509_chain *c = NULL;
	bool used[X509_CHAIN_MAX] = { false };
	char la[80], lb[80];
	size_t leaf = n, cur;
	int r;

	if (n == 0)
		return x509_reason(-EINVAL, reason, "no certificate");
	if (n > X509_CHAIN_MAX)
		return -EMSGSIZE;
	/* duplicates once */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (!used[j] && X509_cmp(xs[i], xs[j]) == 0)
				used[i] = true;
	if (spki) {
		const unsigned char *p = spki;

		if (spki_len > KEY_PUBLIC_DER_MAX)
			return -EMSGSIZE;
		pk = d2i_PUBKEY(NULL, &p, (long)spki_len);
		if (!pk || p != spki + spki_len)
			return crypto_openssl_errno(-EINVAL);
		for (size_t i = 0; i < n && leaf == n; i++)
			if (!used[i] && EVP_PKEY_eq(X509_get0_pubkey(xs[i]), pk) == 1)
				leaf = i;
		ERR_clear_error();
		if (leaf == n)
			return x509_reason(-EKEYREJECTED, reason,
					   "no certificate is of the private key");
	} else {
		size_t unique = 0;

		for (size_t i = 0; i < n; i++)
			unique += !used[i];
		for (size_t i = 0; i < n; i++) {
			bool issuer = false;

			/* among several, a self-signed one is a root, never the leaf */
			if (used[i] || (unique > 1 && issued(xs[i], xs[i])))
				continue;
			for (size_t j = 0; j < n && !issuer; j++)
				issuer = j != i && !used[j] && issued(xs[i], xs[j]);
			if (issuer)
				continue;
			if (leaf != n) {
				cert_label(xs[leaf], la, sizeof(la));
				cert_label(xs[i], lb, sizeof(lb));
				return x509_reason(-EBADMSG, reason, "two leaves: '%s' and '%s'",
						   la, lb);
			}
			leaf = i;
		}
		if (leaf == n)
			return x509_reason(-EBADMSG, reason,
					   "no leaf: the certificates form a loop");
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->certs = calloc(n, sizeof(*c->certs));
	if (!c->certs)
		return -ENOMEM;
	cur = leaf;
	used[cur] = true;
	r = chain_put(c, xs[cur]);
	if (r < 0)
		return r;
	while (!issued(xs[cur], xs[cur])) {
		size_t next = n;

		for (size_t j = 0; j < n && next == n; j++)
			if (!used[j] && issued(xs[j], xs[cur]))
				next = j;
		if (next == n)
			break;
		if (X509_verify(xs[cur], X509_get0_pubkey(xs[next])) != 1) {
			ERR_clear_error();
			cert_label(xs[cur], la, sizeof(la));
			cert_label(xs[next], lb, sizeof(lb));
			return x509_reason(-EBADMSG, reason, "'%s' is not signed by '%s'", la, lb);
		}
		used[next] = true;
		r = chain_put(c, xs[next]);
		if (r < 0)
			return r;
		cur = next;
	}
	ERR_clear_error();
	for (size_t i = 0; i < n; i++)
		if (!used[i]) {
			cert_label(xs[i], la, sizeof(la));
			return x509_reason(-EBADMSG, reason, "'%s' does not belong to the chain",
					   la);
		}
	*ret = TAKE_PTR(c);
	return 0;
}

int x509_parse_chain(const uint8_t *in, size_t n, const uint8_t *spki, size_t spki_len,
		     struct x509_chain **ret, char *reason)
{
	const char *s = (const char *)in;
	X509 *xs[X509_CHAIN_MAX];
	size_t k = 0;
	int r = 0;

	if (!in || n == 0 || !ret)
		return -EINVAL;
	if (n > X509_INPUT_MAX)
		return -EMSGSIZE;
	if (memmem(in, n, "-----BEGIN ", 11)) {
		char label[X509_PEM_LABEL_MAX];
		size_t pos = 0, a, z;

		for (;;) {
			_cleanup_free_ uint8_t *der = NULL;
			size_t len = 0;

			r = x509_pem_next(s, n, &pos, label, &a, &z);
			if (r == -ENOENT) {
				r = 0;
				break;
			}
			if (r < 0)
				break;
			if (!streq(label, "CERTIFICATE")) {
				r = x509_reason(-EINVAL, reason, "a PEM block of %s", label);
				break;
			}
			if (k == X509_CHAIN_MAX) {
				r = -EMSGSIZE;
				break;
			}
			r = x509_pem_block_der(s + a, z - a, &der, &len);
			if (r >= 0)
				r = x509_load(der, len, &xs[k]);
			if (r < 0)
				break;
			k++;
		}
	} else {
		for (size_t pos = 0; pos < n;) {
			const unsigned char *p = in + pos;

			if (k == X509_CHAIN_MAX) {
				r = -EMSGSIZE;
				break;
			}
			xs[k] = d2i_X509(NULL, &p, (long)MIN(n - pos, (size_t)X509_DER_MAX));
			if (!xs[k]) {
				r = crypto_openssl_errno(-EINVAL);
				break;
			}
			pos = (size_t)(p - in);
			k++;
		}
	}
	if (r >= 0)
		r = x509_chain_order(xs, k, spki, spki_len, ret, reason);
	certs_free(xs, k);
	return r;
}

int x509_chain_check(const struct x509_chain *c, const uint8_t *spki, size_t spki_len, char *reason)
{
	X509 *xs[X509_CHAIN_MAX];
	size_t k = 0;
	char la[80], lb[80];
	int r = 0;

	if (!c || c->n == 0)
		return -EINVAL;
	if (c->n > X509_CHAIN_MAX)
		return -EMSGSIZE;
	for (; k < c->n && r >= 0; k++) {
		r = x509_load(c->certs[k].der, c->certs[k].len, &xs[k]);
		if (r < 0)
			break;
	}
	for (size_t i = 0; r >= 0 && i + 1 < k; i++)
		if (!issued(xs[i + 1], xs[i]) ||
		    X509_verify(xs[i], X509_get0_pubkey(xs[i + 1])) != 1) {
			ERR_clear_error();
			cert_label(xs[i], la, sizeof(la));
			cert_label(xs[i + 1], lb, sizeof(lb));
			r = x509_reason(-EBADMSG, reason, "'%s' is not signed by '%s'", la, lb);
		}
	if (r >= 0 && spki) {
		_cleanup_(x509_pkey_freep) EVP_PKEY *pk = NULL;
		const unsigned char *p = spki;

		pk = spki_len <= KEY_PUBLIC_DER_MAX ? d2i_PUBKEY(NULL, &p, (long)spki_len) : NULL;
		if (!pk)
			r = crypto_openssl_errno(-EINVAL);
		else if (EVP_PKEY_eq(X509_get0_pubkey(xs[0]), pk) != 1)
			r = x509_reason(-EKEYREJECTED, reason, "the leaf is not of the key");
		ERR_clear_error();
	}
	certs_free(xs, k);
	return r;
}

/* --- what a certificate says --- */

void x509_info_done(struct x509_info *i)
{
	if (!i)
		return;
	free(i->subject);
	free(i->issuer);
	x509_sans_free(i->sans, i->n_sans);
	*i = (struct x509_info){ 0 };
}

static int time_unix(const ASN1_TIME *t, int64_t *ret)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return crypto_openssl_errno(-EINVAL);
	*ret = (int64_t)timegm(&tm);
	return 0;
}

static int spki_der(X509_PUBKEY *xp, uint8_t *out, size_t *len)
{
	_cleanup_(x509_ossl_freep) unsigned char *d = NULL;
	int n = i2d_X509_PUBKEY(xp, &d);

	if (n <= 0)
		return crypto_openssl_errno(-EINVAL);
	if ((size_t)n > KEY_PUBLIC_DER_MAX)
		return -EMSGSIZE;
	memcpy(out, d, (size_t)n);
	*len = (size_t)n;
	return 0;
}

static const struct {
	uint32_t ossl;
	unsigned ours;
} eku_map[] = {
	{ XKU_SSL_SERVER, X509_EKU_SERVER_AUTH },  { XKU_SSL_CLIENT, X509_EKU_CLIENT_AUTH },
	{ XKU_CODE_SIGN, X509_EKU_CODE_SIGNING },  { XKU_SMIME, X509_EKU_EMAIL_PROTECTION },
	{ XKU_TIMESTAMP, X509_EKU_TIME_STAMPING }, { XKU_OCSP_SIGN, X509_EKU_OCSP_SIGNING },
};

static int info_get(const uint8_t *der, size_t len, bool verify, struct x509_info *ret)
{
	_cleanup_(x509_freep) X509 *x = NULL;
	_cleanup_(x509_info_done) struct x509_info i = { 0 };
	const ASN1_INTEGER *sn;
	GENERAL_NAMES *gens;
	uint32_t ku, xku;
	int r;

	if (!ret)
		return -EINVAL;
	r = x509_load(der, len, &x);
	if (r < 0)
		return r;
	r = x509_name_string(X509_get_subject_name(x), &i.subject);
	if (r < 0)
		return r;
	r = x509_name_string(X509_get_issuer_name(x), &i.issuer);
	if (r < 0)
		return r;
	sn = X509_get0_serialNumber(x);
	if (ASN1_STRING_length(sn) <= 0 || ASN1_STRING_length(sn) > 20)
		return -EINVAL;
	hex_encode(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn), i.serial);
	i.serial[2 * ASN1_STRING_length(sn)] = '\0';
	r = time_unix(X509_get0_notBefore(x), &i.not_before);
	if (r < 0)
		return r;
	r = time_unix(X509_get0_notAfter(x), &i.not_after);
	if (r < 0)
		return r;
	i.is_ca = X509_get_extension_flags(x) & EXFLAG_CA;
	i.path_len = (int)X509_get_pathlen(x);
	i.self_signed = X509_self_signed(x, verify) == 1;
	ku = X509_get_key_usage(x);
	for (unsigned b = 0; ku != UINT32_MAX && b < 7; b++)
		if (ku & (0x80u >> b))
			i.key_usage |= 1u << b;
	xku = X509_get_extended_key_usage(x);
	for (size_t b = 0; xku != UINT32_MAX && b < ELEMENTSOF(eku_map); b++)
		if (xku & eku_map[b].ossl)
			i.ext_key_usage |= eku_map[b].ours;
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	r = x509_sans_from(gens, &i.sans, &i.n_sans);
	GENERAL_NAMES_free(gens);
	if (r < 0)
		return r;
	r = spki_der(X509_get_X509_PUBKEY(x), i.spki, &i.spki_len);
	if (r < 0)
		return r;
	ERR_clear_error();
	*ret = i;
	i = (struct x509_info){ 0 };
	return 0;
}

int x509_info_get(const uint8_t *der, size_t len, struct x509_info *ret)
{
	return info_get(der, len, true, ret);
}

int x509_info_brief(const uint8_t *der, size_t len, struct x509_info *ret)
{
	return info_get(der, len, false, ret);
}

int x509_csr_info(const uint8_t *der, size_t len, struct x509_info *ret)
{
	_cleanup_(x509_req_freep) X509_REQ *req = NULL;
	_cleanup_(x509_pkey_freep) EVP_PKEY *pk = NULL;
	_cleanup_(x509_info_done) struct x509_info i = { 0 };
	const unsigned char *p = der;
	STACK_OF(X509_EXTENSION) * exts;
	GENERAL_NAMES *gens;
	int r;

	if (!der || len == 0 || !ret)
		return -EINVAL;
	if (len > X509_DER_MAX)
		return -EMSGSIZE;
	req = d2i_X509_REQ(NULL, &p, (long)len);
	if (!req || p != der + len)
		return crypto_openssl_errno(-EINVAL);
	pk = X509_REQ_get_pubkey(req);
	if (!pk)
		return crypto_openssl_errno(-EINVAL);
	if (X509_REQ_verify(req, pk) != 1)
		return crypto_openssl_errno(-EBADMSG);
	r = x509_name_string(X509_REQ_get_subject_name(req), &i.subject);
	if (r < 0)
		return r;
	exts = X509_REQ_get_extensions(req);
	gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	r = x509_sans_from(gens, &i.sans, &i.n_sans);
	GENERAL_NAMES_free(gens);
	if (r < 0)
		return r;
	r = spki_der(X509_REQ_get_X509_PUBKEY(req), i.spki, &i.spki_len);
	if (r < 0)
		return r;
	i.path_len = -1;
	ERR_clear_error();
	*ret = i;
	i = (struct x509_info){ 0 };
	return 0;
}
