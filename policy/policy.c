/* policy.c: the compiled set and its decisions (policy.h): the index that policy_compile
 * builds (rules without a glob by path, rules with a literal vault name by vault, the rest in
 * one shared list), and check, explain, rights and visibility on it. Deciding allocates
 * nothing, makes no system call and touches no global state, so the daemon can call it on
 * every open; an unknown identity field only ever takes rights away. It never sees secret
 * bytes and never logs. */
#include <stdio.h>

#include "policy/glob.h"
#include "policy/policy-internal.h"

/* --- the index --- */

static uint64_t hash_name(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static struct bucket *bucket_slot(struct bucket *b, size_t n_buckets, const char *key, size_t len)
{
	size_t mask = n_buckets - 1;

	for (size_t i = hash_name(key, len) & mask;; i = (i + 1) & mask)
		if (!b[i].key || (b[i].len == len && memcmp(b[i].key, key, len) == 0))
			return &b[i];
}

static struct bucket *bucket_add(struct policy *p, const char *key, size_t len)
{
	struct bucket *b = bucket_slot(p->buckets, p->n_buckets, key, len);

	b->key = key;
	b->len = len;
	return b;
}

/* A CLASS_EXACT rule on an object ("/V/NAME", not "/V") is also a child of vault V. */
static bool exact_child(const struct policy_rule *r)
{
	return r->class == CLASS_EXACT && r->glob[1 + r->vault_len] == '/';
}

int policy_compile(struct policy *p)
{
	size_t keys = 0;

	if (p->compiled)
		return 0;
	if (p->n_errors)
		return -EINVAL;
	for (size_t i = 0; i < p->n_rules; i++)
		keys += p->rules[i]->class == CLASS_VAULT ? 1 : exact_child(p->rules[i]) ? 2 : 1;
	for (p->n_buckets = 16; p->n_buckets < 2 * keys; p->n_buckets *= 2)
		;
	p->buckets = calloc(p->n_buckets, sizeof(struct bucket));
	p->shared = calloc(p->n_rules + 1, sizeof(*p->shared));
	if (!p->buckets || !p->shared)
		return -ENOMEM;
	/* count, then lay out, then fill: rules stay in load order in every list */
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct policy_rule *r = p->rules[i];

		if (r->class == CLASS_SHARED)
			p->shared[p->n_shared++] = r;
		else if (r->class == CLASS_VAULT)
			bucket_add(p, r->glob + 1, r->vault_len)->n++;
		else
			bucket_add(p, r->glob, strlen(r->glob))->n++;
		if (exact_child(r))
			bucket_add(p, r->glob + 1, r->vault_len)->n_children++;
	}
	for (size_t i = 0; i < p->n_buckets; i++) {
		struct bucket *b = &p->buckets[i];

		if (!b->key)
			continue;
		b->rules = policy_arena_alloc(p, (b->n + b->n_children) * sizeof(void *));
		if (!b->rules)
			return -ENOMEM;
		b->children = b->rules + b->n;
		b->n = b->n_children = 0;
	}
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct policy_rule *r = p->rules[i];
		struct bucket *b;

		if (r->class == CLASS_VAULT) {
			b = bucket_slot(p->buckets, p->n_buckets, r->glob + 1, r->vault_len);
			b->rules[b->n++] = r;
		} else if (r->class == CLASS_EXACT) {
			b = bucket_slot(p->buckets, p->n_buckets, r->glob, strlen(r->glob));
			b->rules[b->n++] = r;
		}
		if (exact_child(r)) {
			b = bucket_slot(p->buckets, p->n_buckets, r->glob + 1, r->vault_len);
			b->children[b->n_children++] = r;
		}
	}
	/* A decision walks the vault rules of its bucket in a row: copy them, each with its glob,
	 * side by side, so they share cache lines instead of being spread over the whole set. */
	for (size_t i = 0; i < p->n_buckets; i++) {
		struct bucket *b = &p->buckets[i];

		for (size_t k = 0; b->key && k < b->n; k++) {
			const struct policy_rule *r = b->rules[k];
			size_t size = sizeof(*r) + r->n_conds * sizeof(struct cond), len;
			struct policy_rule *c;

			if (r->class != CLASS_VAULT)
				continue;
			len = strlen(r->rest);
			c = policy_arena_alloc(p, size + len + 1);
			if (!c)
				return -ENOMEM;
			memcpy(c, r, size);
			c->rest = memcpy((char *)c + size, r->rest, len + 1);
			b->rules[k] = c;
		}
	}
	p->compiled = true;
	return 0;
}

/* --- decisions: no allocation, no system calls from here on --- */

/* The path a decision is about, split: "/VAULT" or "/VAULT/REST". */
struct target {
	const char *path;
	const char *vault;
	size_t vault_len;
	const char *rest; /* after "/VAULT/", or "" */
};

static int target_split(const struct policy *p, const char *path, struct target *t)
{
	const char *s;

	if (!p->compiled || !path || path[0] != '/')
		return -EINVAL;
	for (s = path + 1;;) {
		size_t n = strcspn(s, "/");

		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return -EINVAL;
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
	t->path = path;
	t->vault = path + 1;
	t->vault_len = strcspn(path + 1, "/");
	t->rest = t->vault + t->vault_len;
	if (*t->rest == '/')
		t->rest++;
	return 0;
}

static const struct bucket *bucket_find(const struct policy *p, const char *key, size_t len)
{
	const struct bucket *b = bucket_slot(p->buckets, p->n_buckets, key, len);

	return b->key ? b : NULL;
}

static bool path_holds(const struct policy_rule *r, const struct target *t)
{
	switch (r->class) {
	case CLASS_EXACT: /* found by its path */
		return true;
	case CLASS_VAULT: /* found by its vault; most fail on the literal start at once */
		return strncmp(r->rest, t->rest, r->lit) == 0 && glob_match(r->rest, t->rest);
	default:
		return glob_match(r->glob, t->path);
	}
}

/* The identity's string for a cgroup-derived condition. */
static const char *cond_string(const struct identity *id, unsigned kind)
{
	switch (kind) {
	case COND_CGROUP:
		return id->cgroup;
	case COND_UNIT:
		return id->cg.unit;
	case COND_CONTAINER:
		return id->cg.container;
	case COND_POD:
		return id->cg.pod;
	default:
		return id->exe;
	}
}

/* ssh=: 1 holds, 0 not, -3 any use (IDENTITY_SSH_ANY: holds for an allow, not for a deny). */
static int ssh_holds(const struct cond *c, const struct identity *id)
{
	if (id->ssh == IDENTITY_SSH_ANY)
		return -3;
	for (unsigned i = 0; i < c->n; i++) {
		const char *v = c->v.ssh[i];

		if (id->ssh == IDENTITY_SSH_LOGIN && streq(v, "login"))
			return 1;
		if (id->ssh == IDENTITY_SSH_OTHER && streq(v, "other"))
			return 1;
		if (id->ssh == IDENTITY_SSH_SIG && id->ssh_namespace &&
		    strncmp(v, "sig:", 4) == 0 && glob_match(v + 4, id->ssh_namespace))
			return 1;
	}
	return 0;
}

/* 1 holds, 0 does not, -1 cannot tell yet (a field it reads is not known), -2 cannot tell at
 * all (a container or pod named in a delegated tree, cgroup.h), -3 ssh_holds' any use. */
static int cond_holds(const struct cond *c, const struct identity *id, int64_t now)
{
	unsigned need = c->fields;
	const char *s;

	switch (c->kind) {
	case COND_AFTER:
		return now >= c->v.time;
	case COND_BEFORE:
		return now < c->v.time;
	case COND_UID:
	case COND_GID:
		if (!(id->known & need))
			return -1;
		for (unsigned i = 0; i < c->n; i++)
			if (c->v.ids[i] == (c->kind == COND_UID ? id->uid : id->gid))
				return 1;
		return 0;
	case COND_GROUP:
		for (unsigned i = 0; i < c->n; i++)
			if (identity_in_group(id, c->v.ids[i]))
				return 1;
		return (id->known & need) == need ? 0 : -1;
	case COND_NS:
		if (!(id->known & need))
			return -1;
		return (c->v.ns & (id->host ? NS_HOST : NS_OTHER)) != 0;
	case COND_SSH:
		if (!(id->known & need))
			return -1;
		return ssh_holds(c, id);
	default:
		if (!(id->known & need))
			return -1;
		if ((c->kind == COND_CONTAINER && id->cg.container_unknown) ||
		    (c->kind == COND_POD && id->cg.pod_unknown))
			return -2; /* named where its workload could have made the name (cgroup.h) */
		s = cond_string(id, c->kind);
		if (!s[0])
			return 0; /* no unit, container...: no glob names it */
		for (unsigned i = 0; i < c->n; i++)
			if (glob_match(c->v.globs[i], s))
				return 1;
		return 0;
	}
}

/* Can the conditions be told? 1 each holds, 0 one does not, -1 none fails but some read a
 * field that is not known (*ret_assumed says which). A condition that cannot be told although
 * its fields are known (cond_holds' -2: no resolve will tell more) is decided against the
 * caller at once: an allow's fails, a deny's holds (and is in *ret_assumed). */
static int conds_tell(const struct policy_rule *r, const struct identity *id, int64_t now,
		      unsigned *ret_assumed)
{
	unsigned assumed = 0;
	bool unknown = false;

	for (unsigned i = 0; i < r->n_conds; i++) {
		int v = cond_holds(&r->conds[i], id, now);

		if (v == -3) { /* any ssh use: the caller's best case */
			if (r->deny)
				return 0;
			continue;
		}
		if (v == 0 || (v == -2 && !r->deny))
			return 0;
		if (v == -2) {
			assumed |= r->conds[i].fields;
		} else if (v < 0) {
			unknown = true;
			assumed |= r->conds[i].fields & ~id->known;
		}
	}
	*ret_assumed = assumed;
	return unknown ? -1 : 1;
}

/* Do the conditions hold? An allow needs each to hold; a deny takes an unknown field as
 * holding, and says which in *ret_assumed. */
static bool conds_hold(const struct policy_rule *r, const struct identity *id, int64_t now,
		       unsigned *ret_assumed)
{
	int v = conds_tell(r, id, now, ret_assumed);

	return v > 0 || (v < 0 && r->deny);
}

/* Walk the rules for the caller's path, its vault and the shared list merged, in load order. */
struct walk {
	const struct policy_rule *const *list[3];
	size_t n[3], i[3];
};

static void walk_init(struct walk *w, const struct policy *p, const struct target *t)
{
	const struct bucket *exact = bucket_find(p, t->path, strlen(t->path));
	const struct bucket *vault = bucket_find(p, t->vault, t->vault_len);

	*w = (struct walk){
		.list = { exact ? exact->rules : NULL, vault ? vault->rules : NULL, p->shared },
		.n = { exact ? exact->n : 0, vault ? vault->n : 0, p->n_shared },
	};
}

static const struct policy_rule *walk_next(struct walk *w)
{
	const struct policy_rule *best = NULL;
	int k = -1;

	for (int j = 0; j < 3; j++)
		if (w->i[j] < w->n[j] && (!best || w->list[j][w->i[j]]->seq < best->seq)) {
			best = w->list[j][w->i[j]];
			k = j;
		}
	if (k >= 0)
		w->i[k]++;
	return best;
}

static int evaluate(const struct policy *p, unsigned op, const char *path,
		    const struct identity *id, int64_t now, policy_match_fn fn, void *userdata,
		    struct policy_decision *ret)
{
	const struct policy_rule *allow = NULL, *deny = NULL, *r;
	unsigned deny_assumed = 0, assumed;
	struct target t;
	struct walk w;
	int k;

	if (op == 0 || (op & (op - 1)) || (op & ~POLICY_OP_ALL))
		return -EINVAL;
	k = target_split(p, path, &t);
	if (k < 0)
		return k;
	walk_init(&w, p, &t);
	while ((r = walk_next(&w))) {
		if (!(r->ops & op))
			continue;
		if (!fn && !r->deny && allow)
			continue; /* only a deny can change the answer now */
		if (!path_holds(r, &t) || !conds_hold(r, id, now, &assumed))
			continue;
		if (fn) {
			k = fn(r, assumed, userdata);
			if (k < 0)
				return k;
		}
		if (r->deny && !deny) {
			deny = r;
			deny_assumed = assumed;
			if (!fn)
				break; /* the first deny decides */
		} else if (!r->deny && !allow) {
			allow = r;
		}
	}
	if (deny)
		*ret = (struct policy_decision){ POLICY_DENY, deny->name, deny, deny_assumed };
	else if (allow)
		*ret = (struct policy_decision){ POLICY_ALLOW, allow->name, allow, 0 };
	else
		*ret = (struct policy_decision){ POLICY_DENY, "default", NULL, 0 };
	return 0;
}

int policy_check(const struct policy *p, unsigned op, const char *path, const struct identity *id,
		 int64_t now, struct policy_decision *ret)
{
	return evaluate(p, op, path, id, now, NULL, NULL, ret);
}

int policy_explain(const struct policy *p, unsigned op, const char *path, const struct identity *id,
		   int64_t now, policy_match_fn fn, void *userdata, struct policy_decision *ret)
{
	return evaluate(p, op, path, id, now, fn, userdata, ret);
}

/* The ops allowed and not denied on path. Unknown fields count against the caller (an allow
 * that reads one does not hold, a deny does), or, when maybe, for it (an allow holds, a deny
 * only when its known fields alone make it hold). */
static int rights_eval(const struct policy *p, const char *path, const struct identity *id,
		       int64_t now, bool maybe, unsigned *ret_ops)
{
	unsigned allowed = 0, denied = 0, assumed;
	const struct policy_rule *r;
	struct target t;
	struct walk w;
	int k;

	k = target_split(p, path, &t);
	if (k < 0)
		return k;
	walk_init(&w, p, &t);
	while ((r = walk_next(&w))) {
		unsigned *mask = r->deny ? &denied : &allowed;
		int v;

		if ((r->ops & ~*mask) == 0 || (!r->deny && (r->ops & ~denied) == 0))
			continue; /* nothing new to learn from it */
		if (!path_holds(r, &t))
			continue;
		v = conds_tell(r, id, now, &assumed);
		if (v > 0 || (v < 0 && r->deny != maybe))
			*mask |= r->ops;
	}
	*ret_ops = allowed & ~denied;
	return 0;
}

int policy_rights(const struct policy *p, const char *path, const struct identity *id, int64_t now,
		  unsigned *ret_ops)
{
	return rights_eval(p, path, id, now, false, ret_ops);
}

int policy_rights_maybe(const struct policy *p, const char *path, const struct identity *id,
			int64_t now, unsigned *ret_ops)
{
	return rights_eval(p, path, id, now, true, ret_ops);
}

int policy_visible(const struct policy *p, const char *path, const struct identity *id, int64_t now)
{
	const struct policy_rule *r;
	const struct bucket *b;
	struct target t;
	struct walk w;
	unsigned ops, assumed;
	int k;

	k = policy_rights(p, path, id, now, &ops);
	if (k < 0)
		return k;
	if (ops)
		return 1;
	k = target_split(p, path, &t);
	if (k < 0 || t.rest[0])
		return 0; /* an object: its own rights decide */
	/* a vault: could some allow that holds for the caller grant a right inside it? */
	walk_init(&w, p, &t);
	w.n[0] = 0; /* rules on "/V" itself gave no right: policy_rights() said so */
	b = bucket_find(p, t.vault, t.vault_len);
	for (size_t i = 0; b && i < b->n_children; i++)
		if (!b->children[i]->deny && conds_hold(b->children[i], id, now, &assumed))
			return 1;
	while ((r = walk_next(&w))) {
		if (r->deny)
			continue;
		if (!(r->class == CLASS_VAULT ? glob_match_child(r->rest, "") :
						glob_match_child(r->glob, path)))
			continue;
		if (conds_hold(r, id, now, &assumed))
			return 1;
	}
	return 0;
}

int policy_near_misses(const struct policy *p, unsigned op, const char *path,
		       const struct identity *id, int64_t now, policy_near_fn fn, void *userdata)
{
	const struct policy_rule *r;
	struct target t;
	struct walk w;
	int k;

	if (op == 0 || (op & (op - 1)) || (op & ~POLICY_OP_ALL))
		return -EINVAL;
	k = target_split(p, path, &t);
	if (k < 0)
		return k;
	walk_init(&w, p, &t);
	while ((r = walk_next(&w))) {
		unsigned failing = 0, at = 0;

		if (r->deny || !(r->ops & op) || !path_holds(r, &t))
			continue;
		for (unsigned i = 0; i < r->n_conds && failing < 2; i++)
			if (cond_holds(&r->conds[i], id, now) != 1) {
				failing++;
				at = i;
			}
		if (failing == 1) {
			k = fn(r, at, userdata);
			if (k < 0)
				return k;
		}
	}
	return 0;
}

/* The text keeps the rule as written: "allow OPS PATH COND...", one space or more between. */
const char *policy_rule_cond_text(const struct policy_rule *r, unsigned i, char *buf, size_t size)
{
	const char *s = r->text;
	size_t n = 0;

	for (unsigned word = 0; *s; word++) {
		s += strspn(s, " \t");
		n = strcspn(s, " \t");
		if (n == 0)
			break;
		if (word == 3 + i) {
			snprintf(buf, size, "%.*s", (int)n, s);
			return buf;
		}
		s += n;
	}
	return NULL;
}

const char *policy_rule_name(const struct policy_rule *r)
{
	return r ? r->name : "default";
}

const char *policy_rule_text(const struct policy_rule *r)
{
	return r ? r->text : "";
}

bool policy_rule_is_deny(const struct policy_rule *r)
{
	return r && r->deny;
}
