/* mkcert.c: a test program that makes certificate objects in a store through the core API,
 * before the CLI has `vaultctl cert`. It unseals the store of CONF as `vaultctl --offline` does
 * and writes nothing to the audit journal: run it while no daemon holds the store, or beside
 * one (the store takes concurrent writers).
 *
 *   mkcert -c CONF root VAULT NAME             a self-signed CA (P-256, software, 10 years)
 *   mkcert -c CONF ca VAULT NAME ISSUER        an intermediate CA issued by ISSUER (VAULT/NAME)
 *   mkcert -c CONF leaf VAULT NAME ISSUER [export|noexport [COUNT]]
 *                                              a server leaf (CN and DNS NAME.test) issued by
 *                                              ISSUER ("self": self-signed), exportable key
 *                                              unless noexport; with COUNT, leaves NAME001 ..
 *                                              NAME<COUNT>, every third not exportable
 *   mkcert -c CONF renew VAULT NAME [COUNT]    COUNT (1) new versions by the newest's policy
 *   mkcert -c CONF pending VAULT NAME          a pending version (a CSR for an external CA)
 *   mkcert -c CONF import VAULT NAME < PEM     key and chain from a PEM
 *   mkcert -c CONF disable VAULT NAME VERSION  disable a version
 *
 * Prints the version made (or changed). Test-only: never installed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/kv.h"
#include "core/seal.h"
#include "core/store.h"
#include "core/util.h"
#include "tests/unit/mktool.h"

#define DAY 86400

static struct kv_cert_policy ca_policy(const char *name, const char *issuer)
{
	static char subject[VAULTFS_NAME_MAX + 32];

	snprintf(subject, sizeof(subject), "CN=%s,O=vaultfs test", name);
	return (struct kv_cert_policy){ .subject = subject,
					.key_type = KEY_EC_P256,
					.protection = KEY_PROTECTION_SOFTWARE,
					.validity = (issuer ? 365 : 3650) * DAY,
					.key_usage = X509_KU_KEY_CERT_SIGN | X509_KU_CRL_SIGN,
					.issuer = issuer ? KV_CERT_VAULT_CA : KV_CERT_SELF,
					.issuer_name = issuer,
					.is_ca = true,
					.path_len = issuer ? 0 : -1 };
}

static int leaf(struct kv *kv, const char *tcti, const char *vault, const char *name,
		const char *issuer, bool exportable, uint32_t *ret_version)
{
	static char subject[VAULTFS_NAME_MAX + 8], dns[VAULTFS_NAME_MAX + 8];
	struct x509_san sans[2] = { { X509_SAN_DNS, dns }, { X509_SAN_IP, "127.0.0.1" } };
	bool self = streq(issuer, "self");
	struct kv_cert_policy p = { .subject = subject,
				    .sans = sans,
				    .n_sans = 2,
				    .key_type = KEY_EC_P256,
				    .protection = KEY_PROTECTION_SOFTWARE,
				    .exportable = exportable,
				    .validity = 30 * DAY,
				    .key_usage = X509_KU_DIGITAL_SIGNATURE,
				    .ext_key_usage = X509_EKU_SERVER_AUTH,
				    .issuer = self ? KV_CERT_SELF : KV_CERT_VAULT_CA,
				    .issuer_name = self ? NULL : issuer,
				    .path_len = -1,
				    .renew_before = 10 * DAY };

	snprintf(subject, sizeof(subject), "CN=%s.test", name);
	snprintf(dns, sizeof(dns), "%s.test", name);
	return kv_cert_create(kv, tcti, vault, name, &p, ret_version);
}

/* A pending version: the newest's policy, its issuer external. */
static int pending(struct kv *kv, const char *tcti, const char *vault, const char *name,
		   uint32_t *ret_version)
{
	struct kv_cert_info i = { 0 };
	struct kv_cert_policy p;
	int r;

	r = kv_cert_get(kv, vault, name, 0, &i);
	if (r < 0)
		return r;
	p = i.policy;
	p.issuer = KV_CERT_EXTERNAL;
	p.issuer_name = NULL;
	r = kv_cert_create(kv, tcti, vault, name, &p, ret_version);
	kv_cert_info_done(&i);
	return r;
}

int main(int argc, char **argv)
{
	_cleanup_config_ struct config *c = NULL;
	_cleanup_secbuf_ struct secbuf *in = NULL;
	struct kv *kv = NULL;
	uint32_t version = 0;
	const char *verb, *vault, *name;
	int r;

	r = mktool_open("mkcert", "VERB VAULT NAME [ARG...]", argc, argv, &c, &kv);
	if (r != 0)
		return r;
	verb = argv[3], vault = argv[4], name = argv[5];
	if (streq(verb, "root")) {
		struct kv_cert_policy p = ca_policy(name, NULL);

		r = kv_cert_create(kv, c->tcti, vault, name, &p, &version);
	} else if (streq(verb, "ca") && argc >= 7) {
		struct kv_cert_policy p = ca_policy(name, argv[6]);

		r = kv_cert_create(kv, c->tcti, vault, name, &p, &version);
	} else if (streq(verb, "leaf") && argc >= 7) {
		bool exportable = !(argc > 7 && streq(argv[7], "noexport"));
		long count = argc > 8 ? strtol(argv[8], NULL, 10) : 0;
		char each[VAULTFS_NAME_MAX + 1];

		r = count >= 0 && count < 1000 ? 0 : -EINVAL;
		if (r >= 0 && count == 0)
			r = leaf(kv, c->tcti, vault, name, argv[6], exportable, &version);
		for (long i = 1; r >= 0 && i <= count; i++) {
			snprintf(each, sizeof(each), "%.100s%03ld", name, i);
			r = leaf(kv, c->tcti, vault, each, argv[6], i % 3 != 0, &version);
		}
	} else if (streq(verb, "renew")) {
		long count = argc > 6 ? strtol(argv[6], NULL, 10) : 1;

		r = count > 0 ? 0 : -EINVAL;
		for (long i = 0; r >= 0 && i < count; i++)
			r = kv_cert_renew(kv, c->tcti, vault, name, &version);
	} else if (streq(verb, "pending")) {
		r = pending(kv, c->tcti, vault, name, &version);
	} else if (streq(verb, "import")) {
		r = mktool_read_stdin(&in);
		if (r >= 0)
			r = kv_cert_import(kv, vault, name, in->data, in->len, false, NULL, true,
					   &version);
	} else if (streq(verb, "disable") && argc >= 7) {
		struct kv_attrs a = KV_ATTRS_KEEP;

		a.enabled = 0;
		version = (uint32_t)strtoul(argv[6], NULL, 10);
		r = kv_object_update(kv, OBJECT_CERT, vault, name, version, &a);
	} else {
		r = -EINVAL;
	}
	kv_free(kv);
	if (r < 0) {
		fprintf(stderr, "mkcert: %s %s/%s: %s\n", verb, vault, name, strerror(-r));
		return 1;
	}
	printf("%u\n", version);
	return 0;
}
