/* seal.c: the master key's protection at rest (see seal.h for the scheme). Owns the meta keys
 * "store_id", "sealer", "seal.tpm", "seal.master", "seal.recovery" and "seal.kcv" (the epoch's
 * "seal.epoch" is seal-epoch.c's). Never logs
 * and never lets key bytes leave a secbuf: every stack temporary is wiped before return. */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "crypto.h"
#include "keyring.h"
#include "seal-int.h"
#include "tpm.h"
#include "util.h"

#define HOST_KEY_LEN 32u

void seal_freep_u8(uint8_t **p)
{
	free(*p);
}

/* AAD binding a wrapped master key to its store and to what wraps it. */
static size_t wrap_aad(const uint8_t id[STORE_ID_LEN], const char *what, uint8_t *aad, size_t size)
{
	int n = snprintf((char *)aad, size, "vaultfs master v1:%s:", what);

	memcpy(aad + n, id, STORE_ID_LEN);
	return (size_t)n + STORE_ID_LEN;
}

int seal_meta_get_exact(struct store *s, const char *key, size_t len, uint8_t *out)
{
	_cleanup_(seal_freep_u8) uint8_t *v = NULL;
	size_t n;
	int r;

	r = store_meta_get(s, key, &v, &n);
	if (r < 0)
		return r;
	if (n != len) {
		secure_wipe(v, n);
		return -EBADMSG;
	}
	memcpy(out, v, len);
	secure_wipe(v, n);
	return 0;
}

int seal_read_sealer(struct store *s, char *buf, size_t size)
{
	_cleanup_(seal_freep_u8) uint8_t *v = NULL;
	size_t n;
	int r;

	r = store_meta_get(s, "sealer", &v, &n);
	if (r < 0)
		return r;
	if (n == 0 || n >= size)
		return -EBADMSG;
	memcpy(buf, v, n);
	buf[n] = '\0';
	if (!streq(buf, "tpm2") && !streq(buf, "host") && !streq(buf, "tpm2+host"))
		return -EBADMSG;
	return 0;
}

bool seal_uses_tpm(const char *sealer)
{
	return streq(sealer, "tpm2") || streq(sealer, "tpm2+host");
}

static bool uses_host(const char *sealer)
{
	return streq(sealer, "host") || streq(sealer, "tpm2+host");
}

/* Read the host key file; with create, make it (0400, O_EXCL) if it does not exist. A file
 * that is not regular, not ours, readable by group or others, or of the wrong size is refused:
 * we would rather not start than trust a key others could have read. */
static int host_key_load(const char *path, bool create, bool *ret_created, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *k = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	ssize_t n;
	int r;

	r = secbuf_new(HOST_KEY_LEN, &k);
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT && create) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
		if (fd < 0)
			return negative_errno();
		r = crypto_random(k->data, HOST_KEY_LEN);
		if (r < 0)
			return r;
		n = write(fd, k->data, HOST_KEY_LEN);
		if (n != (ssize_t)HOST_KEY_LEN || fsync(fd) < 0) {
			r = n < 0 ? negative_errno() : -EIO;
			unlink(path);
			return r;
		}
		k->len = HOST_KEY_LEN;
		*ret_created = true;
		*ret = TAKE_PTR(k);
		return 0;
	}
	if (fd < 0)
		return errno == ELOOP ? -EPERM : negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return -EPERM;
	if (st.st_size != HOST_KEY_LEN)
		return -EBADMSG;
	n = read(fd, k->data, HOST_KEY_LEN);
	if (n != (ssize_t)HOST_KEY_LEN)
		return n < 0 ? negative_errno() : -EBADMSG;
	k->len = HOST_KEY_LEN;
	*ret = TAKE_PTR(k);
	return 0;
}

/* KEK = HKDF(T || H) with a label naming the sealer. */
static int kek_derive(const char *sealer, const struct secbuf *t, const struct secbuf *h,
		      struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *ikm = NULL, *kek = NULL;
	char label[64];
	int r;

	r = secbuf_new(2 * CRYPTO_KEY_LEN, &ikm);
	if (r < 0)
		return r;
	if (t) {
		memcpy(ikm->data, t->data, t->len);
		ikm->len = t->len;
	}
	if (h) {
		memcpy(ikm->data + ikm->len, h->data, h->len);
		ikm->len += h->len;
	}
	r = secbuf_new(CRYPTO_KEY_LEN, &kek);
	if (r < 0)
		return r;
	snprintf(label, sizeof(label), "vaultfs kek v1 %s", sealer);
	r = crypto_hkdf(ikm->data, ikm->len, label, kek->data, CRYPTO_KEY_LEN);
	if (r < 0)
		return r;
	kek->len = CRYPTO_KEY_LEN;
	*ret = TAKE_PTR(kek);
	return 0;
}

static int random_key(size_t len, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *k = NULL;
	int r;

	r = secbuf_new(len, &k);
	if (r < 0)
		return r;
	r = crypto_random(k->data, len);
	if (r < 0)
		return r;
	k->len = len;
	*ret = TAKE_PTR(k);
	return 0;
}

/* A new KEK for sealer: seals fresh T with the TPM (stored as "seal.tpm"), loads or creates the
 * host key. Call inside a store transaction. */
static int kek_new(struct store *s, const struct config *c, const char *sealer,
		   bool *ret_host_key_created, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *t = NULL, *h = NULL;
	_cleanup_(seal_freep_u8) uint8_t *blob = NULL;
	size_t bloblen;
	int r;

	if (seal_uses_tpm(sealer)) {
		r = random_key(CRYPTO_KEY_LEN, &t);
		if (r < 0)
			return r;
		r = tpm_seal(c->tcti, c->pcr_mask, t->data, t->len, &blob, &bloblen);
		if (r < 0)
			return r;
		r = store_meta_set(s, "seal.tpm", blob, bloblen);
		if (r < 0)
			return r;
	}
	if (uses_host(sealer)) {
		r = host_key_load(c->host_key, true, ret_host_key_created, &h);
		if (r < 0)
			return r;
	}
	return kek_derive(sealer, t, h, ret);
}

/* The KEK of an initialised store: unseal T, load H. When T's blob was made before noDA (its
 * objects DA-protected), T is also handed out in *ret_old_t, to be sealed anew. */
static int kek_open(struct store *s, const struct config *c, const char *sealer,
		    struct secbuf **ret, struct secbuf **ret_old_t)
{
	_cleanup_secbuf_ struct secbuf *t = NULL, *h = NULL;
	_cleanup_(seal_freep_u8) uint8_t *blob = NULL;
	size_t bloblen;
	int r;

	if (seal_uses_tpm(sealer)) {
		r = store_meta_get(s, "seal.tpm", &blob, &bloblen);
		if (r < 0)
			return r == -ENOENT ? -EBADMSG : r;
		r = tpm_unseal(c->tcti, blob, bloblen, &t);
		if (r < 0)
			return r;
		if (t->len != CRYPTO_KEY_LEN)
			return -EBADMSG;
	}
	if (uses_host(sealer)) {
		r = host_key_load(c->host_key, false, NULL, &h);
		if (r < 0)
			return r == -ENOENT ? -ENOKEY : r;
	}
	r = kek_derive(sealer, t, h, ret);
	if (r < 0)
		return r;
	if (t && tpm_blob_da_protected(blob, bloblen) == 1)
		*ret_old_t = TAKE_PTR(t);
	return 0;
}

static int kcv_compute(const struct secbuf *m, uint8_t out[CRYPTO_KEY_LEN])
{
	return crypto_hkdf(m->data, m->len, "vaultfs key check v1", out, CRYPTO_KEY_LEN);
}

static int kcv_verify(struct store *s, const struct secbuf *m)
{
	uint8_t want[CRYPTO_KEY_LEN], have[CRYPTO_KEY_LEN];
	int r;

	r = seal_meta_get_exact(s, "seal.kcv", CRYPTO_KEY_LEN, want);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	r = kcv_compute(m, have);
	if (r >= 0 && !crypto_memeq(want, have, CRYPTO_KEY_LEN))
		r = -EBADMSG;
	secure_wipe(have, sizeof(have));
	return r;
}

/* Wrap m under kek (AAD names the store and what wraps it) into meta key "key". */
static int wrap_store(struct store *s, const uint8_t id[STORE_ID_LEN], const char *what,
		      const struct secbuf *kek, const struct secbuf *m, const char *key)
{
	uint8_t aad[64 + STORE_ID_LEN], wrapped[CRYPTO_WRAPPED_KEY_LEN];
	size_t aadlen = wrap_aad(id, what, aad, sizeof(aad) - STORE_ID_LEN);
	int r;

	r = crypto_wrap_key(kek->data, aad, aadlen, m->data, wrapped);
	if (r < 0)
		return r;
	return store_meta_set(s, key, wrapped, sizeof(wrapped));
}

static int unwrap_load(struct store *s, const uint8_t id[STORE_ID_LEN], const char *what,
		       const struct secbuf *kek, const char *key, struct secbuf **ret)
{
	uint8_t aad[64 + STORE_ID_LEN], wrapped[CRYPTO_WRAPPED_KEY_LEN];
	size_t aadlen = wrap_aad(id, what, aad, sizeof(aad) - STORE_ID_LEN);
	int r;

	r = seal_meta_get_exact(s, key, sizeof(wrapped), wrapped);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	return crypto_unwrap_key(kek->data, aad, aadlen, wrapped, sizeof(wrapped), ret);
}

/* The master key as the recovery key unwraps it, checked against the store's key check
 * value. */
int seal_recovery_master(struct store *s, const uint8_t id[STORE_ID_LEN],
			 const struct secbuf *recovery, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *m = NULL;
	int r;

	r = unwrap_load(s, id, "recovery", recovery, "seal.recovery", &m);
	if (r < 0)
		return r;
	r = kcv_verify(s, m);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(m);
	return 0;
}

static void keyring_desc(const uint8_t id[STORE_ID_LEN], char out[64])
{
	static const char prefix[] = "vaultfs:master:";

	_Static_assert(sizeof(prefix) - 1 + 2 * STORE_ID_LEN < 64, "keyring description fits");
	memcpy(out, prefix, sizeof(prefix) - 1);
	hex_encode(id, STORE_ID_LEN, out + sizeof(prefix) - 1);
	out[sizeof(prefix) - 1 + 2 * STORE_ID_LEN] = '\0';
}

int seal_is_initialised(struct store *s)
{
	char sealer[16];
	int r;

	r = seal_read_sealer(s, sealer, sizeof(sealer));
	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : 1;
}

int seal_recovery_new(struct secbuf **ret)
{
	return random_key(SEAL_RECOVERY_KEY_LEN, ret);
}

int seal_init(struct store *s, const struct config *c, const struct secbuf *recovery)
{
	_cleanup_secbuf_ struct secbuf *m = NULL, *kek = NULL;
	uint8_t id[STORE_ID_LEN], kcv[CRYPTO_KEY_LEN];
	bool host_key_created = false;
	char sealer[16];
	int r;

	if (!seal_sealer_valid(c->sealer) || recovery->len != SEAL_RECOVERY_KEY_LEN)
		return -EINVAL;
	r = store_begin(s);
	if (r < 0)
		return r;
	r = seal_read_sealer(s, sealer, sizeof(sealer));
	if (r != -ENOENT) {
		r = r < 0 ? r : -EEXIST;
		goto fail;
	}
	if ((r = crypto_random(id, sizeof(id))) < 0 || (r = random_key(CRYPTO_KEY_LEN, &m)) < 0 ||
	    (r = kek_new(s, c, c->sealer, &host_key_created, &kek)) < 0 ||
	    (r = kcv_compute(m, kcv)) < 0 ||
	    (r = store_meta_set(s, "store_id", id, sizeof(id))) < 0 ||
	    (r = store_meta_set(s, "sealer", c->sealer, strlen(c->sealer))) < 0 ||
	    (r = store_meta_set(s, "seal.kcv", kcv, sizeof(kcv))) < 0 ||
	    (r = wrap_store(s, id, c->sealer, kek, m, "seal.master")) < 0 ||
	    (r = wrap_store(s, id, "recovery", recovery, m, "seal.recovery")) < 0)
		goto fail;
	r = store_commit(s);
	if (r < 0)
		goto fail;
	return 0;
fail:
	store_rollback(s);
	if (host_key_created)
		unlink(c->host_key); /* nothing refers to it: leave no key behind */
	return r;
}

/* seal_unseal inside its read transaction. *ret_old_t: see kek_open. */
static int unseal(struct store *s, const struct config *c, struct secbuf **ret_master,
		  struct secbuf **ret_old_t)
{
	_cleanup_secbuf_ struct secbuf *m = NULL, *kek = NULL;
	uint8_t id[STORE_ID_LEN];
	char sealer[16], desc[64];
	int r;

	r = seal_read_sealer(s, sealer, sizeof(sealer));
	if (r < 0)
		return r == -ENOENT ? -ENOMEDIUM : r;
	r = seal_meta_get_exact(s, "store_id", sizeof(id), id);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	keyring_desc(id, desc);

	if (c->keyring_timeout > 0 && keyring_get(desc, &m) >= 0) {
		if (m->len == CRYPTO_KEY_LEN && kcv_verify(s, m) >= 0) {
			*ret_master = TAKE_PTR(m);
			return 0;
		}
		/* Stale or foreign: forget it and unseal properly. */
		secbuf_free(TAKE_PTR(m));
		keyring_drop(desc);
	}

	r = kek_open(s, c, sealer, &kek, ret_old_t);
	if (r < 0)
		return r;
	r = unwrap_load(s, id, sealer, kek, "seal.master", &m);
	if (r < 0)
		return r;
	r = kcv_verify(s, m);
	if (r < 0)
		return r;
	if (c->keyring_timeout > 0)
		(void)keyring_put(desc, m,
				  c->keyring_timeout); /* a cache: failure costs time only */
	*ret_master = TAKE_PTR(m);
	return 0;
}

/* Seal T (just unsealed from a blob made before noDA) anew, with noDA and the same PCRs, in
 * place of that blob: 1 when done, 0 when the handle is read-only or "seal.tpm" changed since
 * (a recover: it sealed with noDA already), -errno when sealing or writing failed. */
static int reseal_noda(struct store *s, const struct config *c, const struct secbuf *t)
{
	_cleanup_(seal_freep_u8) uint8_t *old = NULL, *blob = NULL;
	size_t oldlen, bloblen;
	uint32_t pcrs;
	int r;

	r = store_begin(s);
	if (r == -EROFS)
		return 0;
	if (r < 0)
		return r;
	r = store_meta_get(s, "seal.tpm", &old, &oldlen);
	if (r < 0)
		goto fail;
	if (tpm_blob_da_protected(old, oldlen) != 1) {
		r = 0;
		goto fail;
	}
	if ((r = tpm_blob_pcrs(old, oldlen, &pcrs)) < 0 ||
	    (r = tpm_seal(c->tcti, pcrs, t->data, t->len, &blob, &bloblen)) < 0 ||
	    (r = store_meta_set(s, "seal.tpm", blob, bloblen)) < 0 || (r = store_commit(s)) < 0)
		goto fail;
	return 1;
fail:
	store_rollback(s);
	return r;
}

int seal_unseal_noda(struct store *s, const struct config *c, struct secbuf **ret_master,
		     int *ret_resealed)
{
	_cleanup_secbuf_ struct secbuf *old_t = NULL;
	int r;

	/* one snapshot: a recover committing meanwhile must not mix old and new sealed data */
	r = store_begin_read(s);
	if (r < 0)
		return r;
	r = unseal(s, c, ret_master, &old_t);
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	store_commit(s);
	/* The master key is open; a re-seal that fails now is tried again at the next unseal. */
	r = old_t ? reseal_noda(s, c, old_t) : 0;
	if (ret_resealed)
		*ret_resealed = r;
	return 0;
}

int seal_unseal(struct store *s, const struct config *c, struct secbuf **ret_master)
{
	return seal_unseal_noda(s, c, ret_master, NULL);
}

int seal_recover(struct store *s, const struct config *c, const struct secbuf *recovery)
{
	_cleanup_secbuf_ struct secbuf *m = NULL, *kek = NULL;
	uint8_t id[STORE_ID_LEN];
	bool host_key_created = false;
	char sealer[16], desc[64];
	int r;

	if (!seal_sealer_valid(c->sealer))
		return -EINVAL;
	if (recovery->len != SEAL_RECOVERY_KEY_LEN)
		return -EINVAL;
	r = seal_read_sealer(s, sealer, sizeof(sealer));
	if (r < 0)
		return r == -ENOENT ? -ENOMEDIUM : r;
	r = seal_meta_get_exact(s, "store_id", sizeof(id), id);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	r = seal_recovery_master(s, id, recovery, &m);
	if (r < 0)
		return r;

	r = store_begin(s);
	if (r < 0)
		return r;
	if ((r = kek_new(s, c, c->sealer, &host_key_created, &kek)) < 0 ||
	    (r = store_meta_set(s, "sealer", c->sealer, strlen(c->sealer))) < 0 ||
	    (r = wrap_store(s, id, c->sealer, kek, m, "seal.master")) < 0 ||
	    (r = store_commit(s)) < 0) {
		store_rollback(s);
		if (host_key_created)
			unlink(c->host_key);
		return r;
	}
	keyring_desc(id, desc);
	(void)keyring_drop(desc);
	return 0;
}

int seal_forget(struct store *s)
{
	uint8_t id[STORE_ID_LEN];
	char desc[64];
	int r;

	r = seal_meta_get_exact(s, "store_id", sizeof(id), id);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	keyring_desc(id, desc);
	return keyring_drop(desc);
}

void seal_recovery_format(const struct secbuf *rk, char out[SEAL_RECOVERY_TEXT_LEN])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (unsigned i = 0; i < SEAL_RECOVERY_KEY_LEN; i++) {
		if (i > 0 && i % 4 == 0)
			out[o++] = '-';
		out[o++] = hex[rk->data[i] >> 4];
		out[o++] = hex[rk->data[i] & 15];
	}
	out[o] = '\0';
}

int seal_recovery_parse(const char *text, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *k = NULL;
	unsigned nibbles = 0;
	int r;

	r = secbuf_new(SEAL_RECOVERY_KEY_LEN, &k);
	if (r < 0)
		return r;
	memset(k->data, 0, SEAL_RECOVERY_KEY_LEN);
	for (const char *p = text; *p; p++) {
		int v;

		if (*p == '-' || isspace((unsigned char)*p))
			continue;
		if (*p >= '0' && *p <= '9')
			v = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			v = *p - 'A' + 10;
		else
			return -EINVAL;
		if (nibbles >= 2 * SEAL_RECOVERY_KEY_LEN)
			return -EINVAL;
		k->data[nibbles / 2] |= (uint8_t)(nibbles % 2 ? v : v << 4);
		nibbles++;
	}
	if (nibbles != 2 * SEAL_RECOVERY_KEY_LEN)
		return -EINVAL;
	k->len = SEAL_RECOVERY_KEY_LEN;
	*ret = TAKE_PTR(k);
	return 0;
}
