/* policy-parse.c: the policy language (policy.h): a buffer of text to rules, each line's
 * errors as "FILE:LINE:COL: message" in the caller's struct policy_diag, and the names of the
 * operations. It may allocate (from the set's arena) and look up user and group names; it
 * never decides, never logs and never sees secret bytes. */
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>

#include "core/limits.h"
#include "core/timeutil.h"
#include "policy/glob.h"
#include "policy/policy-internal.h"

static const struct {
	const char *name;
	unsigned fields; /* identity fields it reads */
} conds[_COND_MAX] = {
	[COND_UID] = { "uid", IDENTITY_UID },
	[COND_GID] = { "gid", IDENTITY_GID },
	[COND_GROUP] = { "group", IDENTITY_GID | IDENTITY_GROUPS },
	[COND_CGROUP] = { "cgroup", IDENTITY_CGROUP },
	[COND_UNIT] = { "unit", IDENTITY_CGROUP },
	[COND_CONTAINER] = { "container", IDENTITY_CGROUP },
	[COND_POD] = { "pod", IDENTITY_CGROUP },
	[COND_EXE] = { "exe", IDENTITY_EXE },
	[COND_NS] = { "ns", IDENTITY_NS },
	[COND_SSH] = { "ssh", IDENTITY_SSH },
	[COND_AFTER] = { "after", 0 },
	[COND_BEFORE] = { "before", 0 },
};

static const char *const op_names[] = {
	"list",	  "meta", "read",   "write",   "delete",  "recover", "purge",
	"manage", "sign", "verify", "encrypt", "decrypt", "wrap",    "unwrap",
};

/* --- diagnostics --- */

void policy_diag_done(struct policy_diag *d)
{
	if (!d)
		return;
	free(d->text);
	*d = (struct policy_diag){ 0 };
}

void policy_diag_add(struct policy *p, struct policy_diag *d, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;
	char *t;

	p->n_errors++;
	if (!d)
		return;
	if (d->n_errors++ >= VAULTFS_POLICY_ERRORS_MAX)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	t = realloc(d->text, d->len + (size_t)n + 2);
	if (!t)
		return;
	memcpy(t + d->len, msg, (size_t)n);
	d->len += (size_t)n;
	t[d->len++] = '\n';
	t[d->len] = '\0';
	d->text = t;
}

/* --- the parser --- */

struct parser {
	struct policy *p;
	struct policy_diag *diag;
	const char *file;
	unsigned line;
	unsigned rules_in_file;
	bool stop; /* a cap was hit: read no more of this file */
};

_printf_(3, 4) static void perr(struct parser *ps, size_t col, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	policy_diag_add(ps->p, ps->diag, "%s:%u:%zu: %s", ps->file, ps->line, col, msg);
}

/* A token of the line: [start, start+len), or false at the end or a comment. */
static bool next_token(const char *l, size_t n, size_t *pos, size_t *ret_start, size_t *ret_len)
{
	size_t i = *pos, s;

	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	if (i >= n || l[i] == '#') {
		*pos = i;
		return false;
	}
	for (s = i; i < n && l[i] != ' ' && l[i] != '\t'; i++)
		;
	*ret_start = s;
	*ret_len = i - s;
	*pos = i;
	return true;
}

static int op_from_name(const char *s, size_t n, unsigned *ret)
{
	if (n == 1 && s[0] == '*') {
		*ret = POLICY_OP_ALL;
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(op_names); i++)
		if (strlen(op_names[i]) == n && memcmp(op_names[i], s, n) == 0) {
			*ret = 1u << i;
			return 0;
		}
	return -EINVAL;
}

/* The next item of the comma list l[..end) at *pos: 1 and its start and length (and *pos moved
 * past it), 0 after the last one, -1 for an empty item (reported as "empty WHAT"). */
static int list_next(struct parser *ps, const char *l, size_t end, const char *what, size_t *pos,
		     size_t *ret_start, size_t *ret_len)
{
	size_t i = *pos, k = i;

	if (i > end)
		return 0;
	while (k < end && l[k] != ',')
		k++;
	if (k == i) {
		perr(ps, i + 1, "empty %s", what);
		return -1;
	}
	*ret_start = i;
	*ret_len = k - i;
	*pos = k + 1;
	return 1;
}

static bool parse_ops(struct parser *ps, const char *l, size_t start, size_t len, unsigned *ret)
{
	unsigned ops = 0, op;
	size_t pos = start, s, n;
	int k;

	while ((k = list_next(ps, l, start + len, "operation", &pos, &s, &n)) > 0) {
		if (op_from_name(l + s, n, &op) < 0) {
			perr(ps, s + 1, "unknown operation '%.*s'", (int)(n > 32 ? 32 : n), l + s);
			return false;
		}
		ops |= op;
	}
	if (k < 0)
		return false;
	*ret = ops;
	return true;
}

/* A user or group id: a number (not -1) or a name known to the user database. */
static int lookup_id(bool group, const char *name, uint32_t *ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 4096;
	uint64_t v = 0;
	size_t i;
	int r;

	for (i = 0; name[i] >= '0' && name[i] <= '9'; i++)
		if (i < 11)
			v = v * 10 + (uint64_t)(name[i] - '0');
	if (i > 0 && name[i] == '\0') { /* all digits: a number, never a name */
		if (i > 10 || v >= UINT32_MAX)
			return -ERANGE;
		*ret = (uint32_t)v;
		return 0;
	}
	for (;;) {
		struct passwd pw, *pwr = NULL;
		struct group gr, *grr = NULL;
		char *nb = realloc(buf, size);

		if (!nb)
			return -ENOMEM;
		buf = nb;
		if (group)
			r = getgrnam_r(name, &gr, buf, size, &grr);
		else
			r = getpwnam_r(name, &pw, buf, size, &pwr);
		if (r == ERANGE && size < 1024u * 1024u) {
			size *= 2;
			continue;
		}
		if (r != 0 || (!pwr && !grr))
			return -ESRCH;
		*ret = group ? (uint32_t)grr->gr_gid : (uint32_t)pwr->pw_uid;
		return 0;
	}
}

static bool parse_glob(struct parser *ps, const char *v, size_t n, size_t col, enum glob_kind kind,
		       char **ret)
{
	const char *why;
	size_t off;

	if (n > VAULTFS_POLICY_GLOB_MAX) {
		perr(ps, col + VAULTFS_POLICY_GLOB_MAX, "glob too long (at most %u bytes)",
		     VAULTFS_POLICY_GLOB_MAX);
		return false;
	}
	if (glob_validate(v, n, kind, &off, &why) < 0) {
		perr(ps, col + off, "malformed glob: %s", why);
		return false;
	}
	*ret = policy_arena_strndup(ps->p, v, n);
	if (!*ret) {
		perr(ps, col, "out of memory");
		return false;
	}
	return true;
}

/* container= and pod= match ids, not names: the last segment (after a rootless
 * "user@UID.service/") of a container id is 64 lowercase hex digits, a pod's hex with dashes.
 * A glob with any other letter ("container=web") can never match, and a deny that never
 * matches is worse than an error: refused, saying where the id comes from. */
static bool id_glob_can_match(struct parser *ps, int kind, const char *v, size_t n, size_t col)
{
	const char *slash = memrchr(v, '/', n);
	size_t at = slash ? (size_t)(slash - v) + 1 : 0;

	for (size_t i = at; i < n; i++) {
		if (strchr("0123456789abcdef-*?[]!", v[i]) && v[i] != '\0')
			continue;
		perr(ps, col + i,
		     "%s= takes an id, not a name: '%c' is never in one (64 lowercase hex "
		     "digits, as `podman inspect -f '{{.Id}}' NAME` prints%s)",
		     conds[kind].name, v[i], kind == COND_POD ? ", or a Kubernetes pod UID" : "");
		return false;
	}
	return true;
}

/* An absolute RFC 3339 time (timeutil.h) of n bytes: "+1d" would mean a day after each
 * reload, so the relative forms are refused. */
static int parse_time_value(const char *s, size_t n, int64_t *ret)
{
	char buf[TIME_FORMAT_MAX * 2];

	if (n >= sizeof(buf) || s[0] == '+' || s[0] == '-')
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return time_parse(buf, 0, ret);
}

_Static_assert(VAULTFS_POLICY_VALUES_MAX <= UINT8_MAX, "struct cond counts values in a byte");

/* One condition "KEY=V[,V...]" at l[start..start+len). */
static bool parse_cond(struct parser *ps, const char *l, size_t start, size_t len, struct cond *c,
		       size_t cols[_COND_MAX], unsigned *seen)
{
	const char *eq = memchr(l + start, '=', len);
	size_t klen, pos, vs, vn, end = start + len, n = 0;
	size_t vals[VAULTFS_POLICY_VALUES_MAX], vlens[VAULTFS_POLICY_VALUES_MAX];
	int kind = -1, k;

	if (!eq || eq == l + start) {
		perr(ps, start + 1, "expected CONDITION=VALUE, got '%.*s'",
		     (int)(len > 32 ? 32 : len), l + start);
		return false;
	}
	klen = (size_t)(eq - (l + start));
	for (int i = 0; i < _COND_MAX; i++)
		if (strlen(conds[i].name) == klen && memcmp(conds[i].name, l + start, klen) == 0)
			kind = i;
	if (kind < 0) {
		perr(ps, start + 1, "unknown condition '%.*s'", (int)(klen > 32 ? 32 : klen),
		     l + start);
		return false;
	}
	if (*seen & (1u << kind)) {
		perr(ps, start + 1, "duplicate condition '%s'", conds[kind].name);
		return false;
	}
	*seen |= 1u << kind;
	cols[kind] = start + 1;

	pos = start + klen + 1;
	while ((k = list_next(ps, l, end, "value", &pos, &vs, &vn)) > 0) {
		if (n == VAULTFS_POLICY_VALUES_MAX) {
			perr(ps, vs + 1, "too many values (at most %u)", VAULTFS_POLICY_VALUES_MAX);
			return false;
		}
		vals[n] = vs;
		vlens[n++] = vn;
	}
	if (k < 0)
		return false;

	c->kind = (uint8_t)kind;
	c->n = (uint8_t)n;
	c->fields = (uint8_t)conds[kind].fields;
	switch (kind) {
	case COND_AFTER:
	case COND_BEFORE:
		if (n > 1) {
			perr(ps, vals[1] + 1, "%s= takes one time", conds[kind].name);
			return false;
		}
		if (parse_time_value(l + vals[0], vlens[0], &c->v.time) < 0) {
			perr(ps, vals[0] + 1,
			     "bad time '%.*s' (RFC 3339, e.g. 2026-12-01T00:00:00Z)",
			     (int)(vlens[0] > 40 ? 40 : vlens[0]), l + vals[0]);
			return false;
		}
		return true;
	case COND_NS:
		c->v.ns = 0;
		for (size_t i = 0; i < n; i++) {
			if (vlens[i] == 4 && memcmp(l + vals[i], "host", 4) == 0) {
				c->v.ns |= NS_HOST;
			} else if (vlens[i] == 5 && memcmp(l + vals[i], "other", 5) == 0) {
				c->v.ns |= NS_OTHER;
			} else {
				perr(ps, vals[i] + 1, "unknown ns= value '%.*s' (host or other)",
				     (int)(vlens[i] > 32 ? 32 : vlens[i]), l + vals[i]);
				return false;
			}
		}
		return true;
	case COND_SSH:
		c->v.ssh = policy_arena_alloc(ps->p, n * sizeof(char *));
		if (!c->v.ssh) {
			perr(ps, start + 1, "out of memory");
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			const char *v = l + vals[i];

			if ((vlens[i] == 5 && memcmp(v, "login", 5) == 0) ||
			    (vlens[i] == 5 && memcmp(v, "other", 5) == 0)) {
				c->v.ssh[i] = policy_arena_strndup(ps->p, v, vlens[i]);
				if (!c->v.ssh[i]) {
					perr(ps, vals[i] + 1, "out of memory");
					return false;
				}
			} else if (vlens[i] >= 4 && memcmp(v, "sig:", 4) == 0) {
				char *g;

				if (!parse_glob(ps, v + 4, vlens[i] - 4, vals[i] + 5, GLOB_NAME,
						&g))
					return false;
				/* kept as written, "sig:" and all: cond_holds skips it */
				c->v.ssh[i] = policy_arena_strndup(ps->p, v, vlens[i]);
				if (!c->v.ssh[i]) {
					perr(ps, vals[i] + 1, "out of memory");
					return false;
				}
			} else {
				perr(ps, vals[i] + 1,
				     "unknown ssh= value '%.*s' (login, other or sig:NAMESPACE)",
				     (int)(vlens[i] > 32 ? 32 : vlens[i]), v);
				return false;
			}
		}
		return true;
	case COND_UID:
	case COND_GID:
	case COND_GROUP:
		c->v.ids = policy_arena_alloc(ps->p, n * sizeof(uint32_t));
		if (!c->v.ids) {
			perr(ps, start + 1, "out of memory");
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			bool group = kind != COND_UID;
			char name[256];
			int r = -ESRCH;

			if (vlens[i] < sizeof(name)) {
				snprintf(name, sizeof(name), "%.*s", (int)vlens[i], l + vals[i]);
				r = lookup_id(group, name, &c->v.ids[i]);
			}
			if (r == -ERANGE) {
				perr(ps, vals[i] + 1, "%s out of range", group ? "gid" : "uid");
				return false;
			}
			if (r < 0) {
				perr(ps, vals[i] + 1, "unknown %s '%.*s'", group ? "group" : "user",
				     (int)(vlens[i] > 64 ? 64 : vlens[i]), l + vals[i]);
				return false;
			}
		}
		return true;
	default:
		c->v.globs = policy_arena_alloc(ps->p, n * sizeof(char *));
		if (!c->v.globs) {
			perr(ps, start + 1, "out of memory");
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			enum glob_kind gk =
				kind == COND_CGROUP || kind == COND_EXE ? GLOB_FS_PATH : GLOB_NAME;

			if (!parse_glob(ps, l + vals[i], vlens[i], vals[i] + 1, gk, &c->v.globs[i]))
				return false;
			if ((kind == COND_CONTAINER || kind == COND_POD) &&
			    !id_glob_can_match(ps, kind, l + vals[i], vlens[i], vals[i] + 1))
				return false;
		}
		return true;
	}
}

static bool add_rule(struct parser *ps, const struct policy_rule *tmp, const struct cond *cs,
		     const char *text, size_t text_len)
{
	struct policy *p = ps->p;
	struct policy_rule *r;
	size_t size;

	if (ps->rules_in_file >= VAULTFS_POLICY_RULES_PER_FILE_MAX) {
		perr(ps, 1, "too many rules in one file (at most %u)",
		     VAULTFS_POLICY_RULES_PER_FILE_MAX);
		ps->stop = true;
		return false;
	}
	if (p->n_rules >= VAULTFS_POLICY_RULES_MAX) {
		perr(ps, 1, "too many rules (at most %u in all)", VAULTFS_POLICY_RULES_MAX);
		ps->stop = true;
		return false;
	}
	if (p->n_rules == p->cap_rules) {
		size_t cap = p->cap_rules ? p->cap_rules * 2 : 64;
		const struct policy_rule **a = reallocarray(p->rules, cap, sizeof(*a));

		if (!a)
			goto oom;
		p->rules = a;
		p->cap_rules = cap;
	}
	r = policy_arena_alloc(p, sizeof(*r) + tmp->n_conds * sizeof(struct cond));
	if (!r)
		goto oom;
	*r = *tmp;
	memcpy(r->conds, cs, tmp->n_conds * sizeof(struct cond));
	r->seq = (uint32_t)p->n_rules;
	size = strlen(ps->file) + 12; /* ":" and a line number */
	r->name = policy_arena_alloc(p, size);
	if (!r->name)
		goto oom;
	snprintf((char *)r->name, size, "%s:%u", ps->file, ps->line);
	r->text = policy_arena_strndup(p, text, text_len);
	if (!r->text)
		goto oom;
	for (unsigned i = 0; i < r->n_conds; i++)
		p->needs |= conds[r->conds[i].kind].fields;
	p->rules[p->n_rules++] = r;
	ps->rules_in_file++;
	return true;
oom:
	perr(ps, 1, "out of memory");
	ps->stop = true;
	return false;
}

static void parse_line(struct parser *ps, char *l, size_t n)
{
	struct policy_rule rule = { 0 };
	struct cond cs[_COND_MAX];
	size_t cols[_COND_MAX] = { 0 };
	size_t pos = 0, s, len, first, last;
	unsigned seen = 0, ops;
	char *glob;

	if (n && l[n - 1] == '\r')
		l[--n] = '\0';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)l[i];

		if ((c < ' ' && c != '\t') || c == 0x7f) {
			perr(ps, i + 1, "control character");
			return;
		}
	}

	if (!next_token(l, n, &pos, &s, &len))
		return; /* blank or a comment */
	first = s;
	if (len == 5 && memcmp(l + s, "allow", 5) == 0) {
		rule.deny = false;
	} else if (len == 4 && memcmp(l + s, "deny", 4) == 0) {
		rule.deny = true;
	} else {
		perr(ps, s + 1, "expected 'allow' or 'deny', got '%.*s'",
		     (int)(len > 32 ? 32 : len), l + s);
		return;
	}
	if (!next_token(l, n, &pos, &s, &len)) {
		perr(ps, pos + 1, "missing operations");
		return;
	}
	if (!parse_ops(ps, l, s, len, &ops))
		return;
	rule.ops = (uint16_t)ops;
	if (!next_token(l, n, &pos, &s, &len)) {
		perr(ps, pos + 1, "missing path");
		return;
	}
	if (!parse_glob(ps, l + s, len, s + 1, GLOB_VAULT_PATH, &glob))
		return;
	rule.glob = glob;
	last = s + len;
	rule.vault_len = strcspn(glob + 1, "/");
	if (memchr(glob + 1, '*', rule.vault_len)) {
		rule.class = CLASS_SHARED;
	} else if (glob_is_literal(glob)) {
		rule.class = CLASS_EXACT;
	} else {
		rule.class = CLASS_VAULT;
		rule.rest = glob + 1 + rule.vault_len + 1; /* a glob follows: there is a '/' */
		rule.lit = (uint16_t)strcspn(rule.rest, "*");
	}
	while (next_token(l, n, &pos, &s, &len)) {
		struct cond scratch; /* one past _COND_MAX repeats one: parse_cond refuses it */
		struct cond *c = rule.n_conds < _COND_MAX ? &cs[rule.n_conds] : &scratch;

		if (!parse_cond(ps, l, s, len, c, cols, &seen))
			return;
		rule.n_conds++;
		last = s + len;
	}
	if ((seen & (1u << COND_AFTER)) && (seen & (1u << COND_BEFORE))) {
		int64_t after = 0, before = 0;

		for (unsigned i = 0; i < rule.n_conds; i++) {
			if (cs[i].kind == COND_AFTER)
				after = cs[i].v.time;
			if (cs[i].kind == COND_BEFORE)
				before = cs[i].v.time;
		}
		if (before <= after) {
			perr(ps, cols[COND_BEFORE], "before= is not later than after=");
			return;
		}
	}
	(void)add_rule(ps, &rule, cs, l + first, last - first);
}

int policy_add_buffer(struct policy *p, const char *name, const char *buf, size_t len,
		      struct policy_diag *diag)
{
	struct parser ps = { .p = p, .diag = diag };
	char line[VAULTFS_POLICY_LINE_MAX + 1];
	unsigned errors = p->n_errors;
	size_t i = 0;

	if (p->compiled)
		return -EBUSY;
	if (p->n_files >= VAULTFS_POLICY_FILES_MAX) {
		policy_diag_add(p, diag, "%s: too many policy files (at most %u)", name,
				VAULTFS_POLICY_FILES_MAX);
		return -E2BIG;
	}
	if (len > VAULTFS_POLICY_FILE_MAX) {
		policy_diag_add(p, diag, "%s: too large (at most %u bytes)", name,
				VAULTFS_POLICY_FILE_MAX);
		return -EFBIG;
	}
	ps.file = policy_arena_strndup(p, name, strlen(name));
	if (!ps.file) {
		policy_diag_add(p, diag, "%s: out of memory", name);
		return -ENOMEM;
	}
	p->n_files++;
	while (i < len && !ps.stop) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (buf + i)) : len - i;

		ps.line++;
		if (n > VAULTFS_POLICY_LINE_MAX) {
			perr(&ps, VAULTFS_POLICY_LINE_MAX + 1, "line too long (at most %u bytes)",
			     VAULTFS_POLICY_LINE_MAX);
		} else {
			memcpy(line, buf + i, n);
			line[n] = '\0';
			parse_line(&ps, line, n);
		}
		i += n + 1;
	}
	return p->n_errors > errors ? -EINVAL : 0;
}
const char *policy_op_name(unsigned op)
{
	for (size_t i = 0; i < ELEMENTSOF(op_names); i++)
		if (op == 1u << i)
			return op_names[i];
	return NULL;
}

int policy_op_from_string(const char *s, unsigned *ret)
{
	unsigned op;

	if (!s || streq(s, "*") || op_from_name(s, strlen(s), &op) < 0)
		return -EINVAL;
	*ret = op;
	return 0;
}
