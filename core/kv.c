/* kv.c: the vault operations over the store (see kv.h for the key hierarchy), with the secret
 * lifecycle: soft delete, recover, purge under retention and purge protection, sealed backups
 * and their restore, and expiry notices. Every row read is checked (MAC) before any of its
 * fields is believed; every value is decrypted into a secbuf and nowhere else, and a backup's
 * plaintext is assembled and parsed only in secbufs, its every length checked as hostile.
 * Multi-statement reads run in one read transaction and writes in one write transaction, so
 * other writers can never make us see half a change; a read session (kv_read_begin) makes the
 * reads of one caller's request one transaction. Rows checked by a read are kept in a small
 * cache of verified rows that holds only for the store generation (store_generation) it was
 * read under: any change, by this handle or any other connection, empties it, so a row is
 * believed without a second MAC check only while the store is the same. Writes never read from
 * it. Vault and data keys, once unwrapped, are kept in bounded tables in one locked buffer,
 * each for every input of its unwrap (the same key, AAD and wrapped bytes give the same key),
 * wiped when its slot is taken again and at kv_free; a value is never kept. Never logs. */
#include <ctype.h>
#include <stdio.h>
#include <time.h>

#include "crypto.h"
#include "kv.h"
#include "util.h"

/* Verified rows, for the generation they were read under. Bounded whatever the store holds:
 * a slot is reused round-robin. An empty slot has id (object_id) 0: ids start at 1. */
#define KV_CACHE_VAULTS 8u
#define KV_CACHE_OBJECTS 16u
#define KV_CACHE_VERSIONS 8u
/* Keys kept unwrapped, in one locked buffer made by kv_new (so keeping one never fails for
 * want of memory) and wiped when a slot is taken again and at kv_free: vault keys, one unwrap
 * per vault, and data keys, one unwrap per version read, not per read. */
#define KV_VAULT_KEYS 8u
#define KV_DATA_KEYS 32u
#define KV_KEYS (KV_VAULT_KEYS + KV_DATA_KEYS)

/* An unwrapped vault key (slot i: bytes i of the key buffer), for the vault row whose id and
 * wrapped key it came from. serial names this unwrap: no other fill of any slot has it. */
struct vault_key_slot {
	int64_t id; /* 0: empty */
	uint64_t serial;
	uint8_t wrapped[CRYPTO_WRAPPED_KEY_LEN];
};

/* An unwrapped data key (slot i: bytes KV_VAULT_KEYS + i), for every input its unwrap had: the
 * vault key (the serial of its slot's fill), the AAD's fields and the row's wrapped bytes. */
struct data_key_slot {
	uint64_t vkey_serial; /* 0: empty */
	int64_t vault_id, object_id;
	uint32_t version;
	int type;
	uint8_t wrapped[CRYPTO_WRAPPED_KEY_LEN];
};

/* A vault key borrowed from the table: valid until the next vault_key() call. */
struct vkey {
	const uint8_t *key;
	uint64_t serial;
	int64_t vault_id;
};

struct kv_cache {
	bool valid; /* gen was read: the entries hold for it */
	struct store_generation gen;
	/* taken before the transaction that read gen: while the store says it still holds (no
	 * commit anywhere since), a session needs no transaction for what the cache has */
	struct store_mark mark;
	bool marked;
	struct store_vault vault[KV_CACHE_VAULTS];
	struct store_object object[KV_CACHE_OBJECTS];
	bool object_full[KV_CACHE_OBJECTS]; /* its current-version pointer was checked too */
	struct store_version version[KV_CACHE_VERSIONS]; /* with the ciphertext */
	unsigned next_vault, next_object, next_version;
};

struct kv {
	struct store *store;
	struct secbuf *master;
	struct secbuf *mac_key;  /* HKDF(M, "vaultfs mac v1") */
	struct crypto_mac *mac;  /* keyed with mac_key once, for every row MAC */
	struct secbuf *wrap_key; /* HKDF(M, "vaultfs vault-wrap v1") */
	int64_t clock;           /* 0 = real time */
	bool session;            /* a kv_read_begin() session is open */
	bool lazy;      /* ...and its transaction put off: every row so far came from the cache */
	bool cache_off; /* ...and the store changed before it began: the cache is not read */
	struct crypto_aead *aead; /* the one AES-256-GCM context of every value and key op */
	struct kv_cache cache;
	struct secbuf *keys; /* KV_KEYS unwrapped keys: the vault keys', then the data keys' */
	struct vault_key_slot vkey[KV_VAULT_KEYS];
	struct data_key_slot dkey[KV_DATA_KEYS];
	unsigned next_vkey, next_dkey;
	uint64_t serial; /* of the last vault key slot fill */
};

static int64_t now(const struct kv *kv)
{
	return kv->clock ? kv->clock : (int64_t)time(NULL);
}

void kv_set_clock(struct kv *kv, int64_t t)
{
	kv->clock = t;
}

/* HKDF(M, label) into a new secure buffer. */
static int derive(struct kv *kv, const char *label, struct secbuf **ret)
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
	return derive(kv, full, ret);
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
	r = derive(kv, "vaultfs mac v1", &kv->mac_key);
	if (r >= 0)
		r = crypto_mac_new(kv->mac_key->data, &kv->mac);
	if (r >= 0)
		r = derive(kv, "vaultfs vault-wrap v1", &kv->wrap_key);
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

static void cache_clear(struct kv *kv)
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
	if (kv->session)
		store_rollback(kv->store);
	cache_clear(kv);
	secbuf_free(kv->keys); /* wipes every kept key */
	crypto_aead_free(kv->aead);
	store_free(kv->store);
	secbuf_free(kv->master);
	secbuf_free(kv->mac_key);
	crypto_mac_free(kv->mac);
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

/* --- canonical serialization for MACs: tagged, length-prefixed, fixed-width integers --- */

struct macbuf {
	uint8_t b[8192];
	size_t n;
	bool overflow;
};

static void mb_raw(struct macbuf *m, const void *p, size_t n)
{
	if (m->overflow || n > sizeof(m->b) - m->n) {
		m->overflow = true;
		return;
	}
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void mb_u64(struct macbuf *m, uint64_t v)
{
	uint8_t le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	mb_raw(m, le, sizeof(le));
}

static void mb_bytes(struct macbuf *m, const void *p, size_t n)
{
	mb_u64(m, n);
	mb_raw(m, p, n);
}

static void mb_str(struct macbuf *m, const char *s)
{
	mb_bytes(m, s, strlen(s));
}

static int mb_finish(const struct kv *kv, struct macbuf *m, uint8_t out[CRYPTO_MAC_LEN])
{
	if (m->overflow)
		return -EMSGSIZE;
	return crypto_mac_compute(kv->mac, m->b, m->n, out);
}

static int vault_mac(const struct kv *kv, const struct store_vault *v, uint8_t out[32])
{
	struct macbuf m;

	m.n = 0;
	m.overflow = false;

	mb_str(&m, "vaultfs.vault.v1");
	mb_u64(&m, (uint64_t)v->id);
	mb_str(&m, v->name);
	mb_bytes(&m, v->wrapped_key, sizeof(v->wrapped_key));
	mb_u64(&m, (uint64_t)v->created);
	mb_u64(&m, v->retention_days);
	mb_u64(&m, v->purge_protection);
	return mb_finish(kv, &m, out);
}

static int object_mac(const struct kv *kv, const struct store_object *o, uint8_t out[32])
{
	struct macbuf m;

	m.n = 0;
	m.overflow = false;

	mb_str(&m, "vaultfs.object.v1");
	mb_u64(&m, (uint64_t)o->id);
	mb_u64(&m, (uint64_t)o->vault_id);
	mb_str(&m, o->name);
	mb_u64(&m, (uint64_t)o->type);
	mb_u64(&m, o->current_version);
	mb_u64(&m, (uint64_t)o->created);
	mb_u64(&m, (uint64_t)o->deleted_at);
	return mb_finish(kv, &m, out);
}

static int version_mac(const struct kv *kv, const struct store_version *v, uint8_t out[32])
{
	struct macbuf m;

	m.n = 0;
	m.overflow = false;

	mb_str(&m, "vaultfs.version.v1");
	mb_u64(&m, (uint64_t)v->object_id);
	mb_u64(&m, v->version);
	mb_u64(&m, v->enabled);
	mb_u64(&m, (uint64_t)v->not_before);
	mb_u64(&m, (uint64_t)v->expires);
	mb_u64(&m, (uint64_t)v->created);
	mb_u64(&m, (uint64_t)v->updated);
	mb_str(&m, v->content_type);
	mb_str(&m, v->tags ? v->tags : "");
	mb_bytes(&m, v->wrapped_dek, sizeof(v->wrapped_dek));
	mb_u64(&m, v->ciphertext_len);
	return mb_finish(kv, &m, out);
}

/* Recompute and compare: -EBADMSG when the row was changed behind our back. */
static int check_mac(int r, const uint8_t want[CRYPTO_MAC_LEN], uint8_t have[CRYPTO_MAC_LEN])
{
	if (r < 0)
		return r;
	return crypto_memeq(want, have, CRYPTO_MAC_LEN) ? 0 : -EBADMSG;
}

static int vault_verify(const struct kv *kv, const struct store_vault *v)
{
	uint8_t mac[CRYPTO_MAC_LEN];

	return check_mac(vault_mac(kv, v, mac), v->mac, mac);
}

static int object_verify(const struct kv *kv, const struct store_object *o)
{
	uint8_t mac[CRYPTO_MAC_LEN];

	return check_mac(object_mac(kv, o, mac), o->mac, mac);
}

static int version_verify(const struct kv *kv, const struct store_version *v)
{
	uint8_t mac[CRYPTO_MAC_LEN];

	return check_mac(version_mac(kv, v, mac), v->mac, mac);
}

static int load_vault(struct kv *kv, const char *name, struct store_vault *ret)
{
	int r;

	if (!kv_name_valid(name))
		return -EINVAL;
	r = store_vault_get(kv->store, name, ret);
	if (r < 0)
		return r;
	return vault_verify(kv, ret);
}

/* The object named name in vault v, checked; live only unless any_state. */
static int load_object(struct kv *kv, const struct store_vault *v, const char *name,
		       bool any_state, struct store_object *ret)
{
	uint32_t max;
	int r;

	if (!kv_name_valid(name))
		return -EINVAL;
	r = store_object_get(kv->store, v->id, name, ret);
	if (r < 0)
		return r;
	r = object_verify(kv, ret);
	if (r < 0)
		return r;
	if (ret->vault_id != v->id || !streq(ret->name, name))
		return -EBADMSG;
	/* The pointer must name the newest version: a rolled-back pointer (or a dropped newest
	 * version) is tampering, not a state we could have written. */
	r = store_version_max(kv->store, ret->id, &max);
	if (r < 0)
		return r;
	if (max != ret->current_version)
		return -EBADMSG;
	if (!any_state && ret->deleted_at != 0)
		return -ENOENT;
	return 0;
}

/* AAD for the vault key: binds it to its vault row. */
static size_t vault_aad(int64_t vault_id, uint8_t aad[32])
{
	static const char tag[] = "vaultfs vault-key v1";
	uint64_t id = (uint64_t)vault_id;

	memcpy(aad, tag, sizeof(tag) - 1);
	for (int i = 0; i < 8; i++)
		aad[sizeof(tag) - 1 + i] = (uint8_t)(id >> (8 * i));
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
	for (int j = 0; j < 3; j++)
		for (int i = 0; i < 8; i++)
			aad[n++] = (uint8_t)(f[j] >> (8 * i));
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
static int vault_key(struct kv *kv, const struct store_vault *v, struct vkey *ret)
{
	struct vault_key_slot *slot;
	uint8_t aad[32], *key;
	size_t i, n = vault_aad(v->id, aad);
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
	*slot = (struct data_key_slot){ vk->serial, vk->vault_id, o->id, row->version, o->type,
					{ 0 } };
	memcpy(slot->wrapped, row->wrapped_dek, sizeof(slot->wrapped));
	*ret = key;
	return 0;
}

/* --- attribute validation --- */

static bool text_ok(const char *s, size_t max, bool allow_empty)
{
	size_t n = strlen(s);

	if (n > max || (!allow_empty && n == 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if (iscntrl((unsigned char)s[i]))
			return false;
	return true;
}

static int tag_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t kx = strcspn(x, "="), ky = strcspn(y, "=");
	int c = memcmp(x, y, kx < ky ? kx : ky);

	return c ? c : (kx > ky) - (kx < ky);
}

/* "k=v" strings to the canonical form: sorted by key, one "k=v\n" each, no duplicate keys. */
static int tags_canonical(const char *const *tags, size_t n, char **ret)
{
	_cleanup_free_ const char **sorted = NULL;
	_cleanup_free_ char *out = NULL;
	size_t len = 0;

	if (n > VAULTFS_TAGS_MAX)
		return -EINVAL;
	sorted = calloc(n ? n : 1, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(tags[i], '=');
		size_t k;

		if (!eq)
			return -EINVAL;
		k = (size_t)(eq - tags[i]);
		if (k == 0 || k > VAULTFS_TAG_KEY_MAX ||
		    !text_ok(eq + 1, VAULTFS_TAG_VALUE_MAX, true))
			return -EINVAL;
		for (size_t j = 0; j < k; j++)
			if (iscntrl((unsigned char)tags[i][j]) ||
			    isspace((unsigned char)tags[i][j]))
				return -EINVAL;
		sorted[i] = tags[i];
		len += strlen(tags[i]) + 1;
	}
	qsort(sorted, n, sizeof(*sorted), tag_cmp);
	for (size_t i = 1; i < n; i++)
		if (tag_cmp(&sorted[i - 1], &sorted[i]) == 0)
			return -EINVAL;
	out = malloc(len + 1);
	if (!out)
		return -ENOMEM;
	out[0] = '\0';
	for (size_t i = 0, o = 0; i < n; i++) {
		size_t l = strlen(sorted[i]);

		memcpy(out + o, sorted[i], l);
		out[o + l] = '\n';
		o += l + 1;
		out[o] = '\0';
	}
	*ret = TAKE_PTR(out);
	return 0;
}

static bool time_ok(int64_t t)
{
	return t == KV_KEEP || t >= 0;
}

/* Apply attrs (KEEP fields untouched) to a version row, validating everything first. */
static int apply_attrs(struct store_version *v, const struct kv_attrs *a)
{
	_cleanup_free_ char *tags = NULL;
	int64_t nbf, exp;
	int r;

	if (a->enabled < -1 || a->enabled > 1 || !time_ok(a->not_before) || !time_ok(a->expires))
		return -EINVAL;
	if (a->content_type && !text_ok(a->content_type, VAULTFS_CONTENT_TYPE_MAX, true))
		return -EINVAL;
	if (a->tags) {
		r = tags_canonical(a->tags, a->n_tags, &tags);
		if (r < 0)
			return r;
	}
	nbf = a->not_before == KV_KEEP ? v->not_before : a->not_before;
	exp = a->expires == KV_KEEP ? v->expires : a->expires;
	if (nbf && exp && exp < nbf)
		return -EINVAL;

	if (a->enabled >= 0)
		v->enabled = a->enabled;
	v->not_before = nbf;
	v->expires = exp;
	if (a->content_type)
		str_copy(v->content_type, sizeof(v->content_type), a->content_type);
	if (tags) {
		free(v->tags);
		v->tags = TAKE_PTR(tags);
	}
	return 0;
}

static void version_info(const struct store_version *v, struct kv_version_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->object_id = v->object_id;
	ret->version = v->version;
	ret->enabled = v->enabled;
	ret->not_before = v->not_before;
	ret->expires = v->expires;
	ret->created = v->created;
	ret->updated = v->updated;
	str_copy(ret->content_type, sizeof(ret->content_type), v->content_type);
	str_copy(ret->tags, sizeof(ret->tags), v->tags ? v->tags : "");
	ret->size = v->ciphertext_len >= CRYPTO_AEAD_OVERHEAD ?
			    v->ciphertext_len - CRYPTO_AEAD_OVERHEAD :
			    0;
}

/* --- transactions: every public call is one of these --- */

static int end_read(struct kv *kv, int r)
{
	crypto_aead_forget(kv->aead); /* no key's schedule left behind a call (crypto.h) */
	if (r < 0)
		store_rollback(kv->store);
	else
		store_commit(kv->store);
	return r;
}

static int end_write(struct kv *kv, int r)
{
	crypto_aead_forget(kv->aead);
	if (r >= 0) {
		int k = store_commit(kv->store);

		if (k >= 0)
			return r;
		r = k;
	}
	store_rollback(kv->store);
	return r;
}

/* The cache holds for the generation the current read transaction reads, or is emptied. */
static int cache_sync(struct kv *kv)
{
	struct store_generation g;
	int r;

	r = store_generation(kv->store, &g);
	if (r < 0)
		return r;
	if (!kv->cache.valid || g.data_version != kv->cache.gen.data_version ||
	    g.local != kv->cache.gen.local) {
		cache_clear(kv);
		kv->cache.gen = g;
		kv->cache.valid = true;
	}
	return 0;
}

/* Begin a read transaction and bring the cache to its snapshot; the mark taken first vouches
 * for the cache until something is committed anywhere. */
static int begin(struct kv *kv)
{
	struct store_mark m;
	bool marked = store_mark(kv->store, &m) >= 0;
	int r;

	r = store_begin_read(kv->store);
	if (r < 0)
		return r;
	r = cache_sync(kv);
	if (r < 0) {
		store_rollback(kv->store);
		return r;
	}
	kv->cache.mark = m;
	kv->cache.marked = marked;
	return 0;
}

/* In a session whose transaction was put off, begin it: before the first row that does not
 * come from the cache. When something was committed since the cache was filled, the rest of
 * the session reads past the cache. What it served before held when the session began, and
 * what it points to stays valid: it is emptied when the session ends. */
static int txn(struct kv *kv)
{
	struct store_generation g;
	int r;

	if (!kv->lazy)
		return 0;
	kv->lazy = false;
	r = store_begin_read(kv->store);
	if (r >= 0)
		r = store_generation(kv->store, &g);
	if (r < 0 || g.data_version != kv->cache.gen.data_version || g.local != kv->cache.gen.local)
		kv->cache_off = true;
	return r;
}

/* A write transaction: never inside a read session (whose transaction may not be begun yet,
 * so the store cannot be the one to refuse). */
static int write_begin(struct kv *kv)
{
	return kv->session ? -EBUSY : store_begin(kv->store);
}

/* A read: its own read transaction, or the session's (begun now if it was put off). */
static int read_begin(struct kv *kv)
{
	return kv->session ? txn(kv) : begin(kv);
}

/* A read that takes its rows through the cache helpers below only (they begin a put-off
 * transaction themselves when a row is not in the cache). */
static int read_begin_cached(struct kv *kv)
{
	return kv->session ? 0 : begin(kv);
}

static int read_end(struct kv *kv, int r)
{
	return kv->session ? r : end_read(kv, r);
}

int kv_read_begin(struct kv *kv)
{
	int r;

	if (kv->session)
		return -EBUSY;
	/* nothing committed since the cache was filled: no transaction unless a row is missing */
	if (kv->cache.valid && kv->cache.marked && store_unchanged(kv->store, &kv->cache.mark)) {
		kv->session = kv->lazy = true;
		return 0;
	}
	r = begin(kv);
	if (r < 0)
		return r;
	kv->session = true;
	return 0;
}

void kv_read_end(struct kv *kv)
{
	if (!kv || !kv->session)
		return;
	kv->session = false;
	crypto_aead_forget(kv->aead);
	if (!kv->lazy)
		(void)end_read(kv, 0);
	kv->lazy = false;
	if (kv->cache_off) {
		cache_clear(kv);
		kv->cache_off = false;
	}
}

/* --- the cache of verified rows: only inside read_begin()/read_end() ---
 * Each helper reads the cache only while it holds (!cache_off), and begins a put-off
 * transaction (txn) before it reads the store. */

/* Vault name, checked. */
static int vault_by_name(struct kv *kv, const char *name, struct store_vault *ret)
{
	struct kv_cache *c = &kv->cache;
	int r;

	if (!kv_name_valid(name))
		return -EINVAL;
	for (size_t i = 0; i < KV_CACHE_VAULTS && !kv->cache_off; i++)
		if (c->vault[i].id && streq(c->vault[i].name, name)) {
			*ret = c->vault[i];
			return 0;
		}
	r = txn(kv);
	if (r >= 0)
		r = load_vault(kv, name, ret);
	if (r < 0)
		return r;
	c->vault[c->next_vault++ % KV_CACHE_VAULTS] = *ret;
	return 0;
}

static int vault_by_id(struct kv *kv, int64_t id, struct store_vault *ret)
{
	struct kv_cache *c = &kv->cache;
	int r;

	for (size_t i = 0; i < KV_CACHE_VAULTS && !kv->cache_off; i++)
		if (c->vault[i].id && c->vault[i].id == id) {
			*ret = c->vault[i];
			return 0;
		}
	r = txn(kv);
	if (r >= 0)
		r = store_vault_get_by_id(kv->store, id, ret);
	if (r >= 0)
		r = vault_verify(kv, ret);
	if (r >= 0 && ret->id != id)
		r = -EBADMSG;
	if (r < 0)
		return r;
	c->vault[c->next_vault++ % KV_CACHE_VAULTS] = *ret;
	return 0;
}

static void object_put(struct kv *kv, const struct store_object *o, bool full)
{
	struct kv_cache *c = &kv->cache;
	unsigned i = c->next_object++ % KV_CACHE_OBJECTS;

	c->object[i] = *o;
	c->object_full[i] = full;
}

/* load_object() through the cache. */
static int object_by_name(struct kv *kv, const struct store_vault *v, const char *name,
			  bool any_state, struct store_object *ret)
{
	struct kv_cache *c = &kv->cache;
	struct store_object o;
	uint32_t max;
	int r;

	if (!kv_name_valid(name))
		return -EINVAL;
	for (size_t i = 0; i < KV_CACHE_OBJECTS && !kv->cache_off; i++) {
		if (!c->object[i].id || c->object[i].vault_id != v->id ||
		    !streq(c->object[i].name, name))
			continue;
		if (!c->object_full[i]) { /* met by id: the pointer was not checked */
			r = txn(kv);
			if (r < 0)
				return r;
			if (kv->cache_off) /* the row may be older than the store now */
				break;
			r = store_version_max(kv->store, c->object[i].id, &max);
			if (r < 0)
				return r;
			if (max != c->object[i].current_version)
				return -EBADMSG;
			c->object_full[i] = true;
		}
		if (!any_state && c->object[i].deleted_at != 0)
			return -ENOENT;
		*ret = c->object[i];
		return 0;
	}
	r = txn(kv);
	if (r >= 0)
		r = load_object(kv, v, name, true, &o);
	if (r < 0)
		return r;
	object_put(kv, &o, true);
	if (!any_state && o.deleted_at != 0)
		return -ENOENT;
	*ret = o;
	return 0;
}

/* The object row of id, checked (its current-version pointer is not: names only). */
static int object_by_id(struct kv *kv, int64_t id, struct store_object *ret)
{
	struct kv_cache *c = &kv->cache;
	int r;

	for (size_t i = 0; i < KV_CACHE_OBJECTS && !kv->cache_off; i++)
		if (c->object[i].id && c->object[i].id == id) {
			*ret = c->object[i];
			return 0;
		}
	r = txn(kv);
	if (r >= 0)
		r = store_object_get_by_id(kv->store, id, ret);
	if (r >= 0)
		r = object_verify(kv, ret);
	if (r >= 0 && ret->id != id)
		r = -EBADMSG;
	if (r < 0)
		return r;
	object_put(kv, ret, false);
	return 0;
}

/* Version `version` (not 0) of o, checked, with its ciphertext: a row of the cache, valid until
 * the next row is put in it. */
static int version_by_number(struct kv *kv, const struct store_object *o, uint32_t version,
			     const struct store_version **ret)
{
	struct kv_cache *c = &kv->cache;
	struct store_version *row;
	int r;

	for (size_t i = 0; i < KV_CACHE_VERSIONS && !kv->cache_off; i++)
		if (c->version[i].object_id == o->id && c->version[i].version == version &&
		    c->version[i].object_id) {
			*ret = &c->version[i];
			return 0;
		}
	r = txn(kv);
	if (r < 0)
		return r;
	row = &c->version[c->next_version++ % KV_CACHE_VERSIONS];
	store_version_done(row);
	r = store_version_get(kv->store, o->id, version, row);
	if (r < 0) {
		store_version_done(row);
		/* below the pointer, so it must exist; unless the store changed during the session
		 * and o is older than it (purged meanwhile: gone, and the next read checks again) */
		return r == -ENOENT && !kv->cache_off ? -EBADMSG : r;
	}
	r = version_verify(kv, row);
	if (r >= 0 && (row->object_id != o->id || row->version != version))
		r = -EBADMSG;
	if (r < 0) {
		store_version_done(row);
		return r;
	}
	*ret = row;
	return 0;
}

/* load_version() through the cache. */
static int version_cached(struct kv *kv, const char *vault, const char *name, uint32_t version,
			  struct store_vault *ret_v, struct store_object *ret_o,
			  const struct store_version **ret_row)
{
	int r;

	r = vault_by_name(kv, vault, ret_v);
	if (r < 0)
		return r;
	r = object_by_name(kv, ret_v, name, false, ret_o);
	if (r < 0)
		return r;
	if (version == 0)
		version = ret_o->current_version;
	if (version == 0 || version > ret_o->current_version)
		return -ENOENT;
	return version_by_number(kv, ret_o, version, ret_row);
}

/* --- vaults --- */

int kv_vault_create(struct kv *kv, const char *name, uint32_t retention_days)
{
	_cleanup_secbuf_ struct secbuf *key = NULL;
	struct store_vault v = { 0 };
	uint8_t aad[32];
	int r;

	if (!kv_name_valid(name))
		return -EINVAL;
	if (retention_days == 0)
		retention_days = VAULTFS_RETENTION_DEFAULT;
	if (retention_days < VAULTFS_RETENTION_MIN || retention_days > VAULTFS_RETENTION_MAX)
		return -EINVAL;
	r = secbuf_new(CRYPTO_KEY_LEN, &key);
	if (r < 0)
		return r;
	r = crypto_random(key->data, CRYPTO_KEY_LEN);
	if (r < 0)
		return r;
	key->len = CRYPTO_KEY_LEN;

	r = write_begin(kv);
	if (r < 0)
		return r;
	str_copy(v.name, sizeof(v.name), name);
	v.created = now(kv);
	v.retention_days = retention_days;
	r = store_vault_insert(kv->store, &v); /* assigns the id the key is bound to */
	if (r >= 0)
		r = crypto_wrap_key(kv->wrap_key->data, aad, vault_aad(v.id, aad), key->data,
				    v.wrapped_key);
	if (r >= 0)
		r = vault_mac(kv, &v, v.mac);
	if (r >= 0)
		r = store_vault_update(kv->store, &v);
	return end_write(kv, r);
}

int kv_vault_protect(struct kv *kv, const char *name)
{
	struct store_vault v;
	int r;

	r = write_begin(kv);
	if (r < 0)
		return r;
	r = load_vault(kv, name, &v);
	if (r < 0 || v.purge_protection)
		return end_write(kv, r);
	v.purge_protection = true;
	r = vault_mac(kv, &v, v.mac);
	if (r >= 0)
		r = store_vault_update(kv->store, &v);
	return end_write(kv, r);
}

int kv_vault_delete(struct kv *kv, const char *name)
{
	struct store_vault v;
	int r;

	r = write_begin(kv);
	if (r < 0)
		return r;
	r = load_vault(kv, name, &v);
	if (r >= 0)
		r = store_vault_delete(kv->store, v.id);
	return end_write(kv, r);
}

static void vault_info(const struct store_vault *v, struct kv_vault_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->id = v->id;
	str_copy(ret->name, sizeof(ret->name), v->name);
	ret->created = v->created;
	ret->retention_days = v->retention_days;
	ret->purge_protection = v->purge_protection;
}

int kv_vault_name(struct kv *kv, int64_t vault_id, char ret_name[VAULTFS_NAME_MAX + 1])
{
	struct store_vault v;
	int r;

	r = read_begin_cached(kv);
	if (r == -EBUSY) { /* inside a transaction of the caller's: one checked row, as is */
		r = store_vault_get_by_id(kv->store, vault_id, &v);
		if (r >= 0)
			r = vault_verify(kv, &v);
	} else if (r >= 0) {
		r = read_end(kv, vault_by_id(kv, vault_id, &v));
	}
	if (r < 0)
		return r;
	memcpy(ret_name, v.name, sizeof(v.name));
	return 0;
}

int kv_object_names(struct kv *kv, int64_t object_id, char ret_vault[VAULTFS_NAME_MAX + 1],
		    char ret_name[VAULTFS_NAME_MAX + 1])
{
	struct store_object o;
	struct store_vault v;
	int r;

	r = read_begin_cached(kv);
	if (r < 0)
		return r;
	r = object_by_id(kv, object_id, &o);
	if (r >= 0)
		r = vault_by_id(kv, o.vault_id, &v);
	r = read_end(kv, r);
	if (r < 0)
		return r;
	memcpy(ret_vault, v.name, sizeof(v.name));
	memcpy(ret_name, o.name, sizeof(o.name));
	return 0;
}

int kv_vault_get(struct kv *kv, const char *name, struct kv_vault_info *ret)
{
	struct store_vault v;
	int r;

	r = read_begin_cached(kv);
	if (r == -EBUSY) /* inside a transaction of the caller's: one checked row, as is */
		r = load_vault(kv, name, &v);
	else if (r >= 0)
		r = read_end(kv, vault_by_name(kv, name, &v));
	if (r < 0)
		return r;
	vault_info(&v, ret);
	return 0;
}

struct vault_list_ctx {
	struct kv *kv;
	int (*cb)(const struct kv_vault_info *v, void *ud);
	void *ud;
};

static int vault_list_one(const struct store_vault *v, void *userdata)
{
	struct vault_list_ctx *ctx = userdata;
	struct kv_vault_info info;
	int r;

	r = vault_verify(ctx->kv, v);
	if (r < 0)
		return r;
	vault_info(v, &info);
	return ctx->cb(&info, ctx->ud);
}

int kv_vault_list(struct kv *kv, int (*cb)(const struct kv_vault_info *v, void *ud), void *ud)
{
	struct vault_list_ctx ctx = { kv, cb, ud };
	int r;

	r = read_begin(kv);
	if (r < 0)
		return r;
	return read_end(kv, store_vault_foreach(kv->store, vault_list_one, &ctx));
}

int kv_vault_list_page(struct kv *kv, const char *after, unsigned limit,
		       int (*cb)(const struct kv_vault_info *v, void *ud), void *ud)
{
	struct vault_list_ctx ctx = { kv, cb, ud };
	int r;

	r = read_begin(kv);
	if (r < 0)
		return r;
	return read_end(kv, store_vault_page(kv->store, after, limit, vault_list_one, &ctx));
}

/* --- secrets --- */

/* Encrypt value as version `version` of o (in the vault of vk) into row: a new data key,
 * wrapped, and the ciphertext on the heap. */
static int seal_value(struct kv *kv, const struct vkey *vk, const struct store_object *o,
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

static int seal_version(struct kv *kv, const struct store_vault *v, const struct store_object *o,
			uint32_t version, const void *value, size_t len, struct store_version *row)
{
	struct vkey vk;
	int r;

	r = vault_key(kv, v, &vk);
	if (r < 0)
		return r;
	return seal_value(kv, &vk, o, version, value, len, row);
}

int kv_secret_set(struct kv *kv, const char *vault, const char *name, const void *value,
		  size_t len, const struct kv_attrs *attrs, uint32_t *ret_version)
{
	static const struct kv_attrs defaults = { .enabled = 1, .content_type = "" };
	struct store_version row = { .enabled = true };
	struct store_vault v;
	struct store_object o;
	int r;

	if (!kv_name_valid(vault) || !kv_name_valid(name))
		return -EINVAL;
	if (len > VAULTFS_VALUE_MAX)
		return -EMSGSIZE;
	row.tags = strdup("");
	if (!row.tags)
		return -ENOMEM;
	r = apply_attrs(&row, attrs ? attrs : &defaults);
	if (r < 0)
		goto out;

	r = write_begin(kv);
	if (r < 0)
		goto out;
	r = load_vault(kv, vault, &v);
	if (r < 0)
		goto end;
	r = load_object(kv, &v, name, true, &o);
	if (r == -ENOENT) {
		memset(&o, 0, sizeof(o));
		o.vault_id = v.id;
		str_copy(o.name, sizeof(o.name), name);
		o.type = OBJECT_SECRET;
		o.created = now(kv);
		r = store_object_insert(kv->store, &o);
	} else if (r >= 0 && o.deleted_at) {
		r = -EEXIST; /* soft-deleted: recover or purge it first */
	} else if (r >= 0 && o.type != OBJECT_SECRET) {
		r = -EEXIST;
	} else if (r >= 0 && o.current_version >= VAULTFS_VERSIONS_MAX) {
		r = -ENOSPC;
	}
	if (r < 0)
		goto end;

	row.object_id = o.id;
	row.version = o.current_version + 1;
	row.created = row.updated = now(kv);
	r = seal_version(kv, &v, &o, row.version, value, len, &row);
	if (r >= 0)
		r = version_mac(kv, &row, row.mac);
	if (r >= 0)
		r = store_version_insert(kv->store, &row);
	if (r >= 0) {
		o.current_version = row.version;
		r = object_mac(kv, &o, o.mac);
	}
	if (r >= 0)
		r = store_object_update(kv->store, &o);
end:
	r = end_write(kv, r);
	if (r >= 0 && ret_version)
		*ret_version = row.version;
out:
	store_version_done(&row);
	return r;
}

/* Load and check version `version` (0 = current) of vault/name inside the caller's
 * transaction. */
static int load_version(struct kv *kv, const char *vault, const char *name, uint32_t version,
			struct store_vault *ret_v, struct store_object *ret_o,
			struct store_version *ret_row)
{
	int r;

	r = load_vault(kv, vault, ret_v);
	if (r < 0)
		return r;
	r = load_object(kv, ret_v, name, false, ret_o);
	if (r < 0)
		return r;
	if (version == 0)
		version = ret_o->current_version;
	if (version == 0 || version > ret_o->current_version)
		return -ENOENT;
	r = store_version_get(kv->store, ret_o->id, version, ret_row);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r; /* below the pointer, so it must exist */
	r = version_verify(kv, ret_row);
	if (r < 0)
		return r;
	if (ret_row->object_id != ret_o->id || ret_row->version != version)
		return -EBADMSG;
	return 0;
}

static int lifecycle_check(const struct kv *kv, const struct store_version *row)
{
	int64_t t = now(kv);

	if (!row->enabled)
		return -EKEYREVOKED;
	if (row->not_before && t < row->not_before)
		return -EKEYREJECTED;
	if (row->expires && t >= row->expires)
		return -EKEYEXPIRED;
	return 0;
}

/* Decrypt row (a version of o in the vault of vk) into out, which holds
 * row->ciphertext_len - CRYPTO_AEAD_OVERHEAD bytes of secure memory. */
static int open_value(struct kv *kv, const struct vkey *vk, const struct store_object *o,
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

static int open_version(struct kv *kv, const struct store_vault *v, const struct store_object *o,
			const struct store_version *row, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *val = NULL;
	struct vkey vk;
	int r;

	if (row->ciphertext_len < CRYPTO_AEAD_OVERHEAD ||
	    row->ciphertext_len > VAULTFS_VALUE_MAX + CRYPTO_AEAD_OVERHEAD)
		return -EBADMSG;
	r = vault_key(kv, v, &vk);
	if (r < 0)
		return r;
	/* secbuf_new refuses 0 bytes: an empty value still gets a one-byte buffer */
	r = secbuf_new(row->ciphertext_len - CRYPTO_AEAD_OVERHEAD + 1, &val);
	if (r < 0)
		return r;
	r = open_value(kv, &vk, o, row, val->data);
	if (r < 0)
		return r;
	val->len = row->ciphertext_len - CRYPTO_AEAD_OVERHEAD;
	*ret = TAKE_PTR(val);
	return 0;
}

int kv_secret_get(struct kv *kv, const char *vault, const char *name, uint32_t version,
		  struct secbuf **ret_value, struct kv_version_info *ret_info)
{
	const struct store_version *row = NULL;
	struct kv_version_info info;
	struct store_vault v;
	struct store_object o;
	struct secbuf *val = NULL;
	int r;

	r = read_begin_cached(kv);
	if (r < 0)
		return r;
	r = version_cached(kv, vault, name, version, &v, &o, &row);
	if (r >= 0)
		r = lifecycle_check(kv, row);
	if (r >= 0)
		r = open_version(kv, &v, &o, row, &val);
	if (r >= 0 && ret_info)
		version_info(row, &info);
	r = read_end(kv, r);
	if (r < 0) {
		secbuf_free(val);
		return r;
	}
	if (ret_info)
		*ret_info = info;
	*ret_value = val;
	return 0;
}

int kv_secret_info(struct kv *kv, const char *vault, const char *name, uint32_t version,
		   struct kv_version_info *ret)
{
	const struct store_version *row = NULL;
	struct kv_version_info info;
	struct store_vault v;
	struct store_object o;
	int r;

	r = read_begin_cached(kv);
	if (r < 0)
		return r;
	r = version_cached(kv, vault, name, version, &v, &o, &row);
	if (r >= 0)
		version_info(row, &info);
	r = read_end(kv, r);
	if (r < 0)
		return r;
	*ret = info;
	return 0;
}

/* What a listing says of object o of vault v (both checked): with its current version's row,
 * read and checked, for the expiry and the enabled flag. */
static int secret_info(struct kv *kv, const struct store_vault *v, const struct store_object *o,
		       struct kv_secret_info *ret)
{
	struct kv_secret_info info = { 0 };
	int r;

	str_copy(info.name, sizeof(info.name), o->name);
	info.id = o->id;
	info.current_version = o->current_version;
	info.created = o->created;
	info.deleted_at = o->deleted_at;
	if (o->deleted_at)
		info.purge_after = o->deleted_at + (int64_t)v->retention_days * 86400;
	if (o->current_version) {
		struct store_version row;

		r = store_version_get_meta(kv->store, o->id, o->current_version, &row);
		if (r < 0)
			return r == -ENOENT ? -EBADMSG : r;
		r = version_verify(kv, &row);
		if (r >= 0 && (row.object_id != o->id || row.version != o->current_version))
			r = -EBADMSG;
		info.expires = row.expires;
		info.enabled = row.enabled;
		store_version_done(&row);
		if (r < 0)
			return r;
	}
	*ret = info;
	return 0;
}

struct secret_list_ctx {
	struct kv *kv;
	const struct store_vault *vault;
	bool deleted;
	int (*cb)(const struct kv_secret_info *s, void *ud);
	void *ud;
	char last[VAULTFS_NAME_MAX + 1]; /* the name of the last row checked */
};

/* Every row is checked before anything in it is believed, the ones left out (of the other
 * state) too: a changed deleted_at can neither hide a secret nor show one. */
static int secret_list_one(const struct store_object *o, void *userdata)
{
	struct secret_list_ctx *ctx = userdata;
	struct kv_secret_info info;
	int r;

	r = object_verify(ctx->kv, o);
	if (r < 0)
		return r;
	if (o->vault_id != ctx->vault->id)
		return -EBADMSG;
	memcpy(ctx->last, o->name, sizeof(ctx->last));
	if ((o->deleted_at != 0) != ctx->deleted)
		return 0;
	r = secret_info(ctx->kv, ctx->vault, o, &info);
	if (r < 0)
		return r;
	return ctx->cb(&info, ctx->ud);
}

/* The listing of kv_secret_list, whole (limit 0) or a page of it: the count of rows read. */
static int secret_list(struct kv *kv, const char *vault, bool deleted, const char *after,
		       unsigned limit, int (*cb)(const struct kv_secret_info *s, void *ud),
		       void *ud, char ret_last[VAULTFS_NAME_MAX + 1])
{
	struct store_vault v;
	struct secret_list_ctx ctx = { kv, &v, deleted, cb, ud, "" };
	int r;

	r = read_begin(kv);
	if (r < 0)
		return r;
	r = vault_by_name(kv, vault, &v);
	if (r >= 0 && limit)
		r = store_object_page(kv->store, v.id, after, limit, secret_list_one, &ctx);
	else if (r >= 0)
		r = store_object_foreach(kv->store, v.id, secret_list_one, &ctx);
	r = read_end(kv, r);
	if (r >= 0 && ret_last)
		memcpy(ret_last, ctx.last, sizeof(ctx.last));
	return r;
}

int kv_secret_list(struct kv *kv, const char *vault, bool deleted,
		   int (*cb)(const struct kv_secret_info *s, void *ud), void *ud)
{
	return secret_list(kv, vault, deleted, NULL, 0, cb, ud, NULL);
}

int kv_secret_list_page(struct kv *kv, const char *vault, bool deleted, const char *after,
			unsigned limit, int (*cb)(const struct kv_secret_info *s, void *ud),
			void *ud, char ret_last[VAULTFS_NAME_MAX + 1])
{
	if (limit == 0)
		return -EINVAL;
	return secret_list(kv, vault, deleted, after, limit, cb, ud, ret_last);
}

int kv_secret_lookup(struct kv *kv, const char *vault, const char *name,
		     struct kv_secret_info *ret)
{
	struct kv_secret_info info;
	struct store_vault v;
	struct store_object o;
	int r;

	r = read_begin(kv);
	if (r < 0)
		return r;
	r = vault_by_name(kv, vault, &v);
	if (r >= 0)
		r = object_by_name(kv, &v, name, true, &o);
	if (r >= 0)
		r = secret_info(kv, &v, &o, &info);
	r = read_end(kv, r);
	if (r < 0)
		return r;
	*ret = info;
	return 0;
}

struct versions_ctx {
	struct kv *kv;
	const struct store_object *object;
	uint32_t expect; /* the number of the last version met */
	int (*cb)(const struct kv_version_info *v, void *ud);
	void *ud;
};

static int versions_one(const struct store_version *row, void *userdata)
{
	struct versions_ctx *ctx = userdata;
	struct kv_version_info info;
	int r;

	r = version_verify(ctx->kv, row);
	if (r < 0)
		return r;
	/* versions are 1..current with no gaps: anything else was edited */
	if (row->object_id != ctx->object->id || row->version != ++ctx->expect)
		return -EBADMSG;
	version_info(row, &info);
	return ctx->cb(&info, ctx->ud);
}

/* The listing of kv_secret_versions, whole (limit 0) or a page of it: the count of rows. */
static int secret_versions(struct kv *kv, const char *vault, const char *name, uint32_t after,
			   unsigned limit, int (*cb)(const struct kv_version_info *v, void *ud),
			   void *ud)
{
	struct store_vault v;
	struct store_object o;
	struct versions_ctx ctx = { kv, &o, after, cb, ud };
	int r;

	r = read_begin(kv);
	if (r < 0)
		return r;
	r = vault_by_name(kv, vault, &v);
	if (r >= 0)
		r = object_by_name(kv, &v, name, false, &o);
	if (r >= 0 && limit)
		r = store_version_page(kv->store, o.id, after, limit, versions_one, &ctx);
	else if (r >= 0)
		r = store_version_foreach(kv->store, o.id, versions_one, &ctx);
	/* a listing that got to the end must have met the current version (the pointer names
	 * the newest row, load_object checked: none lies past it) */
	if (r >= 0 && (!limit || (unsigned)r < limit) &&
	    ctx.expect != (after > o.current_version ? after : o.current_version))
		r = -EBADMSG;
	return read_end(kv, r);
}

int kv_secret_versions(struct kv *kv, const char *vault, const char *name,
		       int (*cb)(const struct kv_version_info *v, void *ud), void *ud)
{
	return secret_versions(kv, vault, name, 0, 0, cb, ud);
}

int kv_secret_versions_page(struct kv *kv, const char *vault, const char *name, uint32_t after,
			    unsigned limit, int (*cb)(const struct kv_version_info *v, void *ud),
			    void *ud)
{
	if (limit == 0)
		return -EINVAL;
	return secret_versions(kv, vault, name, after, limit, cb, ud);
}

int kv_secret_update(struct kv *kv, const char *vault, const char *name, uint32_t version,
		     const struct kv_attrs *attrs)
{
	struct store_version row = { 0 };
	struct store_vault v;
	struct store_object o;
	int r;

	static const struct kv_attrs keep = KV_ATTRS_KEEP;

	r = write_begin(kv);
	if (r < 0)
		return r;
	r = load_version(kv, vault, name, version, &v, &o, &row);
	if (r >= 0)
		r = apply_attrs(&row, attrs ? attrs : &keep);
	if (r >= 0) {
		row.updated = now(kv);
		r = version_mac(kv, &row, row.mac);
	}
	if (r >= 0)
		r = store_version_update_attrs(kv->store, &row);
	r = end_write(kv, r);
	store_version_done(&row);
	return r;
}

/* Soft delete (deleted_at = now), recover (deleted_at = 0) and purge share this frame. */
enum lifecycle_op { OP_DELETE, OP_RECOVER, OP_PURGE };

static int lifecycle(struct kv *kv, const char *vault, const char *name, enum lifecycle_op op)
{
	struct store_vault v;
	struct store_object o;
	int r;

	r = write_begin(kv);
	if (r < 0)
		return r;
	r = load_vault(kv, vault, &v);
	if (r >= 0)
		r = load_object(kv, &v, name, true, &o);
	if (r < 0)
		return end_write(kv, r);
	/* delete needs a live secret; recover and purge a deleted one */
	if ((op == OP_DELETE) != (o.deleted_at == 0))
		return end_write(kv, -ENOENT);
	switch (op) {
	case OP_DELETE:
	case OP_RECOVER:
		o.deleted_at = op == OP_DELETE ? now(kv) : 0;
		r = object_mac(kv, &o, o.mac);
		if (r >= 0)
			r = store_object_update(kv->store, &o);
		break;
	case OP_PURGE:
		if (v.purge_protection &&
		    now(kv) < o.deleted_at + (int64_t)v.retention_days * 86400)
			r = -EPERM;
		else
			r = store_object_purge(kv->store, o.id);
		break;
	}
	return end_write(kv, r);
}

int kv_secret_delete(struct kv *kv, const char *vault, const char *name)
{
	return lifecycle(kv, vault, name, OP_DELETE);
}

int kv_secret_recover(struct kv *kv, const char *vault, const char *name)
{
	return lifecycle(kv, vault, name, OP_RECOVER);
}

int kv_secret_purge(struct kv *kv, const char *vault, const char *name)
{
	return lifecycle(kv, vault, name, OP_PURGE);
}

/* --- purge when retention has passed --- */

#define PURGE_BATCH 32u

struct due {
	int64_t vault_id;
	char name[VAULTFS_NAME_MAX + 1];
};

struct due_list {
	struct due d[PURGE_BATCH];
	unsigned n;
};

static int due_one(const struct store_object *o, void *userdata)
{
	struct due_list *l = userdata;

	l->d[l->n].vault_id = o->vault_id;
	memcpy(l->d[l->n].name, o->name, sizeof(l->d[l->n].name));
	l->n++;
	return 0;
}

int kv_purge_due(struct kv *kv, int (*cb)(const char *vault, const char *name, void *ud),
		 void *ud)
{
	struct due_list l = { .n = 0 };
	int64_t t = now(kv);
	unsigned purged = 0;
	int r;

	r = store_begin_read(kv->store);
	if (r < 0)
		return r;
	r = end_read(kv, store_object_deleted_foreach(kv->store, t, PURGE_BATCH, due_one, &l));
	if (r < 0)
		return r;
	for (unsigned i = 0; i < l.n; i++) {
		struct store_vault v;
		struct store_object o;

		/* the rows read above were not verified: the vault's and the object's rows are
		 * now, and the purge checks them again (a forged deletion time is -EBADMSG) */
		r = store_begin_read(kv->store);
		if (r < 0)
			return r;
		r = vault_by_id(kv, l.d[i].vault_id, &v);
		if (r >= 0)
			r = load_object(kv, &v, l.d[i].name, true, &o);
		r = end_read(kv, r);
		if (r < 0)
			return r;
		if (o.deleted_at == 0 || o.deleted_at + (int64_t)v.retention_days * 86400 > t)
			continue; /* recovered meanwhile, or this vault keeps them longer */
		r = cb(v.name, l.d[i].name, ud);
		if (r < 0)
			return r;
		r = kv_secret_purge(kv, v.name, l.d[i].name);
		if (r < 0)
			return r;
		purged++;
	}
	return l.n == PURGE_BATCH ? (int)purged + 1 : (int)purged;
}

/* --- backup and restore (format in kv.h) --- */

#define BACKUP_MAGIC "VFSBAK1" /* and its NUL: 8 bytes */
#define BACKUP_FORMAT 1u
#define BACKUP_HEADER_LEN 12u
/* The plaintext's fixed bytes before the versions (type, name length, created, count), and
 * those of one version besides its three strings. */
#define BACKUP_HEAD_FIXED (4u + 2u + 8u + 4u)
#define BACKUP_VERSION_FIXED (4u + 1u + 4u * 8u + 2u + 4u + 4u)
/* The smallest blob: header, seal, and a plaintext with a one-byte name and one version. */
#define BACKUP_MIN_LEN                                                                             \
	(BACKUP_HEADER_LEN + CRYPTO_AEAD_OVERHEAD + BACKUP_HEAD_FIXED + 1u + BACKUP_VERSION_FIXED)

static void backup_header(uint8_t hdr[BACKUP_HEADER_LEN])
{
	memcpy(hdr, BACKUP_MAGIC, 8);
	for (int i = 0; i < 4; i++)
		hdr[8 + i] = (uint8_t)(BACKUP_FORMAT >> (8 * i));
}

/* Writes into a secure buffer whose exact size was worked out before. */
struct bk_writer {
	uint8_t *p;
	size_t cap, n;
	bool overflow;
};

static void bw_raw(struct bk_writer *w, const void *p, size_t n)
{
	if (w->overflow || n > w->cap - w->n) {
		w->overflow = true;
		return;
	}
	if (n)
		memcpy(w->p + w->n, p, n);
	w->n += n;
}

static void bw_uint(struct bk_writer *w, uint64_t v, size_t bytes)
{
	uint8_t le[8];

	for (size_t i = 0; i < bytes; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	bw_raw(w, le, bytes);
}

/* Reads the plaintext of a blob: every length is checked against what is left. */
struct bk_reader {
	const uint8_t *p;
	size_t n, off;
};

static int br_raw(struct bk_reader *rd, size_t n, const uint8_t **ret)
{
	if (n > rd->n - rd->off)
		return -EBADMSG;
	*ret = rd->p + rd->off;
	rd->off += n;
	return 0;
}

static int br_uint(struct bk_reader *rd, size_t bytes, uint64_t *ret)
{
	const uint8_t *p;
	uint64_t v = 0;
	int r;

	r = br_raw(rd, bytes, &p);
	if (r < 0)
		return r;
	for (size_t i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	*ret = v;
	return 0;
}

static int br_i64(struct bk_reader *rd, int64_t *ret)
{
	uint64_t v;
	int r = br_uint(rd, 8, &v);

	if (r < 0)
		return r;
	*ret = (int64_t)v;
	return 0;
}

/* A string of at most max bytes (length prefix of `bytes` bytes), without NUL, copied
 * NUL-terminated into out[max + 1]. */
static int br_str(struct bk_reader *rd, size_t bytes, size_t max, char *out)
{
	const uint8_t *p;
	uint64_t n;
	int r;

	r = br_uint(rd, bytes, &n);
	if (r < 0)
		return r;
	if (n > max)
		return -EBADMSG;
	r = br_raw(rd, (size_t)n, &p);
	if (r < 0)
		return r;
	if (memchr(p, '\0', (size_t)n))
		return -EBADMSG;
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	return 0;
}

struct bk_head {
	char name[VAULTFS_NAME_MAX + 1];
	int64_t created;
	uint32_t n_versions;
};

struct bk_version {
	uint32_t version;
	bool enabled;
	int64_t not_before, expires, created, updated;
	char content_type[VAULTFS_CONTENT_TYPE_MAX + 1];
	char tags[VAULTFS_TAGS_LEN_MAX + 1];
	const uint8_t *value; /* into the plaintext */
	size_t value_len;
};

static int br_head(struct bk_reader *rd, struct bk_head *ret)
{
	uint64_t type, n;
	int r;

	if ((r = br_uint(rd, 4, &type)) < 0 ||
	    (r = br_str(rd, 2, VAULTFS_NAME_MAX, ret->name)) < 0 ||
	    (r = br_i64(rd, &ret->created)) < 0 || (r = br_uint(rd, 4, &n)) < 0)
		return r;
	if (type != OBJECT_SECRET || !kv_name_valid(ret->name) || n < 1 ||
	    n > VAULTFS_VERSIONS_MAX)
		return -EBADMSG;
	ret->n_versions = (uint32_t)n;
	return 0;
}

/* Is text exactly what tags_canonical makes of its own lines? */
static int tags_are_canonical(const char *text)
{
	_cleanup_free_ char *copy = NULL, *again = NULL;
	const char *tags[VAULTFS_TAGS_MAX];
	size_t n = 0;
	int r;

	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (char *p = copy, *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl || n == VAULTFS_TAGS_MAX)
			return -EBADMSG;
		*nl = '\0';
		tags[n++] = p;
	}
	r = tags_canonical(tags, n, &again);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	return streq(again, text) ? 0 : -EBADMSG;
}

/* Version `expect` from rd, every field checked as kv_secret_set and update would. */
static int br_version(struct bk_reader *rd, uint32_t expect, struct bk_version *ret)
{
	uint64_t version, enabled, len;
	int r;

	if ((r = br_uint(rd, 4, &version)) < 0 || (r = br_uint(rd, 1, &enabled)) < 0 ||
	    (r = br_i64(rd, &ret->not_before)) < 0 || (r = br_i64(rd, &ret->expires)) < 0 ||
	    (r = br_i64(rd, &ret->created)) < 0 || (r = br_i64(rd, &ret->updated)) < 0 ||
	    (r = br_str(rd, 2, VAULTFS_CONTENT_TYPE_MAX, ret->content_type)) < 0 ||
	    (r = br_str(rd, 4, VAULTFS_TAGS_LEN_MAX, ret->tags)) < 0 ||
	    (r = br_uint(rd, 4, &len)) < 0)
		return r;
	if (version != expect || enabled > 1 || ret->not_before < 0 || ret->expires < 0 ||
	    (ret->not_before && ret->expires && ret->expires < ret->not_before) ||
	    !text_ok(ret->content_type, VAULTFS_CONTENT_TYPE_MAX, true) || len > VAULTFS_VALUE_MAX)
		return -EBADMSG;
	r = tags_are_canonical(ret->tags);
	if (r < 0)
		return r;
	r = br_raw(rd, (size_t)len, &ret->value);
	if (r < 0)
		return r;
	ret->version = (uint32_t)version;
	ret->enabled = enabled == 1;
	ret->value_len = (size_t)len;
	return 0;
}

/* Parse a whole plaintext (head, every version, nothing after): 0 or -EBADMSG. */
static int backup_parse(const struct secbuf *pt, struct bk_head *ret_head)
{
	struct bk_reader rd = { pt->data, pt->len, 0 };
	struct bk_version bv;
	int r;

	r = br_head(&rd, ret_head);
	for (uint32_t i = 1; r >= 0 && i <= ret_head->n_versions; i++)
		r = br_version(&rd, i, &bv);
	secure_wipe(&bv, sizeof(bv));
	if (r < 0)
		return r;
	return rd.off == rd.n ? 0 : -EBADMSG;
}

struct backup_size_ctx {
	struct kv *kv;
	const struct store_object *object;
	uint32_t expect;
	size_t size;
};

/* First pass over the versions: check each row, add up the blob's size. */
static int backup_size_one(const struct store_version *row, void *userdata)
{
	struct backup_size_ctx *ctx = userdata;
	int r;

	r = version_verify(ctx->kv, row);
	if (r < 0)
		return r;
	if (row->object_id != ctx->object->id || row->version != ++ctx->expect ||
	    row->ciphertext_len < CRYPTO_AEAD_OVERHEAD)
		return -EBADMSG;
	ctx->size += BACKUP_VERSION_FIXED + strlen(row->content_type) +
		     strlen(row->tags ? row->tags : "") +
		     (row->ciphertext_len - CRYPTO_AEAD_OVERHEAD);
	return ctx->size > VAULTFS_BACKUP_MAX ? -EMSGSIZE : 0;
}

/* Second pass: version `version` of o, checked, its value decrypted straight into w. */
static int backup_write_version(struct kv *kv, const struct vkey *vk,
				const struct store_object *o, uint32_t version,
				struct bk_writer *w)
{
	struct store_version row = { 0 };
	const char *tags;
	size_t len;
	int r;

	r = store_version_get(kv->store, o->id, version, &row);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	r = version_verify(kv, &row);
	if (r >= 0 && (row.object_id != o->id || row.version != version ||
		       row.ciphertext_len < CRYPTO_AEAD_OVERHEAD))
		r = -EBADMSG;
	if (r < 0)
		goto out;
	tags = row.tags ? row.tags : "";
	len = row.ciphertext_len - CRYPTO_AEAD_OVERHEAD;
	bw_uint(w, row.version, 4);
	bw_uint(w, row.enabled, 1);
	bw_uint(w, (uint64_t)row.not_before, 8);
	bw_uint(w, (uint64_t)row.expires, 8);
	bw_uint(w, (uint64_t)row.created, 8);
	bw_uint(w, (uint64_t)row.updated, 8);
	bw_uint(w, strlen(row.content_type), 2);
	bw_raw(w, row.content_type, strlen(row.content_type));
	bw_uint(w, strlen(tags), 4);
	bw_raw(w, tags, strlen(tags));
	bw_uint(w, len, 4);
	if (w->overflow || len > w->cap - w->n) {
		r = -EBADMSG; /* not the size the first pass saw */
		goto out;
	}
	r = open_value(kv, vk, o, &row, w->p + w->n);
	if (r >= 0)
		w->n += len;
out:
	store_version_done(&row);
	return r;
}

int kv_secret_backup(struct kv *kv, const char *vault, const char *name,
		     struct secbuf **ret_blob)
{
	_cleanup_secbuf_ struct secbuf *pt = NULL, *key = NULL, *blob = NULL;
	struct vkey vk;
	struct store_vault v;
	struct store_object o;
	struct backup_size_ctx ctx = { kv, &o, 0, 0 };
	struct bk_writer w = { 0 };
	int r;

	if (!kv_name_valid(vault) || !kv_name_valid(name) || !ret_blob)
		return -EINVAL;
	r = store_begin_read(kv->store);
	if (r < 0)
		return r;
	r = load_vault(kv, vault, &v);
	if (r >= 0)
		r = load_object(kv, &v, name, false, &o);
	if (r >= 0 && o.type != OBJECT_SECRET)
		r = -ENOENT;
	if (r < 0)
		return end_read(kv, r);

	ctx.size = BACKUP_HEADER_LEN + CRYPTO_AEAD_OVERHEAD + BACKUP_HEAD_FIXED + strlen(o.name);
	r = store_version_foreach(kv->store, o.id, backup_size_one, &ctx);
	if (r >= 0 && (ctx.expect != o.current_version || ctx.expect == 0))
		r = -EBADMSG;
	if (r >= 0)
		r = secbuf_new(ctx.size - BACKUP_HEADER_LEN - CRYPTO_AEAD_OVERHEAD, &pt);
	if (r >= 0)
		r = vault_key(kv, &v, &vk);
	if (r < 0)
		return end_read(kv, r);

	w = (struct bk_writer){ pt->data, pt->cap, 0, false };
	bw_uint(&w, (uint64_t)o.type, 4);
	bw_uint(&w, strlen(o.name), 2);
	bw_raw(&w, o.name, strlen(o.name));
	bw_uint(&w, (uint64_t)o.created, 8);
	bw_uint(&w, o.current_version, 4);
	for (uint32_t i = 1; r >= 0 && i <= o.current_version; i++)
		r = backup_write_version(kv, &vk, &o, i, &w);
	if (r >= 0 && (w.overflow || w.n != w.cap))
		r = -EBADMSG;
	r = end_read(kv, r);
	if (r < 0)
		return r;
	pt->len = w.n;

	r = derive(kv, "vaultfs backup v1", &key);
	if (r < 0)
		return r;
	r = secbuf_new(ctx.size, &blob);
	if (r < 0)
		return r;
	backup_header(blob->data);
	r = crypto_aead_seal(key->data, blob->data, BACKUP_HEADER_LEN, pt->data, pt->len,
			     blob->data + BACKUP_HEADER_LEN);
	if (r < 0)
		return r;
	blob->len = ctx.size;
	*ret_blob = TAKE_PTR(blob);
	return 0;
}

/* Inside the caller's write transaction: the secret of a parsed plaintext as object o in v. */
static int restore_versions(struct kv *kv, const struct store_vault *v,
			    const struct secbuf *pt, struct store_object *o)
{
	struct bk_reader rd = { pt->data, pt->len, 0 };
	struct vkey vk;
	struct bk_head head;
	struct bk_version bv;
	int r;

	r = vault_key(kv, v, &vk);
	if (r >= 0)
		r = br_head(&rd, &head);
	for (uint32_t i = 1; r >= 0 && i <= head.n_versions; i++) {
		struct store_version row = { 0 };

		r = br_version(&rd, i, &bv);
		if (r < 0)
			break;
		row.object_id = o->id;
		row.version = bv.version;
		row.enabled = bv.enabled;
		row.not_before = bv.not_before;
		row.expires = bv.expires;
		row.created = bv.created;
		row.updated = bv.updated;
		memcpy(row.content_type, bv.content_type, sizeof(row.content_type));
		row.tags = strdup(bv.tags);
		r = row.tags ? 0 : -ENOMEM;
		if (r >= 0)
			r = seal_value(kv, &vk, o, row.version, bv.value, bv.value_len, &row);
		if (r >= 0)
			r = version_mac(kv, &row, row.mac);
		if (r >= 0)
			r = store_version_insert(kv->store, &row);
		store_version_done(&row);
		o->current_version = bv.version;
	}
	secure_wipe(&bv, sizeof(bv));
	if (r < 0)
		return r;
	r = object_mac(kv, o, o->mac);
	if (r < 0)
		return r;
	return store_object_update(kv->store, o);
}

/* Open and check a whole blob: its plaintext and head. */
static int backup_open(struct kv *kv, const void *blob, size_t len, struct secbuf **ret_pt,
		       struct bk_head *ret_head)
{
	_cleanup_secbuf_ struct secbuf *key = NULL, *pt = NULL;
	uint8_t hdr[BACKUP_HEADER_LEN];
	int r;

	if (!blob && len > 0)
		return -EINVAL;
	if (len > VAULTFS_BACKUP_MAX)
		return -EMSGSIZE;
	backup_header(hdr);
	if (len < BACKUP_MIN_LEN || memcmp(blob, hdr, sizeof(hdr)) != 0)
		return -EBADMSG;
	r = derive(kv, "vaultfs backup v1", &key);
	if (r < 0)
		return r;
	r = secbuf_new(len - BACKUP_HEADER_LEN - CRYPTO_AEAD_OVERHEAD, &pt);
	if (r < 0)
		return r;
	r = crypto_aead_open(key->data, blob, BACKUP_HEADER_LEN,
			     (const uint8_t *)blob + BACKUP_HEADER_LEN, len - BACKUP_HEADER_LEN,
			     pt->data);
	if (r < 0)
		return r == -EINVAL ? -EBADMSG : r;
	pt->len = len - BACKUP_HEADER_LEN - CRYPTO_AEAD_OVERHEAD;
	/* all of it checked before anything is written */
	r = backup_parse(pt, ret_head);
	if (r < 0)
		return r;
	*ret_pt = TAKE_PTR(pt);
	return 0;
}

int kv_backup_name(struct kv *kv, const void *blob, size_t len,
		   char ret_name[VAULTFS_NAME_MAX + 1])
{
	_cleanup_secbuf_ struct secbuf *pt = NULL;
	struct bk_head head;
	int r;

	r = backup_open(kv, blob, len, &pt, &head);
	if (r < 0)
		return r;
	memcpy(ret_name, head.name, VAULTFS_NAME_MAX + 1);
	return 0;
}

int kv_secret_restore(struct kv *kv, const char *vault, const void *blob, size_t len,
		      char ret_name[VAULTFS_NAME_MAX + 1])
{
	_cleanup_secbuf_ struct secbuf *pt = NULL;
	struct store_vault v;
	struct store_object o = { 0 };
	struct bk_head head;
	int r;

	if (!kv_name_valid(vault) || !ret_name)
		return -EINVAL;
	r = backup_open(kv, blob, len, &pt, &head);
	if (r < 0)
		return r;

	r = write_begin(kv);
	if (r < 0)
		return r;
	r = load_vault(kv, vault, &v);
	if (r >= 0) {
		r = store_object_get(kv->store, v.id, head.name, &o);
		if (r >= 0)
			r = -EEXIST; /* live or soft-deleted */
		else if (r == -ENOENT)
			r = 0;
	}
	if (r >= 0) {
		memset(&o, 0, sizeof(o));
		o.vault_id = v.id;
		memcpy(o.name, head.name, sizeof(o.name));
		o.type = OBJECT_SECRET;
		o.created = head.created;
		r = store_object_insert(kv->store, &o);
	}
	if (r >= 0)
		r = restore_versions(kv, &v, pt, &o);
	r = end_write(kv, r);
	if (r < 0)
		return r;
	memcpy(ret_name, head.name, sizeof(head.name));
	return 0;
}

/* --- expiry notices ---
 * The notices table carries no MAC, and needs none: all it can do is keep a reminder from
 * being given (a forged or copied mark suppresses one, a deleted mark repeats one). It never
 * decides access and never makes us believe a row we did not check: every version, object and
 * vault row the scan reports is MAC-verified like any other read. */

/* Notices read in one read transaction, then given (outside it) and recorded. */
#define EXPIRY_BATCH 64u

struct expiry_item {
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1];
	int64_t object_id;
	uint32_t version;
	int64_t expires;
	int event;
};

struct expiry_ctx {
	struct kv *kv;
	int64_t now;
	struct store_expiry_scan q; /* its cursor moves past every row read */
	struct expiry_item *items;
	size_t n, rows;
	struct store_object o; /* the last object and vault looked up, checked */
	struct store_vault v;
	bool have_o, have_v;
};

static int expiry_one(const struct store_version *row, void *userdata)
{
	struct expiry_ctx *ctx = userdata;
	struct expiry_item *it;
	uint32_t max;
	int r;

	ctx->rows++;
	r = version_verify(ctx->kv, row);
	if (r < 0)
		return r;
	if (row->expires <= 0 || row->expires > ctx->q.until || ctx->n >= EXPIRY_BATCH)
		return -EBADMSG;
	ctx->q.after_expires = row->expires;
	ctx->q.after_object = row->object_id;
	ctx->q.after_version = row->version;

	if (!ctx->have_o || ctx->o.id != row->object_id) {
		ctx->have_o = false;
		r = store_object_get_by_id(ctx->kv->store, row->object_id, &ctx->o);
		if (r < 0)
			return r == -ENOENT ? -EBADMSG : r;
		r = object_verify(ctx->kv, &ctx->o);
		if (r < 0)
			return r;
		if (ctx->o.id != row->object_id)
			return -EBADMSG;
		r = store_version_max(ctx->kv->store, ctx->o.id, &max);
		if (r < 0)
			return r;
		if (max != ctx->o.current_version)
			return -EBADMSG;
		ctx->have_o = true;
	}
	if (row->version > ctx->o.current_version)
		return -EBADMSG;
	if (ctx->o.deleted_at != 0)
		return 0; /* the store filtered on the unchecked column: the checked one decides */
	if (!ctx->have_v || ctx->v.id != ctx->o.vault_id) {
		ctx->have_v = false;
		r = store_vault_get_by_id(ctx->kv->store, ctx->o.vault_id, &ctx->v);
		if (r < 0)
			return r == -ENOENT ? -EBADMSG : r;
		r = vault_verify(ctx->kv, &ctx->v);
		if (r < 0)
			return r;
		if (ctx->v.id != ctx->o.vault_id)
			return -EBADMSG;
		ctx->have_v = true;
	}

	it = &ctx->items[ctx->n++];
	memcpy(it->vault, ctx->v.name, sizeof(it->vault));
	memcpy(it->name, ctx->o.name, sizeof(it->name));
	it->object_id = row->object_id;
	it->version = row->version;
	it->expires = row->expires;
	it->event = ctx->now >= row->expires ? KV_EXPIRED : KV_NEAR_EXPIRY;
	return 0;
}

/* Record the notices given, in one transaction. A version the callback purged meanwhile has
 * nothing left to remember. */
static int expiry_mark(struct kv *kv, const struct expiry_item *items, size_t n)
{
	int r;

	if (n == 0)
		return 0;
	r = write_begin(kv);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = store_notice_mark(kv->store, items[i].object_id, items[i].version,
				      items[i].event == KV_EXPIRED ? STORE_NOTICE_EXPIRED :
								     STORE_NOTICE_NEAR,
				      items[i].expires);
		if (r == -ENOENT)
			r = 0;
	}
	return end_write(kv, r);
}

int kv_expiry_scan(struct kv *kv, int64_t horizon,
		   int (*cb)(const char *vault, const char *name, uint32_t version,
			     int64_t expires, int event, void *ud),
		   void *ud)
{
	_cleanup_free_ struct expiry_item *items = NULL;
	struct expiry_ctx ctx = { .kv = kv };
	int r, k;

	if (horizon < 0 || !cb)
		return -EINVAL;
	items = calloc(EXPIRY_BATCH, sizeof(*items));
	if (!items)
		return -ENOMEM;
	ctx.items = items;
	ctx.now = now(kv);
	ctx.q.now = ctx.now;
	if (__builtin_add_overflow(ctx.now, horizon, &ctx.q.until))
		ctx.q.until = INT64_MAX;
	ctx.q.limit = EXPIRY_BATCH;

	for (;;) {
		size_t given = 0;

		ctx.n = ctx.rows = 0;
		ctx.have_o = ctx.have_v = false;
		r = store_begin_read(kv->store);
		if (r < 0)
			return r;
		r = end_read(kv, store_expiry_foreach(kv->store, &ctx.q, expiry_one, &ctx));
		if (r < 0)
			return r;
		for (; given < ctx.n; given++) {
			const struct expiry_item *it = &items[given];

			r = cb(it->vault, it->name, it->version, it->expires, it->event, ud);
			if (r < 0)
				break;
		}
		k = expiry_mark(kv, items, given);
		if (r < 0)
			return r;
		if (k < 0)
			return k;
		if (ctx.rows < EXPIRY_BATCH)
			return 0;
	}
}
