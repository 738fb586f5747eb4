/* ssh-wire-crypto.c: the parts of ssh-wire.h that need OpenSSL: the SHA256 fingerprint of a key
 * blob and the verification of an ssh signature (an agent checks the host's signature of the
 * session id a client binds its connection to). Public keys and signatures only: never a private
 * key. OpenSSL's 0/1 results become -errno here, with log_foreign keeping its words.
 */
#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto.h"
#include "log.h"
#include "ssh-wire.h"
#include "util.h"

static int ssl_fail(int err, const char *what)
{
	(void)what; /* OpenSSL's own words say what failed */
	return crypto_openssl_errno(err);
}

int ssh_fingerprint(const uint8_t *blob, size_t n, char buf[SSH_FINGERPRINT_MAX])
{
	uint8_t md[32];
	unsigned mdlen = 0;

	if (!EVP_Digest(blob, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != sizeof(md))
		return ssl_fail(-EIO, "SHA-256");
	memcpy(buf, "SHA256:", 7);
	ssh_base64(md, sizeof(md), buf + 7, false);
	return 0;
}

static void pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}

static void md_ctx_freep(EVP_MD_CTX **p)
{
	EVP_MD_CTX_free(*p);
}

static void ecdsa_sig_freep(ECDSA_SIG **p)
{
	ECDSA_SIG_free(*p);
}

static bool alg_fits(int kind, enum key_alg alg)
{
	switch (kind) {
	case SSH_KEY_RSA:
		return alg == KEY_ALG_RS256 || alg == KEY_ALG_RS512;
	default:
		return ssh_agent_sign_alg(kind, 0) == alg;
	}
}

static const EVP_MD *alg_md(enum key_alg alg)
{
	switch (alg) {
	case KEY_ALG_RS256:
	case KEY_ALG_ES256:
		return EVP_sha256();
	case KEY_ALG_ES384:
		return EVP_sha384();
	case KEY_ALG_RS512:
	case KEY_ALG_ES512:
		return EVP_sha512();
	default:
		return NULL; /* EdDSA */
	}
}

/* JWS r || s (2f bytes) as the DER ECDSA-Sig-Value OpenSSL verifies. */
static int ecdsa_der(const uint8_t *rs, size_t f, uint8_t *out, size_t size, size_t *ret_len)
{
	_cleanup_(ecdsa_sig_freep) ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, (int)f, NULL), *s = BN_bin2bn(rs + f, (int)f, NULL);
	unsigned char *p = out;
	int len;

	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		return ssl_fail(-ENOMEM, "ECDSA signature");
	}
	len = i2d_ECDSA_SIG(sig, NULL);
	if (len <= 0 || (size_t)len > size)
		return ssl_fail(-EBADMSG, "ECDSA signature");
	len = i2d_ECDSA_SIG(sig, &p);
	if (len <= 0)
		return ssl_fail(-EBADMSG, "ECDSA signature");
	*ret_len = (size_t)len;
	return 0;
}

int ssh_sig_verify(const uint8_t *key_blob, size_t key_len, const uint8_t *sig_blob, size_t sig_len,
		   const uint8_t *data, size_t n)
{
	_cleanup_(pkey_freep) EVP_PKEY *pkey = NULL;
	_cleanup_(md_ctx_freep) EVP_MD_CTX *ctx = NULL;
	uint8_t spki[SSH_SPKI_MAX], jws[SSH_SIG_BLOB_MAX], der[SSH_SIG_BLOB_MAX];
	const unsigned char *p = spki;
	const uint8_t *sig = jws;
	size_t spki_len, jws_len, siglen;
	enum key_alg alg;
	int kind, k;

	kind = ssh_key_blob_kind(key_blob, key_len);
	if (kind < 0)
		return kind;
	k = ssh_key_to_spki(key_blob, key_len, spki, sizeof(spki), &spki_len);
	if (k < 0)
		return k;
	k = ssh_sig_to_jws(sig_blob, sig_len, &alg, jws, sizeof(jws), &jws_len);
	if (k < 0)
		return k;
	if (!alg_fits(kind, alg))
		return -EOPNOTSUPP;
	pkey = d2i_PUBKEY(NULL, &p, (long)spki_len);
	if (!pkey)
		return ssl_fail(-EBADMSG, "public key"); /* e.g. a point not on its curve */
	siglen = jws_len;
	if (kind == SSH_KEY_RSA) {
		size_t mod = (size_t)EVP_PKEY_get_size(pkey);

		/* OpenSSH accepts a signature shorter than the modulus; OpenSSL wants it padded */
		if (jws_len > mod || mod > sizeof(der))
			return -EBADMSG;
		memset(der, 0, mod - jws_len);
		memcpy(der + mod - jws_len, jws, jws_len);
		sig = der;
		siglen = mod;
	} else if (kind != SSH_KEY_ED25519) {
		k = ecdsa_der(jws, jws_len / 2, der, sizeof(der), &siglen);
		if (k < 0)
			return k;
		sig = der;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestVerifyInit(ctx, NULL, alg_md(alg), NULL, pkey) != 1)
		return ssl_fail(-ENOMEM, "verify");
	k = EVP_DigestVerify(ctx, sig, siglen, data, n);
	if (k != 1) {
		ERR_clear_error();
		return -EBADMSG;
	}
	return 0;
}
