/* cmd-fleet.c: `vaultctl fleet join|approve|remove|rekey|status`: a host enters the fleet (its
 * host key made in its TPM, or sealed in its store without one, its public half registered in the
 * center), an admin on a host that counts approves it and grants it vault keys, or removes it;
 * status shows the hosts and the fleet vaults as this host sees them (each row checked, each
 * vault key opened). Run as root on the store and the center directly (core/fleet.h, the design;
 * core/fleet-pg.h, the center); every change is recorded in the journal as vaultctl's own,
 * before it is made. What this host keeps of the fleet is in its store's meta: its name, its
 * key, the anchor it pinned, the vault keys it opened (sealed under keys from its master key).
 * `fleet rekey VAULT` moves a vault to a new key (`vault rekey` is its other name, once vaultctl.c
 * routes it here). Never prints a key: fingerprints only. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "core/audit.h"
#include "core/fleet-audit.h"
#include "core/fleet-pg.h"
#include "core/fleet-sync.h"
#include "core/fleet.h"
#include "core/kv-fleet.h"
#include "core/log.h"
#include "core/store.h"
#include "tools/vaultctl.h"

#define META_NAME FLEET_META_NAME
#define META_KEY FLEET_META_KEY
#define META_ANCHOR FLEET_META_ANCHOR
#define HOST_KEY_LABEL FLEET_HOST_KEY_LABEL
#define VAULT_KEYS_LABEL FLEET_VAULT_KEYS_LABEL
#define FLEET_VAULTS_MAX 64

struct fleet_ctx {
	struct ctl *ctl;
	struct kv *kv;
	struct store *s; /* a second handle on the store, for the fleet's meta keys */
	struct audit *au;
	struct fleet_pg *pg;
	char name[FLEET_HOST_NAME_MAX + 1]; /* "" not joined */
	char anchor[FLEET_FPR_LEN];
	struct fleet_key *key;
	struct fleet_host *hosts;
	size_t n;
};

static void fleet_ctx_done(struct fleet_ctx *f)
{
	fleet_key_free(f->key);
	free(f->hosts);
	fleet_pg_free(f->pg);
	audit_free(f->au);
	store_free(f->s);
	kv_free(f->kv);
}

/* The center's refusal, said once: 0 never. */
static int center_fail(int r, const char *what)
{
	char words[LOG_FOREIGN_SUFFIX_MAX];

	log_foreign_take(words);
	if (r == -EHOSTDOWN)
		fprintf(stderr,
			"vaultctl: fleet: %s: the fleet's center (PostgreSQL) is away; local vaults "
			"keep working, fleet changes wait for it%s\n",
			what, words);
	else
		fprintf(stderr, "vaultctl: fleet: %s: %s%s\n", what, strerror(-r), words);
	return r == -EBADMSG || r == -EPROTONOSUPPORT ? EXIT_INTEGRITY : EXIT_REFUSED;
}

static const char *trust_why(int r)
{
	switch (-r) {
	case EACCES:
		return "not approved yet";
	case EKEYREVOKED:
		return "removed from the fleet";
	case ENOKEY:
		return "its approval does not verify up to the anchor (changed in the center?)";
	case ENOENT:
		return "not in the fleet";
	case EBADMSG:
		return "a signature or key does not verify (changed in the center?)";
	default:
		return strerror(-r);
	}
}

static const char *host_tcti(const struct config *c)
{
	return strstr(c->sealer, "tpm2") ? c->tcti : NULL;
}

/* The store (kv, journal, meta), this host's fleet state when joined, and the center with its
 * hosts. 0 or an exit status after saying why. */
static int fleet_open(struct ctl *ctl, struct fleet_ctx *f, bool joined)
{
	_cleanup_secbuf_ struct secbuf *seal = NULL;
	_cleanup_free_ uint8_t *saved = NULL;
	size_t n;
	int r;

	f->ctl = ctl;
	if (!ctl->config->fleet_conninfo) {
		fprintf(stderr,
			"vaultctl: fleet: no [fleet] conninfo in %s: this host is in no "
			"fleet\n",
			ctl->config->path);
		return EXIT_USAGE;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "vaultctl: fleet: needs root (it unseals the store)\n");
		return EXIT_REFUSED;
	}
	r = open_kv(ctl, &f->kv);
	if (r)
		return r;
	r = store_open(ctl->config->store_path, 0, &f->s);
	if (r < 0)
		return fail(r, "store");
	r = store_meta_text(f->s, META_NAME, f->name, sizeof(f->name));
	if (r == -ENOENT && joined) {
		fprintf(stderr, "vaultctl: fleet: this host has not joined the fleet (vaultctl "
				"fleet join)\n");
		return EXIT_REFUSED;
	}
	if (r >= 0) {
		r = store_meta_text(f->s, META_ANCHOR, f->anchor, sizeof(f->anchor));
		if (r >= 0)
			r = store_meta_get(f->s, META_KEY, &saved, &n);
		if (r >= 0)
			r = kv_derive_key(f->kv, HOST_KEY_LABEL, &seal);
		if (r >= 0)
			r = fleet_key_load(saved, n, seal->data, host_tcti(ctl->config), &f->key);
		if (r < 0) {
			fprintf(stderr,
				"vaultctl: fleet: this host's fleet key does not load: %s\n",
				trust_why(r));
			return EXIT_INTEGRITY;
		}
	} else if (r != -ENOENT)
		return fail(r, "store");
	r = ctl_audit_open(ctl, f->kv, &f->au);
	if (r)
		return r;
	r = ctl_center_connect(ctl, &f->pg);
	if (r >= 0)
		r = fleet_pg_migrate(f->pg);
	if (r >= 0)
		r = fleet_pg_hosts(f->pg, &f->hosts, &f->n);
	if (r < 0)
		return center_fail(r, "cannot reach the center");
	/* the removals this host learned count, whatever the center says now */
	r = fleet_removed_mark(f->s, f->hosts, f->n);
	if (r < 0)
		return fail(r, "store");
	return 0;
}

static const struct fleet_host *host_named(const struct fleet_ctx *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (streq(f->hosts[i].name, name))
			return &f->hosts[i];
	return NULL;
}

/* This host must count in the fleet to approve, grant or remove. */
static int me_trusted(struct fleet_ctx *f)
{
	const struct fleet_host *me;
	size_t len;
	const uint8_t *spki = fleet_key_spki(f->key, &len);
	int r;

	r = fleet_host_trusted(f->hosts, f->n, f->anchor, f->name, &me);
	if (r >= 0 && (me->spki_len != len || memcmp(me->spki, spki, len) != 0))
		r = -ENOKEY;
	if (r < 0) {
		fprintf(stderr, "vaultctl: fleet: this host (%s) does not count in the fleet: %s\n",
			f->name, trust_why(r));
		return r == -ENOKEY ? EXIT_INTEGRITY : EXIT_REFUSED;
	}
	return 0;
}

/* --- vault keys kept in the store --- */

static int vkey_meta_name(const char *vault, uint32_t epoch, char *buf, size_t size)
{
	return snprintf(buf, size, "fleet.vkey.%s.%" PRIu32, vault, epoch) < (int)size ?
		       0 :
		       -ENAMETOOLONG;
}

static int vkey_save(struct fleet_ctx *f, const char *vault, uint32_t epoch,
		     const struct secbuf *vkey)
{
	_cleanup_secbuf_ struct secbuf *k = NULL;
	uint8_t sealed[CRYPTO_KEY_LEN + CRYPTO_AEAD_OVERHEAD];
	char name[VAULTFS_NAME_MAX + 32];
	int r;

	r = vkey_meta_name(vault, epoch, name, sizeof(name));
	if (r >= 0)
		r = kv_derive_key(f->kv, VAULT_KEYS_LABEL, &k);
	if (r >= 0)
		r = crypto_aead_seal(k->data, name, strlen(name), vkey->data, vkey->len, sealed);
	if (r >= 0)
		r = store_meta_set(f->s, name, sealed, sizeof(sealed));
	return r;
}

/* The vault key of epoch: kept in the store, or opened from this host's grant (and kept).
 * -ENOENT no grant for this host. */
static int vkey_get(struct fleet_ctx *f, const char *vault, uint32_t epoch, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *k = NULL, *vkey = NULL;
	_cleanup_free_ uint8_t *sealed = NULL;
	char name[VAULTFS_NAME_MAX + 32];
	struct fleet_grant g;
	size_t n;
	int r;

	r = vkey_meta_name(vault, epoch, name, sizeof(name));
	if (r < 0)
		return r;
	r = store_meta_get(f->s, name, &sealed, &n);
	if (r >= 0) {
		if (n != CRYPTO_KEY_LEN + CRYPTO_AEAD_OVERHEAD)
			return -EBADMSG;
		r = kv_derive_key(f->kv, VAULT_KEYS_LABEL, &k);
		if (r >= 0)
			r = secbuf_new(CRYPTO_KEY_LEN, &vkey);
		if (r >= 0)
			r = crypto_aead_open(k->data, name, strlen(name), sealed, n, vkey->data);
		if (r < 0)
			return r;
		vkey->len = CRYPTO_KEY_LEN;
		*ret = TAKE_PTR(vkey);
		return 0;
	}
	if (r != -ENOENT)
		return r;
	r = fleet_pg_grant_get(f->pg, vault, epoch, f->name, &g);
	if (r < 0)
		return r;
	r = fleet_grant_open(f->key, f->name, &g, f->hosts, f->n, f->anchor, &vkey);
	/* the key opened, or a grant refused: this host's journal says so either way */
	if (ctl_audit(f->ctl, f->au, "fleet-key", vault, f->name, epoch, MIN(r, 0)) != 0)
		return -EIO;
	if (r < 0)
		return r;
	r = vkey_save(f, vault, epoch, vkey);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(vkey);
	return 0;
}

/* --- join --- */

static int host_name_default(const struct config *c, char buf[FLEET_HOST_NAME_MAX + 1])
{
	char h[256];

	if (c->fleet_host) {
		str_copy(buf, FLEET_HOST_NAME_MAX + 1, c->fleet_host);
		return 0;
	}
	if (gethostname(h, sizeof(h)) < 0)
		return negative_errno();
	h[sizeof(h) - 1] = '\0';
	h[strcspn(h, ".")] = '\0';
	if (!fleet_host_name_valid(h))
		return -EINVAL;
	str_copy(buf, FLEET_HOST_NAME_MAX + 1, h);
	return 0;
}

static void host_from_key(const struct fleet_key *k, const char *name, struct fleet_host *h)
{
	size_t n;
	const uint8_t *spki = fleet_key_spki(k, &n);

	memset(h, 0, sizeof(*h));
	str_copy(h->name, sizeof(h->name), name);
	h->kind = fleet_key_kind(k);
	memcpy(h->spki, spki, MIN(n, sizeof(h->spki)));
	h->spki_len = MIN(n, sizeof(h->spki));
}

static int fleet_join(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "anchor", required_argument, NULL, 'a' }, {} };
	_cleanup_(fleet_ctx_done) struct fleet_ctx f = { 0 };
	_cleanup_secbuf_ struct secbuf *seal = NULL;
	_cleanup_free_ uint8_t *saved = NULL;
	const char *want_anchor = NULL;
	const struct fleet_host *root = NULL;
	struct fleet_host h;
	char name[FLEET_HOST_NAME_MAX + 1], fpr[FLEET_FPR_LEN];
	size_t n;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c != 'a')
			return usage_error("fleet join [--anchor SHA256:...]");
		want_anchor = optarg;
	}
	if (optind != argc)
		return usage_error("fleet join takes no argument (the name is [fleet] host)");
	r = fleet_open(ctl, &f, false);
	if (r)
		return r;
	if (f.name[0]) {
		fprintf(stderr, "vaultctl: fleet: this host joined the fleet as %s already\n",
			f.name);
		return EXIT_REFUSED;
	}
	r = host_name_default(ctl->config, name);
	if (r < 0) {
		fprintf(stderr, "vaultctl: fleet: no valid host name: set [fleet] host in %s\n",
			ctl->config->path);
		return EXIT_USAGE;
	}
	if (host_named(&f, name)) {
		fprintf(stderr, "vaultctl: fleet: a host named %s is in the fleet already\n", name);
		return EXIT_REFUSED;
	}
	for (size_t i = 0; i < f.n; i++)
		if (streq(f.hosts[i].approved_by, f.hosts[i].name))
			root = &f.hosts[i];
	if (root) {
		r = fleet_fingerprint(root->spki, root->spki_len, f.anchor);
		if (r < 0)
			return fail(r, "fleet");
		if (want_anchor && !streq(want_anchor, f.anchor)) {
			fprintf(stderr,
				"vaultctl: fleet: the center's anchor (%s) is %s, not %s: refused\n",
				root->name, f.anchor, want_anchor);
			return EXIT_INTEGRITY;
		}
	} else if (f.n > 0) {
		fprintf(stderr, "vaultctl: fleet: the center has hosts but no anchor: refused\n");
		return EXIT_INTEGRITY;
	} else if (want_anchor) { /* this host would become an anchor, not the one it named */
		fprintf(stderr,
			"vaultctl: fleet: the center has no hosts, so no anchor %s: refused (the "
			"fleet's first host joins without --anchor)\n",
			want_anchor);
		return EXIT_INTEGRITY;
	}
	r = ctl_audit(ctl, f.au, "fleet-join", NULL, name, 0, 0);
	if (r)
		return r;
	r = fleet_key_create(host_tcti(ctl->config), &f.key);
	if (r < 0) {
		ctl_audit(ctl, f.au, "fleet-join", NULL, name, 0, r);
		return fail(r, "fleet host key");
	}
	host_from_key(f.key, name, &h);
	r = fleet_fingerprint(h.spki, h.spki_len, fpr);
	if (r >= 0 && !root) { /* the first host: the fleet's anchor, approved by itself */
		r = fleet_host_approve(f.key, name, &h);
		str_copy(f.anchor, sizeof(f.anchor), fpr);
	}
	if (r >= 0)
		r = kv_derive_key(f.kv, HOST_KEY_LABEL, &seal);
	if (r >= 0)
		r = fleet_key_save(f.key, seal->data, &saved, &n);
	if (r >= 0)
		r = store_meta_set(f.s, META_KEY, saved, n);
	if (r >= 0)
		r = store_meta_set(f.s, META_ANCHOR, f.anchor, strlen(f.anchor));
	if (r >= 0)
		r = store_meta_set(f.s, META_NAME, name, strlen(name));
	if (r < 0) {
		ctl_audit(ctl, f.au, "fleet-join", NULL, name, 0, r);
		return fail(r, "fleet join");
	}
	r = fleet_pg_host_insert(f.pg, &h);
	if (r < 0) {
		ctl_audit(ctl, f.au, "fleet-join", NULL, name, 0, r);
		if (r == -EEXIST) { /* the name, or the anchor's place, taken meanwhile */
			fprintf(stderr,
				"vaultctl: fleet: %s: another host joined under this name, "
				"or became the anchor, meanwhile: nothing registered\n",
				name);
			return EXIT_REFUSED;
		}
		return center_fail(r, "cannot register this host");
	}
	printf("%s\n", fpr);
	if (!root)
		fprintf(stderr,
			"vaultctl: fleet: %s: joined as the fleet's first host, its anchor (%s key "
			"%s)\n",
			name, fleet_key_kind_name(h.kind), fpr);
	else
		fprintf(stderr,
			"vaultctl: fleet: %s: joined (%s key %s); the fleet's anchor is %s %s%s\n"
			"vaultctl: fleet: on a host that counts: vaultctl fleet approve %s "
			"--fingerprint %s\n",
			name, fleet_key_kind_name(h.kind), fpr, root->name, f.anchor,
			want_anchor ? "" : " (taken on first use: compare it)", name, fpr);
	return 0;
}

/* --- approve --- */

static int count_row(void *ud, const struct fleet_body *b, const struct secbuf *material)
{
	(void)b, (void)material;
	(*(unsigned *)ud)++;
	return 0;
}

static int grant_vault(struct fleet_ctx *f, const struct fleet_host *to, const char *vault)
{
	_cleanup_secbuf_ struct secbuf *vkey = NULL;
	struct kv_vault_info vi;
	struct fleet_grant g;
	uint32_t epoch;
	bool created = false;
	int r;

	r = kv_vault_get(f->kv, vault, &vi);
	if (r < 0) {
		fprintf(stderr, "vaultctl: fleet: vault %s: %s on this host\n", vault,
			r == -ENOENT ? "no such vault" : strerror(-r));
		return EXIT_REFUSED;
	}
	r = fleet_pg_vault_epoch(f->pg, vault, &epoch);
	if (r == -ENOENT) { /* the vault enters the fleet: its key is made here */
		unsigned rows = 0;

		/* all it holds must travel (its first rows), or a change here to what did not
		 * would be a row no other host can apply */
		r = kv_fleet_contents(f->kv, vault, count_row, &rows);
		if (r == -EOPNOTSUPP) {
			fprintf(stderr,
				"vaultctl: fleet: vault %s holds what cannot travel (a key bound "
				"to this host's TPM, or versions pruned): not added to the "
				"fleet\n",
				vault);
			return EXIT_REFUSED;
		}
		if (r < 0)
			return fail(r, "vault contents");
		epoch = 1;
		r = ctl_audit(f->ctl, f->au, "fleet-vault", vault, f->name, epoch, 0);
		if (r)
			return r;
		r = fleet_vault_key_new(&vkey);
		if (r >= 0)
			r = fleet_pg_vault_insert(f->pg, vault, epoch);
		if (r >= 0)
			r = fleet_grant_make(f->key, f->name, host_named(f, f->name), vault, epoch,
					     vkey, &g);
		if (r >= 0)
			r = fleet_pg_grant_put(f->pg, &g);
		if (r >= 0)
			r = vkey_save(f, vault, epoch, vkey);
		if (r < 0) {
			ctl_audit(f->ctl, f->au, "fleet-vault", vault, f->name, epoch, r);
			return center_fail(r, "cannot add the vault to the fleet");
		}
		created = true;
		fprintf(stderr, "vaultctl: fleet: vault %s: in the fleet now (key epoch 1)\n",
			vault);
	} else if (r < 0)
		return center_fail(r, "cannot read the fleet's vaults");
	else {
		r = vkey_get(f, vault, epoch, &vkey);
		if (r < 0) {
			fprintf(stderr,
				"vaultctl: fleet: vault %s: this host holds no key of it (epoch "
				"%" PRIu32 "): %s\n",
				vault, epoch, r == -ENOENT ? "not granted to it" : trust_why(r));
			return r == -ENOENT ? EXIT_REFUSED : EXIT_INTEGRITY;
		}
	}
	/* a fleet vault here from now on: its changes go through the center (kv-fleet.h) */
	r = kv_fleet_mark(f->kv, vault);
	if (r < 0)
		return fail(r, "fleet vault mark");
	if (created) { /* what it held before: its first rows, for the hosts approved later */
		_cleanup_(fleet_sync_freep) struct fleet_sync *fs = NULL;

		r = fleet_sync_new(f->ctl->config, f->kv, NULL, &fs);
		if (r >= 0)
			r = fleet_sync_push(fs, vault);
		if (r < 0)
			return center_fail(r, "cannot push the vault's contents");
		if (r > 0)
			fprintf(stderr,
				"vaultctl: fleet: vault %s: its contents pushed (%d rows)\n", vault,
				r);
	}
	if (created && streq(to->name, f->name))
		return 0;
	/* every epoch, not only the current one: the host pulls the chain from seq 1 and checks
	 * each row under its own epoch's key (rows of old epochs are old versions, which it
	 * holds then as every host that was there did: a rekey takes nothing back, see fleet.h) */
	for (uint32_t e = 1; e <= epoch; e++) {
		_cleanup_secbuf_ struct secbuf *ek = NULL;

		if (e < epoch) {
			r = vkey_get(f, vault, e, &ek);
			if (r < 0) {
				fprintf(stderr,
					"vaultctl: fleet: vault %s: this host holds no key of epoch "
					"%" PRIu32 " (%s): %s cannot check the chain from its "
					"start; approve it from a host that holds every epoch\n",
					vault, e, r == -ENOENT ? "not granted to it" : trust_why(r),
					to->name);
				return EXIT_REFUSED;
			}
		}
		r = ctl_audit(f->ctl, f->au, "fleet-grant", vault, to->name, e, 0);
		if (r)
			return r;
		r = fleet_grant_make(f->key, f->name, to, vault, e, e < epoch ? ek : vkey, &g);
		if (r >= 0)
			r = fleet_pg_grant_put(f->pg, &g);
		if (r < 0) {
			ctl_audit(f->ctl, f->au, "fleet-grant", vault, to->name, e, r);
			return center_fail(r, "cannot grant the vault key");
		}
	}
	fprintf(stderr, "vaultctl: fleet: %s: granted vault %s (key epoch %" PRIu32 "%s)\n",
		to->name, vault, epoch, epoch > 1 ? ", and each before it" : "");
	return 0;
}

static int fleet_approve(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "vault", required_argument, NULL, 'v' },
					      { "fingerprint", required_argument, NULL, 'f' },
					      { "trust-center", no_argument, NULL, 't' },
					      {} };
	_cleanup_(fleet_ctx_done) struct fleet_ctx f = { 0 };
	const char *vaults[FLEET_VAULTS_MAX], *want = NULL, *name;
	size_t nv = 0;
	struct fleet_host *h;
	char fpr[FLEET_FPR_LEN];
	bool trust_center = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c == 'v') {
			if (!kv_name_valid(optarg))
				return usage_error("--vault: not a vault name");
			if (nv == FLEET_VAULTS_MAX)
				return usage_error("--vault: at most %d", FLEET_VAULTS_MAX);
			vaults[nv++] = optarg;
		} else if (c == 'f')
			want = optarg;
		else if (c == 't')
			trust_center = true;
		else
			return usage_error("fleet approve HOST [--vault V]... "
					   "[--fingerprint F | --trust-center]");
	}
	if (optind + 1 != argc || !fleet_host_name_valid(argv[optind]))
		return usage_error("fleet approve takes one HOST name");
	name = argv[optind];
	r = fleet_open(ctl, &f, true);
	if (r)
		return r;
	r = me_trusted(&f);
	if (r)
		return r;
	h = (struct fleet_host *)host_named(&f, name);
	if (!h) {
		fprintf(stderr, "vaultctl: fleet: no host %s in the fleet (it joins first)\n",
			name);
		return EXIT_REFUSED;
	}
	r = fleet_fingerprint(h->spki, h->spki_len, fpr);
	if (r < 0)
		return fail(r, "fleet");
	if (want && !streq(want, fpr)) {
		fprintf(stderr,
			"vaultctl: fleet: %s: its key in the center is %s, not %s: refused\n", name,
			fpr, want);
		return EXIT_INTEGRITY;
	}
	/* the approval signs the key the center shows: only the one `fleet join` printed on that
	 * host, unless the operator says the center is to be believed */
	if (!h->approved_by[0] && !want && !trust_center) {
		fprintf(stderr,
			"vaultctl: fleet: %s: its key in the center is %s; the center could have "
			"put in a key of its own: give --fingerprint with what `fleet join` printed "
			"on %s (or --trust-center to approve what the center shows): refused\n",
			name, fpr, name);
		return EXIT_REFUSED;
	}
	if (!h->approved_by[0]) {
		r = ctl_audit(ctl, f.au, "fleet-approve", NULL, name, 0, 0);
		if (r)
			return r;
		r = fleet_host_approve(f.key, f.name, h);
		if (r >= 0)
			r = fleet_pg_host_update(f.pg, h);
		if (r < 0) {
			ctl_audit(ctl, f.au, "fleet-approve", NULL, name, 0, r);
			return center_fail(r, "cannot approve");
		}
		fprintf(stderr, "vaultctl: fleet: %s: approved (%s key %s)\n", name,
			fleet_key_kind_name(h->kind), fpr);
	}
	r = fleet_host_trusted(f.hosts, f.n, f.anchor, name, NULL);
	if (r < 0) {
		fprintf(stderr, "vaultctl: fleet: %s: %s\n", name, trust_why(r));
		return r == -ENOKEY ? EXIT_INTEGRITY : EXIT_REFUSED;
	}
	for (size_t i = 0; i < nv; i++) {
		r = grant_vault(&f, h, vaults[i]);
		if (r)
			return r;
	}
	return 0;
}

/* --- remove --- */

static int rekey_vault(struct fleet_ctx *f, const char *vault);

/* b (a REVOKE of host) as a row in the chain of each fleet vault this host holds, so that every
 * host learns it authenticated, then each of those vaults rekeyed: the removed host held (or
 * could have held) its key, and every host takes no row of that epoch after the REVOKE (so
 * without the rekey the vault would stay closed to changes). Every vault, not only those the
 * host has a grant row of in the center: that row is the center's word, and a host about to
 * be removed could have deleted its own. A vault this host holds no key of is said and
 * skipped. */
static int announce_all(struct fleet_ctx *f, struct fleet_body *b, const char *host)
{
	_cleanup_(fleet_sync_freep) struct fleet_sync *fs = NULL;
	_cleanup_free_ struct fleet_pg_vault *v = NULL;
	size_t nv = 0;
	int r;

	str_copy(b->host, sizeof(b->host), host);
	r = fleet_pg_vaults(f->pg, &v, &nv);
	if (r < 0)
		return center_fail(r, "cannot read the fleet's vaults");
	r = fleet_sync_new(f->ctl->config, f->kv, NULL, &fs);
	if (r < 0)
		return fail(r, "fleet");
	for (size_t i = 0; i < nv; i++) {
		if (kv_fleet_is(f->kv, v[i].name) != 1) {
			fprintf(stderr,
				"vaultctl: fleet: vault %s: not held here: its chain does not "
				"say the removal (a host that holds it can: fleet remove again "
				"there)\n",
				v[i].name);
			continue;
		}
		r = fleet_sync_announce(fs, v[i].name, b);
		if (r < 0)
			return center_fail(r, "the removal's row in a vault's chain");
		fprintf(stderr,
			"vaultctl: fleet: vault %s: rekeyed now, so that %s gets no new "
			"versions\n",
			v[i].name, host);
		r = rekey_vault(f, v[i].name);
		if (r) {
			fprintf(stderr,
				"vaultctl: fleet: vault %s: not rekeyed: no changes are made to "
				"it until `vaultctl fleet rekey %s`\n",
				v[i].name, v[i].name);
			return r;
		}
	}
	return 0;
}

/* Where the removed host's central audit ends: its last batch at the center now (seq 0 and
 * zeros: none), signed into the revocation so readers refuse what it ships after. */
static int audit_cut(struct fleet_ctx *f, const char *host, int64_t *ret_seq,
		     uint8_t ret_head[FLEET_CUT_HEAD_LEN])
{
	struct fleet_audit_batch b = { 0 };
	int r;

	r = fleet_pg_audit_migrate(f->pg);
	if (r >= 0)
		r = fleet_pg_audit_last(f->pg, host, &b);
	if (r == -ENOENT) {
		*ret_seq = 0;
		memset(ret_head, 0, FLEET_CUT_HEAD_LEN);
		return 0;
	}
	if (r >= 0)
		r = fleet_audit_head_hash(&b, ret_head);
	if (r >= 0)
		*ret_seq = b.last_seq;
	fleet_audit_batch_done(&b);
	return r;
}

static int fleet_remove(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_(fleet_ctx_done) struct fleet_ctx f = { 0 };
	uint8_t head[FLEET_CUT_HEAD_LEN];
	struct fleet_host *h;
	const char *name;
	int64_t cut;
	int r;

	if (argc != 2 || !fleet_host_name_valid(argv[1]))
		return usage_error("fleet remove takes one HOST name");
	name = argv[1];
	r = fleet_open(ctl, &f, true);
	if (r)
		return r;
	r = me_trusted(&f);
	if (r)
		return r;
	h = (struct fleet_host *)host_named(&f, name);
	if (!h) {
		fprintf(stderr, "vaultctl: fleet: no host %s in the fleet\n", name);
		return EXIT_REFUSED;
	}
	if (streq(name, f.name))
		return usage_error("fleet remove: a host does not remove itself (another does)");
	r = ctl_audit(ctl, f.au, "fleet-remove", NULL, name, 0, 0);
	if (r)
		return r;
	/* remembered here first: the center cannot take it back (nor clear it by SQL) */
	r = fleet_removed_add(f.s, name);
	if (r >= 0)
		h->removed = true;
	if (r >= 0)
		r = audit_cut(&f, name, &cut, head);
	if (r >= 0)
		r = fleet_host_revoke_at(f.key, f.name, h, cut, head);
	if (r >= 0)
		r = fleet_pg_host_update(f.pg, h);
	if (r >= 0)
		r = fleet_pg_grant_delete_host(f.pg, name);
	if (r < 0) {
		ctl_audit(ctl, f.au, "fleet-remove", NULL, name, 0, r);
		return center_fail(r, "cannot remove");
	}
	fprintf(stderr,
		"vaultctl: fleet: %s: removed (%d grants deleted); its central audit ends at seq "
		"%" PRId64 "\n",
		name, r, cut);
	return announce_all(&f, &(struct fleet_body){ .op = FLEET_OP_REVOKE }, name);
}

/* --- rekey --- */

/* A new key of vault at epoch + 1, granted to each host that counts and held the old one (its
 * grant of the old epoch verifies: made by a host that counts, for the host's key as it is;
 * a bare row in the center is no proof, a removed host's grants are gone and it counts no
 * more), the center's epoch moved, and a REKEY row at the new epoch in the chain. 0 or an exit
 * status after saying why. */
static int rekey_vault(struct fleet_ctx *f, const char *vault)
{
	_cleanup_(fleet_sync_freep) struct fleet_sync *fs = NULL;
	_cleanup_secbuf_ struct secbuf *old = NULL, *vkey = NULL;
	uint32_t epoch;
	unsigned granted = 0, refused = 0;
	int r;

	r = fleet_pg_vault_epoch(f->pg, vault, &epoch);
	if (r < 0)
		return r == -ENOENT ? (fprintf(stderr,
					       "vaultctl: fleet: vault %s is not in the "
					       "fleet\n",
					       vault),
				       EXIT_REFUSED) :
				      center_fail(r, "cannot read the fleet's vaults");
	r = vkey_get(f, vault, epoch, &old);
	if (r < 0) {
		fprintf(stderr, "vaultctl: fleet: vault %s: this host holds no key of it: %s\n",
			vault, r == -ENOENT ? "not granted to it" : trust_why(r));
		return r == -ENOENT ? EXIT_REFUSED : EXIT_INTEGRITY;
	}
	r = ctl_audit(f->ctl, f->au, "fleet-rekey", vault, f->name, epoch + 1, 0);
	if (r)
		return r;
	r = fleet_vault_key_new(&vkey);
	for (size_t i = 0; r >= 0 && i < f->n; i++) {
		const struct fleet_host *h = &f->hosts[i];
		struct fleet_grant g;

		if (fleet_host_trusted(f->hosts, f->n, f->anchor, h->name, NULL) < 0)
			continue; /* removed, or not (or no longer) approved: nothing new */
		r = streq(h->name, f->name) ? 0 :
					      fleet_pg_grant_get(f->pg, vault, epoch, h->name, &g);
		if (r == -ENOENT) {
			r = 0;
			continue; /* it never held the vault */
		}
		if (r >= 0 && !streq(h->name, f->name) &&
		    (!streq(g.vault, vault) || g.epoch != epoch || !streq(g.host, h->name) ||
		     fleet_grant_verify(&g, f->hosts, f->n, f->anchor) < 0)) {
			fprintf(stderr,
				"vaultctl: fleet: vault %s: %s's grant of key epoch %" PRIu32
				" does not verify (put in the center?): not granted the new key\n",
				vault, h->name, epoch);
			refused++;
			continue;
		}
		if (r >= 0)
			r = fleet_grant_make(f->key, f->name, h, vault, epoch + 1, vkey, &g);
		if (r >= 0)
			r = fleet_pg_grant_put(f->pg, &g);
		if (r >= 0)
			granted++;
	}
	if (r >= 0)
		r = vkey_save(f, vault, epoch + 1, vkey);
	if (r >= 0)
		r = fleet_pg_vault_set_epoch(f->pg, vault, epoch + 1);
	if (r < 0) {
		ctl_audit(f->ctl, f->au, "fleet-rekey", vault, f->name, epoch + 1, r);
		return center_fail(r, "cannot rekey");
	}
	fprintf(stderr,
		"vaultctl: fleet: vault %s: key epoch %" PRIu32 " granted to %u hosts; new "
		"versions only are under it (old versions stay under the old key)\n",
		vault, epoch + 1, granted);
	r = fleet_sync_new(f->ctl->config, f->kv, NULL, &fs);
	if (r >= 0)
		r = fleet_sync_announce(fs, vault, &(struct fleet_body){ .op = FLEET_OP_REKEY });
	if (r < 0)
		return center_fail(r, "the rekey's row in the vault's chain");
	return refused ? EXIT_INTEGRITY : 0;
}

static int fleet_rekey(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_(fleet_ctx_done) struct fleet_ctx f = { 0 };
	int r;

	if (argc != 2 || !kv_name_valid(argv[1]))
		return usage_error("fleet rekey takes one VAULT name");
	r = fleet_open(ctl, &f, true);
	if (r)
		return r;
	r = me_trusted(&f);
	if (r)
		return r;
	return rekey_vault(&f, argv[1]);
}

/* --- status --- */

/* What this host makes of h's row: its state, and in *ret the check's result (0 trusted, else
 * why not: trust_why). */
static const char *host_state(struct fleet_ctx *f, const struct fleet_host *h, int *ret)
{
	int r = fleet_host_trusted(f->hosts, f->n, f->anchor, h->name, NULL);

	*ret = r < 0 ? r : 0;
	if (r >= 0)
		return streq(h->approved_by, h->name) ? "anchor" : "approved";
	switch (-r) {
	case EACCES:
		return "waiting-approval";
	case EKEYREVOKED:
		return "removed";
	default:
		return "untrusted";
	}
}

static void time_text(int64_t t, char buf[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, 32, "-");
}

/* What each host says it applied of vault v (the center's `applied`: status only, trusted by
 * nobody) and its lag; for this host, what its store says (the applied row, checked). */
static int64_t host_applied(struct fleet_ctx *f, const struct fleet_host *h,
			    const struct fleet_pg_vault *v)
{
	struct fleet_applied a;
	int64_t seq;

	if (streq(h->name, f->name))
		return kv_fleet_applied(f->kv, v->name, &a) >= 0 ? a.seq : -1;
	return fleet_pg_applied_get(f->pg, h->name, v->name, &seq) >= 0 ? seq : -1;
}

static void applied_text(struct fleet_ctx *f, const struct fleet_pg_vault *v)
{
	for (size_t i = 0; i < f->n; i++) {
		int64_t seq = host_applied(f, &f->hosts[i], v);

		if (seq >= 0)
			printf("applied %-18s host %-20s seq %-8" PRId64 " lag %" PRId64 "\n",
			       v->name, f->hosts[i].name, seq, v->max_seq - seq);
	}
}

static void applied_json(struct fleet_ctx *f, const struct fleet_pg_vault *v, struct json_object *e)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return;
	for (size_t i = 0; i < f->n; i++) {
		int64_t seq = host_applied(f, &f->hosts[i], v);

		if (seq >= 0)
			json_object_object_add(o, f->hosts[i].name, json_object_new_int64(seq));
	}
	json_object_object_add(e, "applied", o);
}

static int fleet_status(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, {} };
	_cleanup_(fleet_ctx_done) struct fleet_ctx f = { 0 };
	_cleanup_free_ struct fleet_pg_vault *v = NULL;
	struct json_object *o = NULL, *ha = NULL, *va = NULL;
	char fpr[FLEET_FPR_LEN], seen[32];
	bool json = false;
	size_t nv;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c != 'j')
			return usage_error("fleet status [--json]");
		json = true;
	}
	if (optind != argc)
		return usage_error("fleet status takes no argument");
	r = fleet_open(ctl, &f, true);
	if (r)
		return r;
	r = fleet_pg_vaults(f.pg, &v, &nv);
	if (r < 0)
		return center_fail(r, "cannot read the fleet's vaults");
	if (json) {
		o = json_object_new_object();
		ha = json_object_new_array();
		va = json_object_new_array();
		if (!o || !ha || !va) {
			json_object_put(o);
			json_object_put(ha);
			json_object_put(va);
			return fail(-ENOMEM, "fleet status");
		}
		cli_add_str(o, "host", f.name);
		cli_add_str(o, "anchor", f.anchor);
		json_object_object_add(o, "hosts", ha);
		json_object_object_add(o, "vaults", va);
	} else
		printf("host %s, anchor %s\n", f.name, f.anchor);
	for (size_t i = 0; i < f.n; i++) {
		const struct fleet_host *h = &f.hosts[i];
		const char *state;
		int why;

		if (fleet_fingerprint(h->spki, h->spki_len, fpr) < 0)
			snprintf(fpr, sizeof(fpr), "?");
		time_text(h->last_seen, seen);
		state = host_state(&f, h, &why);
		/* a row that does not verify says why, as a refused key does */
		if (streq(state, "untrusted"))
			fprintf(stderr, "vaultctl: fleet: host %s is untrusted: %s\n", h->name,
				trust_why(why));
		if (json) {
			struct json_object *e = json_object_new_object();

			if (!e)
				continue;
			cli_add_str(e, "name", h->name);
			cli_add_str(e, "state", state);
			if (why < 0)
				cli_add_str(e, "why", trust_why(why));
			cli_add_str(e, "key", fleet_key_kind_name(h->kind));
			cli_add_str(e, "fingerprint", fpr);
			cli_add_int(e, "last_seen", h->last_seen);
			json_object_array_add(ha, e);
		} else
			printf("host  %-20s %-16s %-4s %s last seen %s\n", h->name, state,
			       fleet_key_kind_name(h->kind), fpr, seen);
	}
	for (size_t i = 0; i < nv; i++) {
		_cleanup_secbuf_ struct secbuf *vkey = NULL;
		const char *key;

		r = vkey_get(&f, v[i].name, v[i].epoch, &vkey);
		key = r >= 0 ? "ok" : r == -ENOENT ? "not-granted" : "refused";
		if (r < 0 && r != -ENOENT)
			fprintf(stderr,
				"vaultctl: fleet: vault %s: this host's key is refused: %s\n",
				v[i].name, trust_why(r));
		if (json) {
			struct json_object *e = json_object_new_object();

			if (!e)
				continue;
			cli_add_str(e, "name", v[i].name);
			cli_add_int(e, "epoch", v[i].epoch);
			cli_add_int(e, "seq", v[i].max_seq);
			cli_add_str(e, "key", key);
			if (r < 0 && r != -ENOENT)
				cli_add_str(e, "why", trust_why(r));
			applied_json(&f, &v[i], e);
			json_object_array_add(va, e);
		} else {
			printf("vault %-20s epoch %-6" PRIu32 " seq %-8" PRId64 " key %s\n",
			       v[i].name, v[i].epoch, v[i].max_seq, key);
			applied_text(&f, &v[i]);
		}
	}
	if (json) {
		print_json(o);
		json_object_put(o);
	}
	return 0;
}

int cmd_fleet(struct ctl *ctl, int argc, char **argv)
{
	static const struct {
		const char *verb;
		int (*run)(struct ctl *ctl, int argc, char **argv);
	} verbs[] = {
		{ "join", fleet_join },	  { "approve", fleet_approve }, { "remove", fleet_remove },
		{ "rekey", fleet_rekey }, { "status", fleet_status },
	};

	if (argc < 2)
		return usage_error("fleet: join, approve, remove, rekey or status");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(argv[1], verbs[i].verb)) {
			argc--, argv++; /* argv[0] is the verb now */
			optind = 0;
			return verbs[i].run(ctl, argc, argv);
		}
	return usage_error("fleet: unknown verb '%.32s'", argv[1]);
}
