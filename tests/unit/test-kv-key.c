/* test-kv-key.c: key objects (core/kv-key.c) over a real store, with software keys and keys in a
 * real software TPM (run under tests/lib/with-swtpm): every software type signs and verifies
 * (tampered: -EBADMSG), a rotation keeps old signatures verifying and old ciphertexts
 * decrypting, an expired version refuses to produce but still consumes, a disabled one does
 * nothing, key_ops restrict (-EPERM), RSA-OAEP, A256GCM with AAD and A256KW/KWP round trips,
 * TPM keys sign and decrypt, an openssl-made PEM imports, keys are not secrets (one name space,
 * never served as a value), garbage material is refused, a backup restores into another vault
 * and signs there. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/key-soft.h"
#include "core/key.h"
#include "core/kv.h"
#include "core/secbuf.h"
#include "core/store.h"
#include "core/tpm-key.h"
#include "tests/unit/testlib.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define T0 INT64_C(1800000000)

static int setup(void **state)
{
	*state = test_kv_new(T0, (const char *const[]){ "app", "other", NULL });
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	test_kv_free(*state);
	return 0;
}

static void create(struct test_kv *f, const char *name, enum key_type t, enum key_protection p,
		   unsigned ops)
{
	struct kv_key_spec spec = { .type = t, .protection = p, .ops = ops };
	uint32_t v = 0;
	int r;

	r = kv_key_create(f->kv, test_tcti(), "app", name, &spec, NULL, &v);
	if (r != 0)
		fail_msg("create %s: %d", key_type_name(t), r);
	assert_true(v >= 1);
}

/* sign with (digest of) msg, return the version that signed */
static uint32_t sign(struct test_kv *f, const char *name, uint32_t version, enum key_alg a,
		     const char *msg, uint8_t *sig, size_t *siglen)
{
	uint8_t d[KEY_DIGEST_MAX];
	size_t dl = sizeof(d);
	const uint8_t *in = (const uint8_t *)msg;
	size_t n = strlen(msg);
	uint32_t v = 0;
	int r;

	if (a != KEY_ALG_EDDSA) {
		assert_int_equal(key_digest(a, in, n, d, &dl), 0);
		in = d, n = dl;
	}
	*siglen = KEY_SIG_MAX;
	r = kv_key_sign(f->kv, test_tcti(), "app", name, version, a, in, n, sig, siglen, &v);
	if (r != 0)
		fail_msg("sign %s %s: %d", name, key_alg_name(a), r);
	return v;
}

static int verify(struct test_kv *f, const char *name, uint32_t version, enum key_alg a,
		  const char *msg, const uint8_t *sig, size_t siglen)
{
	uint8_t d[KEY_DIGEST_MAX];
	size_t dl = sizeof(d);
	const uint8_t *in = (const uint8_t *)msg;
	size_t n = strlen(msg);

	if (a != KEY_ALG_EDDSA) {
		assert_int_equal(key_digest(a, in, n, d, &dl), 0);
		in = d, n = dl;
	}
	return kv_key_verify(f->kv, "app", name, version, a, in, n, sig, siglen);
}

static void test_sign_each_type(void **state)
{
	static const struct {
		enum key_type t;
		enum key_alg a[3];
	} cases[] = {
		{ KEY_RSA_2048, { KEY_ALG_RS256, KEY_ALG_PS384, KEY_ALG_RS512 } },
		{ KEY_EC_P256, { KEY_ALG_ES256 } },
		{ KEY_EC_P384, { KEY_ALG_ES384 } },
		{ KEY_EC_P521, { KEY_ALG_ES512 } },
		{ KEY_ED25519, { KEY_ALG_EDDSA } },
	};
	struct test_kv *f = *state;
	uint8_t sig[KEY_SIG_MAX];
	size_t siglen;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[32];

		snprintf(name, sizeof(name), "k%zu", i);
		create(f, name, cases[i].t, KEY_PROTECTION_SOFTWARE, 0);
		for (size_t j = 0; j < 3 && cases[i].a[j]; j++) {
			enum key_alg a = cases[i].a[j];

			assert_int_equal(sign(f, name, 0, a, "hello", sig, &siglen), 1);
			assert_int_equal(verify(f, name, 0, a, "hello", sig, siglen), 0);
			assert_int_equal(verify(f, name, 1, a, "hellO", sig, siglen), -EBADMSG);
			sig[siglen / 2] ^= 1;
			assert_int_equal(verify(f, name, 0, a, "hello", sig, siglen), -EBADMSG);
		}
		/* an algorithm the type cannot use */
		siglen = sizeof(sig);
		assert_int_equal(kv_key_sign(f->kv, NULL, "app", name, 0, KEY_ALG_A256GCM,
					     (const uint8_t *)"x", 1, sig, &siglen, NULL),
				 -EOPNOTSUPP);
	}
}

static void test_rotate_and_lifecycle(void **state)
{
	struct test_kv *f = *state;
	uint8_t sig1[KEY_SIG_MAX], sig2[KEY_SIG_MAX], ct[KEY_CIPHERTEXT_MAX];
	size_t l1, l2, ctl = sizeof(ct);
	struct kv_attrs exp = KV_ATTRS_KEEP, off = KV_ATTRS_KEEP;
	struct secbuf *pt = NULL;
	uint32_t v = 0;

	create(f, "rot", KEY_RSA_2048, KEY_PROTECTION_SOFTWARE, 0);
	assert_int_equal(sign(f, "rot", 0, KEY_ALG_PS256, "m", sig1, &l1), 1);
	assert_int_equal(kv_key_encrypt(f->kv, "app", "rot", KEY_OP_ENCRYPT, KEY_ALG_RSA_OAEP_256,
					NULL, 0, (const uint8_t *)"secret", 6, ct, &ctl, &v),
			 0);
	assert_int_equal(v, 1);
	assert_int_equal(kv_key_rotate(f->kv, NULL, "app", "rot", NULL, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(sign(f, "rot", 0, KEY_ALG_PS256, "m", sig2, &l2), 2);
	/* old signatures verify with their version, not with the new one */
	assert_int_equal(verify(f, "rot", 1, KEY_ALG_PS256, "m", sig1, l1), 0);
	assert_int_equal(verify(f, "rot", 0, KEY_ALG_PS256, "m", sig1, l1), -EBADMSG);
	assert_int_equal(kv_key_decrypt(f->kv, NULL, "app", "rot", 1, KEY_OP_DECRYPT,
					KEY_ALG_RSA_OAEP_256, NULL, 0, ct, ctl, &pt),
			 0);
	assert_memory_equal(pt->data, "secret", 6);
	secbuf_free(pt);

	/* version 1 expired: it refuses to sign, still verifies and decrypts */
	exp.expires = T0 + 10;
	assert_int_equal(kv_object_update(f->kv, OBJECT_KEY, "app", "rot", 1, &exp), 0);
	kv_set_clock(f->kv, T0 + 20);
	l1 = sizeof(sig1);
	assert_int_equal(kv_key_sign(f->kv, NULL, "app", "rot", 1, KEY_ALG_PS256,
				     (const uint8_t *)"01234567890123456789012345678901", 32, sig1,
				     &l1, NULL),
			 -EKEYEXPIRED);
	assert_int_equal(verify(f, "rot", 2, KEY_ALG_PS256, "m", sig2, l2), 0);
	assert_int_equal(kv_key_decrypt(f->kv, NULL, "app", "rot", 1, KEY_OP_DECRYPT,
					KEY_ALG_RSA_OAEP_256, NULL, 0, ct, ctl, &pt),
			 0);
	secbuf_free(pt);
	/* disabled: nothing */
	off.enabled = 0;
	assert_int_equal(kv_object_update(f->kv, OBJECT_KEY, "app", "rot", 1, &off), 0);
	assert_int_equal(kv_key_decrypt(f->kv, NULL, "app", "rot", 1, KEY_OP_DECRYPT,
					KEY_ALG_RSA_OAEP_256, NULL, 0, ct, ctl, &pt),
			 -EKEYREVOKED);
	assert_int_equal(verify(f, "rot", 1, KEY_ALG_PS256, "m", sig2, l2), -EKEYREVOKED);
}

static void test_key_ops(void **state)
{
	struct test_kv *f = *state;
	uint8_t sig[KEY_SIG_MAX], d[32] = { 0 };
	size_t siglen = sizeof(sig);
	struct kv_key_public p;
	struct kv_key_spec bad = { .type = KEY_EC_P256, .ops = KEY_OP_DECRYPT };

	create(f, "vo", KEY_EC_P256, KEY_PROTECTION_SOFTWARE, KEY_OP_VERIFY);
	assert_int_equal(kv_key_sign(f->kv, NULL, "app", "vo", 0, KEY_ALG_ES256, d, sizeof(d), sig,
				     &siglen, NULL),
			 -EPERM);
	assert_int_equal(kv_key_public(f->kv, "app", "vo", 0, &p), 0);
	assert_int_equal(p.ops, KEY_OP_VERIFY);
	assert_int_equal(p.type, KEY_EC_P256);
	assert_true(p.spki_len > 60);
	/* ops a type cannot do */
	assert_int_equal(kv_key_create(f->kv, NULL, "app", "bad", &bad, NULL, NULL), -EINVAL);
}

static void test_aes(void **state)
{
	struct test_kv *f = *state;
	uint8_t ct[KEY_CIPHERTEXT_MAX], w[KEY_WRAPPED_MAX], k32[32];
	size_t ctl = sizeof(ct), wl = sizeof(w);
	struct secbuf *pt = NULL;
	struct kv_key_public p;

	create(f, "aes", KEY_AES_256, KEY_PROTECTION_SOFTWARE, 0);
	assert_int_equal(kv_key_public(f->kv, "app", "aes", 0, &p), 0);
	assert_int_equal(p.spki_len, 0);
	assert_int_equal(kv_key_encrypt(f->kv, "app", "aes", KEY_OP_ENCRYPT, KEY_ALG_A256GCM,
					(const uint8_t *)"aad", 3, (const uint8_t *)"plain", 5, ct,
					&ctl, NULL),
			 0);
	assert_int_equal(ctl, 5 + 28);
	assert_int_equal(kv_key_decrypt(f->kv, NULL, "app", "aes", 0, KEY_OP_DECRYPT,
					KEY_ALG_A256GCM, (const uint8_t *)"aad", 3, ct, ctl, &pt),
			 0);
	assert_memory_equal(pt->data, "plain", 5);
	secbuf_free(pt);
	assert_int_equal(kv_key_decrypt(f->kv, NULL, "app", "aes", 0, KEY_OP_DECRYPT,
					KEY_ALG_A256GCM, (const uint8_t *)"aaD", 3, ct, ctl, &pt),
			 -EBADMSG);
	test_random(k32, sizeof(k32));
	assert_int_equal(kv_key_encrypt(f->kv, "app", "aes", KEY_OP_WRAP, KEY_ALG_A256KW, NULL, 0,
					k32, sizeof(k32), w, &wl, NULL),
			 0);
	assert_int_equal(wl, 40);
	assert_int_equal(kv_key_decrypt(f->kv, NULL, "app", "aes", 0, KEY_OP_UNWRAP, KEY_ALG_A256KW,
					NULL, 0, w, wl, &pt),
			 0);
	assert_memory_equal(pt->data, k32, 32);
	secbuf_free(pt);
}

static void test_tpm_keys(void **state)
{
	struct test_kv *f = *state;
	uint8_t sig[KEY_SIG_MAX], ct[512];
	size_t siglen, ctl = sizeof(ct);
	struct secbuf *pt = NULL;
	struct kv_key_spec ed = { .type = KEY_ED25519, .protection = KEY_PROTECTION_TPM };

	create(f, "tp", KEY_EC_P256, KEY_PROTECTION_TPM, 0);
	assert_int_equal(sign(f, "tp", 0, KEY_ALG_ES256, "tpm", sig, &siglen), 1);
	assert_int_equal(verify(f, "tp", 0, KEY_ALG_ES256, "tpm", sig, siglen), 0);
	create(f, "tr", KEY_RSA_2048, KEY_PROTECTION_TPM, 0);
	assert_int_equal(kv_key_encrypt(f->kv, "app", "tr", KEY_OP_ENCRYPT, KEY_ALG_RSA_OAEP_256,
					NULL, 0, (const uint8_t *)"in tpm", 6, ct, &ctl, NULL),
			 0);
	assert_int_equal(kv_key_decrypt(f->kv, test_tcti(), "app", "tr", 0, KEY_OP_DECRYPT,
					KEY_ALG_RSA_OAEP_256, NULL, 0, ct, ctl, &pt),
			 0);
	assert_memory_equal(pt->data, "in tpm", 6);
	secbuf_free(pt);
	assert_int_equal(kv_key_create(f->kv, test_tcti(), "app", "te", &ed, NULL, NULL),
			 -EOPNOTSUPP);
	/* what the store keeps of a TPM key (its version's material, decrypted) holds no private
	 * key: the record's private part is the TPM's blob, which parses as no private key of any
	 * form, is not software material of its type, and is the TPM's (its public area is the
	 * key's) */
	{
		struct secbuf *rec = NULL, *priv = NULL;
		const uint8_t *p;
		enum key_type bt;
		uint32_t spki_len, priv_len;

		assert_int_equal(kv_object_get(f->kv, OBJECT_KEY, "app", "tp", 0, &rec, NULL), 0);
		assert_memory_equal(rec->data, "VKR1", 4);
		assert_int_equal(rec->data[5], KEY_PROTECTION_TPM);
		spki_len = rec->data[10] | (uint32_t)rec->data[11] << 8;
		p = rec->data + 12 + spki_len;
		priv_len = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		p += 4;
		assert_int_equal(12 + spki_len + 4 + priv_len, rec->len);
		assert_int_equal(tpm_key_blob_type(p, priv_len, &bt), 0);
		assert_int_equal(bt, KEY_EC_P256);
		assert_int_equal(secbuf_dup(p, priv_len, &priv), 0);
		assert_int_equal(key_soft_check(KEY_EC_P256, priv), -EINVAL);
		{
			const unsigned char *q = p;
			EVP_PKEY *pk = d2i_AutoPrivateKey(NULL, &q, (long)priv_len);

			assert_null(pk);
			ERR_clear_error();
		}
		secbuf_free(priv);
		secbuf_free(rec);
	}
	ed.type = KEY_EC_P256, ed.exportable = true; /* a TPM key is never exportable */
	assert_int_equal(kv_key_create(f->kv, test_tcti(), "app", "te", &ed, NULL, NULL), -EINVAL);
}

static void test_import_and_namespace(void **state)
{
	struct test_kv *f = *state;
	char cmd[256], pem[4096];
	FILE *p;
	size_t n;
	struct secbuf *v = NULL;
	uint8_t sig[KEY_SIG_MAX], junk[64] = { 0 };
	size_t siglen;
	struct kv_key_public pub;

	snprintf(cmd, sizeof(cmd), "openssl genpkey -algorithm ed25519 2>/dev/null");
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(pem, 1, sizeof(pem), p);
	assert_int_equal(pclose(p), 0);
	assert_true(n > 50);
	assert_int_equal(
		kv_key_import(f->kv, "app", "imp", (const uint8_t *)pem, n, 0, false, NULL, NULL),
		0);
	assert_int_equal(kv_key_public(f->kv, "app", "imp", 0, &pub), 0);
	assert_int_equal(pub.type, KEY_ED25519);
	assert_int_equal(sign(f, "imp", 0, KEY_ALG_EDDSA, "imported", sig, &siglen), 1);
	/* one name space; a key is never a secret's value */
	assert_int_equal(kv_secret_get(f->kv, "app", "imp", 0, &v, NULL), -ENOENT);
	assert_int_equal(kv_secret_set(f->kv, "app", "imp", "x", 1, NULL, NULL), -EEXIST);
	assert_int_equal(
		kv_key_import(f->kv, "app", "imp2", junk, sizeof(junk), 0, false, NULL, NULL),
		-EINVAL);
	/* material that is not a key record */
	assert_int_equal(
		kv_object_set(f->kv, OBJECT_KEY, "app", "raw", junk, sizeof(junk), NULL, NULL),
		-EINVAL);
}

static void test_backup_restore(void **state)
{
	struct test_kv *f = *state;
	struct secbuf *blob = NULL;
	char name[VAULTFS_NAME_MAX + 1];
	uint8_t sig[KEY_SIG_MAX], d48[48] = { 2 };
	size_t siglen = sizeof(sig);

	struct kv_key_rotation rot = { 90 * 86400, 7 * 86400, 120 * 86400 }, got;

	create(f, "bk", KEY_EC_P384, KEY_PROTECTION_SOFTWARE, 0);
	/* the rotation policy travels with the key */
	assert_int_equal(kv_key_rotation_set(f->kv, "app", "bk", &rot), 0);
	assert_int_equal(kv_object_backup(f->kv, OBJECT_KEY, "app", "bk", &blob), 0);
	assert_int_equal(kv_object_restore(f->kv, OBJECT_KEY, "other", blob->data, blob->len, name),
			 0);
	assert_string_equal(name, "bk");
	secbuf_free(blob);
	assert_int_equal(kv_key_rotation_get(f->kv, "other", "bk", &got), 0);
	assert_memory_equal(&got, &rot, sizeof(rot));
	assert_int_equal(kv_key_sign(f->kv, NULL, "other", "bk", 0, KEY_ALG_ES384, d48, sizeof(d48),
				     sig, &siglen, NULL),
			 0);
	assert_int_equal(
		kv_key_verify(f->kv, "app", "bk", 0, KEY_ALG_ES384, d48, sizeof(d48), sig, siglen),
		0);
}

struct seen {
	unsigned rotated, expiring;
	uint32_t last_new;
};

static int on_notice(const struct kv_rotation_notice *n, void *ud)
{
	struct seen *s = ud;

	assert_int_equal(n->err, 0);
	assert_string_equal(n->vault, "app");
	assert_string_equal(n->name, "rp");
	if (n->event == KV_ROTATION_ROTATE)
		s->rotated++, s->last_new = n->new_version;
	else if (n->event == KV_ROTATION_EXPIRING)
		s->expiring++;
	return 0;
}

/* The rotation policy fires on a moved clock: a rotation after rotate_after (the new version
 * expiring expires_after later), one notice per version within notify_before of its expiry;
 * a changed policy row is refused. */
static void test_rotation_policy(void **state)
{
	struct test_kv *f = *state;
	struct kv_key_rotation p = { .rotate_after = 30 * 86400,
				     .notify_before = 7 * 86400,
				     .expires_after = 40 * 86400 },
			       got;
	struct kv_version_info info;
	struct seen s = { 0 };
	uint32_t v;

	create(f, "rp", KEY_EC_P256, KEY_PROTECTION_SOFTWARE, 0);
	assert_int_equal(kv_key_rotation_get(f->kv, "app", "rp", &got), -ENOENT);
	assert_int_equal(kv_key_rotation_set(f->kv, "app", "rp", &p), 0);
	assert_int_equal(kv_key_rotation_get(f->kv, "app", "rp", &got), 0);
	assert_true(got.rotate_after == p.rotate_after && got.expires_after == p.expires_after);
	/* nothing due yet */
	assert_int_equal(kv_key_rotation_due(f->kv, NULL, on_notice, &s), 0);
	assert_int_equal(s.rotated + s.expiring, 0);
	/* 31 days on: rotated once, the new version expires 40 days after it was made */
	kv_set_clock(f->kv, T0 + 31 * 86400);
	assert_int_equal(kv_key_rotation_due(f->kv, NULL, on_notice, &s), 0);
	assert_int_equal(s.rotated, 1);
	assert_int_equal(s.last_new, 2);
	assert_int_equal(kv_object_info(f->kv, OBJECT_KEY, "app", "rp", 2, &info), 0);
	assert_true(info.expires == T0 + 71 * 86400);
	assert_int_equal(kv_key_rotation_due(f->kv, NULL, on_notice, &s), 0);
	assert_int_equal(s.rotated, 1);
	/* a manual rotation takes the policy's expiry too */
	assert_int_equal(kv_key_rotate(f->kv, NULL, "app", "rp", NULL, &v), 0);
	assert_int_equal(kv_object_info(f->kv, OBJECT_KEY, "app", "rp", v, &info), 0);
	assert_true(info.expires == T0 + 71 * 86400);
	/* no rotation, but a notice within 7 days of the expiry: once */
	p.rotate_after = 0;
	assert_int_equal(kv_key_rotation_set(f->kv, "app", "rp", &p), 0);
	kv_set_clock(f->kv, T0 + 65 * 86400);
	assert_int_equal(kv_key_rotation_due(f->kv, NULL, on_notice, &s), 0);
	assert_int_equal(kv_key_rotation_due(f->kv, NULL, on_notice, &s), 0);
	assert_int_equal(s.expiring, 1);
	/* a policy row changed behind kv's back is refused */
	{
		char q[256];

		snprintf(q, sizeof(q),
			 "sqlite3 %s/vault.db 'UPDATE key_rotation SET rotate_after = 1'", f->dir);
		assert_int_equal(system(q), 0);
		assert_int_equal(kv_key_rotation_get(f->kv, "app", "rp", &got), -EBADMSG);
		assert_int_equal(kv_key_rotation_due(f->kv, NULL, on_notice, &s), -EBADMSG);
	}
	/* removed */
	p = (struct kv_key_rotation){ 0 };
	assert_int_equal(kv_key_rotation_set(f->kv, "app", "rp", &p), 0);
	assert_int_equal(kv_key_rotation_get(f->kv, "app", "rp", &got), -ENOENT);
	/* not for secrets */
	assert_int_equal(kv_secret_set(f->kv, "app", "sec", "x", 1, NULL, NULL), 0);
	p.rotate_after = 1;
	assert_int_equal(kv_key_rotation_set(f->kv, "app", "sec", &p), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sign_each_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_and_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tpm_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_and_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_policy, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
