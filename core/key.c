/* key.c: the names of key.h's vocabulary (types, algorithms, operations, protections) both
 * ways, and the table of what each type can do with which algorithm. Pure tables: it never
 * touches key material, never allocates, never logs. */
#include <errno.h>
#include <string.h>

#include "core/key.h"
#include "core/util.h"

static const char *const type_names[_KEY_TYPE_MAX] = {
	[KEY_RSA_2048] = "rsa-2048", [KEY_RSA_3072] = "rsa-3072", [KEY_RSA_4096] = "rsa-4096",
	[KEY_EC_P256] = "ec-p256",   [KEY_EC_P384] = "ec-p384",	  [KEY_EC_P521] = "ec-p521",
	[KEY_ED25519] = "ed25519",   [KEY_AES_256] = "aes-256",
};

static const char *const alg_names[_KEY_ALG_MAX] = {
	[KEY_ALG_RS256] = "RS256",
	[KEY_ALG_RS384] = "RS384",
	[KEY_ALG_RS512] = "RS512",
	[KEY_ALG_PS256] = "PS256",
	[KEY_ALG_PS384] = "PS384",
	[KEY_ALG_PS512] = "PS512",
	[KEY_ALG_ES256] = "ES256",
	[KEY_ALG_ES384] = "ES384",
	[KEY_ALG_ES512] = "ES512",
	[KEY_ALG_EDDSA] = "EdDSA",
	[KEY_ALG_RSA_OAEP_256] = "RSA-OAEP-256",
	[KEY_ALG_RSA_OAEP] = "RSA-OAEP",
	[KEY_ALG_A256GCM] = "A256GCM",
	[KEY_ALG_A256KW] = "A256KW",
	[KEY_ALG_A256KWP] = "A256KWP",
};

/* In bit order: op_names[i] is the name of 1u << i. */
static const char *const op_names[] = { "sign", "verify", "encrypt", "decrypt", "wrap", "unwrap" };

const char *key_type_name(enum key_type t)
{
	if ((unsigned)t >= _KEY_TYPE_MAX)
		return NULL;
	return type_names[t];
}

enum key_type key_type_from_name(const char *s)
{
	if (!s)
		return KEY_TYPE_INVALID;
	for (unsigned i = 1; i < _KEY_TYPE_MAX; i++)
		if (streq(s, type_names[i]))
			return (enum key_type)i;
	return KEY_TYPE_INVALID;
}

const char *key_alg_name(enum key_alg a)
{
	if ((unsigned)a >= _KEY_ALG_MAX)
		return NULL;
	return alg_names[a];
}

enum key_alg key_alg_from_name(const char *s)
{
	if (!s)
		return KEY_ALG_INVALID;
	for (unsigned i = 1; i < _KEY_ALG_MAX; i++)
		if (streq(s, alg_names[i]))
			return (enum key_alg)i;
	return KEY_ALG_INVALID;
}

const char *key_op_name(enum key_op op)
{
	for (unsigned i = 0; i < ELEMENTSOF(op_names); i++)
		if ((unsigned)op == 1u << i)
			return op_names[i];
	return NULL;
}

int key_op_from_name(const char *s)
{
	if (!s)
		return -EINVAL;
	for (unsigned i = 0; i < ELEMENTSOF(op_names); i++)
		if (streq(s, op_names[i]))
			return (int)(1u << i);
	return -EINVAL;
}

int key_ops_parse(const char *s, unsigned *ret)
{
	unsigned ops = 0;

	if (!s || !ret || !*s)
		return -EINVAL;
	for (const char *p = s;;) {
		const char *end = strchrnul(p, ',');
		size_t n = (size_t)(end - p);
		char word[16];
		int bit;

		if (n == 0 || n >= sizeof(word))
			return -EINVAL;
		memcpy(word, p, n);
		word[n] = '\0';
		bit = key_op_from_name(word);
		if (bit < 0 || (ops & (unsigned)bit))
			return -EINVAL;
		ops |= (unsigned)bit;
		if (!*end)
			break;
		p = end + 1;
	}
	*ret = ops;
	return 0;
}

/* "sign,verify" in bit order; "" for none. -EINVAL for a bit outside KEY_OPS_ALL, -ENOBUFS when
 * it does not fit size (with its NUL). */
int key_ops_format(unsigned ops, char *buf, size_t size)
{
	size_t pos = 0;

	if (!buf || size == 0 || (ops & ~KEY_OPS_ALL))
		return -EINVAL;
	buf[0] = '\0';
	for (unsigned i = 0; i < ELEMENTSOF(op_names); i++) {
		size_t n;

		if (!(ops & (1u << i)))
			continue;
		n = strlen(op_names[i]) + (pos > 0);
		if (pos + n + 1 > size) {
			buf[0] = '\0';
			return -ENOBUFS;
		}
		if (pos > 0)
			buf[pos++] = ',';
		memcpy(buf + pos, op_names[i], strlen(op_names[i]) + 1);
		pos += strlen(op_names[i]);
	}
	return 0;
}

bool key_type_is_rsa(enum key_type t)
{
	return t == KEY_RSA_2048 || t == KEY_RSA_3072 || t == KEY_RSA_4096;
}

bool key_type_is_ec(enum key_type t)
{
	return t == KEY_EC_P256 || t == KEY_EC_P384 || t == KEY_EC_P521;
}

unsigned key_type_ops(enum key_type t)
{
	if (key_type_is_rsa(t))
		return KEY_OPS_ALL;
	if (key_type_is_ec(t) || t == KEY_ED25519)
		return KEY_OP_SIGN | KEY_OP_VERIFY;
	if (t == KEY_AES_256)
		return KEY_OP_ENCRYPT | KEY_OP_DECRYPT | KEY_OP_WRAP | KEY_OP_UNWRAP;
	return 0;
}

static bool alg_is_rsa_sign(enum key_alg a)
{
	return a >= KEY_ALG_RS256 && a <= KEY_ALG_PS512;
}

/* The JWS binding of ECDSA: each ES* goes with its one curve (RFC 7518 §3.4). */
static enum key_type es_curve(enum key_alg a)
{
	switch (a) {
	case KEY_ALG_ES256:
		return KEY_EC_P256;
	case KEY_ALG_ES384:
		return KEY_EC_P384;
	case KEY_ALG_ES512:
		return KEY_EC_P521;
	default:
		return KEY_TYPE_INVALID;
	}
}

int key_alg_check(enum key_type t, enum key_op op, enum key_alg a)
{
	if ((unsigned)a >= _KEY_ALG_MAX || a == KEY_ALG_INVALID)
		return -EINVAL;
	if (!key_op_name(op) || !(key_type_ops(t) & (unsigned)op))
		return -EOPNOTSUPP;
	switch (op) {
	case KEY_OP_SIGN:
	case KEY_OP_VERIFY:
		if (key_type_is_rsa(t))
			return alg_is_rsa_sign(a) ? 0 : -EOPNOTSUPP;
		if (key_type_is_ec(t))
			return es_curve(a) == t ? 0 : -EOPNOTSUPP;
		return t == KEY_ED25519 && a == KEY_ALG_EDDSA ? 0 : -EOPNOTSUPP;
	case KEY_OP_ENCRYPT:
		if (key_type_is_rsa(t))
			return a == KEY_ALG_RSA_OAEP_256 ? 0 : -EOPNOTSUPP;
		return a == KEY_ALG_A256GCM ? 0 : -EOPNOTSUPP;
	case KEY_OP_DECRYPT:
		if (key_type_is_rsa(t))
			return a == KEY_ALG_RSA_OAEP_256 || a == KEY_ALG_RSA_OAEP ? 0 : -EOPNOTSUPP;
		return a == KEY_ALG_A256GCM ? 0 : -EOPNOTSUPP;
	case KEY_OP_WRAP:
	case KEY_OP_UNWRAP:
		if (key_type_is_rsa(t))
			return a == KEY_ALG_RSA_OAEP_256 ? 0 : -EOPNOTSUPP;
		return a == KEY_ALG_A256KW || a == KEY_ALG_A256KWP ? 0 : -EOPNOTSUPP;
	}
	return -EOPNOTSUPP;
}

size_t key_alg_digest_len(enum key_alg a)
{
	switch (a) {
	case KEY_ALG_RS256:
	case KEY_ALG_PS256:
	case KEY_ALG_ES256:
		return 32;
	case KEY_ALG_RS384:
	case KEY_ALG_PS384:
	case KEY_ALG_ES384:
		return 48;
	case KEY_ALG_RS512:
	case KEY_ALG_PS512:
	case KEY_ALG_ES512:
		return 64;
	default:
		return 0;
	}
}
