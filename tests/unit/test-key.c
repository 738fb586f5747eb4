/* test-key.c: unit tests for core/key.c: every name both ways and the unknown ones, key_ops
 * lists (parse and format, repeated, empty and unknown names, a buffer too small), the ops of
 * each type, key_alg_check over every type x op x algorithm against a table written out by
 * hand, and the digest lengths. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/key.h"
#include "core/util.h"

static void test_type_names(void **state)
{
	(void)state;
	static const char *const names[] = { NULL,	 "rsa-2048", "rsa-3072",
					     "rsa-4096", "ec-p256",  "ec-p384",
					     "ec-p521",	 "ed25519",  "aes-256" };

	assert_int_equal(ELEMENTSOF(names), _KEY_TYPE_MAX);
	for (unsigned t = 1; t < _KEY_TYPE_MAX; t++) {
		assert_string_equal(key_type_name((enum key_type)t), names[t]);
		assert_int_equal(key_type_from_name(names[t]), t);
	}
	assert_null(key_type_name(KEY_TYPE_INVALID));
	assert_null(key_type_name(_KEY_TYPE_MAX));
	assert_null(key_type_name((enum key_type) - 1));
	assert_int_equal(key_type_from_name("rsa-1024"), KEY_TYPE_INVALID);
	assert_int_equal(key_type_from_name("RSA-2048"), KEY_TYPE_INVALID);
	assert_int_equal(key_type_from_name(""), KEY_TYPE_INVALID);
	assert_int_equal(key_type_from_name(NULL), KEY_TYPE_INVALID);
}

static void test_alg_names(void **state)
{
	(void)state;
	static const char *const names[] = {
		NULL,	    "RS256",   "RS384",	 "RS512",   "PS256", "PS384",
		"PS512",    "ES256",   "ES384",	 "ES512",   "EdDSA", "RSA-OAEP-256",
		"RSA-OAEP", "A256GCM", "A256KW", "A256KWP",
	};

	assert_int_equal(ELEMENTSOF(names), _KEY_ALG_MAX);
	for (unsigned a = 1; a < _KEY_ALG_MAX; a++) {
		assert_string_equal(key_alg_name((enum key_alg)a), names[a]);
		assert_int_equal(key_alg_from_name(names[a]), a);
	}
	assert_null(key_alg_name(KEY_ALG_INVALID));
	assert_null(key_alg_name(_KEY_ALG_MAX));
	/* names are exact: JOSE spells them so */
	assert_int_equal(key_alg_from_name("rs256"), KEY_ALG_INVALID);
	assert_int_equal(key_alg_from_name("EDDSA"), KEY_ALG_INVALID);
	assert_int_equal(key_alg_from_name("RSA-OAEP-384"), KEY_ALG_INVALID);
	assert_int_equal(key_alg_from_name(""), KEY_ALG_INVALID);
	assert_int_equal(key_alg_from_name(NULL), KEY_ALG_INVALID);
}

static void test_op_names(void **state)
{
	(void)state;
	static const struct {
		enum key_op op;
		const char *name;
	} ops[] = {
		{ KEY_OP_SIGN, "sign" },       { KEY_OP_VERIFY, "verify" },
		{ KEY_OP_ENCRYPT, "encrypt" }, { KEY_OP_DECRYPT, "decrypt" },
		{ KEY_OP_WRAP, "wrap" },       { KEY_OP_UNWRAP, "unwrap" },
	};

	for (size_t i = 0; i < ELEMENTSOF(ops); i++) {
		assert_string_equal(key_op_name(ops[i].op), ops[i].name);
		assert_int_equal(key_op_from_name(ops[i].name), ops[i].op);
	}
	/* one bit at a time */
	assert_null(key_op_name(KEY_OP_SIGN | KEY_OP_VERIFY));
	assert_null(key_op_name(0));
	assert_null(key_op_name(1u << 6));
	assert_int_equal(key_op_from_name("Sign"), -EINVAL);
	assert_int_equal(key_op_from_name("read"), -EINVAL);
	assert_int_equal(key_op_from_name(""), -EINVAL);
	assert_int_equal(key_op_from_name(NULL), -EINVAL);
}

static void test_ops_parse(void **state)
{
	(void)state;
	unsigned ops = 0xdead;

	assert_int_equal(key_ops_parse("sign", &ops), 0);
	assert_int_equal(ops, KEY_OP_SIGN);
	assert_int_equal(key_ops_parse("verify,sign", &ops), 0);
	assert_int_equal(ops, KEY_OP_SIGN | KEY_OP_VERIFY);
	assert_int_equal(key_ops_parse("sign,verify,encrypt,decrypt,wrap,unwrap", &ops), 0);
	assert_int_equal(ops, KEY_OPS_ALL);

	ops = 0xdead;
	assert_int_equal(key_ops_parse("", &ops), -EINVAL);
	assert_int_equal(key_ops_parse("sign,", &ops), -EINVAL);
	assert_int_equal(key_ops_parse(",sign", &ops), -EINVAL);
	assert_int_equal(key_ops_parse("sign,,verify", &ops), -EINVAL);
	assert_int_equal(key_ops_parse("sign,sign", &ops), -EINVAL);
	assert_int_equal(key_ops_parse("sign, verify", &ops), -EINVAL);
	assert_int_equal(key_ops_parse("sign,delete", &ops), -EINVAL);
	assert_int_equal(key_ops_parse("signverifyencryptdecrypt", &ops), -EINVAL);
	assert_int_equal(key_ops_parse(NULL, &ops), -EINVAL);
	assert_int_equal(key_ops_parse("sign", NULL), -EINVAL);
	/* written only on success */
	assert_int_equal(ops, 0xdead);
}

static void test_ops_format(void **state)
{
	(void)state;
	char buf[64];
	unsigned back = 0;

	assert_int_equal(key_ops_format(KEY_OP_VERIFY | KEY_OP_SIGN, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "sign,verify");
	assert_int_equal(key_ops_format(KEY_OPS_ALL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "sign,verify,encrypt,decrypt,wrap,unwrap");
	assert_int_equal(key_ops_parse(buf, &back), 0);
	assert_int_equal(back, KEY_OPS_ALL);
	assert_int_equal(key_ops_format(KEY_OP_UNWRAP, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "unwrap");
	assert_int_equal(key_ops_format(0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	/* "sign,verify" is 11 characters and its NUL */
	assert_int_equal(key_ops_format(KEY_OP_SIGN | KEY_OP_VERIFY, buf, 12), 0);
	assert_string_equal(buf, "sign,verify");
	assert_int_equal(key_ops_format(KEY_OP_SIGN | KEY_OP_VERIFY, buf, 11), -ENOBUFS);
	assert_string_equal(buf, "");
	assert_int_equal(key_ops_format(1u << 6, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(key_ops_format(KEY_OP_SIGN, NULL, 10), -EINVAL);
	assert_int_equal(key_ops_format(KEY_OP_SIGN, buf, 0), -EINVAL);
}

static void test_type_ops(void **state)
{
	(void)state;
	const unsigned asym = KEY_OP_SIGN | KEY_OP_VERIFY;
	const unsigned sym = KEY_OP_ENCRYPT | KEY_OP_DECRYPT | KEY_OP_WRAP | KEY_OP_UNWRAP;

	assert_int_equal(key_type_ops(KEY_RSA_2048), KEY_OPS_ALL);
	assert_int_equal(key_type_ops(KEY_RSA_3072), KEY_OPS_ALL);
	assert_int_equal(key_type_ops(KEY_RSA_4096), KEY_OPS_ALL);
	assert_int_equal(key_type_ops(KEY_EC_P256), asym);
	assert_int_equal(key_type_ops(KEY_EC_P384), asym);
	assert_int_equal(key_type_ops(KEY_EC_P521), asym);
	assert_int_equal(key_type_ops(KEY_ED25519), asym);
	assert_int_equal(key_type_ops(KEY_AES_256), sym);
	assert_int_equal(key_type_ops(KEY_TYPE_INVALID), 0);
	assert_int_equal(key_type_ops(_KEY_TYPE_MAX), 0);

	for (unsigned t = 0; t <= _KEY_TYPE_MAX; t++) {
		assert_int_equal(key_type_is_rsa((enum key_type)t),
				 t == KEY_RSA_2048 || t == KEY_RSA_3072 || t == KEY_RSA_4096);
		assert_int_equal(key_type_is_ec((enum key_type)t),
				 t == KEY_EC_P256 || t == KEY_EC_P384 || t == KEY_EC_P521);
	}
}

/* The table key_alg_check must follow, written out: for each type and op, the algorithms. */
static bool allowed(enum key_type t, enum key_op op, enum key_alg a)
{
	bool rsa_sign = a >= KEY_ALG_RS256 && a <= KEY_ALG_PS512;

	switch (t) {
	case KEY_RSA_2048:
	case KEY_RSA_3072:
	case KEY_RSA_4096:
		if (op == KEY_OP_SIGN || op == KEY_OP_VERIFY)
			return rsa_sign;
		if (op == KEY_OP_DECRYPT)
			return a == KEY_ALG_RSA_OAEP_256 || a == KEY_ALG_RSA_OAEP;
		return a == KEY_ALG_RSA_OAEP_256;
	case KEY_EC_P256:
		return (op == KEY_OP_SIGN || op == KEY_OP_VERIFY) && a == KEY_ALG_ES256;
	case KEY_EC_P384:
		return (op == KEY_OP_SIGN || op == KEY_OP_VERIFY) && a == KEY_ALG_ES384;
	case KEY_EC_P521:
		return (op == KEY_OP_SIGN || op == KEY_OP_VERIFY) && a == KEY_ALG_ES512;
	case KEY_ED25519:
		return (op == KEY_OP_SIGN || op == KEY_OP_VERIFY) && a == KEY_ALG_EDDSA;
	case KEY_AES_256:
		if (op == KEY_OP_ENCRYPT || op == KEY_OP_DECRYPT)
			return a == KEY_ALG_A256GCM;
		if (op == KEY_OP_WRAP || op == KEY_OP_UNWRAP)
			return a == KEY_ALG_A256KW || a == KEY_ALG_A256KWP;
		return false;
	default:
		return false;
	}
}

static void test_alg_check(void **state)
{
	(void)state;
	unsigned ok = 0;

	for (unsigned t = 0; t <= _KEY_TYPE_MAX; t++)
		for (unsigned i = 0; i < 6; i++)
			for (unsigned a = 1; a < _KEY_ALG_MAX; a++) {
				enum key_op op = (enum key_op)(1u << i);
				int want = allowed((enum key_type)t, op, (enum key_alg)a) ?
						   0 :
						   -EOPNOTSUPP;

				assert_int_equal(
					key_alg_check((enum key_type)t, op, (enum key_alg)a), want);
				ok += want == 0;
			}
	/* RSA: 3 x (6 + 6 + 1 + 2 + 1 + 1); EC and Ed25519: 4 x 2; AES: 6 */
	assert_int_equal(ok, 3 * 17 + 4 * 2 + 6);
	/* an unknown algorithm is -EINVAL, whatever the type */
	assert_int_equal(key_alg_check(KEY_RSA_2048, KEY_OP_SIGN, KEY_ALG_INVALID), -EINVAL);
	assert_int_equal(key_alg_check(KEY_RSA_2048, KEY_OP_SIGN, _KEY_ALG_MAX), -EINVAL);
	assert_int_equal(key_alg_check(KEY_AES_256, KEY_OP_SIGN, (enum key_alg)99), -EINVAL);
	/* no op, or two at once */
	assert_int_equal(key_alg_check(KEY_RSA_2048, 0, KEY_ALG_RS256), -EOPNOTSUPP);
	assert_int_equal(key_alg_check(KEY_RSA_2048, KEY_OP_SIGN | KEY_OP_VERIFY, KEY_ALG_RS256),
			 -EOPNOTSUPP);
}

static void test_digest_len(void **state)
{
	(void)state;

	assert_int_equal(key_alg_digest_len(KEY_ALG_RS256), 32);
	assert_int_equal(key_alg_digest_len(KEY_ALG_PS256), 32);
	assert_int_equal(key_alg_digest_len(KEY_ALG_ES256), 32);
	assert_int_equal(key_alg_digest_len(KEY_ALG_RS384), 48);
	assert_int_equal(key_alg_digest_len(KEY_ALG_PS384), 48);
	assert_int_equal(key_alg_digest_len(KEY_ALG_ES384), 48);
	assert_int_equal(key_alg_digest_len(KEY_ALG_RS512), 64);
	assert_int_equal(key_alg_digest_len(KEY_ALG_PS512), 64);
	assert_int_equal(key_alg_digest_len(KEY_ALG_ES512), 64);
	assert_int_equal(key_alg_digest_len(KEY_ALG_EDDSA), 0);
	assert_int_equal(key_alg_digest_len(KEY_ALG_RSA_OAEP_256), 0);
	assert_int_equal(key_alg_digest_len(KEY_ALG_A256KW), 0);
	assert_int_equal(key_alg_digest_len(KEY_ALG_INVALID), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names), cmocka_unit_test(test_alg_names),
		cmocka_unit_test(test_op_names),   cmocka_unit_test(test_ops_parse),
		cmocka_unit_test(test_ops_format), cmocka_unit_test(test_type_ops),
		cmocka_unit_test(test_alg_check),  cmocka_unit_test(test_digest_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
