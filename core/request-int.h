/* request-int.h: what core/request.c shares with the files that implement some of its requests
 * (request-key.c, request-cert.c): the request being run, the checks of its members, and the decide-record-do
 * steps every request takes. Not for any other module. */
#pragma once

#include "request.h"

/* One request being run: what it asks (its members, checked once, before anything is decided
 * or recorded), what decided it, and the reply being built. */
struct request_ctx {
	const struct request_env *env;
	struct json_object *req;
	const struct secbuf *value;
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1];
	/* "/V/N", and after the decision what a record says besides (secret-rollback: " from=T") */
	char path[2 * VAULTFS_NAME_MAX + 3 + 24];
	uint32_t version;	/* asked for, then given (0: none, or the current one) */
	int64_t retention_days; /* vault-create (0: the store's default) */
	int64_t max_versions;	/* vault-create, vault-update (-1: not asked; 0: none) */
	bool protect;		/* vault-update: purge protection on */
	uint32_t to;		/* secret-rollback: the version whose bytes it takes */
	bool deleted;		/* secret-list */
	bool expiring;		/* secret-list: only those expiring before now + horizon */
	int64_t horizon;
	struct kv_attrs attrs; /* secret-set, secret-update */
	const char *tags[VAULTFS_TAGS_MAX];
	const char *rule;
	struct json_object *reply; /* the ok reply being built */
	struct secbuf *out;	   /* its value bytes */
	char msg[640];		   /* why, for an error reply */
	struct request_key *key;   /* the key requests' own (request-key.c) */
	struct request_cert *cert; /* the certificate requests' own (request-cert.c) */
	/* One more op decided after the ops of a change or read, on another path (0: none): a
	 * certificate issued by a vault CA needs `sign` on the CA ("/CAVAULT/CA"). */
	unsigned also_op;
	char also_path[2 * VAULTFS_NAME_MAX + 3];
	/* A change's version, known once it is allowed and before it is recorded (NULL: the
	 * version asked for): secret-set names the version it will make. */
	void (*expect_version)(struct request_ctx *q);
};

/* Every op: its members besides "v" and "op", and whether it carries value bytes. */
struct request_op {
	const char *name;
	const char *members; /* space separated, with spaces around */
	size_t value_max;    /* 0: no value bytes */
	int (*run)(struct request_ctx *q);
};

/* -EINVAL with the sentence in q->msg. */
int req_bad(struct request_ctx *q, const char *fmt, ...) _printf_(2, 3);
/* The member key of the request, or NULL. */
struct json_object *req_member(struct request_ctx *q, const char *key);
/* 1 and the name, 0 absent (-EINVAL when required), -EINVAL not a name. */
int req_get_name(struct request_ctx *q, const char *key, bool required,
		 char buf[VAULTFS_NAME_MAX + 1]);
/* 1 and the value, 0 absent, -EINVAL wrong type or out of min..max. */
int req_get_int(struct request_ctx *q, const char *key, int64_t min, int64_t max, int64_t *ret);
int req_get_bool(struct request_ctx *q, const char *key, bool *ret);
/* vault and (when name_too) name into q, and the policy path they make. */
int req_get_target(struct request_ctx *q, bool name_too);
/* The attribute members into q->attrs (absent ones keep what it holds). */
int req_get_attrs(struct request_ctx *q);
/* One record of q (event, err 0: allowed) in the journal. */
int req_record(struct request_ctx *q, const char *event, int err);
/* A change: decide every op of ops (POLICY_OP_*), record, do fn, record its failure, tell the
 * carrier. */
int req_change(struct request_ctx *q, unsigned ops, const char *event,
	       int (*fn)(struct request_ctx *q));
/* A read or a use: decide, do fn, record the outcome; q->out goes only when recorded. */
int req_lookup(struct request_ctx *q, unsigned ops, const char *event,
	       int (*fn)(struct request_ctx *q));
/* A new array as member key of the reply; add o (taken) to arr. */
int req_reply_array(struct request_ctx *q, const char *key, struct json_object **ret);
int req_array_add(struct json_object *arr, struct json_object *o);
/* A listing's entry for path, named name, when the caller may see it: 1 and *ret, 0 not
 * visible, -ENOMEM. */
int req_listed(struct request_ctx *q, const char *path, const char *name, struct json_object **ret);
/* kv_object_versions' callback: each version (kvjson_version) into the array ud. */
int req_version_json(const struct kv_version_info *v, void *ud);

/* The key requests (request-key.c): the op of that name, or NULL. */
const struct request_op *request_key_op(const char *name);
/* The certificate requests (request-cert.c): the op of that name, or NULL. */
const struct request_op *request_cert_op(const char *name);

/* --- request-object.c: what the requests on one kind of object (key, certificate; secret can)
 * share. The kind is the running request's: OBJECT_CERT when q->cert is set, OBJECT_KEY when
 * q->key is, else OBJECT_SECRET (request-key.c and request-cert.c set theirs before anything
 * is decided). --- */

/* A verb decided and recorded before it is made (req_change), or made, then recorded
 * (req_lookup); req_decide runs the one of kind. */
enum verb_kind {
	VERB_CHANGE, /* decided and recorded before it is made */
	VERB_READ,   /* decided, made, recorded; its output goes out once recorded */
};
int req_decide(struct request_ctx *q, enum verb_kind kind, unsigned ops, const char *event,
	       int (*fn)(struct request_ctx *q));
enum object_type req_object_type(const struct request_ctx *q);
/* -EMSGSIZE (said) when the value bytes are over max: the carrier checks value_len against the
 * op's cap, a caller in-process may not have. */
int req_value_fits(struct request_ctx *q, size_t max);
/* Members of the ok reply: an integer, a string (NULL: null), a boolean. */
void req_reply_int(struct request_ctx *q, const char *key, int64_t v);
void req_reply_str(struct request_ctx *q, const char *key, const char *s);
void req_reply_bool(struct request_ctx *q, const char *key, bool b);
/* restore's target: the name the blob restores to into q->name and q->path, checked to be of
 * this kind; when not, the error said and recorded (event) here, q->name empty. */
int req_restore_target(struct request_ctx *q, const char *event);
/* The verbs every kind has, each the kv_object_* call of the kind: list (the reply's member
 * "keys", "certificates" or "secrets", only what the caller may see), versions, delete,
 * recover, purge, backup (the blob as value bytes), restore (the name it restored, in the
 * reply). */
int req_object_list(struct request_ctx *q);
int req_object_versions(struct request_ctx *q);
int req_object_delete(struct request_ctx *q);
int req_object_recover(struct request_ctx *q);
int req_object_purge(struct request_ctx *q);
int req_object_backup(struct request_ctx *q);
int req_object_restore(struct request_ctx *q);
/* A key the TPM is to hold: -EOPNOTSUPP for a type it does not make, -EINVAL for an exportable
 * one (its private half never leaves the TPM), each said; else 0. */
int req_tpm_key_check(struct request_ctx *q, enum key_type type, bool exportable);
