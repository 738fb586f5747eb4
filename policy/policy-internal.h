/* policy-internal.h: what the parts of the policy module share (policy-parse.c reads the
 * language into rules, policy-load.c holds a set's memory and reads its files, policy.c
 * indexes the rules and decides): the compiled form of a rule and of a set. Never included
 * outside policy/policy*.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"
#include "policy/policy.h"

enum cond_kind {
	COND_UID,
	COND_GID,
	COND_GROUP,
	COND_CGROUP,
	COND_UNIT,
	COND_CONTAINER,
	COND_POD,
	COND_EXE,
	COND_NS,
	COND_SSH,
	COND_AFTER,
	COND_BEFORE,
	_COND_MAX,
};

struct cond {
	uint8_t kind;	/* enum cond_kind */
	uint8_t n;	/* values */
	uint8_t fields; /* the identity fields it reads (enum identity_field) */
	union {
		uint32_t *ids;
		char **globs;
		int64_t time;
		unsigned ns; /* NS_HOST | NS_OTHER */
		/* COND_SSH: "login", "other", or "sig:GLOB" (the glob of the namespace) */
		char **ssh;
	} v;
};

/* ns= values. */
enum {
	NS_HOST = 1u << 0,  /* the caller's mount namespace is vaultfsd's */
	NS_OTHER = 1u << 1, /* it is another */
};

/* Where a rule is kept in the compiled set, by its path. */
enum rule_class {
	CLASS_SHARED, /* a glob in the vault name: tried for every request */
	CLASS_VAULT,  /* a literal vault name, a glob after it: tried for that vault */
	CLASS_EXACT,  /* no glob at all ("/app", "/app/db"): tried for that path */
};

struct policy_rule {
	uint32_t seq; /* load order */
	uint16_t ops;
	bool deny;
	uint8_t n_conds;
	uint8_t class;	  /* enum rule_class */
	uint16_t lit;	  /* CLASS_VAULT: bytes of rest before its first '*' */
	const char *name; /* "FILE:LINE" */
	const char *text;
	const char *glob;
	const char *rest; /* CLASS_VAULT: the glob after "/VAULT/" ("" for none) */
	size_t vault_len; /* CLASS_VAULT, CLASS_EXACT: length of the vault name (at glob + 1) */
	struct cond conds[];
};

/* One key of the index: a vault name ("app", no '/') keys the CLASS_VAULT rules of that vault;
 * a path ("/app/db") keys the CLASS_EXACT rules naming it. */
struct bucket {
	const char *key; /* NULL: empty slot */
	size_t len;
	size_t n;
	const struct policy_rule **rules; /* in load order */
	size_t n_children;
	const struct policy_rule **children; /* vault keys: CLASS_EXACT rules on its objects */
};

struct arena_chunk;

struct policy {
	struct arena_chunk *arena; /* the rules of a set live and die together */
	size_t n_files;
	const struct policy_rule **rules; /* all, in load order */
	size_t n_rules, cap_rules;
	unsigned n_errors;
	unsigned needs;
	bool compiled;
	struct bucket *buckets; /* open addressing, a power of two, at most half full */
	size_t n_buckets;
	const struct policy_rule **shared; /* rules whose vault segment is a glob */
	size_t n_shared;
};

/* Memory that lives as long as p (policy-load.c): max_align_t aligned; NULL when out of it. */
void *policy_arena_alloc(struct policy *p, size_t n);
char *policy_arena_strndup(struct policy *p, const char *s, size_t n);

/* Count an error of p and append "MESSAGE\n" to d (may be NULL), up to
 * VAULTFS_POLICY_ERRORS_MAX messages (policy-parse.c). */
_printf_(3, 4) void policy_diag_add(struct policy *p, struct policy_diag *d, const char *fmt, ...);
