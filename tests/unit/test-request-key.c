/* test-request-key.c: unit tests for the key requests of core/request.h (core/request-key.c)
 * over a real kv (a SQLite store in a temp dir of each test's own, a random master key, no TPM)
 * and a real audit journal, with the test caller of request-fixture.h (an (op, path) table, uid
 * 4242). Exact results and exact -errnos: the per-op caps of request_parse; members refused
 * before anything is decided or recorded (types, protections, key_ops, algorithms, lengths,
 * the split of the value bytes); each use's reply (version, alg, the output bytes), its record
 * ("<op>-<alg>", the version used) and its refusal by the policy (EACCES, recorded); key_ops
 * (EPERM), a type that cannot use the algorithm (EOPNOTSUPP), rotation (the version a consuming
 * op names), expired and disabled versions; get-public in its three forms; backup and restore
 * (manage, a secret's or a certificate's blob EMEDIUMTYPE, said as such); key-list with its
 * kind and visibility; a TPM key with no TPM named (ENODEV). */
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

static void create(struct req_fixture *f, const char *name, const char *type, const char *extra)
{
	char json[512];
	struct json_object *r;

	snprintf(json, sizeof(json),
		 "{\"v\":1,\"op\":\"key-create\",\"vault\":\"app\",\"name\":\"%s\","
		 "\"type\":\"%s\"%s}",
		 name, type, extra);
	r = exec(f, json);
	reply_ok(r, 3);
	json_object_put(r);
}

/* A use that succeeds: its output bytes (value_len in the reply), the reply's version. */
static struct secbuf *use_ok(struct req_fixture *f, const char *json, const void *in, size_t n,
			     const char *alg, int64_t version)
{
	struct secbuf *out = NULL;
	struct json_object *r = exec_v(f, json, in, n, &out);

	reply_ok(r, 5);
	assert_string_equal(jstr(r, "alg"), alg);
	assert_int_equal(jint(r, "version"), version);
	assert_non_null(out);
	assert_int_equal(jint(r, "value_len"), out->len);
	json_object_put(r);
	return out;
}

static void use_err(struct req_fixture *f, const char *json, const void *in, size_t n, int e,
		    const char *error)
{
	struct secbuf *out = NULL;

	reply_err(exec_v(f, json, in, n, &out), e, error);
	assert_null(out);
}

/* sig || digest for key-verify. */
static void cat2(uint8_t *buf, const struct secbuf *a, const void *b, size_t n)
{
	memcpy(buf, a->data, a->len);
	memcpy(buf + a->len, b, n);
}

/* --- tests --- */

static void test_parse_caps(void **state)
{
	static const struct {
		const char *op;
		uint64_t max;
	} caps[] = {
		{ "key-import", KEY_IMPORT_MAX },
		{ "key-sign", KEY_INPUT_MAX },
		{ "key-verify", KEY_INPUT_MAX + KEY_SIG_MAX },
		{ "key-encrypt", KEY_INPUT_MAX + KEY_AAD_MAX },
		{ "key-decrypt", KEY_CIPHERTEXT_MAX + KEY_AAD_MAX },
		{ "key-wrap", KEY_WRAP_INPUT_MAX },
		{ "key-unwrap", KEY_WRAPPED_MAX },
		{ "key-restore", VAULTFS_BACKUP_MAX },
		{ "key-list", 0 },
		{ "key-get-public", 0 },
	};
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(caps); i++)
		expect_parse_cap(caps[i].op, caps[i].max);
}

static void test_create_refusals(void **state)
{
	struct req_fixture *f = *state;
	size_t records;

	make_vault(f);
	records = journal_count(f->journal);
	f->authorized = 0;
	exec_err(f, REQ("key-create", ",\"name\":\"k\""), EINVAL,
		 "missing member \"type\" (rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384, "
		 "ec-p521, ed25519, aes-256)");
	exec_err(f, REQ("key-create", ",\"name\":\"k\",\"type\":\"rsa-1024\""), EINVAL,
		 "\"type\": unknown key type \"rsa-1024\" (rsa-2048, rsa-3072, rsa-4096, ec-p256, "
		 "ec-p384, ec-p521, ed25519, aes-256)");
	exec_err(f, REQ("key-create", ",\"name\":\"k\",\"type\":1"), EINVAL,
		 "\"type\" must be a string of at most 256 bytes");
	exec_err(f,
		 REQ("key-create", ",\"name\":\"k\",\"type\":\"ec-p256\",\"protection\":\"hsm\""),
		 EINVAL, "\"protection\" must be \"software\" or \"tpm\"");
	exec_err(f,
		 REQ("key-create", ",\"name\":\"k\",\"type\":\"ed25519\",\"protection\":\"tpm\""),
		 EOPNOTSUPP, "a TPM key is RSA 2048/3072 or EC P-256/P-384, not ed25519");
	exec_err(f,
		 REQ("key-create", ",\"name\":\"k\",\"type\":\"ec-p256\",\"protection\":\"tpm\","
				   "\"exportable\":true"),
		 EINVAL, "\"exportable\": a TPM key's private half never leaves the TPM");
	exec_err(f, REQ("key-create", ",\"name\":\"k\",\"type\":\"ec-p256\",\"ops\":\"sign,sign\""),
		 EINVAL,
		 "\"ops\": a comma-separated list of sign, verify, encrypt, decrypt, wrap, unwrap "
		 "(each once)");
	exec_err(f, REQ("key-create", ",\"name\":\"k\",\"type\":\"ec-p256\",\"ops\":\"encrypt\""),
		 EINVAL, "\"ops\": a ec-p256 key can only sign,verify");
	exec_err(f,
		 REQ("key-create", ",\"name\":\"k\",\"type\":\"ec-p256\",\"content_type\":\"x\""),
		 EINVAL, "unknown member \"content_type\" for op \"key-create\"");
	exec_err(f, REQ("key-create", ",\"name\":\"../k\",\"type\":\"ec-p256\""), EINVAL, NULL);
	exec_err(f, REQ("key-import", ",\"name\":\"k\""), EINVAL,
		 "op \"key-import\" needs value bytes (\"value_len\")");
	exec_err(f, REQ("key-shred", ",\"name\":\"k\""), EOPNOTSUPP, "unknown op \"key-shred\"");
	/* nothing decided, nothing recorded */
	assert_int_equal(f->authorized, 0);
	assert_int_equal(journal_count(f->journal), records);
	/* a TPM key with no TPM named: decided and recorded, then ENODEV */
	exec_err(f,
		 REQ("key-create", ",\"name\":\"t\",\"type\":\"ec-p256\",\"protection\":\"tpm\""),
		 ENODEV, "no TPM for keys here ([seal] tcti)");
	expect_record(f, 0, "key-create", ENODEV, "allow-all", "app", "t", 0, "/app/t");
	expect_record(f, 1, "key-create", 0, "allow-all", "app", "t", 0, "/app/t");
}

static void test_sign_verify(void **state)
{
	struct req_fixture *f = *state;
	uint8_t digest[32], buf[KEY_SIG_MAX + 64];
	struct secbuf *sig, *sig2;
	static const char msg[] = "the message";
	unsigned before;

	test_random(digest, sizeof(digest));
	make_vault(f);
	create(f, "k", "ec-p256", "");
	expect_record(f, 0, "key-create", 0, "allow-all", "app", "k", 0, "/app/k");
	sig = use_ok(f, REQ("key-sign", ",\"name\":\"k\",\"alg\":\"ES256\""), digest, 32, "ES256",
		     1);
	assert_int_equal(sig->len, 64);
	expect_record(f, 0, "sign-es256", 0, "allow-all", "app", "k", 1, "/app/k");
	{
		struct json_object *r;

		cat2(buf, sig, digest, 32);
		r = exec_v(
			f,
			REQ("key-verify", ",\"name\":\"k\",\"alg\":\"ES256\",\"signature_len\":64"),
			buf, 96, NULL);
		reply_ok(r, 5);
		assert_true(jbool(r, "valid"));
		assert_int_equal(jint(r, "version"), 1);
		json_object_put(r);
		expect_record(f, 0, "verify-es256", 0, "allow-all", "app", "k", 1, "/app/k");
		buf[3] ^= 1;
		use_err(f,
			REQ("key-verify", ",\"name\":\"k\",\"alg\":\"ES256\",\"signature_len\":64"),
			buf, 96, EBADMSG,
			"the signature does not verify (ES256, this key version)");
		expect_record(f, 0, "verify-es256", EBADMSG, "allow-all", "app", "k", 1, "/app/k");
	}
	/* data: hashed in the daemon, the same as signing its digest */
	sig2 = use_ok(f, REQ("key-sign", ",\"name\":\"k\",\"alg\":\"ES256\",\"data\":true"), msg,
		      strlen(msg), "ES256", 1);
	{
		uint8_t d[KEY_DIGEST_MAX];
		size_t dn = sizeof(d);
		struct json_object *r;

		assert_int_equal(
			key_digest(KEY_ALG_ES256, (const uint8_t *)msg, strlen(msg), d, &dn), 0);
		cat2(buf, sig2, d, dn);
		r = exec_v(
			f,
			REQ("key-verify", ",\"name\":\"k\",\"alg\":\"ES256\",\"signature_len\":64"),
			buf, 64 + dn, NULL);
		reply_ok(r, 5);
		json_object_put(r);
		cat2(buf, sig2, msg, strlen(msg));
		r = exec_v(f,
			   REQ("key-verify",
			       ",\"name\":\"k\",\"alg\":\"ES256\",\"signature_len\":64,"
			       "\"data\":true"),
			   buf, 64 + strlen(msg), NULL);
		reply_ok(r, 5);
		json_object_put(r);
	}
	secbuf_free(sig2);

	/* refused before anything is decided */
	before = f->authorized;
	use_err(f, REQ("key-sign", ",\"name\":\"k\",\"alg\":\"ES256\""), digest, 31, EINVAL,
		"a ES256 digest is 32 bytes, not 31 (or send the message with \"data\": true)");
	use_err(f, REQ("key-sign", ",\"name\":\"k\""), digest, 32, EINVAL,
		"missing member \"alg\" (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, "
		"ES512, EdDSA)");
	use_err(f, REQ("key-sign", ",\"name\":\"k\",\"alg\":\"ES257\""), digest, 32, EINVAL,
		"\"alg\": unknown algorithm \"ES257\" for sign (RS256, RS384, RS512, PS256, PS384, "
		"PS512, ES256, ES384, ES512, EdDSA)");
	use_err(f, REQ("key-sign", ",\"name\":\"k\",\"alg\":\"RSA-OAEP-256\""), digest, 32, EINVAL,
		"\"alg\": not an algorithm \"RSA-OAEP-256\" for sign (RS256, RS384, RS512, PS256, "
		"PS384, PS512, ES256, ES384, ES512, EdDSA)");
	use_err(f, REQ("key-verify", ",\"name\":\"k\",\"alg\":\"ES256\""), digest, 32, EINVAL,
		"missing member \"signature_len\" (the value bytes are the signature, then the "
		"digest or data)");
	use_err(f, REQ("key-verify", ",\"name\":\"k\",\"alg\":\"ES256\",\"signature_len\":64"),
		digest, 32, EINVAL, "\"signature_len\" is longer than the value bytes (32)");
	use_err(f, REQ("key-verify", ",\"name\":\"k\",\"alg\":\"ES256\",\"signature_len\":1025"),
		digest, 32, EMSGSIZE, "\"signature_len\" of 1025 is over the limit (1024)");
	use_err(f, REQ("key-encrypt", ",\"name\":\"k\",\"alg\":\"A256GCM\",\"aad_len\":4097"),
		digest, 32, EMSGSIZE, "\"aad_len\" of 4097 is over the limit (4096)");
	use_err(f, REQ("key-sign", ",\"name\":\"k\",\"alg\":\"ES256\",\"aad_len\":1"), digest, 32,
		EINVAL, "unknown member \"aad_len\" for op \"key-sign\"");
	use_err(f, REQ("key-sign", ",\"name\":\"k\",\"alg\":\"ES256\",\"data\":true"), digest, 0,
		EINVAL, "the input of sign is empty");
	{
		uint8_t *big = calloc(1, KEY_INPUT_MAX + 65);

		assert_non_null(big);
		use_err(f, REQ("key-sign", ",\"name\":\"k\",\"alg\":\"ES256\",\"data\":true"), big,
			KEY_INPUT_MAX + 1, EMSGSIZE,
			"value of 65537 bytes is over the limit (65536)");
		/* verify's cap holds a signature too: the input alone is over sign's */
		use_err(f,
			REQ("key-verify", ",\"name\":\"k\",\"alg\":\"ES256\",\"data\":true,"
					  "\"signature_len\":64"),
			big, 64 + KEY_INPUT_MAX + 1, EMSGSIZE,
			"the input of 65537 bytes is over the limit of verify (65536)");
		free(big);
	}
	assert_int_equal(f->authorized, before);
	/* decided, then refused by the key: recorded */
	use_err(f, REQ("key-sign", ",\"name\":\"k\",\"alg\":\"RS256\""), digest, 32, EOPNOTSUPP,
		"RS256 cannot sign with a ec-p256 key");
	expect_record(f, 0, "sign-rs256", EOPNOTSUPP, "allow-all", "app", "k", 0, "/app/k");
	use_err(f, REQ("key-encrypt", ",\"name\":\"k\",\"alg\":\"RSA-OAEP-256\""), digest, 32,
		EPERM, "the key's key_ops do not allow encrypt");
	use_err(f, REQ("key-sign", ",\"name\":\"nokey\",\"alg\":\"ES256\""), digest, 32, ENOENT,
		NULL);
	/* EdDSA signs the message itself, of any length */
	create(f, "ed", "ed25519", "");
	secbuf_free(use_ok(f, REQ("key-sign", ",\"name\":\"ed\",\"alg\":\"EdDSA\""), msg, 3,
			   "EdDSA", 1));
	secbuf_free(sig);
}

static void test_encrypt_wrap(void **state)
{
	struct req_fixture *f = *state;
	uint8_t in[64], kek[16], buf[256];
	struct secbuf *ct, *pt;

	test_random(in, sizeof(in));
	test_random(kek, sizeof(kek));
	make_vault(f);
	create(f, "aes", "aes-256", "");
	memcpy(buf, "aad", 3);
	memcpy(buf + 3, in, sizeof(in));
	ct = use_ok(f, REQ("key-encrypt", ",\"name\":\"aes\",\"alg\":\"A256GCM\",\"aad_len\":3"),
		    buf, 3 + sizeof(in), "A256GCM", 1);
	assert_int_equal(ct->len, sizeof(in) + 28);
	expect_record(f, 0, "encrypt-a256gcm", 0, "allow-all", "app", "aes", 1, "/app/aes");
	memcpy(buf + 3, ct->data, ct->len);
	pt = use_ok(f, REQ("key-decrypt", ",\"name\":\"aes\",\"alg\":\"A256GCM\",\"aad_len\":3"),
		    buf, 3 + ct->len, "A256GCM", 1);
	assert_memory_equal(pt->data, in, sizeof(in));
	secbuf_free(pt);
	buf[0] ^= 1;
	use_err(f, REQ("key-decrypt", ",\"name\":\"aes\",\"alg\":\"A256GCM\",\"aad_len\":3"), buf,
		3 + ct->len, EBADMSG,
		"the input does not decrypt under this key version with A256GCM (another version "
		"made it? give \"version\")");
	secbuf_free(ct);
	use_err(f, REQ("key-wrap", ",\"name\":\"aes\",\"alg\":\"A256KW\",\"aad_len\":3"), kek, 16,
		EINVAL, "unknown member \"aad_len\" for op \"key-wrap\"");
	use_err(f, REQ("key-encrypt", ",\"name\":\"aes\",\"alg\":\"A256KW\""), kek, 16, EINVAL,
		"\"alg\": not an algorithm \"A256KW\" for encrypt (RSA-OAEP-256, A256GCM (RSA-OAEP "
		"only decrypts))");
	use_err(f, REQ("key-decrypt", ",\"name\":\"aes\",\"alg\":\"RSA-OAEP\",\"aad_len\":2"), kek,
		16, EINVAL, "\"aad_len\": only A256GCM takes additional data");
	ct = use_ok(f, REQ("key-wrap", ",\"name\":\"aes\",\"alg\":\"A256KW\""), kek, 16, "A256KW",
		    1);
	assert_int_equal(ct->len, 24);
	expect_record(f, 0, "wrap-a256kw", 0, "allow-all", "app", "aes", 1, "/app/aes");
	pt = use_ok(f, REQ("key-unwrap", ",\"name\":\"aes\",\"alg\":\"A256KW\""), ct->data, ct->len,
		    "A256KW", 1);
	assert_memory_equal(pt->data, kek, 16);
	secbuf_free(pt);
	secbuf_free(ct);
	{
		uint8_t *big = calloc(1, KEY_WRAP_INPUT_MAX + 1);

		assert_non_null(big);
		use_err(f, REQ("key-wrap", ",\"name\":\"aes\",\"alg\":\"A256KWP\""), big,
			KEY_WRAP_INPUT_MAX + 1, EMSGSIZE,
			"value of 1025 bytes is over the limit (1024)");
		free(big);
	}
	use_err(f, REQ("key-get-public", ",\"name\":\"aes\""), NULL, 0, EOPNOTSUPP,
		"a aes-256 key has no public half");
}

static void test_rotate_lifecycle(void **state)
{
	struct req_fixture *f = *state;
	uint8_t in[32], digest[32], buf[KEY_SIG_MAX + 32];
	struct secbuf *ct1, *pt, *sig;
	struct json_object *r;

	test_random(in, sizeof(in));
	test_random(digest, sizeof(digest));
	make_vault(f);
	create(f, "rsa", "rsa-2048", "");
	ct1 = use_ok(f, REQ("key-encrypt", ",\"name\":\"rsa\",\"alg\":\"RSA-OAEP-256\""), in, 32,
		     "RSA-OAEP-256", 1);
	sig = use_ok(f, REQ("key-sign", ",\"name\":\"rsa\",\"alg\":\"PS256\""), digest, 32, "PS256",
		     1);
	r = exec(f, REQ("key-rotate", ",\"name\":\"rsa\""));
	reply_ok(r, 3);
	assert_int_equal(jint(r, "version"), 2);
	json_object_put(r);
	expect_record(f, 0, "key-rotate", 0, "allow-all", "app", "rsa", 0, "/app/rsa");
	/* the current version (2, named in the reply and the record) does not decrypt it */
	use_err(f, REQ("key-decrypt", ",\"name\":\"rsa\",\"alg\":\"RSA-OAEP-256\""), ct1->data,
		ct1->len, EBADMSG, NULL);
	expect_record(f, 0, "decrypt-rsa-oaep-256", EBADMSG, "allow-all", "app", "rsa", 2,
		      "/app/rsa");
	pt = use_ok(f,
		    REQ("key-decrypt", ",\"name\":\"rsa\",\"alg\":\"RSA-OAEP-256\",\"version\":1"),
		    ct1->data, ct1->len, "RSA-OAEP-256", 1);
	assert_memory_equal(pt->data, in, 32);
	secbuf_free(pt);
	cat2(buf, sig, digest, 32);
	r = exec_v(f,
		   REQ("key-verify", ",\"name\":\"rsa\",\"alg\":\"PS256\",\"version\":1,"
				     "\"signature_len\":256"),
		   buf, 256 + 32, NULL);
	reply_ok(r, 5);
	json_object_put(r);
	/* version 1 expired: signs no more, still verifies and decrypts */
	r = exec(f, REQ("key-update", ",\"name\":\"rsa\",\"version\":1,\"expires\":1"));
	reply_ok(r, 2);
	json_object_put(r);
	use_err(f, REQ("key-sign", ",\"name\":\"rsa\",\"alg\":\"PS256\",\"version\":1"), digest, 32,
		EKEYEXPIRED, NULL);
	expect_record(f, 0, "sign-ps256", EKEYEXPIRED, "allow-all", "app", "rsa", 1, "/app/rsa");
	r = exec_v(f,
		   REQ("key-verify", ",\"name\":\"rsa\",\"alg\":\"PS256\",\"version\":1,"
				     "\"signature_len\":256"),
		   buf, 256 + 32, NULL);
	reply_ok(r, 5);
	json_object_put(r);
	pt = use_ok(f,
		    REQ("key-decrypt", ",\"name\":\"rsa\",\"alg\":\"RSA-OAEP-256\",\"version\":1"),
		    ct1->data, ct1->len, "RSA-OAEP-256", 1);
	secbuf_free(pt);
	/* disabled: nothing */
	r = exec(f, REQ("key-update", ",\"name\":\"rsa\",\"version\":1,\"enabled\":false"));
	reply_ok(r, 2);
	json_object_put(r);
	use_err(f,
		REQ("key-verify", ",\"name\":\"rsa\",\"alg\":\"PS256\",\"version\":1,"
				  "\"signature_len\":256"),
		buf, 256 + 32, EKEYREVOKED, NULL);
	use_err(f, REQ("key-decrypt", ",\"name\":\"rsa\",\"alg\":\"RSA-OAEP-256\",\"version\":1"),
		ct1->data, ct1->len, EKEYREVOKED, NULL);
	secbuf_free(ct1);
	secbuf_free(sig);
	/* key_ops */
	create(f, "so", "rsa-2048", ",\"ops\":\"sign,verify\"");
	use_err(f, REQ("key-encrypt", ",\"name\":\"so\",\"alg\":\"RSA-OAEP-256\""), in, 32, EPERM,
		"the key's key_ops do not allow encrypt");
	expect_record(f, 0, "encrypt-rsa-oaep-256", EPERM, "allow-all", "app", "so", 0, "/app/so");
	r = exec(f, REQ("key-show", ",\"name\":\"so\""));
	assert_true(jbool(r, "ok"));
	assert_string_equal(jstr(r, "key_ops"), "sign,verify");
	assert_string_equal(jstr(r, "type"), "rsa-2048");
	assert_string_equal(jstr(r, "protection"), "software");
	assert_false(jbool(r, "exportable"));
	assert_int_equal(jint(r, "version"), 1);
	assert_false(jhas(r, "size"));
	json_object_put(r);
	r = exec(f, REQ("key-versions", ",\"name\":\"rsa\""));
	reply_ok(r, 3);
	assert_int_equal(json_object_array_length(jarr(r, "versions")), 2);
	json_object_put(r);
}

static void test_get_public(void **state)
{
	struct req_fixture *f = *state;
	struct kv_key_public p;
	struct secbuf *out = NULL;
	struct json_object *r;

	make_vault(f);
	create(f, "k", "ec-p256", "");
	assert_int_equal(kv_key_public(f->kv, "app", "k", 0, &p), 0);
	r = exec_v(f, REQ("key-get-public", ",\"name\":\"k\",\"format\":\"der\""), NULL, 0, &out);
	reply_ok(r, 6);
	assert_string_equal(jstr(r, "type"), "ec-p256");
	json_object_put(r);
	assert_int_equal(out->len, p.spki_len);
	assert_memory_equal(out->data, p.spki, p.spki_len);
	secbuf_free(out);
	expect_record(f, 0, "key-get-public", 0, "allow-all", "app", "k", 1, "/app/k");
	r = exec_v(f, REQ("key-get-public", ",\"name\":\"k\""), NULL, 0, &out);
	json_object_put(r);
	assert_true(out->len > 27 && memcmp(out->data, "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
	secbuf_free(out);
	r = exec_v(f, REQ("key-get-public", ",\"name\":\"k\",\"format\":\"ssh\""), NULL, 0, &out);
	json_object_put(r);
	assert_true(out->len > 40 && memcmp(out->data, "ecdsa-sha2-nistp256 ", 20) == 0);
	assert_memory_equal(out->data + out->len - 7, " app/k\n", 7);
	secbuf_free(out);
	exec_err(f, REQ("key-get-public", ",\"name\":\"k\",\"format\":\"jwk\""), EINVAL,
		 "\"format\" must be \"pem\", \"der\" or \"ssh\"");
	exec_err(f, REQ("key-get-public", ",\"name\":\"k\",\"version\":2"), ENOENT, NULL);
}

static void test_policy(void **state)
{
	struct req_fixture *f = *state;
	uint8_t digest[32];
	struct secbuf *blob = NULL;
	struct json_object *r;

	test_random(digest, sizeof(digest));
	make_vault(f);
	create(f, "k", "ec-p256", "");
	create(f, "h", "ed25519", "");
	{
		struct json_object *s = exec_v(
			f, "{\"v\":1,\"op\":\"secret-set\",\"vault\":\"app\",\"name\":\"s\"}", "v",
			1, NULL);

		reply_ok(s, 3);
		json_object_put(s);
	}
	deny(f, "sign", "/app/k", "no-sign");
	use_err(f, REQ("key-sign", ",\"name\":\"k\",\"alg\":\"ES256\""), digest, 32, EACCES,
		"permission denied: the policy does not grant sign on /app/k");
	expect_record(f, 0, "sign-es256", EACCES, "no-sign", "app", "k", 0, "/app/k");
	/* write on the key is not enough to take a backup out: manage on the vault too */
	deny(f, "manage", "/app", "no-manage");
	exec_err(f, REQ("key-backup", ",\"name\":\"k\""), EACCES,
		 "permission denied: the policy does not grant manage on /app");
	expect_record(f, 0, "key-backup", EACCES, "no-manage", "app", "k", 0, "/app/k");
	allow_all(f);
	r = exec_v(f, REQ("key-backup", ",\"name\":\"k\""), NULL, 0, &blob);
	reply_ok(r, 3);
	json_object_put(r);
	/* key-list: keys only, those the caller sees */
	hide(f, "/app/h");
	r = exec(f, REQ("key-list", ""));
	reply_ok(r, 3);
	assert_int_equal(json_object_array_length(jarr(r, "keys")), 1);
	assert_string_equal(jstr(json_object_array_get_idx(jarr(r, "keys"), 0), "name"), "k");
	json_object_put(r);
	/* restore: decided on the blob's name, manage needed; a secret's blob is not a key's */
	r = exec(f, REQ("key-delete", ",\"name\":\"k\""));
	reply_ok(r, 2);
	json_object_put(r);
	r = exec(f, REQ("key-purge", ",\"name\":\"k\""));
	reply_ok(r, 2);
	json_object_put(r);
	deny(f, "manage", "/app", "no-manage");
	reply_err(exec_v(f, REQ("key-restore", ""), blob->data, blob->len, NULL), EACCES,
		  "permission denied: the policy does not grant manage on /app");
	expect_record(f, 0, "key-restore", EACCES, "no-manage", "app", "k", 0, "/app/k");
	allow_all(f);
	r = exec_v(f, REQ("key-restore", ""), blob->data, blob->len, NULL);
	reply_ok(r, 3);
	assert_string_equal(jstr(r, "name"), "k");
	json_object_put(r);
	secbuf_free(blob);
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-backup\",\"vault\":\"app\",\"name\":\"s\"}", NULL,
		   0, &blob);
	json_object_put(r);
	reply_err(exec_v(f, REQ("key-restore", ""), blob->data, blob->len, NULL), EMEDIUMTYPE,
		  "the blob is a backup of a secret, not of a key (vaultctl secret restore)");
	secbuf_free(blob);
	/* a secret is no key */
	exec_err(f, REQ("key-show", ",\"name\":\"s\""), ENOENT, NULL);
	/* nor is a certificate's blob a key's: the sentence names the kind the blob is of */
	r = exec(f, REQ("cert-create", ",\"name\":\"c\",\"subject\":\"CN=c\""));
	assert_true(jbool(r, "ok"));
	json_object_put(r);
	r = exec_v(f, REQ("cert-backup", ",\"name\":\"c\""), NULL, 0, &blob);
	assert_true(jbool(r, "ok"));
	json_object_put(r);
	reply_err(exec_v(f, REQ("key-restore", ""), blob->data, blob->len, NULL), EMEDIUMTYPE,
		  "the blob is a backup of a certificate, not of a key (vaultctl cert restore)");
	expect_record(f, 0, "key-restore", EMEDIUMTYPE, NULL, "app", NULL, 0, "/app");
	secbuf_free(blob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_caps),
		cmocka_unit_test_setup_teardown(test_create_refusals, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_sign_verify, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_encrypt_wrap, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_lifecycle, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_get_public, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_policy, req_setup, req_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
