/* fleet-sync.c: a host's sync with the fleet's center (fleet-sync.h): its fleet state from the
 * store's meta, the vault keys it holds (opened from its grants once, then kept sealed in the
 * store), the pull of each fleet vault (rows checked by fleet_chain_check before a body is
 * opened, each applied with its applied state in one local transaction), and the commit of a
 * change made here (to the center first, then here). It must never apply a row that did not
 * verify, never hold kv without the caller's lock, and never log or return a key. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>

#include "fleet-pg.h"
#include "fleet-sync.h"
#include "kv-fleet.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define PULL_BATCH 256u
#define KEYS_KEPT 8u

struct kept_key {
	char vault[VAULTFS_NAME_MAX + 1];
	uint32_t epoch;
	struct secbuf *key; /* NULL: empty */
};

struct fleet_sync {
	struct kv *kv;
	struct fleet_sync_ops ops;
	struct store *s; /* a handle of its own on the store, for the meta keys */
	char *conninfo;
	int64_t answer_ms;   /* [fleet] answer_timeout */
	struct fleet_pg *pg; /* NULL: not connected */
	char name[FLEET_HOST_NAME_MAX + 1];
	char anchor[FLEET_FPR_LEN];
	struct fleet_key *key;
	struct secbuf *vkeys_seal; /* HKDF of the master key: the kept vault keys' seal */
	struct fleet_host *hosts;
	size_t n;
	struct kept_key kept[KEYS_KEPT];
	unsigned next_kept;
	const char *vault;	   /* of the pull in progress (the key callback's) */
	pthread_mutex_t commit_mu; /* the commit's use of all of the above (fleet_sync_commit) */
};

static void lock(struct fleet_sync *fs)
{
	if (fs->ops.lock)
		pthread_mutex_lock(fs->ops.lock);
}

static void unlock(struct fleet_sync *fs)
{
	if (fs->ops.lock)
		pthread_mutex_unlock(fs->ops.lock);
}

int fleet_sync_new(const struct config *c, struct kv *kv, const struct fleet_sync_ops *ops,
		   struct fleet_sync **ret)
{
	_cleanup_secbuf_ struct secbuf *seal = NULL;
	_cleanup_free_ uint8_t *saved = NULL;
	struct fleet_sync *fs;
	size_t n;
	int r;

	if (!c->fleet_conninfo)
		return -EINVAL;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->kv = kv;
	pthread_mutex_init(&fs->commit_mu, NULL);
	if (ops)
		fs->ops = *ops;
	fs->conninfo = strdup(c->fleet_conninfo);
	fs->answer_ms = c->fleet_answer * 1000;
	r = fs->conninfo ? store_open(c->store_path, 0, &fs->s) : -ENOMEM;
	if (r >= 0)
		r = store_meta_text(fs->s, FLEET_META_NAME, fs->name, sizeof(fs->name));
	if (r >= 0)
		r = store_meta_text(fs->s, FLEET_META_ANCHOR, fs->anchor, sizeof(fs->anchor));
	if (r >= 0)
		r = store_meta_get(fs->s, FLEET_META_KEY, &saved, &n);
	if (r >= 0)
		r = kv_derive_key(kv, FLEET_HOST_KEY_LABEL, &seal);
	if (r >= 0)
		r = fleet_key_load(saved, n, seal->data, strstr(c->sealer, "tpm2") ? c->tcti : NULL,
				   &fs->key);
	if (r >= 0)
		r = kv_derive_key(kv, FLEET_VAULT_KEYS_LABEL, &fs->vkeys_seal);
	if (r < 0) {
		fleet_sync_free(fs);
		return r;
	}
	*ret = fs;
	return 0;
}

void fleet_sync_free(struct fleet_sync *fs)
{
	if (!fs)
		return;
	fleet_sync_disconnect(fs);
	for (unsigned i = 0; i < KEYS_KEPT; i++)
		secbuf_free(fs->kept[i].key);
	secbuf_free(fs->vkeys_seal);
	fleet_key_free(fs->key);
	store_free(fs->s);
	free(fs->conninfo);
	pthread_mutex_destroy(&fs->commit_mu);
	free(fs);
}

const char *fleet_sync_name(const struct fleet_sync *fs)
{
	return fs->name;
}

void fleet_sync_disconnect(struct fleet_sync *fs)
{
	fleet_pg_free(fs->pg);
	fs->pg = NULL;
	free(fs->hosts);
	fs->hosts = NULL;
	fs->n = 0;
}

/* A failure of the center: the connection is not trusted to be usable again. */
static int center_err(struct fleet_sync *fs, int r)
{
	if (r == -EHOSTDOWN || r == -ETIMEDOUT || (fs->pg && fleet_pg_ok(fs->pg) < 0)) {
		fleet_sync_disconnect(fs);
		/* -ETIMEDOUT kept: what was sent may still be taken */
		return r == -ETIMEDOUT ? r : -EHOSTDOWN;
	}
	return r;
}

int fleet_sync_connect(struct fleet_sync *fs, bool listen)
{
	int r;

	if (fs->pg && fleet_pg_ok(fs->pg) >= 0)
		return 0;
	fleet_sync_disconnect(fs);
	r = fleet_pg_connect(fs->conninfo, &fs->pg);
	if (r < 0) {
		fs->pg = NULL;
		return r;
	}
	fleet_pg_set_answer_ms(fs->pg, fs->answer_ms);
	r = fleet_pg_migrate(fs->pg);
	if (r >= 0 && listen)
		r = fleet_pg_listen(fs->pg);
	if (r >= 0)
		r = fleet_pg_hosts(fs->pg, &fs->hosts, &fs->n);
	if (r >= 0) /* the removals this host learned count whatever the center says now */
		r = fleet_removed_mark(fs->s, fs->hosts, fs->n);
	if (r >= 0)
		(void)fleet_pg_host_seen(fs->pg, fs->name);
	return r < 0 ? center_err(fs, r) : 0;
}

int fleet_sync_wait(struct fleet_sync *fs, int timeout_ms)
{
	int r;

	if (!fs->pg)
		return -EHOSTDOWN;
	r = fleet_pg_wait(fs->pg, timeout_ms);
	return r < 0 ? center_err(fs, r) : r;
}

/* --- vault keys --- */

static int vkey_meta_name(const char *vault, uint32_t epoch, char *buf, size_t size)
{
	return snprintf(buf, size, "fleet.vkey.%s.%" PRIu32, vault, epoch) < (int)size ?
		       0 :
		       -ENAMETOOLONG;
}

/* The key of vault at epoch: kept here, kept in the store, or opened from this host's grant
 * (and kept in the store). -ENOENT no grant for this host. */
static int vkey_get(struct fleet_sync *fs, const char *vault, uint32_t epoch,
		    const struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *vkey = NULL;
	_cleanup_free_ uint8_t *sealed = NULL;
	uint8_t out[CRYPTO_KEY_LEN + CRYPTO_AEAD_OVERHEAD];
	char name[VAULTFS_NAME_MAX + 32];
	struct fleet_grant g;
	struct kept_key *k;
	size_t n;
	int r;

	for (unsigned i = 0; i < KEYS_KEPT; i++)
		if (fs->kept[i].key && fs->kept[i].epoch == epoch &&
		    streq(fs->kept[i].vault, vault)) {
			*ret = fs->kept[i].key;
			return 0;
		}
	r = vkey_meta_name(vault, epoch, name, sizeof(name));
	if (r < 0)
		return r;
	r = store_meta_get(fs->s, name, &sealed, &n);
	if (r >= 0) {
		if (n != CRYPTO_KEY_LEN + CRYPTO_AEAD_OVERHEAD)
			return -EBADMSG;
		r = secbuf_new(CRYPTO_KEY_LEN, &vkey);
		if (r >= 0)
			r = crypto_aead_open(fs->vkeys_seal->data, name, strlen(name), sealed, n,
					     vkey->data);
		if (r < 0)
			return r;
		vkey->len = CRYPTO_KEY_LEN;
	} else if (r == -ENOENT) {
		if (!fs->pg)
			return -EHOSTDOWN;
		r = fleet_pg_grant_get(fs->pg, vault, epoch, fs->name, &g);
		if (r >= 0)
			r = fleet_grant_open(fs->key, fs->name, &g, fs->hosts, fs->n, fs->anchor,
					     &vkey);
		if (r >= 0)
			r = crypto_aead_seal(fs->vkeys_seal->data, name, strlen(name), vkey->data,
					     vkey->len, out);
		if (r >= 0)
			r = store_meta_set(fs->s, name, out, sizeof(out));
		if (r < 0)
			return center_err(fs, r);
	} else
		return r;
	k = &fs->kept[fs->next_kept++ % KEYS_KEPT];
	secbuf_free(k->key);
	str_copy(k->vault, sizeof(k->vault), vault);
	k->epoch = epoch;
	k->key = TAKE_PTR(vkey);
	*ret = k->key;
	return 0;
}

static int chain_key(void *ud, uint32_t epoch, const struct secbuf **ret)
{
	struct fleet_sync *fs = ud;
	int r = vkey_get(fs, fs->vault, epoch, ret);

	return r == -ENOENT ? -ENOKEY : r;
}

/* --- pull --- */

static void said(struct fleet_sync *fs, const char *vault, const struct fleet_change *c,
		 const struct fleet_body *b, int err)
{
	if (fs->ops.applied)
		fs->ops.applied(fs->ops.ud, vault, c, b, err);
}

/* Whether the applied state is still a (what a pull or a body was built on). */
static bool same_applied(const struct fleet_applied *a, const struct fleet_applied *b)
{
	return a->seq == b->seq && a->epoch == b->epoch &&
	       crypto_memeq(a->mac, b->mac, CRYPTO_MAC_LEN);
}

/* Pull vault from the applied state: the network without the lock, each apply under it. */
static int pull(struct fleet_sync *fs, const char *vault)
{
	struct fleet_applied a, now;
	int applied = 0, r;

	if (!fs->pg)
		return -EHOSTDOWN;
	lock(fs);
	r = kv_fleet_applied(fs->kv, vault, &a);
	unlock(fs);
	if (r < 0)
		return r;
	fs->vault = vault;
	for (;;) {
		struct fleet_change *rows = NULL;
		struct fleet_applied checked = a;
		size_t n = 0, good = 0, first = a.seq > 0 ? 1 : 0;
		int rc;

		r = fleet_pg_changes_since(fs->pg, vault, a.seq > 0 ? a.seq : 1, PULL_BATCH, &rows,
					   &n);
		if (r < 0)
			return center_err(fs, r);
		rc = fleet_chain_check(&checked, rows, n, chain_key, fs, &good);
		lock(fs);
		/* applied meanwhile by the other path (the sync thread, or a commit's pull): not a
		 * refusal; fetched again from where the store is now */
		r = kv_fleet_applied(fs->kv, vault, &now);
		if (r >= 0 && !same_applied(&now, &a)) {
			unlock(fs);
			fleet_pg_changes_free(rows, n);
			a = now;
			continue;
		}
		for (size_t i = first; i < first + good; i++) {
			const struct fleet_change *c = &rows[i];
			_cleanup_secbuf_ struct secbuf *material = NULL;
			struct fleet_applied to = { .seq = c->seq, .epoch = c->epoch };
			const struct secbuf *k;
			struct fleet_body b;

			memcpy(to.mac, c->mac, CRYPTO_MAC_LEN);
			r = chain_key(fs, c->epoch, &k);
			if (r >= 0)
				r = fleet_body_open(k, vault, c->epoch, c->body, c->body_len, &b,
						    &material);
			/* a row of this host's own that it did not apply (it stopped after the
			 * center took it) is applied as any other */
			if (r >= 0)
				r = kv_fleet_apply(fs->kv, vault, &a, &to, &b, material);
			/* r 1: a purge held back (kv-fleet.h), said as such */
			said(fs, vault, c, r >= 0 ? &b : NULL, r);
			if (r < 0)
				break;
			a = to;
			applied++;
		}
		if (r >= 0 && rc < 0) {
			r = rc;
			said(fs, vault, rc == -ESTALE ? NULL : &rows[first + good], NULL, rc);
		}
		unlock(fs);
		fleet_pg_changes_free(rows, n);
		if (r < 0)
			return r;
		if (n <= first) /* nothing past what was applied (a batch may be cut short by
				  * FLEET_PG_PULL_BYTES_MAX: asked again until nothing is new) */
			break;
	}
	(void)fleet_pg_applied_set(fs->pg, fs->name, vault, a.seq);
	return applied;
}

int fleet_sync_pull(struct fleet_sync *fs, const char *vault)
{
	return pull(fs, vault);
}

/* A fleet vault this host holds a key of: made here when missing, and marked. */
static int vault_take(struct fleet_sync *fs, const struct fleet_pg_vault *pv)
{
	const struct secbuf *k;
	struct kv_vault_info vi;
	int r;

	fs->vault = pv->name;
	r = vkey_get(fs, pv->name, pv->epoch, &k);
	if (r == -ENOENT) {
		/* not granted to this host: it never gets the vault; or no longer (removed, and
		 * the vault rekeyed): pulled still, to the rows of the keys it had (the removal
		 * among them), the first of the new key refused and said */
		lock(fs);
		r = kv_fleet_is(fs->kv, pv->name);
		unlock(fs);
		return r == 1 ? 1 : 0;
	}
	if (r < 0)
		return r;
	lock(fs);
	r = kv_vault_get(fs->kv, pv->name, &vi);
	if (r == -ENOENT) {
		r = kv_vault_create(fs->kv, pv->name, 90);
		if (r >= 0)
			r = kv_fleet_mark(fs->kv, pv->name);
	} else if (r >= 0 && (r = kv_fleet_is(fs->kv, pv->name)) == 0) {
		/* a local vault of that name: never taken into the fleet behind its owner's back
		 * (a host granted a key for the name would then write to it and purge in it);
		 * refused and said until it is renamed or deleted here */
		r = -EEXIST;
		said(fs, pv->name, NULL, NULL, r);
	}
	unlock(fs);
	return r < 0 ? r : 1;
}

int fleet_sync_pull_all(struct fleet_sync *fs)
{
	_cleanup_free_ struct fleet_pg_vault *v = NULL;
	int total = 0, first_err = 0, r;
	size_t nv;

	if (!fs->pg)
		return -EHOSTDOWN;
	free(fs->hosts);
	fs->hosts = NULL;
	fs->n = 0;
	r = fleet_pg_hosts(fs->pg, &fs->hosts, &fs->n);
	if (r >= 0)
		r = fleet_removed_mark(fs->s, fs->hosts, fs->n);
	if (r >= 0)
		r = fleet_pg_vaults(fs->pg, &v, &nv);
	if (r < 0)
		return center_err(fs, r);
	(void)fleet_pg_host_seen(fs->pg, fs->name);
	for (size_t i = 0; i < nv; i++) {
		r = vault_take(fs, &v[i]);
		if (r > 0)
			r = pull(fs, v[i].name);
		if (r == -EHOSTDOWN)
			return r;
		if (r < 0 && !first_err)
			first_err = r;
		else if (r > 0)
			total += r;
	}
	return first_err ? first_err : total;
}

/* --- a change made here --- */

/* b (material: SET's) sealed and MAC'd as the row after a at epoch, and inserted: *to, the
 * row's applied state. -EEXIST the seq was taken (or the epoch is old). */
static int row_insert(struct fleet_sync *fs, const char *vault, const struct fleet_applied *a,
		      uint32_t epoch, const struct fleet_body *b, const struct secbuf *material,
		      struct fleet_applied *to)
{
	struct fleet_change c = { 0 };
	const struct secbuf *k;
	int r;

	fs->vault = vault;
	r = chain_key(fs, epoch, &k);
	if (r < 0)
		return r;
	str_copy(c.vault, sizeof(c.vault), vault);
	str_copy(c.host, sizeof(c.host), fs->name);
	c.seq = a->seq + 1;
	c.epoch = epoch;
	r = fleet_body_seal(k, vault, epoch, b, material, &c.body, &c.body_len);
	if (r >= 0)
		r = fleet_change_mac(k, &c, a->mac, c.mac);
	if (r >= 0)
		r = fleet_pg_change_insert(fs->pg, &c);
	if (r >= 0) {
		*to = (struct fleet_applied){ .seq = c.seq, .epoch = epoch };
		memcpy(to->mac, c.mac, CRYPTO_MAC_LEN);
	}
	fleet_change_done(&c);
	return r < 0 && r != -EEXIST ? center_err(fs, r) : r;
}

/* The change to the center, without the lock: the row after base (pulled first: anything new
 * means the body is built again), sealed and inserted. *to: the row inserted. */
static int commit_send(struct fleet_sync *fs, const char *vault, const struct fleet_applied *base,
		       const struct fleet_body *b, const struct secbuf *material,
		       struct fleet_applied *to)
{
	struct fleet_applied a;
	uint32_t epoch;
	int r;

	r = fleet_sync_connect(fs, false);
	if (r < 0)
		return r;
	/* what other hosts did first: applied, then the caller builds its body again */
	r = pull(fs, vault);
	if (r != 0)
		return r > 0 ? -EAGAIN : r;
	lock(fs);
	r = kv_fleet_applied(fs->kv, vault, &a);
	unlock(fs);
	if (r < 0)
		return r;
	if (!same_applied(&a, base))
		return -EAGAIN; /* applied meanwhile (the sync thread): the body is stale */
	r = fleet_pg_vault_epoch(fs->pg, vault, &epoch);
	if (r < 0)
		return center_err(fs, r == -ENOENT ? -ENOKEY : r);
	if (epoch < a.epoch)
		return -EKEYREVOKED;
	r = row_insert(fs, vault, &a, epoch, b, material, to);
	return r == -EEXIST ? -EAGAIN : r; /* another host took that seq: pull, build again */
}

/* Called with the lock held (ops.lock, when there is one), and returns with it held; lets it
 * go while it speaks to the center, so that reads on this host never wait for the network.
 * The body was built on the applied state seen now; the commit connection is taken
 * (commit_mu: one change at a time, taken after letting the lock go, never the other way)
 * and the row sent; then, under the lock again, the change is applied in one local
 * transaction if nothing moved meanwhile. If something did (the sync thread applied rows,
 * maybe this one), the sync path decides: a pull, and the change counts as made when the
 * applied seq reached the row sent. */
int fleet_sync_commit(void *ud, const char *vault, const struct fleet_body *b,
		      const struct secbuf *material)
{
	struct fleet_sync *fs = ud;
	struct fleet_applied base, to, now;
	int r;

	r = kv_fleet_applied(fs->kv, vault, &base);
	if (r < 0)
		return r;
	unlock(fs);
	pthread_mutex_lock(&fs->commit_mu);
	r = commit_send(fs, vault, &base, b, material, &to);
	if (r < 0) {
		pthread_mutex_unlock(&fs->commit_mu);
		lock(fs);
		return r;
	}
	/* in the center now: applied here, or by a pull if the local state moved */
	lock(fs);
	r = kv_fleet_apply(fs->kv, vault, &base, &to, b, material);
	if (r == -ESTALE) {
		unlock(fs);
		r = pull(fs, vault);
		lock(fs);
		if (r >= 0)
			r = kv_fleet_applied(fs->kv, vault, &now);
		if (r >= 0)
			r = now.seq >= to.seq ? 0 : -ESTALE;
	}
	if (r >= 0 && !fs->ops.lock &&
	    fs->pg) /* no sync thread says it for this process: say it here */
		(void)fleet_pg_applied_set(fs->pg, fs->name, vault, to.seq);
	pthread_mutex_unlock(&fs->commit_mu);
	return r;
}

int fleet_sync_announce(struct fleet_sync *fs, const char *vault, const struct fleet_body *b)
{
	int r;

	if (b->op != FLEET_OP_REVOKE && b->op != FLEET_OP_REKEY)
		return -EINVAL;
	for (unsigned tries = 0;; tries++) {
		r = fleet_sync_commit(fs, vault, b, NULL);
		if (r != -EAGAIN || tries == 15)
			return r;
	}
}

struct push {
	struct fleet_sync *fs;
	const char *vault;
	uint32_t epoch;
	struct fleet_applied a;
	unsigned rows;
};

static int push_row(void *ud, const struct fleet_body *b, const struct secbuf *material)
{
	struct push *p = ud;
	struct fleet_applied to;
	int r;

	r = row_insert(p->fs, p->vault, &p->a, p->epoch, b, material, &to);
	if (r >= 0)
		r = kv_fleet_skip(p->fs->kv, p->vault, &p->a, &to);
	if (r >= 0) {
		p->a = to;
		p->rows++;
	}
	return r;
}

int fleet_sync_push(struct fleet_sync *fs, const char *vault)
{
	struct push p = { .fs = fs, .vault = vault };
	int64_t max = 0;
	int r;

	r = fleet_sync_connect(fs, false);
	if (r >= 0)
		r = kv_fleet_applied(fs->kv, vault, &p.a);
	if (r >= 0 && p.a.seq != 0)
		r = -EEXIST;
	if (r >= 0)
		r = fleet_pg_change_max(fs->pg, vault, &max);
	if (r >= 0 && max != 0)
		r = -EEXIST;
	if (r >= 0)
		r = fleet_pg_vault_epoch(fs->pg, vault, &p.epoch);
	if (r >= 0)
		r = kv_fleet_contents(fs->kv, vault, push_row, &p);
	if (r < 0)
		return center_err(fs, r);
	if (p.rows)
		(void)fleet_pg_applied_set(fs->pg, fs->name, vault, p.a.seq);
	return (int)MIN(p.rows, (unsigned)INT_MAX);
}
