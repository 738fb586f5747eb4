/* test-request.c: unit tests for core/request.c over a real kv (a SQLite store in a temp dir of
 * each test's own, a random master key, no TPM) and a real audit journal (its key derived from
 * the master key), with a test caller whose authorizer consults a small (op, path) table, whose
 * visible() hides listed paths and whose identify() sets uid 4242. Exact results and exact
 * -errnos: request_parse (not JSON, trailing data, not an object, the version, value_len types
 * and the per-op caps); request_exec refusals (unknown op and member, bad names, wrong types,
 * missing value bytes) that decide and record nothing; every op allowed (the reply's shape, the
 * record, the change in the store, the changed() callback) and refused (EACCES, the sentence, a
 * deny record naming the rule, nothing changed); a change whose record cannot be written is not
 * made, a read whose record cannot be written gives no bytes; listings filtered by visible();
 * expiring secrets; restore decided on the name in the blob; policy-reload with and without a
 * daemon; max_versions (create, update, list, the prune records after a set) and
 * secret-rollback (write alone, no value bytes, from=N in the record's path, refusals). The
 * client side over a socketpair: exact round trips of value bytes (back to back
 * messages, newlines in values), the caps, replies that are not messages, and EOF mid-line and
 * mid-value. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/errtext.h"
#include "core/kv.h"
#include "core/limits.h"
#include "core/request.h"
#include "core/secbuf.h"
#include "core/store.h"
#include "core/util.h"
#include "policy/policy.h"
#include "tests/unit/request-fixture.h"
#include "tests/unit/testlib.h"

/* Make the journal fail from now on: its file moved away, the handle sees -ESTALE. */
static void break_journal(struct req_fixture *f)
{
	assert_int_equal(rename(f->journal, f->moved), 0);
}

/* --- request_parse --- */

static void parse_fails(const char *line, int err, const char *msg_start)
{
	struct json_object *sentinel = (struct json_object *)&sentinel, *o = sentinel;
	size_t vlen = 77;
	char msg[256] = "";

	assert_int_equal(request_parse(line, strlen(line), &o, &vlen, msg, sizeof(msg)), err);
	assert_ptr_equal(o, sentinel);
	if (err != -EMSGSIZE)
		assert_int_equal(vlen, 77);
	if (strncmp(msg, msg_start, strlen(msg_start)) != 0)
		fail_msg("msg \"%s\", expected it to start with \"%s\"", msg, msg_start);
	/* msg may be NULL */
	assert_int_equal(request_parse(line, strlen(line), &o, &vlen, NULL, 0), err);
	assert_ptr_equal(o, sentinel);
}

static struct json_object *parse_n(const char *line, size_t len, size_t value_len)
{
	struct json_object *o = NULL;
	size_t vlen = 77;
	char msg[256] = "untouched";

	assert_int_equal(request_parse(line, len, &o, &vlen, msg, sizeof(msg)), 0);
	assert_non_null(o);
	assert_true(json_object_is_type(o, json_type_object));
	assert_int_equal(vlen, value_len);
	return o;
}

static struct json_object *parse_ok(const char *line, size_t value_len)
{
	return parse_n(line, strlen(line), value_len);
}

static void test_parse_refusals(void **state)
{
	char deep[200];
	size_t n = 0;

	(void)state;
	parse_fails("", -EBADMSG, "not JSON: ");
	parse_fails("nope", -EBADMSG, "not JSON: ");
	parse_fails("{\"v\":1", -EBADMSG, "not JSON: ");
	parse_fails("{\"v\":1} x", -EBADMSG, "not JSON: ");
	parse_fails("{\"v\":1}{\"v\":1}", -EBADMSG, "not JSON: ");
	parse_fails("[1]", -EBADMSG, "a request is a JSON object");
	parse_fails("\"v\"", -EBADMSG, "a request is a JSON object");
	parse_fails("[]", -EBADMSG, "a request is a JSON object");
	parse_fails("1 ", -EBADMSG, "a request is a JSON object");
	parse_fails("1", -EBADMSG, "not JSON: "); /* a number that could go on */
	/* deeper than the tokener's limit */
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "[");
	parse_fails(deep, -EBADMSG, "not JSON: ");

	parse_fails("{\"op\":\"vault-list\"}", -EPROTO, "\"v\" must be 1");
	parse_fails("{\"v\":2,\"op\":\"vault-list\"}", -EPROTO, "\"v\" must be 1");
	parse_fails("{\"v\":0}", -EPROTO, "\"v\" must be 1");
	parse_fails("{\"v\":\"1\"}", -EPROTO, "\"v\" must be 1");
	parse_fails("{\"v\":1.0}", -EPROTO, "\"v\" must be 1");
	parse_fails("{\"v\":true}", -EPROTO, "\"v\" must be 1");
	parse_fails("{\"v\":null}", -EPROTO, "\"v\" must be 1");
	parse_fails("{\"v\":4294967297}", -EPROTO, "\"v\" must be 1");

	parse_fails("{\"v\":1,\"op\":\"secret-set\",\"value_len\":\"12\"}", -EINVAL,
		    "\"value_len\" must be a non-negative integer");
	parse_fails("{\"v\":1,\"op\":\"secret-set\",\"value_len\":-1}", -EINVAL,
		    "\"value_len\" must be a non-negative integer");
	parse_fails("{\"v\":1,\"op\":\"secret-set\",\"value_len\":1.5}", -EINVAL,
		    "\"value_len\" must be a non-negative integer");
	parse_fails("{\"v\":1,\"op\":\"secret-set\",\"value_len\":null}", -EINVAL,
		    "\"value_len\" must be a non-negative integer");
	parse_fails("{\"v\":1,\"op\":\"secret-set\",\"value_len\":true}", -EINVAL,
		    "\"value_len\" must be a non-negative integer");
}

/* value_len over the op's cap: -EMSGSIZE with *ret_value_len, the bytes to throw away. */
static void parse_too_big(const char *line, size_t want_len, const char *msg_want)
{
	struct json_object *sentinel = (struct json_object *)&sentinel, *o = sentinel;
	size_t vlen = 77;
	char msg[256] = "";

	assert_int_equal(request_parse(line, strlen(line), &o, &vlen, msg, sizeof(msg)), -EMSGSIZE);
	assert_ptr_equal(o, sentinel);
	assert_int_equal(vlen, want_len);
	assert_string_equal(msg, msg_want);
	vlen = 77;
	assert_int_equal(request_parse(line, strlen(line), &o, &vlen, NULL, 0), -EMSGSIZE);
	assert_int_equal(vlen, want_len);
}

static void test_parse_value_caps(void **state)
{
	struct json_object *o;

	(void)state;
	parse_too_big("{\"v\":1,\"op\":\"secret-set\",\"vault\":\"a\",\"name\":\"b\","
		      "\"value_len\":1048577}",
		      1048577, "value of 1048577 bytes is over the limit (1048576)");
	parse_too_big("{\"v\":1,\"op\":\"secret-restore\",\"vault\":\"a\",\"value_len\":8388609}",
		      8388609, "value of 8388609 bytes is over the limit (8388608)");
	parse_too_big("{\"v\":1,\"op\":\"secret-get\",\"vault\":\"a\",\"name\":\"b\","
		      "\"value_len\":5}",
		      5, "this op takes no value bytes");
	parse_too_big("{\"v\":1,\"op\":\"vault-list\",\"value_len\":1}", 1,
		      "this op takes no value bytes");
	/* an unknown or missing op takes none either */
	parse_too_big("{\"v\":1,\"op\":\"frobnicate\",\"value_len\":9}", 9,
		      "this op takes no value bytes");
	parse_too_big("{\"v\":1,\"value_len\":3}", 3, "this op takes no value bytes");

	/* at the caps */
	o = parse_ok("{\"v\":1,\"op\":\"secret-set\",\"value_len\":1048576}", 1048576);
	json_object_put(o);
	o = parse_ok("{\"v\":1,\"op\":\"secret-restore\",\"value_len\":8388608}", 8388608);
	json_object_put(o);
	o = parse_ok("{\"v\":1,\"op\":\"secret-set\",\"value_len\":0}", 0);
	json_object_put(o);
	/* 0 bytes for an op that takes none is no bytes (exec refuses the member) */
	o = parse_ok("{\"v\":1,\"op\":\"secret-get\",\"value_len\":0}", 0);
	json_object_put(o);
}

static void test_parse_ok(void **state)
{
	static const char line[] =
		"{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\"}";
	char buf[128];
	struct json_object *o;

	(void)state;
	o = parse_ok(line, 0);
	assert_int_equal(jint(o, "v"), 1);
	assert_string_equal(jstr(o, "op"), "secret-get");
	assert_string_equal(jstr(o, "vault"), "app");
	assert_string_equal(jstr(o, "name"), "db");
	assert_int_equal(jcount(o), 4);
	json_object_put(o);

	/* only len bytes are read: what follows is not the line's */
	snprintf(buf, sizeof(buf), "%s garbage", line);
	o = parse_n(buf, strlen(line), 0);
	assert_string_equal(jstr(o, "name"), "db");
	json_object_put(o);

	o = parse_ok("{\"v\":1,\"op\":\"secret-set\",\"value_len\":12}", 12);
	json_object_put(o);
	o = parse_ok("{\"v\":1}", 0);
	assert_int_equal(jcount(o), 1);
	json_object_put(o);
}

/* --- request_exec: bad requests decide and record nothing --- */

/* Refused with EINVAL/EOPNOTSUPP and this sentence, before any decision or record. */
static void bad_request(struct req_fixture *f, const char *json, const void *value, size_t n, int e,
			const char *error)
{
	size_t lines = journal_count(f->journal);
	unsigned asked = f->authorized;

	reply_err(exec_v(f, json, value, n, NULL), e, error);
	assert_int_equal(f->authorized, asked);
	assert_int_equal(journal_count(f->journal), lines);
	assert_int_equal(f->n_changed, 0);
}

static void test_exec_bad_requests(void **state)
{
	struct req_fixture *f = *state;
	struct kv_vault_info vi;
	struct kv_version_info info;
	char json[1024];
	size_t n;

	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app\"}");
	assert_int_equal(set_str(f, "app", "db", "one"), 1);
	f->n_changed = 0;

	bad_request(f, "{\"v\":1,\"op\":\"frobnicate\"}", NULL, 0, EOPNOTSUPP,
		    "unknown op \"frobnicate\"");
	bad_request(f, "{\"v\":1}", NULL, 0, EINVAL, "missing member \"op\"");
	bad_request(f, "{\"v\":1,\"op\":7}", NULL, 0, EINVAL, "missing member \"op\"");
	bad_request(f,
		    "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\","
		    "\"colour\":\"red\"}",
		    NULL, 0, EINVAL, "unknown member \"colour\" for op \"secret-get\"");
	/* a member of another op is unknown to this one */
	bad_request(f,
		    "{\"v\":1,\"op\":\"secret-delete\",\"vault\":\"app\",\"name\":\"db\","
		    "\"version\":1}",
		    NULL, 0, EINVAL, "unknown member \"version\" for op \"secret-delete\"");
	bad_request(f,
		    "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\","
		    "\"value_len\":0}",
		    NULL, 0, EINVAL, "unknown member \"value_len\" for op \"secret-get\"");
	bad_request(f, "{\"v\":1,\"op\":\"vault-list\",\"vault\":\"app\"}", NULL, 0, EINVAL,
		    "unknown member \"vault\" for op \"vault-list\"");

	/* names */
	bad_request(f, "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\"}", NULL, 0, EINVAL,
		    "missing member \"name\"");
	bad_request(f, "{\"v\":1,\"op\":\"secret-get\",\"name\":\"db\"}", NULL, 0, EINVAL,
		    "missing member \"vault\"");
	bad_request(f, "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"../db\"}", NULL,
		    0, EINVAL, "\"name\" is not a valid name ([A-Za-z0-9][A-Za-z0-9._-]{0,126})");
	bad_request(f, "{\"v\":1,\"op\":\"vault-delete\",\"vault\":\".app\"}", NULL, 0, EINVAL,
		    "\"vault\" is not a valid name ([A-Za-z0-9][A-Za-z0-9._-]{0,126})");
	bad_request(f, "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"\",\"name\":\"db\"}", NULL, 0,
		    EINVAL, "\"vault\" is not a valid name ([A-Za-z0-9][A-Za-z0-9._-]{0,126})");
	bad_request(f, "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":5}", NULL, 0,
		    EINVAL, "\"name\" must be a string");
	bad_request(f, "{\"v\":1,\"op\":\"secret-list\",\"vault\":[\"app\"]}", NULL, 0, EINVAL,
		    "\"vault\" must be a string");
	memset(json, 0, sizeof(json));
	n = (size_t)snprintf(json, sizeof(json),
			     "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"");
	memset(json + n, 'a', 128);
	strcpy(json + n + 128, "\"}");
	bad_request(f, json, NULL, 0, EINVAL,
		    "\"name\" is not a valid name ([A-Za-z0-9][A-Za-z0-9._-]{0,126})");

	/* types and ranges */
	bad_request(f,
		    "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\","
		    "\"version\":\"3\"}",
		    NULL, 0, EINVAL, "\"version\" must be an integer");
	bad_request(f,
		    "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\","
		    "\"version\":0}",
		    NULL, 0, EINVAL, "\"version\" out of range (1..4294967295)");
	bad_request(f,
		    "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\","
		    "\"version\":4294967296}",
		    NULL, 0, EINVAL, "\"version\" out of range (1..4294967295)");
	bad_request(f,
		    "{\"v\":1,\"op\":\"secret-update\",\"vault\":\"app\",\"name\":\"db\","
		    "\"enabled\":1}",
		    NULL, 0, EINVAL, "\"enabled\" must be true or false");
	bad_request(f,
		    "{\"v\":1,\"op\":\"secret-update\",\"vault\":\"app\",\"name\":\"db\","
		    "\"expires\":-1}",
		    NULL, 0, EINVAL, "\"expires\" out of range (0..4611686018427387903)");
	bad_request(f,
		    "{\"v\":1,\"op\":\"secret-update\",\"vault\":\"app\",\"name\":\"db\","
		    "\"not_before\":1.5}",
		    NULL, 0, EINVAL, "\"not_before\" must be an integer");
	bad_request(f,
		    "{\"v\":1,\"op\":\"secret-update\",\"vault\":\"app\",\"name\":\"db\","
		    "\"tags\":[\"a=b\",1]}",
		    NULL, 0, EINVAL, "\"tags\" must hold strings (without NUL)");
	bad_request(f,
		    "{\"v\":1,\"op\":\"secret-update\",\"vault\":\"app\",\"name\":\"db\","
		    "\"tags\":\"a=b\"}",
		    NULL, 0, EINVAL,
		    "\"tags\" must be an array of at most 15 \"key=value\" strings");
	n = (size_t)snprintf(json, sizeof(json),
			     "{\"v\":1,\"op\":\"secret-update\",\"vault\":"
			     "\"app\",\"name\":\"db\",\"tags\":[");
	for (int i = 0; i < 16; i++)
		n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\"k%d=v\"", i ? "," : "", i);
	snprintf(json + n, sizeof(json) - n, "]}");
	bad_request(f, json, NULL, 0, EINVAL,
		    "\"tags\" must be an array of at most 15 \"key=value\" strings");
	n = (size_t)snprintf(json, sizeof(json),
			     "{\"v\":1,\"op\":\"secret-update\",\"vault\":"
			     "\"app\",\"name\":\"db\",\"content_type\":\"");
	memset(json + n, 't', 256);
	strcpy(json + n + 256, "\"}");
	bad_request(f, json, NULL, 0, EINVAL,
		    "\"content_type\" must be a string of at most 255 bytes");
	bad_request(f,
		    "{\"v\":1,\"op\":\"secret-set\",\"vault\":\"app\",\"name\":\"db\","
		    "\"content_type\":3}",
		    "x", 1, EINVAL, "\"content_type\" must be a string of at most 255 bytes");
	bad_request(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"new\",\"retention_days\":6}",
		    NULL, 0, EINVAL, "\"retention_days\" out of range (7..90)");
	bad_request(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"new\",\"retention_days\":91}",
		    NULL, 0, EINVAL, "\"retention_days\" out of range (7..90)");
	/* (secret-list checks its members once decided: not in bad_request) */
	exec_err(f, "{\"v\":1,\"op\":\"secret-list\",\"vault\":\"app\",\"deleted\":\"yes\"}",
		 EINVAL, "\"deleted\" must be true or false");

	/* the ops that carry value bytes need them */
	bad_request(f, "{\"v\":1,\"op\":\"secret-set\",\"vault\":\"app\",\"name\":\"db\"}", NULL, 0,
		    EINVAL, "op \"secret-set\" needs value bytes (\"value_len\")");
	bad_request(f, "{\"v\":1,\"op\":\"secret-restore\",\"vault\":\"app\"}", NULL, 0, EINVAL,
		    "op \"secret-restore\" needs value bytes (\"value_len\")");

	/* purge protection is only ever turned on */
	bad_request(f,
		    "{\"v\":1,\"op\":\"vault-update\",\"vault\":\"app\","
		    "\"purge_protection\":false}",
		    NULL, 0, EINVAL,
		    "\"purge_protection\": true is the only update (it can never be turned off)");
	bad_request(f, "{\"v\":1,\"op\":\"vault-update\",\"vault\":\"app\"}", NULL, 0, EINVAL,
		    "vault-update needs \"purge_protection\": true or \"max_versions\"");
	bad_request(f,
		    "{\"v\":1,\"op\":\"vault-update\",\"vault\":\"app\","
		    "\"purge_protection\":1}",
		    NULL, 0, EINVAL, "\"purge_protection\" must be true or false");

	/* nothing changed */
	assert_int_equal(kv_vault_get(f->kv, "app", &vi), 0);
	assert_false(vi.purge_protection);
	assert_int_equal(kv_vault_get(f->kv, "new", &vi), -ENOENT);
	assert_int_equal(kv_secret_info(f->kv, "app", "db", 0, &info), 0);
	assert_int_equal(info.version, 1);
	assert_true(info.enabled);
	assert_string_equal(info.tags, "");
	assert_string_equal(info.content_type, "");
}

/* --- every op allowed --- */

static void test_vaults(void **state)
{
	struct req_fixture *f = *state;
	struct json_object *r, *arr, *v;
	struct kv_vault_info vi;

	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app\",\"retention_days\":30}");
	assert_int_equal(f->n_changed, 1);
	expect_changed(f, 0, "app", NULL);
	expect_record(f, 0, "vault-create", 0, "allow-all", "app", NULL, 0, "/app");
	assert_int_equal(kv_vault_get(f->kv, "app", &vi), 0);
	assert_int_equal(vi.retention_days, 30);
	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"web\"}");
	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"hidden\"}");
	assert_int_equal(f->n_changed, 3);
	hide(f, "/hidden");

	r = exec(f, "{\"v\":1,\"op\":\"vault-list\"}");
	reply_ok(r, 3);
	arr = jarr(r, "vaults");
	assert_int_equal(json_object_array_length(arr), 2);
	v = json_object_array_get_idx(arr, 0);
	assert_string_equal(jstr(v, "name"), "app");
	assert_int_equal(jint(v, "retention_days"), 30);
	assert_false(jbool(v, "purge_protection"));
	assert_true(json_object_is_type(jget(v, "created"), json_type_string));
	assert_int_equal(jcount(v), 4);
	v = json_object_array_get_idx(arr, 1);
	assert_string_equal(jstr(v, "name"), "web");
	assert_int_equal(jint(v, "retention_days"), VAULTFS_RETENTION_DEFAULT);
	json_object_put(r);
	expect_record(f, 0, "vault-list", 0, NULL, NULL, NULL, 0, NULL);

	exec_ok(f, "{\"v\":1,\"op\":\"vault-update\",\"vault\":\"app\",\"purge_protection\":true}");
	expect_record(f, 0, "vault-update", 0, "allow-all", "app", NULL, 0, "/app");
	expect_changed(f, 3, "app", NULL);
	assert_int_equal(kv_vault_get(f->kv, "app", &vi), 0);
	assert_true(vi.purge_protection);
	/* idempotent */
	exec_ok(f, "{\"v\":1,\"op\":\"vault-update\",\"vault\":\"app\",\"purge_protection\":true}");
	r = exec(f, "{\"v\":1,\"op\":\"vault-list\"}");
	assert_true(jbool(json_object_array_get_idx(jarr(r, "vaults"), 0), "purge_protection"));
	json_object_put(r);

	exec_ok(f, "{\"v\":1,\"op\":\"vault-delete\",\"vault\":\"web\"}");
	expect_record(f, 0, "vault-delete", 0, "allow-all", "web", NULL, 0, "/web");
	assert_int_equal(f->n_changed, 6);
	expect_changed(f, 5, "web", NULL);
	assert_int_equal(kv_vault_get(f->kv, "web", &vi), -ENOENT);

	/* everything hidden: an empty array, not a missing one */
	hide(f, "/app");
	r = exec(f, "{\"v\":1,\"op\":\"vault-list\"}");
	reply_ok(r, 3);
	assert_int_equal(json_object_array_length(jarr(r, "vaults")), 0);
	json_object_put(r);
}

/* A change the store refuses: recorded allowed before, then with its error; no changed(). */
static void test_change_fails_in_kv(void **state)
{
	struct req_fixture *f = *state;
	size_t lines;

	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app\"}");
	lines = journal_count(f->journal);
	exec_err(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app\"}", EEXIST,
		 "already exists (a deleted secret keeps its name until it is purged)");
	assert_int_equal(journal_count(f->journal), lines + 2);
	expect_record(f, 1, "vault-create", 0, "allow-all", "app", NULL, 0, "/app");
	expect_record(f, 0, "vault-create", EEXIST, "allow-all", "app", NULL, 0, "/app");
	assert_int_equal(f->n_changed, 1);

	exec_err(f, "{\"v\":1,\"op\":\"vault-delete\",\"vault\":\"nope\"}", ENOENT, "not found");
	expect_record(f, 0, "vault-delete", ENOENT, "allow-all", "nope", NULL, 0, "/nope");
	assert_int_equal(set_str(f, "app", "db", "x"), 1);
	exec_err(f, "{\"v\":1,\"op\":\"vault-delete\",\"vault\":\"app\"}", ENOTEMPTY,
		 "vault is not empty");
	exec_err(f, "{\"v\":1,\"op\":\"secret-purge\",\"vault\":\"app\",\"name\":\"db\"}", ENOENT,
		 "not found");
	expect_record(f, 0, "purge", ENOENT, "allow-all", "app", "db", 0, "/app/db");
	exec_err(f,
		 "{\"v\":1,\"op\":\"secret-update\",\"vault\":\"app\",\"name\":\"db\","
		 "\"version\":9,\"enabled\":false}",
		 ENOENT, "not found");
	expect_record(f, 0, "update", ENOENT, "allow-all", "app", "db", 9, "/app/db");
	assert_int_equal(f->n_changed, 2);
	/* a read that fails is recorded with its error */
	exec_err(f, "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"nope\"}", ENOENT,
		 "not found");
	expect_record(f, 0, "open", ENOENT, "allow-all", "app", "nope", 0, "/app/nope");
}

static void test_secrets(void **state)
{
	struct req_fixture *f = *state;
	static uint8_t v2[VAULTFS_VALUE_MAX]; /* 1 MiB: not on the stack */
	uint8_t v1[300];
	struct json_object *r, *arr, *o, *tags;
	struct secbuf *out = NULL;
	struct kv_version_info info;

	test_fill(v1, sizeof(v1), 1);
	test_fill(v2, sizeof(v2), 2);
	v1[0] = '\n';
	v2[sizeof(v2) - 1] = '\n';
	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app\"}");
	f->n_changed = 0;

	assert_int_equal(set_bytes(f, "app", "db", v1, sizeof(v1)), 1);
	expect_record(f, 0, "set", 0, "allow-all", "app", "db", 1, "/app/db");
	expect_changed(f, 0, "app", "db");
	r = exec_v(f,
		   "{\"v\":1,\"op\":\"secret-set\",\"vault\":\"app\",\"name\":\"db\","
		   "\"value_len\":1048576,\"enabled\":true,\"content_type\":\"text/plain\","
		   "\"tags\":[\"env=prod\",\"team=a\"],\"expires\":4000000000}",
		   v2, sizeof(v2), NULL);
	reply_ok(r, 3);
	assert_int_equal(jint(r, "version"), 2);
	json_object_put(r);
	assert_int_equal(f->n_changed, 2);
	expect_changed(f, 1, "app", "db");
	/* an empty value */
	assert_int_equal(set_bytes(f, "app", "empty", "", 0), 1);

	/* get: the current version, an older one, exact bytes */
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\"}", NULL, 0,
		   &out);
	reply_ok(r, 4);
	assert_int_equal(jint(r, "version"), 2);
	assert_int_equal(jint(r, "value_len"), sizeof(v2));
	assert_non_null(out);
	assert_int_equal(out->len, sizeof(v2));
	assert_memory_equal(out->data, v2, sizeof(v2));
	secbuf_free(out);
	json_object_put(r);
	expect_record(f, 0, "open", 0, "allow-all", "app", "db", 2, "/app/db");
	r = exec_v(f,
		   "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\","
		   "\"version\":1}",
		   NULL, 0, &out);
	reply_ok(r, 4);
	assert_int_equal(jint(r, "version"), 1);
	assert_int_equal(jint(r, "value_len"), sizeof(v1));
	assert_int_equal(out->len, sizeof(v1));
	assert_memory_equal(out->data, v1, sizeof(v1));
	secbuf_free(out);
	json_object_put(r);
	expect_record(f, 0, "open", 0, "allow-all", "app", "db", 1, "/app/db");
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"empty\"}", NULL,
		   0, &out);
	reply_ok(r, 4);
	assert_int_equal(jint(r, "value_len"), 0);
	assert_non_null(out);
	assert_int_equal(out->len, 0);
	secbuf_free(out);
	json_object_put(r);

	/* versions: attributes, no values */
	r = exec(f, "{\"v\":1,\"op\":\"secret-versions\",\"vault\":\"app\",\"name\":\"db\"}");
	reply_ok(r, 3);
	arr = jarr(r, "versions");
	assert_int_equal(json_object_array_length(arr), 2);
	o = json_object_array_get_idx(arr, 0);
	assert_int_equal(jint(o, "version"), 1);
	assert_int_equal(jint(o, "size"), sizeof(v1));
	assert_string_equal(jstr(o, "content_type"), "");
	assert_true(json_object_is_type(jget(o, "expires"), json_type_null));
	o = json_object_array_get_idx(arr, 1);
	assert_int_equal(jint(o, "version"), 2);
	assert_int_equal(jint(o, "size"), sizeof(v2));
	assert_true(jbool(o, "enabled"));
	assert_string_equal(jstr(o, "content_type"), "text/plain");
	assert_string_equal(jstr(o, "expires"), "2096-10-02T07:06:40Z");
	tags = jget(o, "tags");
	assert_int_equal(jcount(tags), 2);
	assert_string_equal(jstr(tags, "env"), "prod");
	assert_string_equal(jstr(tags, "team"), "a");
	json_object_put(r);
	expect_record(f, 0, "versions", 0, "allow-all", "app", "db", 0, "/app/db");

	/* update a version: disabled, then get refuses it */
	exec_ok(f, "{\"v\":1,\"op\":\"secret-update\",\"vault\":\"app\",\"name\":\"db\","
		   "\"version\":1,\"enabled\":false,\"tags\":[\"old=yes\"]}");
	expect_record(f, 0, "update", 0, "allow-all", "app", "db", 1, "/app/db");
	expect_changed(f, 3, "app", "db");
	assert_int_equal(kv_secret_info(f->kv, "app", "db", 1, &info), 0);
	assert_false(info.enabled);
	assert_string_equal(info.tags, "old=yes\n");
	assert_int_equal(kv_secret_info(f->kv, "app", "db", 2, &info), 0);
	assert_true(info.enabled);
	assert_string_equal(info.content_type, "text/plain");
	exec_err(f,
		 "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\","
		 "\"version\":1}",
		 EKEYREVOKED, "disabled");
	expect_record(f, 0, "open", EKEYREVOKED, "allow-all", "app", "db", 1, "/app/db");
	/* update with no version: the current one */
	exec_ok(f, "{\"v\":1,\"op\":\"secret-update\",\"vault\":\"app\",\"name\":\"db\","
		   "\"content_type\":\"a/b\"}");
	assert_int_equal(kv_secret_info(f->kv, "app", "db", 2, &info), 0);
	assert_string_equal(info.content_type, "a/b");
	assert_string_equal(info.tags, "env=prod\nteam=a\n");
	assert_int_equal(f->n_changed, 5);
}

static void test_secret_lifecycle(void **state)
{
	struct req_fixture *f = *state;
	struct json_object *r, *arr, *o;
	struct kv_version_info info;

	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app\"}");
	set_str(f, "app", "a", "1");
	set_str(f, "app", "b", "2");
	set_str(f, "app", "c", "3");
	f->n_changed = 0;
	hide(f, "/app/b");

	r = exec(f, "{\"v\":1,\"op\":\"secret-list\",\"vault\":\"app\"}");
	reply_ok(r, 3);
	arr = jarr(r, "secrets");
	assert_int_equal(json_object_array_length(arr), 2);
	o = json_object_array_get_idx(arr, 0);
	assert_string_equal(jstr(o, "name"), "a");
	assert_int_equal(jint(o, "current_version"), 1);
	assert_true(jbool(o, "enabled"));
	assert_false(jhas(o, "deleted"));
	assert_int_equal(jcount(o), 5);
	assert_string_equal(jstr(json_object_array_get_idx(arr, 1), "name"), "c");
	json_object_put(r);
	expect_record(f, 0, "list", 0, "allow-all", "app", NULL, 0, "/app");

	exec_ok(f, "{\"v\":1,\"op\":\"secret-delete\",\"vault\":\"app\",\"name\":\"a\"}");
	expect_record(f, 0, "delete", 0, "allow-all", "app", "a", 0, "/app/a");
	expect_changed(f, 0, "app", "a");
	assert_int_equal(kv_secret_info(f->kv, "app", "a", 0, &info), -ENOENT);
	r = exec(f, "{\"v\":1,\"op\":\"secret-list\",\"vault\":\"app\",\"deleted\":true}");
	reply_ok(r, 3);
	arr = jarr(r, "secrets");
	assert_int_equal(json_object_array_length(arr), 1);
	o = json_object_array_get_idx(arr, 0);
	assert_string_equal(jstr(o, "name"), "a");
	assert_true(json_object_is_type(jget(o, "deleted"), json_type_string));
	assert_true(json_object_is_type(jget(o, "purge_after"), json_type_string));
	assert_int_equal(jcount(o), 7);
	json_object_put(r);
	r = exec(f, "{\"v\":1,\"op\":\"secret-list\",\"vault\":\"app\",\"deleted\":false}");
	assert_int_equal(json_object_array_length(jarr(r, "secrets")), 1); /* c; b hidden */
	json_object_put(r);

	exec_ok(f, "{\"v\":1,\"op\":\"secret-recover\",\"vault\":\"app\",\"name\":\"a\"}");
	expect_record(f, 0, "recover", 0, "allow-all", "app", "a", 0, "/app/a");
	expect_changed(f, 1, "app", "a");
	assert_int_equal(kv_secret_info(f->kv, "app", "a", 0, &info), 0);

	exec_ok(f, "{\"v\":1,\"op\":\"secret-delete\",\"vault\":\"app\",\"name\":\"a\"}");
	exec_ok(f, "{\"v\":1,\"op\":\"secret-purge\",\"vault\":\"app\",\"name\":\"a\"}");
	expect_record(f, 0, "purge", 0, "allow-all", "app", "a", 0, "/app/a");
	expect_changed(f, 3, "app", "a");
	r = exec(f, "{\"v\":1,\"op\":\"secret-list\",\"vault\":\"app\",\"deleted\":true}");
	assert_int_equal(json_object_array_length(jarr(r, "secrets")), 0);
	json_object_put(r);
	exec_err(f, "{\"v\":1,\"op\":\"secret-recover\",\"vault\":\"app\",\"name\":\"a\"}", ENOENT,
		 "not found");
	assert_int_equal(f->n_changed, 4);

	/* listing a vault that is not there */
	exec_err(f, "{\"v\":1,\"op\":\"secret-list\",\"vault\":\"nope\"}", ENOENT, "not found");
	expect_record(f, 0, "list", ENOENT, "allow-all", "nope", NULL, 0, "/nope");
}

static void test_secret_list_expiring(void **state)
{
	struct req_fixture *f = *state;
	char json[256];
	struct json_object *r, *arr;
	int64_t now = (int64_t)time(NULL);
	uint8_t one = '1';

	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app\"}");
	snprintf(json, sizeof(json),
		 "{\"v\":1,\"op\":\"secret-set\",\"vault\":\"app\","
		 "\"name\":\"soon\",\"expires\":%" PRId64 "}",
		 now + 3600);
	json_object_put(exec_v(f, json, &one, 1, NULL));
	snprintf(json, sizeof(json),
		 "{\"v\":1,\"op\":\"secret-set\",\"vault\":\"app\","
		 "\"name\":\"later\",\"expires\":%" PRId64 "}",
		 now + 30 * 86400);
	json_object_put(exec_v(f, json, &one, 1, NULL));
	snprintf(json, sizeof(json),
		 "{\"v\":1,\"op\":\"secret-set\",\"vault\":\"app\","
		 "\"name\":\"soon-hidden\",\"expires\":%" PRId64 "}",
		 now + 60);
	json_object_put(exec_v(f, json, &one, 1, NULL));
	set_str(f, "app", "never", "x");
	hide(f, "/app/soon-hidden");

	r = exec(f, "{\"v\":1,\"op\":\"secret-list\",\"vault\":\"app\",\"expiring\":86400}");
	reply_ok(r, 3);
	arr = jarr(r, "secrets");
	assert_int_equal(json_object_array_length(arr), 1);
	assert_string_equal(jstr(json_object_array_get_idx(arr, 0), "name"), "soon");
	assert_true(json_object_is_type(jget(json_object_array_get_idx(arr, 0), "expires"),
					json_type_string));
	json_object_put(r);

	r = exec(f, "{\"v\":1,\"op\":\"secret-list\",\"vault\":\"app\",\"expiring\":3153600000}");
	arr = jarr(r, "secrets");
	assert_int_equal(json_object_array_length(arr), 2);
	assert_string_equal(jstr(json_object_array_get_idx(arr, 0), "name"), "later");
	assert_string_equal(jstr(json_object_array_get_idx(arr, 1), "name"), "soon");
	json_object_put(r);

	r = exec(f, "{\"v\":1,\"op\":\"secret-list\",\"vault\":\"app\",\"expiring\":0}");
	assert_int_equal(json_object_array_length(jarr(r, "secrets")), 0);
	json_object_put(r);

	/* without the member: all four, one hidden */
	r = exec(f, "{\"v\":1,\"op\":\"secret-list\",\"vault\":\"app\"}");
	assert_int_equal(json_object_array_length(jarr(r, "secrets")), 3);
	json_object_put(r);

	exec_err(f, "{\"v\":1,\"op\":\"secret-list\",\"vault\":\"app\",\"expiring\":-1}", EINVAL,
		 "\"expiring\" out of range (0..2305843009213693951)");
	exec_err(f, "{\"v\":1,\"op\":\"secret-list\",\"vault\":\"app\",\"expiring\":\"1d\"}",
		 EINVAL, "\"expiring\" must be an integer");
}

/* secret-backup and secret-restore, allowed and refused. */
static void test_backup_restore(void **state)
{
	struct req_fixture *f = *state;
	uint8_t v[100];
	struct json_object *r;
	struct secbuf *blob = NULL, *out = NULL;
	struct kv_version_info info;
	unsigned asked;
	size_t lines;

	test_fill(v, sizeof(v), 3);
	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app\"}");
	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"other\"}");
	set_bytes(f, "app", "db", v, sizeof(v));
	set_str(f, "app", "db", "second");
	f->n_changed = 0;

	r = exec_v(f, "{\"v\":1,\"op\":\"secret-backup\",\"vault\":\"app\",\"name\":\"db\"}", NULL,
		   0, &blob);
	reply_ok(r, 3);
	assert_non_null(blob);
	assert_true(blob->len > sizeof(v));
	assert_int_equal(jint(r, "value_len"), blob->len);
	json_object_put(r);
	expect_record(f, 0, "backup", 0, "allow-all", "app", "db", 0, "/app/db");
	assert_int_equal(f->n_changed, 0);

	/* refused: write on the name inside the blob, in the target vault */
	deny(f, "write", "/other/db", "no-write-other-db");
	asked = f->authorized;
	lines = journal_count(f->journal);
	reply_err(exec_v(f, "{\"v\":1,\"op\":\"secret-restore\",\"vault\":\"other\"}", blob->data,
			 blob->len, NULL),
		  EACCES, "permission denied: the policy does not grant write on /other/db");
	assert_int_equal(f->authorized, asked + 1);
	assert_int_equal(journal_count(f->journal), lines + 1);
	expect_record(f, 0, "restore", EACCES, "no-write-other-db", "other", "db", 0, "/other/db");
	assert_int_equal(kv_secret_info(f->kv, "other", "db", 0, &info), -ENOENT);
	assert_int_equal(f->n_changed, 0);

	/* allowed elsewhere */
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-restore\",\"vault\":\"app2\"}", blob->data,
		   blob->len, NULL);
	reply_err(r, ENOENT, "not found");
	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app2\"}");
	f->n_changed = 0;
	r = exec_v(f,
		   "{\"v\":1,\"op\":\"secret-restore\",\"vault\":\"app2\","
		   "\"value_len\":1}",
		   blob->data, blob->len, NULL);
	reply_ok(r, 3);
	assert_string_equal(jstr(r, "name"), "db");
	json_object_put(r);
	expect_record(f, 0, "restore", 0, "allow-all", "app2", "db", 0, "/app2/db");
	assert_int_equal(f->n_changed, 1);
	expect_changed(f, 0, "app2", "db");
	r = exec_v(f,
		   "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app2\",\"name\":\"db\","
		   "\"version\":1}",
		   NULL, 0, &out);
	assert_int_equal(out->len, sizeof(v));
	assert_memory_equal(out->data, v, sizeof(v));
	secbuf_free(out);
	json_object_put(r);
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app2\",\"name\":\"db\"}", NULL, 0,
		   &out);
	assert_int_equal(jint(r, "version"), 2);
	assert_int_equal(out->len, 6);
	assert_memory_equal(out->data, "second", 6);
	secbuf_free(out);
	json_object_put(r);

	/* the name is taken now */
	reply_err(exec_v(f, "{\"v\":1,\"op\":\"secret-restore\",\"vault\":\"app2\"}", blob->data,
			 blob->len, NULL),
		  EEXIST, "already exists (a deleted secret keeps its name until it is purged)");
	expect_record(f, 0, "restore", EEXIST, "allow-all", "app2", "db", 0, "/app2/db");
	assert_int_equal(f->n_changed, 1);

	/* a blob that does not open: refused, recorded without a name */
	blob->data[blob->len - 1] ^= 1;
	reply_err(exec_v(f, "{\"v\":1,\"op\":\"secret-restore\",\"vault\":\"other\"}", blob->data,
			 blob->len, NULL),
		  EBADMSG,
		  "not a backup of this store: integrity check failed: the store was changed "
		  "outside vaultfs");
	expect_record(f, 0, "restore", EBADMSG, NULL, "other", NULL, 0, "/other");
	reply_err(exec_v(f, "{\"v\":1,\"op\":\"secret-restore\",\"vault\":\"other\"}", "", 0, NULL),
		  EBADMSG, NULL);
	assert_int_equal(kv_secret_info(f->kv, "other", "db", 0, &info), -ENOENT);
	assert_int_equal(f->n_changed, 1);
	secbuf_free(blob);
}

/* Backup and restore give no more than read gives (issue 15, item 6): a caller with read on a
 * secret and read and write on another vault could back it up, restore it there, re-enable a
 * disabled or not yet valid version and read it. Backup needs write on the secret too, restore
 * needs manage on the target vault; each refusal recorded, nothing restored. */
static void test_backup_restore_lifecycle(void **state)
{
	struct req_fixture *f = *state;
	struct json_object *r;
	struct secbuf *blob = NULL, *out = NULL;
	struct kv_version_info info;
	unsigned asked;

	/* the admin: v1 disabled, v2 not yet valid, v3 current */
	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app\"}");
	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"mine\"}");
	assert_int_equal(set_str(f, "app", "db", "withheld-1"), 1);
	assert_int_equal(set_str(f, "app", "db", "withheld-2"), 2);
	assert_int_equal(set_str(f, "app", "db", "current"), 3);
	exec_ok(f, "{\"v\":1,\"op\":\"secret-update\",\"vault\":\"app\",\"name\":\"db\","
		   "\"version\":1,\"enabled\":false}");
	exec_ok(f, "{\"v\":1,\"op\":\"secret-update\",\"vault\":\"app\",\"name\":\"db\","
		   "\"version\":2,\"not_before\":4102444800}");
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-backup\",\"vault\":\"app\",\"name\":\"db\"}", NULL,
		   0, &blob);
	reply_ok(r, 3);
	json_object_put(r);
	assert_non_null(blob);

	/* the user: read on app/db, everything on the secrets of its own vault */
	f->n_rules = 0;
	allow(f, "read", "/app/db", "read-app-db");
	allow(f, "*", "/mine/db", "all-mine-db");
	exec_err(f,
		 "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\","
		 "\"version\":1}",
		 EKEYREVOKED, "disabled");
	exec_err(f,
		 "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\","
		 "\"version\":2}",
		 EKEYREJECTED, "not yet valid");

	/* backup: read is not enough */
	asked = f->authorized;
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-backup\",\"vault\":\"app\",\"name\":\"db\"}", NULL,
		   0, &out);
	assert_null(out);
	reply_err(r, EACCES, "permission denied: the policy does not grant write on /app/db");
	assert_int_equal(f->authorized, asked + 2);
	expect_record(f, 0, "backup", EACCES, NULL, "app", "db", 0, "/app/db");

	/* restore of the admin's blob: write on the name is not enough, manage on the vault is
	 * needed */
	asked = f->authorized;
	reply_err(exec_v(f, "{\"v\":1,\"op\":\"secret-restore\",\"vault\":\"mine\"}", blob->data,
			 blob->len, NULL),
		  EACCES, "permission denied: the policy does not grant manage on /mine");
	assert_int_equal(f->authorized, asked + 2);
	expect_record(f, 0, "restore", EACCES, NULL, "mine", "db", 0, "/mine/db");
	assert_int_equal(kv_secret_info(f->kv, "mine", "db", 0, &info), -ENOENT);
	exec_err(f,
		 "{\"v\":1,\"op\":\"secret-update\",\"vault\":\"mine\",\"name\":\"db\","
		 "\"version\":1,\"enabled\":true}",
		 ENOENT, "not found");

	/* with write on the secret, backup is allowed (write could re-enable any version
	 * anyway); with manage on the vault, so is restore */
	allow(f, "write", "/app/db", "write-app-db");
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-backup\",\"vault\":\"app\",\"name\":\"db\"}", NULL,
		   0, &out);
	reply_ok(r, 3);
	json_object_put(r);
	assert_non_null(out);
	secbuf_free(TAKE_PTR(out));
	expect_record(f, 0, "backup", 0, "write-app-db", "app", "db", 0, "/app/db");
	allow(f, "manage", "/mine", "manage-mine");
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-restore\",\"vault\":\"mine\"}", blob->data,
		   blob->len, NULL);
	reply_ok(r, 3);
	json_object_put(r);
	expect_record(f, 0, "restore", 0, "manage-mine", "mine", "db", 0, "/mine/db");
	assert_int_equal(kv_secret_info(f->kv, "mine", "db", 1, &info), 0);
	assert_false(info.enabled);
	secbuf_free(blob);
}

/* Every op refused by the policy: EACCES, the sentence, a deny record naming the rule, nothing
 * done, no changed(), no value bytes. */
static void test_refused(void **state)
{
	static const struct {
		const char *json, *op, *path, *event, *vault, *name;
		uint32_t version;
	} cases[] = {
		{ "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"new\"}", "manage", "/new",
		  "vault-create", "new", NULL, 0 },
		{ "{\"v\":1,\"op\":\"vault-delete\",\"vault\":\"app\"}", "manage", "/app",
		  "vault-delete", "app", NULL, 0 },
		{ "{\"v\":1,\"op\":\"vault-update\",\"vault\":\"app\",\"purge_protection\":true}",
		  "manage", "/app", "vault-update", "app", NULL, 0 },
		{ "{\"v\":1,\"op\":\"secret-set\",\"vault\":\"app\",\"name\":\"db\"}", "write",
		  "/app/db", "set", "app", "db", 0 },
		{ "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\"}", "read",
		  "/app/db", "open", "app", "db", 0 },
		{ "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\",\"version\":1}",
		  "read", "/app/db", "open", "app", "db", 1 },
		{ "{\"v\":1,\"op\":\"secret-list\",\"vault\":\"app\"}", "list", "/app", "list",
		  "app", NULL, 0 },
		{ "{\"v\":1,\"op\":\"secret-versions\",\"vault\":\"app\",\"name\":\"db\"}", "meta",
		  "/app/db", "versions", "app", "db", 0 },
		{ "{\"v\":1,\"op\":\"secret-update\",\"vault\":\"app\",\"name\":\"db\","
		  "\"enabled\":false}",
		  "write", "/app/db", "update", "app", "db", 0 },
		{ "{\"v\":1,\"op\":\"secret-delete\",\"vault\":\"app\",\"name\":\"db\"}", "delete",
		  "/app/db", "delete", "app", "db", 0 },
		{ "{\"v\":1,\"op\":\"secret-recover\",\"vault\":\"app\",\"name\":\"gone\"}",
		  "recover", "/app/gone", "recover", "app", "gone", 0 },
		{ "{\"v\":1,\"op\":\"secret-purge\",\"vault\":\"app\",\"name\":\"gone\"}", "purge",
		  "/app/gone", "purge", "app", "gone", 0 },
		{ "{\"v\":1,\"op\":\"secret-backup\",\"vault\":\"app\",\"name\":\"db\"}", "read",
		  "/app/db", "backup", "app", "db", 0 },
	};
	struct req_fixture *f = *state;
	struct kv_vault_info vi;
	struct kv_version_info info;
	struct json_object *r;
	struct secbuf *out = NULL;
	char want[256];

	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app\"}");
	assert_int_equal(set_str(f, "app", "db", "secret"), 1);
	assert_int_equal(set_str(f, "app", "gone", "x"), 1);
	exec_ok(f, "{\"v\":1,\"op\":\"secret-delete\",\"vault\":\"app\",\"name\":\"gone\"}");
	f->n_changed = 0;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		size_t lines = journal_count(f->journal);
		char rule[32];

		snprintf(rule, sizeof(rule), "deny-%zu", i);
		allow_all(f);
		/* a deny for another op or another path does not apply */
		deny(f, "*", "/elsewhere", "other-path");
		deny(f, streq(cases[i].op, "read") ? "write" : "read", cases[i].path, "other-op");
		deny(f, cases[i].op, cases[i].path, rule);
		snprintf(want, sizeof(want),
			 "permission denied: the policy does not grant %s on %s", cases[i].op,
			 cases[i].path);
		r = exec_v(f, cases[i].json, "new value", 9, &out);
		assert_null(out);
		reply_err(r, EACCES, want);
		assert_int_equal(journal_count(f->journal), lines + 1);
		expect_record(f, 0, cases[i].event, EACCES, rule, cases[i].vault, cases[i].name,
			      cases[i].version, cases[i].path);
		assert_int_equal(f->n_changed, 0);
	}

	/* nothing changed */
	assert_int_equal(kv_vault_get(f->kv, "new", &vi), -ENOENT);
	assert_int_equal(kv_vault_get(f->kv, "app", &vi), 0);
	assert_false(vi.purge_protection);
	assert_int_equal(kv_secret_info(f->kv, "app", "db", 0, &info), 0);
	assert_int_equal(info.version, 1);
	assert_true(info.enabled);
	assert_int_equal(kv_secret_info(f->kv, "app", "gone", 0, &info), -ENOENT);
	allow_all(f);
	exec_ok(f, "{\"v\":1,\"op\":\"secret-recover\",\"vault\":\"app\",\"name\":\"gone\"}");

	/* an authorizer with no rule: recorded with a null rule */
	f->n_rules = 0;
	exec_err(f, "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\"}", EACCES,
		 "permission denied: the policy does not grant read on /app/db");
	expect_record(f, 0, "open", EACCES, NULL, "app", "db", 0, "/app/db");
	/* vault-list asks no one: it filters */
	r = exec(f, "{\"v\":1,\"op\":\"vault-list\"}");
	reply_ok(r, 3);
	assert_int_equal(json_object_array_length(jarr(r, "vaults")), 1);
	json_object_put(r);
}

/* --- the journal first --- */

static void test_change_unrecorded(void **state)
{
	struct req_fixture *f = *state;
	struct kv_vault_info vi;
	struct kv_version_info info;
	struct json_object *r;
	struct secbuf *out = NULL;
	size_t lines;
	const char *eio = "cannot write the audit journal (Stale file handle); nothing done";

	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app\"}");
	assert_int_equal(set_str(f, "app", "db", "one"), 1);
	assert_int_equal(set_str(f, "app", "old", "x"), 1);
	f->n_changed = 0;
	break_journal(f);
	lines = journal_count(f->moved);

	reply_err(exec_v(f, "{\"v\":1,\"op\":\"secret-set\",\"vault\":\"app\",\"name\":\"db\"}",
			 "two", 3, NULL),
		  EIO, eio);
	reply_err(exec_v(f, "{\"v\":1,\"op\":\"secret-set\",\"vault\":\"app\",\"name\":\"new\"}",
			 "two", 3, NULL),
		  EIO, eio);
	exec_err(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"new\"}", EIO, eio);
	exec_err(f, "{\"v\":1,\"op\":\"vault-update\",\"vault\":\"app\",\"purge_protection\":true}",
		 EIO, eio);
	exec_err(f, "{\"v\":1,\"op\":\"secret-delete\",\"vault\":\"app\",\"name\":\"old\"}", EIO,
		 eio);
	exec_err(f,
		 "{\"v\":1,\"op\":\"secret-update\",\"vault\":\"app\",\"name\":\"db\","
		 "\"enabled\":false}",
		 EIO, eio);
	exec_err(f, "{\"v\":1,\"op\":\"vault-list\"}", EIO, eio);

	/* a read whose record cannot be written gives no bytes */
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\"}", NULL, 0,
		   &out);
	assert_null(out);
	reply_err(r, EIO, eio);
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-backup\",\"vault\":\"app\",\"name\":\"db\"}", NULL,
		   0, &out);
	assert_null(out);
	reply_err(r, EIO, eio);

	/* a refusal is still a refusal */
	deny(f, "read", "/app/db", "no-read");
	exec_err(f, "{\"v\":1,\"op\":\"secret-get\",\"vault\":\"app\",\"name\":\"db\"}", EACCES,
		 "permission denied: the policy does not grant read on /app/db");

	/* nothing was done, nothing told, nothing written */
	assert_int_equal(f->n_changed, 0);
	assert_int_equal(kv_secret_info(f->kv, "app", "db", 0, &info), 0);
	assert_int_equal(info.version, 1);
	assert_true(info.enabled);
	assert_int_equal(kv_secret_info(f->kv, "app", "new", 0, &info), -ENOENT);
	assert_int_equal(kv_secret_info(f->kv, "app", "old", 0, &info), 0);
	assert_int_equal(kv_vault_get(f->kv, "new", &vi), -ENOENT);
	assert_int_equal(kv_vault_get(f->kv, "app", &vi), 0);
	assert_false(vi.purge_protection);
	assert_int_equal(journal_count(f->moved), lines);
}

/* --- policy-reload --- */

static void test_policy_reload(void **state)
{
	struct req_fixture *f = *state;
	struct json_object *r;
	size_t lines = journal_count(f->journal);

	exec_err(f, "{\"v\":1,\"op\":\"policy-reload\"}", EOPNOTSUPP,
		 "the policy lives in the daemon: no daemon here");
	exec_err(f, "{\"v\":1,\"op\":\"policy-reload\",\"force\":true}", EINVAL,
		 "unknown member \"force\" for op \"policy-reload\"");

	f->env.reload = req_reload;
	f->env.reload_ud = f;
	f->reload_msg = "12 rules from 2 files";
	r = exec(f, "{\"v\":1,\"op\":\"policy-reload\"}");
	reply_ok(r, 3);
	assert_string_equal(jstr(r, "loaded"), "12 rules from 2 files");
	json_object_put(r);
	assert_int_equal(f->reloads, 1);

	f->reload_r = -EINVAL;
	f->reload_msg = "policy.d/a.rules:3: unknown op \"reed\"";
	exec_err(f, "{\"v\":1,\"op\":\"policy-reload\"}", EINVAL,
		 "policy.d/a.rules:3: unknown op \"reed\"");
	f->reload_r = -EACCES;
	f->reload_msg = "";
	exec_err(f, "{\"v\":1,\"op\":\"policy-reload\"}", EACCES,
		 "permission denied by the policy");
	assert_int_equal(f->reloads, 3);
	/* the reload decides and records itself; no changed() */
	assert_int_equal(f->authorized, 0);
	assert_int_equal(journal_count(f->journal), lines);
	assert_int_equal(f->n_changed, 0);
}

/* --- request_error_reply, errtext --- */

static void test_error_reply(void **state)
{
	struct json_object *r;

	(void)state;
	r = request_error_reply(-ENOENT, NULL);
	assert_int_equal(jint(r, "v"), 1);
	reply_err(r, ENOENT, "not found");
	reply_err(request_error_reply(EACCES, ""), EACCES, "permission denied by the policy");
	reply_err(request_error_reply(-EIO, "disk on fire"), EIO, "disk on fire");
	reply_err(request_error_reply(-ENOTCONN, NULL), ENOTCONN, strerror(ENOTCONN));
	assert_string_equal(errtext(ERRTEXT_OBJECT, -EPERM),
			    "refused: purge protection is on and the retention period has not "
			    "passed");
	assert_string_equal(errtext(ERRTEXT_OBJECT, -EKEYEXPIRED), "expired");
	assert_string_equal(errtext(ERRTEXT_OBJECT, -EKEYREJECTED), "not yet valid");
	assert_string_equal(errtext(ERRTEXT_OBJECT, -EMSGSIZE), "value too large");
}

/* --- the client side --- */

/* A socketpair whose reads time out (-EAGAIN) rather than hang a broken test. */
static void pair(int sv[2])
{
	const struct timeval tv = { .tv_sec = 10 };

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(setsockopt(sv[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
}

static void put(int fd, const void *p, size_t n)
{
	assert_int_equal(write(fd, p, n), (ssize_t)n);
}

static void recv_fails(int fd, int err)
{
	struct json_object *so = (struct json_object *)&so, *o = so;
	struct secbuf *sv = (struct secbuf *)&sv, *v = sv;

	assert_int_equal(request_recv(fd, &o, &v), err);
	assert_ptr_equal(o, so);
	assert_ptr_equal(v, sv);
}

static void test_send_recv(void **state)
{
	uint8_t val[3000];
	struct json_object *m, *o = NULL;
	struct secbuf *v = NULL;
	char line[512];
	ssize_t k;
	int sv[2];

	(void)state;
	test_fill(val, sizeof(val), 9);
	val[0] = '\n';
	val[1] = '{';
	val[sizeof(val) - 1] = '\n';
	pair(sv);

	/* three messages back to back: the first's value must not eat the rest */
	m = json_object_new_object();
	json_object_object_add(m, "v", json_object_new_int(1));
	json_object_object_add(m, "op", json_object_new_string("secret-set"));
	json_object_object_add(m, "vault", json_object_new_string("app/x\"y"));
	assert_int_equal(request_send(sv[0], m, val, sizeof(val)), 0);
	assert_int_equal(jint(m, "value_len"), sizeof(val));
	json_object_put(m);
	m = json_object_new_object();
	json_object_object_add(m, "v", json_object_new_int(1));
	json_object_object_add(m, "ok", json_object_new_boolean(true));
	assert_int_equal(request_send(sv[0], m, NULL, 0), 0);
	assert_false(jhas(m, "value_len"));
	json_object_put(m);
	m = json_object_new_object();
	json_object_object_add(m, "v", json_object_new_int(1));
	assert_int_equal(request_send(sv[0], m, "", 0), 0);
	json_object_put(m);

	assert_int_equal(request_recv(sv[1], &o, &v), 0);
	assert_string_equal(jstr(o, "op"), "secret-set");
	assert_string_equal(jstr(o, "vault"), "app/x\"y");
	assert_int_equal(jint(o, "value_len"), sizeof(val));
	assert_non_null(v);
	assert_int_equal(v->len, sizeof(val));
	assert_memory_equal(v->data, val, sizeof(val));
	json_object_put(o);
	secbuf_free(v);
	assert_int_equal(request_recv(sv[1], &o, &v), 0);
	assert_true(jbool(o, "ok"));
	assert_null(v);
	json_object_put(o);
	assert_int_equal(request_recv(sv[1], &o, &v), 0);
	assert_int_equal(jint(o, "value_len"), 0);
	assert_non_null(v);
	assert_int_equal(v->len, 0);
	json_object_put(o);
	secbuf_free(v);

	/* what request_send writes is what request_parse reads: one line, then the bytes */
	m = json_object_new_object();
	json_object_object_add(m, "v", json_object_new_int(1));
	json_object_object_add(m, "op", json_object_new_string("secret-set"));
	json_object_object_add(m, "vault", json_object_new_string("a/b"));
	assert_int_equal(request_send(sv[0], m, val, 10), 0);
	json_object_put(m);
	k = read(sv[1], line, sizeof(line));
	assert_true(k > 11);
	assert_int_equal(line[k - 11], '\n');
	assert_memory_equal(line + k - 10, val, 10);
	o = parse_n(line, (size_t)k - 11, 10);
	assert_string_equal(jstr(o, "vault"), "a/b");
	json_object_put(o);

	/* the peer gone before a reply */
	close(sv[0]);
	recv_fails(sv[1], -ECONNRESET);
	close(sv[1]);
}

static void test_recv_refusals(void **state)
{
	static const char *const not_messages[] = {
		"hello\n", "[1]\n", "{\"v\":2,\"ok\":true}\n", "{\"ok\":true}\n", "\n", "{\n",
	};
	uint8_t part[4] = { 1, 2, 3, 4 };
	int sv[2];

	(void)state;
	pair(sv);
	for (size_t i = 0; i < ELEMENTSOF(not_messages); i++) {
		put(sv[0], not_messages[i], strlen(not_messages[i]));
		recv_fails(sv[1], -EPROTO);
	}
	/* over the value cap, or a negative length */
	put(sv[0], "{\"v\":1,\"ok\":true,\"value_len\":8388609}\n", 38);
	recv_fails(sv[1], -EMSGSIZE);
	put(sv[0], "{\"v\":1,\"ok\":true,\"value_len\":-1}\n", 33);
	recv_fails(sv[1], -EMSGSIZE);
	/* EOF in the middle of the value */
	put(sv[0], "{\"v\":1,\"ok\":true,\"value_len\":10}\n", 33);
	put(sv[0], part, sizeof(part));
	assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
	recv_fails(sv[1], -ECONNRESET);
	close(sv[0]);
	close(sv[1]);

	/* EOF in the middle of the line */
	pair(sv);
	put(sv[0], "{\"v\":1,\"ok\":", 12);
	assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
	recv_fails(sv[1], -ECONNRESET);
	close(sv[0]);
	close(sv[1]);

	/* nothing at all */
	pair(sv);
	close(sv[0]);
	recv_fails(sv[1], -ECONNRESET);
	close(sv[1]);

	/* not a socket: recv fails */
	recv_fails(-1, -EBADF);
}

/* A line that never ends: written until the reader hangs up. */
static void *endless(void *arg)
{
	int fd = *(int *)arg;
	char buf[65536];

	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "{\"v\":1,\"pad\":\"", 14);
	for (;;) {
		ssize_t k = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		memset(buf, 'x', 14);
	}
	return NULL;
}

/* A backup over VAULTFS_BACKUP_MAX says why and what to do, not only "value too large". */
static void test_backup_too_big(void **state)
{
	struct req_fixture *f = *state;
	uint8_t *v = malloc(VAULTFS_VALUE_MAX);
	size_t n = VAULTFS_BACKUP_MAX / VAULTFS_VALUE_MAX + 1;

	assert_non_null(v);
	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"app\"}");
	for (size_t i = 0; i < n; i++) {
		test_fill(v, VAULTFS_VALUE_MAX, (unsigned)i);
		assert_int_equal(set_bytes(f, "app", "big", v, VAULTFS_VALUE_MAX), (int64_t)i + 1);
	}
	exec_err(f, "{\"v\":1,\"op\":\"secret-backup\",\"vault\":\"app\",\"name\":\"big\"}",
		 EMSGSIZE,
		 "the backup of every version of app/big would be over 8 MiB: purge or prune old "
		 "versions (vault update --max-versions) to back it up");
	free(v);
}

static void test_recv_line_cap(void **state)
{
	pthread_t t;
	int sv[2];

	(void)state;
	pair(sv);
	assert_int_equal(pthread_create(&t, NULL, endless, &sv[0]), 0);
	recv_fails(sv[1], -EMSGSIZE);
	assert_int_equal(shutdown(sv[1], SHUT_RDWR), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	close(sv[0]);
	close(sv[1]);
}

/* --- max-versions and rollback (issue 18) --- */

/* A set in a vault with max_versions prunes down to it: the reply says how many, each pruned
 * version is recorded after the set's record, under the same rule; vault-create and
 * vault-update carry max_versions (0 none) and vault-list shows it. */
static void test_max_versions(void **state)
{
	struct req_fixture *f = *state;
	struct json_object *r, *v;
	struct kv_vault_info vi;

	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"mv\",\"max_versions\":3}");
	assert_int_equal(kv_vault_get(f->kv, "mv", &vi), 0);
	assert_int_equal(vi.max_versions, 3);
	r = exec(f, "{\"v\":1,\"op\":\"vault-list\"}");
	reply_ok(r, 3);
	v = json_object_array_get_idx(jarr(r, "vaults"), 0);
	assert_string_equal(jstr(v, "name"), "mv");
	assert_int_equal(jint(v, "max_versions"), 3);
	json_object_put(r);
	for (int i = 1; i <= 3; i++)
		assert_int_equal(set_str(f, "mv", "db", "x"), i);
	r = exec_v(f, "{\"v\":1,\"op\":\"secret-set\",\"vault\":\"mv\",\"name\":\"db\"}", "y", 1,
		   NULL);
	reply_ok(r, 4);
	assert_int_equal(jint(r, "version"), 4);
	assert_int_equal(jint(r, "pruned"), 1);
	json_object_put(r);
	expect_record(f, 0, "prune", 0, "allow-all", "mv", "db", 1, "/mv/db");
	expect_record(f, 1, "set", 0, "allow-all", "mv", "db", 4, "/mv/db");
	r = exec(f, "{\"v\":1,\"op\":\"secret-versions\",\"vault\":\"mv\",\"name\":\"db\"}");
	assert_int_equal(json_object_array_length(jarr(r, "versions")), 3);
	json_object_put(r);

	exec_ok(f, "{\"v\":1,\"op\":\"vault-update\",\"vault\":\"mv\",\"max_versions\":0}");
	assert_int_equal(kv_vault_get(f->kv, "mv", &vi), 0);
	assert_int_equal(vi.max_versions, 0);
	r = exec(f, "{\"v\":1,\"op\":\"vault-list\"}");
	v = json_object_array_get_idx(jarr(r, "vaults"), 0);
	assert_false(jhas(v, "max_versions")); /* none: absent */
	json_object_put(r);
	assert_int_equal(set_str(f, "mv", "db", "z"), 5); /* nothing pruned: 3 members */
	exec_ok(f, "{\"v\":1,\"op\":\"vault-update\",\"vault\":\"mv\",\"max_versions\":2,"
		   "\"purge_protection\":true}");
	assert_int_equal(kv_vault_get(f->kv, "mv", &vi), 0);
	assert_int_equal(vi.max_versions, 2);
	assert_true(vi.purge_protection);
	exec_err(f, "{\"v\":1,\"op\":\"vault-update\",\"vault\":\"mv\"}", EINVAL,
		 "vault-update needs \"purge_protection\": true or \"max_versions\"");
	exec_err(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"w\",\"max_versions\":0}", EINVAL,
		 "\"max_versions\" out of range (1..100000)");
	exec_err(f, "{\"v\":1,\"op\":\"vault-update\",\"vault\":\"mv\",\"max_versions\":-1}",
		 EINVAL, "\"max_versions\" out of range (0..100000)");
}

/* secret-rollback: decided as write alone (a caller refused read does it), no value bytes in
 * the reply, recorded with the version made and "from=N" in the path; refusals. */
static void test_rollback(void **state)
{
	struct req_fixture *f = *state;
	struct secbuf *val = NULL;
	struct json_object *r;

	exec_ok(f, "{\"v\":1,\"op\":\"vault-create\",\"vault\":\"rb\"}");
	set_str(f, "rb", "db", "good");
	set_str(f, "rb", "db", "bad");
	deny(f, "read", "/rb/db", "no-read");
	r = exec(f, "{\"v\":1,\"op\":\"secret-rollback\",\"vault\":\"rb\",\"name\":\"db\","
		    "\"to\":1}"); /* exec fails on value bytes */
	reply_ok(r, 4);
	assert_int_equal(jint(r, "version"), 3);
	assert_int_equal(jint(r, "from"), 1);
	json_object_put(r);
	expect_record(f, 0, "rollback", 0, "allow-all", "rb", "db", 3, "/rb/db from=1");
	assert_int_equal(kv_secret_get(f->kv, "rb", "db", 0, &val, NULL), 0);
	assert_int_equal(val->len, 4);
	assert_memory_equal(val->data, "good", 4);
	secbuf_free(val);

	exec_err(f,
		 "{\"v\":1,\"op\":\"secret-rollback\",\"vault\":\"rb\",\"name\":\"db\","
		 "\"to\":9}",
		 ENOENT, "no version 9 of rb/db (never made, or pruned)");
	expect_record(f, 0, "rollback", ENOENT, "allow-all", "rb", "db", 4, "/rb/db from=9");
	exec_err(f, "{\"v\":1,\"op\":\"secret-rollback\",\"vault\":\"rb\",\"name\":\"db\"}", EINVAL,
		 "missing member \"to\"");
	exec_err(f,
		 "{\"v\":1,\"op\":\"secret-rollback\",\"vault\":\"rb\",\"name\":\"db\","
		 "\"to\":0}",
		 EINVAL, "\"to\" out of range (1..4294967295)");
	assert_int_equal(kv_secret_update(f->kv, "rb", "db", 2,
					  &(struct kv_attrs){ .enabled = 0,
							      .not_before = KV_KEEP,
							      .expires = KV_KEEP }),
			 0);
	exec_err(f,
		 "{\"v\":1,\"op\":\"secret-rollback\",\"vault\":\"rb\",\"name\":\"db\","
		 "\"to\":2}",
		 EKEYREVOKED,
		 "version 2 is disabled: enable it first ('vaultctl secret update rb/db "
		 "--version 2 --enabled true')");
	deny(f, "write", "/rb/db", "no-write");
	r = exec(f, "{\"v\":1,\"op\":\"secret-rollback\",\"vault\":\"rb\",\"name\":\"db\","
		    "\"to\":1}");
	assert_int_equal(jint(r, "errno"), EACCES);
	json_object_put(r);
	expect_record(f, 0, "rollback", EACCES, "no-write", "rb", "db", 0, "/rb/db");
	assert_int_equal(kv_secret_info(f->kv, "rb", "db", 4, &(struct kv_version_info){ 0 }),
			 -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_parse_value_caps),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test_setup_teardown(test_exec_bad_requests, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_vaults, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_change_fails_in_kv, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_secrets, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_secret_lifecycle, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_secret_list_expiring, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_backup_restore, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_backup_restore_lifecycle, req_setup,
						req_teardown),
		cmocka_unit_test_setup_teardown(test_refused, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_change_unrecorded, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_policy_reload, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_max_versions, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(test_rollback, req_setup, req_teardown),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_send_recv),
		cmocka_unit_test(test_recv_refusals),
		cmocka_unit_test(test_recv_line_cap),
		cmocka_unit_test_setup_teardown(test_backup_too_big, req_setup, req_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
