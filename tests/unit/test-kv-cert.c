/* test-kv-cert.c: certificate objects (core/kv-cert.c) over a real store, with software keys
 * and a key in a real software TPM (run under tests/lib/with-swtpm): a root CA and a leaf it
 * issues in another vault verify with the openssl CLI, the leaf's views are what servers take
 * (CRT without the root, CHAIN, PEM bundle, PKCS#12 that openssl opens; the key views refused
 * for a key that is not exportable), renewal makes a new version with a new serial (the old one
 * still readable, reuse_key keeping the key), an external CA's chain completes a pending
 * version (one for another key refused), imports of a PEM bundle out of order and of a
 * PKCS#12, a TPM-key CA issues a leaf that verifies, and the daemon's pass renews once.
 * Then the state beside the versions: ACME policies checked and made pending, the next
 * version's policy set and used, failed renewals backing off on a moved clock (and a pass that
 * fails for a CA gone or not a CA), a changed state row refused; one name space with the
 * views' names; notices once per version; the key operations by a certificate's name. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "core/kv.h"
#include "core/secbuf.h"
#include "core/store.h"
#include "core/x509.h"
#include "tests/unit/testlib.h"

#define DAY INT64_C(86400)

static int setup(void **state)
{
	*state = test_kv_new(0, (const char *const[]){ "pki", "web", NULL });
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	test_kv_free(*state);
	return 0;
}

static const struct x509_san www_sans[] = { { X509_SAN_DNS, "www.example.test" },
					    { X509_SAN_IP, "127.0.0.1" } };

static struct kv_cert_policy ca_policy(enum key_protection prot)
{
	return (struct kv_cert_policy){ .subject = "CN=Test Root,O=vaultfs",
					.key_type = KEY_EC_P256,
					.protection = prot,
					.validity = 3650 * DAY,
					.key_usage = X509_KU_KEY_CERT_SIGN | X509_KU_CRL_SIGN,
					.issuer = KV_CERT_SELF,
					.is_ca = true,
					.path_len = -1 };
}

static struct kv_cert_policy leaf_policy(const char *issuer, bool exportable)
{
	return (struct kv_cert_policy){ .subject = "CN=www.example.test",
					.sans = www_sans,
					.n_sans = 2,
					.key_type = KEY_EC_P256,
					.protection = KEY_PROTECTION_SOFTWARE,
					.exportable = exportable,
					.validity = 30 * DAY,
					.key_usage = X509_KU_DIGITAL_SIGNATURE,
					.ext_key_usage = X509_EKU_SERVER_AUTH,
					.issuer = issuer ? KV_CERT_VAULT_CA : KV_CERT_SELF,
					.issuer_name = issuer,
					.path_len = -1,
					.renew_before = 10 * DAY };
}

/* Write a view of vault/name (version) to dir/file; its errno when refused. */
static int write_view(struct test_kv *f, const char *vault, const char *name, uint32_t version,
		      enum kv_cert_view view, const char *file)
{
	struct secbuf *b = NULL;
	char path[512];
	size_t size = 0;
	int r, rs;

	/* the size a stat shows: the view's own length, or the view's refusal */
	rs = kv_cert_view_size(f->kv, vault, name, version, view, &size);
	r = kv_cert_view(f->kv, vault, name, version, view, &b);
	assert_int_equal(rs, r < 0 ? r : 0);
	if (r < 0)
		return r;
	assert_int_equal(size, b->len);
	snprintf(path, sizeof(path), "%s/%s", f->dir, file);
	test_write_file(path, b->data, b->len, 0600);
	secbuf_free(b);
	return 0;
}

/* Run a shell command in the fixture's dir: its exit status. */
static int sh(struct test_kv *f, const char *fmt, ...)
{
	char cmd[2048];
	int n;
	va_list ap;

	n = snprintf(cmd, sizeof(cmd), "cd '%s' && { ", f->dir);
	va_start(ap, fmt);
	n += vsnprintf(cmd + n, sizeof(cmd) - n, fmt, ap);
	va_end(ap);
	snprintf(cmd + n, sizeof(cmd) - n, "; } >/dev/null 2>&1");
	return system(cmd);
}

static char *read_text(struct test_kv *f, const char *file)
{
	uint8_t *p = NULL;
	size_t n;
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", f->dir, file);
	assert_int_equal(test_read_file(path, &p, &n), 0);
	return (char *)p;
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, what)); p++)
		n++;
	return n;
}

static void make_root(struct test_kv *f, enum key_protection prot)
{
	struct kv_cert_policy p = ca_policy(prot);
	uint32_t v = 0;

	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "pki", "root", &p, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(write_view(f, "pki", "root", 0, KV_CERT_VIEW_CRT, "root.pem"), 0);
}

static void test_ca_and_leaf(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy("pki/root", true);
	struct kv_cert_info i = {};
	struct secbuf *b = NULL;
	char *s;
	uint32_t v = 0;

	make_root(f, KEY_PROTECTION_SOFTWARE);
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "site", &p, &v), 0);
	assert_int_equal(v, 1);

	assert_int_equal(kv_cert_get(f->kv, "web", "site", 0, &i), 0);
	assert_int_equal(i.version, 1);
	assert_false(i.pending);
	assert_int_equal(i.source, KV_CERT_VAULT_CA);
	assert_int_equal(i.chain->n, 2);
	assert_string_equal(i.subject, "CN=www.example.test");
	assert_string_equal(i.issuer, "CN=Test Root,O=vaultfs");
	assert_true(strlen(i.serial) >= 16);
	assert_int_equal(i.info.not_before, i.not_before);
	assert_int_equal(i.info.expires, i.not_after);
	assert_string_equal(i.policy.issuer_name, "pki/root");
	assert_int_equal(i.policy.n_sans, 2);
	assert_string_equal(i.policy.sans[0].value, "www.example.test");
	assert_int_equal(i.policy.renew_before, 10 * DAY);
	kv_cert_info_done(&i);

	/* the views */
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_CRT, "site.crt"), 0);
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_CHAIN, "site.chain.crt"), 0);
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_KEY, "site.key"), 0);
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_PEM, "site.pem"), 0);
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_P12, "site.p12"), 0);
	s = read_text(f, "site.crt");
	assert_int_equal(count(s, "BEGIN CERTIFICATE"), 1); /* leaf, no root */
	free(s);
	s = read_text(f, "site.chain.crt");
	assert_int_equal(count(s, "BEGIN CERTIFICATE"), 1); /* the root */
	free(s);
	s = read_text(f, "site.pem");
	assert_int_equal(count(s, "BEGIN PRIVATE KEY"), 1);
	assert_int_equal(count(s, "BEGIN CERTIFICATE"), 1);
	free(s);
	assert_int_equal(sh(f, "openssl verify -CAfile root.pem site.crt"), 0);
	assert_int_equal(sh(f, "openssl verify -CAfile site.chain.crt site.crt"), 0);
	assert_int_equal(sh(f, "openssl verify -CAfile root.pem -untrusted root.pem "
			       "-verify_hostname www.example.test site.crt"),
			 0);
	assert_int_equal(sh(f, "openssl pkcs12 -info -in site.p12 -passin pass: -nokeys"), 0);
	assert_int_equal(sh(f, "openssl pkcs12 -in site.p12 -passin pass: -nodes | "
			       "grep -q 'BEGIN PRIVATE KEY'"),
			 0);
	/* the key matches the leaf */
	assert_int_equal(sh(f, "test \"$(openssl pkey -in site.key -pubout)\" = "
			       "\"$(openssl x509 -in site.crt -pubkey -noout)\""),
			 0);

	/* not exportable: no key view */
	p = leaf_policy("pki/root", false);
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "locked", &p, NULL), 0);
	assert_int_equal(kv_cert_view(f->kv, "web", "locked", 0, KV_CERT_VIEW_KEY, &b), -EPERM);
	assert_int_equal(kv_cert_view(f->kv, "web", "locked", 0, KV_CERT_VIEW_PEM, &b), -EPERM);
	assert_int_equal(kv_cert_view(f->kv, "web", "locked", 0, KV_CERT_VIEW_P12, &b), -EPERM);
	assert_int_equal(kv_cert_view(f->kv, "web", "locked", 0, KV_CERT_VIEW_CRT, &b), 0);
	secbuf_free(b);
	for (enum kv_cert_view kview = KV_CERT_VIEW_KEY; kview <= KV_CERT_VIEW_P12; kview++)
		assert_int_equal(write_view(f, "web", "locked", 0, kview, "locked.key"), -EPERM);
	assert_int_equal(write_view(f, "web", "locked", 0, KV_CERT_VIEW_CRT, "locked.crt"), 0);
	assert_int_equal(write_view(f, "web", "locked", 0, KV_CERT_VIEW_CHAIN, "locked.ch"), 0);

	/* a leaf cannot issue; an unknown CA; a tpm key is never exportable */
	p = leaf_policy("web/site", true);
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "sub", &p, NULL), -EPERM);
	p = leaf_policy("pki/nope", true);
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "sub", &p, NULL), -ENOENT);
	p = leaf_policy(NULL, true);
	p.protection = KEY_PROTECTION_TPM;
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "sub", &p, NULL), -EINVAL);
	p = leaf_policy(NULL, true);
	p.validity = 0;
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "sub", &p, NULL), -EINVAL);
	/* malformed SANs and subjects */
	static const struct x509_san bad_ip[] = { { X509_SAN_IP, "300.1.2.3" } };
	static const struct x509_san bad_kind[] = { { 9, "x" } };

	p = leaf_policy(NULL, true);
	p.sans = bad_ip, p.n_sans = 1;
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "sub", &p, NULL), -EINVAL);
	p.sans = bad_kind;
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "sub", &p, NULL), -EINVAL);
	p = leaf_policy(NULL, true);
	p.subject = "XX=nope";
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "sub", &p, NULL), -EINVAL);
	p.subject = NULL, p.n_sans = 0;
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "sub", &p, NULL), -EINVAL);
	assert_int_equal(
		kv_object_lookup(f->kv, KV_KIND_ANY, "web", "sub", &(struct kv_object_info){}),
		-ENOENT); /* nothing left behind */
	/* one name space: a secret's name is not a certificate's */
	assert_int_equal(kv_secret_set(f->kv, "web", "db", "x", 1, NULL, NULL), 0);
	p = leaf_policy(NULL, true);
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "db", &p, NULL), -EEXIST);
	/* garbage material refused */
	assert_int_equal(kv_object_set(f->kv, OBJECT_CERT, "web", "junk", "VCR1", 4, NULL, NULL),
			 -EINVAL);
}

static void test_renew_and_reuse(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy("pki/root", true);
	struct kv_cert_info a = {}, b = {}, c = {};
	uint32_t v = 0;

	make_root(f, KEY_PROTECTION_SOFTWARE);
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "site", &p, NULL), 0);
	assert_int_equal(kv_cert_renew(f->kv, test_tcti(), "web", "site", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 1, &a), 0);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 0, &b), 0);
	assert_int_equal(b.version, 2);
	assert_string_not_equal(a.serial, b.serial);
	assert_false(a.spki_len == b.spki_len && memcmp(a.spki, b.spki, a.spki_len) == 0);
	assert_int_equal(write_view(f, "web", "site", 1, KV_CERT_VIEW_CRT, "v1.crt"), 0);
	assert_int_equal(sh(f, "openssl verify -CAfile root.pem v1.crt"), 0);

	/* reuse_key: the same key in the next version */
	p.reuse_key = true;
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "site", &p, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 3, &c), 0);
	assert_int_equal(c.spki_len, b.spki_len);
	assert_memory_equal(c.spki, b.spki, b.spki_len);
	assert_string_not_equal(c.serial, b.serial);
	kv_cert_info_done(&a);
	kv_cert_info_done(&b);
	kv_cert_info_done(&c);

	/* an empty subject (the names are in the SANs) is kept as empty, and renews */
	p.subject = "";
	p.reuse_key = false;
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "nosubject", &p, NULL), 0);
	assert_int_equal(kv_cert_renew(f->kv, test_tcti(), "web", "nosubject", &v), 0);
	assert_int_equal(v, 2);
}

static void test_external(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy(NULL, true);
	struct kv_cert_info i = {};
	struct secbuf *b = NULL;
	char *csr = NULL, *chain, *other;
	char path[512];
	uint32_t v = 0;

	p.issuer = KV_CERT_EXTERNAL;
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "ext", &p, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(kv_cert_get(f->kv, "web", "ext", 1, &i), 0);
	assert_true(i.pending);
	assert_non_null(i.csr);
	{
		struct x509_info ci = {};

		assert_int_equal(x509_csr_info(i.csr, i.csr_len, &ci), 0);
		assert_string_equal(ci.subject, "CN=www.example.test");
		assert_int_equal(ci.n_sans, 2);
		x509_info_done(&ci);
	}
	assert_int_equal(x509_der_to_pem(i.csr, i.csr_len, true, &csr), 0);
	snprintf(path, sizeof(path), "%s/ext.csr", f->dir);
	test_write_file(path, csr, strlen(csr), 0600);
	free(csr);
	kv_cert_info_done(&i);
	/* nothing issued yet */
	assert_int_equal(kv_cert_get(f->kv, "web", "ext", 0, &i), -ENOENT);
	assert_int_equal(kv_cert_view(f->kv, "web", "ext", 1, KV_CERT_VIEW_CRT, &b), -ENOENT);

	/* an outside CA (openssl), and a certificate of another key */
	assert_int_equal(sh(f,
			    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
			    "-nodes -keyout ca.key -out ca.crt -subj /CN=Outside -days 30 "
			    "-addext basicConstraints=critical,CA:TRUE "
			    "-addext keyUsage=keyCertSign && "
			    "openssl x509 -req -in ext.csr -CA ca.crt -CAkey ca.key "
			    "-CAcreateserial -days 10 -out ext.crt && cat ext.crt ca.crt > "
			    "ext.chain && openssl req -new -newkey ec -pkeyopt "
			    "ec_paramgen_curve:P-256 -nodes -keyout o.key -out o.csr -subj /CN=o "
			    "&& openssl x509 -req -in o.csr -CA ca.crt -CAkey ca.key "
			    "-CAcreateserial -days 10 -out o.crt && cat ca.crt o.crt > o.chain"),
			 0);
	other = read_text(f, "o.chain");
	assert_int_equal(kv_cert_merge(f->kv, "web", "ext", (uint8_t *)other, strlen(other), NULL),
			 -EKEYREJECTED);
	free(other);
	assert_int_equal(kv_cert_merge(f->kv, "web", "ext", (uint8_t *)"junk", 4, NULL), -EINVAL);
	chain = read_text(f, "ext.chain");
	assert_int_equal(kv_cert_merge(f->kv, "web", "ext", (uint8_t *)chain, strlen(chain), &v),
			 0);
	assert_int_equal(v, 2);
	assert_int_equal(kv_cert_merge(f->kv, "web", "ext", (uint8_t *)chain, strlen(chain), NULL),
			 -EALREADY);
	free(chain);
	assert_int_equal(kv_cert_get(f->kv, "web", "ext", 0, &i), 0);
	assert_int_equal(i.version, 2);
	assert_int_equal(i.chain->n, 2);
	assert_string_equal(i.issuer, "CN=Outside");
	kv_cert_info_done(&i);
	assert_int_equal(write_view(f, "web", "ext", 0, KV_CERT_VIEW_PEM, "ext.pem"), 0);
	assert_int_equal(sh(f, "openssl verify -CAfile ca.crt ext.pem"), 0);
	assert_int_equal(sh(f, "test \"$(openssl pkey -in ext.pem -pubout)\" = "
			       "\"$(openssl x509 -in ext.crt -pubkey -noout)\""),
			 0);
}

static void test_import(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy("pki/root", true);
	struct kv_cert_info i = {}, j = {};
	uint8_t *data = NULL;
	size_t n;
	char path[512], *bundle;

	make_root(f, KEY_PROTECTION_SOFTWARE);
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "site", &p, NULL), 0);
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_CRT, "site.crt"), 0);
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_KEY, "site.key"), 0);
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_P12, "site.p12"), 0);
	/* root first, then the key in PKCS#1-free SEC1 form, then the leaf: out of order */
	assert_int_equal(sh(f, "openssl ec -in site.key -out site.sec1 && "
			       "cat root.pem site.sec1 site.crt > bundle.pem"),
			 0);
	bundle = read_text(f, "bundle.pem");
	assert_int_equal(kv_cert_import(f->kv, "web", "imp", (uint8_t *)bundle, strlen(bundle),
					false, NULL, false, NULL),
			 0);
	free(bundle);
	assert_int_equal(kv_cert_get(f->kv, "web", "imp", 0, &i), 0);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 0, &j), 0);
	assert_int_equal(i.source, KV_CERT_IMPORTED);
	assert_int_equal(i.chain->n, 2);
	assert_string_equal(i.serial, j.serial);
	assert_memory_equal(i.spki, j.spki, j.spki_len);
	assert_false(i.exportable);
	kv_cert_info_done(&i);

	snprintf(path, sizeof(path), "%s/site.p12", f->dir);
	assert_int_equal(test_read_file(path, &data, &n), 0);
	assert_int_equal(kv_cert_import(f->kv, "web", "imp12", data, n, true, NULL, true, NULL), 0);
	assert_int_equal(kv_cert_import(f->kv, "web", "bad12", data, n, true, "wrong", true, NULL),
			 -ENOKEY);
	free(data);
	assert_int_equal(kv_cert_get(f->kv, "web", "imp12", 0, &i), 0);
	assert_string_equal(i.serial, j.serial);
	assert_true(i.exportable);
	kv_cert_info_done(&i);
	kv_cert_info_done(&j);
	assert_int_equal(write_view(f, "web", "imp12", 0, KV_CERT_VIEW_CRT, "imp12.crt"), 0);
	assert_int_equal(sh(f, "openssl verify -CAfile root.pem imp12.crt"), 0);
	assert_int_equal(kv_cert_import(f->kv, "web", "junk", (uint8_t *)"junk", 4, false, NULL,
					false, NULL),
			 -EINVAL);
}

static void test_tpm_ca(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy("pki/root", false);
	struct kv_cert_info i = {};

	make_root(f, KEY_PROTECTION_TPM);
	assert_int_equal(kv_cert_get(f->kv, "pki", "root", 0, &i), 0);
	assert_int_equal(i.protection, KEY_PROTECTION_TPM);
	kv_cert_info_done(&i);
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "site", &p, NULL), 0);
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_CRT, "site.crt"), 0);
	assert_int_equal(sh(f, "openssl verify -CAfile root.pem site.crt"), 0);
}

static int count_notice(const struct kv_rotation_notice *n, void *ud)
{
	unsigned *c = ud;

	assert_int_equal(n->event, KV_ROTATION_ROTATE);
	assert_int_equal(n->err, 0);
	assert_string_equal(n->vault, "web");
	assert_string_equal(n->name, "site");
	assert_int_equal(n->version, 1);
	assert_int_equal(n->new_version, 2);
	(*c)++;
	return 0;
}

/* root -> intermediate (path length 0) -> leaf: the leaf's CRT holds leaf and intermediate, its
 * CHAIN intermediate and root; the intermediate cannot make another CA. */
static void test_intermediate(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy ica = ca_policy(KEY_PROTECTION_SOFTWARE);
	struct kv_cert_policy p = leaf_policy("pki/inter", true);
	struct kv_cert_info i = {};
	char *s;

	make_root(f, KEY_PROTECTION_SOFTWARE);
	ica.subject = "CN=Test Intermediate,O=vaultfs";
	ica.issuer = KV_CERT_VAULT_CA;
	ica.issuer_name = "pki/root";
	ica.path_len = 0;
	ica.validity = 365 * DAY;
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "pki", "inter", &ica, NULL), 0);
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "site", &p, NULL), 0);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 0, &i), 0);
	assert_int_equal(i.chain->n, 3);
	assert_string_equal(i.issuer, "CN=Test Intermediate,O=vaultfs");
	kv_cert_info_done(&i);
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_CRT, "site.crt"), 0);
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_CHAIN, "site.chain.crt"), 0);
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_P12, "site.p12"), 0);
	s = read_text(f, "site.crt");
	assert_int_equal(count(s, "BEGIN CERTIFICATE"), 2);
	free(s);
	s = read_text(f, "site.chain.crt");
	assert_int_equal(count(s, "BEGIN CERTIFICATE"), 2);
	free(s);
	assert_int_equal(sh(f, "openssl verify -CAfile root.pem -untrusted site.crt site.crt"), 0);
	assert_int_equal(sh(f, "openssl verify -CAfile root.pem site.crt"), 2 << 8);
	assert_int_equal(sh(f, "openssl pkcs12 -info -in site.p12 -passin pass: -nokeys | "
			       "test $(grep -c 'BEGIN CERTIFICATE') = 3"),
			 0);
	/* path length 0: no CA under the intermediate */
	ica.issuer_name = "pki/inter";
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "pki", "sub", &ica, NULL), -EPERM);
}

static int count_any(const struct kv_rotation_notice *n, void *ud)
{
	unsigned *c = ud;

	assert_int_equal(n->err, 0);
	assert_int_equal(n->new_version, n->version + 1);
	(*c)++;
	return 0;
}

static void test_due(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy("pki/root", true);
	int64_t t0 = INT64_C(1800000000);
	unsigned n = 0;

	kv_set_clock(f->kv, t0);
	make_root(f, KEY_PROTECTION_SOFTWARE);
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "site", &p, NULL), 0);
	assert_int_equal(kv_cert_due(f->kv, test_tcti(), count_notice, &n), 0);
	assert_int_equal(n, 0);
	kv_set_clock(f->kv, t0 + 21 * DAY); /* 9 days left: renew_before is 10 */
	assert_int_equal(kv_cert_due(f->kv, test_tcti(), count_notice, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kv_cert_due(f->kv, test_tcti(), count_notice, &n), 0);
	assert_int_equal(n, 1); /* once */
}

/* A leaf cut to its CA's end is not renewed at every pass: it waits for the CA's renewal. */
static void test_due_cut_by_ca(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy ca = ca_policy(KEY_PROTECTION_SOFTWARE);
	struct kv_cert_policy p = leaf_policy("pki/root", true);
	struct kv_cert_info i = {};
	int64_t t0 = INT64_C(1800000000);
	unsigned n = 0;

	kv_set_clock(f->kv, t0);
	ca.validity = 20 * DAY;
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "pki", "root", &ca, NULL), 0);
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "site", &p, NULL), 0);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 0, &i), 0);
	assert_int_equal(i.not_after, t0 + 20 * DAY); /* cut to the root's */
	kv_cert_info_done(&i);
	kv_set_clock(f->kv, t0 + 11 * DAY);
	assert_int_equal(kv_cert_due(f->kv, test_tcti(), count_any, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(kv_cert_renew(f->kv, test_tcti(), "pki", "root", NULL), 0);
	assert_int_equal(kv_cert_due(f->kv, test_tcti(), count_any, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kv_cert_due(f->kv, test_tcti(), count_any, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 0, &i), 0);
	assert_int_equal(i.version, 2);
	assert_int_equal(i.not_after, t0 + 31 * DAY);
	kv_cert_info_done(&i);
	/* renew_before must be inside the validity */
	p.renew_before = p.validity;
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "site", &p, NULL), -EINVAL);
}

/* More certificates due than a batch: the pass renews a batch, says there is more, and the
 * next pass renews the rest (not the first batch again). renew_percent: at half the lifetime. */
static void test_due_batches(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy(NULL, false);
	int64_t t0 = INT64_C(1800000000);
	unsigned n = 0;
	char name[32];

	kv_set_clock(f->kv, t0);
	p.renew_before = 0;
	p.renew_percent = 50;
	for (unsigned i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "c%02u", i);
		assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", name, &p, NULL), 0);
	}
	kv_set_clock(f->kv, t0 + 14 * DAY);
	assert_int_equal(kv_cert_due(f->kv, test_tcti(), count_any, &n), 0);
	assert_int_equal(n, 0);
	kv_set_clock(f->kv, t0 + 15 * DAY);
	assert_int_equal(kv_cert_due(f->kv, test_tcti(), count_any, &n), 1);
	assert_int_equal(n, 64);
	assert_int_equal(kv_cert_due(f->kv, test_tcti(), count_any, &n), 0);
	assert_int_equal(n, 70);
	assert_int_equal(kv_cert_due(f->kv, test_tcti(), count_any, &n), 0);
	assert_int_equal(n, 70);
}

/* The object model's lifecycle carries the key with the certificate: backup/restore into
 * another vault, delete and recover; a TPM key leaf under a TPM key CA. */
static void test_lifecycle(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy("pki/root", true);
	struct kv_cert_info i = {}, j = {};
	struct secbuf *blob = NULL, *b = NULL;
	char name[VAULTFS_NAME_MAX + 1];

	make_root(f, KEY_PROTECTION_TPM);
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "site", &p, NULL), 0);
	assert_int_equal(kv_object_backup(f->kv, OBJECT_CERT, "web", "site", &blob), 0);
	assert_int_equal(kv_object_restore(f->kv, OBJECT_CERT, "pki", blob->data, blob->len, name),
			 0);
	secbuf_free(blob);
	assert_string_equal(name, "site");
	assert_int_equal(kv_cert_get(f->kv, "pki", "site", 0, &i), 0);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 0, &j), 0);
	assert_string_equal(i.serial, j.serial);
	kv_cert_info_done(&i);
	/* the head the file system asks for: the same version, key and chain, no leaf parsed */
	assert_int_equal(kv_cert_head(f->kv, "web", "site", 0, &i), 0);
	assert_int_equal(i.version, j.version);
	assert_int_equal(i.info.object_id, j.info.object_id);
	assert_int_equal(i.info.version, j.info.version);
	assert_int_equal(i.pending, j.pending);
	assert_int_equal(i.exportable, j.exportable);
	assert_int_equal(i.protection, j.protection);
	assert_int_equal(i.key_type, j.key_type);
	assert_int_equal(i.spki_len, j.spki_len);
	assert_memory_equal(i.spki, j.spki, j.spki_len);
	assert_int_equal(i.chain->n, j.chain->n);
	for (size_t k = 0; k < j.chain->n; k++) {
		assert_int_equal(i.chain->certs[k].len, j.chain->certs[k].len);
		assert_memory_equal(i.chain->certs[k].der, j.chain->certs[k].der,
				    j.chain->certs[k].len);
	}
	assert_string_equal(i.serial, "");
	assert_null(i.subject);
	kv_cert_info_done(&i);
	kv_cert_info_done(&j);
	assert_int_equal(kv_cert_view(f->kv, "pki", "site", 0, KV_CERT_VIEW_KEY, &b), 0);
	secbuf_free(b);

	assert_int_equal(kv_object_delete(f->kv, OBJECT_CERT, "web", "site"), 0);
	assert_int_equal(kv_cert_view(f->kv, "web", "site", 0, KV_CERT_VIEW_CRT, &b), -ENOENT);
	assert_int_equal(kv_object_recover(f->kv, OBJECT_CERT, "web", "site"), 0);
	assert_int_equal(kv_cert_view(f->kv, "web", "site", 0, KV_CERT_VIEW_CRT, &b), 0);
	secbuf_free(b);
	/* a disabled version serves no view */
	struct kv_attrs off = KV_ATTRS_KEEP;

	off.enabled = 0;
	assert_int_equal(kv_object_update(f->kv, OBJECT_CERT, "web", "site", 1, &off), 0);
	assert_int_equal(kv_cert_view(f->kv, "web", "site", 0, KV_CERT_VIEW_CRT, &b), -EKEYREVOKED);
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_P12, "x.p12"), -EKEYREVOKED);

	/* a TPM key leaf under the TPM key CA */
	p = leaf_policy("pki/root", false);
	p.protection = KEY_PROTECTION_TPM;
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "tpmleaf", &p, NULL), 0);
	assert_int_equal(write_view(f, "web", "tpmleaf", 0, KV_CERT_VIEW_CRT, "tpmleaf.crt"), 0);
	assert_int_equal(sh(f, "openssl verify -CAfile root.pem tpmleaf.crt"), 0);
	assert_int_equal(kv_cert_view(f->kv, "web", "tpmleaf", 0, KV_CERT_VIEW_P12, &b), -EPERM);
}

/* --- the next version's policy, ACME, renewals that failed, one name space --- */

static struct kv_cert_policy acme_policy(void)
{
	struct kv_cert_policy p = leaf_policy(NULL, false);

	p.issuer = KV_CERT_ACME;
	p.sans = www_sans; /* DNS and IP */
	p.n_sans = 2;
	p.acme_directory = "https://127.0.0.1:14000/dir";
	p.acme_contact = "admin@example.test";
	return p;
}

/* An ACME policy is checked (a directory URL, a contact email or none, DNS or IP SANs, not a
 * CA); ACME fields on another issuer are refused; nothing is left behind by a refusal. */
static void test_acme_policy_refused(void **state)
{
	struct test_kv *f = *state;
	static const struct x509_san uri[] = { { X509_SAN_URI, "https://www.example.test/" } };
	struct kv_cert_policy p;
	struct kv_object_info o;

	p = acme_policy(), p.acme_directory = NULL;
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), -EINVAL);
	p = acme_policy(), p.acme_directory = "";
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), -EINVAL);
	p = acme_policy(), p.acme_directory = "ftp://x/dir";
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), -EINVAL);
	p = acme_policy(), p.acme_directory = "https://x/a dir";
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), -EINVAL);
	p = acme_policy(), p.acme_contact = "nobody";
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), -EINVAL);
	p = acme_policy(), p.acme_contact = "a@b@c";
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), -EINVAL);
	p = acme_policy(), p.acme_contact = "a\n@b";
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), -EINVAL);
	p = acme_policy(), p.is_ca = true;
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), -EINVAL);
	p = acme_policy(), p.sans = uri, p.n_sans = 1;
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), -EINVAL);
	p = acme_policy(), p.sans = NULL, p.n_sans = 0;
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), -EINVAL);
	p = leaf_policy(NULL, false), p.acme_directory = "https://x/dir";
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), -EINVAL);
	p = leaf_policy(NULL, false), p.acme_contact = "a@b";
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), -EINVAL);
	assert_int_equal(kv_object_lookup(f->kv, OBJECT_CERT, "web", "a", &o), -ENOENT);
	/* empty strings are none; no contact is fine */
	p = leaf_policy(NULL, false), p.acme_directory = "", p.acme_contact = "";
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), 0);
	p = acme_policy(), p.acme_contact = NULL;
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "b", &p, NULL), 0);
}

/* An ACME certificate starts pending (key + CSR of its policy), its policy's ACME fields kept
 * in the record; merge completes it as an ACME version and clears failed renewals. */
static void test_acme_pending(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = acme_policy();
	struct kv_cert_info i = {};
	struct kv_cert_renewal rn;
	char *csr = NULL, *chain;
	char path[512];
	uint32_t v = 0;

	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "site", &p, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 1, &i), 0);
	assert_true(i.pending);
	assert_int_equal(i.source, KV_CERT_ACME);
	assert_int_equal(i.policy.issuer, KV_CERT_ACME);
	assert_string_equal(i.policy.acme_directory, "https://127.0.0.1:14000/dir");
	assert_string_equal(i.policy.acme_contact, "admin@example.test");
	assert_int_equal(x509_der_to_pem(i.csr, i.csr_len, true, &csr), 0);
	snprintf(path, sizeof(path), "%s/site.csr", f->dir);
	test_write_file(path, csr, strlen(csr), 0600);
	free(csr);
	kv_cert_info_done(&i);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 0, &i), -ENOENT);
	{ /* the record's policy is VCP2 (with the ACME fields); one without them stays VCP1, as
	   * readers of before ACME read it */
		struct kv_cert_policy self = leaf_policy(NULL, false);
		struct secbuf *m = NULL;

		assert_int_equal(kv_object_get(f->kv, OBJECT_CERT, "web", "site", 1, &m, NULL), 0);
		assert_non_null(memmem(m->data, m->len, "VCP2", 4));
		assert_null(memmem(m->data, m->len, "VCP1", 4));
		secbuf_free(m);
		assert_int_equal(kv_cert_create(f->kv, NULL, "web", "self", &self, NULL), 0);
		assert_int_equal(kv_object_get(f->kv, OBJECT_CERT, "web", "self", 1, &m, NULL), 0);
		assert_non_null(memmem(m->data, m->len, "VCP1", 4));
		assert_null(memmem(m->data, m->len, "VCP2", 4));
		secbuf_free(m);
	}
	/* the ACME client failed once */
	assert_int_equal(
		kv_cert_renewal_failed(f->kv, "web", "site", -ECONNREFUSED, "connection refused"),
		0);
	assert_int_equal(kv_cert_renewal_get(f->kv, "web", "site", &rn), 0);
	assert_int_equal(rn.failures, 1);
	/* the client's CA signs the CSR: merged */
	assert_int_equal(sh(f, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
			       "-nodes -keyout ca.key -out ca.crt -subj /CN=Pebble -days 30 "
			       "-addext basicConstraints=critical,CA:TRUE "
			       "-addext keyUsage=keyCertSign && "
			       "openssl x509 -req -in site.csr -CA ca.crt -CAkey ca.key "
			       "-CAcreateserial -days 10 -out site.crt && cat site.crt ca.crt > "
			       "site.chain"),
			 0);
	chain = read_text(f, "site.chain");
	assert_int_equal(kv_cert_merge(f->kv, "web", "site", (uint8_t *)chain, strlen(chain), &v),
			 0);
	free(chain);
	assert_int_equal(v, 2);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 0, &i), 0);
	assert_int_equal(i.source, KV_CERT_ACME);
	assert_false(i.pending);
	assert_string_equal(i.policy.acme_directory, "https://127.0.0.1:14000/dir");
	kv_cert_info_done(&i);
	assert_int_equal(kv_cert_renewal_get(f->kv, "web", "site", &rn), 0);
	assert_int_equal(rn.failures, 0);
	assert_int_equal(rn.next_try, 0);
	/* a renewal is pending again, with a new key */
	assert_int_equal(kv_cert_renew(f->kv, NULL, "web", "site", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 3, &i), 0);
	assert_true(i.pending);
	kv_cert_info_done(&i);
}

/* The policy of the next version: set, got back, used by the renewal; a create with a policy
 * drops it; refusals. */
static void test_set_policy(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy(NULL, true);
	struct kv_cert_info i = {};
	uint32_t v;

	assert_int_equal(kv_cert_set_policy(f->kv, "web", "site", &p), -ENOENT);
	assert_int_equal(kv_cert_get_policy(f->kv, "web", "site", &i), -ENOENT);
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "site", &p, NULL), 0);
	/* none set: the newest version's */
	assert_int_equal(kv_cert_get_policy(f->kv, "web", "site", &i), 0);
	assert_string_equal(i.policy.subject, "CN=www.example.test");
	assert_int_equal(i.version, 1);
	kv_cert_info_done(&i);
	/* refused as create refuses it, nothing changed */
	p.validity = 0;
	assert_int_equal(kv_cert_set_policy(f->kv, "web", "site", &p), -EINVAL);
	p = leaf_policy(NULL, true);
	p.subject = "CN=next.example.test";
	p.sans = NULL, p.n_sans = 0;
	p.validity = 60 * DAY;
	assert_int_equal(kv_cert_set_policy(f->kv, "web", "site", &p), 0);
	assert_int_equal(kv_cert_get_policy(f->kv, "web", "site", &i), 0);
	assert_string_equal(i.policy.subject, "CN=next.example.test");
	assert_int_equal(i.policy.n_sans, 0);
	kv_cert_info_done(&i);
	/* a backup carries the next version's policy: restored elsewhere, it renews the same */
	{
		struct secbuf *blob = NULL;
		char name[VAULTFS_NAME_MAX + 1];

		assert_int_equal(kv_object_backup(f->kv, OBJECT_CERT, "web", "site", &blob), 0);
		assert_int_equal(
			kv_object_restore(f->kv, OBJECT_CERT, "pki", blob->data, blob->len, name),
			0);
		secbuf_free(blob);
		assert_int_equal(kv_cert_get_policy(f->kv, "pki", "site", &i), 0);
		assert_string_equal(i.policy.subject, "CN=next.example.test");
		assert_int_equal(i.policy.validity, 60 * DAY);
		kv_cert_info_done(&i);
	}
	/* the version in place keeps its own */
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 0, &i), 0);
	assert_string_equal(i.policy.subject, "CN=www.example.test");
	kv_cert_info_done(&i);
	/* the renewal takes the one set */
	assert_int_equal(kv_cert_renew(f->kv, NULL, "web", "site", &v), 0);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 0, &i), 0);
	assert_int_equal(i.version, 2);
	assert_string_equal(i.subject, "CN=next.example.test");
	assert_int_equal(i.not_after - i.not_before, 60 * DAY);
	kv_cert_info_done(&i);
	/* a create with its own policy drops the one set */
	p = leaf_policy(NULL, true);
	assert_int_equal(kv_cert_set_policy(f->kv, "web", "site", &p), 0);
	p.subject = "CN=given.example.test";
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "site", &p, NULL), 0);
	assert_int_equal(kv_cert_get_policy(f->kv, "web", "site", &i), 0);
	assert_string_equal(i.policy.subject, "CN=given.example.test");
	kv_cert_info_done(&i);
	/* an ACME policy set on a self-signed certificate: its next version is pending */
	p = acme_policy();
	assert_int_equal(kv_cert_set_policy(f->kv, "web", "site", &p), 0);
	assert_int_equal(kv_cert_renew(f->kv, NULL, "web", "site", &v), 0);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", v, &i), 0);
	assert_true(i.pending);
	assert_int_equal(i.source, KV_CERT_ACME);
	kv_cert_info_done(&i);
	/* not for a secret or a key */
	assert_int_equal(kv_secret_set(f->kv, "web", "sec", "x", 1, NULL, NULL), 0);
	assert_int_equal(kv_cert_set_policy(f->kv, "web", "sec", &p), -ENOENT);
	assert_int_equal(kv_cert_get_policy(f->kv, "web", "sec", &i), -ENOENT);
}

/* Failed renewals back off: 60 s, doubled each time, at most 6 h; a success clears them. */
static void test_backoff(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy(NULL, false);
	struct kv_cert_renewal rn;
	int64_t t0 = INT64_C(1800000000);
	int64_t want[] = { 60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600, 21600 };

	kv_set_clock(f->kv, t0);
	assert_int_equal(kv_cert_renewal_get(f->kv, "web", "site", &rn), -ENOENT);
	assert_int_equal(kv_cert_renewal_failed(f->kv, "web", "site", -EIO, "x"), -ENOENT);
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "site", &p, NULL), 0);
	assert_int_equal(kv_cert_renewal_get(f->kv, "web", "site", &rn), 0);
	assert_true(rn.failures == 0 && rn.next_try == 0 && rn.last_attempt == 0 &&
		    rn.last_err == 0 && rn.last_error[0] == 0);
	assert_int_equal(kv_cert_renewal_failed(f->kv, "web", "site", 0, "x"), -EINVAL);
	assert_int_equal(kv_cert_renewal_failed(f->kv, "web", "site", 5, "x"), -EINVAL);
	for (size_t k = 0; k < ELEMENTSOF(want); k++) {
		int64_t now = t0 + 1000 * (int64_t)k;

		kv_set_clock(f->kv, now);
		assert_int_equal(kv_cert_renewal_failed(f->kv, "web", "site", -ETIMEDOUT,
							"the ACME server\ttimed out"),
				 0);
		assert_int_equal(kv_cert_renewal_get(f->kv, "web", "site", &rn), 0);
		assert_int_equal(rn.failures, k + 1);
		assert_int_equal(rn.last_attempt, now);
		assert_int_equal(rn.next_try, now + want[k]);
		assert_int_equal(rn.last_err, -ETIMEDOUT);
		assert_string_equal(rn.last_error, "the ACME server?timed out");
	}
	{ /* a long reason is cut */
		char why[300];

		memset(why, 'a', sizeof(why) - 1);
		why[sizeof(why) - 1] = 0;
		assert_int_equal(kv_cert_renewal_failed(f->kv, "web", "site", -EIO, why), 0);
		assert_int_equal(kv_cert_renewal_get(f->kv, "web", "site", &rn), 0);
		assert_int_equal(strlen(rn.last_error), 127);
	}
	assert_int_equal(kv_cert_renew(f->kv, NULL, "web", "site", NULL), 0);
	assert_int_equal(kv_cert_renewal_get(f->kv, "web", "site", &rn), 0);
	assert_true(rn.failures == 0 && rn.next_try == 0 && rn.last_err == 0 &&
		    rn.last_error[0] == 0);
}

static int sql(struct test_kv *f, const char *q)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "sqlite3 %s/vault.db \"%s\"", f->dir, q);
	return system(cmd);
}

/* A state row changed behind kv's back is refused wherever it is read. */
static void test_state_tampered(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy(NULL, false);
	struct kv_cert_renewal rn;
	struct kv_cert_info i = {};

	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "site", &p, NULL), 0);
	p.validity = 40 * DAY;
	assert_int_equal(kv_cert_set_policy(f->kv, "web", "site", &p), 0);
	assert_int_equal(kv_cert_renewal_failed(f->kv, "web", "site", -EIO, "x"), 0);
	assert_int_equal(sql(f, "UPDATE cert_state SET next_try = 0"), 0);
	assert_int_equal(kv_cert_renewal_get(f->kv, "web", "site", &rn), -EBADMSG);
	assert_int_equal(kv_cert_get_policy(f->kv, "web", "site", &i), -EBADMSG);
	assert_int_equal(kv_cert_renew(f->kv, NULL, "web", "site", NULL), -EBADMSG);
	assert_int_equal(kv_cert_set_policy(f->kv, "web", "site", &p), -EBADMSG);
}

/* One name space with a certificate's views: X.crt, X.chain.crt, X.key, X.pem, X.p12 (and a
 * certificate X.chain) cannot be beside a certificate X, whichever came first, whatever the
 * kind, by set, restore and recover. */
static void test_view_names(void **state)
{
	struct test_kv *f = *state;
	static const char *const views[] = { "c.crt", "c.chain.crt", "c.key", "c.pem", "c.p12" };
	struct kv_cert_policy p = leaf_policy(NULL, true);
	struct kv_key_spec ks = { .type = KEY_EC_P256, .protection = KEY_PROTECTION_SOFTWARE };
	struct secbuf *blob = NULL;
	char name[VAULTFS_NAME_MAX + 1];

	/* the certificate first */
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "c", &p, NULL), 0);
	for (size_t i = 0; i < ELEMENTSOF(views); i++) {
		assert_int_equal(kv_secret_set(f->kv, "web", views[i], "x", 1, NULL, NULL),
				 -EEXIST);
		assert_int_equal(kv_key_create(f->kv, NULL, "web", views[i], &ks, NULL, NULL),
				 -EEXIST);
		assert_int_equal(kv_cert_create(f->kv, NULL, "web", views[i], &p, NULL), -EEXIST);
	}
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "c.chain", &p, NULL), -EEXIST);
	/* names near them are free */
	assert_int_equal(kv_secret_set(f->kv, "web", "c.txt", "x", 1, NULL, NULL), 0);
	assert_int_equal(kv_secret_set(f->kv, "web", "cc.crt", "x", 1, NULL, NULL), 0);
	assert_int_equal(kv_secret_set(f->kv, "web", "c.crt.bak", "x", 1, NULL, NULL), 0);
	/* the view names first, then the certificate, each kind */
	assert_int_equal(kv_secret_set(f->kv, "web", "s.pem", "x", 1, NULL, NULL), 0);
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "s", &p, NULL), -EEXIST);
	assert_int_equal(kv_key_create(f->kv, NULL, "web", "k.key", &ks, NULL, NULL), 0);
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "k", &p, NULL), -EEXIST);
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "d.chain.crt", &p, NULL), 0);
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "d", &p, NULL), -EEXIST);
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "d.chain", &p, NULL), -EEXIST);
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "e.chain", &p, NULL), 0);
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "e", &p, NULL), -EEXIST);
	/* a secret named like an imported certificate's view */
	assert_int_equal(kv_secret_set(f->kv, "web", "i.p12", "x", 1, NULL, NULL), 0);
	{
		struct secbuf *pem = NULL;

		assert_int_equal(kv_cert_view(f->kv, "web", "c", 0, KV_CERT_VIEW_PEM, &pem), 0);
		assert_int_equal(kv_cert_import(f->kv, "web", "i", pem->data, pem->len, false, NULL,
						true, NULL),
				 -EEXIST);
		secbuf_free(pem);
	}
	/* a soft-deleted certificate still holds its views' names */
	assert_int_equal(kv_object_delete(f->kv, OBJECT_CERT, "web", "c"), 0);
	assert_int_equal(kv_secret_set(f->kv, "web", "c.key", "x", 1, NULL, NULL), -EEXIST);
	assert_int_equal(kv_object_recover(f->kv, OBJECT_CERT, "web", "c"), 0);
	/* restore: a certificate's backup beside a view name, and a view's beside a certificate */
	assert_int_equal(kv_object_backup(f->kv, OBJECT_CERT, "web", "c", &blob), 0);
	assert_int_equal(kv_secret_set(f->kv, "pki", "c.chain.crt", "x", 1, NULL, NULL), 0);
	assert_int_equal(kv_object_restore(f->kv, KV_KIND_ANY, "pki", blob->data, blob->len, name),
			 -EEXIST);
	secbuf_free(blob);
	assert_int_equal(kv_cert_create(f->kv, NULL, "pki", "r", &p, NULL), 0);
	assert_int_equal(kv_secret_set(f->kv, "web", "r.crt", "x", 1, NULL, NULL), 0);
	assert_int_equal(kv_secret_backup(f->kv, "web", "r.crt", &blob), 0);
	assert_int_equal(kv_object_restore(f->kv, KV_KIND_ANY, "pki", blob->data, blob->len, name),
			 -EEXIST);
	secbuf_free(blob);
}

/* What a pass told, by event. */
struct told {
	unsigned rotate, failed, pending, notify, expired;
	uint32_t version, new_version;
	int err;
	char why[128];
};

static int record_notice(const struct kv_rotation_notice *n, void *ud)
{
	struct told *t = ud;

	t->version = n->version, t->new_version = n->new_version, t->err = n->err;
	snprintf(t->why, sizeof(t->why), "%s", n->why ? n->why : "");
	switch (n->event) {
	case KV_ROTATION_ROTATE:
		if (n->err < 0)
			t->failed++;
		else
			t->rotate++;
		break;
	case KV_ROTATION_PENDING:
		t->pending++;
		break;
	case KV_ROTATION_NOTIFY:
		t->notify++;
		break;
	case KV_ROTATION_EXPIRED:
		t->expired++;
		break;
	default:
		fail();
	}
	return 0;
}

/* A due leaf whose vault CA is gone fails with its reason and backs off (60 s, then 120 s, not
 * tried in between); one whose CA is no longer a CA says so; the CA back, the renewal works
 * and clears the failures. */
static void test_due_backoff(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy("pki/root", true), ca = ca_policy(0);
	struct kv_cert_renewal rn;
	struct told t = {};
	int64_t t0 = INT64_C(1800000000), now;

	kv_set_clock(f->kv, t0);
	make_root(f, KEY_PROTECTION_SOFTWARE);
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "site", &p, NULL), 0);
	assert_int_equal(kv_object_delete(f->kv, OBJECT_CERT, "pki", "root"), 0);
	now = t0 + 21 * DAY;
	kv_set_clock(f->kv, now);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.failed, 1);
	assert_int_equal(t.err, -ENOENT);
	assert_string_equal(t.why,
			    "the issuer pki/root is not a certificate of this store (missing or "
			    "deleted)");
	assert_int_equal(kv_cert_renewal_get(f->kv, "web", "site", &rn), 0);
	assert_int_equal(rn.failures, 1);
	assert_int_equal(rn.last_attempt, now);
	assert_int_equal(rn.next_try, now + 60);
	assert_int_equal(rn.last_err, -ENOENT);
	assert_string_equal(rn.last_error, t.why);
	/* not before next_try */
	kv_set_clock(f->kv, now + 59);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.failed, 1);
	kv_set_clock(f->kv, now + 60);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.failed, 2);
	assert_int_equal(kv_cert_renewal_get(f->kv, "web", "site", &rn), 0);
	assert_int_equal(rn.failures, 2);
	assert_int_equal(rn.next_try, now + 60 + 120);
	/* the issuer back but not a CA */
	assert_int_equal(kv_object_recover(f->kv, OBJECT_CERT, "pki", "root"), 0);
	ca = leaf_policy(NULL, false);
	assert_int_equal(kv_cert_create(f->kv, NULL, "pki", "root", &ca, NULL), 0);
	kv_set_clock(f->kv, now + 180);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.failed, 3);
	assert_int_equal(t.err, -EPERM);
	assert_string_equal(t.why, "the issuer pki/root is not a CA");
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "other", &p, NULL), -EPERM);
	/* a CA again: renewed at the next try, the failures cleared */
	ca = ca_policy(KEY_PROTECTION_SOFTWARE);
	assert_int_equal(kv_cert_create(f->kv, NULL, "pki", "root", &ca, NULL), 0);
	kv_set_clock(f->kv, now + 180 + 239);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.rotate, 0);
	kv_set_clock(f->kv, now + 180 + 240);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.rotate, 1);
	assert_int_equal(t.failed, 3);
	assert_int_equal(t.new_version, 2);
	assert_int_equal(kv_cert_renewal_get(f->kv, "web", "site", &rn), 0);
	assert_true(rn.failures == 0 && rn.next_try == 0 && rn.last_error[0] == 0);
}

/* An ACME certificate: its pending version told at each pass until its client fails (then
 * after the backoff), merged, and when due a new pending version made and told. */
static void test_due_acme(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = acme_policy();
	struct told t = {};
	int64_t t0 = INT64_C(1800000000);
	char *csr = NULL, *chain;
	struct kv_cert_info i = {};
	char path[512];

	kv_set_clock(f->kv, t0);
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "site", &p, NULL), 0);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.pending, 1);
	assert_int_equal(t.version, 1);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.pending, 2); /* still pending: told again */
	assert_int_equal(kv_cert_renewal_failed(f->kv, "web", "site", -ECONNREFUSED, "refused"), 0);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.pending, 2); /* backing off */
	kv_set_clock(f->kv, t0 + 60);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.pending, 3);
	/* the client's CA signs: merged */
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 1, &i), 0);
	assert_int_equal(x509_der_to_pem(i.csr, i.csr_len, true, &csr), 0);
	kv_cert_info_done(&i);
	snprintf(path, sizeof(path), "%s/site.csr", f->dir);
	test_write_file(path, csr, strlen(csr), 0600);
	free(csr);
	assert_int_equal(sh(f, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
			       "-nodes -keyout ca.key -out ca.crt -subj /CN=Pebble -days 30 "
			       "-addext basicConstraints=critical,CA:TRUE "
			       "-addext keyUsage=keyCertSign && "
			       "openssl x509 -req -in site.csr -CA ca.crt -CAkey ca.key "
			       "-CAcreateserial -days 30 -out site.crt && cat site.crt ca.crt > "
			       "site.chain"),
			 0);
	chain = read_text(f, "site.chain");
	assert_int_equal(kv_cert_merge(f->kv, "web", "site", (uint8_t *)chain, strlen(chain), NULL),
			 0);
	free(chain);
	kv_set_clock(f->kv, time(NULL)); /* openssl's dates are the real clock's */
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.pending, 3); /* issued, not due */
	/* due (renew_before 10 days of a 30-day certificate made by openssl now) */
	kv_set_clock(f->kv, time(NULL) + 21 * DAY);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.pending, 4);
	assert_int_equal(t.version, 3);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 3, &i), 0);
	assert_true(i.pending);
	kv_cert_info_done(&i);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.pending, 5);
	assert_int_equal(t.version, 3); /* the same pending version, none made again */
}

/* A state row changed behind kv's back stops neither the pass nor the other certificates: it
 * is told as a failed renewal at each pass, the others renewed. */
static void test_due_tampered(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy(NULL, false);
	struct told t = {};
	int64_t t0 = INT64_C(1800000000);

	kv_set_clock(f->kv, t0);
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "a", &p, NULL), 0);
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "b", &p, NULL), 0);
	assert_int_equal(kv_cert_renewal_failed(f->kv, "web", "a", -EIO, "x"), 0);
	assert_int_equal(sql(f, "UPDATE cert_state SET failures = 0"), 0);
	kv_set_clock(f->kv, t0 + 21 * DAY);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.failed, 1);
	assert_int_equal(t.rotate, 1); /* b */
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.failed, 2);
	assert_int_equal(t.err, -EBADMSG);
	assert_string_equal(t.why, "its state or policy does not verify");
	assert_int_equal(t.rotate, 1);
}

/* Near-expiry and expired notices, once per version, across passes; a new version is told
 * again; an external certificate is told too, never renewed. */
static int count_expiry(const char *vault, const char *name, uint32_t version, int64_t expires,
			int event, void *ud)
{
	(void)vault, (void)name, (void)version, (void)expires, (void)event;
	++*(int *)ud;
	return 0;
}

static void test_due_notices(void **state)
{
	struct test_kv *f = *state;
	int n_generic = 0;
	struct kv_cert_policy p = leaf_policy(NULL, false);
	struct told t = {};
	int64_t t0 = INT64_C(1800000000);
	uint32_t v;

	kv_set_clock(f->kv, t0);
	p.renew_before = 0; /* never renewed here */
	p.notify_before = 5 * DAY;
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "site", &p, NULL), 0);
	kv_set_clock(f->kv, t0 + 24 * DAY);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.notify + t.expired, 0);
	kv_set_clock(f->kv, t0 + 25 * DAY);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.notify, 1);
	assert_int_equal(t.version, 1);
	assert_int_equal(t.err, 0);
	kv_set_clock(f->kv, t0 + 30 * DAY);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.expired, 1);
	assert_int_equal(t.notify, 1);
	assert_int_equal(t.rotate + t.failed + t.pending, 0);
	/* a new version: its own notices */
	assert_int_equal(kv_cert_renew(f->kv, NULL, "web", "site", &v), 0);
	kv_set_clock(f->kv, t0 + 56 * DAY);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.notify, 2);
	assert_int_equal(t.version, v);
	/* first seen expired: only the expired one */
	kv_set_clock(f->kv, t0 + 90 * DAY);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(kv_cert_due(f->kv, NULL, record_notice, &t), 0);
	assert_int_equal(t.notify, 2);
	assert_int_equal(t.expired, 2);
	/* the generic expiry scan leaves certificates to this pass: no second notice */
	assert_int_equal(kv_expiry_scan(f->kv, 30 * DAY, count_expiry, &n_generic), 0);
	assert_int_equal(n_generic, 0);
}

/* A certificate's name names its key for sign, verify and the public half: its newest issued
 * version's key (the one its leaf certifies: openssl verifies the signature with the leaf's
 * public key), or the version named; the producing ops refused for a disabled or expired
 * version as a key's; a pending version has no key to use; rotate and the encryptions stay a
 * key object's. */
static void test_key_ops_by_name(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy(NULL, true);
	struct kv_key_public pub;
	struct kv_cert_info i = {};
	struct kv_attrs off = KV_ATTRS_KEEP;
	uint8_t dg[32], sig[512], out[512];
	size_t siglen = sizeof(sig), outlen = sizeof(out);
	uint32_t v = 0;
	char path[512];
	int64_t t0 = INT64_C(1800000000);

	kv_set_clock(f->kv, t0);
	p.key_type = KEY_RSA_2048;
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "site", &p, NULL), 0);
	assert_int_equal(kv_cert_get(f->kv, "web", "site", 0, &i), 0);
	assert_int_equal(kv_key_public(f->kv, "web", "site", 0, &pub), 0);
	assert_int_equal(pub.version, 1);
	assert_int_equal(pub.type, KEY_RSA_2048);
	assert_true(pub.ops & KEY_OP_SIGN);
	assert_int_equal(pub.spki_len, i.spki_len);
	assert_memory_equal(pub.spki, i.spki, i.spki_len);
	assert_int_equal(pub.info.expires, i.not_after);
	kv_cert_info_done(&i);
	test_random(dg, sizeof(dg));
	assert_int_equal(kv_key_sign(f->kv, NULL, "web", "site", 0, KEY_ALG_RS256, dg, sizeof(dg),
				     sig, &siglen, &v),
			 0);
	assert_int_equal(v, 1);
	assert_int_equal(
		kv_key_verify(f->kv, "web", "site", 0, KEY_ALG_RS256, dg, sizeof(dg), sig, siglen),
		0);
	snprintf(path, sizeof(path), "%s/dg", f->dir);
	test_write_file(path, dg, sizeof(dg), 0600);
	snprintf(path, sizeof(path), "%s/sig", f->dir);
	test_write_file(path, sig, siglen, 0600);
	assert_int_equal(write_view(f, "web", "site", 0, KV_CERT_VIEW_CRT, "site.crt"), 0);
	assert_int_equal(sh(f, "openssl x509 -in site.crt -pubkey -noout > pub.pem && "
			       "openssl pkeyutl -verify -pubin -inkey pub.pem -in dg -sigfile sig "
			       "-pkeyopt digest:sha256"),
			 0);
	/* sign_spki with the leaf's public half; another one is stale */
	siglen = sizeof(sig);
	assert_int_equal(kv_key_sign_spki(f->kv, NULL, "web", "site", pub.spki, pub.spki_len,
					  KEY_ALG_RS256, dg, sizeof(dg), sig, &siglen, &v),
			 0);
	/* a renewal: the new version's key, the old one by its number */
	assert_int_equal(kv_cert_renew(f->kv, NULL, "web", "site", NULL), 0);
	siglen = sizeof(sig);
	assert_int_equal(kv_key_sign_spki(f->kv, NULL, "web", "site", pub.spki, pub.spki_len,
					  KEY_ALG_RS256, dg, sizeof(dg), sig, &siglen, &v),
			 -ESTALE);
	siglen = sizeof(sig);
	assert_int_equal(kv_key_sign(f->kv, NULL, "web", "site", 1, KEY_ALG_RS256, dg, sizeof(dg),
				     sig, &siglen, &v),
			 0);
	assert_int_equal(v, 1);
	assert_int_equal(
		kv_key_verify(f->kv, "web", "site", 1, KEY_ALG_RS256, dg, sizeof(dg), sig, siglen),
		0);
	assert_int_equal(
		kv_key_verify(f->kv, "web", "site", 0, KEY_ALG_RS256, dg, sizeof(dg), sig, siglen),
		-EBADMSG);
	/* a disabled version: no sign, no verify (as a key's), the public half still */
	off.enabled = 0;
	assert_int_equal(kv_object_update(f->kv, OBJECT_CERT, "web", "site", 2, &off), 0);
	siglen = sizeof(sig);
	assert_int_equal(kv_key_sign(f->kv, NULL, "web", "site", 0, KEY_ALG_RS256, dg, sizeof(dg),
				     sig, &siglen, &v),
			 -EKEYREVOKED);
	assert_int_equal(
		kv_key_verify(f->kv, "web", "site", 2, KEY_ALG_RS256, dg, sizeof(dg), sig, siglen),
		-EKEYREVOKED);
	assert_int_equal(kv_key_public(f->kv, "web", "site", 2, &pub), 0);
	off.enabled = 1;
	assert_int_equal(kv_object_update(f->kv, OBJECT_CERT, "web", "site", 2, &off), 0);
	/* expired: no sign; verify still (AKV's rule) */
	kv_set_clock(f->kv, t0 + 40 * DAY);
	siglen = sizeof(sig);
	assert_int_equal(kv_key_sign(f->kv, NULL, "web", "site", 1, KEY_ALG_RS256, dg, sizeof(dg),
				     sig, &siglen, &v),
			 -EKEYEXPIRED);
	assert_int_equal(kv_key_sign(f->kv, NULL, "web", "site", 0, KEY_ALG_RS256, dg, sizeof(dg),
				     sig, &siglen, &v),
			 -EKEYEXPIRED);
	kv_set_clock(f->kv, t0);
	/* a key's alone */
	assert_int_equal(kv_key_rotate(f->kv, NULL, "web", "site", NULL, NULL), -ENOENT);
	assert_int_equal(kv_key_encrypt(f->kv, "web", "site", KEY_OP_ENCRYPT, KEY_ALG_RSA_OAEP_256,
					NULL, 0, dg, sizeof(dg), out, &outlen, NULL),
			 -ENOENT);
	/* a pending certificate has no key to use yet; no such name: none */
	p = leaf_policy(NULL, false);
	p.issuer = KV_CERT_EXTERNAL;
	assert_int_equal(kv_cert_create(f->kv, NULL, "web", "ext", &p, NULL), 0);
	assert_int_equal(kv_key_public(f->kv, "web", "ext", 0, &pub), -ENOENT);
	assert_int_equal(kv_key_public(f->kv, "web", "ext", 1, &pub), -ENOENT);
	siglen = sizeof(sig);
	assert_int_equal(kv_key_sign(f->kv, NULL, "web", "ext", 0, KEY_ALG_ES256, dg, sizeof(dg),
				     sig, &siglen, &v),
			 -ENOENT);
	assert_int_equal(kv_key_public(f->kv, "web", "none", 0, &pub), -ENOENT);
	/* a deleted certificate: none */
	assert_int_equal(kv_object_delete(f->kv, OBJECT_CERT, "web", "site"), 0);
	assert_int_equal(kv_key_public(f->kv, "web", "site", 0, &pub), -ENOENT);
}

/* A TPM key certificate signs by its name in the TPM. */
static void test_key_ops_by_name_tpm(void **state)
{
	struct test_kv *f = *state;
	struct kv_cert_policy p = leaf_policy(NULL, false);
	uint8_t dg[32], sig[256];
	size_t siglen = sizeof(sig);

	p.protection = KEY_PROTECTION_TPM;
	assert_int_equal(kv_cert_create(f->kv, test_tcti(), "web", "tpm", &p, NULL), 0);
	test_random(dg, sizeof(dg));
	assert_int_equal(kv_key_sign(f->kv, test_tcti(), "web", "tpm", 0, KEY_ALG_ES256, dg,
				     sizeof(dg), sig, &siglen, NULL),
			 0);
	assert_int_equal(
		kv_key_verify(f->kv, "web", "tpm", 0, KEY_ALG_ES256, dg, sizeof(dg), sig, siglen),
		0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ca_and_leaf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intermediate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renew_and_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tpm_ca, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_cut_by_ca, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acme_policy_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acme_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_acme, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_notices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_ops_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_ops_by_name_tpm, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
