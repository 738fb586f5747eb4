/* key-cipher.c: encrypt, decrypt, wrap and unwrap with software keys (key-soft.h): RSA-OAEP
 * (SHA-256, and SHA-1 to decrypt old data), AES-256-GCM through core/crypto, and AES key wrap
 * (RFC 3394, RFC 5649) through OpenSSL. Plaintext and unwrapped keys go only into secbufs;
 * a failed decrypt or unwrap leaves nothing behind. Never logs above debug. */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "core/crypto.h"
#include "core/key-soft-int.h"
#include "core/key-soft.h"
#include "core/util.h"

static inline void cipher_ctx_freep(EVP_CIPHER_CTX **p)
{
	EVP_CIPHER_CTX_free(*p);
}

/* OAEP with md for both the label hash and MGF1, no label. */
static int oaep_setup(EVP_PKEY_CTX *ctx, const EVP_MD *md)
{
	if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0)
		return crypto_openssl_errno(-EIO);
	return 0;
}

/* RSA-OAEP-256 of in with pk, whose caps the caller checked but the key's own. */
static int rsa_oaep_encrypt(EVP_PKEY *pk, const uint8_t *in, size_t n, uint8_t *out, size_t *outlen)
{
	_cleanup_(key_pkey_ctx_freep) EVP_PKEY_CTX *ctx = NULL;
	size_t size = (size_t)EVP_PKEY_get_size(pk), len;
	int r;

	if (n + 2 * 32 + 2 > size)
		return -EMSGSIZE;
	if (*outlen < size)
		return -ENOBUFS;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (!ctx)
		return crypto_openssl_errno(-ENOMEM);
	if (EVP_PKEY_encrypt_init(ctx) != 1)
		return crypto_openssl_errno(-EIO);
	r = oaep_setup(ctx, EVP_sha256());
	if (r < 0)
		return r;
	len = *outlen;
	if (EVP_PKEY_encrypt(ctx, out, &len, in ? in : (const uint8_t *)"", n) != 1)
		return crypto_openssl_errno(-EIO);
	*outlen = len;
	return 0;
}

static int rsa_oaep_decrypt(EVP_PKEY *pk, enum key_alg a, const uint8_t *in, size_t n,
			    struct secbuf **ret)
{
	_cleanup_(key_pkey_ctx_freep) EVP_PKEY_CTX *ctx = NULL;
	_cleanup_secbuf_ struct secbuf *b = NULL;
	size_t size = (size_t)EVP_PKEY_get_size(pk), len = size;
	int r;

	if (n != size)
		return -EINVAL;
	r = secbuf_new(size, &b);
	if (r < 0)
		return r;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (!ctx)
		return crypto_openssl_errno(-ENOMEM);
	if (EVP_PKEY_decrypt_init(ctx) != 1)
		return crypto_openssl_errno(-EIO);
	r = oaep_setup(ctx, a == KEY_ALG_RSA_OAEP ? EVP_sha1() : EVP_sha256());
	if (r < 0)
		return r;
	if (EVP_PKEY_decrypt(ctx, b->data, &len, in, n) != 1) {
		/* a ciphertext that does not decrypt is an answer: no foreign words for it */
		ERR_clear_error();
		return -EBADMSG;
	}
	b->len = len;
	*ret = TAKE_PTR(b);
	return 0;
}

/* The checks every operation of this file opens with: alg for type and op, the pointers, the
 * AES material's length. */
static int check_common(enum key_type t, enum key_op op, enum key_alg a,
			const struct secbuf *material, const uint8_t *in, size_t n)
{
	int r = key_alg_check(t, op, a);

	if (r < 0)
		return r;
	if (!material || (!in && n > 0))
		return -EINVAL;
	if (t == KEY_AES_256 && material->len != 32)
		return -EINVAL;
	return 0;
}

int key_public_encrypt(enum key_type t, const uint8_t *spki, size_t spkilen, enum key_op op,
		       enum key_alg a, const uint8_t *in, size_t n, uint8_t *out, size_t *outlen)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	int r;

	if (op != KEY_OP_ENCRYPT && op != KEY_OP_WRAP)
		return -EINVAL;
	r = key_alg_check(t, op, a);
	if (r < 0)
		return r;
	if (a != KEY_ALG_RSA_OAEP_256)
		return -EOPNOTSUPP;
	if ((!in && n > 0) || !out || !outlen)
		return -EINVAL;
	if (op == KEY_OP_WRAP && n == 0)
		return -EINVAL;
	if (n > (op == KEY_OP_WRAP ? KEY_WRAP_INPUT_MAX : KEY_INPUT_MAX))
		return -EMSGSIZE;
	r = key_pkey_from_spki(t, spki, spkilen, &pk);
	if (r < 0)
		return r;
	return rsa_oaep_encrypt(pk, in, n, out, outlen);
}

int key_soft_encrypt(enum key_type t, const struct secbuf *material, enum key_alg a,
		     const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t n, uint8_t *out,
		     size_t *outlen)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	int r;

	r = check_common(t, KEY_OP_ENCRYPT, a, material, in, n);
	if (r < 0)
		return r;
	if (!out || !outlen || (!aad && aadlen > 0))
		return -EINVAL;
	if (n > KEY_INPUT_MAX || aadlen > KEY_AAD_MAX)
		return -EMSGSIZE;
	if (a == KEY_ALG_A256GCM) {
		if (*outlen < n + KEY_GCM_IV_LEN + KEY_GCM_TAG_LEN)
			return -ENOBUFS;
		r = crypto_aead_seal(material->data, aad, aadlen, in, n, out);
		if (r < 0)
			return r;
		*outlen = n + KEY_GCM_IV_LEN + KEY_GCM_TAG_LEN;
		return 0;
	}
	/* RSA-OAEP-256 has no additional data */
	if (aadlen > 0)
		return -EINVAL;
	r = key_pkey_from_material(t, material, &pk);
	if (r < 0)
		return r;
	return rsa_oaep_encrypt(pk, in, n, out, outlen);
}

int key_soft_decrypt(enum key_type t, const struct secbuf *material, enum key_alg a,
		     const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t n,
		     struct secbuf **ret_plaintext)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	_cleanup_secbuf_ struct secbuf *b = NULL;
	size_t len;
	int r;

	r = check_common(t, KEY_OP_DECRYPT, a, material, in, n);
	if (r < 0)
		return r;
	if (!ret_plaintext || (!aad && aadlen > 0))
		return -EINVAL;
	if (n > KEY_CIPHERTEXT_MAX || aadlen > KEY_AAD_MAX)
		return -EMSGSIZE;
	if (a != KEY_ALG_A256GCM) {
		if (aadlen > 0)
			return -EINVAL;
		r = key_pkey_from_material(t, material, &pk);
		if (r < 0)
			return r;
		return rsa_oaep_decrypt(pk, a, in, n, ret_plaintext);
	}
	if (n < KEY_GCM_IV_LEN + KEY_GCM_TAG_LEN)
		return -EINVAL;
	len = n - KEY_GCM_IV_LEN - KEY_GCM_TAG_LEN;
	/* a secbuf has at least one byte: an empty plaintext is a buffer of length 0 */
	r = secbuf_new(len > 0 ? len : 1, &b);
	if (r < 0)
		return r;
	r = crypto_aead_open(material->data, aad, aadlen, in, n, b->data);
	if (r < 0)
		return r;
	b->len = len;
	*ret_plaintext = TAKE_PTR(b);
	return 0;
}

/* AES key wrap (kwp: with padding) of in under the 32-byte kek, into out or a new secbuf. */
static int aes_wrap(const uint8_t *kek, bool kwp, bool enc, const uint8_t *in, size_t n,
		    uint8_t *out, size_t *outlen)
{
	_cleanup_(cipher_ctx_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, fin = 0;

	if (!ctx)
		return -ENOMEM;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex(ctx, kwp ? EVP_aes_256_wrap_pad() : EVP_aes_256_wrap(), NULL, kek,
			      NULL, enc ? 1 : 0) != 1)
		return crypto_openssl_errno(-EIO);
	if (EVP_CipherUpdate(ctx, out, &len, in, (int)n) != 1 || len < 0 ||
	    EVP_CipherFinal_ex(ctx, out + len, &fin) != 1) {
		if (enc)
			return crypto_openssl_errno(-EIO);
		/* the integrity check failed: an answer, no foreign words for it */
		ERR_clear_error();
		return -EBADMSG;
	}
	*outlen = (size_t)len + (size_t)fin;
	return 0;
}

int key_soft_wrap(enum key_type t, const struct secbuf *material, enum key_alg a, const uint8_t *in,
		  size_t n, uint8_t *out, size_t *outlen)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	size_t need, len;
	int r;

	r = check_common(t, KEY_OP_WRAP, a, material, in, n);
	if (r < 0)
		return r;
	if (!in || !out || !outlen || n == 0)
		return -EINVAL;
	if (n > KEY_WRAP_INPUT_MAX)
		return -EMSGSIZE;
	if (a == KEY_ALG_RSA_OAEP_256) {
		r = key_pkey_from_material(t, material, &pk);
		if (r < 0)
			return r;
		return rsa_oaep_encrypt(pk, in, n, out, outlen);
	}
	if (a == KEY_ALG_A256KW && (n % 8 != 0 || n < 16))
		return -EINVAL;
	need = (n + 7) / 8 * 8 + 8;
	if (*outlen < need)
		return -ENOBUFS;
	r = aes_wrap(material->data, a == KEY_ALG_A256KWP, true, in, n, out, &len);
	if (r < 0)
		return r;
	*outlen = len;
	return 0;
}

int key_soft_unwrap(enum key_type t, const struct secbuf *material, enum key_alg a,
		    const uint8_t *in, size_t n, struct secbuf **ret_key)
{
	_cleanup_(key_pkey_freep) EVP_PKEY *pk = NULL;
	_cleanup_secbuf_ struct secbuf *b = NULL;
	size_t len;
	int r;

	r = check_common(t, KEY_OP_UNWRAP, a, material, in, n);
	if (r < 0)
		return r;
	if (!in || !ret_key)
		return -EINVAL;
	if (a == KEY_ALG_RSA_OAEP_256) {
		if (n > KEY_SIG_MAX)
			return -EMSGSIZE;
		r = key_pkey_from_material(t, material, &pk);
		if (r < 0)
			return r;
		return rsa_oaep_decrypt(pk, a, in, n, ret_key);
	}
	if (n > KEY_WRAPPED_MAX)
		return -EMSGSIZE;
	if (n % 8 != 0 || n < (a == KEY_ALG_A256KW ? 24u : 16u))
		return -EINVAL;
	r = secbuf_new(n, &b);
	if (r < 0)
		return r;
	r = aes_wrap(material->data, a == KEY_ALG_A256KWP, false, in, n, b->data, &len);
	if (r < 0)
		return r;
	b->len = len;
	*ret_key = TAKE_PTR(b);
	return 0;
}
