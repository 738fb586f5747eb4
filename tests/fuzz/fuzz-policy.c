/* fuzz-policy.c: libFuzzer target for the policy parser (policy_parse_buffer) and, for every
 * input that parses, the evaluator: check, rights, visibility and explain against fixed
 * identities and paths, and a path from a first line "#/PATH" of the input. It checks the
 * invariants a caller relies on: a refused set reports at least one error and returns no
 * policy; a decision is allow or deny and names a rule ("FILE:LINE") or "default"; a deny
 * never loses to an allow; rights agree with check. Build and run with `make fuzz`. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int count(const struct policy_rule *r, unsigned assumed, void *ud)
{
	unsigned *n = ud;

	(void)assumed;
	assert(strncmp(policy_rule_name(r), "fuzz.policy:", 12) == 0);
	(*n)++;
	return 0;
}

static void decide_all(const struct policy *p, const char *path, const struct identity *id)
{
	unsigned rights = 0, matched = 0, maybe = 0;
	struct policy_decision dec;
	int r;

	r = policy_rights(p, path, id, 1767225600, &rights);
	if (r < 0) {
		assert(r == -EINVAL);
		assert(policy_check(p, POLICY_OP_READ, path, id, 0, &dec) == -EINVAL);
		return;
	}
	for (unsigned op = 1; op & POLICY_OP_ALL; op <<= 1) {
		r = policy_check(p, op, path, id, 1767225600, &dec);
		assert(r == 0);
		assert(dec.verdict == POLICY_ALLOW || dec.verdict == POLICY_DENY);
		assert(dec.rule && (dec.match ? strncmp(dec.rule, "fuzz.policy:", 12) == 0 :
						strcmp(dec.rule, "default") == 0));
		assert(!dec.match ||
		       policy_rule_is_deny(dec.match) == (dec.verdict == POLICY_DENY));
		assert(!!(rights & op) == (dec.verdict == POLICY_ALLOW));
	}
	/* what the caller may turn out to hold is never less than what it holds */
	r = policy_rights_maybe(p, path, id, 1767225600, &maybe);
	assert(r == 0);
	assert((rights & ~maybe) == 0);
	assert((policy_needs(p) & ~id->known) != 0 || maybe == rights); /* nothing left to learn */
	r = policy_explain(p, POLICY_OP_READ, path, id, 1767225600, count, &matched, &dec);
	assert(r == 0);
	assert(dec.match ? matched > 0 : 1);
	r = policy_visible(p, path, id, 1767225600);
	assert(r == 0 || r == 1);
	assert(!rights || r == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "/a", "/a/b", "/payments/db-conn", "/web/tls.crt",
					     "/v1/x/.versions/3" };
	struct policy_diag d = { 0 };
	struct policy *p = NULL;
	struct identity *id;
	char path[128];
	int r;

	r = policy_parse_buffer("fuzz.policy", (const char *)data, size, &p, &d);
	if (r < 0) {
		assert(!p);
		assert(d.n_errors > 0 || r == -ENOMEM);
		policy_diag_done(&d);
		return 0;
	}
	assert(d.n_errors == 0 && !d.text);

	id = malloc(sizeof(*id));
	assert(id);
	identity_init(id);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		decide_all(p, paths[i], id); /* nothing known */
	identity_set_uid(id, 0);
	identity_set_gid(id, 0);
	(void)identity_set_groups(id, (gid_t[]){ 4, 100 }, 2);
	(void)identity_set_cgroup(id, "/user.slice/user-1000.slice/user@1000.service/app.slice/"
				      "app.service");
	(void)identity_set_exe(id, "/usr/bin/python3.11");
	identity_set_host(id, true);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		decide_all(p, paths[i], id);
	/* root in a container: another mount namespace, a container name its workload made */
	identity_set_host(id, false);
	(void)identity_set_cgroup(id, "/system.slice/docker-" FUZZ_ID ".scope/docker-" FUZZ_ID
				      ".scope");
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		decide_all(p, paths[i], id);
	/* a path from the input itself: a first line "#/PATH" (a comment to the parser) */
	if (size > 2 && data[0] == '#' && data[1] == '/') {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = (size_t)((nl ? nl : data + size) - data) - 1;

		if (n < sizeof(path) && !memchr(data + 1, '\0', n)) {
			memcpy(path, data + 1, n);
			path[n] = '\0';
			decide_all(p, path, id);
		}
	}
	free(id);
	policy_free(p);
	return 0;
}
