/* x509-name.c: what a new certificate or CSR says, in OpenSSL's types (x509.h): the names of
 * key usages and EKUs, subjects in RFC 4514 form both ways, SANs checked and both ways, and the
 * extensions of a profile. Never signs, never sees a key; OpenSSL's failures become -errno
 * through crypto_openssl_errno. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/crypto.h"
#include "core/x509-int.h"
#include "core/x509.h"

/* --- key usage names --- */

static const char *const ku_names[] = {
	"digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
	"keyAgreement",	    "keyCertSign",    "cRLSign",
};
static const char *const eku_names[] = {
	"serverAuth", "clientAuth", "codeSigning", "emailProtection", "timeStamping", "OCSPSigning",
};
static const int eku_nids[] = {
	NID_server_auth,   NID_client_auth, NID_code_sign,
	NID_email_protect, NID_time_stamp,  NID_OCSP_sign,
};

static int bits_parse(const char *s, const char *const *names, size_t n, unsigned *ret)
{
	unsigned bits = 0;

	if (!s || !ret)
		return -EINVAL;
	for (const char *p = s;;) {
		size_t k = strcspn(p, ",");
		size_t i;

		if (k == 0)
			return -EINVAL;
		for (i = 0; i < n; i++)
			if (strlen(names[i]) == k && strncmp(names[i], p, k) == 0)
				break;
		if (i == n)
			return -EOPNOTSUPP;
		bits |= 1u << i;
		if (!p[k])
			break;
		p += k + 1;
	}
	*ret = bits;
	return 0;
}

static int bits_format(unsigned bits, const char *const *names, size_t n, char *buf, size_t size)
{
	size_t at = 0;

	if (!buf || size == 0)
		return -EINVAL;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int k;

		if (!(bits & (1u << i)))
			continue;
		k = snprintf(buf + at, size - at, "%s%s", at ? "," : "", names[i]);
		if (k < 0 || (size_t)k >= size - at)
			return -ENOBUFS;
		at += (size_t)k;
	}
	return 0;
}

int x509_ku_parse(const char *s, unsigned *ret)
{
	return bits_parse(s, ku_names, ELEMENTSOF(ku_names), ret);
}

int x509_eku_parse(const char *s, unsigned *ret)
{
	return bits_parse(s, eku_names, ELEMENTSOF(eku_names), ret);
}

int x509_ku_format(unsigned ku, char *buf, size_t size)
{
	return bits_format(ku, ku_names, ELEMENTSOF(ku_names), buf, size);
}

int x509_eku_format(unsigned eku, char *buf, size_t size)
{
	return bits_format(eku, eku_names, ELEMENTSOF(eku_names), buf, size);
}

/* --- subject --- */

static const struct {
	const char *name;
	int nid;
} subject_attrs[] = {
	{ "CN", NID_commonName },
	{ "O", NID_organizationName },
	{ "OU", NID_organizationalUnitName },
	{ "C", NID_countryName },
	{ "ST", NID_stateOrProvinceName },
	{ "L", NID_localityName },
	{ "DC", NID_domainComponent },
	{ "emailAddress", NID_pkcs9_emailAddress },
	{ "serialNumber", NID_serialNumber },
};

/* One "attr=value" of s (up to an unescaped ',' or the end) at *pos: its NID and the value
 * unescaped into val. */
static int subject_next(const char *s, size_t *pos, int *ret_nid, char *val, size_t size)
{
	const char *p = s + *pos, *eq;
	size_t k = 0, i;

	while (*p == ' ')
		p++;
	eq = strchr(p, '=');
	if (!eq)
		return -EINVAL;
	for (i = 0; i < ELEMENTSOF(subject_attrs); i++)
		if (strlen(subject_attrs[i].name) == (size_t)(eq - p) &&
		    strncmp(subject_attrs[i].name, p, (size_t)(eq - p)) == 0)
			break;
	if (i == ELEMENTSOF(subject_attrs))
		return -EINVAL;
	for (p = eq + 1; *p && *p != ','; p++) {
		if (*p == '\\') {
			p++;
			if (!*p)
				return -EINVAL;
		} else if (*p == '+' || *p == '=')
			return -EINVAL; /* multi-valued RDNs and stray '=' not taken */
		if (k + 1 >= size)
			return -EINVAL;
		val[k++] = *p;
	}
	while (k > 0 && val[k - 1] == ' ')
		k--;
	val[k] = '\0';
	if (k == 0)
		return -EINVAL;
	*ret_nid = subject_attrs[i].nid;
	*pos = (size_t)(p - s) + (*p == ',');
	return *p == ',' ? 1 : 0;
}

int x509_subject_parse(const char *s, X509_NAME **ret)
{
	_cleanup_(x509_name_freep) X509_NAME *name = X509_NAME_new();
	char val[X509_SUBJECT_MAX];
	size_t pos = 0;
	int r;

	if (!name)
		return -ENOMEM;
	if (strlen(s) >= X509_SUBJECT_MAX)
		return -EMSGSIZE;
	if (*s) {
		do {
			int nid;

			r = subject_next(s, &pos, &nid, val, sizeof(val));
			if (r < 0)
				return r;
			/* RFC 4514 writes the most specific RDN first: prepend */
			if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
						       (const unsigned char *)val, -1, 0, 0) != 1)
				return crypto_openssl_errno(-EINVAL);
		} while (r > 0);
	}
	*ret = TAKE_PTR(name);
	return 0;
}

int x509_name_string(const X509_NAME *name, char **ret)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	if (!b)
		return crypto_openssl_errno(-ENOMEM);
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
		BIO_free(b);
		return crypto_openssl_errno(-EIO);
	}
	n = BIO_get_mem_data(b, &data);
	s = strndup(n > 0 ? data : "", n > 0 ? (size_t)n : 0);
	BIO_free(b);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

/* --- SANs --- */

static bool san_chars_ok(const char *v, const char *extra)
{
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(extra, *p)))
			return false;
	return true;
}

static int san_check(const struct x509_san *san)
{
	size_t n;

	if (!san->value)
		return -EINVAL;
	n = strlen(san->value);
	if (n == 0)
		return -EINVAL;
	if (n > X509_SAN_LEN_MAX)
		return -EMSGSIZE;
	switch (san->kind) {
	case X509_SAN_DNS:
		return n <= 253 && san_chars_ok(san->value, "-.*_") ? 0 : -EINVAL;
	case X509_SAN_IP: {
		uint8_t a[16];

		return inet_pton(AF_INET, san->value, a) == 1 ||
				       inet_pton(AF_INET6, san->value, a) == 1 ?
			       0 :
			       -EINVAL;
	}
	case X509_SAN_EMAIL:
		return strchr(san->value, '@') &&
				       san_chars_ok(san->value, "!#$%&'*+-/=?^_`{|}~.@") ?
			       0 :
			       -EINVAL;
	case X509_SAN_URI:
		return strchr(san->value, ':') &&
				       san_chars_ok(san->value, "-._~:/?#[]@!$&'()*+,;=%") ?
			       0 :
			       -EINVAL;
	default:
		return -EINVAL;
	}
}

int x509_san_add(GENERAL_NAMES *gens, const struct x509_san *san)
{
	GENERAL_NAME *g;
	int r;

	r = san_check(san);
	if (r < 0)
		return r;
	if (san->kind == X509_SAN_IP) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(san->value);

		if (!ip)
			return crypto_openssl_errno(-EINVAL);
		g = GENERAL_NAME_new();
		if (!g) {
			ASN1_OCTET_STRING_free(ip);
			return crypto_openssl_errno(-ENOMEM);
		}
		GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
	} else {
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		int type = san->kind == X509_SAN_DNS   ? GEN_DNS :
			   san->kind == X509_SAN_EMAIL ? GEN_EMAIL :
							 GEN_URI;

		if (!s || ASN1_STRING_set(s, san->value, -1) != 1) {
			ASN1_IA5STRING_free(s);
			return crypto_openssl_errno(-ENOMEM);
		}
		g = GENERAL_NAME_new();
		if (!g) {
			ASN1_IA5STRING_free(s);
			return crypto_openssl_errno(-ENOMEM);
		}
		GENERAL_NAME_set0_value(g, type, s);
	}
	/* the same name twice once */
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++)
		if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(gens, i), g) == 0) {
			GENERAL_NAME_free(g);
			return 0;
		}
	if (sk_GENERAL_NAME_push(gens, g) <= 0) {
		GENERAL_NAME_free(g);
		return -ENOMEM;
	}
	return 0;
}

int x509_sans_build(const struct x509_san *sans, size_t n, GENERAL_NAMES *gens)
{
	if (n > X509_SANS_MAX)
		return -EMSGSIZE;
	if (n && !sans)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int r = x509_san_add(gens, &sans[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

void x509_sans_free(struct x509_san *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i].value);
	free(s);
}

int x509_sans_from(const GENERAL_NAMES *gens, struct x509_san **ret, size_t *ret_n)
{
	int m = gens ? sk_GENERAL_NAME_num(gens) : 0;
	struct x509_san *s = calloc(m > 0 ? (size_t)m : 1, sizeof(*s));
	size_t n = 0;

	if (!s)
		return -ENOMEM;
	for (int i = 0; i < m; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		int type;
		void *v = GENERAL_NAME_get0_value(g, &type);
		const ASN1_STRING *str = v;
		char buf[64];

		switch (type) {
		case GEN_DNS:
		case GEN_EMAIL:
		case GEN_URI:
			s[n].kind = type == GEN_DNS   ? X509_SAN_DNS :
				    type == GEN_EMAIL ? X509_SAN_EMAIL :
							X509_SAN_URI;
			s[n].value = strndup((const char *)ASN1_STRING_get0_data(str),
					     (size_t)ASN1_STRING_length(str));
			break;
		case GEN_IPADD:
			if (ASN1_STRING_length(str) == 4)
				inet_ntop(AF_INET, ASN1_STRING_get0_data(str), buf, sizeof(buf));
			else if (ASN1_STRING_length(str) == 16)
				inet_ntop(AF_INET6, ASN1_STRING_get0_data(str), buf, sizeof(buf));
			else
				continue;
			s[n].kind = X509_SAN_IP;
			s[n].value = strdup(buf);
			break;
		default:
			continue; /* other name forms are not ours to show */
		}
		if (!s[n].value) {
			x509_sans_free(s, n);
			return -ENOMEM;
		}
		n++;
	}
	*ret = s;
	*ret_n = n;
	return 0;
}

/* --- extensions --- */

static int ext_add(STACK_OF(X509_EXTENSION) * *sk, int nid, void *value, int crit)
{
	if (X509V3_add1_i2d(sk, nid, value, crit, X509V3_ADD_REPLACE) != 1)
		return crypto_openssl_errno(-EIO);
	return 0;
}

/* basic constraints (certificates only), key usage, EKUs, SANs. */
int x509_exts_build(const struct x509_profile *p, GENERAL_NAMES *gens, bool cert,
		    bool subject_empty, STACK_OF(X509_EXTENSION) * *sk)
{
	int r;

	if (cert) {
		BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();

		if (!bc)
			return -ENOMEM;
		bc->ca = p->is_ca ? 0xff : 0;
		if (p->is_ca && p->path_len >= 0) {
			bc->pathlen = ASN1_INTEGER_new();
			if (!bc->pathlen || ASN1_INTEGER_set(bc->pathlen, p->path_len) != 1) {
				BASIC_CONSTRAINTS_free(bc);
				return -ENOMEM;
			}
		}
		r = ext_add(sk, NID_basic_constraints, bc, 1);
		BASIC_CONSTRAINTS_free(bc);
		if (r < 0)
			return r;
	}
	if (p->key_usage) {
		ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();

		if (!ku)
			return -ENOMEM;
		for (unsigned i = 0; i < ELEMENTSOF(ku_names); i++)
			if ((p->key_usage & (1u << i)) &&
			    ASN1_BIT_STRING_set_bit(ku, (int)i, 1) != 1) {
				ASN1_BIT_STRING_free(ku);
				return -ENOMEM;
			}
		r = ext_add(sk, NID_key_usage, ku, 1);
		ASN1_BIT_STRING_free(ku);
		if (r < 0)
			return r;
	}
	if (p->ext_key_usage) {
		EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();

		if (!eku)
			return -ENOMEM;
		for (unsigned i = 0; i < ELEMENTSOF(eku_nids); i++)
			if ((p->ext_key_usage & (1u << i)) &&
			    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(eku_nids[i])) <= 0) {
				sk_ASN1_OBJECT_free(eku);
				return -ENOMEM;
			}
		r = ext_add(sk, NID_ext_key_usage, eku, 0);
		sk_ASN1_OBJECT_free(eku); /* OBJ_nid2obj's are static */
		if (r < 0)
			return r;
	}
	if (sk_GENERAL_NAME_num(gens) > 0) {
		r = ext_add(sk, NID_subject_alt_name, gens, subject_empty);
		if (r < 0)
			return r;
	} else if (subject_empty)
		return -EINVAL;
	return 0;
}
