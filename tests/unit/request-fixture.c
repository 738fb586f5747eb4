/* request-fixture.c: the fixture of the request unit tests (request-fixture.h): a kv and an
 * audit journal in a temp dir of each test's own, a test caller driven by a rule table, and the
 * helpers that run requests and check their replies and records. It is compiled into testlib.o
 * (see the end of testlib.c), so it links into every unit test, but only the request tests
 * include its header. It must never touch a path outside the test's temp dir, never keep state
 * outside the fixture it is handed, and never hide a failure: each check is a cmocka assertion. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/kv.h"
#include "core/request.h"
#include "core/secbuf.h"
#include "core/store.h"
#include "core/util.h"
#include "policy/policy.h"
#include "tests/unit/request-fixture.h"
#include "tests/unit/testlib.h"

/* --- the test caller and the env --- */

static int t_authorize(void *ud, unsigned bit, const char *path, const char **ret_rule)
{
	struct req_fixture *f = ud;
	const char *op = policy_op_name(bit); /* one op, never a set */

	assert_non_null(op);
	f->authorized++;
	for (size_t i = 0; i < f->n_rules; i++) {
		const struct req_rule *r = &f->rules[i];

		if ((streq(r->op, "*") || streq(r->op, op)) &&
		    (streq(r->path, "*") || streq(r->path, path))) {
			*ret_rule = r->name;
			return r->allow ? 0 : -EACCES;
		}
	}
	return -EACCES;
}

static bool t_visible(void *ud, const char *path)
{
	struct req_fixture *f = ud;

	for (size_t i = 0; i < f->n_hidden; i++)
		if (streq(f->hidden[i], path))
			return false;
	return true;
}

static void t_identify(void *ud, struct audit_record *rec)
{
	(void)ud;
	rec->uid = REQ_FIXTURE_UID;
}

static void t_changed(void *ud, const char *vault, const char *name)
{
	struct req_fixture *f = ud;

	assert_true(f->n_changed < ELEMENTSOF(f->changed));
	assert_non_null(vault);
	snprintf(f->changed[f->n_changed].vault, sizeof(f->changed[0].vault), "%s", vault);
	f->changed[f->n_changed].has_name = name != NULL;
	snprintf(f->changed[f->n_changed].name, sizeof(f->changed[0].name), "%s", name ? name : "");
	f->n_changed++;
}

void deny(struct req_fixture *f, const char *op, const char *path, const char *name)
{
	assert_true(f->n_rules < ELEMENTSOF(f->rules));
	memmove(&f->rules[1], &f->rules[0], f->n_rules * sizeof(f->rules[0]));
	f->rules[0] = (struct req_rule){ op, path, false, name };
	f->n_rules++;
}

void allow(struct req_fixture *f, const char *op, const char *path, const char *name)
{
	deny(f, op, path, name);
	f->rules[0].allow = true;
}

void allow_all(struct req_fixture *f)
{
	f->rules[0] = (struct req_rule){ "*", "*", true, "allow-all" };
	f->n_rules = 1;
}

void hide(struct req_fixture *f, const char *path)
{
	assert_true(f->n_hidden < ELEMENTSOF(f->hidden));
	f->hidden[f->n_hidden++] = path;
}

int req_reload(void *ud, char *msg, size_t size)
{
	struct req_fixture *f = ud;

	f->reloads++;
	snprintf(msg, size, "%s", f->reload_msg);
	return f->reload_r;
}

int req_setup(void **state)
{
	static const struct audit_options o = { .sync = AUDIT_SYNC_NONE };
	struct req_fixture *f = calloc(1, sizeof(*f));
	struct store *s = NULL;
	struct secbuf *m = NULL, *k = NULL;

	if (!f || test_tmpdir(&f->dir) < 0) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/vault.db", f->dir);
	snprintf(f->journal, sizeof(f->journal), "%s/audit.jsonl", f->dir);
	snprintf(f->moved, sizeof(f->moved), "%s/audit.moved", f->dir);
	test_random(f->master, sizeof(f->master));
	if (store_open(f->db, STORE_CREATE, &s) < 0 ||
	    secbuf_dup(f->master, sizeof(f->master), &m) < 0 || kv_new(s, m, &f->kv) < 0 ||
	    kv_derive_key(f->kv, AUDIT_KEY_LABEL, &k) < 0 || k->len != CRYPTO_KEY_LEN)
		return -1;
	memcpy(f->akey, k->data, CRYPTO_KEY_LEN);
	secbuf_free(k);
	if (audit_open(f->journal, &o, f->akey, &f->audit) < 0)
		return -1;
	allow_all(f);
	f->caller = (struct request_caller){
		.authorize = t_authorize,
		.visible = t_visible,
		.identify = t_identify,
		.ud = f,
	};
	f->env = (struct request_env){
		.kv = f->kv,
		.audit = f->audit,
		.caller = &f->caller,
		.changed = t_changed,
		.changed_ud = f,
	};
	*state = f;
	return 0;
}

int req_teardown(void **state)
{
	struct req_fixture *f = *state;

	audit_free(f->audit);
	kv_free(f->kv);
	test_rmtree(f->dir);
	free(f->dir);
	secure_wipe(f->master, sizeof(f->master));
	secure_wipe(f->akey, sizeof(f->akey));
	free(f);
	return 0;
}

/* --- JSON helpers --- */

struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *m = NULL;

	if (!json_object_object_get_ex(o, key, &m))
		fail_msg("no member \"%s\" in %s", key, json_object_to_json_string(o));
	return m;
}

bool jhas(struct json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

int64_t jint(struct json_object *o, const char *key)
{
	struct json_object *m = jget(o, key);

	assert_true(json_object_is_type(m, json_type_int));
	return json_object_get_int64(m);
}

const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *m = jget(o, key);

	assert_true(json_object_is_type(m, json_type_string));
	return json_object_get_string(m);
}

bool jbool(struct json_object *o, const char *key)
{
	struct json_object *m = jget(o, key);

	assert_true(json_object_is_type(m, json_type_boolean));
	return json_object_get_boolean(m);
}

struct json_object *jarr(struct json_object *o, const char *key)
{
	struct json_object *m = jget(o, key);

	assert_true(json_object_is_type(m, json_type_array));
	return m;
}

size_t jcount(struct json_object *o)
{
	return (size_t)json_object_object_length(o);
}

/* --- running requests --- */

/* Run the request json (value: its value bytes, NULL none); the reply, and its value bytes in
 * *ret_value (which must be NULL when ret_value is NULL). */
struct json_object *exec_v(struct req_fixture *f, const char *json, const void *value, size_t n,
			   struct secbuf **ret_value)
{
	struct json_object *req = json_tokener_parse(json), *reply = NULL;
	struct secbuf *in = NULL, *out = NULL;

	if (!req)
		fail_msg("test JSON does not parse: %s", json);
	if (value) {
		assert_int_equal(secbuf_new(n ? n : 1, &in), 0);
		assert_int_equal(secbuf_set(in, value, n), 0);
	}
	assert_int_equal(request_exec(&f->env, req, in, &reply, &out), 0);
	assert_non_null(reply);
	json_object_put(req);
	secbuf_free(in);
	assert_int_equal(jint(reply, "v"), REQUEST_VERSION);
	if (ret_value)
		*ret_value = out;
	else if (out)
		fail_msg("unexpected value bytes for %s", json);
	return reply;
}

struct json_object *exec(struct req_fixture *f, const char *json)
{
	return exec_v(f, json, NULL, 0, NULL);
}

void reply_ok(struct json_object *r, size_t n)
{
	if (!jbool(r, "ok"))
		fail_msg("not ok: %s", json_object_to_json_string(r));
	assert_false(jhas(r, "errno"));
	assert_false(jhas(r, "error"));
	assert_int_equal(jcount(r), n);
}

void reply_err(struct json_object *r, int e, const char *error)
{
	if (jbool(r, "ok"))
		fail_msg("ok, expected errno %d: %s", e, json_object_to_json_string(r));
	assert_int_equal(jint(r, "errno"), e);
	assert_string_equal(jstr(r, "errname"), strerrorname_np(e));
	if (error)
		assert_string_equal(jstr(r, "error"), error);
	assert_int_equal(jcount(r), 5);
	json_object_put(r);
}

void exec_err(struct req_fixture *f, const char *json, int e, const char *error)
{
	reply_err(exec(f, json), e, error);
}

/* --- the journal --- */

size_t journal_count(const char *path)
{
	struct audit_reader *rd = NULL;
	const char *line;
	size_t len, n = 0;

	assert_int_equal(audit_reader_open(path, &rd), 0);
	while (audit_reader_next(rd, &line, &len) > 0)
		n++;
	audit_reader_free(rd);
	return n;
}

/* The record back lines before the last (0: the last), parsed; its MAC checked. */
void journal_entry(struct req_fixture *f, const char *path, size_t back, struct audit_entry *e)
{
	struct audit_reader *rd = NULL;
	size_t n = journal_count(path), i = 0, len;
	const char *line;
	int r;

	assert_true(back < n);
	assert_int_equal(audit_reader_open(path, &rd), 0);
	while ((r = audit_reader_next(rd, &line, &len)) > 0) {
		if (i++ != n - 1 - back)
			continue;
		assert_int_equal(audit_parse_line(line, len, e), 0);
		assert_int_equal(audit_entry_mac_ok(e, line, len, f->akey), 1);
		break;
	}
	assert_int_equal(r, 1);
	audit_reader_free(rd);
}

void assert_str_or_null(const char *got, const char *want)
{
	if (!want)
		assert_null(got);
	else if (!got)
		fail_msg("null, expected \"%s\"", want);
	else
		assert_string_equal(got, want);
}

/* The record back lines before the last of the open journal is exactly this. */
void expect_record(struct req_fixture *f, size_t back, const char *event, int err, const char *rule,
		   const char *vault, const char *object, uint32_t version, const char *path)
{
	struct audit_entry e;

	journal_entry(f, f->journal, back, &e);
	assert_string_equal(e.rec.event, event);
	assert_int_equal(e.rec.decision, err ? AUDIT_DENY : AUDIT_ALLOW);
	assert_int_equal(e.rec.err, err);
	assert_str_or_null(e.rec.rule, rule);
	assert_str_or_null(e.rec.vault, vault);
	assert_str_or_null(e.rec.object, object);
	assert_int_equal(e.rec.version, version);
	assert_str_or_null(e.rec.path, path);
	assert_int_equal(e.rec.uid, REQ_FIXTURE_UID);
	assert_int_equal(e.rec.gid, -1);
	assert_int_equal(e.rec.pid, -1);
	assert_null(e.rec.exe);
	audit_entry_done(&e);
}
void expect_changed(struct req_fixture *f, size_t i, const char *vault, const char *name)
{
	assert_true(i < f->n_changed);
	assert_string_equal(f->changed[i].vault, vault);
	assert_int_equal(f->changed[i].has_name, name != NULL);
	if (name)
		assert_string_equal(f->changed[i].name, name);
}

/* --- helpers of the tests --- */

void exec_ok(struct req_fixture *f, const char *json)
{
	struct json_object *r = exec(f, json);

	reply_ok(r, 2);
	json_object_put(r);
}

void make_vault(struct req_fixture *f)
{
	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app\"}");
}

int64_t set_bytes(struct req_fixture *f, const char *vault, const char *name, const void *p,
		  size_t n)
{
	char json[512];
	struct json_object *r;
	int64_t v;

	snprintf(json, sizeof(json),
		 "{\"v\":1,\"op\":\"secret-set\",\"vault\":\"%s\",\"name\":\"%s\"}", vault, name);
	r = exec_v(f, json, p, n, NULL);
	reply_ok(r, 3);
	v = jint(r, "version");
	json_object_put(r);
	return v;
}

int64_t set_str(struct req_fixture *f, const char *vault, const char *name, const char *s)
{
	return set_bytes(f, vault, name, s, strlen(s));
}

void expect_parse_cap(const char *op, uint64_t max)
{
	for (uint64_t n = max; n <= max + 1; n++) {
		char line[256], msg[256];
		struct json_object *o = NULL;
		size_t len = 7;
		int r;

		snprintf(line, sizeof(line), "{\"v\":1,\"op\":\"%s\",\"value_len\":%" PRIu64 "}",
			 op, n);
		r = request_parse(line, strlen(line), &o, &len, msg, sizeof(msg));
		assert_int_equal(len, n);
		if (n <= max) {
			if (r != 0)
				fail_msg("%s %" PRIu64 ": %d %s", op, n, r, msg);
			assert_int_equal(r, 0);
			json_object_put(o);
		} else {
			assert_int_equal(r, -EMSGSIZE);
		}
	}
}
