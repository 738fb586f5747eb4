/* key-ec.c: ECDSA with a software EC key's private scalar, signed through OpenSSL's EC_KEY
 * API over a curve group built once per process. OpenSSL 3.0 builds the curve's group again
 * for every key made from parameters (EVP_PKEY_fromdata: 18-20 us for P-256, half a
 * signature), and its provider key management cannot take a private scalar into a copy of a
 * key that holds only the group, so the one way to sign with a key loaded for one operation
 * without that cost is the EC_KEY API, deprecated in 3.0 (the one file of the module that uses
 * a deprecated API; built without it, key_ec_sign_scalar says -EOPNOTSUPP and key-soft.c signs
 * through EVP). What is kept is public: the three curves' groups, immutable after their build
 * (pthread_once). The private scalar is in OpenSSL's key object only for the call (a secure
 * BIGNUM, freed cleansed with it); it is never copied to plain memory, logged or kept. Where
 * OpenSSL's default properties ask for FIPS, this path steps aside (EVP through the provider). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/opensslconf.h>

#include "core/crypto.h"
#include "core/key-ec.h"
#include "core/util.h"

#ifndef OPENSSL_NO_DEPRECATED_3_0

/* P-256, P-384, P-521: public domain parameters, built at the first signature. */
static EC_GROUP *groups[3];
static pthread_once_t groups_once = PTHREAD_ONCE_INIT;

static void groups_build(void)
{
	static const int nids[] = { NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1 };

	for (size_t i = 0; i < ELEMENTSOF(nids); i++)
		groups[i] = EC_GROUP_new_by_curve_name(nids[i]);
}

static const EC_GROUP *group_of(enum key_type t)
{
	(void)pthread_once(&groups_once, groups_build);
	switch (t) {
	case KEY_EC_P256:
		return groups[0];
	case KEY_EC_P384:
		return groups[1];
	case KEY_EC_P521:
		return groups[2];
	default:
		return NULL;
	}
}

static inline void ec_key_freep(EC_KEY **p)
{
	EC_KEY_free(*p);
}

static inline void ecdsa_sig_freep(ECDSA_SIG **p)
{
	ECDSA_SIG_free(*p);
}

static inline void bn_clear_freep(BIGNUM **p)
{
	BN_clear_free(*p);
}

int key_ec_sign_scalar(enum key_type t, const uint8_t *priv, size_t priv_len, const uint8_t *dgst,
		       size_t n, uint8_t *sig, size_t *siglen)
{
	_cleanup_(ec_key_freep) EC_KEY *ec = NULL;
	_cleanup_(ecdsa_sig_freep) ECDSA_SIG *es = NULL;
	_cleanup_(bn_clear_freep) BIGNUM *bn = NULL;
	const EC_GROUP *g = group_of(t);
	const BIGNUM *r, *s;
	size_t c;

	/* EC_KEY signs outside the provider layer: where FIPS is asked for, EVP signs */
	if (!g || EVP_default_properties_is_fips_enabled(NULL))
		return -EOPNOTSUPP;
	c = ((size_t)EC_GROUP_get_degree(g) + 7) / 8;
	if (!priv || priv_len == 0 || priv_len > c || !dgst || !sig || !siglen)
		return -EINVAL;
	if (*siglen < 2 * c)
		return -ENOBUFS;
	bn = BN_secure_new(); /* EC_KEY_set_private_key copies it into a secure BIGNUM too */
	ec = EC_KEY_new();
	if (!bn || !ec)
		return -ENOMEM;
	if (!BN_bin2bn(priv, (int)priv_len, bn) || EC_KEY_set_group(ec, g) != 1 ||
	    EC_KEY_set_private_key(ec, bn) != 1)
		return crypto_openssl_errno(-EINVAL);
	es = ECDSA_do_sign(dgst, (int)n, ec);
	if (!es)
		return crypto_openssl_errno(-EIO);
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, (int)c) < 0 || BN_bn2binpad(s, sig + c, (int)c) < 0)
		return crypto_openssl_errno(-EIO);
	*siglen = 2 * c;
	return 0;
}

#else

int key_ec_sign_scalar(enum key_type t, const uint8_t *priv, size_t priv_len, const uint8_t *dgst,
		       size_t n, uint8_t *sig, size_t *siglen)
{
	(void)t, (void)priv, (void)priv_len, (void)dgst, (void)n, (void)sig, (void)siglen;
	return -EOPNOTSUPP;
}

#endif
