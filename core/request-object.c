/* request-object.c: what the requests on one kind of vault object share (request-int.h): the
 * kind of the running request, the check of its value bytes against the op's cap, the members
 * of a reply, restore's target, and the verbs every kind has (list, versions, delete, recover,
 * purge, backup, restore) as the kv_object_* call of the kind. It decides nothing and records
 * nothing of its own (restore's refused target excepted, as its op); it never logs and never
 * holds a secret byte: a backup blob is ciphertext. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "errtext.h"
#include "kvjson.h"
#include "request-int.h"
#include "tpm-key.h"
#include "util.h"

/* What a kind is called: in a sentence, as vaultctl's noun, as a listing's member. */
static const struct {
	enum object_type type;
	const char *word, *noun, *list;
} kinds[] = {
	{ OBJECT_SECRET, "secret", "secret", "secrets" },
	{ OBJECT_KEY, "key", "key", "keys" },
	{ OBJECT_CERT, "certificate", "cert", "certificates" },
};

static size_t kind_index(enum object_type t)
{
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
		if (kinds[i].type == t)
			return i;
	return 0;
}

enum object_type req_object_type(const struct request_ctx *q)
{
	return q->cert ? OBJECT_CERT : q->key ? OBJECT_KEY : OBJECT_SECRET;
}

int req_decide(struct request_ctx *q, enum verb_kind kind, unsigned ops, const char *event,
	       int (*fn)(struct request_ctx *q))
{
	if (kind == VERB_CHANGE)
		return req_change(q, ops, event, fn);
	return req_lookup(q, ops, event, fn);
}

int req_value_fits(struct request_ctx *q, size_t max)
{
	if (q->value && q->value->len > max) {
		snprintf(q->msg, sizeof(q->msg), "value of %zu bytes is over the limit (%zu)",
			 q->value->len, max);
		return -EMSGSIZE;
	}
	return 0;
}

void req_reply_int(struct request_ctx *q, const char *key, int64_t v)
{
	json_object_object_add(q->reply, key, json_object_new_int64(v));
}

void req_reply_str(struct request_ctx *q, const char *key, const char *s)
{
	json_object_object_add(q->reply, key, s ? json_object_new_string(s) : NULL);
}

void req_reply_bool(struct request_ctx *q, const char *key, bool b)
{
	json_object_object_add(q->reply, key, json_object_new_boolean(b));
}

int req_restore_target(struct request_ctx *q, const char *event)
{
	enum object_type want = req_object_type(q), kind;
	int r;

	r = kv_backup_peek(q->env->kv, q->value->data, q->value->len, &kind, q->name);
	if (r >= 0 && kind != want)
		r = -EMEDIUMTYPE;
	if (r >= 0) {
		snprintf(q->path, sizeof(q->path), "/%s/%s", q->vault, q->name);
		return 0;
	}
	if (r == -EMEDIUMTYPE)
		snprintf(q->msg, sizeof(q->msg),
			 "the blob is a backup of a %s, not of a %s (vaultctl %s restore)",
			 kinds[kind_index(kind)].word, kinds[kind_index(want)].word,
			 kinds[kind_index(kind)].noun);
	else
		snprintf(q->msg, sizeof(q->msg), "not a backup of this store: %s",
			 errtext(ERRTEXT_OBJECT, r));
	q->name[0] = '\0';
	(void)req_record(q, event, r);
	return r;
}

struct list_ctx {
	struct request_ctx *q;
	struct json_object *arr;
	int64_t until; /* q->expiring: the horizon's end */
};

static int object_json(const struct kv_object_info *s, void *ud)
{
	struct list_ctx *l = ud;
	struct request_ctx *q = l->q;
	char path[2 * VAULTFS_NAME_MAX + 3];
	struct json_object *o;
	int r;

	if (q->expiring && (s->expires == 0 || s->expires > l->until))
		return 0;
	snprintf(path, sizeof(path), "/%s/%s", q->vault, s->name);
	r = req_listed(q, path, s->name, &o);
	if (r <= 0)
		return r;
	json_object_object_add(o, "current_version", json_object_new_int64(s->current_version));
	json_object_object_add(o, "enabled", json_object_new_boolean(s->enabled));
	json_object_object_add(o, "created", kvjson_time(s->created));
	json_object_object_add(o, "expires", kvjson_time(s->expires));
	if (s->deleted_at) {
		json_object_object_add(o, "deleted", kvjson_time(s->deleted_at));
		json_object_object_add(o, "purge_after", kvjson_time(s->purge_after));
	}
	return req_array_add(l->arr, o);
}

int req_object_list(struct request_ctx *q)
{
	enum object_type t = req_object_type(q);
	struct list_ctx l = { .q = q };
	int r;

	if (q->expiring)
		l.until = (int64_t)time(NULL) + q->horizon;
	r = req_reply_array(q, kinds[kind_index(t)].list, &l.arr);
	if (r < 0)
		return r;
	r = kv_object_list(q->env->kv, t, q->vault, q->deleted, object_json, &l);
	return r < 0 ? r : 0;
}

int req_object_versions(struct request_ctx *q)
{
	struct json_object *arr;
	int r;

	r = req_reply_array(q, "versions", &arr);
	if (r < 0)
		return r;
	return kv_object_versions(q->env->kv, req_object_type(q), q->vault, q->name,
				  req_version_json, arr);
}

int req_object_delete(struct request_ctx *q)
{
	return kv_object_delete(q->env->kv, req_object_type(q), q->vault, q->name);
}

int req_object_recover(struct request_ctx *q)
{
	return kv_object_recover(q->env->kv, req_object_type(q), q->vault, q->name);
}

int req_object_purge(struct request_ctx *q)
{
	return kv_object_purge(q->env->kv, req_object_type(q), q->vault, q->name);
}

int req_object_backup(struct request_ctx *q)
{
	bool secret = req_object_type(q) == OBJECT_SECRET;
	int r = kv_object_backup(q->env->kv, req_object_type(q), q->vault, q->name, &q->out);

	if (r == -EMSGSIZE)
		snprintf(q->msg, sizeof(q->msg),
			 "the backup of every version of %s/%s would be over %u MiB%s", q->vault,
			 q->name, VAULTFS_BACKUP_MAX >> 20,
			 secret ? ": purge or prune old versions (vault update --max-versions) to "
				  "back it up" :
				  "");
	return r;
}

int req_object_restore(struct request_ctx *q)
{
	char name[VAULTFS_NAME_MAX + 1];
	int r;

	r = kv_object_restore(q->env->kv, req_object_type(q), q->vault, q->value->data,
			      q->value->len, name);
	if (r == -EXDEV) /* only secrets are pruned */
		snprintf(q->msg, sizeof(q->msg),
			 "the backup's oldest versions were pruned: it restores only into a vault "
			 "with max-versions (vault update %s --max-versions N), where a pruned "
			 "version is no tampering",
			 q->vault);
	if (r < 0)
		return r;
	req_reply_str(q, "name", name);
	return 0;
}

int req_tpm_key_check(struct request_ctx *q, enum key_type type, bool exportable)
{
	if (!tpm_key_type_allowed(type)) {
		snprintf(q->msg, sizeof(q->msg),
			 "a TPM key is RSA 2048/3072 or EC P-256/P-384, not %s",
			 key_type_name(type));
		return -EOPNOTSUPP;
	}
	if (exportable)
		return req_bad(q, "\"exportable\": a TPM key's private half never leaves the TPM");
	return 0;
}
