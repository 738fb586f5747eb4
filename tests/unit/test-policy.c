/* test-policy.c: unit tests for policy/glob.c and policy/policy*.c. Globs ('*' in a segment,
 * '**' for any number, the child question). The parser: every error kind with its exact
 * "FILE:LINE:COL: message", caps (line, rules, files, file size, glob, values, messages kept),
 * comments, CRLF, names resolved at load time, files and directories (order, dot-files,
 * permissions). The evaluator: default deny, deny beats allow whatever the order, the deciding
 * rule, every op and condition, time windows at their edges, groups, user units against system
 * units, unknown identity fields (allow fails, deny holds), rights and visibility, explain,
 * the per-vault index against the shared list, and refusals of bad ops and paths. */
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
#include <unistd.h>

#include "core/limits.h"
#include "core/util.h"
#include "policy/glob.h"
#include "policy/policy.h"
#include "tests/unit/testlib.h"

#define T2026 1767225600LL /* 2026-01-01T00:00:00Z */
#define T2027 1798761600LL /* 2027-01-01T00:00:00Z */

/* --- globs --- */

static void test_glob_match(void **state)
{
	static const struct {
		const char *pattern, *value;
		bool match;
	} cases[] = {
		{ "/a/b", "/a/b", true },
		{ "/a/b", "/a/c", false },
		{ "/a/*", "/a/b", true },
		{ "/a/*", "/a", false },
		{ "/a/*", "/a/b/c", false },
		{ "/a/**", "/a", true },
		{ "/a/**", "/a/b", true },
		{ "/a/**", "/a/b/c/d", true },
		{ "/a/**", "/ab", false },
		{ "/**", "/", true },
		{ "/**", "/x/y", true },
		{ "/**/db", "/x/y/db", true },
		{ "/**/db", "/db", true },
		{ "/**/db", "/x/dbx", false },
		{ "/*/db", "/x/db", true },
		{ "/*/db", "/x/y/db", false },
		{ "/web/tls.*", "/web/tls.crt", true },
		{ "/web/tls.*", "/web/tls", false },
		{ "/web/*.crt", "/web/a.b.crt", true },
		{ "/a*b*c", "/abc", true },
		{ "/a*b*c", "/aXbYbZc", true },
		{ "/a*b*c", "/aXbYbZ", false },
		{ "/*", "/", false },
		{ "/", "/", true },
		{ "/", "/a", false },
		{ "a", "/a", false },
		{ "/a", "a", false },
		{ "*.service", "x.service", true },
		{ "*.service", "user@1000.service/x.service", false },
		{ "user@*.service/*", "user@1000.service/x.service", true },
		{ "/machine.slice/libpod-*.scope/**", "/machine.slice/libpod-1.scope/container",
		  true },
		{ "/machine.slice/libpod-*.scope/**", "/machine.slice/libpod-1.scope", true },
		{ "/machine.slice/libpod-*.scope/**", "/machine.slice/x.scope/container", false },
		{ "/**/a/**/b", "/x/a/y/z/b", true },
		{ "/**/a/**/b", "/x/a/y/z/c", false },
		{ "/usr/bin/python3*", "/usr/bin/python3.11", true },
		{ "/usr/bin/python3*", "/usr/bin/python2", false },
	};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		if (glob_match(cases[i].pattern, cases[i].value) != cases[i].match)
			fail_msg("glob_match('%s', '%s') != %d", cases[i].pattern, cases[i].value,
				 cases[i].match);
	}
	assert_true(glob_match_child("/a/*", "/a"));
	assert_true(glob_match_child("/a/**", "/a"));
	assert_true(glob_match_child("/**", "/a"));
	assert_true(glob_match_child("/*/db", "/a"));
	assert_false(glob_match_child("/a", "/a"));
	assert_false(glob_match_child("/b/*", "/a"));
	assert_false(glob_match_child("/a/*/*", "/a"));
	assert_true(glob_is_literal("/a/b"));
	assert_false(glob_is_literal("/a/*"));
	/* many stars against a long value: linear-ish, no blow-up */
	{
		char v[2001];

		memset(v, 'a', 2000);
		v[0] = '/';
		v[2000] = '\0';
		assert_false(glob_match("/*a*a*a*a*a*a*a*a*a*a*b", v));
	}
}

/* --- the parser --- */

static void expect_error(const char *text, const char *expect)
{
	struct policy_diag d = { 0 };
	struct policy *p = NULL;
	int r;

	r = policy_parse_buffer("t.policy", text, strlen(text), &p, &d);
	if (r != -EINVAL || !d.text || !streq(d.text, expect))
		fail_msg("policy '%s': r=%d, got '%s', want '%s'", text, r, d.text ? d.text : "",
			 expect);
	assert_null(p);
	assert_int_equal(d.n_errors, 1);
	policy_diag_done(&d);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *text, *expect;
	} cases[] = {
		{ "permit read /a", "t.policy:1:1: expected 'allow' or 'deny', got 'permit'\n" },
		{ "# ok\n\n  Allow read /a",
		  "t.policy:3:3: expected 'allow' or 'deny', got 'Allow'\n" },
		{ "allow", "t.policy:1:6: missing operations\n" },
		{ "allow   # comment", "t.policy:1:9: missing operations\n" },
		{ "allow read,frob /a", "t.policy:1:12: unknown operation 'frob'\n" },
		{ "allow read,,write /a", "t.policy:1:12: empty operation\n" },
		{ "allow read, /a", "t.policy:1:12: empty operation\n" },
		{ "allow read", "t.policy:1:11: missing path\n" },
		{ "allow read a/b", "t.policy:1:12: malformed glob: must start with '/'\n" },
		{ "allow read /", "t.policy:1:13: malformed glob: missing vault name\n" },
		{ "allow read /a/b**",
		  "t.policy:1:16: malformed glob: '**' must be a whole segment\n" },
		{ "allow read /a/***",
		  "t.policy:1:15: malformed glob: '**' must be a whole segment\n" },
		{ "allow read /a//b", "t.policy:1:15: malformed glob: empty segment\n" },
		{ "allow read /a/", "t.policy:1:15: malformed glob: empty segment\n" },
		{ "allow read /a/b/c",
		  "t.policy:1:17: malformed glob: a path is /VAULT or /VAULT/OBJECT\n" },
		{ "allow read /a/b?", "t.policy:1:16: malformed glob: reserved character\n" },
		{ "allow read /a/[b]", "t.policy:1:15: malformed glob: reserved character\n" },
		{ "allow read /a/b+c",
		  "t.policy:1:16: malformed glob: invalid character in a name\n" },
		{ "allow read /.meta", "t.policy:1:13: malformed glob: not a valid name\n" },
		{ "allow read /a uid", "t.policy:1:15: expected CONDITION=VALUE, got 'uid'\n" },
		{ "allow read /a =0", "t.policy:1:15: expected CONDITION=VALUE, got '=0'\n" },
		{ "allow read /a color=red", "t.policy:1:15: unknown condition 'color'\n" },
		{ "allow read /a uid=0 gid=0 uid=1", "t.policy:1:27: duplicate condition 'uid'\n" },
		{ "allow read /a uid=", "t.policy:1:19: empty value\n" },
		{ "allow read /a uid=0,,1", "t.policy:1:21: empty value\n" },
		{ "allow read /a uid=0,", "t.policy:1:21: empty value\n" },
		{ "allow read /a uid=no-such-user-x",
		  "t.policy:1:19: unknown user 'no-such-user-x'\n" },
		{ "allow read /a uid=0,nobody,zz9", "t.policy:1:28: unknown user 'zz9'\n" },
		{ "allow read /a group=no-such-grp",
		  "t.policy:1:21: unknown group 'no-such-grp'\n" },
		{ "allow read /a gid=-1", "t.policy:1:19: unknown group '-1'\n" },
		{ "allow read /a uid=4294967295", "t.policy:1:19: uid out of range\n" },
		{ "allow read /a gid=99999999999", "t.policy:1:19: gid out of range\n" },
		{ "allow read /a uid=000000000000001", "t.policy:1:19: uid out of range\n" },
		{ "allow read /a after=2026-13-01T00:00:00Z",
		  "t.policy:1:21: bad time '2026-13-01T00:00:00Z' (RFC 3339, e.g. "
		  "2026-12-01T00:00:00Z)\n" },
		{ "allow read /a before=+1d",
		  "t.policy:1:22: bad time '+1d' (RFC 3339, e.g. 2026-12-01T00:00:00Z)\n" },
		{ "allow read /a before=2026-01-01T00:00:00",
		  "t.policy:1:22: bad time '2026-01-01T00:00:00' (RFC 3339, e.g. "
		  "2026-12-01T00:00:00Z)\n" },
		{ "allow read /a after=2026-01-01,2027-01-01",
		  "t.policy:1:32: after= takes one time\n" },
		{ "allow read /a after=2027-01-01 before=2026-01-01",
		  "t.policy:1:32: before= is not later than after=\n" },
		{ "allow read /a before=2026-01-01 after=2026-01-01",
		  "t.policy:1:15: before= is not later than after=\n" },
		{ "allow read /a unit=/x.service",
		  "t.policy:1:20: malformed glob: must not start with '/'\n" },
		{ "allow read /a cgroup=system.slice",
		  "t.policy:1:22: malformed glob: must start with '/'\n" },
		{ "allow read /a cgroup=/a/**b",
		  "t.policy:1:25: malformed glob: '**' must be a whole segment\n" },
		{ "allow read /a exe=/usr//bin", "t.policy:1:24: malformed glob: empty segment\n" },
		{ "allow read /a container=ab{c}",
		  "t.policy:1:27: malformed glob: reserved character\n" },
		{ "allow read /a container=web",
		  "t.policy:1:25: container= takes an id, not a name: 'w' is never in one (64 "
		  "lowercase hex digits, as `podman inspect -f '{{.Id}}' NAME` prints)\n" },
		{ "deny read /a container=user@1000.service/0123X*",
		  "t.policy:1:46: container= takes an id, not a name: 'X' is never in one (64 "
		  "lowercase hex digits, as `podman inspect -f '{{.Id}}' NAME` prints)\n" },
		{ "allow read /a pod=8a3b-web",
		  "t.policy:1:24: pod= takes an id, not a name: 'w' is never in one (64 lowercase "
		  "hex digits, as `podman inspect -f '{{.Id}}' NAME` prints, or a Kubernetes pod "
		  "UID)\n" },
		{ "allow\x01 read /a", "t.policy:1:6: control character\n" },
		{ "allow read /a\x7f", "t.policy:1:14: control character\n" },
		{ "allow read\r /a", "t.policy:1:11: control character\n" },
	};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		expect_error(cases[i].text, cases[i].expect);
}

static void test_parse_nul_and_long(void **state)
{
	struct policy_diag d = { 0 };
	struct policy *p = NULL;
	char *buf;
	size_t n;

	(void)state;
	/* a NUL byte is a control character, not the end of the text */
	assert_int_equal(policy_parse_buffer("t.policy", "allow read /a\0uid=0", 19, &p, &d),
			 -EINVAL);
	assert_string_equal(d.text, "t.policy:1:14: control character\n");
	policy_diag_done(&d);

	/* a line one byte over the cap; the next line is still read (and has an error too) */
	buf = malloc(VAULTFS_POLICY_LINE_MAX + 64);
	assert_non_null(buf);
	n = (size_t)sprintf(buf, "allow read /a uid=0 exe=/");
	memset(buf + n, 'x', VAULTFS_POLICY_LINE_MAX + 1 - n);
	n = VAULTFS_POLICY_LINE_MAX + 1;
	n += (size_t)sprintf(buf + n, "\nallow frob /a\n");
	assert_int_equal(policy_parse_buffer("t.policy", buf, n, &p, &d), -EINVAL);
	assert_string_equal(d.text, "t.policy:1:4097: line too long (at most 4096 bytes)\n"
				    "t.policy:2:7: unknown operation 'frob'\n");
	assert_int_equal(d.n_errors, 2);
	policy_diag_done(&d);
	/* exactly at the cap, a too-long glob */
	n = (size_t)sprintf(buf, "allow read /a exe=/");
	memset(buf + n, 'x', VAULTFS_POLICY_LINE_MAX - n);
	assert_int_equal(policy_parse_buffer("t.policy", buf, VAULTFS_POLICY_LINE_MAX, &p, &d),
			 -EINVAL);
	assert_string_equal(d.text, "t.policy:1:1043: glob too long (at most 1024 bytes)\n");
	policy_diag_done(&d);
	/* a glob of exactly 1024 bytes is fine */
	n = (size_t)sprintf(buf, "allow read /a exe=/");
	memset(buf + n, 'x', 1023);
	assert_int_equal(policy_parse_buffer("t.policy", buf, n + 1023, &p, &d), 0);
	assert_int_equal(d.n_errors, 0);
	policy_free(p);
	free(buf);
}

static void test_parse_caps(void **state)
{
	struct policy_diag d = { 0 };
	struct policy *p = NULL;
	char *buf, *w;
	size_t big = VAULTFS_POLICY_FILE_MAX + 1;

	(void)state;
	/* values per condition */
	buf = malloc(8192);
	assert_non_null(buf);
	w = buf + sprintf(buf, "allow read /a uid=0");
	for (unsigned i = 1; i < VAULTFS_POLICY_VALUES_MAX; i++)
		w += sprintf(w, ",%u", i);
	assert_int_equal(policy_parse_buffer("t.policy", buf, strlen(buf), &p, &d), 0);
	policy_free(p);
	p = NULL;
	sprintf(w, ",99");
	assert_int_equal(policy_parse_buffer("t.policy", buf, strlen(buf), &p, &d), -EINVAL);
	{
		char expect[96];

		snprintf(expect, sizeof(expect), "t.policy:1:%zu: too many values (at most 64)\n",
			 (size_t)(w - buf) + 2);
		assert_string_equal(d.text, expect);
	}
	policy_diag_done(&d);
	free(buf);

	/* rules per file: the cap holds, one more is refused */
	buf = malloc((VAULTFS_POLICY_RULES_PER_FILE_MAX + 1) * 24);
	assert_non_null(buf);
	w = buf;
	for (unsigned i = 0; i < VAULTFS_POLICY_RULES_PER_FILE_MAX; i++)
		w += sprintf(w, "allow read /v%u\n", i % 1000);
	assert_int_equal(policy_parse_buffer("t.policy", buf, (size_t)(w - buf), &p, &d), 0);
	assert_int_equal(policy_n_rules(p), VAULTFS_POLICY_RULES_PER_FILE_MAX);
	policy_free(p);
	p = NULL;
	w += sprintf(w, "deny read /v1\n");
	assert_int_equal(policy_parse_buffer("t.policy", buf, (size_t)(w - buf), &p, &d), -EINVAL);
	assert_string_equal(d.text,
			    "t.policy:100001:1: too many rules in one file (at most 100000)\n");
	policy_diag_done(&d);
	free(buf);

	/* file size */
	buf = calloc(1, big);
	assert_non_null(buf);
	assert_int_equal(policy_parse_buffer("t.policy", buf, big, &p, &d), -EFBIG);
	assert_string_equal(d.text, "t.policy: too large (at most 16777216 bytes)\n");
	policy_diag_done(&d);
	free(buf);

	/* files per set */
	assert_int_equal(policy_new(&p), 0);
	for (unsigned i = 0; i < VAULTFS_POLICY_FILES_MAX; i++)
		assert_int_equal(policy_add_buffer(p, "f", "allow read /a\n", 14, &d), 0);
	assert_int_equal(policy_add_buffer(p, "g", "allow read /a\n", 14, &d), -E2BIG);
	assert_string_equal(d.text, "g: too many policy files (at most 256)\n");
	assert_int_equal(policy_compile(p), -EINVAL);
	policy_free(p);
	policy_diag_done(&d);

	/* error messages kept: the first 50; all counted */
	buf = malloc(60 * 16);
	assert_non_null(buf);
	w = buf;
	for (unsigned i = 0; i < 60; i++)
		w += sprintf(w, "allow frob /a\n");
	assert_int_equal(policy_parse_buffer("t.policy", buf, (size_t)(w - buf), &p, &d), -EINVAL);
	assert_int_equal(d.n_errors, 60);
	{
		unsigned lines = 0;

		for (const char *c = d.text; *c; c++)
			lines += *c == '\n';
		assert_int_equal(lines, VAULTFS_POLICY_ERRORS_MAX);
	}
	policy_diag_done(&d);
	free(buf);
}

static void test_parse_good(void **state)
{
	static const char text[] =
		"# payments\r\n"
		"\tallow  read,list\t/payments/*   group=root  # members only\r\n"
		"deny * /payments/** exe=/usr/bin/python3*,/usr/bin/perl\n"
		"allow read /web/tls.* cgroup=/machine.slice/libpod-*.scope/**\n"
		"allow list,meta,write,delete,recover  /**  uid=root,65534\n"
		"allow read /x unit=a.service container=* pod=* after=2026-01-01 "
		"before=2027-01-01T00:00:00Z gid=nogroup\n"
		"allow sign,verify,encrypt,decrypt,wrap,unwrap,purge,manage /k"; /* no newline */
	struct policy_diag d = { 0 };
	_cleanup_policy_ struct policy *p = NULL;
	struct policy *q = NULL;

	(void)state;
	assert_int_equal(policy_parse_buffer("t.policy", text, sizeof(text) - 1, &p, &d), 0);
	assert_int_equal(d.n_errors, 0);
	assert_null(d.text);
	assert_int_equal(policy_n_rules(p), 6);
	assert_int_equal(policy_n_files(p), 1);
	assert_int_equal(policy_needs(p), IDENTITY_UID | IDENTITY_GID | IDENTITY_GROUPS |
						  IDENTITY_CGROUP | IDENTITY_EXE);
	/* an empty set is fine, and needs nothing */
	assert_int_equal(policy_parse_buffer("t.policy", "", 0, &q, &d), 0);
	assert_int_equal(policy_n_rules(q), 0);
	assert_int_equal(policy_needs(q), 0);
	policy_free(q);
	assert_int_equal(policy_parse_buffer("t.policy", "allow read /a uid=0\n", 20, &q, &d), 0);
	assert_int_equal(policy_needs(q), IDENTITY_UID);
	policy_free(q);
	assert_int_equal(
		policy_parse_buffer("t.policy", "allow read /a unit=x.service\n", 29, &q, &d), 0);
	assert_int_equal(policy_needs(q), IDENTITY_CGROUP);
	policy_free(q);
}

/* --- the evaluator --- */

static struct policy *load(const char *text)
{
	struct policy_diag d = { 0 };
	struct policy *p = NULL;
	int r;

	r = policy_parse_buffer("t.policy", text, strlen(text), &p, &d);
	if (r < 0)
		fail_msg("policy did not load: %s", d.text ? d.text : "?");
	policy_diag_done(&d);
	return p;
}

static struct identity *ident(uint32_t uid, uint32_t gid)
{
	struct identity *id = malloc(sizeof(*id));

	assert_non_null(id);
	identity_init(id);
	identity_set_uid(id, uid);
	identity_set_gid(id, gid);
	assert_int_equal(identity_set_groups(id, NULL, 0), 0);
	return id;
}

/* The decision's rule name, "deny"/"allow" prefixed: "allow t.policy:3", "deny default". */
static const char *decide(const struct policy *p, const char *op, const char *path,
			  const struct identity *id, int64_t now)
{
	static char buf[128];
	struct policy_decision dec;
	unsigned o;

	assert_int_equal(policy_op_from_string(op, &o), 0);
	assert_int_equal(policy_check(p, o, path, id, now, &dec), 0);
	assert_true(dec.verdict == POLICY_ALLOW || dec.verdict == POLICY_DENY);
	assert_true((dec.match == NULL) == streq(dec.rule, "default"));
	snprintf(buf, sizeof(buf), "%s %s", dec.verdict == POLICY_ALLOW ? "allow" : "deny",
		 dec.rule);
	return buf;
}

static void test_default_deny_and_order(void **state)
{
	struct policy *p = load("allow read /a/x\n"
				"allow read /a/*\n"
				"deny read /a/y\n"
				"allow read /a/y\n"
				"allow list /a\n");
	struct identity *id = ident(1000, 1000);

	(void)state;
	assert_string_equal(decide(p, "read", "/a/x", id, 0), "allow t.policy:1");
	assert_string_equal(decide(p, "read", "/a/z", id, 0), "allow t.policy:2");
	assert_string_equal(decide(p, "read", "/a/y", id, 0), "deny t.policy:3");
	assert_string_equal(decide(p, "write", "/a/x", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/b/x", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/a", id, 0), "deny default");
	assert_string_equal(decide(p, "list", "/a", id, 0), "allow t.policy:5");
	assert_string_equal(decide(p, "list", "/a/x", id, 0), "deny default");
	policy_free(p);
	/* a deny after the allow, and one from the shared list, still win */
	p = load("allow * /**\n"
		 "deny read /*/secret\n"
		 "deny read /a/secret\n");
	assert_string_equal(decide(p, "read", "/a/secret", id, 0), "deny t.policy:2");
	assert_string_equal(decide(p, "read", "/b/secret", id, 0), "deny t.policy:2");
	assert_string_equal(decide(p, "write", "/a/secret", id, 0), "allow t.policy:1");
	assert_string_equal(decide(p, "read", "/a/other", id, 0), "allow t.policy:1");
	policy_free(p);
	/* an empty set denies everything */
	p = load("");
	assert_string_equal(decide(p, "list", "/a", id, 0), "deny default");
	policy_free(p);
	free(id);
}

static void test_ops_and_globs(void **state)
{
	struct policy *p = load("allow * /ops/all\n"
				"allow sign,verify /ops/k\n"
				"allow read /g1/*\n"
				"allow read /g2/**\n"
				"allow read /*/shared\n"
				"allow read /web/tls.*\n"
				"allow manage /pay*\n"
				"allow read /p/ab*\n");
	struct identity *id = ident(1, 1);
	static const char *const ops[] = { "list",    "meta",	 "read",   "write", "delete",
					   "recover", "purge",	 "manage", "sign",  "verify",
					   "encrypt", "decrypt", "wrap",   "unwrap" };
	unsigned o;

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(ops); i++) {
		assert_int_equal(policy_op_from_string(ops[i], &o), 0);
		assert_int_equal(o, 1u << i);
		assert_string_equal(policy_op_name(o), ops[i]);
		assert_string_equal(decide(p, ops[i], "/ops/all", id, 0), "allow t.policy:1");
	}
	assert_int_equal(policy_op_from_string("*", &o), -EINVAL);
	assert_int_equal(policy_op_from_string("Read", &o), -EINVAL);
	assert_null(policy_op_name(POLICY_OP_READ | POLICY_OP_LIST));
	assert_string_equal(decide(p, "sign", "/ops/k", id, 0), "allow t.policy:2");
	assert_string_equal(decide(p, "verify", "/ops/k", id, 0), "allow t.policy:2");
	assert_string_equal(decide(p, "encrypt", "/ops/k", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/g1/x", id, 0), "allow t.policy:3");
	assert_string_equal(decide(p, "read", "/g1", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/g2", id, 0), "allow t.policy:4");
	assert_string_equal(decide(p, "read", "/g2/x", id, 0), "allow t.policy:4");
	assert_string_equal(decide(p, "read", "/g2/.versions/x/3", id, 0), "allow t.policy:4");
	assert_string_equal(decide(p, "read", "/q/shared", id, 0), "allow t.policy:5");
	assert_string_equal(decide(p, "read", "/q/shared2", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/web/tls.crt", id, 0), "allow t.policy:6");
	assert_string_equal(decide(p, "read", "/web/tls", id, 0), "deny default");
	assert_string_equal(decide(p, "manage", "/payments", id, 0), "allow t.policy:7");
	assert_string_equal(decide(p, "manage", "/payments/x", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/p/ab", id, 0), "allow t.policy:8");
	assert_string_equal(decide(p, "read", "/p/abc", id, 0), "allow t.policy:8");
	assert_string_equal(decide(p, "read", "/p/a", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/p/xab", id, 0), "deny default");
	policy_free(p);
	free(id);
}

static void test_bad_requests(void **state)
{
	struct policy *p = load("allow * /**\n");
	struct identity *id = ident(1, 1);
	struct policy_decision dec = { .verdict = 42 };
	static const char *const bad[] = { "",	    "a",     "/",    "//",  "/a/",
					   "/a//b", "/a/..", "/./x", "/a/." };
	struct policy *raw;
	unsigned ops = 77;

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_int_equal(policy_check(p, POLICY_OP_READ, bad[i], id, 0, &dec), -EINVAL);
	assert_int_equal(policy_check(p, POLICY_OP_READ, NULL, id, 0, &dec), -EINVAL);
	assert_int_equal(policy_check(p, 0, "/a", id, 0, &dec), -EINVAL);
	assert_int_equal(policy_check(p, POLICY_OP_READ | POLICY_OP_LIST, "/a", id, 0, &dec),
			 -EINVAL);
	assert_int_equal(policy_check(p, 1u << 14, "/a", id, 0, &dec), -EINVAL);
	assert_int_equal(dec.verdict, 42); /* not written on failure */
	assert_int_equal(policy_rights(p, "/a/", id, 0, &ops), -EINVAL);
	assert_int_equal(ops, 77);
	assert_int_equal(policy_visible(p, "//", id, 0), -EINVAL);
	policy_free(p);
	/* not compiled yet: refused; compiled: no more adds */
	assert_int_equal(policy_new(&raw), 0);
	assert_int_equal(policy_add_buffer(raw, "t", "allow * /**\n", 12, NULL), 0);
	assert_int_equal(policy_check(raw, POLICY_OP_READ, "/a", id, 0, &dec), -EINVAL);
	assert_int_equal(policy_compile(raw), 0);
	assert_int_equal(policy_compile(raw), 0);
	assert_int_equal(policy_add_buffer(raw, "t", "allow * /**\n", 12, NULL), -EBUSY);
	assert_int_equal(policy_check(raw, POLICY_OP_READ, "/a", id, 0, &dec), 0);
	assert_int_equal(dec.verdict, POLICY_ALLOW);
	policy_free(raw);
	/* a set with an error never compiles, whatever else it holds */
	assert_int_equal(policy_new(&raw), 0);
	assert_int_equal(policy_add_buffer(raw, "t", "allow * /**\n", 12, NULL), 0);
	assert_int_equal(policy_add_buffer(raw, "u", "allow * /**\nallw\n", 17, NULL), -EINVAL);
	assert_int_equal(policy_compile(raw), -EINVAL);
	policy_free(raw);
	policy_free(NULL);
	free(id);
}

static void test_conditions(void **state)
{
	struct policy *p = load("allow read /c/uid uid=root,4242\n"
				"allow read /c/gid gid=nogroup\n"
				"allow read /c/group group=100,root\n"
				"allow read /c/cgroup cgroup=/machine.slice/libpod-*.scope/**\n"
				"allow read /c/unit unit=payments-api.service\n"
				"allow read /c/uunit unit=user@1000.service/payments-api.service\n"
				"allow read /c/anyuunit unit=user@*.service/*\n"
				"allow read /c/container container=0123*\n"
				"allow read /c/pod pod=8a3b9c2d-*\n"
				"allow read /c/exe exe=/usr/bin/app,/opt/**\n"
				"allow read /c/two uid=7 unit=a.service\n");
	struct identity *id = ident(4242, 65534);
	struct identity *other = ident(7, 7);
	gid_t sup[] = { 100 };

	(void)state;
	assert_string_equal(decide(p, "read", "/c/uid", id, 0), "allow t.policy:1");
	assert_string_equal(decide(p, "read", "/c/uid", other, 0), "deny default");
	identity_set_uid(other, 0);
	assert_string_equal(decide(p, "read", "/c/uid", other, 0), "allow t.policy:1");
	assert_string_equal(decide(p, "read", "/c/gid", id, 0), "allow t.policy:2");
	assert_string_equal(decide(p, "read", "/c/gid", other, 0), "deny default");
	/* group=: the primary gid or a supplementary group; gid= only the primary */
	assert_string_equal(decide(p, "read", "/c/group", id, 0), "deny default");
	assert_int_equal(identity_set_groups(id, sup, 1), 0);
	assert_string_equal(decide(p, "read", "/c/group", id, 0), "allow t.policy:3");
	identity_set_gid(other, 0);
	assert_string_equal(decide(p, "read", "/c/group", other, 0), "allow t.policy:3");
	identity_set_gid(other, 100);
	assert_string_equal(decide(p, "read", "/c/gid", other, 0), "deny default");

	assert_int_equal(identity_set_cgroup(id, "/machine.slice/libpod-"
						 "0123456789abcdef"
						 "0123456789abcdef0123456789abcdef0123456789abcdef"
						 ".scope/container"),
			 0);
	assert_string_equal(decide(p, "read", "/c/cgroup", id, 0), "allow t.policy:4");
	assert_string_equal(decide(p, "read", "/c/container", id, 0), "allow t.policy:8");
	assert_string_equal(decide(p, "read", "/c/pod", id, 0), "deny default");
	assert_int_equal(identity_set_cgroup(id, "/kubepods/burstable/pod8a3b9c2d-1e4f-4a5b-9c6d-"
						 "7e8f9a0b1c2d/fedcba9876543210fedcba9876543210"
						 "fedcba9876543210fedcba9876543210"),
			 0);
	assert_string_equal(decide(p, "read", "/c/pod", id, 0), "allow t.policy:9");
	assert_string_equal(decide(p, "read", "/c/container", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/c/cgroup", id, 0), "deny default");

	/* a system unit, and the same name as a user unit */
	assert_int_equal(identity_set_cgroup(id, "/system.slice/payments-api.service"), 0);
	assert_string_equal(decide(p, "read", "/c/unit", id, 0), "allow t.policy:5");
	assert_string_equal(decide(p, "read", "/c/uunit", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/c/anyuunit", id, 0), "deny default");
	assert_int_equal(identity_set_cgroup(id, "/user.slice/user-1000.slice/user@1000.service/"
						 "app.slice/payments-api.service"),
			 0);
	assert_true(id->cg.user_unit);
	assert_string_equal(decide(p, "read", "/c/unit", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/c/uunit", id, 0), "allow t.policy:6");
	assert_string_equal(decide(p, "read", "/c/anyuunit", id, 0), "allow t.policy:7");
	assert_int_equal(identity_set_cgroup(id, "/user.slice/user-1001.slice/user@1001.service/"
						 "app.slice/payments-api.service"),
			 0);
	assert_string_equal(decide(p, "read", "/c/uunit", id, 0), "deny default");
	/* no unit at all */
	assert_int_equal(identity_set_cgroup(id, "/"), 0);
	assert_string_equal(decide(p, "read", "/c/unit", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/c/anyuunit", id, 0), "deny default");

	assert_int_equal(identity_set_exe(id, "/usr/bin/app"), 0);
	assert_string_equal(decide(p, "read", "/c/exe", id, 0), "allow t.policy:10");
	assert_int_equal(identity_set_exe(id, "/opt/x/bin/y"), 0);
	assert_string_equal(decide(p, "read", "/c/exe", id, 0), "allow t.policy:10");
	assert_int_equal(identity_set_exe(id, "/usr/bin/app2"), 0);
	assert_string_equal(decide(p, "read", "/c/exe", id, 0), "deny default");

	/* all conditions must hold */
	identity_set_uid(other, 7);
	assert_int_equal(identity_set_cgroup(other, "/system.slice/b.service"), 0);
	assert_string_equal(decide(p, "read", "/c/two", other, 0), "deny default");
	assert_int_equal(identity_set_cgroup(other, "/system.slice/a.service"), 0);
	assert_string_equal(decide(p, "read", "/c/two", other, 0), "allow t.policy:11");
	identity_set_uid(other, 8);
	assert_string_equal(decide(p, "read", "/c/two", other, 0), "deny default");
	policy_free(p);
	free(id);
	free(other);
}

static void test_time_windows(void **state)
{
	struct policy *p =
		load("allow read /t/a after=2026-01-01T00:00:00Z\n"
		     "allow read /t/b before=2027-01-01T00:00:00Z\n"
		     "allow read /t/ab after=2026-01-01T02:00:00+02:00 "
		     "before=2027-01-01\n"
		     "deny read /t/ab after=2026-06-01T00:00:00Z before=2026-06-02T00:00:00Z\n");
	struct identity *id = ident(1, 1);

	(void)state;
	assert_string_equal(decide(p, "read", "/t/a", id, T2026 - 1), "deny default");
	assert_string_equal(decide(p, "read", "/t/a", id, T2026), "allow t.policy:1");
	assert_string_equal(decide(p, "read", "/t/b", id, T2027 - 1), "allow t.policy:2");
	assert_string_equal(decide(p, "read", "/t/b", id, T2027), "deny default");
	assert_string_equal(decide(p, "read", "/t/ab", id, T2026 - 1), "deny default");
	assert_string_equal(decide(p, "read", "/t/ab", id, T2026), "allow t.policy:3");
	assert_string_equal(decide(p, "read", "/t/ab", id, T2027 - 1), "allow t.policy:3");
	assert_string_equal(decide(p, "read", "/t/ab", id, T2027), "deny default");
	/* a break-glass deny window inside: 2026-06-01 is day 151 of 2026 */
	assert_string_equal(decide(p, "read", "/t/ab", id, T2026 + 151 * 86400LL),
			    "deny t.policy:4");
	assert_string_equal(decide(p, "read", "/t/ab", id, T2026 + 152 * 86400LL),
			    "allow t.policy:3");
	policy_free(p);
	free(id);
}

static void test_unknown_fields(void **state)
{
	struct policy *p = load("allow read /u/* unit=a.service\n"
				"allow read /u/* group=root\n"
				"deny read /u/secret exe=/usr/bin/python3*\n"
				"allow read /u/secret uid=1\n");
	struct identity *id = malloc(sizeof(*id));
	struct policy_decision dec;

	(void)state;
	assert_non_null(id);
	identity_init(id);
	identity_set_uid(id, 1);
	/* cgroup unknown: the allow on unit= does not hold; group unknown: neither */
	assert_string_equal(decide(p, "read", "/u/x", id, 0), "deny default");
	/* primary gid known and matching: group= holds even with supplementary unknown */
	identity_set_gid(id, 0);
	assert_string_equal(decide(p, "read", "/u/x", id, 0), "allow t.policy:2");
	/* exe unknown: the deny is assumed to hold, and says so */
	assert_int_equal(policy_check(p, POLICY_OP_READ, "/u/secret", id, 0, &dec), 0);
	assert_int_equal(dec.verdict, POLICY_DENY);
	assert_string_equal(dec.rule, "t.policy:3");
	assert_int_equal(dec.assumed, IDENTITY_EXE);
	assert_true(policy_rule_is_deny(dec.match));
	assert_string_equal(policy_rule_text(dec.match),
			    "deny read /u/secret exe=/usr/bin/python3*");
	assert_int_equal(identity_set_exe(id, "/usr/bin/bash"), 0);
	assert_int_equal(policy_check(p, POLICY_OP_READ, "/u/secret", id, 0, &dec), 0);
	assert_int_equal(dec.verdict, POLICY_ALLOW);
	assert_string_equal(dec.rule, "t.policy:2");
	assert_int_equal(dec.assumed, 0);
	policy_free(p);
	free(id);
}

#define CA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define CB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define PB "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"

/* A container or pod name made below a container (or a unit) is the workload's claim: the
 * container is unknown, an allow on it never holds, a deny on it always does. */
static void test_nested_container(void **state)
{
	struct policy *p = load("allow read /a/x container=" CA "\n"
				"allow read /b/x container=" CB "\n"
				"allow read /b/y pod=" PB "\n"
				"deny read /c/x container=" CB "\n"
				"allow read /c/x uid=0\n"
				"allow read /d/x cgroup=/system.slice/docker-" CA ".scope/**\n");
	struct identity *id = ident(0, 0);
	struct policy_decision dec;

	(void)state;
	/* the runtime's own container: as before */
	assert_int_equal(identity_set_cgroup(id, "/system.slice/docker-" CA ".scope"), 0);
	assert_string_equal(decide(p, "read", "/a/x", id, 0), "allow t.policy:1");
	assert_string_equal(decide(p, "read", "/b/x", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/c/x", id, 0), "allow t.policy:5");
	/* A's workload makes docker-B.scope below A, and a pod slice: neither is believed */
	assert_int_equal(
		identity_set_cgroup(id, "/system.slice/docker-" CA ".scope/"
					"kubepods-pod1b2c3d4e_5f60_4a7b_8c9d_0e1f2a3b4c5d.slice/"
					"docker-" CB ".scope"),
		0);
	assert_true(id->cg.container_unknown);
	assert_true(id->cg.pod_unknown);
	assert_string_equal(id->cg.container, "?(" CB ")");
	assert_string_equal(decide(p, "read", "/b/x", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/b/y", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/a/x", id, 0), "deny default");
	assert_int_equal(policy_check(p, POLICY_OP_READ, "/c/x", id, 0, &dec), 0);
	assert_int_equal(dec.verdict, POLICY_DENY);
	assert_string_equal(dec.rule, "t.policy:4");
	assert_int_equal(dec.assumed, IDENTITY_CGROUP);
	/* no resolve can tell more: what the caller may turn out to hold is what it holds */
	{
		unsigned ops, maybe;

		assert_int_equal(policy_rights(p, "/b/x", id, 0, &ops), 0);
		assert_int_equal(policy_rights_maybe(p, "/b/x", id, 0, &maybe), 0);
		assert_int_equal(ops, 0);
		assert_int_equal(maybe, 0);
		assert_int_equal(policy_rights(p, "/c/x", id, 0, &ops), 0);
		assert_int_equal(policy_rights_maybe(p, "/c/x", id, 0, &maybe), 0);
		assert_int_equal(ops, 0);
		assert_int_equal(maybe, 0);
	}
	/* the path itself is what it is: a cgroup= rule on A's tree still holds */
	assert_string_equal(decide(p, "read", "/d/x", id, 0), "allow t.policy:6");
	/* below a service (a unit with Delegate=) the same */
	assert_int_equal(identity_set_cgroup(id, "/system.slice/x.service/docker-" CB ".scope"), 0);
	assert_string_equal(decide(p, "read", "/b/x", id, 0), "deny default");
	policy_free(p);
	free(id);
}

/* ns=host: root on the host, not root in a container (a mount namespace of its own). */
static void test_ns(void **state)
{
	struct policy *p = load("allow write /** uid=0 ns=host\n"
				"deny read /x/* ns=other\n"
				"allow read /x/* uid=0\n"
				"allow list /x ns=host,other\n");
	struct identity *id = ident(0, 0);
	struct policy_decision dec;
	struct policy_diag d = { 0 };
	struct policy *bad = NULL;

	(void)state;
	assert_int_equal(policy_needs(p), IDENTITY_UID | IDENTITY_NS);
	/* unknown: the allow does not hold, the deny does */
	assert_string_equal(decide(p, "write", "/a/b", id, 0), "deny default");
	assert_int_equal(policy_check(p, POLICY_OP_READ, "/x/y", id, 0, &dec), 0);
	assert_string_equal(dec.rule, "t.policy:2");
	assert_int_equal(dec.assumed, IDENTITY_NS);
	assert_string_equal(decide(p, "list", "/x", id, 0), "deny default");
	/* the host */
	identity_set_host(id, true);
	assert_string_equal(decide(p, "write", "/a/b", id, 0), "allow t.policy:1");
	assert_string_equal(decide(p, "read", "/x/y", id, 0), "allow t.policy:3");
	assert_string_equal(decide(p, "list", "/x", id, 0), "allow t.policy:4");
	/* another mount namespace: root in a container */
	identity_set_host(id, false);
	assert_string_equal(decide(p, "write", "/a/b", id, 0), "deny default");
	assert_string_equal(decide(p, "read", "/x/y", id, 0), "deny t.policy:2");
	assert_string_equal(decide(p, "list", "/x", id, 0), "allow t.policy:4");
	policy_free(p);
	free(id);
	assert_int_equal(
		policy_parse_buffer("t.policy", "allow read /a ns=container", 26, &bad, &d),
		-EINVAL);
	assert_string_equal(d.text,
			    "t.policy:1:18: unknown ns= value 'container' (host or other)\n");
	policy_diag_done(&d);
}

/* ssh=: what an ssh-agent signature is for. Unknown outside the agent socket: an allow with it
 * never holds there, a deny assumes it. */
static void test_ssh(void **state)
{
	struct policy *p = load("allow sign /v/git ssh=sig:git\n"
				"allow sign /v/login ssh=login uid=0\n"
				"allow sign /v/any\n"
				"deny sign /v/any ssh=sig:file,sig:x-*\n"
				"allow sign /v/many ssh=login,other,sig:a*\n");
	struct identity *id = ident(0, 0);
	struct policy_decision dec;
	struct policy_diag d = { 0 };
	struct policy *bad = NULL;
	unsigned ops;

	(void)state;
	/* nothing to resolve for ssh=: the agent socket sets it */
	assert_int_equal(policy_needs(p), IDENTITY_UID);
	assert_string_equal(identity_field_name(IDENTITY_SSH), "ssh");
	/* unknown (a FUSE caller, the control socket): the allow does not hold, the deny does */
	assert_string_equal(decide(p, "sign", "/v/git", id, 0), "deny default");
	assert_string_equal(decide(p, "sign", "/v/login", id, 0), "deny default");
	assert_int_equal(policy_check(p, POLICY_OP_SIGN, "/v/any", id, 0, &dec), 0);
	assert_string_equal(dec.rule, "t.policy:4");
	assert_int_equal(dec.assumed, IDENTITY_SSH);
	/* an SSHSIG of namespace git */
	identity_set_ssh(id, IDENTITY_SSH_SIG, "git");
	assert_string_equal(decide(p, "sign", "/v/git", id, 0), "allow t.policy:1");
	assert_string_equal(decide(p, "sign", "/v/login", id, 0), "deny default");
	assert_string_equal(decide(p, "sign", "/v/any", id, 0), "allow t.policy:3");
	assert_string_equal(decide(p, "sign", "/v/many", id, 0), "deny default");
	identity_set_ssh(id, IDENTITY_SSH_SIG, "file");
	assert_string_equal(decide(p, "sign", "/v/git", id, 0), "deny default");
	assert_string_equal(decide(p, "sign", "/v/any", id, 0), "deny t.policy:4");
	identity_set_ssh(id, IDENTITY_SSH_SIG, "x-y");
	assert_string_equal(decide(p, "sign", "/v/any", id, 0), "deny t.policy:4");
	identity_set_ssh(id, IDENTITY_SSH_SIG, "abc");
	assert_string_equal(decide(p, "sign", "/v/many", id, 0), "allow t.policy:5");
	/* "gitx" is not "git": a glob matches the whole namespace */
	identity_set_ssh(id, IDENTITY_SSH_SIG, "gitx");
	assert_string_equal(decide(p, "sign", "/v/git", id, 0), "deny default");
	/* a login */
	identity_set_ssh(id, IDENTITY_SSH_LOGIN, NULL);
	assert_string_equal(decide(p, "sign", "/v/git", id, 0), "deny default");
	assert_string_equal(decide(p, "sign", "/v/login", id, 0), "allow t.policy:2");
	assert_string_equal(decide(p, "sign", "/v/any", id, 0), "allow t.policy:3");
	assert_string_equal(decide(p, "sign", "/v/many", id, 0), "allow t.policy:5");
	/* other data (ssh-add -T) */
	identity_set_ssh(id, IDENTITY_SSH_OTHER, NULL);
	assert_string_equal(decide(p, "sign", "/v/login", id, 0), "deny default");
	assert_string_equal(decide(p, "sign", "/v/many", id, 0), "allow t.policy:5");
	/* any use (the agent's list): an allow's ssh= holds, a deny's does not */
	identity_set_ssh(id, IDENTITY_SSH_ANY, NULL);
	assert_string_equal(decide(p, "sign", "/v/git", id, 0), "allow t.policy:1");
	assert_string_equal(decide(p, "sign", "/v/login", id, 0), "allow t.policy:2");
	assert_string_equal(decide(p, "sign", "/v/any", id, 0), "allow t.policy:3");
	assert_int_equal(policy_rights(p, "/v/any", id, 0, &ops), 0);
	assert_int_equal(ops, POLICY_OP_SIGN);
	/* and the other conditions still count */
	identity_set_uid(id, 1000);
	assert_string_equal(decide(p, "sign", "/v/login", id, 0), "deny default");
	/* unknown again */
	identity_set_ssh(id, IDENTITY_SSH_NONE, NULL);
	assert_false(id->known & IDENTITY_SSH);
	assert_string_equal(decide(p, "sign", "/v/many", id, 0), "deny default");
	policy_free(p);
	free(id);
	assert_int_equal(policy_parse_buffer("t.policy", "allow sign /a ssh=git", 21, &bad, &d),
			 -EINVAL);
	assert_string_equal(
		d.text,
		"t.policy:1:19: unknown ssh= value 'git' (login, other or sig:NAMESPACE)\n");
	policy_diag_done(&d);
	assert_int_equal(policy_parse_buffer("t.policy", "allow sign /a ssh=sig:", 22, &bad, &d),
			 -EINVAL);
	assert_string_equal(d.text, "t.policy:1:23: malformed glob: empty\n");
	policy_diag_done(&d);
	assert_int_equal(policy_parse_buffer("t.policy", "allow sign /a ssh=sig:a?", 24, &bad, &d),
			 -EINVAL);
	assert_string_equal(d.text, "t.policy:1:24: malformed glob: reserved character\n");
	policy_diag_done(&d);
}

/* policy_rights and policy_rights_maybe of path are ops and maybe. */
static void expect_rights(const struct policy *p, const char *path, const struct identity *id,
			  unsigned ops, unsigned maybe)
{
	unsigned got;

	assert_int_equal(policy_rights(p, path, id, 0, &got), 0);
	assert_int_equal(got, ops);
	assert_int_equal(policy_rights_maybe(p, path, id, 0, &got), 0);
	assert_int_equal(got, maybe);
}

/* policy_rights counts an unknown field against the caller, policy_rights_maybe for it; once
 * every field is known the two agree. */
static void test_rights_maybe(void **state)
{
	struct policy *p = load("allow read /app/* uid=0\n"
				"allow write /app/* uid=0 exe=/usr/bin/w\n"
				"allow meta /app/* uid=5 exe=/usr/bin/w\n"
				"deny read /app/db cgroup=/bad.slice/**\n"
				"deny write /app/db uid=0 gid=7\n"
				"allow list /app unit=x.service\n");
	struct identity *id = ident(0, 0);
	const unsigned rw = POLICY_OP_READ | POLICY_OP_WRITE;
	unsigned maybe;

	(void)state;
	/* uid and gid known, cgroup and exe not: read may meet the cgroup deny, write needs the
	 * exe; meta never (uid 0 is known) */
	expect_rights(p, "/app/db", id, 0, rw);
	expect_rights(p, "/app/x", id, POLICY_OP_READ, rw);
	expect_rights(p, "/app", id, 0, POLICY_OP_LIST);
	assert_int_equal(policy_rights_maybe(p, "/app/", id, 0, &maybe), -EINVAL);
	/* a deny whose known fields hold takes the right away either way */
	identity_set_gid(id, 7);
	expect_rights(p, "/app/db", id, 0, POLICY_OP_READ);
	/* everything known: the two agree */
	assert_int_equal(identity_set_cgroup(id, "/bad.slice/x.service"), 0);
	assert_int_equal(identity_set_exe(id, "/usr/bin/w"), 0);
	expect_rights(p, "/app/db", id, 0, 0);
	identity_set_gid(id, 0);
	assert_int_equal(identity_set_cgroup(id, "/good.slice/x.service"), 0);
	expect_rights(p, "/app/db", id, rw, rw);
	policy_free(p);
	free(id);
}

static void test_rights_and_visibility(void **state)
{
	struct policy *p = load("allow list /app\n"
				"allow read,meta /app/*\n"
				"deny read /app/hidden\n"
				"deny * /app/gone\n"
				"allow read /other/db uid=5\n"
				"allow write /**/w uid=6\n");
	struct identity *id = ident(5, 5);
	struct identity *six = ident(6, 6);
	unsigned ops;

	(void)state;
	assert_int_equal(policy_rights(p, "/app", id, 0, &ops), 0);
	assert_int_equal(ops, POLICY_OP_LIST);
	assert_int_equal(policy_rights(p, "/app/db", id, 0, &ops), 0);
	assert_int_equal(ops, POLICY_OP_READ | POLICY_OP_META);
	assert_int_equal(policy_rights(p, "/app/hidden", id, 0, &ops), 0);
	assert_int_equal(ops, POLICY_OP_META);
	assert_int_equal(policy_rights(p, "/app/gone", id, 0, &ops), 0);
	assert_int_equal(ops, 0);
	assert_int_equal(policy_visible(p, "/app", id, 0), 1);
	assert_int_equal(policy_visible(p, "/app/db", id, 0), 1);
	assert_int_equal(policy_visible(p, "/app/hidden", id, 0), 1);
	assert_int_equal(policy_visible(p, "/app/gone", id, 0), 0);
	/* no right on /other itself, but one inside: the vault is listed, only db in it */
	assert_int_equal(policy_visible(p, "/other", id, 0), 1);
	assert_int_equal(policy_visible(p, "/other/db", id, 0), 1);
	assert_int_equal(policy_visible(p, "/other/x", id, 0), 0);
	assert_int_equal(policy_visible(p, "/third", id, 0), 0);
	/* ... unless the rule does not hold for the caller */
	identity_set_uid(id, 7);
	assert_int_equal(policy_visible(p, "/other", id, 0), 0);
	assert_int_equal(policy_visible(p, "/app", id, 0), 1);
	/* a shared rule that reaches into every vault */
	assert_int_equal(policy_visible(p, "/other", six, 0), 1);
	assert_int_equal(policy_visible(p, "/third", six, 0), 1);
	assert_int_equal(policy_visible(p, "/third/w", six, 0), 1);
	assert_int_equal(policy_visible(p, "/third/v", six, 0), 0);
	policy_free(p);
	free(id);
	free(six);
}

struct seen {
	char names[8][64];
	unsigned assumed[8];
	unsigned n;
};

static int collect(const struct policy_rule *r, unsigned assumed, void *ud)
{
	struct seen *s = ud;

	assert_true(s->n < 8);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s %s",
		 policy_rule_is_deny(r) ? "deny" : "allow", policy_rule_name(r));
	s->assumed[s->n++] = assumed;
	return 0;
}

static int stop(const struct policy_rule *r, unsigned assumed, void *ud)
{
	(void)r, (void)assumed, (void)ud;
	return -ECANCELED;
}

static void test_explain(void **state)
{
	struct policy *p = load("allow read /**\n"
				"allow read /e/x uid=1\n"
				"deny read /e/* exe=/bin/*\n"
				"allow write /e/x\n"
				"deny read /e/x uid=2\n"
				"allow read /*/x\n");
	struct identity *id = ident(1, 1);
	struct policy_decision dec;
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(policy_explain(p, POLICY_OP_READ, "/e/x", id, 0, collect, &s, &dec), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.names[0], "allow t.policy:1");
	assert_string_equal(s.names[1], "allow t.policy:2");
	assert_string_equal(s.names[2], "deny t.policy:3");
	assert_int_equal(s.assumed[2], IDENTITY_EXE);
	assert_string_equal(s.names[3], "allow t.policy:6");
	assert_int_equal(dec.verdict, POLICY_DENY);
	assert_string_equal(dec.rule, "t.policy:3");
	assert_int_equal(policy_explain(p, POLICY_OP_READ, "/e/x", id, 0, stop, NULL, &dec),
			 -ECANCELED);
	/* with no callback it is policy_check */
	assert_int_equal(policy_explain(p, POLICY_OP_WRITE, "/e/x", id, 0, NULL, NULL, &dec), 0);
	assert_string_equal(dec.rule, "t.policy:4");
	assert_string_equal(policy_rule_name(NULL), "default");
	policy_free(p);
	free(id);
}

/* Many vaults: each decision sees its own vault's rules and the shared ones, right ones. */
static void test_index(void **state)
{
	size_t size = 3000 * 64;
	char *buf = malloc(size), *w = buf;
	struct identity *id = ident(0, 0);
	struct policy *p;
	char path[64], want[64];

	(void)state;
	assert_non_null(buf);
	for (unsigned v = 0; v < 3000; v++)
		w += sprintf(w, "allow read /v%u/s uid=%u\n", v, v);
	w += sprintf(w, "deny read /v7*/s uid=77\n");
	w += sprintf(w, "allow read /**/pub\n");
	p = load(buf);
	free(buf);
	for (unsigned v = 0; v < 3000; v += 7) {
		snprintf(path, sizeof(path), "/v%u/s", v);
		identity_set_uid(id, v);
		snprintf(want, sizeof(want), "%s t.policy:%u", v == 77 ? "deny" : "allow",
			 v == 77 ? 3001 : v + 1);
		assert_string_equal(decide(p, "read", path, id, 0), want);
		identity_set_uid(id, v + 1);
		assert_string_equal(decide(p, "read", path, id, 0), "deny default");
	}
	assert_string_equal(decide(p, "read", "/v12/pub", id, 0), "allow t.policy:3002");
	assert_string_equal(decide(p, "read", "/nosuch/pub", id, 0), "allow t.policy:3002");
	assert_string_equal(decide(p, "read", "/nosuch/s", id, 0), "deny default");
	policy_free(p);
	free(id);
}

/* --- files and directories --- */

static void write_text(const char *path, const char *text, mode_t mode)
{
	test_write_file(path, text, strlen(text), mode);
}

static void test_files(void **state)
{
	char *dir, path[128], expect[512];
	struct policy_diag d = { 0 };
	struct identity *id = ident(1, 1);
	struct policy *p = NULL;

	(void)state;
	assert_int_equal(test_tmpdir(&dir), 0);
	snprintf(path, sizeof(path), "%s/20-b.policy", dir);
	write_text(path, "allow read /a/x\n", 0600);
	snprintf(path, sizeof(path), "%s/10-a.policy", dir);
	write_text(path, "\ndeny read /a/x uid=2\n", 0644);
	snprintf(path, sizeof(path), "%s/.hidden.policy", dir);
	write_text(path, "garbage\n", 0600);
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	write_text(path, "garbage\n", 0600);
	snprintf(path, sizeof(path), "%s/sub.policy", dir);
	assert_int_equal(mkdir(path, 0700), 0);

	/* a directory named *.policy is refused like any non-file */
	assert_int_equal(policy_load_dir(dir, &p, &d), -EINVAL);
	snprintf(expect, sizeof(expect), "%s/sub.policy: not a regular file\n", dir);
	assert_string_equal(d.text, expect);
	assert_null(p);
	policy_diag_done(&d);
	assert_int_equal(rmdir(path), 0);

	assert_int_equal(policy_load_dir(dir, &p, &d), 0);
	assert_int_equal(policy_n_files(p), 2);
	assert_int_equal(policy_n_rules(p), 2);
	identity_set_uid(id, 2);
	{
		struct policy_decision dec;

		assert_int_equal(policy_check(p, POLICY_OP_READ, "/a/x", id, 0, &dec), 0);
		snprintf(expect, sizeof(expect), "%s/10-a.policy:2", dir);
		assert_string_equal(dec.rule, expect);
		identity_set_uid(id, 1);
		assert_int_equal(policy_check(p, POLICY_OP_READ, "/a/x", id, 0, &dec), 0);
		snprintf(expect, sizeof(expect), "%s/20-b.policy:1", dir);
		assert_string_equal(dec.rule, expect);
	}
	policy_free(p);
	p = NULL;

	/* writable by others: refused, and the whole set with it */
	snprintf(path, sizeof(path), "%s/10-a.policy", dir);
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(policy_load_dir(dir, &p, &d), -EPERM);
	snprintf(expect, sizeof(expect),
		 "%s: refused: writable by others than its owner, or "
		 "owned by another user\n",
		 path);
	assert_string_equal(d.text, expect);
	policy_diag_done(&d);
	assert_int_equal(unlink(path), 0);

	/* a file that does not exist, a dir that does not exist */
	assert_int_equal(policy_new(&p), 0);
	assert_int_equal(policy_add_file(p, path, &d), -ENOENT);
	snprintf(expect, sizeof(expect), "%s: No such file or directory\n", path);
	assert_string_equal(d.text, expect);
	policy_free(p);
	p = NULL;
	policy_diag_done(&d);
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(policy_load_dir(path, &p, &d), -ENOENT);
	policy_diag_done(&d);

	/* an error in a file names the file */
	snprintf(path, sizeof(path), "%s/20-b.policy", dir);
	write_text(path, "allow read /a/x\nallow read /a/x uid=\n", 0600);
	assert_int_equal(policy_load_dir(dir, &p, &d), -EINVAL);
	snprintf(expect, sizeof(expect), "%s:2:21: empty value\n", path);
	assert_string_equal(d.text, expect);
	policy_diag_done(&d);

	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/.hidden.policy", dir);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	assert_int_equal(unlink(path), 0);
	/* an empty dir: an empty set */
	assert_int_equal(policy_load_dir(dir, &p, &d), 0);
	assert_int_equal(policy_n_files(p), 0);
	policy_free(p);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
	free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glob_match),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_nul_and_long),
		cmocka_unit_test(test_parse_caps),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_default_deny_and_order),
		cmocka_unit_test(test_ops_and_globs),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_conditions),
		cmocka_unit_test(test_time_windows),
		cmocka_unit_test(test_unknown_fields),
		cmocka_unit_test(test_nested_container),
		cmocka_unit_test(test_ns),
		cmocka_unit_test(test_ssh),
		cmocka_unit_test(test_rights_maybe),
		cmocka_unit_test(test_rights_and_visibility),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
