/* kv.c: a struct kv's life and its keys: the subkeys of the master key, the vault and data key
 * tables (unwrapped once, kept in one locked buffer, wiped when a slot is taken again and at
 * kv_free) and the envelope encryption of a version's material. Plaintext lives only in
 * secbufs; a value is never kept. Never logs, never reads a row it has not been given checked. */
#include <ctype.h>
#include <stdio.h>
#include <time.h>

#include "kv-int.h"

int64_t kv_now(const struct kv *kv)
{
	return kv->clock ? kv->clock : (int64_t)time(NULL);
}

void kv_set_clock(struct kv *kv, int64_t t)
{
	kv->clock = t;
}

/* HKDF(M, label) into a new secure buffer. */
int kv_derive(struct kv *kv, const char *label, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *k = NULL;
	int r;

	r = secbuf_new(CRYPTO_KEY_LEN, &k);
	if (r < 0)
		return r;
	r = crypto_hkdf(kv->master->data, kv->master->len, label, k->data, CRYPTO_KEY_LEN);
	if (r < 0)
		return r;
	k->len = CRYPTO_KEY_LEN;
	*ret = TAKE_PTR(k);
	return 0;
}

int kv_derive_key(struct kv *kv, const char *label, struct secbuf **ret)
{
	char full[128];

	/* a prefix of its own: no caller can ask for the MAC or wrapping key of kv itself */
	if (!label ||
	    snprintf(full, sizeof(full), "vaultfs derived: %s", label) >= (int)sizeof(full))
		return -EINVAL;
	return kv_derive(kv, full, ret);
}

int kv_new(struct store *s, struct secbuf *master, struct kv **ret)
{
	struct kv *kv;
	int r;

	kv = calloc(1, sizeof(*kv));
	if (!kv) {
		store_free(s);
		secbuf_free(master);
		return -ENOMEM;
	}
	kv->store = s;
	kv->master = master;
	if (master->len != CRYPTO_KEY_LEN) {
		kv_free(kv);
		return -EINVAL;
	}
	r = kv_derive(kv, "vaultfs mac v1", &kv->mac_key);
	if (r >= 0)
		r = crypto_mac_new(kv->mac_key->data, &kv->mac);
	if (r >= 0)
		r = kv_derive(kv, "vaultfs vault-wrap v1", &kv->wrap_key);
	if (r >= 0) {
		_cleanup_secbuf_ struct secbuf *k = NULL;

		r = kv_derive(kv, "vaultfs rows v1", &k);
		if (r >= 0)
			r = crypto_mac_new(k->data, &kv->rows_mac);
	}
	if (r >= 0)
		r = store_track_rows(s, kv_rows_fn, kv);
	if (r >= 0)
		r = crypto_aead_new(&kv->aead);
	if (r >= 0)
		r = secbuf_new(KV_KEYS * CRYPTO_KEY_LEN, &kv->keys);
	if (r < 0) {
		kv_free(kv);
		return r;
	}
	*ret = kv;
	return 0;
}

void kv_cache_clear(struct kv *kv)
{
	struct kv_cache *c = &kv->cache;

	for (size_t i = 0; i < KV_CACHE_VERSIONS; i++)
		store_version_done(&c->version[i]); /* wipes the ciphertext, zeroes the slot */
	memset(c, 0, sizeof(*c));
}

void kv_free(struct kv *kv)
{
	if (!kv)
		return;
	if (kv->read != KV_READ_NONE)
		store_rollback(kv->store);
	kv_cache_clear(kv);
	secbuf_free(kv->keys); /* wipes every kept key */
	crypto_aead_free(kv->aead);
	store_free(kv->store);
	secbuf_free(kv->master);
	secbuf_free(kv->mac_key);
	crypto_mac_free(kv->mac);
	crypto_mac_free(kv->rows_mac);
	secbuf_free(kv->wrap_key);
	free(kv);
}

bool kv_name_valid(const char *name)
{
	size_t n;

	if (!name || !isalnum((unsigned char)name[0]))
		return false;
	n = strlen(name);
	if (n > VAULTFS_NAME_MAX)
		return false;
	for (size_t i = 1; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (!(isalnum(ch) || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* AAD for the vault key: binds it to its vault row. */
size_t kv_vault_aad(int64_t vault_id, uint8_t aad[32])
{
	static const char tag[] = "vaultfs vault-key v1";

	memcpy(aad, tag, sizeof(tag) - 1);
	kv_put_le(aad + sizeof(tag) - 1, (uint64_t)vault_id, 8);
	return sizeof(tag) - 1 + 8;
}

/* AAD for a data key ('k') and a value ('v'): vault, object, version and type. */
static size_t object_aad(char purpose, int64_t vault_id, const struct store_object *o,
			 uint32_t version, uint8_t aad[48])
{
	static const char tag[] = "vaultfs object v1";
	size_t n = sizeof(tag) - 1;
	uint64_t f[3] = { (uint64_t)vault_id, (uint64_t)o->id, version };

	memcpy(aad, tag, n);
	for (int j = 0; j < 3; j++, n += 8)
		kv_put_le(aad + n, f[j], 8);
	aad[n++] = (uint8_t)o->type;
	aad[n++] = (uint8_t)purpose;
	return n;
}

static uint8_t *key_bytes(struct kv *kv, size_t slot)
{
	return kv->keys->data + slot * CRYPTO_KEY_LEN;
}

/* The key of vault v (its row checked), borrowed from kv's table (struct vkey). Unwrapped
 * once and kept while the row's wrapped key is the same bytes: a vault's key never changes,
 * and the master key that unwraps it is held for the kv's life anyway. */
int kv_vault_key(struct kv *kv, const struct store_vault *v, struct vkey *ret)
{
	struct vault_key_slot *slot;
	uint8_t aad[32], *key;
	size_t i, n = kv_vault_aad(v->id, aad);
	int r;

	for (i = 0; i < KV_VAULT_KEYS; i++)
		if (kv->vkey[i].id == v->id &&
		    memcmp(kv->vkey[i].wrapped, v->wrapped_key, sizeof(v->wrapped_key)) == 0)
			goto found;
	i = kv->next_vkey++ % KV_VAULT_KEYS;
	slot = &kv->vkey[i];
	key = key_bytes(kv, i);
	/* the data keys it unwrapped are never asked for again (their serial is gone): wipe
	 * them with it */
	for (size_t j = 0; slot->id != 0 && j < KV_DATA_KEYS; j++)
		if (kv->dkey[j].vkey_serial == slot->serial) {
			secure_wipe(key_bytes(kv, KV_VAULT_KEYS + j), CRYPTO_KEY_LEN);
			kv->dkey[j].vkey_serial = 0;
		}
	secure_wipe(key, CRYPTO_KEY_LEN);
	slot->id = 0;
	r = crypto_aead_open_ctx(kv->aead, kv->wrap_key->data, aad, n, v->wrapped_key,
				 sizeof(v->wrapped_key), key); /* wipes key on failure */
	if (r < 0)
		return r;
	slot->id = v->id;
	slot->serial = ++kv->serial;
	memcpy(slot->wrapped, v->wrapped_key, sizeof(slot->wrapped));
found:
	*ret = (struct vkey){ key_bytes(kv, i), kv->vkey[i].serial, v->id };
	return 0;
}

/* The data key of row (a version of o) under vk, borrowed from kv's table: valid until the
 * next data_key() call. Unwrapped once and kept while every input of the unwrap is the same:
 * the vault key, the AAD's vault, object, version and type, and the row's wrapped bytes (a
 * row's data key never changes; a row whose wrapped key is other bytes is unwrapped afresh,
 * and fails if they do not open). */
static int data_key(struct kv *kv, const struct vkey *vk, const struct store_object *o,
		    const struct store_version *row, const uint8_t **ret)
{
	struct data_key_slot *slot;
	uint8_t aad[48], *key;
	size_t i, n;
	int r;

	for (i = 0; i < KV_DATA_KEYS; i++) {
		slot = &kv->dkey[i];
		if (slot->vkey_serial == vk->serial && slot->object_id == o->id &&
		    slot->version == row->version && slot->vault_id == vk->vault_id &&
		    slot->type == o->type &&
		    memcmp(slot->wrapped, row->wrapped_dek, sizeof(row->wrapped_dek)) == 0) {
			*ret = key_bytes(kv, KV_VAULT_KEYS + i);
			return 0;
		}
	}
	i = kv->next_dkey++ % KV_DATA_KEYS;
	slot = &kv->dkey[i];
	key = key_bytes(kv, KV_VAULT_KEYS + i);
	secure_wipe(key, CRYPTO_KEY_LEN);
	slot->vkey_serial = 0;
	n = object_aad('k', vk->vault_id, o, row->version, aad);
	r = crypto_aead_open_ctx(kv->aead, vk->key, aad, n, row->wrapped_dek,
				 sizeof(row->wrapped_dek), key); /* wipes key on failure */
	if (r < 0)
		return r;
	*slot = (struct data_key_slot){ vk->serial,   vk->vault_id, o->id,
					row->version, o->type,	    { 0 } };
	memcpy(slot->wrapped, row->wrapped_dek, sizeof(slot->wrapped));
	*ret = key;
	return 0;
}

/* Encrypt value as version `version` of o (in the vault of vk) into row: a new data key,
 * wrapped, and the ciphertext on the heap. */
int kv_seal_value(struct kv *kv, const struct vkey *vk, const struct store_object *o,
		  uint32_t version, const void *value, size_t len, struct store_version *row)
{
	_cleanup_secbuf_ struct secbuf *dek = NULL;
	uint8_t aad[48];
	size_t n;
	int r;

	r = secbuf_new(CRYPTO_KEY_LEN, &dek);
	if (r < 0)
		return r;
	r = crypto_random(dek->data, CRYPTO_KEY_LEN);
	if (r < 0)
		return r;
	dek->len = CRYPTO_KEY_LEN;
	n = object_aad('k', vk->vault_id, o, version, aad);
	r = crypto_aead_seal_ctx(kv->aead, vk->key, aad, n, dek->data, CRYPTO_KEY_LEN,
				 row->wrapped_dek);
	if (r < 0)
		return r;
	row->ciphertext_len = len + CRYPTO_AEAD_OVERHEAD;
	row->ciphertext = malloc(row->ciphertext_len);
	if (!row->ciphertext)
		return -ENOMEM;
	n = object_aad('v', vk->vault_id, o, version, aad);
	return crypto_aead_seal_ctx(kv->aead, dek->data, aad, n, value, len, row->ciphertext);
}

int kv_seal_version(struct kv *kv, const struct store_vault *v, const struct store_object *o,
		    uint32_t version, const void *value, size_t len, struct store_version *row)
{
	struct vkey vk;
	int r;

	r = kv_vault_key(kv, v, &vk);
	if (r < 0)
		return r;
	return kv_seal_value(kv, &vk, o, version, value, len, row);
}

/* Decrypt row (a version of o in the vault of vk) into out, which holds
 * row->ciphertext_len - CRYPTO_AEAD_OVERHEAD bytes of secure memory. */
int kv_open_value(struct kv *kv, const struct vkey *vk, const struct store_object *o,
		  const struct store_version *row, uint8_t *out)
{
	const uint8_t *dek;
	uint8_t aad[48];
	size_t n;
	int r;

	if (row->ciphertext_len < CRYPTO_AEAD_OVERHEAD ||
	    row->ciphertext_len > VAULTFS_VALUE_MAX + CRYPTO_AEAD_OVERHEAD || !row->ciphertext)
		return -EBADMSG;
	r = data_key(kv, vk, o, row, &dek);
	if (r < 0)
		return r;
	n = object_aad('v', vk->vault_id, o, row->version, aad);
	return crypto_aead_open_ctx(kv->aead, dek, aad, n, row->ciphertext, row->ciphertext_len,
				    out);
}

int kv_open_version(struct kv *kv, const struct store_vault *v, const struct store_object *o,
		    const struct store_version *row, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *val = NULL;
	struct vkey vk;
	int r;

	if (row->ciphertext_len < CRYPTO_AEAD_OVERHEAD ||
	    row->ciphertext_len > VAULTFS_VALUE_MAX + CRYPTO_AEAD_OVERHEAD)
		return -EBADMSG;
	r = kv_vault_key(kv, v, &vk);
	if (r < 0)
		return r;
	/* secbuf_new refuses 0 bytes: an empty value still gets a one-byte buffer */
	r = secbuf_new(row->ciphertext_len - CRYPTO_AEAD_OVERHEAD + 1, &val);
	if (r < 0)
		return r;
	r = kv_open_value(kv, &vk, o, row, val->data);
	if (r < 0)
		return r;
	val->len = row->ciphertext_len - CRYPTO_AEAD_OVERHEAD;
	*ret = TAKE_PTR(val);
	return 0;
}
