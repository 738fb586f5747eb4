/* request.c: the management requests of request.h: check a request's members, ask the
 * caller's authorizer, record, run the kv operation, build the reply. A change is recorded
 * before it is made (no record, no change) and again with its error when it fails; a read is
 * recorded with its outcome and its bytes go out only once recorded. Never puts a value in a
 * JSON object, an error sentence or a log: values travel as the message's raw bytes, in
 * secbufs. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "errtext.h"
#include "io.h"
#include "kvjson.h"
#include "request-int.h"
#include "util.h"

/* Replies (the daemon's, read by vaultctl) may be long listings; requests may not. */
#define REPLY_LINE_MAX (256u * 1024u * 1024u)

int req_bad(struct request_ctx *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->msg, sizeof(q->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* --- members --- */

struct json_object *req_member(struct request_ctx *q, const char *key)
{
	struct json_object *o;

	return json_object_object_get_ex(q->req, key, &o) ? o : NULL;
}

/* 1 and the name, 0 absent (-EINVAL when required), -EINVAL not a name. */
int req_get_name(struct request_ctx *q, const char *key, bool required,
		 char buf[VAULTFS_NAME_MAX + 1])
{
	struct json_object *o = req_member(q, key);
	const char *s;

	if (!o)
		return required ? req_bad(q, "missing member \"%s\"", key) : 0;
	if (!json_object_is_type(o, json_type_string))
		return req_bad(q, "\"%s\" must be a string", key);
	s = json_object_get_string(o);
	if ((size_t)json_object_get_string_len(o) != strlen(s) || !kv_name_valid(s))
		return req_bad(q, "\"%s\" is not a valid name ([A-Za-z0-9][A-Za-z0-9._-]{0,126})",
			       key);
	strcpy(buf, s);
	return 1;
}

int req_get_int(struct request_ctx *q, const char *key, int64_t min, int64_t max, int64_t *ret)
{
	struct json_object *o = req_member(q, key);
	int64_t v;

	if (!o)
		return 0;
	if (!json_object_is_type(o, json_type_int))
		return req_bad(q, "\"%s\" must be an integer", key);
	errno = 0;
	v = json_object_get_int64(o);
	if (errno || v < min || v > max)
		return req_bad(q, "\"%s\" out of range (%" PRId64 "..%" PRId64 ")", key, min, max);
	*ret = v;
	return 1;
}

int req_get_bool(struct request_ctx *q, const char *key, bool *ret)
{
	struct json_object *o = req_member(q, key);

	if (!o)
		return 0;
	if (!json_object_is_type(o, json_type_boolean))
		return req_bad(q, "\"%s\" must be true or false", key);
	*ret = json_object_get_boolean(o);
	return 1;
}

/* vault and (when name_too) name, and the policy path they make. */
int req_get_target(struct request_ctx *q, bool name_too)
{
	int r;

	r = req_get_name(q, "vault", true, q->vault);
	if (r < 0)
		return r;
	if (name_too) {
		r = req_get_name(q, "name", true, q->name);
		if (r < 0)
			return r;
		snprintf(q->path, sizeof(q->path), "/%s/%s", q->vault, q->name);
	} else {
		snprintf(q->path, sizeof(q->path), "/%s", q->vault);
	}
	return 0;
}

/* The attribute members into q->attrs (absent ones keep what it holds). */
int req_get_attrs(struct request_ctx *q)
{
	struct kv_attrs *a = &q->attrs;
	struct json_object *o;
	bool enabled;
	int r;

	r = req_get_bool(q, "enabled", &enabled);
	if (r < 0)
		return r;
	if (r > 0)
		a->enabled = enabled;
	if ((r = req_get_int(q, "not_before", 0, INT64_MAX / 2, &a->not_before)) < 0 ||
	    (r = req_get_int(q, "expires", 0, INT64_MAX / 2, &a->expires)) < 0)
		return r;
	o = req_member(q, "content_type");
	if (o) {
		if (!json_object_is_type(o, json_type_string) ||
		    json_object_get_string_len(o) > (int)VAULTFS_CONTENT_TYPE_MAX ||
		    (size_t)json_object_get_string_len(o) != strlen(json_object_get_string(o)))
			return req_bad(q, "\"content_type\" must be a string of at most %u bytes",
				       VAULTFS_CONTENT_TYPE_MAX);
		a->content_type = json_object_get_string(o);
	}
	o = req_member(q, "tags");
	if (o) {
		size_t n;

		if (!json_object_is_type(o, json_type_array) ||
		    (n = json_object_array_length(o)) > VAULTFS_TAGS_MAX)
			return req_bad(
				q, "\"tags\" must be an array of at most %u \"key=value\" strings",
				VAULTFS_TAGS_MAX);
		for (size_t i = 0; i < n; i++) {
			struct json_object *t = json_object_array_get_idx(o, i);

			if (!json_object_is_type(t, json_type_string) ||
			    (size_t)json_object_get_string_len(t) !=
				    strlen(json_object_get_string(t)))
				return req_bad(q, "\"tags\" must hold strings (without NUL)");
			q->tags[i] = json_object_get_string(t);
		}
		a->tags = q->tags;
		a->n_tags = n;
	}
	return 0;
}

/* --- decision and record --- */

int req_record(struct request_ctx *q, const char *event, int err)
{
	struct audit_record rec = AUDIT_RECORD_INIT;

	q->env->caller->identify(q->env->caller->ud, &rec);
	rec.event = event;
	rec.decision = err ? AUDIT_DENY : AUDIT_ALLOW;
	rec.err = err;
	rec.rule = q->rule;
	rec.vault = q->vault[0] ? q->vault : NULL;
	rec.object = q->name[0] ? q->name : NULL;
	rec.version = q->version;
	rec.path = q->path[0] ? q->path : NULL;
	return audit_append(q->env->audit, &rec, NULL);
}

static int unrecorded(struct request_ctx *q, int r)
{
	snprintf(q->msg, sizeof(q->msg), "cannot write the audit journal (%s); nothing done",
		 strerror(-r));
	return r == -EBADMSG ? -EBADMSG : -EIO;
}

/* The word of one op (POLICY_OP_*), for the sentence of a refusal; the policy's own names. */
static const char *op_word(unsigned op)
{
	static const char *const words[] = {
		"list",	  "meta", "read",   "write",   "delete",  "recover", "purge",
		"manage", "sign", "verify", "encrypt", "decrypt", "wrap",    "unwrap",
	};

	for (size_t i = 0; i < ELEMENTSOF(words); i++)
		if (op == 1u << i)
			return words[i];
	return "?";
}

/* Why op on path was refused, in q->msg: where the policy lives and a rule that would grant
 * it to this caller (the uid it asked as), with how to see the decision. */
static void refused(struct request_ctx *q, unsigned op, const char *path, int r)
{
	const struct request_caller *c = q->env->caller;
	struct audit_record rec = AUDIT_RECORD_INIT;

	if (r != -EACCES) {
		snprintf(q->msg, sizeof(q->msg), "cannot decide %s on %s: %s", op_word(op), path,
			 strerror(-r));
		return;
	}
	if (c->identify)
		c->identify(c->ud, &rec);
	if (!q->env->policy_dir || rec.uid < 0) {
		snprintf(q->msg, sizeof(q->msg),
			 "permission denied: the policy does not grant %s on %s", op_word(op),
			 path);
		return;
	}
	snprintf(q->msg, sizeof(q->msg),
		 "permission denied: the policy in %s does not grant %s on %s; a rule that "
		 "would: 'allow %s %s uid=%" PRId64 "' in a .policy file there, then 'vaultctl "
		 "policy reload' ('vaultctl policy explain %s %s --uid %" PRId64 "' shows the "
		 "decision)",
		 q->env->policy_dir, op_word(op), path, op_word(op), path, (int64_t)rec.uid,
		 op_word(op), path, (int64_t)rec.uid);
}

/* Decide every op of ops (POLICY_OP_* bits, lowest first; all must be granted): list and manage
 * on the vault ("/V", DESIGN §5), the others on q->path; then q->also_op on q->also_path. The
 * first refusal is recorded (as event) and returned; allowed, q->rule names the rule that
 * decided the last op of ops. */
static int authorize(struct request_ctx *q, unsigned ops, const char *event)
{
	const struct request_caller *c = q->env->caller;
	char vault_path[VAULTFS_NAME_MAX + 2];
	int r = 0;

	snprintf(vault_path, sizeof(vault_path), "/%s", q->vault);
	for (unsigned op = 1; op && op <= ops; op <<= 1) {
		const char *path = op & (POLICY_OP_LIST | POLICY_OP_MANAGE) ? vault_path : q->path;

		if (!(ops & op))
			continue;
		q->rule = NULL;
		r = c->authorize(c->ud, op, path, &q->rule);
		if (r >= 0)
			continue;
		refused(q, op, path, r);
		(void)req_record(q, event, r);
		return r;
	}
	if (q->also_op) {
		const char *rule = q->rule;

		r = c->authorize(c->ud, q->also_op, q->also_path, &q->rule);
		if (r < 0) {
			refused(q, q->also_op, q->also_path, r);
			(void)req_record(q, event, r);
			return r;
		}
		q->rule = rule; /* the record names the rule of the object's own op */
	}
	return 0;
}

/* A change: decide, record, do, record a failure, tell the carrier. */
int req_change(struct request_ctx *q, unsigned ops, const char *event,
	       int (*fn)(struct request_ctx *q))
{
	int r;

	r = authorize(q, ops, event);
	if (r < 0)
		return r;
	if (q->expect_version)
		q->expect_version(q);
	r = req_record(q, event, 0);
	if (r < 0)
		return unrecorded(q, r);
	r = fn(q);
	if (r < 0) {
		(void)req_record(q, event, r);
		return r;
	}
	if (q->env->changed)
		q->env->changed(q->env->changed_ud, q->vault, q->name[0] ? q->name : NULL);
	return 0;
}

/* A read: decide, do, record the outcome; the reply goes out only when recorded. */
int req_lookup(struct request_ctx *q, unsigned ops, const char *event,
	       int (*fn)(struct request_ctx *q))
{
	int r, k;

	r = authorize(q, ops, event);
	if (r < 0)
		return r;
	r = fn(q);
	k = req_record(q, event, r);
	if (k < 0) {
		secbuf_free(TAKE_PTR(q->out));
		return unrecorded(q, k);
	}
	return r;
}

/* A new array as member key of the reply. */
int req_reply_array(struct request_ctx *q, const char *key, struct json_object **ret)
{
	struct json_object *a = json_object_new_array();

	if (!a || json_object_object_add(q->reply, key, a) < 0) {
		json_object_put(a);
		return -ENOMEM;
	}
	*ret = a;
	return 0;
}

/* Add o (taken) to the array arr. */
int req_array_add(struct json_object *arr, struct json_object *o)
{
	if (!o || json_object_array_add(arr, o) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
}

/* A listing's entry for path, named name, when the caller may see it: 1 and *ret (its other
 * members to add), 0 not visible, -ENOMEM. */
int req_listed(struct request_ctx *q, const char *path, const char *name, struct json_object **ret)
{
	struct json_object *o;

	if (!q->env->caller->visible(q->env->caller->ud, path))
		return 0;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "name", json_object_new_string(name));
	*ret = o;
	return 1;
}

/* --- vaults --- */

static int vault_json(const struct kv_vault_info *v, void *ud)
{
	struct request_ctx *q = ud;
	struct json_object *o;
	char path[VAULTFS_NAME_MAX + 2];
	int r;

	snprintf(path, sizeof(path), "/%s", v->name);
	r = req_listed(q, path, v->name, &o);
	if (r <= 0)
		return r;
	json_object_object_add(o, "created", kvjson_time(v->created));
	json_object_object_add(o, "retention_days", json_object_new_int64(v->retention_days));
	json_object_object_add(o, "purge_protection", json_object_new_boolean(v->purge_protection));
	if (v->max_versions) /* none: absent (every version kept) */
		json_object_object_add(o, "max_versions", json_object_new_int64(v->max_versions));
	return req_array_add(json_object_object_get(q->reply, "vaults"), o);
}

static int op_vault_list(struct request_ctx *q)
{
	struct json_object *arr;
	int r, k;

	r = req_reply_array(q, "vaults", &arr);
	if (r < 0)
		return r;

	r = kv_vault_list(q->env->kv, vault_json, q);
	q->rule = NULL;
	k = req_record(q, "vault-list", r);
	if (k < 0)
		return unrecorded(q, k);
	return r < 0 ? r : 0;
}

static int do_vault_create(struct request_ctx *q)
{
	return kv_vault_create_with(q->env->kv, q->vault, (uint32_t)q->retention_days,
				    q->max_versions > 0 ? (uint32_t)q->max_versions : 0);
}

static int do_vault_delete(struct request_ctx *q)
{
	return kv_vault_delete(q->env->kv, q->vault);
}

static int do_vault_update(struct request_ctx *q)
{
	int r = 0;

	if (q->protect)
		r = kv_vault_protect(q->env->kv, q->vault);
	if (r >= 0 && q->max_versions >= 0)
		r = kv_vault_set_max_versions(q->env->kv, q->vault, (uint32_t)q->max_versions);
	return r;
}

static int op_vault(struct request_ctx *q)
{
	const char *op = json_object_get_string(req_member(q, "op"));
	int r;

	r = req_get_target(q, false);
	if (r < 0)
		return r;
	/* members checked before the record: a bad request is not a change */
	q->max_versions = -1;
	if (streq(op, "vault-create")) {
		r = req_get_int(q, "retention_days", VAULTFS_RETENTION_MIN, VAULTFS_RETENTION_MAX,
				&q->retention_days);
		if (r >= 0)
			r = req_get_int(q, "max_versions", 1, VAULTFS_VERSIONS_MAX,
					&q->max_versions);
		return r < 0 ? r : req_change(q, POLICY_OP_MANAGE, "vault-create", do_vault_create);
	}
	if (streq(op, "vault-delete"))
		return req_change(q, POLICY_OP_MANAGE, "vault-delete", do_vault_delete);
	{
		int p;

		p = req_get_bool(q, "purge_protection", &q->protect);
		if (p < 0)
			return p;
		if (p > 0 && !q->protect)
			return req_bad(q, "\"purge_protection\": true is the only update (it can "
					  "never be turned off)");
		/* 0: none (every version kept) */
		r = req_get_int(q, "max_versions", 0, VAULTFS_VERSIONS_MAX, &q->max_versions);
		if (r < 0)
			return r;
		if (p == 0 && r == 0)
			return req_bad(q, "vault-update needs \"purge_protection\": true or "
					  "\"max_versions\"");
	}
	return req_change(q, POLICY_OP_MANAGE, "vault-update", do_vault_update);
}

/* --- secrets --- */

int req_version_json(const struct kv_version_info *v, void *ud)
{
	return req_array_add(ud, kvjson_version(v));
}

static int do_secret_get(struct request_ctx *q)
{
	struct kv_version_info info;
	int r;

	r = kv_secret_get(q->env->kv, q->vault, q->name, q->version, &q->out, &info);
	if (r < 0)
		return r;
	q->version = info.version;
	json_object_object_add(q->reply, "version", json_object_new_int64(info.version));
	return 0;
}

/* The record of an allowed set, written before the store is touched, names the version it
 * makes, as a write through the file does (a refusal names none). */
static void set_expect_version(struct request_ctx *q)
{
	struct kv_version_info info;

	q->version =
		kv_secret_info(q->env->kv, q->vault, q->name, 0, &info) >= 0 ? info.version + 1 : 1;
}

/* The vault's max-versions after a version was added (kv_secret_prune): each pruned version
 * recorded first, as "prune" with its number, under the decision that allowed the change. The
 * change itself is made: a prune that fails (its record could not be written) leaves the
 * versions for the next change to prune. */
static int prune_record(const char *vault, const char *name, uint32_t version, void *ud)
{
	struct request_ctx *q = ud;
	uint32_t made = q->version;
	char path[sizeof(q->path)];
	int r;

	(void)vault;
	(void)name;
	memcpy(path, q->path, sizeof(path));
	snprintf(q->path, sizeof(q->path), "/%s/%s", q->vault, q->name);
	q->version = version;
	r = req_record(q, "prune", 0);
	q->version = made;
	memcpy(q->path, path, sizeof(path));
	return r;
}

static void prune(struct request_ctx *q)
{
	int r = kv_secret_prune(q->env->kv, q->vault, q->name, prune_record, q);

	if (r > 0)
		json_object_object_add(q->reply, "pruned", json_object_new_int64(r));
}

static int do_secret_set(struct request_ctx *q)
{
	uint32_t version;
	int r;

	r = kv_secret_set(q->env->kv, q->vault, q->name, q->value->data, q->value->len, &q->attrs,
			  &version);
	if (r < 0)
		return r;
	/* another writer came in between the record (which named the version expected) and the
	 * set: name the version that was made, as a write through the file does */
	if (version != q->version) {
		q->version = version;
		(void)req_record(q, "set", 0);
	}
	q->version = version;
	json_object_object_add(q->reply, "version", json_object_new_int64(version));
	prune(q);
	return 0;
}

/* The record of a rollback names the version it makes and, in its path, the one whose bytes it
 * takes ("/V/N from=T"). */
static void rollback_expect_version(struct request_ctx *q)
{
	size_t n = strlen(q->path);

	set_expect_version(q);
	snprintf(q->path + n, sizeof(q->path) - n, " from=%" PRIu32, q->to);
}

/* Version `to`'s bytes as a new current version, inside kv: nothing of them in the reply. */
static int do_secret_rollback(struct request_ctx *q)
{
	uint32_t version;
	int r;

	r = kv_secret_rollback(q->env->kv, q->vault, q->name, q->to, &version);
	if (r < 0) {
		if (r == -EKEYREVOKED)
			snprintf(q->msg, sizeof(q->msg),
				 "version %" PRIu32 " is disabled: enable it first ('vaultctl "
				 "secret update %s/%s --version %" PRIu32 " --enabled true')",
				 q->to, q->vault, q->name, q->to);
		else if (r == -ENOENT)
			snprintf(q->msg, sizeof(q->msg),
				 "no version %" PRIu32 " of %s/%s (never made, or pruned)", q->to,
				 q->vault, q->name);
		return r;
	}
	if (version != q->version) { /* another writer came in between: name the one made */
		q->version = version;
		(void)req_record(q, "rollback", 0);
	}
	q->version = version;
	json_object_object_add(q->reply, "version", json_object_new_int64(version));
	json_object_object_add(q->reply, "from", json_object_new_int64(q->to));
	prune(q);
	return 0;
}

static int op_secret_rollback(struct request_ctx *q)
{
	int64_t to = 0;
	int r;

	r = req_get_target(q, true);
	if (r < 0)
		return r;
	r = req_get_int(q, "to", 1, UINT32_MAX, &to);
	if (r < 0)
		return r;
	if (r == 0)
		return req_bad(q, "missing member \"to\"");
	q->to = (uint32_t)to;
	q->expect_version = rollback_expect_version;
	/* write, not read: the bytes never leave the daemon */
	return req_change(q, POLICY_OP_WRITE, "rollback", do_secret_rollback);
}

static int do_secret_update(struct request_ctx *q)
{
	return kv_secret_update(q->env->kv, q->vault, q->name, q->version, &q->attrs);
}

static int op_secret(struct request_ctx *q)
{
	static const struct {
		const char *op;
		unsigned policy; /* POLICY_OP_*, all needed */
		const char *event;
		int (*fn)(struct request_ctx *q);
		bool is_change;
	} verbs[] = {
		{ "secret-set", POLICY_OP_WRITE, "set", do_secret_set, true },
		{ "secret-update", POLICY_OP_WRITE, "update", do_secret_update, true },
		{ "secret-delete", POLICY_OP_DELETE, "delete", req_object_delete, true },
		{ "secret-recover", POLICY_OP_RECOVER, "recover", req_object_recover, true },
		{ "secret-purge", POLICY_OP_PURGE, "purge", req_object_purge, true },
		{ "secret-get", POLICY_OP_READ, "open", do_secret_get, false },
		/* the blob holds every version, disabled and not yet valid ones too: only for
		 * whoever could re-enable them anyway (write) and then read them (read) */
		{ "secret-backup", POLICY_OP_READ | POLICY_OP_WRITE, "backup", req_object_backup,
		  false },
		{ "secret-versions", POLICY_OP_META, "versions", req_object_versions, false },
	};
	const char *op = json_object_get_string(req_member(q, "op"));
	int64_t v = 0;
	int r;

	r = req_get_target(q, true);
	if (r < 0)
		return r;
	/* a new secret's attributes start from the defaults, an update's from what it has */
	q->attrs = streq(op, "secret-set") ? (struct kv_attrs){ .enabled = 1, .content_type = "" } :
					     (struct kv_attrs)KV_ATTRS_KEEP;
	/* members checked before anything is decided or recorded: a bad request changes nothing */
	if ((r = req_get_int(q, "version", 1, UINT32_MAX, &v)) < 0 || (r = req_get_attrs(q)) < 0)
		return r;
	q->version = (uint32_t)v;
	if (streq(op, "secret-set"))
		q->expect_version = set_expect_version;
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		if (!streq(op, verbs[i].op))
			continue;
		if (verbs[i].is_change)
			return req_change(q, verbs[i].policy, verbs[i].event, verbs[i].fn);
		return req_lookup(q, verbs[i].policy, verbs[i].event, verbs[i].fn);
	}
	return -EOPNOTSUPP; /* not reached: the table of ops names only these */
}

static int op_secret_list(struct request_ctx *q)
{
	int r;

	r = req_get_target(q, false);
	if (r < 0)
		return r;
	/* members checked before anything is decided or recorded, as for the other ops */
	if ((r = req_get_bool(q, "deleted", &q->deleted)) < 0 ||
	    (r = req_get_int(q, "expiring", 0, INT64_MAX / 4, &q->horizon)) < 0)
		return r;
	q->expiring = r > 0;
	return req_lookup(q, POLICY_OP_LIST, "list", req_object_list);
}

static int op_secret_restore(struct request_ctx *q)
{
	int r;

	r = req_get_target(q, false);
	if (r < 0)
		return r;
	/* decided on the name the blob restores to, and recorded with it, before anything */
	r = req_restore_target(q, "restore");
	if (r < 0)
		return r;
	/* write on the name, and manage on the vault: a restore brings back versions that
	 * lifecycle withholds (disabled, not yet valid), to be re-enabled by whoever holds write
	 * there; only the vault's manager may bring them in */
	return req_change(q, POLICY_OP_WRITE | POLICY_OP_MANAGE, "restore", req_object_restore);
}

static int op_policy_reload(struct request_ctx *q)
{
	int r;

	if (!q->env->reload) {
		snprintf(q->msg, sizeof(q->msg), "the policy lives in the daemon: no daemon here");
		return -EOPNOTSUPP;
	}
	r = q->env->reload(q->env->reload_ud, q->msg, sizeof(q->msg));
	if (r >= 0)
		json_object_object_add(q->reply, "loaded", json_object_new_string(q->msg));
	return r;
}

static int op_status(struct request_ctx *q)
{
	int r;

	if (!q->env->status) {
		snprintf(q->msg, sizeof(q->msg), "status comes from the daemon: no daemon here");
		return -EOPNOTSUPP;
	}
	r = q->env->status(q->env->status_ud, q->reply);
	if (r < 0)
		return r;
	/* The one request served when its record cannot be written: it tells nothing secret, and
	 * a failing journal is what the operator asks status about (the reply says it fails). */
	(void)req_record(q, "status", 0);
	return 0;
}

/* Every op: its members besides "v" and "op", and whether it carries value bytes. */
static const struct request_op ops[] = {
	{ "vault-list", " ", 0, op_vault_list },
	{ "vault-create", " vault retention_days max_versions ", 0, op_vault },
	{ "vault-delete", " vault ", 0, op_vault },
	{ "vault-update", " vault purge_protection max_versions ", 0, op_vault },
	{ "secret-set", " vault name enabled not_before expires content_type tags ",
	  VAULTFS_VALUE_MAX, op_secret },
	{ "secret-get", " vault name version ", 0, op_secret },
	{ "secret-list", " vault deleted expiring ", 0, op_secret_list },
	{ "secret-versions", " vault name ", 0, op_secret },
	{ "secret-update", " vault name version enabled not_before expires content_type tags ", 0,
	  op_secret },
	{ "secret-delete", " vault name ", 0, op_secret },
	{ "secret-recover", " vault name ", 0, op_secret },
	{ "secret-purge", " vault name ", 0, op_secret },
	{ "secret-backup", " vault name ", 0, op_secret },
	{ "secret-restore", " vault ", VAULTFS_BACKUP_MAX, op_secret_restore },
	{ "secret-rollback", " vault name to ", 0, op_secret_rollback },
	{ "policy-reload", " ", 0, op_policy_reload },
	{ "status", " ", 0, op_status },
};

static int check_members(struct request_ctx *q, const struct request_op *op)
{
	json_object_object_foreach(q->req, key, val)
	{
		char k[72];

		(void)val;
		if (streq(key, "v") || streq(key, "op") ||
		    (op->value_max && streq(key, "value_len")))
			continue;
		if (strlen(key) > 64 ||
		    (snprintf(k, sizeof(k), " %s ", key), !strstr(op->members, k)))
			return req_bad(q, "unknown member \"%.64s\" for op \"%s\"", key, op->name);
	}
	if (op->value_max && !q->value)
		return req_bad(q, "op \"%s\" needs value bytes (\"value_len\")", op->name);
	return 0;
}

/* The op of that name: ours, or a key or certificate request's (request-key.c,
 * request-cert.c); NULL for none. */
static const struct request_op *op_named(const char *name)
{
	const struct request_op *op;

	for (size_t i = 0; i < ELEMENTSOF(ops); i++)
		if (streq(name, ops[i].name))
			return &ops[i];
	op = request_key_op(name);
	return op ? op : request_cert_op(name);
}

static int run(struct request_ctx *q)
{
	struct json_object *o = req_member(q, "op");
	const struct request_op *op;
	int r;

	if (!o || !json_object_is_type(o, json_type_string))
		return req_bad(q, "missing member \"op\"");
	op = op_named(json_object_get_string(o));
	if (!op) {
		snprintf(q->msg, sizeof(q->msg), "unknown op \"%.64s\"", json_object_get_string(o));
		return -EOPNOTSUPP;
	}
	r = check_members(q, op);
	return r < 0 ? r : op->run(q);
}

struct json_object *request_error_reply(int err, const char *msg)
{
	struct json_object *o = json_object_new_object();
	int e = err < 0 ? -err : err;
	const char *name = strerrorname_np(e);

	if (!o)
		return NULL;
	json_object_object_add(o, "v", json_object_new_int(REQUEST_VERSION));
	json_object_object_add(o, "ok", json_object_new_boolean(false));
	json_object_object_add(o, "errno", json_object_new_int(e));
	json_object_object_add(o, "errname", json_object_new_string(name ? name : "?"));
	json_object_object_add(
		o, "error",
		json_object_new_string(msg && msg[0] ? msg : errtext(ERRTEXT_OBJECT, e)));
	return o;
}

int request_exec(const struct request_env *env, struct json_object *req, const struct secbuf *value,
		 struct json_object **ret_reply, struct secbuf **ret_value)
{
	struct request_ctx q = { .env = env, .req = req, .value = value };
	int r;

	q.reply = json_object_new_object();
	if (!q.reply)
		return -ENOMEM;
	json_object_object_add(q.reply, "v", json_object_new_int(REQUEST_VERSION));
	json_object_object_add(q.reply, "ok", json_object_new_boolean(true));
	r = run(&q);
	if (r < 0) {
		secbuf_free(TAKE_PTR(q.out));
		json_object_put(q.reply);
		q.reply = request_error_reply(r, q.msg);
		if (!q.reply)
			return -ENOMEM;
	} else if (q.out) {
		json_object_object_add(q.reply, "value_len", json_object_new_int64(q.out->len));
	}
	*ret_reply = q.reply;
	*ret_value = q.out;
	return 0;
}

static const struct request_op *op_find(struct json_object *req)
{
	struct json_object *o;

	if (!json_object_object_get_ex(req, "op", &o) || !json_object_is_type(o, json_type_string))
		return NULL;
	return op_named(json_object_get_string(o));
}

int request_parse(const char *line, size_t len, struct json_object **ret, size_t *ret_value_len,
		  char *msg, size_t size)
{
	struct json_tokener *tok;
	struct json_object *o, *m;
	int64_t n = 0;
	int r = 0;

	tok = json_tokener_new_ex(32);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT); /* no comments, no trailing commas */
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)len) {
		if (msg)
			snprintf(msg, size, "not JSON: %s",
				 o ? "data after the object" :
				     json_tokener_error_desc(json_tokener_get_error(tok)));
		r = -EBADMSG;
	} else if (!json_object_is_type(o, json_type_object)) {
		if (msg)
			snprintf(msg, size, "a request is a JSON object");
		r = -EBADMSG;
	} else if (!json_object_object_get_ex(o, "v", &m) ||
		   !json_object_is_type(m, json_type_int) ||
		   json_object_get_int64(m) != REQUEST_VERSION) {
		if (msg)
			snprintf(msg, size, "\"v\" must be %d (this protocol version)",
				 REQUEST_VERSION);
		r = -EPROTO;
	} else if (json_object_object_get_ex(o, "value_len", &m)) {
		const struct request_op *op = op_find(o);

		if (!json_object_is_type(m, json_type_int) || (n = json_object_get_int64(m)) < 0) {
			if (msg)
				snprintf(msg, size, "\"value_len\" must be a non-negative integer");
			r = -EINVAL;
		} else if (!op || (uint64_t)n > op->value_max) {
			/* the bytes are known: they can be thrown away, the connection goes on */
			*ret_value_len = (size_t)MIN((uint64_t)n, (uint64_t)SIZE_MAX);
			if (msg && op && op->value_max)
				snprintf(msg, size,
					 "value of %" PRId64 " bytes is over the limit (%zu)", n,
					 op->value_max);
			else if (msg)
				snprintf(msg, size, "this op takes no value bytes");
			r = -EMSGSIZE;
		}
	}
	json_tokener_free(tok);
	if (r < 0) {
		json_object_put(o);
		return r;
	}
	*ret = o;
	*ret_value_len = (size_t)n;
	return 0;
}

/* --- the blocking client side --- */

int request_send(int fd, struct json_object *msg, const void *value, size_t value_len)
{
	const char *s;
	size_t n;
	int r;

	if (value)
		json_object_object_add(msg, "value_len", json_object_new_int64((int64_t)value_len));
	s = json_object_to_json_string_ext(msg,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return -ENOMEM;
	n = strlen(s);
	r = io_write_all(fd, s, n);
	if (r >= 0)
		r = io_write_all(fd, "\n", 1);
	if (r >= 0 && value && value_len)
		r = io_write_all(fd, value, value_len);
	return r < 0 ? r : 0;
}

/* One recv of at most n bytes (EINTR retried): the count (> 0), -ECONNRESET at end of file, or
 * -errno. */
static ssize_t recv_some(int fd, void *p, size_t n, int flags)
{
	for (;;) {
		ssize_t k = recv(fd, p, n, flags);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return negative_errno();
		return k == 0 ? -ECONNRESET : k;
	}
}

/* Read exactly n bytes. */
static int read_exact(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = recv_some(fd, (uint8_t *)p + got, n - got, 0);

		if (k < 0)
			return (int)k;
		got += (size_t)k;
	}
	return 0;
}

int request_recv(int fd, struct json_object **ret, struct secbuf **ret_value)
{
	_cleanup_free_ char *line = NULL;
	_cleanup_secbuf_ struct secbuf *value = NULL;
	struct json_object *o = NULL, *m;
	size_t len = 0, cap = 0;
	int64_t n = 0;
	int r;

	/* the line up to its newline, never a byte further: what follows may be a value, and
	 * it must land in a secbuf, not in this heap buffer */
	for (;;) {
		ssize_t k;
		char *nl;

		if (cap - len < 4096) {
			char *p;

			if (cap >= REPLY_LINE_MAX)
				return -EMSGSIZE;
			cap = cap ? 2 * cap : 65536;
			p = realloc(line, cap);
			if (!p)
				return -ENOMEM;
			line = p;
		}
		k = recv_some(fd, line + len, cap - len, MSG_PEEK);
		if (k < 0)
			return (int)k;
		nl = memchr(line + len, '\n', (size_t)k);
		{
			size_t take = nl ? (size_t)(nl - (line + len)) + 1 : (size_t)k;

			/* what was peeked past the newline may be a value: not in this buffer */
			secure_wipe(line + len + take, (size_t)k - take);
			r = read_exact(fd, line + len, take);
		}
		if (r < 0)
			return r;
		if (nl) {
			len += (size_t)(nl - (line + len));
			break;
		}
		len += (size_t)k;
	}
	o = json_tokener_parse(line ? (line[len] = '\0', line) : "");
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "v", &m) || !json_object_is_type(m, json_type_int) ||
	    json_object_get_int(m) != REQUEST_VERSION) {
		json_object_put(o);
		return -EPROTO;
	}
	if (json_object_object_get_ex(o, "value_len", &m)) {
		n = json_object_is_type(m, json_type_int) ? json_object_get_int64(m) : -1;
		if (n < 0 || (uint64_t)n > VAULTFS_BACKUP_MAX) {
			json_object_put(o);
			return -EMSGSIZE;
		}
		r = secbuf_new(n ? (size_t)n : 1, &value);
		if (r >= 0)
			r = read_exact(fd, value->data, (size_t)n);
		if (r < 0) {
			json_object_put(o);
			return r;
		}
		value->len = (size_t)n;
	}
	*ret = o;
	*ret_value = TAKE_PTR(value);
	return 0;
}
