/* policy.c: parse policy files into rules, compile them into a per-vault index, and decide
 * requests against it (policy.h). Loading may allocate, read files and look up user and group
 * names; deciding may not: it allocates nothing, makes no system call and touches no global
 * state, so the daemon can call it on every open. A set with any error is never compiled, and
 * an unknown identity field only ever takes rights away. This module never sees secret bytes
 * and never logs: errors go to the caller's struct policy_diag. */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/limits.h"
#include "core/timeutil.h"
#include "core/io.h"
#include "core/util.h"
#include "policy/glob.h"
#include "policy/policy.h"

/* --- an arena: the rules of a set live and die together --- */

#define ARENA_CHUNK (64u * 1024u)

struct chunk {
	struct chunk *next;
	size_t used, size;
	max_align_t data[];
};

enum cond_kind {
	COND_UID,
	COND_GID,
	COND_GROUP,
	COND_CGROUP,
	COND_UNIT,
	COND_CONTAINER,
	COND_POD,
	COND_EXE,
	COND_AFTER,
	COND_BEFORE,
	_COND_MAX,
};

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
	[COND_AFTER] = { "after", 0 },
	[COND_BEFORE] = { "before", 0 },
};

static const char *const op_names[] = {
	"list",   "meta", "read",   "write",   "delete",  "recover", "purge",
	"manage", "sign", "verify", "encrypt", "decrypt", "wrap",    "unwrap",
};

struct cond {
	uint8_t kind;
	uint8_t n;
	union {
		uint32_t *ids;
		char **globs;
		int64_t time;
	} v;
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
	uint8_t class;    /* enum rule_class */
	uint16_t lit;     /* CLASS_VAULT: bytes of rest before its first '*' */
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

struct policy {
	struct chunk *arena;
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

static void *arena_alloc(struct policy *p, size_t n)
{
	struct chunk *c = p->arena;

	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (!c || c->size - c->used < n) {
		size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->used = 0;
		c->size = size;
		c->next = p->arena;
		p->arena = c;
	}
	c->used += n;
	return (char *)c->data + c->used - n;
}

static char *arena_strndup(struct policy *p, const char *s, size_t n)
{
	char *d = arena_alloc(p, n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* --- diagnostics --- */

void policy_diag_done(struct policy_diag *d)
{
	if (!d)
		return;
	free(d->text);
	*d = (struct policy_diag){ 0 };
}

_printf_(3, 4) static void diag_add(struct policy *p, struct policy_diag *d, const char *fmt, ...)
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
	diag_add(ps->p, ps->diag, "%s:%u:%zu: %s", ps->file, ps->line, col, msg);
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

static int op_lookup(const char *s, size_t n, unsigned *ret)
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

static bool parse_ops(struct parser *ps, const char *l, size_t start, size_t len, unsigned *ret)
{
	unsigned ops = 0, op;
	size_t i = start, end = start + len;

	for (;;) {
		size_t k = i;

		while (k < end && l[k] != ',')
			k++;
		if (k == i) {
			perr(ps, i + 1, "empty operation");
			return false;
		}
		if (op_lookup(l + i, k - i, &op) < 0) {
			perr(ps, i + 1, "unknown operation '%.*s'", (int)(k - i > 32 ? 32 : k - i),
			     l + i);
			return false;
		}
		ops |= op;
		if (k == end)
			break;
		i = k + 1;
	}
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
	*ret = arena_strndup(ps->p, v, n);
	if (!*ret) {
		perr(ps, col, "out of memory");
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
	size_t klen, vstart, end = start + len, n = 0;
	size_t vals[VAULTFS_POLICY_VALUES_MAX], vlens[VAULTFS_POLICY_VALUES_MAX];
	int kind = -1;

	if (!eq || eq == l + start) {
		perr(ps, start + 1, "expected CONDITION=VALUE, got '%.*s'",
		     (int)(len > 32 ? 32 : len), l + start);
		return false;
	}
	klen = (size_t)(eq - (l + start));
	for (int k = 0; k < _COND_MAX; k++)
		if (strlen(conds[k].name) == klen && memcmp(conds[k].name, l + start, klen) == 0)
			kind = k;
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

	vstart = start + klen + 1;
	for (size_t i = vstart;;) {
		size_t k = i;

		while (k < end && l[k] != ',')
			k++;
		if (k == i) {
			perr(ps, i + 1, "empty value");
			return false;
		}
		if (n == VAULTFS_POLICY_VALUES_MAX) {
			perr(ps, i + 1, "too many values (at most %u)", VAULTFS_POLICY_VALUES_MAX);
			return false;
		}
		vals[n] = i;
		vlens[n++] = k - i;
		if (k == end)
			break;
		i = k + 1;
	}

	c->kind = (uint8_t)kind;
	c->n = (uint8_t)n;
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
	case COND_UID:
	case COND_GID:
	case COND_GROUP:
		c->v.ids = arena_alloc(ps->p, n * sizeof(uint32_t));
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
		c->v.globs = arena_alloc(ps->p, n * sizeof(char *));
		if (!c->v.globs) {
			perr(ps, start + 1, "out of memory");
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			enum glob_kind gk =
				kind == COND_CGROUP || kind == COND_EXE ? GLOB_FS_PATH : GLOB_NAME;

			if (!parse_glob(ps, l + vals[i], vlens[i], vals[i] + 1, gk, &c->v.globs[i]))
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
	r = arena_alloc(p, sizeof(*r) + tmp->n_conds * sizeof(struct cond));
	if (!r)
		goto oom;
	*r = *tmp;
	memcpy(r->conds, cs, tmp->n_conds * sizeof(struct cond));
	r->seq = (uint32_t)p->n_rules;
	size = strlen(ps->file) + 12; /* ":" and a line number */
	r->name = arena_alloc(p, size);
	if (!r->name)
		goto oom;
	snprintf((char *)r->name, size, "%s:%u", ps->file, ps->line);
	r->text = arena_strndup(p, text, text_len);
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
		struct cond scratch; /* an eleventh condition repeats one: parse_cond refuses it */
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
		diag_add(p, diag, "%s: too many policy files (at most %u)", name,
			 VAULTFS_POLICY_FILES_MAX);
		return -E2BIG;
	}
	if (len > VAULTFS_POLICY_FILE_MAX) {
		diag_add(p, diag, "%s: too large (at most %u bytes)", name,
			 VAULTFS_POLICY_FILE_MAX);
		return -EFBIG;
	}
	ps.file = arena_strndup(p, name, strlen(name));
	if (!ps.file) {
		diag_add(p, diag, "%s: out of memory", name);
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

/* --- files --- */

int policy_add_file(struct policy *p, const char *path, struct policy_diag *diag)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0;
	int r;

	if (p->compiled)
		return -EBUSY;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); /* a FIFO must not block */
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = negative_errno();
		diag_add(p, diag, "%s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		diag_add(p, diag, "%s: not a regular file", path);
		return -EINVAL;
	}
	/* like sshd's StrictModes: who may change the policy decides everything */
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		diag_add(p, diag,
			 "%s: refused: writable by others than its owner, or owned by "
			 "another user",
			 path);
		return -EPERM;
	}
	if ((uint64_t)st.st_size > VAULTFS_POLICY_FILE_MAX) {
		diag_add(p, diag, "%s: too large (at most %u bytes)", path,
			 VAULTFS_POLICY_FILE_MAX);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	/* read to EOF: the file may have grown since fstat */
	r = io_read_all(fd, buf, (size_t)st.st_size + 1, &len);
	if (r == -EFBIG) {
		diag_add(p, diag, "%s: changed while read", path);
		return -EAGAIN;
	}
	if (r < 0) {
		diag_add(p, diag, "%s: %s", path, strerror(-r));
		return r;
	}
	return policy_add_buffer(p, path, buf, len, diag);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

int policy_add_dir(struct policy *p, const char *dir, struct policy_diag *diag)
{
	_cleanup_(closedirp) DIR *d = NULL;
	char *names[VAULTFS_POLICY_FILES_MAX];
	size_t n = 0;
	struct dirent *de;
	int r = 0;

	if (p->compiled)
		return -EBUSY;
	d = opendir(dir);
	if (!d) {
		r = negative_errno();
		diag_add(p, diag, "%s: %s", dir, strerror(-r));
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len <= 7 || !streq(de->d_name + len - 7, ".policy"))
			continue;
		if (n == VAULTFS_POLICY_FILES_MAX) {
			diag_add(p, diag, "%s: too many policy files (at most %u)", dir,
				 VAULTFS_POLICY_FILES_MAX);
			r = -E2BIG;
			goto out;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (errno) {
		r = negative_errno();
		diag_add(p, diag, "%s: %s", dir, strerror(-r));
		goto out;
	}
	qsort(names, n, sizeof(char *), name_cmp);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL;
		int k;

		if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
			r = -ENOMEM;
			goto out;
		}
		k = policy_add_file(p, path, diag);
		if (k < 0 && r == 0)
			r = k;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return r;
}

/* --- the set --- */

int policy_new(struct policy **ret)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	*ret = p;
	return 0;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	while (p->arena) {
		struct chunk *c = p->arena;

		p->arena = c->next;
		free(c);
	}
	free(p->rules);
	free(p->buckets);
	free(p->shared);
	free(p);
}

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
		b->rules = arena_alloc(p, (b->n + b->n_children) * sizeof(void *));
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
			c = arena_alloc(p, size + len + 1);
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

int policy_parse_buffer(const char *name, const char *buf, size_t len, struct policy **ret,
			struct policy_diag *diag)
{
	_cleanup_policy_ struct policy *p = NULL;
	int r;

	r = policy_new(&p);
	if (r < 0)
		return r;
	r = policy_add_buffer(p, name, buf, len, diag);
	if (r < 0)
		return r;
	r = policy_compile(p);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p);
	return 0;
}

int policy_load_dir(const char *dir, struct policy **ret, struct policy_diag *diag)
{
	_cleanup_policy_ struct policy *p = NULL;
	int r;

	r = policy_new(&p);
	if (r < 0)
		return r;
	r = policy_add_dir(p, dir, diag);
	if (r < 0)
		return r;
	r = policy_compile(p);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p);
	return 0;
}

size_t policy_n_rules(const struct policy *p)
{
	return p->n_rules;
}

size_t policy_n_files(const struct policy *p)
{
	return p->n_files;
}

unsigned policy_needs(const struct policy *p)
{
	return p->needs;
}

/* --- decisions: no allocation, no system calls from here on --- */

/* A request path split: "/VAULT" or "/VAULT/REST". */
struct request {
	const char *path;
	const char *vault;
	size_t vault_len;
	const char *rest; /* after "/VAULT/", or "" */
};

static int request_parse(const struct policy *p, const char *path, struct request *rq)
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
	rq->path = path;
	rq->vault = path + 1;
	rq->vault_len = strcspn(path + 1, "/");
	rq->rest = rq->vault + rq->vault_len;
	if (*rq->rest == '/')
		rq->rest++;
	return 0;
}

static const struct bucket *bucket_find(const struct policy *p, const char *key, size_t len)
{
	const struct bucket *b = bucket_slot(p->buckets, p->n_buckets, key, len);

	return b->key ? b : NULL;
}

static bool path_holds(const struct policy_rule *r, const struct request *rq)
{
	switch (r->class) {
	case CLASS_EXACT: /* found by its path */
		return true;
	case CLASS_VAULT: /* found by its vault; most fail on the literal start at once */
		return strncmp(r->rest, rq->rest, r->lit) == 0 && glob_match(r->rest, rq->rest);
	default:
		return glob_match(r->glob, rq->path);
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

/* 1 holds, 0 does not, -1 cannot tell (a field it reads is not known). */
static int cond_holds(const struct cond *c, const struct identity *id, int64_t now)
{
	unsigned need = conds[c->kind].fields;
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
	default:
		if (!(id->known & need))
			return -1;
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
 * field that is not known (*ret_assumed says which). */
static int conds_tell(const struct policy_rule *r, const struct identity *id, int64_t now,
		      unsigned *ret_assumed)
{
	unsigned assumed = 0;
	bool unknown = false;

	for (unsigned i = 0; i < r->n_conds; i++) {
		int v = cond_holds(&r->conds[i], id, now);

		if (v == 0)
			return 0;
		if (v < 0) {
			unknown = true;
			assumed |= conds[r->conds[i].kind].fields & ~id->known;
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

static void walk_init(struct walk *w, const struct policy *p, const struct request *rq)
{
	const struct bucket *exact = bucket_find(p, rq->path, strlen(rq->path));
	const struct bucket *vault = bucket_find(p, rq->vault, rq->vault_len);

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

static int decide(const struct policy *p, unsigned op, const char *path, const struct identity *id,
		  int64_t now, policy_match_fn fn, void *userdata, struct policy_decision *ret)
{
	const struct policy_rule *allow = NULL, *deny = NULL, *r;
	unsigned deny_assumed = 0, assumed;
	struct request rq;
	struct walk w;
	int k;

	if (op == 0 || (op & (op - 1)) || (op & ~POLICY_OP_ALL))
		return -EINVAL;
	k = request_parse(p, path, &rq);
	if (k < 0)
		return k;
	walk_init(&w, p, &rq);
	while ((r = walk_next(&w))) {
		if (!(r->ops & op))
			continue;
		if (!fn && !r->deny && allow)
			continue; /* only a deny can change the answer now */
		if (!path_holds(r, &rq) || !conds_hold(r, id, now, &assumed))
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
	return decide(p, op, path, id, now, NULL, NULL, ret);
}

int policy_explain(const struct policy *p, unsigned op, const char *path, const struct identity *id,
		   int64_t now, policy_match_fn fn, void *userdata, struct policy_decision *ret)
{
	return decide(p, op, path, id, now, fn, userdata, ret);
}

/* The ops allowed and not denied on path. Unknown fields count against the caller (an allow
 * that reads one does not hold, a deny does), or, when maybe, for it (an allow holds, a deny
 * only when its known fields alone make it hold). */
static int rights(const struct policy *p, const char *path, const struct identity *id,
		  int64_t now, bool maybe, unsigned *ret_ops)
{
	unsigned allowed = 0, denied = 0, assumed;
	const struct policy_rule *r;
	struct request rq;
	struct walk w;
	int k;

	k = request_parse(p, path, &rq);
	if (k < 0)
		return k;
	walk_init(&w, p, &rq);
	while ((r = walk_next(&w))) {
		unsigned *mask = r->deny ? &denied : &allowed;
		int v;

		if ((r->ops & ~*mask) == 0 || (!r->deny && (r->ops & ~denied) == 0))
			continue; /* nothing new to learn from it */
		if (!path_holds(r, &rq))
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
	return rights(p, path, id, now, false, ret_ops);
}

int policy_rights_maybe(const struct policy *p, const char *path, const struct identity *id,
			int64_t now, unsigned *ret_ops)
{
	return rights(p, path, id, now, true, ret_ops);
}

int policy_visible(const struct policy *p, const char *path, const struct identity *id, int64_t now)
{
	const struct policy_rule *r;
	const struct bucket *b;
	struct request rq;
	struct walk w;
	unsigned ops, assumed;
	int k;

	k = policy_rights(p, path, id, now, &ops);
	if (k < 0)
		return k;
	if (ops)
		return 1;
	k = request_parse(p, path, &rq);
	if (k < 0 || rq.rest[0])
		return 0; /* an object: its own rights decide */
	/* a vault: could some allow that holds for the caller grant a right inside it? */
	walk_init(&w, p, &rq);
	w.n[0] = 0; /* rules on "/V" itself gave no right: policy_rights() said so */
	b = bucket_find(p, rq.vault, rq.vault_len);
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

	if (!s || streq(s, "*") || op_lookup(s, strlen(s), &op) < 0)
		return -EINVAL;
	*ret = op;
	return 0;
}
