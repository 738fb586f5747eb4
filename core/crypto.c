/* crypto.c: the cryptographic primitives over OpenSSL 3 EVP: AES-256-GCM (nonce || ciphertext
 * || tag), key wrapping as AEAD of a 32-byte key, HKDF-SHA256, HMAC-SHA256, CSPRNG bytes and
 * constant-time comparison. OpenSSL's 0/1 becomes -errno here and nowhere else
 * (crypto_openssl_errno(), which keeps OpenSSL's words and empties its error queue). It must never
 * return unauthenticated plaintext (a failed open wipes its output), never keep key material
 * outside the caller's buffers, a secbuf or the cleansed OpenSSL state of a struct crypto_mac
 * or crypto_aead, never use deprecated OpenSSL APIs, and never log above debug. */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/secbuf.h"
#include "core/util.h"

/* HKDF-Expand yields at most 255 hash blocks (RFC 5869 section 2.3). */
#define HKDF_SHA256_OUT_MAX (255u * 32u)

/* AES-256-GCM is fetched once per process (pthread_once; immutable after): every open of a
 * secret runs three AEAD operations, and an implicit fetch per operation was a tenth of them. */
static EVP_CIPHER *gcm_fetched;
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;

static void gcm_fetch(void)
{
	gcm_fetched = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

/* AES-256-GCM, fetched once (the implicit fetch of EVP_aes_256_gcm() when that failed). */
static const EVP_CIPHER *aes_gcm(void)
{
	(void)pthread_once(&gcm_once, gcm_fetch);
	return gcm_fetched ? gcm_fetched : EVP_aes_256_gcm();
}

static inline void cipher_ctx_freep(EVP_CIPHER_CTX **p)
{
	EVP_CIPHER_CTX_free(*p);
}

static inline void kdf_freep(EVP_KDF **p)
{
	EVP_KDF_free(*p);
}

static inline void kdf_ctx_freep(EVP_KDF_CTX **p)
{
	EVP_KDF_CTX_free(*p);
}

/* The one place an OpenSSL failure becomes an errno: -ENOMEM when the library ran out of memory
 * (or fallback says an allocation returned NULL), -EIO for everything else. OpenSSL's own words
 * for its last error are kept (log_foreign) for the one log line at the edge. Always empties
 * the thread's error queue. */
int crypto_openssl_errno(int fallback)
{
	unsigned long e = ERR_peek_last_error();
	char text[256];
	int r = fallback;

	if (e != 0 && ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
		r = -ENOMEM;
	if (e != 0) {
		ERR_error_string_n(e, text, sizeof(text));
		(void)log_foreign(r, "openssl", "%s", text);
	}
	ERR_clear_error();
	return r;
}

int crypto_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	if (!buf && n > 0)
		return -EINVAL;
	/* RAND_bytes takes an int length. */
	while (n > 0) {
		int chunk = n > INT_MAX ? INT_MAX : (int)n;

		if (RAND_bytes(p, chunk) != 1)
			return crypto_openssl_errno(-EIO);
		p += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

/* The tag in and out of a context, as an OSSL_PARAM (EVP_CIPHER_CTX_ctrl with
 * EVP_CTRL_AEAD_GET/SET_TAG builds the same param inside OpenSSL 3.0: measured no faster). */
static int tag_param(EVP_CIPHER_CTX *ctx, uint8_t tag[CRYPTO_TAG_LEN], bool set)
{
	OSSL_PARAM params[2];

	params[0] =
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, CRYPTO_TAG_LEN);
	params[1] = OSSL_PARAM_construct_end();
	return (set ? EVP_CIPHER_CTX_set_params(ctx, params) :
		      EVP_CIPHER_CTX_get_params(ctx, params)) == 1;
}

/* Seal on ctx: a new context when cipher is given, one already set up for AES-256-GCM (only
 * key and nonce set again) when it is NULL. out must not overlap pt: the nonce is written
 * first. */
static int aead_seal(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher,
		     const uint8_t key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
		     const void *pt, size_t ptlen, uint8_t *out)
{
	uint8_t tag[CRYPTO_TAG_LEN], *nonce, *ct;
	int outl = 0, finl = 0, r;

	nonce = out;
	ct = out + CRYPTO_NONCE_LEN;
	r = crypto_random(nonce, CRYPTO_NONCE_LEN);
	if (r < 0)
		return r;
	/* The GCM default IV length is 12 bytes, which is CRYPTO_NONCE_LEN. */
	if (EVP_EncryptInit_ex2(ctx, cipher, key, nonce, NULL) != 1)
		goto fail;
	if (aadlen > 0 && EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int)aadlen) != 1)
		goto fail;
	outl = 0;
	if (ptlen > 0 && EVP_EncryptUpdate(ctx, ct, &outl, pt, (int)ptlen) != 1)
		goto fail;
	if (EVP_EncryptFinal_ex(ctx, ct + outl, &finl) != 1)
		goto fail;
	if ((size_t)outl + (size_t)finl != ptlen)
		goto fail;
	if (!tag_param(ctx, tag, false))
		goto fail;
	memcpy(ct + ptlen, tag, sizeof(tag));
	return 0;

fail:
	secure_wipe(out, ptlen + CRYPTO_AEAD_OVERHEAD);
	return crypto_openssl_errno(-EIO);
}

/* Open on ctx (cipher as for aead_seal); the lengths were checked by the caller. */
static int aead_open(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher,
		     const uint8_t key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
		     const uint8_t *in, size_t ctlen, uint8_t *out)
{
	const uint8_t *nonce = in, *ct = in + CRYPTO_NONCE_LEN;
	uint8_t tag[CRYPTO_TAG_LEN];
	int outl = 0, finl = 0;

	memcpy(tag, ct + ctlen, sizeof(tag));
	if (EVP_DecryptInit_ex2(ctx, cipher, key, nonce, NULL) != 1)
		goto fail;
	if (aadlen > 0 && EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)aadlen) != 1)
		goto fail;
	outl = 0;
	if (ctlen > 0 && EVP_DecryptUpdate(ctx, out, &outl, ct, (int)ctlen) != 1)
		goto fail;
	if (!tag_param(ctx, tag, true))
		goto fail;
	/* Final is where GCM checks the tag: a failure here means the input is not authentic. */
	if (EVP_DecryptFinal_ex(ctx, out ? out + outl : NULL, &finl) != 1) {
		ERR_clear_error();
		if (out)
			secure_wipe(out, ctlen);
		return -EBADMSG;
	}
	if ((size_t)outl + (size_t)finl != ctlen)
		goto fail;
	return 0;

fail:
	if (out)
		secure_wipe(out, ctlen);
	return crypto_openssl_errno(-EIO);
}

/* The checks of seal, shared by both forms. */
static int seal_args(const uint8_t *key, const void *aad, size_t aadlen, const void *pt,
		     size_t ptlen, const uint8_t *out)
{
	if (!key || !out || (!aad && aadlen > 0) || (!pt && ptlen > 0))
		return -EINVAL;
	/* EVP lengths are ints; nothing we seal comes near this. */
	if (aadlen > INT_MAX || ptlen > INT_MAX - CRYPTO_AEAD_OVERHEAD)
		return -EMSGSIZE;
	return 0;
}

/* The checks of open, shared by both forms: the ciphertext's length in *ret_ctlen. out is
 * wiped on failure when its length is known. */
static int open_args(const uint8_t *key, const void *aad, size_t aadlen, const uint8_t *in,
		     size_t inlen, uint8_t *out, size_t *ret_ctlen)
{
	size_t ctlen;

	if (!key || !in || (!aad && aadlen > 0))
		return -EINVAL;
	if (inlen < CRYPTO_AEAD_OVERHEAD)
		return -EINVAL;
	ctlen = inlen - CRYPTO_AEAD_OVERHEAD;
	if (!out && ctlen > 0)
		return -EINVAL;
	if (aadlen > INT_MAX || ctlen > INT_MAX) {
		if (out)
			secure_wipe(out, ctlen);
		return -EMSGSIZE;
	}
	*ret_ctlen = ctlen;
	return 0;
}

int crypto_aead_seal(const uint8_t key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
		     const void *pt, size_t ptlen, uint8_t *out)
{
	_cleanup_(cipher_ctx_freep) EVP_CIPHER_CTX *ctx = NULL;
	int r;

	r = seal_args(key, aad, aadlen, pt, ptlen, out);
	if (r < 0)
		return r;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return crypto_openssl_errno(-ENOMEM);
	return aead_seal(ctx, aes_gcm(), key, aad, aadlen, pt, ptlen, out);
}

int crypto_aead_open(const uint8_t key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
		     const uint8_t *in, size_t inlen, uint8_t *out)
{
	_cleanup_(cipher_ctx_freep) EVP_CIPHER_CTX *ctx = NULL;
	size_t ctlen = 0;
	int r;

	r = open_args(key, aad, aadlen, in, inlen, out, &ctlen);
	if (r < 0)
		return r;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx) {
		if (out)
			secure_wipe(out, ctlen);
		return crypto_openssl_errno(-ENOMEM);
	}
	return aead_open(ctx, aes_gcm(), key, aad, aadlen, in, ctlen, out);
}

/* The one-shot functions above make an EVP_CIPHER_CTX per call (simple and thread-safe, at the
 * cost of a few allocations); a struct crypto_aead keeps one, set up for the cipher once, and
 * each operation sets only its key and nonce (a quarter less time for a short value). */
struct crypto_aead {
	EVP_CIPHER_CTX *ctx; /* set up for AES-256-GCM once; each operation sets key and nonce */
	bool keyed;	     /* holds a real key's schedule (until crypto_aead_forget) */
};

int crypto_aead_new(struct crypto_aead **ret)
{
	struct crypto_aead *a;

	if (!ret)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->ctx = EVP_CIPHER_CTX_new();
	if (!a->ctx) {
		free(a);
		return crypto_openssl_errno(-ENOMEM);
	}
	/* the cipher alone: no key yet, nothing to wipe */
	if (EVP_DecryptInit_ex2(a->ctx, aes_gcm(), NULL, NULL, NULL) != 1) {
		crypto_aead_free(a);
		return crypto_openssl_errno(-EIO);
	}
	*ret = a;
	return 0;
}

void crypto_aead_free(struct crypto_aead *a)
{
	if (!a)
		return;
	EVP_CIPHER_CTX_free(a->ctx); /* the provider cleanses its key schedule */
	free(a);
}

int crypto_aead_seal_ctx(struct crypto_aead *a, const uint8_t key[CRYPTO_KEY_LEN], const void *aad,
			 size_t aadlen, const void *pt, size_t ptlen, uint8_t *out)
{
	int r;

	if (!a)
		return -EINVAL;
	r = seal_args(key, aad, aadlen, pt, ptlen, out);
	if (r < 0)
		return r;
	a->keyed = true;
	return aead_seal(a->ctx, NULL, key, aad, aadlen, pt, ptlen, out);
}

int crypto_aead_open_ctx(struct crypto_aead *a, const uint8_t key[CRYPTO_KEY_LEN], const void *aad,
			 size_t aadlen, const uint8_t *in, size_t inlen, uint8_t *out)
{
	size_t ctlen = 0;
	int r;

	if (!a)
		return -EINVAL;
	r = open_args(key, aad, aadlen, in, inlen, out, &ctlen);
	if (r < 0)
		return r;
	a->keyed = true;
	return aead_open(a->ctx, NULL, key, aad, aadlen, in, ctlen, out);
}

void crypto_aead_forget(struct crypto_aead *a)
{
	static const uint8_t zero[CRYPTO_KEY_LEN];

	if (!a || !a->keyed)
		return;
	/* a key of zeros overwrites the last key's schedule and GHASH key in the context */
	(void)EVP_CipherInit_ex2(a->ctx, NULL, zero, NULL, -1, NULL);
	a->keyed = false;
}

int crypto_wrap_key(const uint8_t kek[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
		    const uint8_t key[CRYPTO_KEY_LEN], uint8_t out[CRYPTO_WRAPPED_KEY_LEN])
{
	if (!key)
		return -EINVAL;
	return crypto_aead_seal(kek, aad, aadlen, key, CRYPTO_KEY_LEN, out);
}

int crypto_unwrap_key(const uint8_t kek[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
		      const uint8_t *in, size_t inlen, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;
	int r;

	if (!ret)
		return -EINVAL;
	if (inlen != CRYPTO_WRAPPED_KEY_LEN)
		return -EINVAL;
	/* Decrypt straight into locked memory: the key never sits in an unlocked temporary. */
	r = secbuf_new(CRYPTO_KEY_LEN, &b);
	if (r < 0)
		return r;
	r = crypto_aead_open(kek, aad, aadlen, in, inlen, b->data);
	if (r < 0)
		return r;
	b->len = CRYPTO_KEY_LEN;
	*ret = TAKE_PTR(b);
	return 0;
}

/* ikm must be non-empty; label may be "" (empty info); 1 <= outlen <= 8160. */
int crypto_hkdf(const uint8_t *ikm, size_t ikmlen, const char *label, uint8_t *out, size_t outlen)
{
	_cleanup_(kdf_freep) EVP_KDF *kdf = NULL;
	_cleanup_(kdf_ctx_freep) EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[4], *p = params;

	if (!ikm || ikmlen == 0 || !label || !out)
		return -EINVAL;
	if (outlen == 0 || outlen > HKDF_SHA256_OUT_MAX)
		return -EINVAL;

	kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	if (!kdf)
		return crypto_openssl_errno(-EIO);
	kctx = EVP_KDF_CTX_new(kdf);
	if (!kctx)
		return crypto_openssl_errno(-ENOMEM);

	/* No salt: HKDF-Extract then uses HashLen zero bytes (RFC 5869 section 2.2). The default
	 * mode is extract-and-expand. */
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)label, strlen(label));
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, outlen, params) != 1) {
		secure_wipe(out, outlen);
		return crypto_openssl_errno(-EIO);
	}
	return 0;
}

int crypto_hmac(const uint8_t key[CRYPTO_KEY_LEN], const void *data, size_t n,
		uint8_t out[CRYPTO_MAC_LEN])
{
	static const uint8_t empty[1] = { 0 };
	uint8_t mac[CRYPTO_MAC_LEN];
	size_t maclen = 0;

	if (!key || !out || (!data && n > 0))
		return -EINVAL;
	if (!EVP_Q_mac(NULL, OSSL_MAC_NAME_HMAC, NULL, "SHA256", NULL, key, CRYPTO_KEY_LEN,
		       data ? data : empty, n, mac, sizeof(mac), &maclen)) {
		secure_wipe(mac, sizeof(mac));
		return crypto_openssl_errno(-EIO);
	}
	if (maclen != CRYPTO_MAC_LEN) {
		secure_wipe(mac, sizeof(mac));
		return -EIO;
	}
	memcpy(out, mac, sizeof(mac));
	secure_wipe(mac, sizeof(mac));
	return 0;
}

struct crypto_mac {
	EVP_MAC_CTX *keyed; /* initialised with the key; each message starts it again without one
			     * (HMAC keeps the keyed state: no copy, no allocation per message) */
};

int crypto_mac_new(const uint8_t key[CRYPTO_KEY_LEN], struct crypto_mac **ret)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	struct crypto_mac *m;
	EVP_MAC *mac;

	if (!key || !ret)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	if (mac)
		m->keyed = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	if (!m->keyed || !EVP_MAC_init(m->keyed, key, CRYPTO_KEY_LEN, params)) {
		crypto_mac_free(m);
		return crypto_openssl_errno(-EIO);
	}
	*ret = m;
	return 0;
}

int crypto_mac_compute(struct crypto_mac *m, const void *data, size_t n,
		       uint8_t out[CRYPTO_MAC_LEN])
{
	static const uint8_t empty[1] = { 0 };
	size_t maclen = 0;
	int r = 0;

	if (!m || !out || (!data && n > 0))
		return -EINVAL;
	if (!EVP_MAC_init(m->keyed, NULL, 0, NULL) ||
	    !EVP_MAC_update(m->keyed, data ? data : empty, n) ||
	    !EVP_MAC_final(m->keyed, out, &maclen, CRYPTO_MAC_LEN))
		r = crypto_openssl_errno(-EIO);
	else if (maclen != CRYPTO_MAC_LEN)
		r = -EIO;
	if (r < 0)
		secure_wipe(out, CRYPTO_MAC_LEN);
	return r;
}

void crypto_mac_free(struct crypto_mac *m)
{
	if (!m)
		return;
	EVP_MAC_CTX_free(m->keyed);
	free(m);
}

int crypto_memeq(const void *a, const void *b, size_t n)
{
	if (n == 0)
		return 1;
	return CRYPTO_memcmp(a, b, n) == 0;
}

/* --- OpenSSL's heap, wiped on free --- */

static void *wipe_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(n);
}

static void wipe_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!p)
		return;
	/* the whole block, usable size: more than was asked for is never less than was used */
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

static void *wipe_realloc(void *p, size_t n, const char *file, int line)
{
	size_t old;
	void *q;

	if (!p)
		return wipe_malloc(n, file, line);
	if (n == 0) {
		wipe_free(p, file, line);
		return NULL;
	}
	old = malloc_usable_size(p);
	if (n <= old)
		return p; /* fits where it is: nothing left behind */
	q = malloc(n);
	if (!q)
		return NULL; /* p untouched, as realloc leaves it */
	memcpy(q, p, old);
	wipe_free(p, file, line);
	return q;
}

int crypto_wipe_heap(void)
{
	return CRYPTO_set_mem_functions(wipe_malloc, wipe_realloc, wipe_free) ? 0 : -EBUSY;
}
