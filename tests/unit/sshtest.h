/* sshtest.h: what the ssh-wire and agent tests (and agent-demo) share: software keys made or
 * loaded with OpenSSL, their SPKI DER, and signatures in key.h's JWS form (ECDSA r || s padded,
 * RSA PKCS#1 v1.5, EdDSA 64 bytes). Test code only: the daemon signs through its key modules. */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/key.h"

/* A new key: "ed25519", "p256", "p384", "p521", "rsa2048", "rsa1024"; NULL on failure. */
static inline EVP_PKEY *sshtest_keygen(const char *what)
{
	if (strcmp(what, "ed25519") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (strcmp(what, "p256") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (strcmp(what, "p384") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	if (strcmp(what, "p521") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	if (strcmp(what, "rsa2048") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (strcmp(what, "rsa1024") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	return NULL;
}

/* i2d_PUBKEY into der (size bytes): its length, or -1. */
static inline int sshtest_spki(EVP_PKEY *pk, uint8_t *der, size_t size)
{
	unsigned char *p = der;
	int len = i2d_PUBKEY(pk, NULL);

	if (len <= 0 || (size_t)len > size)
		return -1;
	return i2d_PUBKEY(pk, &p);
}

/* The ECDSA coordinate size of a key (0 for others). */
static inline size_t sshtest_ec_field(EVP_PKEY *pk)
{
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC)
		return 0;
	return ((size_t)EVP_PKEY_get_bits(pk) + 7) / 8;
}

/* Sign data (the message; hashed here by alg) with pk in JWS form. 0 or -EINVAL/-EIO. */
static inline int sshtest_sign(EVP_PKEY *pk, enum key_alg alg, const uint8_t *data, size_t n,
			       uint8_t *sig, size_t *siglen)
{
	const EVP_MD *md = NULL;
	EVP_MD_CTX *ctx;
	uint8_t der[1024];
	size_t derlen = sizeof(der), f = sshtest_ec_field(pk);
	int ok;

	switch (alg) {
	case KEY_ALG_RS256:
	case KEY_ALG_ES256:
		md = EVP_sha256();
		break;
	case KEY_ALG_ES384:
		md = EVP_sha384();
		break;
	case KEY_ALG_RS512:
	case KEY_ALG_ES512:
		md = EVP_sha512();
		break;
	case KEY_ALG_EDDSA:
		break;
	default:
		return -EINVAL;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -EIO;
	ok = EVP_DigestSignInit(ctx, NULL, md, NULL, pk) == 1 &&
	     EVP_DigestSign(ctx, der, &derlen, data, n) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -EIO;
	if (f) {
		const unsigned char *p = der;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);

		if (!es || *siglen < 2 * f)
			return -EIO;
		ok = BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)f) == (int)f &&
		     BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + f, (int)f) == (int)f;
		ECDSA_SIG_free(es);
		if (!ok)
			return -EIO;
		*siglen = 2 * f;
		return 0;
	}
	if (derlen > *siglen)
		return -EIO;
	memcpy(sig, der, derlen);
	*siglen = derlen;
	return 0;
}
