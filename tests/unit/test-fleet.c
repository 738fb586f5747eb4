/* test-fleet.c: unit tests for core/fleet.c and core/fleet-pg.c against a real PostgreSQL 15
 * (a private one started in a temp dir by tests/lib/pg-private.sh on a copy of the build's
 * template; every test skips when there is none) and a real software TPM (run it under
 * tests/lib/with-swtpm). The [fleet] config keys; the schema made twice (idempotent); the
 * center away (-EHOSTDOWN with libpq's words kept); host keys in the TPM and in software (saved
 * and loaded again, a wrong seal key refused); approvals walked to the anchor, a public key
 * replaced in SQL, an unapproved host, a revoked one; a vault key wrapped for a host and opened
 * by it alone (the TPM host's in its TPM), a grant replaced in SQL by one an attacker wrapped;
 * and the change chain through the center: two hosts cannot take one seq, and a changed row, a
 * swapped pair, a dropped row, a rolled-back sequence and an old epoch's row are each refused
 * by the host that pulls them, which applies nothing past the first bad row. A change body: a
 * version sealed under the fleet vault key opens only for its vault, epoch, name and version,
 * never holds the value in the clear, and refuses a byte too few or too many. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/config.h"
#include "core/fleet-pg.h"
#include "core/fleet.h"
#include "core/key-soft.h"
#include "core/key.h"
#include "core/log.h"
#include "core/util.h"
#include "tests/unit/testlib.h"

struct env {
	char *dir;
	char conninfo[512];
	bool have_pg;
	struct fleet_key *a, *b, *t; /* soft a (the anchor), soft b, TPM t */
};

static struct env E;

static int setup(void **state)
{
	(void)state;
	if (test_tmpdir(&E.dir) < 0 || chmod(E.dir, 0711) < 0)
		return -1;
	E.have_pg = test_pg(E.dir, "start", E.conninfo, sizeof(E.conninfo)) == 0 && E.conninfo[0];
	if (!E.have_pg)
		fprintf(stderr, "test-fleet: no PostgreSQL 15: the center's tests skip\n");
	if (fleet_key_create(NULL, &E.a) < 0 || fleet_key_create(NULL, &E.b) < 0)
		return -1;
	return fleet_key_create(test_tcti(), &E.t) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	if (E.have_pg)
		test_pg(E.dir, "stop", NULL, 0);
	fleet_key_free(E.a);
	fleet_key_free(E.b);
	fleet_key_free(E.t);
	test_rmtree(E.dir);
	free(E.dir);
	return 0;
}

static struct fleet_pg *connect_pg(void)
{
	struct fleet_pg *p = NULL;

	if (!E.have_pg)
		skip();
	assert_int_equal(fleet_pg_connect(E.conninfo, &p), 0);
	assert_int_equal(fleet_pg_migrate(p), 0);
	return p;
}

static void host_of(const struct fleet_key *k, const char *name, struct fleet_host *h)
{
	size_t n;
	const uint8_t *spki = fleet_key_spki(k, &n);

	memset(h, 0, sizeof(*h));
	str_copy(h->name, sizeof(h->name), name);
	h->kind = fleet_key_kind(k);
	assert_true(n <= sizeof(h->spki));
	memcpy(h->spki, spki, n);
	h->spki_len = n;
}

static void fpr_of(const struct fleet_key *k, char fpr[FLEET_FPR_LEN])
{
	size_t n;
	const uint8_t *spki = fleet_key_spki(k, &n);

	assert_int_equal(fleet_fingerprint(spki, n, fpr), 0);
}

static void test_config(void **state)
{
	char path[4096], err[256];
	struct config *c = NULL;
	static const char good[] = "[fleet]\nconninfo = host=db.example.org dbname=vaultfs\n"
				   "host = web-1.example\n";
	static const char bad[] = "[fleet]\nhost = -web\n";

	(void)state;
	snprintf(path, sizeof(path), "%s/c.conf", E.dir);
	test_write_file(path, good, strlen(good), 0600);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c->fleet_conninfo, "host=db.example.org dbname=vaultfs");
	assert_string_equal(c->fleet_host, "web-1.example");
	config_free(c);
	c = NULL;
	assert_int_equal(config_new_default(&c), 0);
	assert_null(c->fleet_conninfo);
	assert_null(c->fleet_host);
	config_free(c);
	c = NULL;
	test_write_file(path, bad, strlen(bad), 0600);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad value for 'host'"));
	assert_true(fleet_host_name_valid("a"));
	assert_false(fleet_host_name_valid(""));
	assert_false(fleet_host_name_valid(".a"));
	assert_false(fleet_host_name_valid("a_b"));
	assert_false(fleet_host_name_valid(
		"a234567890123456789012345678901234567890123456789012345678901234"));
}

static void test_center(void **state)
{
	struct fleet_pg *p = connect_pg();
	struct fleet_pg *q = NULL;
	char away[600];

	(void)state;
	/* idempotent, also from a second connection */
	assert_int_equal(fleet_pg_connect(E.conninfo, &q), 0);
	assert_int_equal(fleet_pg_migrate(q), 0);
	assert_int_equal(fleet_pg_migrate(p), 0);
	fleet_pg_free(q);
	q = NULL;
	/* a schema from the future is refused */
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.meta SET value = '99' WHERE key = "
					  "'schema'"),
			 0);
	assert_int_equal(fleet_pg_migrate(p), -EPROTONOSUPPORT);
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.meta SET value = '1' WHERE key = "
					  "'schema'"),
			 0);
	/* PostgreSQL's words are kept */
	log_foreign_clear();
	assert_int_equal(fleet_pg_exec(p, "SELECT * FROM vaultfs.nosuch"), -EIO);
	assert_non_null(strstr(log_foreign_last(), "nosuch"));
	/* the center away: port 1 on loopback */
	log_foreign_clear();
	snprintf(away, sizeof(away), "host=127.0.0.1 port=1 dbname=postgres connect_timeout=2");
	assert_int_equal(fleet_pg_connect(away, &q), -EHOSTDOWN);
	assert_non_null(strstr(log_foreign_last(), "libpq"));
	assert_int_equal(fleet_pg_connect("", &q), -EINVAL);
	fleet_pg_free(p);
}

static void test_host_keys(void **state)
{
	uint8_t seal[CRYPTO_KEY_LEN], other[CRYPTO_KEY_LEN];
	_cleanup_free_ uint8_t *saved = NULL, *tsaved = NULL;
	size_t n, tn, a_len, b_len;
	struct fleet_key *k = NULL;
	uint8_t sig[FLEET_SIG_MAX];
	size_t siglen;
	const uint8_t *spki;

	(void)state;
	test_random(seal, sizeof(seal));
	test_random(other, sizeof(other));
	assert_int_equal(fleet_key_kind(E.a), FLEET_KEY_SOFT);
	assert_int_equal(fleet_key_kind(E.t), FLEET_KEY_TPM);
	/* a software key saved and loaded is the same key; another seal key opens nothing */
	assert_int_equal(fleet_key_save(E.a, seal, &saved, &n), 0);
	assert_null(memmem(saved, n, "PRIVATE", 7));
	assert_int_equal(fleet_key_load(saved, n, other, NULL, &k), -EBADMSG);
	saved[n - 1] ^= 1;
	assert_int_equal(fleet_key_load(saved, n, seal, NULL, &k), -EBADMSG);
	saved[n - 1] ^= 1;
	assert_int_equal(fleet_key_load(saved, n, seal, NULL, &k), 0);
	spki = fleet_key_spki(E.a, &a_len);
	assert_memory_equal(fleet_key_spki(k, &b_len), spki, a_len);
	assert_int_equal(fleet_sign(k, "m", 1, sig, &siglen), 0);
	assert_int_equal(fleet_verify(spki, a_len, "m", 1, sig, siglen), 0);
	assert_int_equal(fleet_verify(spki, a_len, "n", 1, sig, siglen), -EBADMSG);
	fleet_key_free(k);
	k = NULL;
	/* a TPM key: signs in the TPM, saved as its blob, needs a tcti to load */
	assert_int_equal(fleet_key_save(E.t, seal, &tsaved, &tn), 0);
	assert_int_equal(fleet_key_load(tsaved, tn, seal, NULL, &k), -EINVAL);
	assert_int_equal(fleet_key_load(tsaved, tn, seal, test_tcti(), &k), 0);
	assert_int_equal(fleet_sign(k, "m", 1, sig, &siglen), 0);
	spki = fleet_key_spki(E.t, &a_len);
	assert_int_equal(fleet_verify(spki, a_len, "m", 1, sig, siglen), 0);
	fleet_key_free(k);
}

static struct fleet_host *named(struct fleet_host *hosts, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(hosts[i].name, name))
			return &hosts[i];
	fail_msg("no host %s", name);
	return NULL;
}

/* hosts a (anchor), b (approved by a), t (TPM, approved by b), d (joined, not approved) in the
 * center; *ret the list read back */
static void enroll(struct fleet_pg *p, struct fleet_host **ret, size_t *ret_n)
{
	struct fleet_host h;
	struct fleet_key *d = NULL;

	assert_int_equal(fleet_pg_exec(p, "TRUNCATE vaultfs.hosts, vaultfs.vaults, "
					  "vaultfs.grants, vaultfs.changes, vaultfs.applied"),
			 0);
	host_of(E.a, "a", &h);
	assert_int_equal(fleet_host_approve(E.a, "a", &h), 0);
	assert_int_equal(fleet_pg_host_insert(p, &h), 0);
	assert_int_equal(fleet_pg_host_insert(p, &h), -EEXIST);
	/* a second anchor (b approving itself) is refused by the center */
	host_of(E.b, "b", &h);
	assert_int_equal(fleet_host_approve(E.b, "b", &h), 0);
	assert_int_equal(fleet_pg_host_insert(p, &h), -EEXIST);
	host_of(E.b, "b", &h);
	assert_int_equal(fleet_pg_host_insert(p, &h), 0);
	assert_int_equal(fleet_host_approve(E.a, "a", &h), 0);
	assert_int_equal(fleet_pg_host_update(p, &h), 0);
	host_of(E.t, "t", &h);
	assert_int_equal(fleet_host_approve(E.b, "b", &h), 0);
	assert_int_equal(fleet_pg_host_insert(p, &h), 0);
	assert_int_equal(fleet_key_create(NULL, &d), 0);
	host_of(d, "d", &h);
	fleet_key_free(d);
	assert_int_equal(fleet_pg_host_insert(p, &h), 0);
	assert_int_equal(fleet_pg_hosts(p, ret, ret_n), 0);
	assert_int_equal(*ret_n, 4);
}

static void test_trust(void **state)
{
	struct fleet_pg *p = connect_pg();
	_cleanup_free_ struct fleet_host *hosts = NULL;
	struct fleet_host *b;
	const struct fleet_host *found;
	char anchor[FLEET_FPR_LEN], wrong[FLEET_FPR_LEN];
	size_t n;

	(void)state;
	fpr_of(E.a, anchor);
	fpr_of(E.b, wrong);
	enroll(p, &hosts, &n);
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "a", &found), 0);
	assert_string_equal(found->name, "a");
	assert_int_equal(found->kind, FLEET_KEY_SOFT);
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "b", NULL), 0);
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "t", &found), 0);
	assert_int_equal(found->kind, FLEET_KEY_TPM);
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "d", NULL), -EACCES);
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "x", NULL), -ENOENT);
	/* another anchor: nothing counts */
	assert_int_equal(fleet_host_trusted(hosts, n, wrong, "b", NULL), -ENOKEY);
	assert_int_equal(fleet_host_trusted(hosts, n, NULL, "b", NULL), -ENOKEY);

	/* b's public key replaced in SQL by d's: b no longer counts, nor t, which b approved */
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.hosts SET spki = (SELECT spki FROM "
					  "vaultfs.hosts WHERE name = 'd') WHERE name = 'b'"),
			 0);
	free(hosts);
	hosts = NULL;
	assert_int_equal(fleet_pg_hosts(p, &hosts, &n), 0);
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "b", NULL), -ENOKEY);
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "t", NULL), -ENOKEY);
	/* d approved by hand in SQL with a's name and b's old signature: refused */
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.hosts SET approved_by = 'a', sig = "
					  "(SELECT sig FROM vaultfs.hosts WHERE name = 't') "
					  "WHERE name = 'd'"),
			 0);
	free(hosts);
	hosts = NULL;
	assert_int_equal(fleet_pg_hosts(p, &hosts, &n), 0);
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "d", NULL), -ENOKEY);

	/* revoked by a: b no longer counts; a revocation by an unapproved host is none */
	free(hosts);
	hosts = NULL;
	enroll(p, &hosts, &n);
	b = named(hosts, n, "b");
	assert_int_equal(fleet_host_revoke(E.b, "d", b), 0); /* d: not approved */
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "b", NULL), 0);
	assert_int_equal(fleet_host_revoke(E.a, "a", b), 0);
	assert_int_equal(fleet_pg_host_update(p, b), 0);
	free(hosts);
	hosts = NULL;
	assert_int_equal(fleet_pg_hosts(p, &hosts, &n), 0);
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "b", NULL), -EKEYREVOKED);
	/* nor does any approval of a removed host: not t's, which b made while it counted
	 * (approvals carry no time), nor one b signs now for a key the center put in, even
	 * under another host's name (t's) */
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "t", NULL), -ENOKEY);
	{
		struct fleet_host *t = named(hosts, n, "t"), *d = named(hosts, n, "d");

		memcpy(t->spki, d->spki, d->spki_len);
		t->spki_len = d->spki_len;
		assert_int_equal(fleet_host_approve(E.b, "b", t), 0);
		assert_int_equal(fleet_host_approve(E.b, "b", d), 0);
		assert_int_equal(fleet_host_trusted(hosts, n, anchor, "t", NULL), -ENOKEY);
		assert_int_equal(fleet_host_trusted(hosts, n, anchor, "d", NULL), -ENOKEY);
		/* approved again by a, which counts: d counts */
		assert_int_equal(fleet_host_approve(E.a, "a", d), 0);
		assert_int_equal(fleet_host_trusted(hosts, n, anchor, "d", NULL), 0);
	}
	/* b's revocation cleared in SQL: b counts again for a host that does not remember the
	 * removal, and for one that does (removed, as kv-fleet.h marks it) not, nor does any
	 * host b approved */
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.hosts SET revoked_by = '', "
					  "revoked_sig = '' WHERE name = 'b'"),
			 0);
	free(hosts);
	hosts = NULL;
	assert_int_equal(fleet_pg_hosts(p, &hosts, &n), 0);
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "b", NULL), 0);
	named(hosts, n, "b")->removed = true;
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "b", NULL), -EKEYREVOKED);
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "t", NULL), -ENOKEY);
	assert_int_equal(fleet_host_trusted(hosts, n, anchor, "a", NULL), 0);
	fleet_pg_free(p);
}

static void test_grants(void **state)
{
	struct fleet_pg *p = connect_pg();
	_cleanup_free_ struct fleet_host *hosts = NULL;
	_cleanup_secbuf_ struct secbuf *vkey = NULL, *got = NULL, *tgot = NULL;
	struct fleet_grant g, back;
	struct fleet_key *evil = NULL;
	char anchor[FLEET_FPR_LEN], sql[4096];
	size_t n, len;

	(void)state;
	fpr_of(E.a, anchor);
	enroll(p, &hosts, &n);
	assert_int_equal(fleet_vault_key_new(&vkey), 0);
	assert_int_equal(fleet_pg_vault_insert(p, "app", 1), 0);
	assert_int_equal(fleet_pg_vault_insert(p, "app", 1), -EEXIST);

	/* a grants app's key to b (software) and to t (TPM); each opens its own */
	assert_int_equal(fleet_grant_make(E.a, "a", named(hosts, n, "b"), "app", 1, vkey, &g), 0);
	assert_int_equal(fleet_pg_grant_put(p, &g), 0);
	assert_int_equal(fleet_grant_make(E.a, "a", named(hosts, n, "t"), "app", 1, vkey, &g), 0);
	assert_int_equal(fleet_pg_grant_put(p, &g), 0);
	assert_int_equal(fleet_pg_grant_get(p, "app", 1, "b", &back), 0);
	assert_int_equal(fleet_grant_open(E.b, "b", &back, hosts, n, anchor, &got), 0);
	assert_memory_equal(got->data, vkey->data, CRYPTO_KEY_LEN);
	assert_int_equal(fleet_pg_grant_get(p, "app", 1, "t", &back), 0);
	assert_int_equal(fleet_grant_open(E.t, "t", &back, hosts, n, anchor, &tgot), 0);
	assert_memory_equal(tgot->data, vkey->data, CRYPTO_KEY_LEN);
	/* b's grant is no one else's: not t's (another name), not with t's key under b's name */
	assert_int_equal(fleet_pg_grant_get(p, "app", 1, "b", &back), 0);
	assert_int_equal(fleet_grant_open(E.t, "t", &back, hosts, n, anchor, &got), -EINVAL);
	assert_int_equal(fleet_grant_open(E.t, "b", &back, hosts, n, anchor, &got), -ENOKEY);
	/* d, not approved, has no grant and opens nothing even given one */
	assert_int_equal(fleet_pg_grant_get(p, "app", 1, "d", &back), -ENOENT);
	assert_int_equal(fleet_grant_make(E.a, "a", named(hosts, n, "d"), "app", 1, vkey, &g), 0);
	assert_int_equal(fleet_grant_open(E.b, "d", &g, hosts, n, anchor, &got), -EACCES);

	/* the grant replaced in SQL by one that wraps the attacker's key to b's public key (the
	 * signature kept, or the attacker's own): refused before it is unwrapped */
	{
		uint8_t wrapped[FLEET_WRAPPED_MAX], k[CRYPTO_KEY_LEN];
		char hex[2 * FLEET_WRAPPED_MAX + 1];

		test_random(k, sizeof(k));
		len = sizeof(wrapped);
		assert_int_equal(key_public_encrypt(KEY_RSA_2048, named(hosts, n, "b")->spki,
						    named(hosts, n, "b")->spki_len, KEY_OP_WRAP,
						    KEY_ALG_RSA_OAEP_256, k, sizeof(k), wrapped,
						    &len),
				 0);
		hex_encode(wrapped, len, hex);
		hex[2 * len] = '\0';
		snprintf(sql, sizeof(sql),
			 "UPDATE vaultfs.grants SET wrapped = '\\x%s' WHERE host = 'b'", hex);
		assert_int_equal(fleet_pg_exec(p, sql), 0);
		assert_int_equal(fleet_pg_grant_get(p, "app", 1, "b", &back), 0);
		assert_int_equal(fleet_grant_open(E.b, "b", &back, hosts, n, anchor, &got),
				 -EBADMSG);
		/* signed by a key of the attacker's, under a's name */
		assert_int_equal(fleet_key_create(NULL, &evil), 0);
		assert_int_equal(
			fleet_grant_make(evil, "a", named(hosts, n, "b"), "app", 1, vkey, &g), 0);
		fleet_key_free(evil);
		assert_int_equal(fleet_pg_grant_put(p, &g), 0);
		assert_int_equal(fleet_pg_grant_get(p, "app", 1, "b", &back), 0);
		assert_int_equal(fleet_grant_open(E.b, "b", &back, hosts, n, anchor, &got),
				 -EBADMSG);
		/* granted by d (not approved) */
		assert_int_equal(
			fleet_grant_make(E.b, "d", named(hosts, n, "b"), "app", 1, vkey, &g), 0);
		assert_int_equal(fleet_grant_open(E.b, "b", &g, hosts, n, anchor, &got), -EACCES);
		assert_int_equal(fleet_grant_verify(&g, hosts, n, anchor), -EACCES);
		/* fleet_grant_verify: a grant made by a counts; one with a junk signature, for
		 * d (not approved), or made by d, does not (what `fleet rekey` asks) */
		assert_int_equal(
			fleet_grant_make(E.a, "a", named(hosts, n, "b"), "app", 1, vkey, &g), 0);
		assert_int_equal(fleet_grant_verify(&g, hosts, n, anchor), 0);
		g.sig[0] ^= 1;
		assert_int_equal(fleet_grant_verify(&g, hosts, n, anchor), -EBADMSG);
		assert_int_equal(
			fleet_grant_make(E.a, "a", named(hosts, n, "d"), "app", 1, vkey, &g), 0);
		assert_int_equal(fleet_grant_verify(&g, hosts, n, anchor), -EACCES);
	}
	assert_int_equal(fleet_pg_grant_delete_host(p, "t"), 1);
	assert_int_equal(fleet_pg_grant_get(p, "app", 1, "t", &back), -ENOENT);
	fleet_pg_free(p);
}

/* --- the chain --- */

struct keys {
	const struct secbuf *k[3]; /* epochs 1, 2 */
};

static int key_of(void *ud, uint32_t epoch, const struct secbuf **ret)
{
	struct keys *ks = ud;

	if (epoch < 1 || epoch > 2 || !ks->k[epoch])
		return -ENOKEY;
	*ret = ks->k[epoch];
	return 0;
}

/* Append a change "body-N" to vault at the next seq after *last (mac chained), as host. */
static int append(struct fleet_pg *p, const struct secbuf *k, const char *vault, uint32_t epoch,
		  struct fleet_applied *last, const char *body)
{
	struct fleet_change c = { .seq = last->seq + 1, .epoch = epoch };
	int r;

	str_copy(c.vault, sizeof(c.vault), vault);
	str_copy(c.host, sizeof(c.host), "a");
	c.body = (uint8_t *)body;
	c.body_len = strlen(body);
	assert_int_equal(fleet_change_mac(k, &c, last->mac, c.mac), 0);
	r = fleet_pg_change_insert(p, &c);
	if (r == 0) {
		last->seq = c.seq;
		last->epoch = epoch;
		memcpy(last->mac, c.mac, CRYPTO_MAC_LEN);
	}
	return r;
}

/* Pull vault from applied->seq (or 1) and check: the guard's answer, *good rows. */
static int pull(struct fleet_pg *p, struct keys *ks, const char *vault, struct fleet_applied *a,
		size_t *good)
{
	struct fleet_change *rows = NULL;
	size_t n;
	int r;

	assert_int_equal(fleet_pg_changes_since(p, vault, a->seq ? a->seq : 1, 1000, &rows, &n), 0);
	r = fleet_chain_check(a, rows, n, key_of, ks, good);
	fleet_pg_changes_free(rows, n);
	return r;
}

static void test_chain(void **state)
{
	struct fleet_pg *p = connect_pg();
	_cleanup_free_ struct fleet_host *hosts = NULL;
	_cleanup_secbuf_ struct secbuf *k1 = NULL, *k2 = NULL;
	struct keys ks = { 0 };
	struct fleet_applied w = { 0 }, w2, b = { 0 }, saved;
	uint8_t enc[FLEET_APPLIED_LEN];
	size_t n, good;
	int64_t max;

	(void)state;
	enroll(p, &hosts, &n);
	assert_int_equal(fleet_vault_key_new(&k1), 0);
	assert_int_equal(fleet_vault_key_new(&k2), 0);
	ks.k[1] = k1;
	assert_int_equal(fleet_pg_vault_insert(p, "app", 1), 0);
	for (int i = 1; i <= 5; i++) {
		char body[32];

		snprintf(body, sizeof(body), "body-%d", i);
		assert_int_equal(append(p, k1, "app", 1, &w, body), 0);
	}
	assert_int_equal(fleet_pg_change_max(p, "app", &max), 0);
	assert_int_equal(max, 5);
	{
		_cleanup_free_ struct fleet_pg_vault *v = NULL;
		size_t nv;

		assert_int_equal(fleet_pg_vaults(p, &v, &nv), 0);
		assert_int_equal(nv, 1);
		assert_string_equal(v[0].name, "app");
		assert_int_equal(v[0].epoch, 1);
		assert_int_equal(v[0].max_seq, 5);
	}
	/* a second writer that had not pulled takes seq 5 again: the center refuses */
	w2 = w;
	w2.seq = 4;
	assert_int_equal(append(p, k1, "app", 1, &w2, "late"), -EEXIST);

	/* host b pulls everything: 5 good rows */
	assert_int_equal(pull(p, &ks, "app", &b, &good), 0);
	assert_int_equal(good, 5);
	assert_int_equal(b.seq, 5);
	assert_memory_equal(b.mac, w.mac, CRYPTO_MAC_LEN);
	fleet_applied_encode(&b, enc);
	assert_int_equal(fleet_applied_decode(enc, sizeof(enc), &saved), 0);
	assert_int_equal(saved.seq, 5);
	assert_int_equal(fleet_applied_decode(enc, sizeof(enc) - 1, &saved), -EBADMSG);
	/* nothing new: nothing to do */
	assert_int_equal(pull(p, &ks, "app", &b, &good), 0);
	assert_int_equal(good, 0);

	/* a changed row: the body of seq 6 edited in SQL */
	assert_int_equal(append(p, k1, "app", 1, &w, "body-6"), 0);
	assert_int_equal(append(p, k1, "app", 1, &w, "body-7"), 0);
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.changes SET body = 'body-X' "
					  "WHERE vault = 'app' AND seq = 6"),
			 0);
	saved = b;
	assert_int_equal(pull(p, &ks, "app", &b, &good), -EBADMSG);
	assert_int_equal(good, 0);
	assert_int_equal(b.seq, 5);
	assert_memory_equal(b.mac, saved.mac, CRYPTO_MAC_LEN);
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.changes SET body = 'body-6' "
					  "WHERE vault = 'app' AND seq = 6"),
			 0);
	/* a swapped pair: rows 6 and 7 exchanged (each keeps its own body, seq moved) */
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.changes SET seq = -seq "
					  "WHERE vault = 'app' AND seq IN (6, 7)"),
			 -EIO); /* seq > 0 is checked: go through a spare number */
	assert_int_equal(fleet_pg_exec(p, "BEGIN; "
					  "UPDATE vaultfs.changes SET seq = 1000 WHERE vault = "
					  "'app' AND seq = 6; "
					  "UPDATE vaultfs.changes SET seq = 6 WHERE vault = 'app' "
					  "AND seq = 7; "
					  "UPDATE vaultfs.changes SET seq = 7 WHERE vault = 'app' "
					  "AND seq = 1000; COMMIT"),
			 0);
	assert_int_equal(pull(p, &ks, "app", &b, &good), -EBADMSG);
	assert_int_equal(good, 0);
	assert_int_equal(b.seq, 5);
	/* and the bodies swapped between the rows instead */
	assert_int_equal(fleet_pg_exec(p, "BEGIN; "
					  "UPDATE vaultfs.changes SET seq = 1000 WHERE vault = "
					  "'app' AND seq = 6; "
					  "UPDATE vaultfs.changes SET seq = 6 WHERE vault = 'app' "
					  "AND seq = 7; "
					  "UPDATE vaultfs.changes SET seq = 7 WHERE vault = 'app' "
					  "AND seq = 1000; COMMIT"),
			 0);
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.changes SET body = CASE seq WHEN 6 "
					  "THEN 'body-7'::bytea ELSE 'body-6'::bytea END "
					  "WHERE vault = 'app' AND seq IN (6, 7)"),
			 0);
	assert_int_equal(pull(p, &ks, "app", &b, &good), -EBADMSG);
	assert_int_equal(b.seq, 5);
	assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.changes SET body = CASE seq WHEN 6 "
					  "THEN 'body-6'::bytea ELSE 'body-7'::bytea END "
					  "WHERE vault = 'app' AND seq IN (6, 7)"),
			 0);
	/* restored: both apply */
	saved = b;
	assert_int_equal(pull(p, &ks, "app", &b, &good), 0);
	assert_int_equal(good, 2);
	assert_int_equal(b.seq, 7);

	/* a dropped row: 9 of 8, 9, 10 deleted; 8 applies, then the gap is refused */
	assert_int_equal(append(p, k1, "app", 1, &w, "body-8"), 0);
	assert_int_equal(append(p, k1, "app", 1, &w, "body-9"), 0);
	assert_int_equal(append(p, k1, "app", 1, &w, "body-10"), 0);
	assert_int_equal(fleet_pg_exec(p, "DELETE FROM vaultfs.changes WHERE vault = 'app' "
					  "AND seq = 9"),
			 0);
	assert_int_equal(pull(p, &ks, "app", &b, &good), -EBADMSG);
	assert_int_equal(good, 1);
	assert_int_equal(b.seq, 8);

	/* rolled back: the center restored to seq 6 (rows 7.. gone), or the applied row itself
	 * replaced by another with a valid MAC of its own (a fork) */
	assert_int_equal(fleet_pg_exec(p, "DELETE FROM vaultfs.changes WHERE vault = 'app' "
					  "AND seq > 6"),
			 0);
	saved = b;
	assert_int_equal(pull(p, &ks, "app", &b, &good), -ESTALE);
	assert_int_equal(good, 0);
	assert_int_equal(b.seq, 8);
	{ /* a row 8 of its own after row 7 (a fork) */
		struct fleet_applied f = { .seq = 7, .epoch = 1 };

		assert_int_equal(append(p, k1, "app", 1, &f, "forked-8"), 0);
		assert_int_equal(pull(p, &ks, "app", &b, &good), -ESTALE);
		assert_int_equal(b.seq, 8);
	}

	/* an old epoch after a newer one: a row under epoch 1's key after epoch 2 began */
	ks.k[2] = k2;
	assert_int_equal(fleet_pg_vault_insert(p, "web", 1), 0);
	memset(&w, 0, sizeof(w));
	b = (struct fleet_applied){ 0 };
	assert_int_equal(append(p, k1, "web", 1, &w, "one"), 0);
	assert_int_equal(append(p, k2, "web", 2, &w, "rekey"), 0);
	assert_int_equal(append(p, k1, "web", 1, &w, "old key"), 0);
	assert_int_equal(pull(p, &ks, "web", &b, &good), -EKEYREVOKED);
	assert_int_equal(good, 2);
	assert_int_equal(b.seq, 2);
	assert_int_equal(b.epoch, 2);
	/* a row whose epoch's key this host lacks */
	ks.k[2] = NULL;
	b = (struct fleet_applied){ 0 };
	assert_int_equal(pull(p, &ks, "web", &b, &good), -ENOKEY);
	assert_int_equal(good, 1);
	/* once the center's epoch moved (a rekey), a row of the old key is not taken: a host
	 * that read the epoch before cannot put it after the rekey (-EEXIST: pull, build again) */
	assert_int_equal(fleet_pg_vault_set_epoch(p, "web", 3), 0);
	assert_int_equal(append(p, k1, "web", 1, &w, "late"), -EEXIST);
	assert_int_equal(append(p, k2, "web", 2, &w, "late"), -EEXIST);
	assert_int_equal(fleet_pg_vault_set_epoch(p, "web", 2), 0);
	assert_int_equal(append(p, k2, "web", 2, &w, "on time"), 0);
	/* a host name the center made up (a newline, an escape) is no row: it would go into the
	 * log and the journal before any MAC is checked */
	{
		struct fleet_change *rows = NULL;
		_cleanup_free_ struct fleet_host *hs = NULL;
		size_t nr;

		assert_int_equal(fleet_pg_exec(p,
					       "UPDATE vaultfs.changes SET host = E'a\\n\\x1b[2J' "
					       "WHERE vault = 'web' AND seq = 1"),
				 0);
		assert_int_equal(fleet_pg_changes_since(p, "web", 1, 10, &rows, &nr), -EBADMSG);
		assert_int_equal(fleet_pg_exec(p, "UPDATE vaultfs.hosts SET approved_by = E'x\\ny' "
						  "WHERE name = 'b'"),
				 0);
		assert_int_equal(fleet_pg_hosts(p, &hs, &nr), -EBADMSG);
	}
	fleet_pg_free(p);
}

static void test_body(void **state)
{
	_cleanup_secbuf_ struct secbuf *k = NULL, *k2 = NULL, *m = NULL, *got = NULL;
	_cleanup_free_ uint8_t *sealed = NULL;
	struct fleet_body b = { .op = FLEET_OP_SET,
				.kind = 1,
				.name = "db-password",
				.version = 3,
				.enabled = true,
				.not_before = 1700000000,
				.expires = 1800000000,
				.content_type = "text/plain",
				.tags = "env=prod\nowner=ops\n" },
			  back;
	uint8_t *p;
	size_t n;

	(void)state;
	assert_int_equal(fleet_vault_key_new(&k), 0);
	assert_int_equal(fleet_vault_key_new(&k2), 0);
	assert_int_equal(secbuf_dup("s3cret value", 12, &m), 0);
	assert_int_equal(fleet_body_seal(k, "app", 2, &b, m, &sealed, &n), 0);
	assert_null(memmem(sealed, n, "s3cret", 6)); /* the value never in the clear */
	assert_non_null(memmem(sealed, n, "db-password", 11));
	assert_int_equal(fleet_body_open(k, "app", 2, sealed, n, &back, &got), 0);
	assert_int_equal(back.op, FLEET_OP_SET);
	assert_int_equal(back.kind, 1);
	assert_string_equal(back.name, "db-password");
	assert_int_equal(back.version, 3);
	assert_true(back.enabled);
	assert_int_equal(back.not_before, 1700000000);
	assert_int_equal(back.expires, 1800000000);
	assert_string_equal(back.content_type, "text/plain");
	assert_string_equal(back.tags, "env=prod\nowner=ops\n");
	assert_int_equal(got->len, 12);
	assert_memory_equal(got->data, "s3cret value", 12);
	secbuf_free(got);
	got = NULL;
	/* moved to another vault, epoch or key: does not open */
	assert_int_equal(fleet_body_open(k, "web", 2, sealed, n, &back, &got), -EBADMSG);
	assert_int_equal(fleet_body_open(k, "app", 1, sealed, n, &back, &got), -EBADMSG);
	assert_int_equal(fleet_body_open(k2, "app", 2, sealed, n, &back, &got), -EBADMSG);
	/* the name changed in the clear: another object's AAD */
	p = memmem(sealed, n, "db-password", 11);
	p[0] = 'x';
	assert_int_equal(fleet_body_open(k, "app", 2, sealed, n, &back, &got), -EBADMSG);
	p[0] = 'd';
	/* the version changed */
	sealed[9] ^= 1;
	assert_int_equal(fleet_body_open(k, "app", 2, sealed, n, &back, &got), -EBADMSG);
	sealed[9] ^= 1;
	/* cut short, or a byte after the end */
	assert_int_equal(fleet_body_open(k, "app", 2, sealed, n - 1, &back, &got), -EBADMSG);
	sealed = realloc(sealed, n + 1);
	assert_non_null(sealed);
	sealed[n] = 0;
	assert_int_equal(fleet_body_open(k, "app", 2, sealed, n + 1, &back, &got), -EBADMSG);
	assert_int_equal(fleet_body_open(k, "app", 2, sealed, 3, &back, &got), -EBADMSG);
	free(sealed);
	sealed = NULL;

	/* shapes */
	assert_int_equal(fleet_body_seal(k, "app", 2, &b, NULL, &sealed, &n), -EINVAL);
	b.op = FLEET_OP_DELETE;
	assert_int_equal(fleet_body_seal(k, "app", 2, &b, m, &sealed, &n), -EINVAL);
	b.op = 99;
	assert_int_equal(fleet_body_seal(k, "app", 2, &b, NULL, &sealed, &n), -EINVAL);
	b.op = FLEET_OP_SET;
	str_copy(b.name, sizeof(b.name), ".hidden");
	assert_int_equal(fleet_body_seal(k, "app", 2, &b, m, &sealed, &n), -EINVAL);
	assert_int_equal(fleet_body_seal(k, "app", 0, &b, m, &sealed, &n), -EINVAL);
	/* a host removed: no material, the host's name */
	b = (struct fleet_body){ .op = FLEET_OP_REVOKE, .host = "web-3" };
	assert_int_equal(fleet_body_seal(k, "app", 2, &b, NULL, &sealed, &n), 0);
	assert_int_equal(fleet_body_open(k, "app", 2, sealed, n, &back, &got), 0);
	assert_int_equal(back.op, FLEET_OP_REVOKE);
	assert_string_equal(back.host, "web-3");
	assert_null(got);
	free(sealed);
	sealed = NULL;
	/* an empty value */
	b = (struct fleet_body){ .op = FLEET_OP_SET, .kind = 1, .name = "e", .version = 1 };
	secbuf_free(m);
	assert_int_equal(secbuf_new(16, &m), 0);
	assert_int_equal(fleet_body_seal(k, "app", 1, &b, m, &sealed, &n), 0);
	assert_int_equal(fleet_body_open(k, "app", 1, sealed, n, &back, &got), 0);
	assert_int_equal(got->len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),	  cmocka_unit_test(test_center),
		cmocka_unit_test(test_host_keys), cmocka_unit_test(test_trust),
		cmocka_unit_test(test_grants),	  cmocka_unit_test(test_chain),
		cmocka_unit_test(test_body),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
