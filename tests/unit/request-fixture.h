/* request-fixture.h: the fixture the request unit tests share (test-request-cert.c,
 * test-request-key.c; test-request.c can take it up): a real kv (a SQLite store in a temp dir of
 * the test's own, a random master key, no TPM), a real audit journal (its key derived from the
 * master key), and a test caller whose authorizer consults a small (op, path) table, whose
 * visible() hides listed paths and whose identify() sets uid REQ_FIXTURE_UID; with helpers that
 * run requests and check replies, JSON members and journal records. Every helper fails the
 * running test through a cmocka assertion. Include it after <cmocka.h>. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/audit.h"
#include "core/crypto.h"
#include "core/limits.h"
#include "core/request.h"
#include "core/secbuf.h"

#define REQ_FIXTURE_UID 4242

/* A request in vault "app": REQ("key-get", ",\"name\":\"k\""). */
#define REQ(op, rest) "{\"v\":1,\"op\":\"" op "\",\"vault\":\"app\"" rest "}"

struct req_rule {
	const char *op;	  /* "*": any */
	const char *path; /* "*": any */
	bool allow;
	const char *name;
};

struct req_fixture {
	char *dir;
	char db[128];
	char journal[128];
	char moved[128];
	uint8_t master[CRYPTO_KEY_LEN];
	uint8_t akey[CRYPTO_KEY_LEN];
	struct kv *kv;
	struct audit *audit;
	struct req_rule rules[16];
	size_t n_rules;
	const char *hidden[8];
	size_t n_hidden;
	unsigned authorized; /* authorize() calls */
	struct {
		char vault[VAULTFS_NAME_MAX + 1];
		char name[VAULTFS_NAME_MAX + 1];
		bool has_name;
	} changed[32]; /* changed() calls, in order */
	size_t n_changed;
	int reload_r;		/* what req_reload() returns */
	const char *reload_msg; /* and the sentence it writes */
	unsigned reloads;	/* req_reload() calls */
	struct request_caller caller;
	struct request_env env; /* kv, audit, caller and changed; no reload */
};

/* cmocka setup and teardown: a new fixture in *state, with the one rule "allow-all". */
int req_setup(void **state);
int req_teardown(void **state);

/* --- the policy table and visibility --- */

/* A deny (allow) rule consulted before the ones already there. */
void deny(struct req_fixture *f, const char *op, const char *path, const char *name);
void allow(struct req_fixture *f, const char *op, const char *path, const char *name);
/* Back to the one rule every test starts with. */
void allow_all(struct req_fixture *f);
/* visible() says no for path from now on. */
void hide(struct req_fixture *f, const char *path);
/* A request_env.reload for the fixture (ud: the fixture): counts in reloads, writes reload_msg
 * and returns reload_r. */
int req_reload(void *ud, char *msg, size_t size);

/* --- JSON members: each fails the test when the member is missing or of another type --- */

struct json_object *jget(struct json_object *o, const char *key);
bool jhas(struct json_object *o, const char *key);
int64_t jint(struct json_object *o, const char *key);
const char *jstr(struct json_object *o, const char *key);
bool jbool(struct json_object *o, const char *key);
struct json_object *jarr(struct json_object *o, const char *key);
size_t jcount(struct json_object *o);

/* --- running requests --- */

/* Run the request json (value: its value bytes, NULL none); the reply, and its value bytes in
 * *ret_value (which must be NULL when ret_value is NULL). */
struct json_object *exec_v(struct req_fixture *f, const char *json, const void *value, size_t n,
			   struct secbuf **ret_value);
struct json_object *exec(struct req_fixture *f, const char *json);
/* exec() with an ok reply of v and ok only. */
void exec_ok(struct req_fixture *f, const char *json);
/* An ok reply with exactly n members (v and ok included). */
void reply_ok(struct json_object *r, size_t n);
/* An error reply for errno e with exactly this sentence (NULL: not checked). Frees r. */
void reply_err(struct json_object *r, int e, const char *error);
void exec_err(struct req_fixture *f, const char *json, int e, const char *error);
/* request_parse of a request of op with value_len max and max + 1: the first parses, the
 * second is -EMSGSIZE; value_len is read back in both. */
void expect_parse_cap(const char *op, uint64_t max);

/* vault-create of "app". */
void make_vault(struct req_fixture *f);
/* secret-set of n bytes (of a string); returns the version given. */
int64_t set_bytes(struct req_fixture *f, const char *vault, const char *name, const void *p,
		  size_t n);
int64_t set_str(struct req_fixture *f, const char *vault, const char *name, const char *s);

/* --- the journal and the changed() calls --- */

size_t journal_count(const char *path);
/* The record back lines before the last (0: the last) of the journal at path, parsed into *e;
 * its MAC checked with the fixture's audit key. */
void journal_entry(struct req_fixture *f, const char *path, size_t back, struct audit_entry *e);
void assert_str_or_null(const char *got, const char *want);
/* The record back lines before the last of the open journal is exactly this. */
void expect_record(struct req_fixture *f, size_t back, const char *event, int err, const char *rule,
		   const char *vault, const char *object, uint32_t version, const char *path);
/* The i-th changed() call named vault and name (NULL: none). */
void expect_changed(struct req_fixture *f, size_t i, const char *vault, const char *name);
