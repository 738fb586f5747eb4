/* test-request-cert.c: unit tests for the certificate requests of core/request.h
 * (core/request-cert.c) over a real kv (a SQLite store in a temp dir of each test's own, a
 * random master key, no TPM) and a real audit journal, with the test caller of
 * request-fixture.h (an (op, path) table, uid 4242). Exact results and exact -errnos: the
 * per-op caps of request_parse; each verb's reply and record; the policy members refused before
 * anything is decided or recorded (SANs, IPs, usages, validity and its cap, issuers, renewal);
 * refusals by the policy: write on the certificate, `sign` on a vault CA's path for create and
 * renew, read for the key views, meta for crt and chain; a key view of a key that is not
 * exportable (EPERM); imports of PEM and PKCS#12 (the wrong password, a chain that does not
 * link, a key of no certificate, a PEM that is not one); merge and csr of a pending version;
 * the lifecycle verbs, backup and restore (another kind's blob EMEDIUMTYPE). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/errtext.h"
#include "core/kv.h"
#include "core/limits.h"
#include "core/key-soft.h"
#include "core/key.h"
#include "core/request.h"
#include "core/secbuf.h"
#include "core/store.h"
#include "core/util.h"
#include "policy/policy.h"
#include "tests/unit/request-fixture.h"
#include "tests/unit/testlib.h"

/* cert-create of name with the extra members; the version made. */
static int64_t create(struct req_fixture *f, const char *name, const char *extra)
{
	char json[1024];
	struct json_object *r;
	int64_t v;

	snprintf(json, sizeof(json),
		 "{\"v\":1,\"op\":\"cert-create\",\"vault\":\"app\",\"name\":\"%s\"%s}", name,
		 extra);
	r = exec(f, json);
	if (!jbool(r, "ok"))
		fail_msg("%s: %s", json, json_object_to_json_string(r));
	v = jint(r, "version");
	json_object_put(r);
	return v;
}

/* A view of name (value bytes), asserted ok. */
static struct secbuf *view(struct req_fixture *f, const char *name, const char *v)
{
	char json[256];
	struct secbuf *out = NULL;
	struct json_object *r;

	snprintf(
		json, sizeof(json),
		"{\"v\":1,\"op\":\"cert-export\",\"vault\":\"app\",\"name\":\"%s\",\"view\":\"%s\"}",
		name, v);
	r = exec_v(f, json, NULL, 0, &out);
	reply_ok(r, 4);
	assert_non_null(out);
	assert_int_equal(jint(r, "value_len"), out->len);
	json_object_put(r);
	return out;
}

static void err_v(struct req_fixture *f, const char *json, const void *in, size_t n, int e,
		  const char *error)
{
	struct secbuf *out = NULL;

	reply_err(exec_v(f, json, in, n, &out), e, error);
	assert_null(out);
}

/* --- tests --- */

static void test_parse_caps(void **state)
{
	static const struct {
		const char *op;
		uint64_t max;
	} caps[] = {
		{ "cert-import", X509_INPUT_MAX + X509_PASSWORD_MAX },
		{ "cert-merge", X509_INPUT_MAX },
		{ "cert-restore", VAULTFS_BACKUP_MAX },
		{ "cert-create", 0 },
		{ "cert-export", 0 },
		{ "cert-csr", 0 },
	};
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(caps); i++)
		expect_parse_cap(caps[i].op, caps[i].max);
}

static void test_malformed(void **state)
{
	static const struct {
		const char *members;
		int e;
		const char *error;
	} bad[] = {
		{ "", EINVAL, "a certificate needs a \"subject\" or at least one of \"sans\"" },
		{ ",\"subject\":\"CN=x\",\"sans\":[{\"dns\":\"\"}]", EINVAL,
		  "\"sans\"[0]: an empty dns name" },
		{ ",\"subject\":\"CN=x\",\"sans\":[{\"dns\":\"a.example\"},{\"ip\":\"1.2.3\"}]",
		  EINVAL, "\"sans\"[1]: \"1.2.3\" is not an IPv4 or IPv6 address" },
		{ ",\"subject\":\"CN=x\",\"sans\":[{\"ip\":\"::g\"}]", EINVAL,
		  "\"sans\"[0]: \"::g\" is not an IPv4 or IPv6 address" },
		{ ",\"subject\":\"CN=x\",\"sans\":[{\"dns\":\"a b\"}]", EINVAL,
		  "\"sans\"[0]: \"a b\" is not a DNS name (letters, digits, '-', '.', a leading "
		  "\"*.\"; at most 253 bytes)" },
		{ ",\"subject\":\"CN=x\",\"sans\":[{\"email\":\"nobody\"}]", EINVAL,
		  "\"sans\"[0]: \"nobody\" is not an email address" },
		{ ",\"subject\":\"CN=x\",\"sans\":[{\"uri\":\"nothing\"}]", EINVAL,
		  "\"sans\"[0]: \"nothing\" is not a URI (scheme:...)" },
		{ ",\"subject\":\"CN=x\",\"sans\":[{\"fqdn\":\"a\"}]", EINVAL,
		  "\"sans\"[0]: unknown kind \"fqdn\" (dns, ip, email, uri)" },
		{ ",\"subject\":\"CN=x\",\"sans\":[{\"dns\":\"a\",\"ip\":\"1.2.3.4\"}]", EINVAL,
		  "\"sans\"[0] must be one of {\"dns\": ...}, {\"ip\": ...}, {\"email\": ...}, "
		  "{\"uri\": ...}" },
		{ ",\"subject\":\"CN=x\",\"sans\":\"dns:a\"", EINVAL,
		  "\"sans\" must be an array of at most 256 objects such as {\"dns\": "
		  "\"www.example\"}" },
		{ ",\"subject\":\"CN=x\",\"key_usage\":\"digitalSignature,signEverything\"", EINVAL,
		  "\"key_usage\": an unknown usage in \"digitalSignature,signEverything\" "
		  "(digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment, "
		  "keyAgreement, keyCertSign, cRLSign)" },
		{ ",\"subject\":\"CN=x\",\"ext_key_usage\":\"webAuth\"", EINVAL,
		  "\"ext_key_usage\": an unknown usage in \"webAuth\" (serverAuth, clientAuth, "
		  "codeSigning, emailProtection, timeStamping, OCSPSigning)" },
		{ ",\"subject\":\"CN=x\",\"key_usage\":\"keyCertSign\"", EINVAL,
		  "\"key_usage\": keyCertSign and cRLSign are a CA's (\"is_ca\": true)" },
		{ ",\"subject\":\"CN=x\",\"validity\":0", EINVAL,
		  "\"validity\" must be 1 to 3153600000 seconds (36500 days)" },
		{ ",\"subject\":\"CN=x\",\"validity\":-5", EINVAL,
		  "\"validity\" must be 1 to 3153600000 seconds (36500 days)" },
		{ ",\"subject\":\"CN=x\",\"validity\":3153600001", EINVAL,
		  "\"validity\" must be 1 to 3153600000 seconds (36500 days)" },
		{ ",\"subject\":\"CN=x\",\"validity\":\"90d\"", EINVAL,
		  "\"validity\" must be an integer" },
		{ ",\"subject\":\"CN=x\",\"key_type\":\"aes-256\"", EINVAL,
		  "\"key_type\": \"aes-256\" is not a certificate's key type (rsa-2048, rsa-3072, "
		  "rsa-4096, ec-p256, ec-p384, ec-p521, ed25519)" },
		{ ",\"subject\":\"CN=x\",\"protection\":\"hsm\"", EINVAL,
		  "\"protection\" must be \"software\" or \"tpm\"" },
		{ ",\"subject\":\"CN=x\",\"protection\":\"tpm\",\"exportable\":true", EINVAL,
		  "\"exportable\": a TPM key's private half never leaves the TPM" },
		{ ",\"subject\":\"CN=x\",\"protection\":\"tpm\",\"key_type\":\"ed25519\"",
		  EOPNOTSUPP, "a TPM key is RSA 2048/3072 or EC P-256/P-384, not ed25519" },
		{ ",\"subject\":\"CN=x\",\"issuer\":\"app\"", EINVAL,
		  "\"issuer\" must be \"self\", \"external\", \"acme\" or a vault CA "
		  "\"VAULT/NAME\", not \"app\"" },
		{ ",\"subject\":\"CN=x\",\"issuer\":\"app/../x\"", EINVAL,
		  "\"issuer\" must be \"self\", \"external\", \"acme\" or a vault CA "
		  "\"VAULT/NAME\", not \"app/../x\"" },
		{ ",\"subject\":\"CN=x\",\"path_len\":1", EINVAL,
		  "\"path_len\" is for a CA (\"is_ca\": true)" },
		{ ",\"subject\":\"CN=x\",\"renew_before\":86400,\"renew_percent\":50", EINVAL,
		  "\"renew_before\" or \"renew_percent\", not both" },
		{ ",\"subject\":\"CN=x\",\"renew_percent\":100", EINVAL,
		  "\"renew_percent\" out of range (0..99)" },
		{ ",\"subject\":\"CN=x\",\"validity\":3600,\"renew_before\":3600", EINVAL,
		  "\"renew_before\" must be shorter than \"validity\"" },
		{ ",\"subject\":\"CN=x\",\"color\":\"red\"", EINVAL,
		  "unknown member \"color\" for op \"cert-create\"" },
		{ ",\"subject\":\"CN=x\",\"enabled\":false", EINVAL,
		  "unknown member \"enabled\" for op \"cert-create\"" },
	};
	struct req_fixture *f = *state;
	size_t records;

	make_vault(f);
	records = journal_count(f->journal);
	f->authorized = 0;
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char json[1024];

		snprintf(json, sizeof(json),
			 "{\"v\":1,\"op\":\"cert-create\",\"vault\":\"app\",\"name\":\"c\"%s}",
			 bad[i].members);
		exec_err(f, json, bad[i].e, bad[i].error);
	}
	/* a bad request decides nothing and records nothing */
	assert_int_equal(f->authorized, 0);
	assert_int_equal(journal_count(f->journal), records);
	/* a subject OpenSSL cannot make: decided, recorded, refused by kv */
	exec_err(f, REQ("cert-create", ",\"name\":\"c\",\"subject\":\"XX=nothing\""), EINVAL,
		 "the policy's subject or a SAN cannot be in a certificate (subject in RFC 4514: "
		 "\"CN=www.example,O=Example\"; attributes CN O OU C ST L DC emailAddress "
		 "serialNumber)");
	expect_record(f, 0, "cert-create", EINVAL, "allow-all", "app", "c", 0, "/app/c");
	/* a TPM key with no TPM named */
	exec_err(f,
		 REQ("cert-create", ",\"name\":\"c\",\"subject\":\"CN=x\",\"protection\":\"tpm\""),
		 ENODEV, "no TPM for keys here ([seal] tcti)");
	/* export's view, import's format */
	exec_err(f, REQ("cert-export", ",\"name\":\"c\",\"view\":\"der\""), EINVAL,
		 "\"view\" must be crt, chain, key, pem or p12");
	err_v(f, REQ("cert-import", ",\"name\":\"c\",\"format\":\"jks\""), "x", 1, EINVAL,
	      "\"format\" must be \"pem\" or \"p12\"");
	err_v(f, REQ("cert-import", ",\"name\":\"c\",\"password_len\":4"), "ab", 2, EINVAL,
	      "\"password_len\" is longer than the value bytes (2)");
	err_v(f, REQ("cert-import", ",\"name\":\"c\",\"password_len\":2"), "ab", 2, EINVAL,
	      "nothing to import: the value bytes are a PEM (key and certificates) or a PKCS#12");
	err_v(f, REQ("cert-import", ",\"name\":\"c\",\"password_len\":1,\"format\":\"pem\""),
	      "x-----BEGIN", 11, EINVAL,
	      "\"password_len\": only a PKCS#12 takes a password (decrypt an encrypted PEM key "
	      "first: openssl pkey)");
	err_v(f, REQ("cert-merge", ",\"name\":\"c\""), "", 0, EINVAL,
	      "nothing to merge: the value bytes are the chain (PEM or DER)");
}

/* A root, an intermediate under it, a leaf from the intermediate: replies, records, views. */
static void test_issue_chain(void **state)
{
	struct req_fixture *f = *state;
	struct json_object *r, *p, *arr;
	struct secbuf *crt, *chain;

	make_vault(f);
	r = exec(f, REQ("cert-create", ",\"name\":\"root\",\"subject\":\"CN=Root\",\"is_ca\":true,"
				       "\"validity\":315360000"));
	reply_ok(r, 5);
	assert_int_equal(jint(r, "version"), 1);
	assert_false(jbool(r, "pending"));
	assert_true(strlen(jstr(r, "serial")) >= 16); /* at least 64 random bits */
	json_object_put(r);
	/* a change is recorded before it is made: no version yet */
	expect_record(f, 0, "cert-create", 0, "allow-all", "app", "root", 0, "/app/root");
	assert_int_equal(create(f, "inter",
				",\"subject\":\"CN=Inter\",\"is_ca\":true,\"path_len\":0,"
				"\"issuer\":\"app/root\""),
			 1);
	assert_int_equal(create(f, "leaf",
				",\"subject\":\"CN=www.example\",\"issuer\":\"app/inter\","
				"\"sans\":[{\"dns\":\"www.example\"},{\"ip\":\"127.0.0.1\"},"
				"{\"email\":\"a@b.example\"},{\"uri\":\"spiffe://x/y\"}],"
				"\"validity\":7776000,\"exportable\":true"),
			 1);
	/* an intermediate of path length 0 issues no CA */
	exec_err(f,
		 REQ("cert-create", ",\"name\":\"sub\",\"subject\":\"CN=Sub\",\"is_ca\":true,"
				    "\"issuer\":\"app/inter\""),
		 EPERM,
		 "app/inter cannot issue this: it is not a CA, or its path length leaves no room "
		 "for a CA below it");
	exec_err(f,
		 REQ("cert-create", ",\"name\":\"x\",\"subject\":\"CN=x\",\"issuer\":\"app/leaf\""),
		 EPERM,
		 "app/leaf cannot issue this: it is not a CA, or its path length leaves no room "
		 "for a CA below it");
	exec_err(f,
		 REQ("cert-create", ",\"name\":\"x\",\"subject\":\"CN=x\",\"issuer\":\"app/none\""),
		 ENOENT, "the issuer app/none: no such certificate");

	/* show: the version, what the leaf says, the policy */
	r = exec(f, REQ("cert-show", ",\"name\":\"leaf\""));
	assert_true(jbool(r, "ok"));
	assert_string_equal(jstr(r, "name"), "leaf");
	assert_int_equal(jint(r, "version"), 1);
	assert_int_equal(jint(r, "current_version"), 1);
	assert_false(jbool(r, "pending"));
	assert_string_equal(jstr(r, "source"), "vault-ca");
	assert_string_equal(jstr(r, "subject"), "CN=www.example");
	assert_string_equal(jstr(r, "issuer"), "CN=Inter");
	assert_string_equal(jstr(r, "key_type"), "ec-p256");
	assert_string_equal(jstr(r, "protection"), "software");
	assert_true(jbool(r, "exportable"));
	assert_true(jbool(r, "enabled"));
	assert_false(jhas(r, "size"));
	p = jget(r, "policy");
	assert_string_equal(jstr(p, "issuer"), "app/inter");
	assert_string_equal(jstr(p, "key_usage"), "digitalSignature");
	assert_string_equal(jstr(p, "ext_key_usage"), "serverAuth,clientAuth");
	assert_int_equal(jint(p, "validity"), 7776000);
	assert_int_equal(jint(p, "renew_percent"), 80);
	assert_int_equal(json_object_array_length(jarr(p, "sans")), 4);
	assert_string_equal(jstr(json_object_array_get_idx(jarr(p, "sans"), 3), "uri"),
			    "spiffe://x/y");
	json_object_put(r);
	expect_record(f, 0, "cert-show", 0, "allow-all", "app", "leaf", 1, "/app/leaf");
	r = exec(f, REQ("cert-show", ",\"name\":\"root\""));
	p = jget(r, "policy");
	assert_true(jbool(p, "is_ca"));
	assert_string_equal(jstr(p, "key_usage"), "digitalSignature,keyCertSign,cRLSign");
	assert_string_equal(jstr(p, "ext_key_usage"), "");
	assert_int_equal(jint(p, "renew_percent"), 0); /* a CA renews by hand */
	json_object_put(r);

	/* views: crt is leaf + intermediate, chain is intermediate + root */
	crt = view(f, "leaf", "crt");
	chain = view(f, "leaf", "chain");
	assert_non_null(memmem(crt->data, crt->len, "-----BEGIN CERTIFICATE-----", 27));
	assert_int_equal(crt->data[crt->len], '\0');
	{
		size_t n = 0, m = 0;

		for (const char *s = (const char *)crt->data; (s = strstr(s, "BEGIN CERT")); s++)
			n++;
		for (const char *s = (const char *)chain->data; (s = strstr(s, "BEGIN CERT")); s++)
			m++;
		assert_int_equal(n, 2);
		assert_int_equal(m, 2);
	}
	expect_record(f, 0, "cert-export-chain", 0, "allow-all", "app", "leaf", 1, "/app/leaf");
	secbuf_free(crt);
	secbuf_free(chain);

	/* list and versions */
	r = exec(f, REQ("cert-list", ""));
	arr = jarr(r, "certificates");
	assert_int_equal(json_object_array_length(arr), 3);
	assert_string_equal(jstr(json_object_array_get_idx(arr, 0), "name"), "inter");
	assert_string_equal(jstr(json_object_array_get_idx(arr, 1), "name"), "leaf");
	json_object_put(r);
	hide(f, "/app/inter");
	r = exec(f, REQ("cert-list", ""));
	assert_int_equal(json_object_array_length(jarr(r, "certificates")), 2);
	json_object_put(r);
	expect_record(f, 0, "cert-list", 0, "allow-all", "app", NULL, 0, "/app");

	/* renew: a new serial, the version named */
	r = exec(f, REQ("cert-renew", ",\"name\":\"leaf\""));
	reply_ok(r, 5);
	assert_int_equal(jint(r, "version"), 2);
	json_object_put(r);
	expect_record(f, 0, "cert-renew", 0, "allow-all", "app", "leaf", 0, "/app/leaf");
	r = exec(f, REQ("cert-versions", ",\"name\":\"leaf\""));
	arr = jarr(r, "versions");
	assert_int_equal(json_object_array_length(arr), 2);
	assert_string_not_equal(jstr(json_object_array_get_idx(arr, 0), "serial"),
				jstr(json_object_array_get_idx(arr, 1), "serial"));
	assert_false(jhas(json_object_array_get_idx(arr, 0), "size"));
	json_object_put(r);
}

/* The policy's refusals, each recorded: write, sign on the CA, read and meta for the views. */
static void test_policy(void **state)
{
	struct req_fixture *f = *state;
	struct secbuf *out = NULL;
	struct json_object *r;
	unsigned before;

	make_vault(f);
	create(f, "root", ",\"subject\":\"CN=Root\",\"is_ca\":true");
	create(f, "leaf", ",\"subject\":\"CN=leaf\",\"issuer\":\"app/root\"");
	create(f, "exp", ",\"subject\":\"CN=exp\",\"exportable\":true");

	/* write on the certificate */
	deny(f, "write", "/app/c", "no-write");
	exec_err(f, REQ("cert-create", ",\"name\":\"c\",\"subject\":\"CN=c\""), EACCES,
		 "permission denied: the policy does not grant write on /app/c");
	expect_record(f, 0, "cert-create", EACCES, "no-write", "app", "c", 0, "/app/c");
	allow_all(f);

	/* sign on the CA, for create and renew, decided for the asker */
	deny(f, "sign", "/app/root", "no-sign");
	before = f->authorized;
	exec_err(f,
		 REQ("cert-create", ",\"name\":\"c\",\"subject\":\"CN=c\",\"issuer\":\"app/root\""),
		 EACCES, "permission denied: the policy does not grant sign on /app/root");
	assert_int_equal(f->authorized - before, 2); /* write on /app/c, then sign */
	expect_record(f, 0, "cert-create", EACCES, "no-sign", "app", "c", 0, "/app/c");
	exec_err(f, REQ("cert-renew", ",\"name\":\"leaf\""), EACCES,
		 "permission denied: the policy does not grant sign on /app/root");
	expect_record(f, 0, "cert-renew", EACCES, "no-sign", "app", "leaf", 0, "/app/leaf");
	/* a self-signed one needs no sign anywhere */
	before = f->authorized;
	r = exec(f, REQ("cert-renew", ",\"name\":\"exp\""));
	reply_ok(r, 5);
	json_object_put(r);
	assert_int_equal(f->authorized - before, 1);
	/* granted: the record names the rule of write */
	allow_all(f);
	r = exec(f, REQ("cert-renew", ",\"name\":\"leaf\""));
	reply_ok(r, 5);
	json_object_put(r);
	expect_record(f, 0, "cert-renew", 0, "allow-all", "app", "leaf", 0, "/app/leaf");

	/* views: key, pem, p12 are read; crt and chain are meta */
	deny(f, "read", "/app/exp", "no-read");
	r = exec_v(f, REQ("cert-export", ",\"name\":\"exp\",\"view\":\"crt\""), NULL, 0, &out);
	reply_ok(r, 4);
	json_object_put(r);
	secbuf_free(TAKE_PTR(out));
	err_v(f, REQ("cert-export", ",\"name\":\"exp\",\"view\":\"key\""), NULL, 0, EACCES,
	      "permission denied: the policy does not grant read on /app/exp");
	expect_record(f, 0, "cert-export-key", EACCES, "no-read", "app", "exp", 0, "/app/exp");
	err_v(f, REQ("cert-export", ",\"name\":\"exp\",\"view\":\"p12\""), NULL, 0, EACCES,
	      "permission denied: the policy does not grant read on /app/exp");
	deny(f, "meta", "/app/exp", "no-meta");
	err_v(f, REQ("cert-export", ",\"name\":\"exp\",\"view\":\"chain\""), NULL, 0, EACCES,
	      "permission denied: the policy does not grant meta on /app/exp");
	exec_err(f, REQ("cert-show", ",\"name\":\"exp\""), EACCES,
		 "permission denied: the policy does not grant meta on /app/exp");
	allow_all(f);
	/* a key that is not exportable has no key views, for anyone */
	err_v(f, REQ("cert-export", ",\"name\":\"leaf\",\"view\":\"key\""), NULL, 0, EPERM,
	      "the certificate's private key is not exportable: it has no key, pem or p12 view "
	      "(only crt and chain)");
	expect_record(f, 0, "cert-export-key", EPERM, "allow-all", "app", "leaf", 2, "/app/leaf");
	err_v(f, REQ("cert-export", ",\"name\":\"leaf\",\"view\":\"pem\""), NULL, 0, EPERM, NULL);
	err_v(f, REQ("cert-export", ",\"name\":\"leaf\",\"view\":\"p12\""), NULL, 0, EPERM, NULL);
	out = view(f, "exp", "key");
	assert_non_null(memmem(out->data, out->len, "-----BEGIN PRIVATE KEY-----", 27));
	secbuf_free(out);
	/* never a key in the journal */
	{
		FILE *j = fopen(f->journal, "r");
		char line[4096];

		assert_non_null(j);
		while (fgets(line, sizeof(line), j))
			assert_null(strstr(line, "PRIVATE"));
		fclose(j);
	}
	/* backup needs manage on the vault too */
	deny(f, "manage", "/app", "no-manage");
	err_v(f, REQ("cert-backup", ",\"name\":\"exp\""), NULL, 0, EACCES,
	      "permission denied: the policy does not grant manage on /app");
	allow_all(f);
}

/* Imports: PEM in any order, PKCS#12 under a password, and what is refused. */
static void test_import(void **state)
{
	struct req_fixture *f = *state;
	struct secbuf *pem, *p12, *other, *in;
	struct json_object *r;
	uint8_t buf[16384];
	size_t n;

	make_vault(f);
	create(f, "root", ",\"subject\":\"CN=Root\",\"is_ca\":true");
	create(f, "src", ",\"subject\":\"CN=src\",\"issuer\":\"app/root\",\"exportable\":true");
	create(f, "other", ",\"subject\":\"CN=other\",\"exportable\":true");
	pem = view(f, "src", "pem");	 /* key, leaf, root left out */
	p12 = view(f, "src", "p12");	 /* empty password */
	other = view(f, "other", "crt"); /* a self-signed one of another key */

	/* the chain in the wrong order: root first, then key, then the leaf */
	in = view(f, "root", "crt");
	n = 0;
	memcpy(buf, in->data, in->len), n += in->len;
	memcpy(buf + n, pem->data, pem->len), n += pem->len;
	secbuf_free(in);
	r = exec_v(f, REQ("cert-import", ",\"name\":\"imp\""), buf, n, NULL);
	reply_ok(r, 5);
	assert_int_equal(jint(r, "version"), 1);
	json_object_put(r);
	expect_record(f, 0, "cert-import", 0, "allow-all", "app", "imp", 0, "/app/imp");
	r = exec(f, REQ("cert-show", ",\"name\":\"imp\""));
	assert_string_equal(jstr(r, "source"), "imported");
	assert_false(jbool(r, "exportable"));
	assert_string_equal(jstr(jget(r, "policy"), "issuer"), "external");
	json_object_put(r);
	in = view(f, "imp", "chain");
	assert_non_null(strstr((const char *)in->data, "BEGIN CERTIFICATE"));
	secbuf_free(in);

	/* PKCS#12: no password (password_len absent), format found from the bytes */
	r = exec_v(f, REQ("cert-import", ",\"name\":\"p\",\"exportable\":true"), p12->data,
		   p12->len, NULL);
	reply_ok(r, 5);
	json_object_put(r);
	/* the wrong password */
	memcpy(buf, "wrong", 5);
	memcpy(buf + 5, p12->data, p12->len);
	err_v(f, REQ("cert-import", ",\"name\":\"p2\",\"password_len\":5"), buf, 5 + p12->len,
	      ENOKEY, "the PKCS#12 does not open with this password");
	expect_record(f, 0, "cert-import", ENOKEY, "allow-all", "app", "p2", 0, "/app/p2");
	/* bytes that are no PKCS#12 */
	err_v(f, REQ("cert-import", ",\"name\":\"p2\",\"format\":\"p12\""), "\x30\x03\x02\x01\x00",
	      5, EINVAL, NULL);

	/* a chain that does not link: the leaf's key and certificate, and another's */
	n = 0;
	memcpy(buf, pem->data, pem->len), n += pem->len;
	memcpy(buf + n, other->data, other->len), n += other->len;
	err_v(f, REQ("cert-import", ",\"name\":\"b\""), buf, n, EBADMSG,
	      "the certificates do not form a chain, each signed by the next: 'CN=other' does "
	      "not belong to the chain");
	/* a key of no certificate in the bundle */
	{
		const char *k = strstr((const char *)pem->data, "-----END PRIVATE KEY-----");

		n = (size_t)(k - (const char *)pem->data) + 26;
		memcpy(buf, pem->data, n);
		memcpy(buf + n, other->data, other->len), n += other->len;
	}
	err_v(f, REQ("cert-import", ",\"name\":\"b\""), buf, n, EKEYREJECTED, NULL);
	/* a PEM that is not a certificate */
	err_v(f, REQ("cert-import", ",\"name\":\"b\""),
	      "-----BEGIN JUNK-----\nAA==\n-----END JUNK-----\n", 44, EINVAL, NULL);
	err_v(f, REQ("cert-import", ",\"name\":\"b\""), "hello", 5, EINVAL,
	      "not a PEM of one private key (PKCS#1, SEC1 or PKCS#8) and its certificates: no "
	      "private key");
	secbuf_free(pem);
	secbuf_free(p12);
	secbuf_free(other);
}

/* external: a pending version, its CSR, merge refusals. */
static void test_external(void **state)
{
	struct req_fixture *f = *state;
	struct secbuf *out = NULL, *crt;
	struct json_object *r;

	make_vault(f);
	r = exec(f, REQ("cert-create",
			",\"name\":\"e\",\"subject\":\"CN=e\",\"issuer\":\"external\""));
	reply_ok(r, 4); /* version, pending: no serial */
	assert_true(jbool(r, "pending"));
	json_object_put(r);
	r = exec(f, REQ("cert-show", ",\"name\":\"e\""));
	assert_true(jbool(r, "pending"));
	assert_false(jhas(r, "serial"));
	assert_int_equal(jint(jget(r, "policy"), "renew_percent"), 0);
	json_object_put(r);
	r = exec_v(f, REQ("cert-csr", ",\"name\":\"e\""), NULL, 0, &out);
	reply_ok(r, 4);
	assert_int_equal(jint(r, "version"), 1);
	assert_non_null(strstr((const char *)out->data, "-----BEGIN CERTIFICATE REQUEST-----"));
	json_object_put(r);
	secbuf_free(TAKE_PTR(out));
	expect_record(f, 0, "cert-csr", 0, "allow-all", "app", "e", 1, "/app/e");
	/* a pending version has no views */
	err_v(f, REQ("cert-export", ",\"name\":\"e\",\"version\":1"), NULL, 0, ENOENT,
	      "version 1 is pending (a CSR waiting for cert merge): it has no certificate yet");
	/* merge: not a chain; a chain of another key */
	err_v(f, REQ("cert-merge", ",\"name\":\"e\""), "hello", 5, EINVAL, NULL);
	create(f, "o", ",\"subject\":\"CN=o\"");
	crt = view(f, "o", "crt");
	err_v(f, REQ("cert-merge", ",\"name\":\"e\""), crt->data, crt->len, EKEYREJECTED, NULL);
	expect_record(f, 0, "cert-merge", EKEYREJECTED, "allow-all", "app", "e", 0, "/app/e");
	/* nothing pending: an issued one */
	err_v(f, REQ("cert-merge", ",\"name\":\"o\""), crt->data, crt->len, EALREADY,
	      "no pending version to merge into (cert create --issuer external, or a renewal of "
	      "one, makes it)");
	err_v(f, REQ("cert-csr", ",\"name\":\"o\""), NULL, 0, ENOENT,
	      "version 1 is issued, not pending: only a pending version has a CSR (cert create "
	      "--issuer external, or cert renew of one)");
	secbuf_free(crt);
}

/* update, delete, recover, purge, backup, restore; reuse_key keeps the key. */
static void test_lifecycle(void **state)
{
	struct req_fixture *f = *state;
	struct secbuf *blob = NULL, *a, *b;
	struct json_object *r;

	make_vault(f);
	create(f, "c", ",\"subject\":\"CN=c\",\"reuse_key\":true,\"key_type\":\"rsa-2048\"");
	a = view(f, "c", "crt");
	r = exec(f, REQ("cert-renew", ",\"name\":\"c\""));
	reply_ok(r, 5);
	json_object_put(r);
	r = exec(f, REQ("cert-show", ",\"name\":\"c\""));
	assert_string_equal(jstr(jget(r, "policy"), "key_usage"),
			    "digitalSignature,keyEncipherment");
	json_object_put(r);
	{
		struct kv_cert_info i1 = {}, i2 = {};

		assert_int_equal(kv_cert_get(f->kv, "app", "c", 1, &i1), 0);
		assert_int_equal(kv_cert_get(f->kv, "app", "c", 2, &i2), 0);
		assert_int_equal(i1.spki_len, i2.spki_len);
		assert_memory_equal(i1.spki, i2.spki, i1.spki_len);
		assert_string_not_equal(i1.serial, i2.serial);
		kv_cert_info_done(&i1);
		kv_cert_info_done(&i2);
	}
	b = view(f, "c", "crt");
	assert_true(a->len != b->len || memcmp(a->data, b->data, a->len) != 0);
	secbuf_free(a);
	secbuf_free(b);

	r = exec(f, REQ("cert-update", ",\"name\":\"c\",\"version\":1,\"enabled\":false,"
				       "\"tags\":[\"env=prod\"]"));
	reply_ok(r, 2);
	json_object_put(r);
	expect_record(f, 0, "cert-update", 0, "allow-all", "app", "c", 1, "/app/c");
	err_v(f, REQ("cert-export", ",\"name\":\"c\",\"version\":1"), NULL, 0, EKEYREVOKED, NULL);
	r = exec(f, REQ("cert-show", ",\"name\":\"c\",\"version\":1"));
	assert_false(jbool(r, "enabled"));
	assert_string_equal(jstr(jget(r, "tags"), "env"), "prod");
	json_object_put(r);

	r = exec_v(f, REQ("cert-backup", ",\"name\":\"c\""), NULL, 0, &blob);
	reply_ok(r, 3);
	json_object_put(r);
	expect_record(f, 0, "cert-backup", 0, "allow-all", "app", "c", 0, "/app/c");
	r = exec(f, REQ("cert-delete", ",\"name\":\"c\""));
	reply_ok(r, 2);
	json_object_put(r);
	exec_err(f, REQ("cert-show", ",\"name\":\"c\""), ENOENT, NULL);
	r = exec(f, REQ("cert-list", ",\"deleted\":true"));
	assert_int_equal(json_object_array_length(jarr(r, "certificates")), 1);
	json_object_put(r);
	r = exec(f, REQ("cert-recover", ",\"name\":\"c\""));
	reply_ok(r, 2);
	json_object_put(r);
	r = exec(f, REQ("cert-delete", ",\"name\":\"c\""));
	json_object_put(r);
	r = exec(f, REQ("cert-purge", ",\"name\":\"c\""));
	reply_ok(r, 2);
	json_object_put(r);
	expect_record(f, 0, "cert-purge", 0, "allow-all", "app", "c", 0, "/app/c");
	r = exec_v(f, REQ("cert-restore", ""), blob->data, blob->len, NULL);
	reply_ok(r, 3);
	assert_string_equal(jstr(r, "name"), "c");
	json_object_put(r);
	expect_record(f, 0, "cert-restore", 0, "allow-all", "app", "c", 0, "/app/c");
	secbuf_free(blob);
	r = exec(f, REQ("cert-versions", ",\"name\":\"c\""));
	assert_int_equal(json_object_array_length(jarr(r, "versions")), 2);
	json_object_put(r);
	/* a secret's blob is not a certificate's */
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-set\",\"vault\":\"app\",\"name\":\"s\"}", "x", 1,
		   NULL);
	json_object_put(r);
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-backup\",\"vault\":\"app\",\"name\":\"s\"}", NULL,
		   0, &blob);
	json_object_put(r);
	err_v(f, REQ("cert-restore", ""), blob->data, blob->len, EMEDIUMTYPE,
	      "the blob is a backup of a secret, not of a certificate (vaultctl secret restore)");
	expect_record(f, 0, "cert-restore", EMEDIUMTYPE, NULL, "app", NULL, 0, "/app");
	secbuf_free(blob);
	/* a secret is no certificate, and its name is taken */
	exec_err(f, REQ("cert-show", ",\"name\":\"s\""), ENOENT, NULL);
	exec_err(f, REQ("cert-create", ",\"name\":\"s\",\"subject\":\"CN=s\""), EEXIST, NULL);
	(void)jcount;
}

/* Without a subject: CN is the first dns or ip SAN, and the renewal makes it again; "" asks
 * for none. */
static void test_sans_only(void **state)
{
	struct req_fixture *f = *state;
	struct json_object *r;

	make_vault(f);
	create(f, "s", ",\"sans\":[{\"email\":\"a@b.example\"},{\"dns\":\"s.example\"}]");
	r = exec(f, REQ("cert-renew", ",\"name\":\"s\""));
	reply_ok(r, 5);
	json_object_put(r);
	r = exec(f, REQ("cert-show", ",\"name\":\"s\""));
	assert_int_equal(jint(r, "version"), 2);
	assert_string_equal(jstr(r, "subject"), "CN=s.example");
	assert_string_equal(jstr(jget(r, "policy"), "subject"), "CN=s.example");
	json_object_put(r);
	create(f, "n", ",\"subject\":\"\",\"sans\":[{\"ip\":\"192.0.2.1\"}]");
	r = exec(f, REQ("cert-show", ",\"name\":\"n\""));
	assert_string_equal(jstr(r, "subject"), "");
	json_object_put(r);
}

/* get-policy, update-policy (sign on a CA it names), ACME's members, the renewal state in show
 * and cert-failing. */
static void test_next_policy(void **state)
{
	struct req_fixture *f = *state;
	struct json_object *r, *p, *arr;
	unsigned before;

	make_vault(f);
	create(f, "root", ",\"subject\":\"CN=Root\",\"is_ca\":true");
	create(f, "c", ",\"subject\":\"CN=c\",\"validity\":86400");
	r = exec(f, REQ("cert-get-policy", ",\"name\":\"c\""));
	reply_ok(r, 3);
	p = jget(r, "policy");
	assert_string_equal(jstr(p, "subject"), "CN=c");
	assert_string_equal(jstr(p, "issuer"), "self");
	assert_int_equal(jint(p, "validity"), 86400);
	json_object_put(r);
	expect_record(f, 0, "cert-get-policy", 0, "allow-all", "app", "c", 0, "/app/c");

	/* the members given replace, the rest stays; the next version is made by it */
	r = exec(f, REQ("cert-update-policy", ",\"name\":\"c\",\"subject\":\"CN=new\","
					      "\"sans\":[{\"dns\":\"new.example\"}]"));
	reply_ok(r, 2);
	json_object_put(r);
	expect_record(f, 0, "cert-update-policy", 0, "allow-all", "app", "c", 0, "/app/c");
	r = exec(f, REQ("cert-get-policy", ",\"name\":\"c\""));
	p = jget(r, "policy");
	assert_string_equal(jstr(p, "subject"), "CN=new");
	assert_int_equal(jint(p, "validity"), 86400);
	assert_string_equal(jstr(json_object_array_get_idx(jarr(p, "sans"), 0), "dns"),
			    "new.example");
	json_object_put(r);
	/* the version made before keeps its own */
	r = exec(f, REQ("cert-show", ",\"name\":\"c\""));
	assert_string_equal(jstr(r, "subject"), "CN=c");
	assert_string_equal(jstr(jget(r, "policy"), "subject"), "CN=new");
	json_object_put(r);
	r = exec(f, REQ("cert-renew", ",\"name\":\"c\""));
	reply_ok(r, 5);
	json_object_put(r);
	r = exec(f, REQ("cert-show", ",\"name\":\"c\""));
	assert_int_equal(jint(r, "version"), 2);
	assert_string_equal(jstr(r, "subject"), "CN=new");
	json_object_put(r);

	/* naming a vault CA needs sign on it, decided for the asker; a bad member decides
	 * nothing */
	deny(f, "sign", "/app/root", "no-sign");
	exec_err(f, REQ("cert-update-policy", ",\"name\":\"c\",\"issuer\":\"app/root\""), EACCES,
		 "permission denied: the policy does not grant sign on /app/root");
	expect_record(f, 0, "cert-update-policy", EACCES, "no-sign", "app", "c", 0, "/app/c");
	before = f->authorized;
	exec_err(f, REQ("cert-update-policy", ",\"name\":\"c\",\"validity\":0"), EINVAL,
		 "\"validity\" must be 1 to 3153600000 seconds (36500 days)");
	assert_int_equal(f->authorized, before);
	allow_all(f);
	r = exec(f, REQ("cert-update-policy", ",\"name\":\"c\",\"issuer\":\"app/root\""));
	reply_ok(r, 2);
	json_object_put(r);
	/* from then on a change of it needs sign too: the CA would issue what it says */
	deny(f, "sign", "/app/root", "no-sign");
	exec_err(f, REQ("cert-update-policy", ",\"name\":\"c\",\"sans\":[{\"dns\":\"x.example\"}]"),
		 EACCES, "permission denied: the policy does not grant sign on /app/root");
	allow_all(f);
	exec_err(f, REQ("cert-update-policy", ",\"name\":\"none\",\"subject\":\"CN=x\""), ENOENT,
		 NULL);
	expect_record(f, 0, "cert-update-policy", ENOENT, "allow-all", "app", "none", 0,
		      "/app/none");
	exec_err(f, REQ("cert-get-policy", ",\"name\":\"none\""), ENOENT, NULL);

	/* ACME's members */
	exec_err(f,
		 REQ("cert-create", ",\"name\":\"a\",\"subject\":\"CN=a\",\"issuer\":\"acme\","
				    "\"sans\":[{\"dns\":\"a.example\"}]"),
		 EINVAL,
		 "the issuer \"acme\" needs \"acme_directory\" (the ACME server's directory URL)");
	exec_err(f,
		 REQ("cert-create", ",\"name\":\"a\",\"subject\":\"CN=a\","
				    "\"acme_directory\":\"https://acme.example/dir\""),
		 EINVAL, "\"acme_directory\" is for the issuer \"acme\"");
	exec_err(f,
		 REQ("cert-create", ",\"name\":\"a\",\"issuer\":\"acme\","
				    "\"acme_directory\":\"ftp://acme.example/dir\","
				    "\"sans\":[{\"dns\":\"a.example\"}]"),
		 EINVAL,
		 "\"acme_directory\": an http:// or https:// URL, not \"ftp://acme.example/dir\"");
	exec_err(f,
		 REQ("cert-create",
		     ",\"name\":\"a\",\"issuer\":\"acme\","
		     "\"acme_directory\":\"https://acme.example/dir\","
		     "\"acme_contact\":\"nobody\",\"sans\":[{\"dns\":\"a.example\"}]"),
		 EINVAL, "\"acme_contact\": an email address, not \"nobody\"");
	exec_err(f,
		 REQ("cert-create", ",\"name\":\"a\",\"issuer\":\"acme\",\"subject\":\"CN=a\","
				    "\"acme_directory\":\"https://acme.example/dir\""),
		 EINVAL,
		 "the issuer \"acme\" needs at least one of \"sans\" (dns or ip: what the CA "
		 "validates)");
	exec_err(f,
		 REQ("cert-create", ",\"name\":\"a\",\"issuer\":\"acme\","
				    "\"acme_directory\":\"https://acme.example/dir\","
				    "\"sans\":[{\"email\":\"a@example.org\"}]"),
		 EINVAL, "\"sans\"[0]: an ACME CA validates dns and ip names only");
	r = exec(f, REQ("cert-create", ",\"name\":\"a\",\"issuer\":\"acme\","
				       "\"acme_directory\":\"https://127.0.0.1:14000/dir\","
				       "\"acme_contact\":\"ops@example.org\","
				       "\"sans\":[{\"dns\":\"a.example\"}]"));
	reply_ok(r, 4);
	assert_true(jbool(r, "pending"));
	json_object_put(r);
	r = exec(f, REQ("cert-get-policy", ",\"name\":\"a\""));
	p = jget(r, "policy");
	assert_string_equal(jstr(p, "issuer"), "acme");
	assert_string_equal(jstr(p, "acme_directory"), "https://127.0.0.1:14000/dir");
	assert_string_equal(jstr(p, "acme_contact"), "ops@example.org");
	assert_int_equal(jint(p, "renew_percent"), 80);
	json_object_put(r);

	/* the renewal state: none, then a failure recorded by the daemon's pass */
	r = exec(f, REQ("cert-show", ",\"name\":\"c\""));
	p = jget(r, "renewal");
	assert_int_equal(jint(p, "failures"), 0);
	assert_true(json_object_is_type(jget(p, "next_try"), json_type_null));
	json_object_put(r);
	assert_int_equal(kv_cert_renewal_failed(f->kv, "app", "c", -EKEYEXPIRED,
						"the issuer app/root has expired"),
			 0);
	r = exec(f, REQ("cert-show", ",\"name\":\"c\""));
	p = jget(r, "renewal");
	assert_int_equal(jint(p, "failures"), 1);
	assert_int_equal(jint(p, "last_errno"), EKEYEXPIRED);
	assert_string_equal(jstr(p, "last_error"), "the issuer app/root has expired");
	assert_true(json_object_is_type(jget(p, "next_try"), json_type_string));
	json_object_put(r);
	/* cert-failing: every vault, what the caller sees */
	r = exec(f, "{\"v\":1,\"op\":\"cert-failing\"}");
	reply_ok(r, 3);
	arr = jarr(r, "certificates");
	assert_int_equal(json_object_array_length(arr), 1);
	assert_string_equal(jstr(json_object_array_get_idx(arr, 0), "vault"), "app");
	assert_string_equal(jstr(json_object_array_get_idx(arr, 0), "name"), "c");
	assert_int_equal(jint(json_object_array_get_idx(arr, 0), "failures"), 1);
	json_object_put(r);
	expect_record(f, 0, "cert-failing", 0, NULL, NULL, NULL, 0, NULL);
	hide(f, "/app/c");
	r = exec(f, "{\"v\":1,\"op\":\"cert-failing\"}");
	assert_int_equal(json_object_array_length(jarr(r, "certificates")), 0);
	json_object_put(r);
	exec_err(f, "{\"v\":1,\"op\":\"cert-failing\",\"vault\":\"app\"}", EINVAL,
		 "unknown member \"vault\" for op \"cert-failing\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_caps),
		cmocka_unit_test_setup_teardown(test_malformed, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_issue_chain, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_policy, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_import, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_external, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_next_policy, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_sans_only, req_setup, req_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
