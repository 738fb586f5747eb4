/* policy.h: the policy language of ../shared/DESIGN.md §5 and the decisions made with it.
 *
 * Files hold one rule a line: `allow|deny OPS PATH [COND=V[,V]...]`, '#' starts a comment.
 * OPS is a comma list of list meta read write delete recover purge manage sign verify encrypt
 * decrypt wrap unwrap, or '*'. PATH is a glob (glob.h) of "/VAULT" (the vault itself) or
 * "/VAULT/OBJECT". Conditions all must hold; commas mean any of:
 *   uid=    user names or numbers      gid=    the primary group, names or numbers
 *   group=  the primary group or any supplementary one, names or numbers
 *   cgroup= globs of the cgroup v2 path (anchor them at the root: "/system.slice/x.service")
 *   unit=   globs of the systemd unit; a user unit is "user@UID.service/NAME", so
 *           `unit=foo.service` never matches a user's foo.service
 *   container=, pod=  globs of the ids cgroup.h derives (unknown when named in a delegated tree)
 *   exe=    globs of the executable path, known only when verified (identity.h)
 *   ns=     host: the caller's mount namespace is the resolver's (vaultfsd's: the host's);
 *           other: it is not (a container, `unshare -m`)
 *   ssh=    what an ssh-agent signature is for (identity.h IDENTITY_SSH): login (a user
 *           authentication), other (ssh-add -T, a certificate), sig:GLOB (an SSHSIG whose
 *           namespace the glob matches: sig:git). Known only on vaultfsd's agent socket, so an
 *           allow with it holds nowhere else and a deny assumes it; for the agent's list, any
 *           use (IDENTITY_SSH_ANY) takes an allow's ssh= as holding and a deny's as not
 *   after=, before=   RFC 3339 times: the rule holds from after (inclusive) to before
 * Names resolve at load time; an unknown one is an error. A set with any error is refused.
 *
 * Decisions: default deny; a matching deny beats any allow; the deciding rule is the first (in
 * load order) matching deny, else the first matching allow. A condition on an identity field
 * that is not known (identity.known) never holds for an allow rule and is assumed to hold for a
 * deny rule, so what could not be resolved can only take rights away. The compiled form keeps
 * rules without a glob in a hash table by path, rules with a literal vault name and a glob
 * after it in the same table by vault, and rules with a glob in the vault name in one shared
 * list: a decision looks at the rules for its path, its vault and the shared ones only, so
 * its cost does not grow with the rules of other vaults or objects. Decisions allocate
 * nothing and make no system calls. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ops.h"
#include "policy/identity.h"

enum policy_verdict {
	POLICY_DENY = 0,
	POLICY_ALLOW = 1,
};

struct policy;
struct policy_rule;

struct policy_decision {
	int verdict;			 /* enum policy_verdict */
	const char *rule;		 /* "FILE:LINE" of the deciding rule, or "default" */
	const struct policy_rule *match; /* the deciding rule, NULL for the default */
	unsigned assumed;		 /* identity fields a deciding deny assumed (unknown) */
};

/* Parse errors, one "FILE:LINE:COL: message\n" each (COL counts bytes from 1), or
 * "FILE: message\n" for a file that cannot be read. Zero-initialise; free with
 * policy_diag_done(). */
struct policy_diag {
	unsigned n_errors; /* all errors; text keeps the first VAULTFS_POLICY_ERRORS_MAX */
	char *text;
	size_t len;
};
void policy_diag_done(struct policy_diag *d);

/* Build a set: new, add files (in the order given), compile. diag may be NULL. An add returns
 * -EINVAL after a parse error, -EFBIG for a file over VAULTFS_POLICY_FILE_MAX, -E2BIG past
 * VAULTFS_POLICY_FILES_MAX, -EPERM for a file writable by others than its owner (or owned by
 * neither root nor us), or the -errno of a file that cannot be read; -EBUSY once compiled. */
int policy_new(struct policy **ret);
void policy_free(struct policy *p);
int policy_add_buffer(struct policy *p, const char *name, const char *buf, size_t len,
		      struct policy_diag *diag);
int policy_add_file(struct policy *p, const char *path, struct policy_diag *diag);
/* Every *.policy file of dir (not dot-files), in strcmp order of their names. */
int policy_add_dir(struct policy *p, const char *dir, struct policy_diag *diag);
/* Build the index. -EINVAL when any add failed: such a set is never used. */
int policy_compile(struct policy *p);

/* new + add + compile in one step. */
int policy_parse_buffer(const char *name, const char *buf, size_t len, struct policy **ret,
			struct policy_diag *diag);
int policy_load_dir(const char *dir, struct policy **ret, struct policy_diag *diag);

size_t policy_n_rules(const struct policy *p);
size_t policy_n_files(const struct policy *p);
/* The identity fields (enum identity_field) any rule's conditions use that a resolve can read
 * (IDENTITY_ALL: never IDENTITY_SSH, which only the agent socket sets): resolve just these. */
unsigned policy_needs(const struct policy *p);

/* Decide one op (a single POLICY_OP_*) on path ("/VAULT" or "/VAULT/OBJECT[/...]") at time now.
 * -EINVAL for a bad op or path ("" "//" "." ".." segments, trailing '/') or an uncompiled set. */
int policy_check(const struct policy *p, unsigned op, const char *path, const struct identity *id,
		 int64_t now, struct policy_decision *ret);
/* The ops the caller holds on path: allowed and not denied (for stat modes, access(2)). */
int policy_rights(const struct policy *p, const char *path, const struct identity *id, int64_t now,
		  unsigned *ret_ops);
/* The ops the caller may turn out to hold once its unknown fields are known: a superset of
 * policy_rights (equal when every field a rule reads is known). Where the two agree on the
 * ops that matter, resolving more of the caller cannot change the answer. */
int policy_rights_maybe(const struct policy *p, const char *path, const struct identity *id,
			int64_t now, unsigned *ret_ops);
/* Listings (DESIGN §5). "/V": does the caller hold a right on the vault itself, or could an
 * allow rule that holds for it grant a right on some object of V (`ls /vault`)? "/V/NAME": does
 * it hold any right on the object (`ls /vault/V`)? 1 visible, 0 not, -EINVAL bad path. */
int policy_visible(const struct policy *p, const char *path, const struct identity *id,
		   int64_t now);

/* policy_check, calling fn (when not NULL) for every rule that matches op, path and identity,
 * in load order; assumed says which unknown fields a deny rule assumed. fn returning < 0 stops
 * and is returned. */
typedef int (*policy_match_fn)(const struct policy_rule *r, unsigned assumed, void *userdata);
int policy_explain(const struct policy *p, unsigned op, const char *path, const struct identity *id,
		   int64_t now, policy_match_fn fn, void *userdata, struct policy_decision *ret);

/* Near misses, for explain: every allow rule for op and path of which all conditions but one
 * hold for the caller (an unknown field counts as not holding), in load order. fn gets the
 * rule and the condition's index in it (policy_rule_cond_text names it); < 0 stops. */
typedef int (*policy_near_fn)(const struct policy_rule *r, unsigned cond, void *userdata);
int policy_near_misses(const struct policy *p, unsigned op, const char *path,
		       const struct identity *id, int64_t now, policy_near_fn fn, void *userdata);
/* The i-th condition of r as written ("exe=/usr/bin/x"), in buf; NULL when it has none. */
const char *policy_rule_cond_text(const struct policy_rule *r, unsigned i, char *buf, size_t size);

/* "FILE:LINE", the rule as written (without a comment), allow or deny. */
const char *policy_rule_name(const struct policy_rule *r);
const char *policy_rule_text(const struct policy_rule *r);
bool policy_rule_is_deny(const struct policy_rule *r);

/* "read" for POLICY_OP_READ; NULL for anything but one op. */
const char *policy_op_name(unsigned op);
/* One op name to its bit; -EINVAL for an unknown name. */
int policy_op_from_string(const char *s, unsigned *ret);

static inline void policy_freep(struct policy **p)
{
	policy_free(*p);
}
#define _cleanup_policy_ __attribute__((cleanup(policy_freep)))
