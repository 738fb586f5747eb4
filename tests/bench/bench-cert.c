/* bench-cert.c: what issuing a certificate from a vault CA costs, measured against baselines of
 * the same run. Run under tests/lib/with-swtpm (a private swtpm; `make bench` does). In a temp
 * dir on disk, one store (a random master key: no sealing is measured) with two root CAs, one
 * with a software key and one with a key in the TPM, and prints for each:
 *   - a leaf issued (kv_cert_create: a new software P-256 key, the CA's record read and its key
 *     used, the leaf signed and written as a new version) in ms;
 *   - that time as a multiple of OpenSSL's own X509_sign of the same to-be-signed leaf with an
 *     in-memory P-256 key (the floor of any issuance: one ECDSA signature and the encoding), and
 *     of one 100-byte secret write (one synchronous store transaction, the floor of any version);
 *   - one signature by the CA's key through kv (kv_key_sign by the CA certificate's name: its
 *     record read and decrypted, the key used where it is): the part the TPM changes.
 * A benchmark measures; it checks nothing. Test-only: never installed. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/kv.h"
#include "core/secbuf.h"
#include "core/store.h"
#include "core/util.h"

#define SOFT_ISSUES 200u
#define TPM_ISSUES 30u
#define SIGNS 2000u
#define WRITES 200u
#define DAY INT64_C(86400)

static void die(const char *what, int r)
{
	fprintf(stderr, "bench-cert: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

static double ms_since(int64_t t0)
{
	return (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6;
}

static struct kv *open_kv(const char *path)
{
	struct store *s = NULL;
	struct secbuf *m = NULL;
	struct kv *kv = NULL;
	uint8_t master[CRYPTO_KEY_LEN];
	FILE *f = fopen("/dev/urandom", "rb");
	int r;

	if (!f || fread(master, 1, sizeof(master), f) != sizeof(master))
		die("urandom", -EIO);
	fclose(f);
	r = store_open(path, STORE_CREATE, &s);
	if (r >= 0)
		r = secbuf_dup(master, sizeof(master), &m);
	if (r >= 0)
		r = kv_new(s, m, &kv);
	if (r < 0)
		die("store", r);
	return kv;
}

static const struct x509_san sans[] = { { X509_SAN_DNS, "www.example.test" } };

static void make_ca(struct kv *kv, const char *tcti, const char *name, enum key_protection prot)
{
	struct kv_cert_policy p = { .subject = "CN=Bench Root",
				    .key_type = KEY_EC_P256,
				    .protection = prot,
				    .validity = 3650 * DAY,
				    .key_usage = X509_KU_KEY_CERT_SIGN | X509_KU_CRL_SIGN,
				    .issuer = KV_CERT_SELF,
				    .is_ca = true,
				    .path_len = -1 };
	int r = kv_cert_create(kv, tcti, "pki", name, &p, NULL);

	if (r < 0)
		die(name, r);
}

/* ms per leaf issued by pki/ca, n leaves (one certificate, n versions) */
static double issue(struct kv *kv, const char *tcti, const char *ca, const char *leaf, unsigned n)
{
	char issuer[64];
	struct kv_cert_policy p = { .subject = "CN=www.example.test",
				    .sans = sans,
				    .n_sans = 1,
				    .key_type = KEY_EC_P256,
				    .protection = KEY_PROTECTION_SOFTWARE,
				    .validity = 30 * DAY,
				    .key_usage = X509_KU_DIGITAL_SIGNATURE,
				    .ext_key_usage = X509_EKU_SERVER_AUTH,
				    .issuer = KV_CERT_VAULT_CA,
				    .issuer_name = issuer,
				    .path_len = -1 };
	int64_t t0;
	int r;

	snprintf(issuer, sizeof(issuer), "pki/%s", ca);
	r = kv_cert_create(kv, tcti, "web", leaf, &p, NULL); /* warm: the CA's rows and keys */
	if (r < 0)
		die("issue", r);
	t0 = clock_ns(CLOCK_MONOTONIC);
	for (unsigned i = 0; i < n; i++) {
		r = kv_cert_create(kv, tcti, "web", leaf, &p, NULL);
		if (r < 0)
			die("issue", r);
	}
	return ms_since(t0) / n;
}

/* ms per X509_sign of the leaf (its DER as the TBS) with an in-memory P-256 key */
static double openssl_sign(struct kv *kv, const char *leaf)
{
	struct kv_cert_info i = {};
	const unsigned char *p;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x;
	int64_t t0;
	int r;

	r = kv_cert_get(kv, "web", leaf, 0, &i);
	if (r < 0 || !key)
		die("baseline", r < 0 ? r : -ENOMEM);
	p = i.chain->certs[0].der;
	x = d2i_X509(NULL, &p, (long)i.chain->certs[0].len);
	kv_cert_info_done(&i);
	if (!x)
		die("baseline", -EINVAL);
	t0 = clock_ns(CLOCK_MONOTONIC);
	for (unsigned k = 0; k < SIGNS; k++)
		if (X509_sign(x, key, EVP_sha256()) <= 0)
			die("X509_sign", -EIO);
	X509_free(x);
	EVP_PKEY_free(key);
	return ms_since(t0) / SIGNS;
}

/* ms per signature of a digest by the CA certificate pki/ca's key, by its name */
static double ca_sign(struct kv *kv, const char *tcti, const char *ca, unsigned n)
{
	uint8_t dg[32] = { 1 }, sig[256];
	size_t siglen;
	int64_t t0 = clock_ns(CLOCK_MONOTONIC);
	int r;

	for (unsigned i = 0; i < n; i++) {
		siglen = sizeof(sig);
		r = kv_key_sign(kv, tcti, "pki", ca, 0, KEY_ALG_ES256, dg, sizeof(dg), sig, &siglen,
				NULL);
		if (r < 0)
			die("sign", r);
	}
	return ms_since(t0) / n;
}

/* ms per 100-byte secret write */
static double secret_write(struct kv *kv)
{
	struct kv_attrs a = KV_ATTRS_KEEP;
	char value[100];
	int64_t t0;
	int r;

	a.enabled = 1, a.not_before = 0, a.expires = 0, a.content_type = "";
	memset(value, 'v', sizeof(value));
	t0 = clock_ns(CLOCK_MONOTONIC);
	for (unsigned i = 0; i < WRITES; i++) {
		r = kv_secret_set(kv, "web", "secret", value, sizeof(value), &a, NULL);
		if (r < 0)
			die("write", r);
	}
	return ms_since(t0) / WRITES;
}

int main(void)
{
	const char *tcti = getenv("VAULTFS_TEST_TCTI");
	char dir[] = "/var/tmp/bench-cert-XXXXXX", path[128];
	double soft, tpm, sign, write, soft_sign, tpm_sign;
	struct kv *kv;
	int r;

	if (!tcti || !mkdtemp(dir)) {
		fprintf(stderr, "bench-cert: run under tests/lib/with-swtpm\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/vault.db", dir);
	kv = open_kv(path);
	if ((r = kv_vault_create(kv, "pki", 7)) < 0 || (r = kv_vault_create(kv, "web", 7)) < 0)
		die("vault", r);
	make_ca(kv, tcti, "soft", KEY_PROTECTION_SOFTWARE);
	make_ca(kv, tcti, "tpm", KEY_PROTECTION_TPM);

	write = secret_write(kv);
	soft = issue(kv, tcti, "soft", "leaf-soft", SOFT_ISSUES);
	tpm = issue(kv, tcti, "tpm", "leaf-tpm", TPM_ISSUES);
	sign = openssl_sign(kv, "leaf-soft");
	soft_sign = ca_sign(kv, tcti, "soft", SOFT_ISSUES);
	tpm_sign = ca_sign(kv, tcti, "tpm", TPM_ISSUES);

	printf("bench-cert: a leaf (new P-256 key) issued by a vault CA, kv_cert_create\n");
	printf("  baseline: openssl X509_sign of the leaf, in-memory P-256 key  %8.3f ms\n", sign);
	printf("  baseline: one 100-byte secret write (a store transaction)     %8.3f ms\n", write);
	printf("  software CA key (P-256), %3u leaves  %8.3f ms  = %6.1f x X509_sign, "
	       "%5.2f x a write\n",
	       SOFT_ISSUES, soft, soft / sign, soft / write);
	printf("  TPM CA key (P-256, swtpm), %3u leaves %8.3f ms  = %6.1f x X509_sign, "
	       "%5.2f x a write\n",
	       TPM_ISSUES, tpm, tpm / sign, tpm / write);
	printf("  TPM / software: %.1f x\n", tpm / soft);
	printf("  the CA key's signature alone (kv_key_sign by name): software %.3f ms, "
	       "TPM %.3f ms\n",
	       soft_sign, tpm_sign);

	kv_free(kv);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	return system(path) == 0 ? 0 : 1;
}
