/* x509-p12.c: a certificate's key and chain in and out (x509.h): imports of a PEM bundle
 * (the key through key_soft_import) and of PKCS#12, and the export views of one version:
 * chain PEM, key PEM, key + chain PEM and PKCS#12. Every buffer that holds the private key, in
 * any encoding, is a secbuf (PKCS#12 with an empty password is the key in clear too); OpenSSL's
 * own copies live in its key objects, cleansed when freed. Never logs above debug; OpenSSL's
 * failures become -errno through crypto_openssl_errno. */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "core/crypto.h"
#include "core/key-soft-int.h"
#include "core/key-soft.h"
#include "core/x509-int.h"
#include "core/x509.h"

static inline void p12_freep(PKCS12 **p)
{
	PKCS12_free(*p);
}

static inline void x509_stack_freep(STACK_OF(X509) * *p)
{
	sk_X509_pop_free(*p, X509_free);
}

static void certs_free(X509 **xs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		X509_free(xs[i]);
}

static bool is_key_label(const char *l)
{
	return streq(l, "PRIVATE KEY") || streq(l, "RSA PRIVATE KEY") || streq(l, "EC PRIVATE KEY");
}

/* The key, its SPKI, then the chain in order. */
static int key_and_chain(enum key_type t, struct secbuf *material, X509 **xs, size_t k,
			 struct x509_chain **ret_chain, char *reason)
{
	uint8_t spki[KEY_PUBLIC_DER_MAX];
	size_t spkilen = sizeof(spki);
	int r;

	r = key_soft_public(t, material, spki, &spkilen);
	if (r < 0)
		return r;
	return x509_chain_order(xs, k, spki, spkilen, ret_chain, reason);
}

int x509_import_pem(const uint8_t *in, size_t n, enum key_type *ret_type,
		    struct secbuf **ret_material, struct x509_chain **ret_chain, char *reason)
{
	_cleanup_secbuf_ struct secbuf *material = NULL;
	_cleanup_(x509_chain_freep) struct x509_chain *chain = NULL;
	const char *s = (const char *)in;
	char label[X509_PEM_LABEL_MAX];
	size_t pos = 0, a, z, ka = 0, kz = 0, k = 0;
	X509 *xs[X509_CHAIN_MAX];
	enum key_type t;
	int r;

	if (!in || n == 0 || !ret_type || !ret_material || !ret_chain)
		return -EINVAL;
	if (n > X509_INPUT_MAX)
		return -EMSGSIZE;
	for (;;) {
		_cleanup_free_ uint8_t *der = NULL;
		size_t len = 0;

		r = x509_pem_next(s, n, &pos, label, &a, &z);
		if (r == -ENOENT) {
			r = 0;
			break;
		}
		if (r < 0)
			goto out;
		if (streq(label, "EC PARAMETERS"))
			continue;
		if (streq(label, "ENCRYPTED PRIVATE KEY")) {
			r = x509_reason(-ENOKEY, reason, "the private key is encrypted");
			goto out;
		}
		if (is_key_label(label)) {
			if (kz) {
				r = x509_reason(-EINVAL, reason, "two private keys");
				goto out;
			}
			ka = a, kz = z;
			continue;
		}
		if (!streq(label, "CERTIFICATE")) {
			r = x509_reason(-EINVAL, reason, "a PEM block of %s", label);
			goto out;
		}
		if (k == X509_CHAIN_MAX) {
			r = -EMSGSIZE;
			goto out;
		}
		r = x509_pem_block_der(s + a, z - a, &der, &len);
		if (r >= 0)
			r = x509_load(der, len, &xs[k]);
		if (r < 0)
			goto out;
		k++;
	}
	if (!kz) {
		r = x509_reason(-EINVAL, reason, "no private key");
		goto out;
	}
	if (k == 0) {
		r = x509_reason(-EINVAL, reason, "no certificate");
		goto out;
	}
	/* the key block alone, read where it lies */
	r = key_soft_import(in + ka, kz - ka, &t, &material);
	if (r >= 0)
		r = key_and_chain(t, material, xs, k, &chain, reason);
out:
	certs_free(xs, k);
	if (r < 0)
		return r;
	*ret_type = t;
	*ret_material = TAKE_PTR(material);
	*ret_chain = TAKE_PTR(chain);
	return 0;
}

int x509_import_p12(const uint8_t *in, size_t n, const char *password, enum key_type *ret_type,
		    struct secbuf **ret_material, struct x509_chain **ret_chain, char *reason)
{
	_cleanup_(p12_freep) PKCS12 *p12 = NULL;
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	_cleanup_(x509_freep) X509 *leaf = NULL;
	_cleanup_(x509_stack_freep) STACK_OF(X509) *ca = NULL;
	_cleanup_secbuf_ struct secbuf *material = NULL;
	_cleanup_(x509_chain_freep) struct x509_chain *chain = NULL;
	const unsigned char *p = in;
	const char *pass = password ? password : "";
	X509 *xs[X509_CHAIN_MAX];
	size_t k = 0;
	enum key_type t;
	int r;

	if (!in || n == 0 || !ret_type || !ret_material || !ret_chain)
		return -EINVAL;
	if (n > X509_INPUT_MAX || strlen(pass) >= X509_PASSWORD_MAX)
		return -EMSGSIZE;
	p12 = d2i_PKCS12(NULL, &p, (long)n);
	if (!p12 || p != in + n)
		return x509_reason(crypto_openssl_errno(-EINVAL), reason, "not a PKCS#12");
	if (PKCS12_mac_present(p12)) {
		if (PKCS12_verify_mac(p12, pass, -1) != 1) {
			/* the empty password comes in two forms: "" and none */
			if (*pass || PKCS12_verify_mac(p12, NULL, 0) != 1)
				return x509_reason(crypto_openssl_errno(-ENOKEY), reason,
						   "the password does not open the PKCS#12");
			pass = NULL;
		}
	}
	if (PKCS12_parse(p12, pass, &pk, &leaf, &ca) != 1)
		return x509_reason(
			crypto_openssl_errno(PKCS12_mac_present(p12) ? -EINVAL : -ENOKEY), reason,
			"the PKCS#12 does not decrypt");
	if (!pk || !leaf)
		return x509_reason(-EINVAL, reason, "no private key or no certificate");
	r = key_pkey_to_material(pk, &t, &material);
	if (r < 0)
		return r;
	xs[k++] = leaf;
	for (int i = 0; i < sk_X509_num(ca); i++) {
		if (k == X509_CHAIN_MAX)
			return -EMSGSIZE;
		xs[k++] = sk_X509_value(ca, i);
	}
	r = key_and_chain(t, material, xs, k, &chain, reason);
	if (r < 0)
		return r;
	*ret_type = t;
	*ret_material = TAKE_PTR(material);
	*ret_chain = TAKE_PTR(chain);
	return 0;
}

/* --- export --- */

/* One DER element at *p, before end, into *e (its content and its end, *p moved past it);
 * false when there is none or it is not DER. */
struct der_el {
	const uint8_t *start, *content, *end;
	int tag, cls;
};

static bool der_next(const uint8_t **p, const uint8_t *end, struct der_el *e)
{
	const unsigned char *q = *p;
	long len;
	int f;

	if (*p >= end)
		return false;
	f = ASN1_get_object(&q, &len, &e->tag, &e->cls, end - *p);
	if (f & 0x81) { /* an error, or an indefinite length */
		ERR_clear_error();
		return false;
	}
	e->start = *p;
	e->content = q;
	e->end = q + len;
	*p = e->end;
	return true;
}

static bool der_is(const struct der_el *e, int cls, int tag)
{
	return e->cls == cls && e->tag == tag;
}

static inline void name_freep(X509_NAME **p)
{
	X509_NAME_free(*p);
}

static inline void akid_freep(AUTHORITY_KEYID **p)
{
	AUTHORITY_KEYID_free(*p);
}

static inline void octets_freep(ASN1_OCTET_STRING **p)
{
	ASN1_OCTET_STRING_free(*p);
}

static inline void integer_freep(ASN1_INTEGER **p)
{
	ASN1_INTEGER_free(*p);
}

/* X509_self_signed(x, 0) of a certificate in DER without decoding it whole (OpenSSL 3 decodes
 * its public key through its decoder framework: most of what a chain view costs): its issuer
 * and subject equal as X509_NAME_cmp has it, and its authority key id, when it has one, its
 * own as X509_check_akid has it (key id against its subject key id, serial). 1 yes, 0 no,
 * -1 when it takes more than this reads (an authority key id by issuer name, anything
 * unexpected): then OpenSSL is asked. */
static int self_signed_quick(const uint8_t *der, size_t len)
{
	static const uint8_t oid_akid[] = { 0x06, 0x03, 0x55, 0x1d, 0x23 };
	static const uint8_t oid_skid[] = { 0x06, 0x03, 0x55, 0x1d, 0x0e };
	_cleanup_(name_freep) X509_NAME *in = NULL, *sn = NULL;
	_cleanup_(akid_freep) AUTHORITY_KEYID *akid = NULL;
	_cleanup_(octets_freep) ASN1_OCTET_STRING *skid = NULL;
	_cleanup_(integer_freep) ASN1_INTEGER *serial = NULL;
	struct der_el cert, tbs, e, issuer, subject, serial_el;
	const uint8_t *p = der, *q;
	const unsigned char *d;

	if (!der_next(&p, der + len, &cert) || !der_is(&cert, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE))
		return -1;
	p = cert.content;
	if (!der_next(&p, cert.end, &tbs) || !der_is(&tbs, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE))
		return -1;
	p = tbs.content;
	if (!der_next(&p, tbs.end, &serial_el))
		return -1;
	if (der_is(&serial_el, V_ASN1_CONTEXT_SPECIFIC, 0) && !der_next(&p, tbs.end, &serial_el))
		return -1; /* past the version */
	if (!der_is(&serial_el, V_ASN1_UNIVERSAL, V_ASN1_INTEGER) ||
	    !der_next(&p, tbs.end, &e) /* signature */ || !der_next(&p, tbs.end, &issuer) ||
	    !der_next(&p, tbs.end, &e) /* validity */ || !der_next(&p, tbs.end, &subject) ||
	    !der_next(&p, tbs.end, &e) /* subjectPublicKeyInfo */)
		return -1;
	d = issuer.start;
	in = d2i_X509_NAME(NULL, &d, issuer.end - issuer.start);
	d = subject.start;
	sn = d2i_X509_NAME(NULL, &d, subject.end - subject.start);
	if (!in || !sn) {
		ERR_clear_error();
		return -1;
	}
	if (X509_NAME_cmp(in, sn) != 0)
		return 0;
	while (p < tbs.end) { /* unique ids, extensions */
		struct der_el exts, ext, oid, val;

		if (!der_next(&p, tbs.end, &e))
			return -1;
		if (!der_is(&e, V_ASN1_CONTEXT_SPECIFIC, 3))
			continue;
		q = e.content;
		if (!der_next(&q, e.end, &exts))
			return -1;
		for (q = exts.content; q < exts.end;) {
			const uint8_t *r;

			if (!der_next(&q, exts.end, &ext))
				return -1;
			r = ext.content;
			if (!der_next(&r, ext.end, &oid) || !der_next(&r, ext.end, &val))
				return -1;
			if (der_is(&val, V_ASN1_UNIVERSAL, V_ASN1_BOOLEAN) &&
			    !der_next(&r, ext.end, &val))
				return -1; /* past critical */
			if (!der_is(&val, V_ASN1_UNIVERSAL, V_ASN1_OCTET_STRING))
				return -1;
			d = val.content;
			if ((size_t)(oid.end - oid.start) != sizeof(oid_akid))
				continue;
			if (!memcmp(oid.start, oid_akid, sizeof(oid_akid))) {
				if (akid)
					return -1; /* twice: OpenSSL's to judge */
				akid = d2i_AUTHORITY_KEYID(NULL, &d, val.end - val.content);
				if (!akid) {
					ERR_clear_error();
					return -1;
				}
			} else if (!memcmp(oid.start, oid_skid, sizeof(oid_skid))) {
				if (skid)
					return -1;
				skid = d2i_ASN1_OCTET_STRING(NULL, &d, val.end - val.content);
				if (!skid) {
					ERR_clear_error();
					return -1;
				}
			}
		}
	}
	if (!akid)
		return 1;
	if (akid->issuer)
		return -1;
	if (akid->keyid && skid && ASN1_OCTET_STRING_cmp(akid->keyid, skid) != 0)
		return 0;
	if (akid->serial) {
		d = serial_el.start;
		serial = d2i_ASN1_INTEGER(NULL, &d, serial_el.end - serial_el.start);
		if (!serial) {
			ERR_clear_error();
			return -1;
		}
		if (ASN1_INTEGER_cmp(serial, akid->serial) != 0)
			return 0;
	}
	return 1;
}

/* The certificates of a view: [*from, *to). */
static int view_range(const struct x509_chain *c, enum x509_view v, size_t *from, size_t *to)
{
	_cleanup_(x509_freep) X509 *last = NULL;
	int r;

	if (!c || c->n == 0)
		return -EINVAL;
	switch (v) {
	case X509_VIEW_CRT:
		*from = 0;
		*to = c->n;
		if (c->n > 1) {
			const struct x509_cert *l = &c->certs[c->n - 1];

			r = self_signed_quick(l->der, l->len);
			if (r < 0) {
				r = x509_load(l->der, l->len, &last);
				if (r < 0)
					return r;
				r = X509_self_signed(last, 0) == 1;
				ERR_clear_error();
			}
			if (r > 0)
				(*to)--;
		}
		return 0;
	case X509_VIEW_CHAIN:
		*from = 1;
		*to = c->n;
		return 0;
	default:
		return -EINVAL;
	}
}

/* The PEM of certificates [from, to) appended to out (a secbuf of cap enough, or NULL to
 * count): the length it takes. */
static int pem_certs(const struct x509_chain *c, size_t from, size_t to, char **ret)
{
	size_t total = 0;
	char *all = strdup("");
	int r;

	if (!all)
		return -ENOMEM;
	for (size_t i = from; i < to; i++) {
		_cleanup_free_ char *one = NULL;
		char *grown;
		size_t k;

		r = x509_der_to_pem(c->certs[i].der, c->certs[i].len, false, &one);
		if (r < 0) {
			free(all);
			return r;
		}
		k = strlen(one);
		grown = realloc(all, total + k + 1);
		if (!grown) {
			free(all);
			return -ENOMEM;
		}
		all = grown;
		memcpy(all + total, one, k + 1);
		total += k;
	}
	*ret = all;
	return 0;
}

/* The length of a PEM block of n DER bytes under a label of 11 characters ("CERTIFICATE",
 * "PRIVATE KEY"): "-----BEGIN L-----\n", base64 in lines of 64 columns, "-----END L-----\n". */
static size_t pem_len(size_t n)
{
	return 28 + 4 * ((n + 2) / 3) + (n + 47) / 48 + 26;
}

int x509_export_chain_size(const struct x509_chain *c, enum x509_view v, size_t *ret)
{
	size_t from, to, total = 0;
	int r;

	if (!ret)
		return -EINVAL;
	r = view_range(c, v, &from, &to);
	if (r < 0)
		return r;
	for (size_t i = from; i < to; i++) {
		if (c->certs[i].len == 0)
			return -EINVAL;
		if (c->certs[i].len > X509_DER_MAX)
			return -EMSGSIZE;
		total += pem_len(c->certs[i].len);
	}
	*ret = total;
	return 0;
}

size_t x509_export_key_pem_size(size_t material_len)
{
	return pem_len(material_len);
}

int x509_export_pem_bundle_size(size_t material_len, const struct x509_chain *c, size_t *ret)
{
	size_t certs;
	int r;

	if (material_len == 0 || !ret)
		return -EINVAL;
	if (material_len > KEY_MATERIAL_MAX)
		return -EMSGSIZE;
	r = x509_export_chain_size(c, X509_VIEW_CRT, &certs);
	if (r < 0)
		return r;
	*ret = pem_len(material_len) + certs;
	return 0;
}

int x509_export_chain(const struct x509_chain *c, enum x509_view v, char **ret)
{
	size_t from, to;
	int r;

	if (!ret)
		return -EINVAL;
	r = view_range(c, v, &from, &to);
	if (r < 0)
		return r;
	return pem_certs(c, from, to, ret);
}

/* "PRIVATE KEY" PEM of material into b at b->len (enough room checked by the caller). */
static void key_pem_put(const struct secbuf *material, struct secbuf *b)
{
	static const char head[] = "-----BEGIN PRIVATE KEY-----\n";
	static const char tail[] = "-----END PRIVATE KEY-----\n";
	uint8_t *q = b->data + b->len;

	memcpy(q, head, sizeof(head) - 1), q += sizeof(head) - 1;
	for (size_t i = 0; i < material->len; i += 48) {
		size_t k = MIN((size_t)48, material->len - i);

		q += EVP_EncodeBlock(q, material->data + i, (int)k);
		*q++ = '\n';
	}
	memcpy(q, tail, sizeof(tail) - 1), q += sizeof(tail) - 1;
	*q = '\0';
	b->len = (size_t)(q - b->data);
}

static size_t key_pem_size(size_t n)
{
	return 28 + 26 + (n + 47) / 48 * 65 + 1;
}

int x509_export_key_pem(const struct secbuf *material, struct secbuf **ret)
{
	struct secbuf *b = NULL;
	int r;

	if (!material || material->len == 0 || !ret)
		return -EINVAL;
	if (material->len > KEY_MATERIAL_MAX)
		return -EMSGSIZE;
	r = secbuf_new(key_pem_size(material->len), &b);
	if (r < 0)
		return r;
	key_pem_put(material, b);
	*ret = b;
	return 0;
}

int x509_export_pem_bundle(const struct secbuf *material, const struct x509_chain *c,
			   struct secbuf **ret)
{
	_cleanup_free_ char *certs = NULL;
	struct secbuf *b = NULL;
	size_t from, to, k;
	int r;

	if (!material || material->len == 0 || !ret)
		return -EINVAL;
	if (material->len > KEY_MATERIAL_MAX)
		return -EMSGSIZE;
	r = view_range(c, X509_VIEW_CRT, &from, &to);
	if (r < 0)
		return r;
	r = pem_certs(c, from, to, &certs);
	if (r < 0)
		return r;
	k = strlen(certs);
	r = secbuf_new(key_pem_size(material->len) + k, &b);
	if (r < 0)
		return r;
	key_pem_put(material, b);
	memcpy(b->data + b->len, certs, k + 1);
	b->len += k;
	*ret = b;
	return 0;
}

/* The PKCS#12 of x509_export_p12 made with iter PBKDF2 iterations (key, certificates, MAC). */
static int p12_make(enum key_type t, const struct secbuf *material, const struct x509_chain *c,
		    const char *password, const char *name, int iter, struct secbuf **ret)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	_cleanup_(x509_freep) X509 *leaf = NULL;
	_cleanup_(x509_stack_freep) STACK_OF(X509) *ca = NULL;
	_cleanup_(p12_freep) PKCS12 *p12 = NULL;
	const char *pass = password ? password : "";
	struct secbuf *b = NULL;
	unsigned char *q;
	int n, r;

	if (!material || !c || c->n == 0 || !ret)
		return -EINVAL;
	if (strlen(pass) >= X509_PASSWORD_MAX)
		return -EMSGSIZE;
	r = key_pkey_from_material(t, material, &pk);
	if (r < 0)
		return r;
	r = x509_load(c->certs[0].der, c->certs[0].len, &leaf);
	if (r < 0)
		return r;
	if (X509_check_private_key(leaf, pk) != 1) {
		ERR_clear_error();
		return -EKEYREJECTED;
	}
	ca = sk_X509_new_null();
	if (!ca)
		return -ENOMEM;
	for (size_t i = 1; i < c->n; i++) {
		X509 *x = NULL;

		r = x509_load(c->certs[i].der, c->certs[i].len, &x);
		if (r < 0)
			return r;
		if (sk_X509_push(ca, x) <= 0) {
			X509_free(x);
			return -ENOMEM;
		}
	}
	p12 = PKCS12_create_ex(pass, name, pk, leaf, ca, NID_aes_256_cbc, NID_aes_256_cbc, iter, -1,
			       0, NULL, NULL);
	if (!p12)
		return crypto_openssl_errno(-EIO);
	if (PKCS12_set_mac(p12, pass, -1, NULL, 0, iter, EVP_sha256()) != 1)
		return crypto_openssl_errno(-EIO);
	n = i2d_PKCS12(p12, NULL);
	if (n <= 0)
		return crypto_openssl_errno(-EIO);
	r = secbuf_new((size_t)n, &b);
	if (r < 0)
		return r;
	q = b->data;
	if (i2d_PKCS12(p12, &q) != n) {
		secbuf_free(b);
		return crypto_openssl_errno(-EIO);
	}
	b->len = (size_t)n;
	*ret = b;
	return 0;
}

int x509_export_p12(enum key_type t, const struct secbuf *material, const struct x509_chain *c,
		    const char *password, const char *name, struct secbuf **ret)
{
	return p12_make(t, material, c, password, name, PKCS12_DEFAULT_ITER, ret);
}

/* 128 .. 32767 iterations are all a two-octet INTEGER, as PKCS12_DEFAULT_ITER (2048) is */
#define P12_SIZE_ITER 128
_Static_assert(PKCS12_DEFAULT_ITER >= 128 && PKCS12_DEFAULT_ITER <= 32767,
	       "the sizing PKCS#12's iteration count is of the real one's DER length");

int x509_export_p12_size(enum key_type t, const struct secbuf *material, const struct x509_chain *c,
			 const char *password, const char *name, size_t *ret)
{
	struct secbuf *b = NULL;
	int r;

	if (!ret)
		return -EINVAL;
	r = p12_make(t, material, c, password, name, P12_SIZE_ITER, &b);
	if (r < 0)
		return r;
	*ret = b->len;
	secbuf_free(b); /* wipes it */
	return 0;
}
