/* key-import-ssh.c: the OpenSSH private key format ("openssh-key-v1", OpenSSH's PROTOCOL.key)
 * for key_soft_import: one key, cipher "none", of type ssh-ed25519, ecdsa-sha2-nistp256/384/521
 * or ssh-rsa, read field by field from the decoded blob (the caller's secbuf) into OpenSSL key
 * objects. It never copies private bytes outside the blob but into cleansed BIGNUMs, and never
 * accepts a key under a passphrase (-ENOKEY) or one whose check words differ. */
#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/key-soft-int.h"
#include "core/key-soft.h"
#include "core/util.h"

#define SSH_MAGIC "openssh-key-v1"

static inline void bn_ctx_freep(BN_CTX **p)
{
	BN_CTX_free(*p);
}

/* A reader over the blob: every read checks its length first. */
struct rd {
	const uint8_t *p;
	size_t n;
};

static int rd_u32(struct rd *r, uint32_t *ret)
{
	if (r->n < 4)
		return -EINVAL;
	*ret = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 |
	       (uint32_t)r->p[3];
	r->p += 4;
	r->n -= 4;
	return 0;
}

static int rd_string(struct rd *r, const uint8_t **ret, size_t *ret_len)
{
	uint32_t len;
	int e = rd_u32(r, &len);

	if (e < 0)
		return e;
	if (len > r->n)
		return -EINVAL;
	*ret = r->p;
	*ret_len = len;
	r->p += len;
	r->n -= len;
	return 0;
}

/* A string that must equal s. */
static bool rd_string_is(struct rd *r, const char *s)
{
	const uint8_t *p;
	size_t n;

	return rd_string(r, &p, &n) == 0 && n == strlen(s) && memcmp(p, s, n) == 0;
}

/* An mpint (RFC 4251 §5), positive, as a new secure BIGNUM. */
static int rd_mpint(struct rd *r, BIGNUM **ret)
{
	const uint8_t *p;
	size_t n;
	BIGNUM *bn;
	int e = rd_string(r, &p, &n);

	if (e < 0)
		return e;
	if (n == 0 || (p[0] & 0x80) || n > KEY_IMPORT_MAX)
		return -EINVAL;
	bn = BN_secure_new();
	if (!bn)
		return -ENOMEM;
	if (!BN_bin2bn(p, (int)n, bn)) {
		BN_clear_free(bn);
		return crypto_openssl_errno(-ENOMEM);
	}
	*ret = bn;
	return 0;
}

static int ssh_ed25519(struct rd *r, EVP_PKEY **ret)
{
	const uint8_t *pub, *priv;
	size_t publen, privlen;

	if (rd_string(r, &pub, &publen) < 0 || rd_string(r, &priv, &privlen) < 0)
		return -EINVAL;
	/* the private key is the seed followed by the public key */
	if (publen != 32 || privlen != 64 || CRYPTO_memcmp(priv + 32, pub, 32) != 0)
		return -EINVAL;
	return key_ed25519_from_seed(priv, pub, ret);
}

static int ssh_ecdsa(struct rd *r, enum key_type t, const char *curve, EVP_PKEY **ret)
{
	_cleanup_(key_bn_clear_freep) BIGNUM *d = NULL;
	const uint8_t *q;
	size_t qlen;
	int e;

	if (!rd_string_is(r, curve) || rd_string(r, &q, &qlen) < 0)
		return -EINVAL;
	e = rd_mpint(r, &d);
	if (e < 0)
		return e;
	return key_ec_from_parts(t, q, qlen, d, ret);
}

static int ssh_rsa(struct rd *r, EVP_PKEY **ret)
{
	_cleanup_(key_bn_clear_freep) BIGNUM *n = NULL, *e = NULL, *d = NULL, *qi = NULL, *p = NULL,
					     *q = NULL, *dp = NULL, *dq = NULL, *t = NULL;
	_cleanup_(bn_ctx_freep) BN_CTX *ctx = BN_CTX_secure_new();
	int x;

	if (!ctx)
		return -ENOMEM;
	/* OpenSSH's order: n e d iqmp p q */
	if ((x = rd_mpint(r, &n)) < 0)
		return x;
	/* past RSA 4096: refused before any arithmetic on it */
	if (BN_num_bytes(n) > KEY_RSA_MODULUS_MAX)
		return -EOPNOTSUPP;
	if ((x = rd_mpint(r, &e)) < 0 || (x = rd_mpint(r, &d)) < 0 || (x = rd_mpint(r, &qi)) < 0 ||
	    (x = rd_mpint(r, &p)) < 0 || (x = rd_mpint(r, &q)) < 0)
		return x;
	dp = BN_secure_new();
	dq = BN_secure_new();
	t = BN_secure_new();
	if (!dp || !dq || !t)
		return -ENOMEM;
	BN_set_flags(dp, BN_FLG_CONSTTIME);
	BN_set_flags(dq, BN_FLG_CONSTTIME);
	/* dp = d mod (p - 1), dq = d mod (q - 1) */
	if (!BN_sub(t, p, BN_value_one()) || !BN_mod(dp, d, t, ctx) ||
	    !BN_sub(t, q, BN_value_one()) || !BN_mod(dq, d, t, ctx))
		return crypto_openssl_errno(-EINVAL);
	return key_rsa_from_parts(n, e, d, p, q, dp, dq, qi, ret);
}

/* The type and key of one private key entry. */
static int ssh_private(struct rd *r, const uint8_t *type, size_t typelen, EVP_PKEY **ret)
{
	static const struct {
		const char *name, *curve;
		enum key_type t;
	} ecdsa[] = {
		{ "ecdsa-sha2-nistp256", "nistp256", KEY_EC_P256 },
		{ "ecdsa-sha2-nistp384", "nistp384", KEY_EC_P384 },
		{ "ecdsa-sha2-nistp521", "nistp521", KEY_EC_P521 },
	};

#define TYPE_IS(s) (typelen == strlen(s) && memcmp(type, s, typelen) == 0)
	if (TYPE_IS("ssh-ed25519"))
		return ssh_ed25519(r, ret);
	if (TYPE_IS("ssh-rsa"))
		return ssh_rsa(r, ret);
	for (size_t i = 0; i < ELEMENTSOF(ecdsa); i++)
		if (TYPE_IS(ecdsa[i].name))
			return ssh_ecdsa(r, ecdsa[i].t, ecdsa[i].curve, ret);
#undef TYPE_IS
	/* ssh-dss, security keys (sk-*), certificates, ... */
	return -EOPNOTSUPP;
}

int key_import_openssh(const uint8_t *blob, size_t n, enum key_type *ret_type,
		       struct secbuf **ret_material)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	struct rd r = { blob, n }, priv, pr;
	const uint8_t *pub, *sec, *type, *ptype, *comment;
	size_t publen, seclen, typelen, ptypelen, commentlen;
	uint32_t nkeys, check1, check2;
	int e;

	if (n < sizeof(SSH_MAGIC) || memcmp(blob, SSH_MAGIC, sizeof(SSH_MAGIC)) != 0)
		return -EINVAL;
	r.p += sizeof(SSH_MAGIC);
	r.n -= sizeof(SSH_MAGIC);
	if (!rd_string_is(&r, "none"))
		return -ENOKEY;
	if (!rd_string_is(&r, "none") || !rd_string_is(&r, "") || rd_u32(&r, &nkeys) < 0 ||
	    nkeys != 1 || rd_string(&r, &pub, &publen) < 0 || rd_string(&r, &sec, &seclen) < 0 ||
	    r.n != 0)
		return -EINVAL;
	/* the unencrypted private section is padded to the block size 8 */
	priv = (struct rd){ sec, seclen };
	if (seclen % 8 != 0 || rd_u32(&priv, &check1) < 0 || rd_u32(&priv, &check2) < 0 ||
	    check1 != check2 || rd_string(&priv, &type, &typelen) < 0)
		return -EINVAL;
	/* the public key names the same type */
	pr = (struct rd){ pub, publen };
	if (rd_string(&pr, &ptype, &ptypelen) < 0 || ptypelen != typelen ||
	    memcmp(ptype, type, typelen) != 0)
		return -EINVAL;
	e = ssh_private(&priv, type, typelen, &pk);
	if (e < 0)
		return e;
	/* the comment, then padding 1, 2, 3, ... */
	if (rd_string(&priv, &comment, &commentlen) < 0 || priv.n >= 8)
		return -EINVAL;
	for (size_t i = 0; i < priv.n; i++)
		if (priv.p[i] != (uint8_t)(i + 1))
			return -EINVAL;
	return key_import_finish(pk, ret_type, ret_material);
}
