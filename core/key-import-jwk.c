/* key-import-jwk.c: a private JWK (RFC 7517, 7518 §6, 8037) for key_soft_import: kty RSA
 * (with its CRT parameters), EC (P-256, P-384, P-521), OKP (Ed25519) and oct (32 bytes), read
 * with json-c. Every base64url member is decoded into a secbuf, and every string json-c kept
 * (its objects and its tokener's buffer) is wiped before it is freed. It never accepts a public
 * JWK (no "d") as a private key, nor a key whose halves do not belong together. */
#include <errno.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bn.h>

#include "core/key-soft-int.h"
#include "core/key-soft.h"
#include "core/util.h"

/* Every string in v, at any depth (an RSA key's "oth" is an array of objects), wiped: the tree
 * is the caller's to free after. */
static void wipe_strings(struct json_object *v)
{
	if (json_object_is_type(v, json_type_string))
		secure_wipe((char *)json_object_get_string(v),
			    (size_t)json_object_get_string_len(v));
	else if (json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			wipe_strings(json_object_array_get_idx(v, i));
	else if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, k, member)
		{
			(void)k;
			wipe_strings(member);
		}
	}
}

static const char *member_str(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A base64url member's bytes: -ENOENT when it is missing, -EINVAL when it is not a string of
 * base64url. */
static int member_bytes(struct json_object *o, const char *name, struct secbuf **ret)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v))
		return -ENOENT;
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	return key_base64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v),
				 true, ret);
}

/* A member as a new secure BIGNUM; missing is -EINVAL for public members and d, -EOPNOTSUPP
 * for the optional CRT members (missing), through missing. */
static int member_bn(struct json_object *o, const char *name, int missing, BIGNUM **ret)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;
	BIGNUM *bn;
	int r = member_bytes(o, name, &b);

	if (r == -ENOENT)
		return missing;
	if (r < 0)
		return r;
	bn = BN_secure_new();
	if (!bn)
		return -ENOMEM;
	if (!BN_bin2bn(b->data, (int)b->len, bn)) {
		BN_clear_free(bn);
		return crypto_openssl_errno(-ENOMEM);
	}
	*ret = bn;
	return 0;
}

static int jwk_rsa(struct json_object *o, EVP_PKEY **ret)
{
	_cleanup_(key_bn_clear_freep) BIGNUM *n = NULL, *e = NULL, *d = NULL, *p = NULL, *q = NULL,
					     *dp = NULL, *dq = NULL, *qi = NULL;
	int r;

	/* OpenSSL 3.0 cannot find the primes from n, e, d alone: a key without them is not
	 * supported */
	if ((r = member_bn(o, "n", -EINVAL, &n)) < 0)
		return r;
	/* past RSA 4096: refused before any arithmetic on it */
	if (BN_num_bytes(n) > KEY_RSA_MODULUS_MAX)
		return -EOPNOTSUPP;
	if ((r = member_bn(o, "e", -EINVAL, &e)) < 0 || (r = member_bn(o, "d", -EINVAL, &d)) < 0 ||
	    (r = member_bn(o, "p", -EOPNOTSUPP, &p)) < 0 ||
	    (r = member_bn(o, "q", -EOPNOTSUPP, &q)) < 0 ||
	    (r = member_bn(o, "dp", -EOPNOTSUPP, &dp)) < 0 ||
	    (r = member_bn(o, "dq", -EOPNOTSUPP, &dq)) < 0 ||
	    (r = member_bn(o, "qi", -EOPNOTSUPP, &qi)) < 0)
		return r;
	return key_rsa_from_parts(n, e, d, p, q, dp, dq, qi, ret);
}

static int jwk_ec(struct json_object *o, EVP_PKEY **ret)
{
	_cleanup_secbuf_ struct secbuf *x = NULL, *y = NULL, *d = NULL;
	_cleanup_(key_bn_clear_freep) BIGNUM *bn = NULL;
	const char *crv = member_str(o, "crv");
	uint8_t pub[1 + 2 * 66];
	enum key_type t;
	size_t c;
	int r;

	if (!crv)
		return -EINVAL;
	if (streq(crv, "P-256"))
		t = KEY_EC_P256, c = 32;
	else if (streq(crv, "P-384"))
		t = KEY_EC_P384, c = 48;
	else if (streq(crv, "P-521"))
		t = KEY_EC_P521, c = 66;
	else
		return -EOPNOTSUPP;
	/* RFC 7518 §6.2: each of x, y and d is the full size of a coordinate */
	if ((r = member_bytes(o, "x", &x)) < 0 || (r = member_bytes(o, "y", &y)) < 0 ||
	    (r = member_bytes(o, "d", &d)) < 0)
		return r == -ENOENT ? -EINVAL : r;
	if (x->len != c || y->len != c || d->len != c)
		return -EINVAL;
	pub[0] = 0x04;
	memcpy(pub + 1, x->data, c);
	memcpy(pub + 1 + c, y->data, c);
	bn = BN_secure_new();
	if (!bn)
		return -ENOMEM;
	if (!BN_bin2bn(d->data, (int)c, bn))
		return crypto_openssl_errno(-ENOMEM);
	return key_ec_from_parts(t, pub, 1 + 2 * c, bn, ret);
}

static int jwk_okp(struct json_object *o, EVP_PKEY **ret)
{
	_cleanup_secbuf_ struct secbuf *x = NULL, *d = NULL;
	const char *crv = member_str(o, "crv");
	int r;

	if (!crv)
		return -EINVAL;
	/* Ed448 and the X25519/X448 agreement keys are not key types here */
	if (!streq(crv, "Ed25519"))
		return -EOPNOTSUPP;
	if ((r = member_bytes(o, "x", &x)) < 0 || (r = member_bytes(o, "d", &d)) < 0)
		return r == -ENOENT ? -EINVAL : r;
	if (x->len != 32 || d->len != 32)
		return -EINVAL;
	return key_ed25519_from_seed(d->data, x->data, ret);
}

static int jwk_key(struct json_object *o, enum key_type *ret_type, struct secbuf **ret_material)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	_cleanup_secbuf_ struct secbuf *k = NULL;
	const char *kty = member_str(o, "kty");
	int r;

	if (!kty)
		return -EINVAL;
	if (streq(kty, "oct")) {
		r = member_bytes(o, "k", &k);
		if (r < 0)
			return r == -ENOENT ? -EINVAL : r;
		if (k->len != 32)
			return -EOPNOTSUPP;
		*ret_type = KEY_AES_256;
		*ret_material = TAKE_PTR(k);
		return 0;
	}
	if (streq(kty, "RSA"))
		r = jwk_rsa(o, &pk);
	else if (streq(kty, "EC"))
		r = jwk_ec(o, &pk);
	else if (streq(kty, "OKP"))
		r = jwk_okp(o, &pk);
	else
		return -EOPNOTSUPP;
	if (r < 0)
		return r;
	return key_import_finish(pk, ret_type, ret_material);
}

int key_import_jwk(const uint8_t *in, size_t n, enum key_type *ret_type,
		   struct secbuf **ret_material)
{
	struct json_tokener *tok = json_tokener_new_ex(4);
	struct json_object *o;
	enum json_tokener_error err;
	size_t end;
	int r;

	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, (const char *)in, (int)n);
	err = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	/* the tokener's buffer held the last string it read */
	if (tok->pb && tok->pb->buf)
		secure_wipe(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	if (!o)
		return -EINVAL;
	r = -EINVAL;
	if (err == json_tokener_success && json_object_is_type(o, json_type_object)) {
		r = 0;
		for (size_t i = end; i < n; i++)
			if (!strchr(" \t\r\n", in[i]) || in[i] == '\0')
				r = -EINVAL;
		if (r == 0)
			r = jwk_key(o, ret_type, ret_material);
	}
	wipe_strings(o);
	json_object_put(o);
	return r;
}
