/* test-x509.c: unit tests for core/x509.h: for EC P-256, P-384, RSA-2048 (PKCS#1 v1.5, and a
 * PSS leaf) and Ed25519 signers backed by key_soft_sign, a self-signed root CA, an intermediate
 * under it and a leaf from a CSR, checked by the openssl CLI (`openssl verify`, `openssl req
 * -verify`); serials distinct, positive, of 16 octets; SANs, key usage and EKUs round trip; a
 * chain out of order re-ordered; a broken chain, a key mismatch, a CA that may not issue, a
 * truncated PEM, a garbage and a wrongly opened PKCS#12 each with its exact errno; imports of
 * PEM (PKCS#1, SEC1, PKCS#8, made by the CLI) and PKCS#12 (made by the CLI and by us); the
 * export views, and a .p12 that `openssl pkcs12 -info -passin pass:` opens with its key the
 * leaf's; a signer over a key in the (software) TPM, ES256, RS256 and PS256. The CLI runs in a
 * mkdtemp directory; run it under tests/lib/with-swtpm. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/key-soft.h"
#include "core/key.h"
#include "core/secbuf.h"
#include "core/tpm-key.h"
#include "core/util.h"
#include "core/x509.h"
#include "tests/unit/testlib.h"

static const enum key_type types[] = { KEY_EC_P256, KEY_EC_P384, KEY_RSA_2048, KEY_ED25519 };

/* A software key as a signer. */
struct skey {
	enum key_type type;
	struct secbuf *mat;
	uint8_t spki[KEY_PUBLIC_DER_MAX];
	size_t spkilen;
	unsigned signs;
};

struct t {
	char *dir;
	struct skey keys[_KEY_TYPE_MAX][3]; /* root, intermediate, leaf */
};

static int soft_sign(void *ud, enum key_alg alg, const uint8_t *in, size_t n, uint8_t *sig,
		     size_t *siglen)
{
	struct skey *k = ud;

	k->signs++;
	return key_soft_sign(k->type, k->mat, alg, in, n, sig, siglen);
}

static struct x509_signer signer(struct skey *k, enum key_alg alg)
{
	return (struct x509_signer){ .type = k->type,
				     .alg = alg,
				     .spki = k->spki,
				     .spki_len = k->spkilen,
				     .sign = soft_sign,
				     .ud = k };
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	if (!t || test_tmpdir(&t->dir) < 0)
		return -1;
	for (size_t i = 0; i < ELEMENTSOF(types); i++)
		for (int j = 0; j < 3; j++) {
			struct skey *k = &t->keys[types[i]][j];

			k->type = types[i];
			k->spkilen = sizeof(k->spki);
			if (key_soft_generate(k->type, &k->mat) < 0 ||
			    key_soft_public(k->type, k->mat, k->spki, &k->spkilen) < 0)
				return -1;
		}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	for (size_t i = 0; i < _KEY_TYPE_MAX; i++)
		for (int j = 0; j < 3; j++)
			secbuf_free(t->keys[i][j].mat);
	test_rmtree(t->dir);
	free(t->dir);
	free(t);
	return 0;
}

static int run(struct t *t, const char *fmt, ...) _printf_(2, 3);
static int run(struct t *t, const char *fmt, ...)
{
	char cmd[2048], full[2304];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(r > 0 && (size_t)r < sizeof(cmd));
	r = snprintf(full, sizeof(full), "cd '%s' && { %s; } >/dev/null 2>&1", t->dir, cmd);
	assert_true(r > 0 && (size_t)r < sizeof(full));
	r = system(full);
	assert_true(r >= 0 && WIFEXITED(r));
	return WEXITSTATUS(r);
}

static void put(struct t *t, const char *name, const void *p, size_t n)
{
	char path[512];

	assert_true(snprintf(path, sizeof(path), "%s/%s", t->dir, name) < (int)sizeof(path));
	test_write_file(path, p, n, 0600);
}

static void put_cert(struct t *t, const char *name, const uint8_t *der, size_t len, bool csr)
{
	char *pem = NULL;

	assert_int_equal(x509_der_to_pem(der, len, csr, &pem), 0);
	put(t, name, pem, strlen(pem));
	free(pem);
}

static uint8_t *get(struct t *t, const char *name, size_t *n)
{
	char path[512];
	uint8_t *data = NULL;

	assert_true(snprintf(path, sizeof(path), "%s/%s", t->dir, name) < (int)sizeof(path));
	assert_int_equal(test_read_file(path, &data, n), 0);
	return data;
}

static const int64_t day = 86400;

/* root (CA, path length 1), intermediate (CA, path length 0), leaf from a CSR, all of type kt */
struct pki {
	uint8_t *root, *inter, *leaf, *csr;
	size_t rootlen, interlen, leaflen, csrlen;
};

static void pki_free(struct pki *p)
{
	free(p->root);
	free(p->inter);
	free(p->leaf);
	free(p->csr);
}

static struct x509_san sans[] = {
	{ X509_SAN_DNS, "www.example.test" },	{ X509_SAN_DNS, "*.api.example.test" },
	{ X509_SAN_IP, "127.0.0.1" },		{ X509_SAN_IP, "2001:db8::1" },
	{ X509_SAN_EMAIL, "ops@example.test" }, { X509_SAN_URI, "spiffe://example.test/web" },
};

static void make_pki(struct t *t, enum key_type kt, enum key_alg leaf_alg, struct pki *p)
{
	struct skey *k = t->keys[kt];
	struct x509_signer rs = signer(&k[0], 0), is = signer(&k[1], 0), ls = signer(&k[2], 0);
	int64_t now = (int64_t)time(NULL);
	struct x509_profile root = {
		.subject = "CN=Test Root,O=vaultfs,C=DE",
		.not_before = now - 60,
		.not_after = now + 3650 * day,
		.is_ca = true,
		.path_len = 1,
		.key_usage = X509_KU_KEY_CERT_SIGN | X509_KU_CRL_SIGN,
	};
	struct x509_issue inter = {
		.spki = k[1].spki,
		.spki_len = k[1].spkilen,
		.profile = { .subject = "CN=Test Intermediate,O=vaultfs",
			     .not_before = now - 60,
			     .not_after = now + 365 * day,
			     .is_ca = true,
			     .path_len = 0,
			     .key_usage = X509_KU_KEY_CERT_SIGN | X509_KU_CRL_SIGN },
	};
	struct x509_profile csr = {
		.subject = "CN=www.example.test,O=Example\\, Inc.",
		.sans = sans,
		.n_sans = ELEMENTSOF(sans),
		.key_usage = X509_KU_DIGITAL_SIGNATURE,
		.ext_key_usage = X509_EKU_SERVER_AUTH,
	};
	struct x509_issue leaf = {
		.profile = { .not_before = now - 60,
			     .not_after = now + 90 * day,
			     .key_usage = X509_KU_DIGITAL_SIGNATURE |
					  (key_type_is_rsa(kt) ? X509_KU_KEY_ENCIPHERMENT : 0),
			     .ext_key_usage = X509_EKU_SERVER_AUTH | X509_EKU_CLIENT_AUTH },
	};

	*p = (struct pki){ 0 };
	ls.alg = leaf_alg;
	assert_int_equal(x509_self_sign(&rs, &root, &p->root, &p->rootlen), 0);
	assert_int_equal(x509_issue(&rs, p->root, p->rootlen, &inter, &p->inter, &p->interlen), 0);
	assert_int_equal(x509_csr_make(&ls, &csr, &p->csr, &p->csrlen, NULL), 0);
	leaf.csr = p->csr;
	leaf.csr_len = p->csrlen;
	is.alg = leaf_alg;
	assert_int_equal(x509_issue(&is, p->inter, p->interlen, &leaf, &p->leaf, &p->leaflen), 0);
}

static void check_pki_cli(struct t *t, struct pki *p)
{
	put_cert(t, "root.pem", p->root, p->rootlen, false);
	put_cert(t, "inter.pem", p->inter, p->interlen, false);
	put_cert(t, "leaf.pem", p->leaf, p->leaflen, false);
	put_cert(t, "csr.pem", p->csr, p->csrlen, true);
	assert_int_equal(run(t, "openssl verify -CAfile root.pem root.pem"), 0);
	assert_int_equal(run(t, "openssl verify -CAfile root.pem inter.pem"), 0);
	assert_int_equal(run(t, "openssl verify -CAfile root.pem -untrusted inter.pem "
				"-purpose sslserver -verify_hostname www.example.test leaf.pem"),
			 0);
	assert_int_equal(run(t, "openssl req -verify -noout -in csr.pem"), 0);
	/* and the CLI sees a broken one: the leaf against the root alone */
	assert_int_equal(run(t, "openssl verify -CAfile root.pem leaf.pem"), 2);
}

static void check_serial(const char *s)
{
	assert_int_equal(strlen(s), 2 * X509_SERIAL_BYTES);
	assert_true(s[0] >= '4' && s[0] <= '7'); /* positive, first octet 0x40..0x7f */
}

static void test_pki(void **state)
{
	struct t *t = *state;

	for (size_t i = 0; i < ELEMENTSOF(types); i++) {
		struct pki p;
		struct x509_info ri, ii, li, ci;

		make_pki(t, types[i], 0, &p);
		check_pki_cli(t, &p);
		assert_int_equal(x509_info_get(p.root, p.rootlen, &ri), 0);
		assert_int_equal(x509_info_get(p.inter, p.interlen, &ii), 0);
		assert_int_equal(x509_info_get(p.leaf, p.leaflen, &li), 0);
		assert_int_equal(x509_csr_info(p.csr, p.csrlen, &ci), 0);
		assert_string_equal(ri.subject, "CN=Test Root,O=vaultfs,C=DE");
		assert_string_equal(ri.issuer, ri.subject);
		assert_true(ri.self_signed && ri.is_ca && ri.path_len == 1);
		assert_true(ii.is_ca && ii.path_len == 0 && !ii.self_signed);
		assert_string_equal(ii.issuer, ri.subject);
		assert_string_equal(li.subject, "CN=www.example.test,O=Example\\, Inc.");
		assert_string_equal(ci.subject, li.subject);
		assert_string_equal(li.issuer, "CN=Test Intermediate,O=vaultfs");
		assert_false(li.is_ca);
		assert_int_equal(li.path_len, -1);
		assert_int_equal(ri.key_usage, X509_KU_KEY_CERT_SIGN | X509_KU_CRL_SIGN);
		assert_int_equal(li.ext_key_usage, X509_EKU_SERVER_AUTH | X509_EKU_CLIENT_AUTH);
		assert_true(li.key_usage & X509_KU_DIGITAL_SIGNATURE);
		check_serial(ri.serial);
		check_serial(ii.serial);
		check_serial(li.serial);
		assert_string_not_equal(ri.serial, ii.serial);
		assert_string_not_equal(ii.serial, li.serial);
		assert_true(li.not_after - li.not_before == 90 * day + 60);
		/* SANs: the CSR's, in order, both in the CSR and in the leaf */
		assert_int_equal(li.n_sans, ELEMENTSOF(sans));
		assert_int_equal(ci.n_sans, ELEMENTSOF(sans));
		for (size_t j = 0; j < ELEMENTSOF(sans); j++) {
			assert_int_equal(li.sans[j].kind, sans[j].kind);
			assert_string_equal(li.sans[j].value, sans[j].value);
			assert_string_equal(ci.sans[j].value, sans[j].value);
		}
		assert_memory_equal(li.spki, t->keys[types[i]][2].spki, li.spki_len);
		assert_memory_equal(ci.spki, t->keys[types[i]][2].spki, ci.spki_len);
		x509_info_done(&ri);
		x509_info_done(&ii);
		x509_info_done(&li);
		x509_info_done(&ci);
		pki_free(&p);
	}
}

static void test_pss(void **state)
{
	struct t *t = *state;
	struct pki p;

	make_pki(t, KEY_RSA_2048, KEY_ALG_PS256, &p);
	check_pki_cli(t, &p);
	assert_int_equal(run(t, "openssl x509 -in leaf.pem -noout -text | grep -q rsassaPss"), 0);
	assert_int_equal(run(t, "openssl req -in csr.pem -noout -text | grep -q rsassaPss"), 0);
	pki_free(&p);
}

static int drop_ip(void *ud, const struct x509_san *s)
{
	(void)ud;
	if (streq(s->value, "evil.example.test"))
		return -EPERM;
	return s->kind != X509_SAN_IP;
}

static void test_issue_rules(void **state)
{
	struct t *t = *state;
	struct skey *k = t->keys[KEY_EC_P256];
	struct x509_signer rs = signer(&k[0], 0), is = signer(&k[1], 0);
	struct pki p;
	struct x509_info li;
	struct x509_san extra[] = { { X509_SAN_DNS, "extra.example.test" } };
	struct x509_san evil[] = { { X509_SAN_DNS, "evil.example.test" } };
	struct x509_issue req = {
		.csr = NULL,
		.spki = k[2].spki,
		.spki_len = k[2].spkilen,
		.profile = { .subject = "CN=x", .not_after = time(NULL) + day, .is_ca = true },
	};
	uint8_t *der = NULL;
	size_t len = 0;

	make_pki(t, KEY_EC_P256, 0, &p);
	/* the intermediate's path length is 0: no CA under it */
	assert_int_equal(x509_issue(&is, p.inter, p.interlen, &req, &der, &len), -EPERM);
	/* a leaf may not issue */
	req.profile.is_ca = false;
	{
		struct x509_signer ls = signer(&k[2], 0);

		assert_int_equal(x509_issue(&ls, p.leaf, p.leaflen, &req, &der, &len), -EPERM);
	}
	/* the signer is not the CA certificate's key */
	assert_int_equal(x509_issue(&rs, p.inter, p.interlen, &req, &der, &len), -EKEYREJECTED);
	/* dates out of order, bad subject, bad SANs */
	req.profile.not_after = 1;
	assert_int_equal(x509_issue(&is, p.inter, p.interlen, &req, &der, &len), -EINVAL);
	req.profile.not_after = time(NULL) + day;
	req.profile.subject = "XX=y";
	assert_int_equal(x509_issue(&is, p.inter, p.interlen, &req, &der, &len), -EINVAL);
	req.profile.subject = "CN=a+OU=b";
	assert_int_equal(x509_issue(&is, p.inter, p.interlen, &req, &der, &len), -EINVAL);
	req.profile.subject = "CN=x";
	{
		struct x509_san bad[] = { { X509_SAN_IP, "300.1.1.1" } };
		struct x509_san bad2[] = { { X509_SAN_DNS, "a b.test" } };

		req.profile.sans = bad;
		req.profile.n_sans = 1;
		assert_int_equal(x509_issue(&is, p.inter, p.interlen, &req, &der, &len), -EINVAL);
		req.profile.sans = bad2;
		assert_int_equal(x509_issue(&is, p.inter, p.interlen, &req, &der, &len), -EINVAL);
	}
	/* the CSR's SANs and the profile's through the filter: IPs dropped, one refused */
	req = (struct x509_issue){
		.csr = p.csr,
		.csr_len = p.csrlen,
		.san_filter = drop_ip,
		.profile = { .not_after = time(NULL) + 10 * 3650 * day, .sans = extra, .n_sans = 1 }
	};
	assert_int_equal(x509_issue(&is, p.inter, p.interlen, &req, &der, &len), 0);
	assert_int_equal(x509_info_get(der, len, &li), 0);
	assert_int_equal(li.n_sans, ELEMENTSOF(sans) - 2 + 1);
	assert_string_equal(li.sans[li.n_sans - 1].value, "extra.example.test");
	for (size_t j = 0; j < li.n_sans; j++)
		assert_int_not_equal(li.sans[j].kind, X509_SAN_IP);
	/* cut to the CA's end */
	{
		struct x509_info ii;

		assert_int_equal(x509_info_get(p.inter, p.interlen, &ii), 0);
		assert_true(li.not_after == ii.not_after);
		x509_info_done(&ii);
	}
	x509_info_done(&li);
	free(der);
	der = NULL;
	req.profile.sans = evil;
	assert_int_equal(x509_issue(&is, p.inter, p.interlen, &req, &der, &len), -EPERM);
	/* a CSR whose signature does not verify */
	{
		uint8_t *bad = malloc(p.csrlen);

		memcpy(bad, p.csr, p.csrlen);
		bad[p.csrlen - 3] ^= 0x55;
		req = (struct x509_issue){ .csr = bad,
					   .csr_len = p.csrlen,
					   .profile = { .not_after = time(NULL) + day } };
		assert_int_equal(x509_issue(&is, p.inter, p.interlen, &req, &der, &len), -EBADMSG);
		free(bad);
	}
	/* a signer that is not of its SPKI: refused, nothing returned */
	{
		struct x509_signer wrong = signer(&k[2], 0);
		struct x509_profile pr = { .subject = "CN=x", .not_after = time(NULL) + day };

		wrong.spki = k[0].spki;
		wrong.spki_len = k[0].spkilen;
		assert_int_equal(x509_self_sign(&wrong, &pr, &der, &len), -EKEYREJECTED);
		/* AES cannot sign */
		wrong.type = KEY_AES_256;
		assert_int_equal(x509_self_sign(&wrong, &pr, &der, &len), -EOPNOTSUPP);
	}
	pki_free(&p);
}

static void test_names(void **state)
{
	char buf[128];
	unsigned ku = 0, eku = 0;

	(void)state;
	assert_int_equal(x509_ku_parse("digitalSignature,keyEncipherment", &ku), 0);
	assert_int_equal(ku, X509_KU_DIGITAL_SIGNATURE | X509_KU_KEY_ENCIPHERMENT);
	assert_int_equal(x509_ku_format(ku, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "digitalSignature,keyEncipherment");
	assert_int_equal(x509_eku_parse("serverAuth,clientAuth", &eku), 0);
	assert_int_equal(eku, X509_EKU_SERVER_AUTH | X509_EKU_CLIENT_AUTH);
	assert_int_equal(x509_eku_format(eku, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "serverAuth,clientAuth");
	assert_int_equal(x509_eku_format(eku, buf, 5), -ENOBUFS);
	assert_int_equal(x509_ku_parse("digitalSignature,,", &ku), -EINVAL);
	assert_int_equal(x509_ku_parse("bogus", &ku), -EOPNOTSUPP);
	assert_int_equal(x509_default_alg(KEY_EC_P384), KEY_ALG_ES384);
	assert_int_equal(x509_default_alg(KEY_AES_256), KEY_ALG_INVALID);
}

static void test_empty_subject(void **state)
{
	struct t *t = *state;
	struct x509_signer s = signer(&t->keys[KEY_ED25519][2], 0);
	struct x509_san dns[] = { { X509_SAN_DNS, "only.example.test" } };
	struct x509_profile p = { .subject = "", .not_after = time(NULL) + day };
	struct x509_info i;
	uint8_t *der = NULL;
	size_t len = 0;

	assert_int_equal(x509_self_sign(&s, &p, &der, &len), -EINVAL);
	p.sans = dns;
	p.n_sans = 1;
	assert_int_equal(x509_self_sign(&s, &p, &der, &len), 0);
	put_cert(t, "empty.pem", der, len, false);
	assert_int_equal(run(t, "openssl x509 -in empty.pem -noout -text | grep -A1 "
				"'Subject Alternative Name: critical' | grep -q only.example.test"),
			 0);
	assert_int_equal(x509_info_get(der, len, &i), 0);
	assert_string_equal(i.subject, "");
	assert_int_equal(i.n_sans, 1);
	assert_true(i.self_signed);
	x509_info_done(&i);
	free(der);
}

/* PEM of certificates in this order. */
static char *bundle(const uint8_t *const *der, const size_t *len, size_t n)
{
	char *all = calloc(1, 1);
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
		char *pem = NULL;

		assert_int_equal(x509_der_to_pem(der[i], len[i], false, &pem), 0);
		all = realloc(all, total + strlen(pem) + 1);
		memcpy(all + total, pem, strlen(pem) + 1);
		total += strlen(pem);
		free(pem);
	}
	return all;
}

static void assert_chain(const struct x509_chain *c, struct pki *p, size_t n)
{
	assert_int_equal(c->n, n);
	assert_int_equal(c->certs[0].len, p->leaflen);
	assert_memory_equal(c->certs[0].der, p->leaf, p->leaflen);
	assert_memory_equal(c->certs[1].der, p->inter, p->interlen);
	if (n > 2)
		assert_memory_equal(c->certs[2].der, p->root, p->rootlen);
}

static void test_chain(void **state)
{
	struct t *t = *state;
	struct skey *k = t->keys[KEY_EC_P384];
	struct pki p, q;
	struct x509_chain *c = NULL;
	char reason[X509_REASON_MAX] = "";
	char *pem;
	uint8_t *list;
	size_t n;

	make_pki(t, KEY_EC_P384, 0, &p);
	{
		const uint8_t *d[] = { p.root, p.leaf, p.inter, p.leaf };
		size_t l[] = { p.rootlen, p.leaflen, p.interlen, p.leaflen };

		/* out of order, the leaf twice: leaf, intermediate, root */
		pem = bundle(d, l, 4);
		assert_int_equal(x509_parse_chain((uint8_t *)pem, strlen(pem), NULL, 0, &c, reason),
				 0);
		assert_chain(c, &p, 3);
		assert_int_equal(x509_chain_check(c, k[2].spki, k[2].spkilen, reason), 0);
		x509_chain_free(c);
		c = NULL;
		/* with the key: the same */
		assert_int_equal(x509_parse_chain((uint8_t *)pem, strlen(pem), k[2].spki,
						  k[2].spkilen, &c, reason),
				 0);
		assert_chain(c, &p, 3);
		x509_chain_free(c);
		c = NULL;
		/* the root's key: the root is the leaf, the others belong to no chain */
		assert_int_equal(x509_parse_chain((uint8_t *)pem, strlen(pem), k[0].spki,
						  k[0].spkilen, &c, reason),
				 -EBADMSG);
		/* a key of none of them */
		assert_int_equal(x509_parse_chain((uint8_t *)pem, strlen(pem),
						  t->keys[KEY_EC_P256][2].spki,
						  t->keys[KEY_EC_P256][2].spkilen, &c, reason),
				 -EKEYREJECTED);
		/* truncated PEM */
		assert_int_equal(
			x509_parse_chain((uint8_t *)pem, strlen(pem) - 30, NULL, 0, &c, reason),
			-EINVAL);
		/* a body cut inside */
		{
			char *cut = strdup(pem);
			char *mid = strstr(cut, "\n") + 1;

			memmove(mid, mid + 10, strlen(mid + 10) + 1);
			assert_int_equal(
				x509_parse_chain((uint8_t *)cut, strlen(cut), NULL, 0, &c, reason),
				-EINVAL);
			free(cut);
		}
		free(pem);
		/* DER one after another, intermediate first */
		list = malloc(p.interlen + p.leaflen);
		memcpy(list, p.inter, p.interlen);
		memcpy(list + p.interlen, p.leaf, p.leaflen);
		assert_int_equal(
			x509_parse_chain(list, p.interlen + p.leaflen, NULL, 0, &c, reason), 0);
		assert_chain(c, &p, 2);
		/* the views: .crt leaf + intermediate; .chain.crt intermediate (no root here) */
		assert_int_equal(x509_export_chain(c, X509_VIEW_CRT, &pem), 0);
		assert_int_equal(strstr(pem, "-----BEGIN CERTIFICATE-----") == pem, true);
		put(t, "crt.pem", pem, strlen(pem));
		free(pem);
		x509_chain_free(c);
		c = NULL;
		assert_int_equal(
			x509_parse_chain(list, p.interlen + p.leaflen - 1, NULL, 0, &c, reason),
			-EINVAL);
		free(list);
	}
	/* views of a full chain */
	{
		const uint8_t *d[] = { p.leaf, p.inter, p.root };
		size_t l[] = { p.leaflen, p.interlen, p.rootlen };
		char *crt, *chain, *all = bundle(d, l, 3), *want_crt = bundle(d, l, 2),
				   *want_chain = bundle(d + 1, l + 1, 2);

		assert_int_equal(x509_parse_chain((uint8_t *)all, strlen(all), NULL, 0, &c, NULL),
				 0);
		assert_int_equal(x509_export_chain(c, X509_VIEW_CRT, &crt), 0);
		assert_int_equal(x509_export_chain(c, X509_VIEW_CHAIN, &chain), 0);
		assert_string_equal(crt, want_crt);
		assert_string_equal(chain, want_chain);
		put(t, "crt.pem", crt, strlen(crt));
		put(t, "chain.pem", chain, strlen(chain));
		put_cert(t, "root.pem", p.root, p.rootlen, false);
		assert_int_equal(run(t, "openssl verify -CAfile chain.pem crt.pem"), 0);
		free(crt);
		free(chain);
		free(all);
		free(want_crt);
		free(want_chain);
		x509_chain_free(c);
		c = NULL;
	}
	/* broken: a root of the same name but another key */
	make_pki(t, KEY_EC_P384, 0, &q); /* new serials, same keys: use P-256's root instead */
	{
		struct skey *o = t->keys[KEY_EC_P256];
		struct x509_signer os = signer(&o[0], 0);
		struct x509_profile root = { .subject = "CN=Test Root,O=vaultfs,C=DE",
					     .not_after = time(NULL) + day,
					     .is_ca = true,
					     .path_len = -1 };
		uint8_t *other = NULL;
		size_t olen = 0;
		const uint8_t *d[] = { p.leaf, p.inter, NULL };
		size_t l[] = { p.leaflen, p.interlen, 0 };

		assert_int_equal(x509_self_sign(&os, &root, &other, &olen), 0);
		d[2] = other;
		l[2] = olen;
		pem = bundle(d, l, 3);
		reason[0] = '\0';
		assert_int_equal(x509_parse_chain((uint8_t *)pem, strlen(pem), NULL, 0, &c, reason),
				 -EBADMSG);
		assert_string_equal(reason,
				    "'CN=Test Root,O=vaultfs,C=DE' does not belong to the chain");
		free(pem);
		/* given in this order, checked: not signed by the next */
		{
			struct x509_cert cs[] = { { p.leaf, p.leaflen },
						  { p.inter, p.interlen },
						  { other, olen } };
			struct x509_chain ch = { cs, 3 };

			assert_int_equal(x509_chain_check(&ch, NULL, 0, reason), -EBADMSG);
			assert_string_equal(reason,
					    "'CN=Test Intermediate,O=vaultfs' is not signed "
					    "by 'CN=Test Root,O=vaultfs,C=DE'");
			ch.n = 2;
			assert_int_equal(x509_chain_check(&ch, NULL, 0, reason), 0);
			assert_int_equal(x509_chain_check(&ch, k[1].spki, k[1].spkilen, reason),
					 -EKEYREJECTED);
		}
		free(other);
		/* a leaf whose signature was changed, under its own intermediate */
		{
			const uint8_t *d2[] = { p.leaf, p.inter };
			size_t l2[] = { p.leaflen, p.interlen };
			uint8_t *bad = malloc(p.leaflen);

			memcpy(bad, p.leaf, p.leaflen);
			bad[p.leaflen - 2] ^= 0x01;
			d2[0] = bad;
			pem = bundle(d2, l2, 2);
			assert_int_equal(
				x509_parse_chain((uint8_t *)pem, strlen(pem), NULL, 0, &c, reason),
				-EBADMSG);
			assert_string_equal(reason,
					    "'CN=www.example.test,O=Example\\, Inc.' is not "
					    "signed by 'CN=Test Intermediate,O=vaultfs'");
			free(pem);
			free(bad);
		}
		/* two leaves */
		{
			const uint8_t *d3[] = { p.leaf, p.inter, q.leaf };
			size_t l3[] = { p.leaflen, p.interlen, q.leaflen };

			pem = bundle(d3, l3, 3);
			assert_int_equal(
				x509_parse_chain((uint8_t *)pem, strlen(pem), NULL, 0, &c, reason),
				-EBADMSG);
			free(pem);
		}
	}
	/* oversized and foreign labels */
	n = X509_INPUT_MAX + 1;
	list = calloc(1, n);
	assert_int_equal(x509_parse_chain(list, n, NULL, 0, &c, NULL), -EMSGSIZE);
	free(list);
	pem = strdup("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
	assert_int_equal(x509_parse_chain((uint8_t *)pem, strlen(pem), NULL, 0, &c, NULL), -EINVAL);
	free(pem);
	pki_free(&p);
	pki_free(&q);
}

static void test_import_pem(void **state)
{
	struct t *t = *state;
	static const char *const forms[] = {
		/* PKCS#1 RSA, SEC1 EC, PKCS#8 Ed25519: key and certificate in either order */
		"openssl req -x509 -newkey rsa:2048 -nodes -keyout k0.pem -out c.pem -subj /CN=imp "
		"-days 2 && openssl rsa -traditional -in k0.pem -out k.pem && cat c.pem k.pem > in.pem",
		"openssl ecparam -name prime256v1 -genkey -out k.pem && openssl req -x509 -key k.pem "
		"-out c.pem -subj /CN=imp -days 2 && cat k.pem c.pem > in.pem",
		"openssl genpkey -algorithm ed25519 -out k.pem && openssl req -x509 -key k.pem "
		"-out c.pem -subj /CN=imp -days 2 && cat c.pem k.pem > in.pem",
	};
	static const enum key_type want[] = { KEY_RSA_2048, KEY_EC_P256, KEY_ED25519 };

	for (size_t i = 0; i < ELEMENTSOF(forms); i++) {
		struct secbuf *mat = NULL, *out = NULL;
		struct x509_chain *c = NULL;
		enum key_type kt;
		char reason[X509_REASON_MAX];
		uint8_t *in;
		size_t n;

		assert_int_equal(run(t, "%s", forms[i]), 0);
		in = get(t, "in.pem", &n);
		assert_int_equal(x509_import_pem(in, n, &kt, &mat, &c, reason), 0);
		assert_int_equal(kt, want[i]);
		assert_int_equal(c->n, 1);
		secbuf_free(mat);
		x509_chain_free(c);
		free(in);
		/* the same with CRLF line ends */
		assert_int_equal(
			run(t,
			    "sed 's/$/\\r/' in.pem > crlf.pem && grep -q \"$(printf '\\r')\" crlf.pem"),
			0);
		in = get(t, "crlf.pem", &n);
		assert_int_equal(x509_import_pem(in, n, &kt, &mat, &c, reason), 0);
		assert_int_equal(kt, want[i]);
		assert_int_equal(c->n, 1);
		assert_int_equal(key_soft_check(kt, mat), 0);
		/* key PEM and the one-file view: the CLI reads both */
		assert_int_equal(x509_export_key_pem(mat, &out), 0);
		assert_int_equal(out->len, strlen((char *)out->data));
		put(t, "k8.pem", out->data, out->len);
		secbuf_free(out);
		assert_int_equal(x509_export_pem_bundle(mat, c, &out), 0);
		put(t, "both.pem", out->data, out->len);
		secbuf_free(out);
		assert_int_equal(run(t,
				     "openssl pkey -in k8.pem -pubout -out p1 && openssl x509 "
				     "-in both.pem -pubkey -noout > p2 && cmp p1 p2 && "
				     "openssl pkey -in both.pem -pubout | cmp - p1 && "
				     "head -1 k8.pem | grep -qx -- '-----BEGIN PRIVATE KEY-----'"),
				 0);
		secbuf_free(mat);
		x509_chain_free(c);
		free(in);
	}
	/* a certificate of another key */
	{
		struct secbuf *mat = NULL;
		struct x509_chain *c = NULL;
		enum key_type kt;
		uint8_t *in;
		size_t n;

		assert_int_equal(run(t, "openssl genpkey -algorithm ed25519 -out k2.pem && "
					"cat c.pem k2.pem > in.pem"),
				 0);
		in = get(t, "in.pem", &n);
		assert_int_equal(x509_import_pem(in, n, &kt, &mat, &c, NULL), -EKEYREJECTED);
		free(in);
		/* an encrypted key */
		assert_int_equal(run(t,
				     "openssl pkey -in k2.pem -aes256 -passout pass:x -out e.pem "
				     "&& cat c.pem e.pem > in.pem"),
				 0);
		in = get(t, "in.pem", &n);
		assert_int_equal(x509_import_pem(in, n, &kt, &mat, &c, NULL), -ENOKEY);
		free(in);
		/* no key; a key cut short */
		in = get(t, "c.pem", &n);
		assert_int_equal(x509_import_pem(in, n, &kt, &mat, &c, NULL), -EINVAL);
		free(in);
		assert_int_equal(run(t, "cat c.pem k.pem | head -c -40 > in.pem"), 0);
		in = get(t, "in.pem", &n);
		assert_int_equal(x509_import_pem(in, n, &kt, &mat, &c, NULL), -EINVAL);
		free(in);
	}
}

static void test_p12(void **state)
{
	struct t *t = *state;
	struct pki p;
	struct skey *k = t->keys[KEY_EC_P256];
	const uint8_t *d[] = { NULL, NULL, NULL };
	size_t l[3];
	struct x509_chain *c = NULL, *c2 = NULL;
	struct secbuf *p12 = NULL, *mat = NULL;
	enum key_type kt;
	char reason[X509_REASON_MAX];
	char *pem;
	uint8_t *in;
	size_t n;

	make_pki(t, KEY_EC_P256, 0, &p);
	d[0] = p.root, d[1] = p.leaf, d[2] = p.inter;
	l[0] = p.rootlen, l[1] = p.leaflen, l[2] = p.interlen;
	pem = bundle(d, l, 3);
	assert_int_equal(x509_parse_chain((uint8_t *)pem, strlen(pem), NULL, 0, &c, NULL), 0);
	free(pem);
	/* a key not the leaf's */
	assert_int_equal(x509_export_p12(KEY_EC_P256, k[1].mat, c, NULL, "web", &p12),
			 -EKEYREJECTED);
	assert_int_equal(x509_export_p12(KEY_EC_P256, k[2].mat, c, NULL, "web", &p12), 0);
	put(t, "out.p12", p12->data, p12->len);
	put_cert(t, "leaf.pem", p.leaf, p.leaflen, false);
	assert_int_equal(run(t, "openssl pkcs12 -info -in out.p12 -passin pass: -noout"), 0);
	assert_int_equal(run(t, "openssl pkcs12 -info -in out.p12 -passin pass: -noout 2>&1 | "
				"grep -q 'PBES2, PBKDF2, AES-256-CBC'"),
			 0);
	assert_int_equal(run(t, "openssl pkcs12 -info -in out.p12 -passin pass: -noout 2>&1 | "
				"grep -q 'MAC: sha256'"),
			 0);
	assert_int_equal(run(t, "openssl pkcs12 -in out.p12 -passin pass: -nocerts -nodes | "
				"openssl pkey -pubout > p1 && openssl x509 -in leaf.pem -pubkey "
				"-noout > p2 && cmp p1 p2"),
			 0);
	assert_int_equal(run(t, "openssl pkcs12 -in out.p12 -passin pass: -nokeys | "
				"grep -c 'BEGIN CERTIFICATE' | grep -qx 3"),
			 0);
	/* and back: the same key and chain, with "" and NULL */
	assert_int_equal(x509_import_p12(p12->data, p12->len, "", &kt, &mat, &c2, reason), 0);
	assert_int_equal(kt, KEY_EC_P256);
	assert_int_equal(mat->len, k[2].mat->len);
	assert_memory_equal(mat->data, k[2].mat->data, mat->len);
	assert_chain(c2, &p, 3);
	secbuf_free(mat);
	x509_chain_free(c2);
	assert_int_equal(x509_import_p12(p12->data, p12->len, NULL, &kt, &mat, &c2, reason), 0);
	secbuf_free(mat);
	x509_chain_free(c2);
	/* a wrong password, garbage, a cut file */
	assert_int_equal(x509_import_p12(p12->data, p12->len, "nope", &kt, &mat, &c2, reason),
			 -ENOKEY);
	assert_int_equal(
		x509_import_p12((const uint8_t *)"garbage!", 8, NULL, &kt, &mat, &c2, reason),
		-EINVAL);
	assert_int_equal(x509_import_p12(p12->data, p12->len - 7, NULL, &kt, &mat, &c2, reason),
			 -EINVAL);
	secbuf_free(p12);
	/* one made by the CLI under a password, legacy-free defaults */
	assert_int_equal(run(t,
			     "openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out "
			     "c.pem -subj /CN=cli -days 2 && openssl pkcs12 -export -inkey k.pem "
			     "-in c.pem -passout pass:s3cret -out cli.p12"),
			 0);
	in = get(t, "cli.p12", &n);
	assert_int_equal(x509_import_p12(in, n, "s3cret", &kt, &mat, &c2, reason), 0);
	assert_int_equal(kt, KEY_RSA_2048);
	assert_int_equal(c2->n, 1);
	secbuf_free(mat);
	x509_chain_free(c2);
	assert_int_equal(x509_import_p12(in, n, "", &kt, &mat, &c2, reason), -ENOKEY);
	free(in);
	x509_chain_free(c);
	pki_free(&p);
}

static size_t count_blocks(const char *pem)
{
	size_t n = 0;

	for (const char *p = pem; (p = strstr(p, "-----BEGIN CERTIFICATE-----")); p++)
		n++;
	return n;
}

/* The sizes a stat shows are the views' own lengths: PEM across the base64 line and padding
 * boundaries, each chain view of chains of 1 to 3 certificates, and the PKCS#12 of every key
 * type (a random salt and IV each time: the length must not depend on them). */
static void test_view_sizes(void **state)
{
	struct t *t = *state;
	size_t got, sized;

	for (size_t n = 1; n <= 200; n++) {
		struct secbuf *m = NULL, *out = NULL;

		assert_int_equal(secbuf_new(n, &m), 0);
		memset(m->data, 0xa5, n);
		m->len = n;
		assert_int_equal(x509_export_key_pem(m, &out), 0);
		assert_int_equal(x509_export_key_pem_size(n), out->len);
		secbuf_free(out);
		secbuf_free(m);
	}
	for (size_t i = 0; i < ELEMENTSOF(types); i++) {
		struct skey *k = t->keys[types[i]];
		struct pki p;

		make_pki(t, types[i], 0, &p);
		for (size_t len = 1; len <= 3; len++) {
			const uint8_t *d[] = { p.leaf, p.inter, p.root };
			size_t l[] = { p.leaflen, p.interlen, p.rootlen };
			struct x509_chain *c = NULL;
			struct secbuf *out = NULL;
			char *all = bundle(d, l, len), *pem = NULL;

			assert_int_equal(
				x509_parse_chain((uint8_t *)all, strlen(all), NULL, 0, &c, NULL),
				0);
			free(all);
			assert_int_equal(c->n, len);
			assert_int_equal(x509_export_chain(c, X509_VIEW_CRT, &pem), 0);
			/* the root, self-signed, is left out of .crt; the intermediate is not */
			assert_int_equal(count_blocks(pem), len == 3 ? 2 : len);
			assert_int_equal(x509_export_chain_size(c, X509_VIEW_CRT, &sized), 0);
			assert_int_equal(sized, strlen(pem));
			free(pem);
			assert_int_equal(x509_export_chain(c, X509_VIEW_CHAIN, &pem), 0);
			assert_int_equal(x509_export_chain_size(c, X509_VIEW_CHAIN, &sized), 0);
			assert_int_equal(sized, strlen(pem));
			free(pem);
			assert_int_equal(x509_export_pem_bundle(k[2].mat, c, &out), 0);
			assert_int_equal(x509_export_pem_bundle_size(k[2].mat->len, c, &sized), 0);
			assert_int_equal(sized, out->len);
			secbuf_free(out);
			for (int round = 0; round < 3; round++) {
				const char *name = round == 1 ? NULL : "web";
				const char *pass = round == 2 ? "s3cret" : NULL;

				assert_int_equal(
					x509_export_p12(types[i], k[2].mat, c, pass, name, &out),
					0);
				got = out->len;
				secbuf_free(out);
				assert_int_equal(x509_export_p12_size(types[i], k[2].mat, c, pass,
								      name, &sized),
						 0);
				assert_int_equal(sized, got);
			}
			/* a key not the leaf's: refused as the view is */
			assert_int_equal(
				x509_export_p12_size(types[i], k[1].mat, c, NULL, "web", &sized),
				-EKEYREJECTED);
			x509_chain_free(c);
		}
		pki_free(&p);
	}
	assert_int_equal(x509_export_chain_size(NULL, X509_VIEW_CRT, &sized), -EINVAL);
	assert_int_equal(x509_export_pem_bundle_size(0, NULL, &sized), -EINVAL);
}

/* A key in the TPM as a signer: the path the daemon takes for a `tpm` CA key. */
struct tkey {
	enum key_type type;
	uint8_t *blob, *spki;
	size_t bloblen, spkilen;
};

static int tpm_sign(void *ud, enum key_alg alg, const uint8_t *in, size_t n, uint8_t *sig,
		    size_t *siglen)
{
	struct tkey *k = ud;

	return tpm_key_sign(test_tcti(), k->blob, k->bloblen, k->type, alg, in, n, sig, siglen);
}

static void test_tpm_signer(void **state)
{
	struct t *t = *state;
	static const struct {
		enum key_type type;
		enum key_alg alg;
	} cases[] = {
		{ KEY_EC_P256, KEY_ALG_ES256 },
		{ KEY_RSA_2048, KEY_ALG_RS256 },
		{ KEY_RSA_2048, KEY_ALG_PS256 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct tkey k = { .type = cases[i].type };
		struct skey *lk = &t->keys[KEY_EC_P256][2];
		struct x509_signer s = {
			.type = k.type, .alg = cases[i].alg, .sign = tpm_sign, .ud = &k
		};
		struct x509_profile root = { .subject = "CN=TPM Root",
					     .not_after = time(NULL) + day,
					     .is_ca = true,
					     .path_len = 0,
					     .key_usage = X509_KU_KEY_CERT_SIGN };
		struct x509_issue leaf = { .spki = lk->spki,
					   .spki_len = lk->spkilen,
					   .profile = { .subject = "CN=tpm.example.test",
							.not_after = time(NULL) + day } };
		uint8_t *rd = NULL, *ld = NULL, *cd = NULL;
		size_t rl = 0, ll = 0, cl = 0;

		assert_int_equal(tpm_key_create(test_tcti(), k.type, &k.blob, &k.bloblen, &k.spki,
						&k.spkilen),
				 0);
		s.spki = k.spki;
		s.spki_len = k.spkilen;
		assert_int_equal(x509_self_sign(&s, &root, &rd, &rl), 0);
		assert_int_equal(x509_issue(&s, rd, rl, &leaf, &ld, &ll), 0);
		assert_int_equal(x509_csr_make(&s, &root, &cd, &cl, NULL), 0);
		put_cert(t, "root.pem", rd, rl, false);
		put_cert(t, "leaf.pem", ld, ll, false);
		put_cert(t, "csr.pem", cd, cl, true);
		assert_int_equal(run(t, "openssl verify -CAfile root.pem leaf.pem"), 0);
		assert_int_equal(run(t, "openssl req -verify -noout -in csr.pem"), 0);
		free(rd);
		free(ld);
		free(cd);
		free(k.blob);
		free(k.spki);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),	      cmocka_unit_test(test_pki),
		cmocka_unit_test(test_pss),	      cmocka_unit_test(test_issue_rules),
		cmocka_unit_test(test_chain),	      cmocka_unit_test(test_import_pem),
		cmocka_unit_test(test_p12),	      cmocka_unit_test(test_tpm_signer),
		cmocka_unit_test(test_empty_subject), cmocka_unit_test(test_view_sizes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
