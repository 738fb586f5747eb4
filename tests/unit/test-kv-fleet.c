/* test-kv-fleet.c: a fleet vault's local side (core/kv-fleet.c) over a real store: the mark
 * (a vault in a fleet or not), change bodies sealed and opened as the center carries them and
 * applied in order (a new secret, a new version, its attributes, delete, recover, purge, a
 * rekey that changes no object), each moving the applied state; an apply from a stale state,
 * out of order, or of a version that is not the next refused with nothing changed; the applied
 * row changed behind kv's back refused wherever it is read; keys and certificates travel as
 * secrets do (applied on a second store, the key signs there), a TPM-bound key does not; a
 * local vault's contents as the rows that make them. Changes made through kv's own calls go
 * through the hook (the center) for a fleet vault, are refused
 * without it, and never for a local vault. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fleet.h"
#include "core/kv-fleet.h"
#include "core/kv.h"
#include "core/secbuf.h"
#include "core/store.h"
#include "tests/unit/testlib.h"

static int setup(void **state)
{
	*state = test_kv_new(1000, (const char *const[]){ "app", "local", NULL });
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	test_kv_free(*state);
	return 0;
}

static int sql(struct test_kv *f, const char *q)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "sqlite3 %s/vault.db \"%s\"", f->dir, q);
	return system(cmd);
}

/* The next applied state after a (a made-up chain MAC: kv does not check it, fleet.c does). */
static struct fleet_applied next(const struct fleet_applied *a, uint32_t epoch)
{
	struct fleet_applied n = { .seq = a->seq + 1, .epoch = epoch };

	test_fill(n.mac, sizeof(n.mac), (unsigned)n.seq);
	return n;
}

/* Seal b (and value) under vkey as a change row carries it, open it, apply it. */
static int apply(struct test_kv *f, const struct secbuf *vkey, struct fleet_applied *a,
		 const struct fleet_body *b, const char *value)
{
	struct secbuf *m = NULL, *opened = NULL;
	struct fleet_body got;
	struct fleet_applied to = next(a, a->epoch ? a->epoch : 1);
	uint8_t *body = NULL;
	size_t n;
	int r;

	if (value)
		assert_int_equal(secbuf_dup(value, strlen(value), &m), 0);
	assert_int_equal(fleet_body_seal(vkey, "app", to.epoch, b, m, &body, &n), 0);
	assert_int_equal(fleet_body_open(vkey, "app", to.epoch, body, n, &got, &opened), 0);
	r = kv_fleet_apply(f->kv, "app", a, &to, &got, opened);
	if (r >= 0)
		*a = to;
	free(body);
	secbuf_free(m);
	secbuf_free(opened);
	return r;
}

static void assert_value(struct test_kv *f, const char *name, uint32_t version, const char *want)
{
	struct secbuf *v = NULL;
	struct kv_version_info i;

	assert_int_equal(kv_secret_get(f->kv, "app", name, version, &v, &i), 0);
	assert_int_equal(v->len, strlen(want));
	assert_memory_equal(v->data, want, v->len);
	secbuf_free(v);
}

static void assert_applied(struct test_kv *f, const struct fleet_applied *want)
{
	struct fleet_applied got;

	assert_int_equal(kv_fleet_applied(f->kv, "app", &got), 0);
	assert_int_equal(got.seq, want->seq);
	assert_int_equal(got.epoch, want->epoch);
	assert_memory_equal(got.mac, want->mac, sizeof(got.mac));
}

static void test_mark(void **state)
{
	struct test_kv *f = *state;
	struct fleet_applied a;

	assert_int_equal(kv_fleet_is(f->kv, "app"), 0);
	assert_int_equal(kv_fleet_applied(f->kv, "app", &a), -ENOENT);
	assert_int_equal(kv_fleet_mark(f->kv, "app"), 0);
	assert_int_equal(kv_fleet_is(f->kv, "app"), 1);
	assert_int_equal(kv_fleet_is(f->kv, "local"), 0);
	assert_int_equal(kv_fleet_is(f->kv, "nope"), -ENOENT);
	assert_int_equal(kv_fleet_mark(f->kv, "nope"), -ENOENT);
	assert_int_equal(kv_fleet_applied(f->kv, "app", &a), 0);
	assert_int_equal(a.seq, 0);
	assert_int_equal(a.epoch, 0);
	/* marking again keeps what was applied */
	assert_int_equal(sql(f, "UPDATE fleet_applied SET updated = updated"), 0);
	assert_int_equal(kv_fleet_mark(f->kv, "app"), 0);
	assert_int_equal(kv_fleet_is(f->kv, "app"), 1);
}

static void test_apply_ops(void **state)
{
	struct test_kv *f = *state;
	struct secbuf *vkey = NULL;
	struct fleet_applied a = { 0 };
	struct fleet_body b = { .op = FLEET_OP_SET,
				.kind = OBJECT_SECRET,
				.name = "db",
				.version = 1,
				.enabled = true,
				.content_type = "text/plain",
				.tags = "env=prod\nteam=a\n" };
	struct kv_version_info i;
	struct kv_object_info oi;

	assert_int_equal(fleet_vault_key_new(&vkey), 0);
	assert_int_equal(kv_fleet_mark(f->kv, "app"), 0);
	assert_int_equal(apply(f, vkey, &a, &b, "first"), 0);
	assert_applied(f, &a);
	assert_value(f, "db", 1, "first");
	assert_int_equal(kv_secret_info(f->kv, "app", "db", 1, &i), 0);
	assert_string_equal(i.content_type, "text/plain");
	assert_string_equal(i.tags, "env=prod\nteam=a\n");
	b.version = 2;
	assert_int_equal(apply(f, vkey, &a, &b, "second"), 0);
	assert_value(f, "db", 0, "second");
	assert_value(f, "db", 1, "first");

	/* attributes of version 1 */
	b.op = FLEET_OP_UPDATE, b.version = 1, b.enabled = false, b.tags[0] = '\0';
	assert_int_equal(apply(f, vkey, &a, &b, NULL), 0);
	assert_int_equal(kv_secret_info(f->kv, "app", "db", 1, &i), 0);
	assert_false(i.enabled);
	assert_string_equal(i.tags, "");

	/* delete, recover, delete, purge */
	b = (struct fleet_body){ .op = FLEET_OP_DELETE, .kind = OBJECT_SECRET, .name = "db" };
	assert_int_equal(apply(f, vkey, &a, &b, NULL), 0);
	assert_int_equal(kv_secret_lookup(f->kv, "app", "db", &oi), 0);
	assert_true(oi.deleted_at > 0);
	b.op = FLEET_OP_RECOVER;
	assert_int_equal(apply(f, vkey, &a, &b, NULL), 0);
	assert_value(f, "db", 0, "second");
	b.op = FLEET_OP_DELETE;
	assert_int_equal(apply(f, vkey, &a, &b, NULL), 0);
	b.op = FLEET_OP_PURGE;
	assert_int_equal(apply(f, vkey, &a, &b, NULL), 0);
	b.op = FLEET_OP_RECOVER;
	assert_int_equal(apply(f, vkey, &a, &b, NULL), -ENOENT);

	/* a rekey changes no object, only the state (the new epoch) */
	b = (struct fleet_body){ .op = FLEET_OP_REKEY };
	a.epoch = 2;
	assert_int_equal(apply(f, vkey, &a, &b, NULL), -ESTALE); /* applied epoch is 1 */
	a.epoch = 1;
	{
		struct fleet_applied to = next(&a, 2);

		assert_int_equal(kv_fleet_apply(f->kv, "app", &a, &to, &b, NULL), 0);
		a = to;
	}
	assert_applied(f, &a);
	assert_int_equal(a.seq, 8);
	secbuf_free(vkey);
}

/* Nothing changes for an apply that is refused: stale state, out of order, a version that is
 * not the next, a kind that does not travel, a local vault. */
static void test_refused(void **state)
{
	struct test_kv *f = *state;
	struct secbuf *vkey = NULL;
	struct fleet_applied a = { 0 }, stale = { 0 }, to;
	struct fleet_body b = { .op = FLEET_OP_SET,
				.kind = OBJECT_SECRET,
				.name = "db",
				.version = 1,
				.enabled = true };
	struct secbuf *m = NULL;
	struct kv_object_info oi;

	assert_int_equal(fleet_vault_key_new(&vkey), 0);
	assert_int_equal(secbuf_dup("x", 1, &m), 0);
	assert_int_equal(kv_fleet_mark(f->kv, "app"), 0);
	assert_int_equal(apply(f, vkey, &a, &b, "one"), 0);

	to = next(&stale, 1);
	b.version = 2;
	assert_int_equal(kv_fleet_apply(f->kv, "app", &stale, &to, &b, m), -ESTALE);
	to = next(&a, 1);
	to.seq++;
	assert_int_equal(kv_fleet_apply(f->kv, "app", &a, &to, &b, m), -EINVAL);
	b.version = 3; /* version 2 is the next */
	assert_int_equal(apply(f, vkey, &a, &b, "three"), -ESTALE);
	b.version = 2;
	b.kind = OBJECT_KEY;
	to = next(&a, 1);
	assert_int_equal(kv_fleet_apply(f->kv, "app", &a, &to, &b, m), -EINVAL);
	b.kind = OBJECT_SECRET;
	assert_int_equal(kv_fleet_apply(f->kv, "local", &a, &to, &b, m), -ENOENT);
	assert_int_equal(kv_secret_lookup(f->kv, "local", "db", &oi), -ENOENT);
	assert_applied(f, &a);
	assert_value(f, "db", 0, "one");
	assert_int_equal(apply(f, vkey, &a, &b, "two"), 0);
	assert_value(f, "db", 0, "two");
	secbuf_free(m);
	secbuf_free(vkey);
}

/* The applied row changed behind kv's back (seq set back, or its row moved to another vault)
 * is refused wherever it is read, and nothing is applied over it. */
static void test_tampered(void **state)
{
	struct test_kv *f = *state;
	struct secbuf *vkey = NULL;
	struct fleet_applied a = { 0 }, got;
	struct fleet_body b = { .op = FLEET_OP_SET,
				.kind = OBJECT_SECRET,
				.name = "db",
				.version = 1,
				.enabled = true };

	assert_int_equal(fleet_vault_key_new(&vkey), 0);
	assert_int_equal(kv_fleet_mark(f->kv, "app"), 0);
	assert_int_equal(apply(f, vkey, &a, &b, "one"), 0);
	assert_int_equal(sql(f, "UPDATE fleet_applied SET seq = 0"), 0);
	assert_int_equal(kv_fleet_applied(f->kv, "app", &got), -EBADMSG);
	assert_int_equal(kv_fleet_is(f->kv, "app"), -EBADMSG);
	b.version = 2;
	assert_int_equal(apply(f, vkey, &a, &b, "two"), -EBADMSG);
	assert_int_equal(kv_fleet_mark(f->kv, "app"), -EBADMSG);
	assert_int_equal(sql(f, "UPDATE fleet_applied SET seq = 1"), 0);
	assert_int_equal(kv_fleet_applied(f->kv, "app", &got), 0);
	/* the row moved to the local vault: it does not make that one a fleet vault */
	assert_int_equal(sql(f, "UPDATE fleet_applied SET vault_id = "
				"(SELECT id FROM vaults WHERE name = 'local')"),
			 0);
	assert_int_equal(kv_fleet_is(f->kv, "local"), -EBADMSG);
	assert_int_equal(kv_fleet_is(f->kv, "app"), 0);
	secbuf_free(vkey);
}

/* A center of one: the hook applies each body at once (after saying -EAGAIN `again` times, as
 * when other hosts' changes came first), or refuses with err. */
struct center {
	struct kv *kv;
	int err;
	unsigned again, calls;
	struct fleet_body last;
};

static int commit(void *ud, const char *vault, const struct fleet_body *b,
		  const struct secbuf *material)
{
	struct center *c = ud;
	struct fleet_applied from, to;
	int r;

	c->calls++;
	if (c->err)
		return c->err;
	if (c->again) {
		c->again--;
		return -EAGAIN;
	}
	c->last = *b;
	r = kv_fleet_applied(c->kv, vault, &from);
	if (r < 0)
		return r;
	to = next(&from, 1);
	return kv_fleet_apply(c->kv, vault, &from, &to, b, material);
}

/* Changes to a fleet vault go through the hook, as every caller of kv makes them; without it
 * (or with the center away) they are refused and nothing changes; a local vault does not go
 * near it; reads never do. */
static void test_route(void **state)
{
	struct test_kv *f = *state;
	struct center c = { .kv = f->kv };
	struct kv_attrs a = KV_ATTRS_KEEP;
	struct fleet_applied got;
	struct kv_version_info i;
	uint32_t ver = 0;

	assert_int_equal(kv_fleet_mark(f->kv, "app"), 0);
	assert_int_equal(kv_secret_set(f->kv, "app", "db", "v1", 2, NULL, &ver), -EHOSTDOWN);
	assert_int_equal(kv_secret_info(f->kv, "app", "db", 0, &i), -ENOENT);
	assert_int_equal(kv_secret_set(f->kv, "local", "db", "l1", 2, NULL, &ver), 0);
	assert_int_equal(ver, 1);

	kv_fleet_hook(f->kv, commit, &c);
	c.err = -EHOSTDOWN;
	assert_int_equal(kv_secret_set(f->kv, "app", "db", "v1", 2, NULL, &ver), -EHOSTDOWN);
	assert_int_equal(kv_secret_info(f->kv, "app", "db", 0, &i), -ENOENT);
	c.err = 0;
	c.again = 2;
	a.content_type = "text/plain";
	assert_int_equal(kv_secret_set(f->kv, "app", "db", "v1", 2, &a, &ver), 0);
	assert_int_equal(ver, 1);
	assert_int_equal(c.calls, 4);
	assert_int_equal(c.last.op, FLEET_OP_SET);
	assert_int_equal(c.last.version, 1);
	assert_true(c.last.enabled);
	assert_string_equal(c.last.content_type, "text/plain");
	assert_value(f, "db", 0, "v1");
	assert_int_equal(kv_secret_set(f->kv, "app", "db", "v2", 2, NULL, &ver), 0);
	assert_int_equal(ver, 2);
	assert_value(f, "db", 0, "v2");
	assert_int_equal(kv_fleet_applied(f->kv, "app", &got), 0);
	assert_int_equal(got.seq, 2);

	/* reads and the local vault never call the hook */
	c.calls = 0;
	assert_value(f, "db", 1, "v1");
	assert_int_equal(kv_secret_set(f->kv, "local", "db", "l2", 2, NULL, &ver), 0);
	assert_int_equal(kv_secret_delete(f->kv, "local", "db"), 0);
	assert_int_equal(c.calls, 0);

	a = (struct kv_attrs)KV_ATTRS_KEEP;
	a.enabled = 0;
	assert_int_equal(kv_secret_update(f->kv, "app", "db", 1, &a), 0);
	assert_int_equal(c.last.op, FLEET_OP_UPDATE);
	assert_int_equal(c.last.version, 1);
	assert_string_equal(c.last.content_type, "text/plain"); /* kept: the body is whole */
	assert_int_equal(kv_secret_info(f->kv, "app", "db", 1, &i), 0);
	assert_false(i.enabled);
	assert_int_equal(kv_secret_recover(f->kv, "app", "db"), -ENOENT); /* not deleted */
	assert_int_equal(kv_secret_delete(f->kv, "app", "db"), 0);
	assert_int_equal(c.last.op, FLEET_OP_DELETE);
	assert_int_equal(kv_secret_set(f->kv, "app", "db", "v3", 2, NULL, &ver), -EEXIST);
	assert_int_equal(kv_secret_recover(f->kv, "app", "db"), 0);
	assert_int_equal(kv_secret_delete(f->kv, "app", "db"), 0);
	assert_int_equal(kv_secret_purge(f->kv, "app", "db"), 0);
	assert_int_equal(c.last.op, FLEET_OP_PURGE);
	assert_int_equal(kv_fleet_applied(f->kv, "app", &got), 0);
	assert_int_equal(got.seq, 7);

	/* a restore does not travel: refused in a fleet vault, taken in a local one */
	{
		struct secbuf *blob = NULL;
		char name[VAULTFS_NAME_MAX + 1];

		assert_int_equal(kv_secret_set(f->kv, "local", "r", "x", 1, NULL, &ver), 0);
		assert_int_equal(kv_secret_backup(f->kv, "local", "r", &blob), 0);
		assert_int_equal(kv_secret_restore(f->kv, "app", blob->data, blob->len, name),
				 -EOPNOTSUPP);
		assert_int_equal(kv_secret_info(f->kv, "app", "r", 0, &i), -ENOENT);
		assert_int_equal(kv_secret_delete(f->kv, "local", "r"), 0);
		assert_int_equal(kv_secret_purge(f->kv, "local", "r"), 0);
		assert_int_equal(kv_secret_restore(f->kv, "local", blob->data, blob->len, name), 0);
		secbuf_free(blob);
	}

	/* the center away: refused, nothing changed */
	c.err = -EHOSTDOWN;
	assert_int_equal(kv_secret_set(f->kv, "app", "db", "v4", 2, NULL, &ver), -EHOSTDOWN);
	assert_int_equal(kv_secret_info(f->kv, "app", "db", 0, &i), -ENOENT);
	assert_int_equal(kv_fleet_applied(f->kv, "app", &got), 0);
	assert_int_equal(got.seq, 7);
	kv_fleet_hook(f->kv, NULL, NULL);
}

/* What a host's commits carried: bodies and material, to be applied on another host. */
struct carried {
	struct kv *kv;
	struct fleet_body b[8];
	struct secbuf *m[8];
	unsigned n;
};

static int commit_carry(void *ud, const char *vault, const struct fleet_body *b,
			const struct secbuf *material)
{
	struct carried *c = ud;
	struct fleet_applied from, to;
	int r;

	r = kv_fleet_applied(c->kv, vault, &from);
	if (r < 0)
		return r;
	to = next(&from, 1);
	r = kv_fleet_apply(c->kv, vault, &from, &to, b, material);
	if (r >= 0 && c->n < 8) {
		c->b[c->n] = *b;
		if (material)
			assert_int_equal(secbuf_dup(material->data, material->len, &c->m[c->n]), 0);
		c->n++;
	}
	return r;
}

/* Keys and certificates travel as secrets do: a version's whole record (its private material
 * sealed under the fleet vault key in the body, its public parts and attributes), applied on
 * another host, where the key signs and the certificate reads as on the first; a key bound to
 * one host's TPM does not (refused before the center, nothing made). */
static void test_keys_and_certs_travel(void **state)
{
	struct test_kv *f = *state, *g;
	struct carried c = { .kv = f->kv };
	const struct kv_key_spec spec = { .type = KEY_EC_P256,
					  .protection = KEY_PROTECTION_SOFTWARE };
	const struct kv_key_spec tpm = { .type = KEY_EC_P256, .protection = KEY_PROTECTION_TPM };
	const struct kv_cert_policy pol = { .subject = "CN=Fleet Root",
					    .key_type = KEY_EC_P256,
					    .protection = KEY_PROTECTION_SOFTWARE,
					    .validity = 3650 * 86400LL,
					    .key_usage = X509_KU_KEY_CERT_SIGN,
					    .issuer = KV_CERT_SELF,
					    .is_ca = true,
					    .path_len = -1 };
	struct kv_key_public pa, pb;
	struct kv_cert_info ia = {}, ib = {};
	struct fleet_applied a = { 0 };
	struct secbuf *vkey = NULL;
	uint8_t digest[32], sig[256];
	size_t siglen = sizeof(sig);
	struct kv_version_info i;
	uint32_t ver = 0;

	g = test_kv_new(1000, (const char *const[]){ "app", NULL });
	assert_non_null(g);
	assert_int_equal(fleet_vault_key_new(&vkey), 0);
	assert_int_equal(kv_fleet_mark(f->kv, "app"), 0);
	assert_int_equal(kv_fleet_mark(g->kv, "app"), 0);
	kv_fleet_hook(f->kv, commit_carry, &c);

	assert_int_equal(kv_key_create(f->kv, NULL, "app", "k", &spec, NULL, &ver), 0);
	assert_int_equal(ver, 1);
	assert_int_equal(kv_cert_create(f->kv, NULL, "app", "root", &pol, &ver), 0);
	assert_int_equal(ver, 1);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.b[0].kind, OBJECT_KEY);
	assert_int_equal(c.b[1].kind, OBJECT_CERT);
	/* a TPM key: refused before the center, nothing made */
	assert_int_equal(kv_key_create(f->kv, test_tcti(), "app", "t", &tpm, NULL, &ver),
			 -EOPNOTSUPP);
	assert_int_equal(c.n, 2);
	assert_int_equal(kv_key_public(f->kv, "app", "t", 0, &pa), -ENOENT);

	/* on the other host: sealed and opened as the center carries them, applied */
	for (unsigned k = 0; k < c.n; k++) {
		struct secbuf *opened = NULL;
		struct fleet_applied to = next(&a, 1);
		struct fleet_body b;
		uint8_t *body = NULL;
		size_t len = 0;

		assert_int_equal(fleet_body_seal(vkey, "app", 1, &c.b[k], c.m[k], &body, &len), 0);
		assert_int_equal(fleet_body_open(vkey, "app", 1, body, len, &b, &opened), 0);
		assert_int_equal(kv_fleet_apply(g->kv, "app", &a, &to, &b, opened), 0);
		a = to;
		free(body);
		secbuf_free(opened);
		secbuf_free(c.m[k]);
	}
	assert_int_equal(kv_key_public(f->kv, "app", "k", 0, &pa), 0);
	assert_int_equal(kv_key_public(g->kv, "app", "k", 0, &pb), 0);
	assert_int_equal(pa.spki_len, pb.spki_len);
	assert_memory_equal(pa.spki, pb.spki, pa.spki_len);
	test_fill(digest, sizeof(digest), 7);
	assert_int_equal(kv_key_sign(g->kv, NULL, "app", "k", 0, KEY_ALG_ES256, digest,
				     sizeof(digest), sig, &siglen, &ver),
			 0);
	assert_int_equal(kv_key_verify(f->kv, "app", "k", 0, KEY_ALG_ES256, digest, sizeof(digest),
				       sig, siglen),
			 0);
	assert_int_equal(kv_cert_get(f->kv, "app", "root", 0, &ia), 0);
	assert_int_equal(kv_cert_get(g->kv, "app", "root", 0, &ib), 0);
	assert_int_equal(ib.version, 1);
	assert_false(ib.pending);
	assert_int_equal(kv_secret_info(g->kv, "app", "k", 0, &i),
			 -ENOENT); /* a key, not a secret */
	kv_cert_info_done(&ia);
	kv_cert_info_done(&ib);
	kv_fleet_hook(f->kv, NULL, NULL);
	secbuf_free(vkey);
	test_kv_free(g);
}

static int carry_row(void *ud, const struct fleet_body *b, const struct secbuf *material)
{
	struct carried *c = ud;

	assert_true(c->n < 8);
	c->b[c->n] = *b;
	if (material)
		assert_int_equal(secbuf_dup(material->data, material->len, &c->m[c->n]), 0);
	c->n++;
	return 0;
}

/* A local vault's contents as the rows that make them (each version, a deletion after), applied
 * on another store: the same objects; the first store's applied state moves with a skip, its
 * objects untouched; a TPM-bound key cannot travel, so the vault cannot enter. */
static void test_contents(void **state)
{
	struct test_kv *f = *state, *g;
	struct carried c = { 0 };
	const struct kv_key_spec tpm = { .type = KEY_EC_P256, .protection = KEY_PROTECTION_TPM };
	struct fleet_applied a = { 0 }, got;
	struct kv_version_info i;
	uint32_t ver;

	g = test_kv_new(1000, (const char *const[]){ "local", NULL });
	assert_non_null(g);
	assert_int_equal(kv_secret_set(f->kv, "local", "db", "one", 3, NULL, &ver), 0);
	assert_int_equal(kv_secret_set(f->kv, "local", "db", "two", 3, NULL, &ver), 0);
	assert_int_equal(kv_secret_set(f->kv, "local", "gone", "g", 1, NULL, &ver), 0);
	assert_int_equal(kv_secret_delete(f->kv, "local", "gone"), 0);
	assert_int_equal(kv_fleet_contents(f->kv, "local", carry_row, &c), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.b[0].op, FLEET_OP_SET);
	assert_string_equal(c.b[0].name, "db");
	assert_int_equal(c.b[1].version, 2);
	assert_int_equal(c.b[3].op, FLEET_OP_DELETE);
	assert_string_equal(c.b[3].name, "gone");

	assert_int_equal(kv_fleet_mark(g->kv, "local"), 0);
	assert_int_equal(kv_fleet_mark(f->kv, "local"), 0);
	for (unsigned k = 0; k < c.n; k++) {
		struct fleet_applied to = next(&a, 1);

		assert_int_equal(kv_fleet_apply(g->kv, "local", &a, &to, &c.b[k], c.m[k]), 0);
		assert_int_equal(kv_fleet_skip(f->kv, "local", &a, &to), 0);
		assert_int_equal(kv_fleet_skip(f->kv, "local", &a, &to), -ESTALE);
		a = to;
		secbuf_free(c.m[k]);
	}
	assert_int_equal(kv_fleet_applied(f->kv, "local", &got), 0);
	assert_int_equal(got.seq, 4);
	assert_int_equal(kv_secret_info(g->kv, "local", "db", 0, &i), 0);
	assert_int_equal(i.version, 2);
	assert_int_equal(kv_secret_info(g->kv, "local", "gone", 0, &i), -ENOENT);
	assert_int_equal(kv_secret_info(f->kv, "local", "db", 0, &i), 0);
	assert_int_equal(i.version, 2);

	/* a TPM-bound key in a local vault: its contents cannot travel */
	assert_int_equal(kv_key_create(f->kv, test_tcti(), "app", "t", &tpm, NULL, &ver), 0);
	c.n = 0;
	assert_int_equal(kv_fleet_contents(f->kv, "app", carry_row, &c), -EOPNOTSUPP);
	test_kv_free(g);
}

/* A REVOKE row applied: its host is remembered as removed in the store (sticky: the center's
 * columns do not matter), and the vault is fenced at the row's epoch: no row of that epoch but
 * another removal, no change made here (not even handed to the hook), until the REKEY's row
 * of the next epoch. */
static void test_revoke_fence(void **state)
{
	struct test_kv *f = *state;
	struct secbuf *vkey = NULL;
	struct fleet_applied a = { 0 }, to;
	struct fleet_body b = { .op = FLEET_OP_SET,
				.kind = OBJECT_SECRET,
				.name = "db",
				.version = 1,
				.enabled = true };
	struct fleet_body rv = { .op = FLEET_OP_REVOKE, .host = "web-3" };
	struct fleet_host hosts[3] = { { .name = "a" }, { .name = "web-3" }, { .name = "c" } };
	struct center c = { .kv = f->kv };
	struct store *s = NULL;
	char path[512];
	uint32_t ver;

	assert_int_equal(fleet_vault_key_new(&vkey), 0);
	assert_int_equal(kv_fleet_mark(f->kv, "app"), 0);
	assert_int_equal(apply(f, vkey, &a, &b, "one"), 0);
	snprintf(path, sizeof(path), "%s/vault.db", f->dir);
	assert_int_equal(store_open(path, 0, &s), 0);
	assert_int_equal(fleet_removed_mark(s, hosts, 3), 0);
	assert_false(hosts[1].removed);

	rv.host[0] = '-'; /* not a host name */
	to = next(&a, 1);
	assert_int_equal(kv_fleet_apply(f->kv, "app", &a, &to, &rv, NULL), -EINVAL);
	str_copy(rv.host, sizeof(rv.host), "web-3");
	assert_int_equal(apply(f, vkey, &a, &rv, NULL), 0);
	assert_int_equal(fleet_removed_mark(s, hosts, 3), 0);
	assert_false(hosts[0].removed);
	assert_true(hosts[1].removed);
	assert_false(hosts[2].removed);
	/* the removed host holds K_1: no row of epoch 1 is taken, but another removal */
	b.version = 2;
	assert_int_equal(apply(f, vkey, &a, &b, "two"), -EKEYREVOKED);
	b.op = FLEET_OP_DELETE;
	assert_int_equal(apply(f, vkey, &a, &b, NULL), -EKEYREVOKED);
	str_copy(rv.host, sizeof(rv.host), "c");
	assert_int_equal(apply(f, vkey, &a, &rv, NULL), 0);
	/* nor is any change made here under it: refused before the hook */
	kv_fleet_hook(f->kv, commit, &c);
	assert_int_equal(kv_secret_set(f->kv, "app", "db", "x", 1, NULL, &ver), -ENOKEY);
	assert_int_equal(c.calls, 0u);
	assert_value(f, "db", 0, "one");
	/* the rekey's row, of epoch 2: rows of 2 are taken, changes made again */
	b = (struct fleet_body){ .op = FLEET_OP_REKEY };
	to = next(&a, 2);
	assert_int_equal(kv_fleet_apply(f->kv, "app", &a, &to, &b, NULL), 0);
	a = to;
	b = (struct fleet_body){ .op = FLEET_OP_SET,
				 .kind = OBJECT_SECRET,
				 .name = "db",
				 .version = 2,
				 .enabled = true };
	assert_int_equal(apply(f, vkey, &a, &b, "two"), 0);
	assert_value(f, "db", 0, "two");
	c.err = -EHOSTDOWN; /* the hook is asked again (this center of one seals at epoch 1) */
	assert_int_equal(kv_secret_set(f->kv, "app", "db", "x", 1, NULL, &ver), -EHOSTDOWN);
	assert_int_equal(c.calls, 1u);
	/* sticky: a second handle on the store still says so */
	hosts[1].removed = hosts[2].removed = false;
	assert_int_equal(fleet_removed_mark(s, hosts, 3), 0);
	assert_true(hosts[1].removed && hosts[2].removed && !hosts[0].removed);
	store_free(s);
	secbuf_free(vkey);
}

/* A purge row honours the local vault's purge protection: held back (1), the object stays
 * soft-deleted and can be recovered here; one of an object gone already changes nothing. */
static void test_purge_protected(void **state)
{
	struct test_kv *f = *state;
	struct secbuf *vkey = NULL;
	struct fleet_applied a = { 0 };
	struct fleet_body b = { .op = FLEET_OP_SET,
				.kind = OBJECT_SECRET,
				.name = "db",
				.version = 1,
				.enabled = true };
	struct kv_object_info oi;

	assert_int_equal(fleet_vault_key_new(&vkey), 0);
	assert_int_equal(kv_vault_protect(f->kv, "app"), 0);
	assert_int_equal(kv_fleet_mark(f->kv, "app"), 0);
	assert_int_equal(apply(f, vkey, &a, &b, "one"), 0);
	b = (struct fleet_body){ .op = FLEET_OP_DELETE, .kind = OBJECT_SECRET, .name = "db" };
	assert_int_equal(apply(f, vkey, &a, &b, NULL), 0);
	b.op = FLEET_OP_PURGE;
	assert_int_equal(apply(f, vkey, &a, &b, NULL), 1);
	assert_int_equal(a.seq, 3);
	assert_applied(f, &a);
	assert_int_equal(kv_secret_lookup(f->kv, "app", "db", &oi), 0);
	assert_true(oi.deleted_at > 0);
	b.op = FLEET_OP_RECOVER;
	assert_int_equal(apply(f, vkey, &a, &b, NULL), 0);
	assert_value(f, "db", 0, "one");
	/* a purge of what is not here changes nothing, and the chain goes on */
	b = (struct fleet_body){ .op = FLEET_OP_PURGE, .kind = OBJECT_SECRET, .name = "gone" };
	assert_int_equal(apply(f, vkey, &a, &b, NULL), 0);
	assert_int_equal(a.seq, 5);
	secbuf_free(vkey);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_and_certs_travel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_fence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_protected, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
