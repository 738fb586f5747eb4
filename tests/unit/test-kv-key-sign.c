/* test-kv-key-sign.c: the signing path of kv-key.c that the ssh-agent takes: kv_key_sign_spki
 * (one decryption of the key's record for the check of the public half and the signature) and
 * key_soft_sign_spki under it (EC loaded without its point, Ed25519 with the record's public
 * key): its signatures verify with the key's public half, for every software signing type; a
 * public half that is not the current version's is -ESTALE and signs nothing; the checks of
 * kv_key_sign (key_ops, algorithm, lifecycle) still hold. Test-only. */
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
#include "tests/unit/testlib.h"

#define T0 INT64_C(1800000000)

static int setup(void **state)
{
	*state = test_kv_new(T0, (const char *const[]){ "app", NULL });
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	test_kv_free(*state);
	return 0;
}

static void create(struct test_kv *f, const char *name, enum key_type t, unsigned ops)
{
	struct kv_key_spec spec = { .type = t, .protection = KEY_PROTECTION_SOFTWARE, .ops = ops };
	uint32_t v = 0;

	assert_int_equal(kv_key_create(f->kv, NULL, "app", name, &spec, NULL, &v), 0);
}

/* The input of alg for msg: its digest, or the message for EdDSA. */
static size_t input(enum key_alg a, const char *msg, uint8_t *buf)
{
	size_t n = KEY_DIGEST_MAX;

	if (a == KEY_ALG_EDDSA) {
		memcpy(buf, msg, strlen(msg));
		return strlen(msg);
	}
	assert_int_equal(key_digest(a, (const uint8_t *)msg, strlen(msg), buf, &n), 0);
	return n;
}

static void signs_what_verifies(void **state)
{
	static const struct {
		enum key_type t;
		enum key_alg a;
	} cases[] = {
		{ KEY_ED25519, KEY_ALG_EDDSA },	 { KEY_EC_P256, KEY_ALG_ES256 },
		{ KEY_EC_P384, KEY_ALG_ES384 },	 { KEY_EC_P521, KEY_ALG_ES512 },
		{ KEY_RSA_2048, KEY_ALG_RS256 }, { KEY_RSA_2048, KEY_ALG_PS256 },
	};
	struct test_kv *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kv_key_public pub;
		uint8_t in[64], sig[KEY_SIG_MAX];
		size_t n, siglen = sizeof(sig);
		char name[32];
		uint32_t v = 0;

		snprintf(name, sizeof(name), "k%zu", i);
		create(f, name, cases[i].t, 0);
		assert_int_equal(kv_key_public(f->kv, "app", name, 0, &pub), 0);
		n = input(cases[i].a, "a commit", in);
		assert_int_equal(kv_key_sign_spki(f->kv, NULL, "app", name, pub.spki, pub.spki_len,
						  cases[i].a, in, n, sig, &siglen, &v),
				 0);
		assert_int_equal(v, 1);
		assert_int_equal(key_verify(cases[i].t, pub.spki, pub.spki_len, cases[i].a, in, n,
					    sig, siglen),
				 0);
		/* the same as kv_key_sign's, for the deterministic ones */
		if (cases[i].a == KEY_ALG_EDDSA || cases[i].a == KEY_ALG_RS256) {
			uint8_t sig2[KEY_SIG_MAX];
			size_t siglen2 = sizeof(sig2);

			assert_int_equal(kv_key_sign(f->kv, NULL, "app", name, 0, cases[i].a, in, n,
						     sig2, &siglen2, NULL),
					 0);
			assert_int_equal(siglen2, siglen);
			assert_memory_equal(sig2, sig, siglen);
		}
	}
}

static void another_public_half_is_stale(void **state)
{
	struct test_kv *f = *state;
	struct kv_key_public a, b;
	uint8_t in[64], sig[KEY_SIG_MAX];
	size_t n = input(KEY_ALG_EDDSA, "x", in), siglen = sizeof(sig);
	uint32_t v = 0;

	create(f, "a", KEY_ED25519, 0);
	create(f, "b", KEY_ED25519, 0);
	assert_int_equal(kv_key_public(f->kv, "app", "a", 0, &a), 0);
	assert_int_equal(kv_key_public(f->kv, "app", "b", 0, &b), 0);
	assert_int_equal(kv_key_sign_spki(f->kv, NULL, "app", "a", b.spki, b.spki_len,
					  KEY_ALG_EDDSA, in, n, sig, &siglen, &v),
			 -ESTALE);
	assert_int_equal(siglen, sizeof(sig));
	assert_int_equal(v, 0);
	/* a prefix of its own is not it either */
	assert_int_equal(kv_key_sign_spki(f->kv, NULL, "app", "a", a.spki, a.spki_len - 1,
					  KEY_ALG_EDDSA, in, n, sig, &siglen, &v),
			 -ESTALE);
	assert_int_equal(kv_key_sign_spki(f->kv, NULL, "app", "a", NULL, 0, KEY_ALG_EDDSA, in, n,
					  sig, &siglen, &v),
			 -EINVAL);
	/* after a rotation the old version's public half is stale: the current one signs */
	assert_int_equal(kv_key_rotate(f->kv, NULL, "app", "a", NULL, &v), 0);
	assert_int_equal(kv_key_sign_spki(f->kv, NULL, "app", "a", a.spki, a.spki_len,
					  KEY_ALG_EDDSA, in, n, sig, &siglen, &v),
			 -ESTALE);
	assert_int_equal(kv_key_public(f->kv, "app", "a", 0, &a), 0);
	assert_int_equal(kv_key_sign_spki(f->kv, NULL, "app", "a", a.spki, a.spki_len,
					  KEY_ALG_EDDSA, in, n, sig, &siglen, &v),
			 0);
	assert_int_equal(v, 2);
}

static void checks_of_kv_key_sign_hold(void **state)
{
	struct test_kv *f = *state;
	struct kv_key_public pub;
	struct kv_attrs off = { .enabled = 0, .content_type = "" };
	uint8_t in[64], sig[KEY_SIG_MAX];
	size_t n = input(KEY_ALG_ES256, "x", in), siglen = sizeof(sig);

	create(f, "vo", KEY_EC_P256, KEY_OP_VERIFY);
	assert_int_equal(kv_key_public(f->kv, "app", "vo", 0, &pub), 0);
	assert_int_equal(kv_key_sign_spki(f->kv, NULL, "app", "vo", pub.spki, pub.spki_len,
					  KEY_ALG_ES256, in, n, sig, &siglen, NULL),
			 -EPERM);
	create(f, "p", KEY_EC_P256, 0);
	assert_int_equal(kv_key_public(f->kv, "app", "p", 0, &pub), 0);
	assert_int_equal(kv_key_sign_spki(f->kv, NULL, "app", "p", pub.spki, pub.spki_len,
					  KEY_ALG_ES384, in, n, sig, &siglen, NULL),
			 key_alg_check(KEY_EC_P256, KEY_OP_SIGN, KEY_ALG_ES384));
	assert_int_equal(kv_key_sign_spki(f->kv, NULL, "app", "p", pub.spki, pub.spki_len,
					  KEY_ALG_ES256, in, n - 1, sig, &siglen, NULL),
			 -EINVAL);
	assert_int_equal(kv_object_update(f->kv, OBJECT_KEY, "app", "p", 1, &off), 0);
	assert_int_equal(kv_key_sign_spki(f->kv, NULL, "app", "p", pub.spki, pub.spki_len,
					  KEY_ALG_ES256, in, n, sig, &siglen, NULL),
			 -EKEYREVOKED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(signs_what_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(another_public_half_is_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(checks_of_kv_key_sign_hold, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
