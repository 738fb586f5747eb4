/* request-key.c: the key requests of request.h (key-create ... key-unwrap): check every member
 * and every input against key.h's caps, ask the caller's authorizer, record, run the kv_key_* or
 * kv_object_* call with OBJECT_KEY, build the reply. The inputs of a use (a digest or message,
 * a signature, plaintext, ciphertext, additional data, a key to import or to wrap) come as the
 * request's raw value bytes and its outputs go back the same way, never through JSON text. A
 * use is recorded with its key, version, algorithm and op (the event "sign-es256"), never with
 * its data; nothing here logs, and no private byte of a key reaches this file at all. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "errtext.h"
#include "key-soft.h"
#include "kvjson.h"
#include "request-int.h"
#include "ssh-wire.h"
#include "tpm-key.h"
#include "util.h"

/* What one key verb is: its op and members, the policy ops it needs, what it does. */
struct key_verb {
	struct request_op op;
	unsigned policy; /* POLICY_OP_*, all needed */
	const char *event;
	enum key_op use; /* the key operation of a use (0: a lifecycle verb) */
	enum verb_kind kind;
	int (*fn)(struct request_ctx *q);
};

/* The key members of a request, checked before anything is decided. */
struct request_key {
	const struct key_verb *verb;
	struct kv_key_spec spec; /* create; import: ops and exportable */
	enum key_alg alg;
	bool data;	    /* sign/verify: the value is the message, hashed here */
	const char *format; /* get-public: pem, der or ssh */
	const uint8_t *aad; /* into q->value */
	size_t aad_len;
	const uint8_t *sig;
	size_t sig_len;
	const uint8_t *in;
	size_t n;
	char event[32];
	struct kv_key_rotation rotation; /* rotation-set */
};

/* The largest wrapped key: A256KWP of KEY_WRAP_INPUT_MAX (RSA 4096 makes 512 bytes). */
#define KEY_UNWRAP_INPUT_MAX KEY_WRAPPED_MAX

static const char *op_name(const struct request_ctx *q)
{
	return q->key->verb->op.name;
}

/* --- the sentences of a use that failed --- */

/* The type of the version q names, for a sentence ("" when it cannot be read). */
static const char *key_type_word(struct request_ctx *q)
{
	struct kv_key_public p;

	if (kv_key_public(q->env->kv, q->vault, q->name, q->version, &p) < 0)
		return "";
	return key_type_name(p.type);
}

/* q->msg for an error of kv_key_* (left alone when it says enough by errtext). */
static int use_failed(struct request_ctx *q, int r)
{
	struct request_key *k = q->key;
	const char *op = key_op_name(k->verb->use), *alg = key_alg_name(k->alg);

	switch (-r) {
	case EPERM:
		snprintf(q->msg, sizeof(q->msg), "the key's key_ops do not allow %s", op);
		break;
	case EOPNOTSUPP:
		snprintf(q->msg, sizeof(q->msg), "%s cannot %s with a %s key", alg, op,
			 key_type_word(q));
		break;
	case EKEYEXPIRED:
	case EKEYREJECTED:
		snprintf(q->msg, sizeof(q->msg),
			 "%s: the version is outside its not-before/expiry dates, where a key "
			 "verifies, decrypts and unwraps but does not %s",
			 errtext(ERRTEXT_OBJECT, r), op);
		break;
	case EBADMSG:
		if (k->verb->use == KEY_OP_VERIFY)
			snprintf(q->msg, sizeof(q->msg), "the signature does not verify (%s, %s)",
				 alg, "this key version");
		else if (k->verb->use == KEY_OP_DECRYPT || k->verb->use == KEY_OP_UNWRAP)
			snprintf(q->msg, sizeof(q->msg),
				 "the input does not %s under this key version with %s (another "
				 "version made it? give \"version\")",
				 op, alg);
		break;
	case EINVAL:
		snprintf(q->msg, sizeof(q->msg),
			 "the input has the wrong length or form for %s with %s on a %s key", op,
			 alg, key_type_word(q));
		break;
	case EMSGSIZE:
		snprintf(q->msg, sizeof(q->msg), "the input is too long for %s with %s on a %s key",
			 op, alg, key_type_word(q));
		break;
	}
	return r;
}

/* -ENODEV when the key is a TPM key and the carrier names no TPM (request_env.tcti). */
static int no_tpm(struct request_ctx *q)
{
	struct kv_key_public p;

	if (q->env->tcti || kv_key_public(q->env->kv, q->vault, q->name, q->version, &p) < 0 ||
	    p.protection != KEY_PROTECTION_TPM)
		return 0;
	snprintf(q->msg, sizeof(q->msg), "no TPM for keys here ([seal] tcti)");
	return -ENODEV;
}

/* --- lifecycle --- */

static int made(struct request_ctx *q, int r, uint32_t version)
{
	if (r < 0) {
		if (r == -ENOKEY)
			snprintf(q->msg, sizeof(q->msg),
				 "the key is encrypted under a passphrase: decrypt it first "
				 "(openssl pkey, ssh-keygen -p -N '')");
		else if (r == -EOPNOTSUPP && q->key->spec.protection == KEY_PROTECTION_TPM)
			snprintf(q->msg, sizeof(q->msg), "this TPM cannot make %s keys",
				 key_type_name(q->key->spec.type));
		else if (r == -EOPNOTSUPP)
			snprintf(q->msg, sizeof(q->msg),
				 "a key of a type or size vaultfs does not hold (RSA "
				 "2048/3072/4096, "
				 "EC P-256/P-384/P-521, Ed25519, AES-256)");
		else if (r == -EINVAL && streq(op_name(q), "key-import"))
			snprintf(
				q->msg, sizeof(q->msg),
				"not a private key vaultfs can import (PEM PKCS#1, SEC1 or PKCS#8, "
				"OpenSSH, JWK), or \"ops\" the key's type cannot do");
		return r;
	}
	q->version = version;
	req_reply_int(q, "version", version);
	return 0;
}

static int do_create(struct request_ctx *q)
{
	uint32_t v = 0;
	int r;

	if (q->key->spec.protection == KEY_PROTECTION_TPM && !q->env->tcti) {
		snprintf(q->msg, sizeof(q->msg), "no TPM for keys here ([seal] tcti)");
		return -ENODEV;
	}
	r = kv_key_create(q->env->kv, q->env->tcti, q->vault, q->name, &q->key->spec, &q->attrs,
			  &v);
	return made(q, r, v);
}

static int do_import(struct request_ctx *q)
{
	struct kv_key_public p;
	uint32_t v = 0;
	int r;

	r = kv_key_import(q->env->kv, q->vault, q->name, q->value->data, q->value->len,
			  q->key->spec.ops, q->key->spec.exportable, &q->attrs, &v);
	r = made(q, r, v);
	if (r >= 0 && kv_key_public(q->env->kv, q->vault, q->name, v, &p) >= 0)
		req_reply_str(q, "type", key_type_name(p.type));
	return r;
}

static int do_rotate(struct request_ctx *q)
{
	uint32_t v = 0;
	int r;

	r = no_tpm(q);
	/* no expiry asked for: the rotation policy's expiry of new versions, if it has one */
	if (r >= 0 && q->attrs.expires == 0)
		r = kv_key_rotation_expiry(q->env->kv, q->vault, q->name, &q->attrs.expires);
	if (r >= 0)
		r = kv_key_rotate(q->env->kv, q->env->tcti, q->vault, q->name, &q->attrs, &v);
	return made(q, r, v);
}

static int do_rotation_set(struct request_ctx *q)
{
	return kv_key_rotation_set(q->env->kv, q->vault, q->name, &q->key->rotation);
}

static int do_rotation_get(struct request_ctx *q)
{
	struct kv_key_rotation p = { 0 };
	int r;

	r = kv_key_rotation_get(q->env->kv, q->vault, q->name, &p);
	if (r == -ENOENT) { /* a key with none: zeros, "none"; a missing key stays -ENOENT */
		struct kv_key_public pub;

		r = kv_key_public(q->env->kv, q->vault, q->name, 0, &pub);
	}
	if (r < 0)
		return r;
	req_reply_int(q, "rotate_after", p.rotate_after);
	req_reply_int(q, "notify_before", p.notify_before);
	req_reply_int(q, "expires_after", p.expires_after);
	return 0;
}

static int do_update(struct request_ctx *q)
{
	return kv_object_update(q->env->kv, OBJECT_KEY, q->vault, q->name, q->version, &q->attrs);
}

/* The key and one version of it: what it is and the version's attributes. */
static int do_show(struct request_ctx *q)
{
	struct kv_object_info o;
	struct kv_key_public p;
	struct json_object *attrs;
	char ops[64];
	int r;

	r = kv_object_lookup(q->env->kv, OBJECT_KEY, q->vault, q->name, &o);
	if (r >= 0 && o.deleted_at)
		r = -ENOENT;
	if (r >= 0)
		r = kv_key_public(q->env->kv, q->vault, q->name, q->version, &p);
	if (r >= 0)
		r = key_ops_format(p.ops, ops, sizeof(ops));
	if (r < 0)
		return r;
	q->version = p.version;
	req_reply_str(q, "name", q->name);
	req_reply_int(q, "current_version", o.current_version);
	req_reply_str(q, "type", key_type_name(p.type));
	req_reply_str(q, "protection", p.protection == KEY_PROTECTION_TPM ? "tpm" : "software");
	req_reply_str(q, "key_ops", ops);
	json_object_object_add(q->reply, "exportable", json_object_new_boolean(p.exportable));
	attrs = kvjson_version(&p.info);
	if (!attrs)
		return -ENOMEM;
	/* the version's attributes, flat beside the key's; a key has no content type, and the
	 * size of its record says nothing to anyone */
	json_object_object_foreach(attrs, key, val)
	{
		if (!streq(key, "size") && !streq(key, "content_type"))
			json_object_object_add(q->reply, key, json_object_get(val));
	}
	json_object_put(attrs);
	return 0;
}

/* The public half as PEM, DER (SubjectPublicKeyInfo) or an OpenSSH line, as value bytes. */
static int do_public(struct request_ctx *q)
{
	const char *format = q->key->format;
	struct kv_key_public p;
	int r;

	r = kv_key_public(q->env->kv, q->vault, q->name, q->version, &p);
	if (r < 0)
		return r;
	q->version = p.version;
	if (p.spki_len == 0) {
		snprintf(q->msg, sizeof(q->msg), "a %s key has no public half",
			 key_type_name(p.type));
		return -EOPNOTSUPP;
	}
	if (streq(format, "der")) {
		r = secbuf_dup(p.spki, p.spki_len, &q->out);
	} else if (streq(format, "ssh")) {
		char line[4096], comment[2 * VAULTFS_NAME_MAX + 2];
		int n;

		snprintf(comment, sizeof(comment), "%s/%s", q->vault, q->name);
		r = ssh_pubkey_line(p.spki, p.spki_len, comment, line, sizeof(line) - 1);
		if (r == -EOPNOTSUPP || r == -EINVAL)
			snprintf(q->msg, sizeof(q->msg), "a %s key has no OpenSSH form",
				 key_type_name(p.type));
		if (r < 0)
			return r;
		n = (int)strlen(line);
		line[n++] = '\n';
		r = secbuf_dup(line, (size_t)n, &q->out);
	} else {
		_cleanup_free_ char *pem = NULL;

		r = key_public_pem(p.spki, p.spki_len, &pem);
		if (r >= 0)
			r = secbuf_dup(pem, strlen(pem), &q->out);
	}
	if (r < 0)
		return r;
	req_reply_int(q, "version", p.version);
	req_reply_str(q, "type", key_type_name(p.type));
	req_reply_str(q, "format", format);
	return 0;
}

/* --- uses --- */

/* version 0 (the current one) made explicit, so that the record and the reply name it. */
static int resolve_version(struct request_ctx *q)
{
	struct kv_version_info info;
	int r;

	if (q->version)
		return 0;
	r = kv_object_info(q->env->kv, OBJECT_KEY, q->vault, q->name, 0, &info);
	if (r < 0)
		return r;
	q->version = info.version;
	return 0;
}

static void reply_use(struct request_ctx *q)
{
	req_reply_int(q, "version", q->version);
	req_reply_str(q, "alg", key_alg_name(q->key->alg));
}

/* The digest a signature is over: the value itself, or its hash with "data". */
static int sign_input(struct request_key *k, uint8_t *buf, const uint8_t **ret, size_t *ret_n)
{
	size_t n = KEY_DIGEST_MAX;
	int r;

	if (!k->data || k->alg == KEY_ALG_EDDSA) {
		*ret = k->in, *ret_n = k->n;
		return 0;
	}
	r = key_digest(k->alg, k->in, k->n, buf, &n);
	if (r < 0)
		return r;
	*ret = buf, *ret_n = n;
	return 0;
}

static int do_sign(struct request_ctx *q)
{
	struct request_key *k = q->key;
	uint8_t digest[KEY_DIGEST_MAX], sig[KEY_SIG_MAX];
	size_t siglen = sizeof(sig), n;
	const uint8_t *in;
	uint32_t v = 0;
	int r;

	r = no_tpm(q);
	if (r >= 0)
		r = sign_input(k, digest, &in, &n);
	if (r >= 0)
		r = kv_key_sign(q->env->kv, q->env->tcti, q->vault, q->name, q->version, k->alg, in,
				n, sig, &siglen, &v);
	secure_wipe(digest, sizeof(digest));
	if (r < 0)
		return use_failed(q, r);
	q->version = v;
	r = secbuf_dup(sig, siglen, &q->out);
	if (r < 0)
		return r;
	reply_use(q);
	return 0;
}

static int do_verify(struct request_ctx *q)
{
	struct request_key *k = q->key;
	uint8_t digest[KEY_DIGEST_MAX];
	const uint8_t *in;
	size_t n;
	int r;

	r = resolve_version(q);
	if (r >= 0)
		r = no_tpm(q);
	if (r >= 0)
		r = sign_input(k, digest, &in, &n);
	if (r >= 0)
		r = kv_key_verify(q->env->kv, q->vault, q->name, q->version, k->alg, in, n, k->sig,
				  k->sig_len);
	secure_wipe(digest, sizeof(digest));
	if (r < 0)
		return use_failed(q, r);
	reply_use(q);
	json_object_object_add(q->reply, "valid", json_object_new_boolean(true));
	return 0;
}

/* encrypt and wrap: with the current version, which the reply names. */
static int do_encrypt(struct request_ctx *q)
{
	struct request_key *k = q->key;
	_cleanup_secbuf_ struct secbuf *out = NULL;
	uint32_t v = 0;
	size_t len;
	int r;

	r = secbuf_new(KEY_CIPHERTEXT_MAX, &out);
	if (r < 0)
		return r;
	len = out->cap;
	r = kv_key_encrypt(q->env->kv, q->vault, q->name, k->verb->use, k->alg, k->aad, k->aad_len,
			   k->in, k->n, out->data, &len, &v);
	if (r < 0)
		return use_failed(q, r);
	out->len = len;
	q->version = v;
	q->out = TAKE_PTR(out);
	reply_use(q);
	return 0;
}

/* decrypt and unwrap: with the version asked for (0: the current one). */
static int do_decrypt(struct request_ctx *q)
{
	struct request_key *k = q->key;
	int r;

	r = resolve_version(q);
	if (r >= 0)
		r = no_tpm(q);
	if (r >= 0)
		r = kv_key_decrypt(q->env->kv, q->env->tcti, q->vault, q->name, q->version,
				   k->verb->use, k->alg, k->aad, k->aad_len, k->in, k->n, &q->out);
	if (r < 0)
		return use_failed(q, r);
	reply_use(q);
	return 0;
}

/* --- the verbs --- */

static int op_key(struct request_ctx *q);

#define ATTRS " enabled not_before expires tags "
#define USE " vault name alg "
static const struct key_verb verbs[] = {
	{ { "key-create", " vault name type protection ops exportable" ATTRS, 0, op_key },
	  POLICY_OP_WRITE,
	  "key-create",
	  0,
	  VERB_CHANGE,
	  do_create },
	{ { "key-import", " vault name ops exportable" ATTRS, KEY_IMPORT_MAX, op_key },
	  POLICY_OP_WRITE,
	  "key-import",
	  0,
	  VERB_CHANGE,
	  do_import },
	{ { "key-list", " vault deleted ", 0, op_key },
	  POLICY_OP_LIST,
	  "key-list",
	  0,
	  VERB_READ,
	  req_object_list },
	{ { "key-show", " vault name version ", 0, op_key },
	  POLICY_OP_META,
	  "key-show",
	  0,
	  VERB_READ,
	  do_show },
	{ { "key-versions", " vault name ", 0, op_key },
	  POLICY_OP_META,
	  "key-versions",
	  0,
	  VERB_READ,
	  req_object_versions },
	{ { "key-rotate", " vault name" ATTRS, 0, op_key },
	  POLICY_OP_WRITE,
	  "key-rotate",
	  0,
	  VERB_CHANGE,
	  do_rotate },
	{ { "key-rotation-get", " vault name ", 0, op_key },
	  POLICY_OP_META,
	  "key-rotation-get",
	  0,
	  VERB_READ,
	  do_rotation_get },
	{ { "key-rotation-set", " vault name rotate_after notify_before expires_after ", 0,
	    op_key },
	  POLICY_OP_WRITE,
	  "key-rotation-set",
	  0,
	  VERB_CHANGE,
	  do_rotation_set },
	{ { "key-update", " vault name version" ATTRS, 0, op_key },
	  POLICY_OP_WRITE,
	  "key-update",
	  0,
	  VERB_CHANGE,
	  do_update },
	{ { "key-delete", " vault name ", 0, op_key },
	  POLICY_OP_DELETE,
	  "key-delete",
	  0,
	  VERB_CHANGE,
	  req_object_delete },
	{ { "key-recover", " vault name ", 0, op_key },
	  POLICY_OP_RECOVER,
	  "key-recover",
	  0,
	  VERB_CHANGE,
	  req_object_recover },
	{ { "key-purge", " vault name ", 0, op_key },
	  POLICY_OP_PURGE,
	  "key-purge",
	  0,
	  VERB_CHANGE,
	  req_object_purge },
	/* the blob holds every version's private half (sealed to this store's master key):
	 * restored into another vault of the store it is used under that vault's policy, so it
	 * is the vault's manager's to take out, with write on the key (request.h) */
	{ { "key-backup", " vault name ", 0, op_key },
	  POLICY_OP_WRITE | POLICY_OP_MANAGE,
	  "key-backup",
	  0,
	  VERB_READ,
	  req_object_backup },
	{ { "key-restore", " vault ", VAULTFS_BACKUP_MAX, op_key },
	  POLICY_OP_WRITE | POLICY_OP_MANAGE,
	  "key-restore",
	  0,
	  VERB_CHANGE,
	  req_object_restore },
	{ { "key-get-public", " vault name version format ", 0, op_key },
	  POLICY_OP_META,
	  "key-get-public",
	  0,
	  VERB_READ,
	  do_public },
	{ { "key-sign", USE "version data ", KEY_INPUT_MAX, op_key },
	  POLICY_OP_SIGN,
	  "sign",
	  KEY_OP_SIGN,
	  VERB_READ,
	  do_sign },
	{ { "key-verify", USE "version data signature_len ", KEY_INPUT_MAX + KEY_SIG_MAX, op_key },
	  POLICY_OP_VERIFY,
	  "verify",
	  KEY_OP_VERIFY,
	  VERB_READ,
	  do_verify },
	{ { "key-encrypt", USE "aad_len ", KEY_INPUT_MAX + KEY_AAD_MAX, op_key },
	  POLICY_OP_ENCRYPT,
	  "encrypt",
	  KEY_OP_ENCRYPT,
	  VERB_READ,
	  do_encrypt },
	{ { "key-decrypt", USE "version aad_len ", KEY_CIPHERTEXT_MAX + KEY_AAD_MAX, op_key },
	  POLICY_OP_DECRYPT,
	  "decrypt",
	  KEY_OP_DECRYPT,
	  VERB_READ,
	  do_decrypt },
	{ { "key-wrap", USE, KEY_WRAP_INPUT_MAX, op_key },
	  POLICY_OP_WRAP,
	  "wrap",
	  KEY_OP_WRAP,
	  VERB_READ,
	  do_encrypt },
	{ { "key-unwrap", USE "version ", KEY_UNWRAP_INPUT_MAX, op_key },
	  POLICY_OP_UNWRAP,
	  "unwrap",
	  KEY_OP_UNWRAP,
	  VERB_READ,
	  do_decrypt },
};

const struct request_op *request_key_op(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(name, verbs[i].op.name))
			return &verbs[i].op;
	return NULL;
}

/* --- the members --- */

/* A string member (NUL-free), or NULL when absent; -EINVAL another type. */
static int get_str(struct request_ctx *q, const char *key, const char **ret)
{
	struct json_object *o = req_member(q, key);

	*ret = NULL;
	if (!o)
		return 0;
	if (!json_object_is_type(o, json_type_string) ||
	    (size_t)json_object_get_string_len(o) != strlen(json_object_get_string(o)) ||
	    json_object_get_string_len(o) > 256)
		return req_bad(q, "\"%s\" must be a string of at most 256 bytes", key);
	*ret = json_object_get_string(o);
	return 1;
}

/* type, protection, ops, exportable of create; ops, exportable of import. */
static int get_spec(struct request_ctx *q, bool create)
{
	struct kv_key_spec *s = &q->key->spec;
	const char *type = NULL, *prot = NULL, *ops = NULL;
	int r;

	if ((r = get_str(q, "type", &type)) < 0 || (r = get_str(q, "protection", &prot)) < 0 ||
	    (r = get_str(q, "ops", &ops)) < 0 ||
	    (r = req_get_bool(q, "exportable", &s->exportable)) < 0)
		return r;
	if (create) {
		if (!type)
			return req_bad(q, "missing member \"type\" (rsa-2048, rsa-3072, rsa-4096, "
					  "ec-p256, ec-p384, ec-p521, ed25519, aes-256)");
		s->type = key_type_from_name(type);
		if (s->type == KEY_TYPE_INVALID)
			return req_bad(q,
				       "\"type\": unknown key type \"%.64s\" (rsa-2048, rsa-3072, "
				       "rsa-4096, ec-p256, ec-p384, ec-p521, ed25519, aes-256)",
				       type);
	}
	if (!prot || streq(prot, "software"))
		s->protection = KEY_PROTECTION_SOFTWARE;
	else if (streq(prot, "tpm"))
		s->protection = KEY_PROTECTION_TPM;
	else
		return req_bad(q, "\"protection\" must be \"software\" or \"tpm\"");
	if (s->protection == KEY_PROTECTION_TPM &&
	    (r = req_tpm_key_check(q, s->type, s->exportable)) < 0)
		return r;
	if (ops) {
		if (key_ops_parse(ops, &s->ops) < 0)
			return req_bad(q,
				       "\"ops\": a comma-separated list of sign, verify, encrypt, "
				       "decrypt, wrap, unwrap (each once)");
		if (create && (s->ops & ~key_type_ops(s->type))) {
			char can[64] = "";

			(void)key_ops_format(key_type_ops(s->type), can, sizeof(can));
			return req_bad(q, "\"ops\": a %s key can only %s", key_type_name(s->type),
				       can);
		}
	}
	return 0;
}

/* Whether alg is one op may name at all (its fit with the key's type is the key's to say). */
static bool alg_fits_op(enum key_alg a, enum key_op op)
{
	switch (op) {
	case KEY_OP_SIGN:
	case KEY_OP_VERIFY:
		return a >= KEY_ALG_RS256 && a <= KEY_ALG_EDDSA;
	case KEY_OP_ENCRYPT:
		return a == KEY_ALG_RSA_OAEP_256 || a == KEY_ALG_A256GCM;
	case KEY_OP_DECRYPT:
		return a == KEY_ALG_RSA_OAEP_256 || a == KEY_ALG_RSA_OAEP || a == KEY_ALG_A256GCM;
	case KEY_OP_WRAP:
	case KEY_OP_UNWRAP:
		return a == KEY_ALG_RSA_OAEP_256 || a == KEY_ALG_A256KW || a == KEY_ALG_A256KWP;
	}
	return false;
}

static const char *const op_algs[] = {
	"RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA",
	"RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA",
	"RSA-OAEP-256, A256GCM (RSA-OAEP only decrypts)",
	"RSA-OAEP-256, RSA-OAEP, A256GCM",
	"RSA-OAEP-256, A256KW, A256KWP",
	"RSA-OAEP-256, A256KW, A256KWP",
};

/* The value bytes of a use, split: [aad][signature]input, with the lengths of the members. */
static int get_use(struct request_ctx *q)
{
	struct request_key *k = q->key;
	enum key_op use = k->verb->use;
	const char *alg = NULL;
	int64_t aad = 0, sig = 0;
	size_t n, cap;
	int r;

	if ((r = get_str(q, "alg", &alg)) < 0 || (r = req_get_bool(q, "data", &k->data)) < 0 ||
	    (r = req_get_int(q, "aad_len", 0, UINT32_MAX, &aad)) < 0 ||
	    (r = req_get_int(q, "signature_len", 1, UINT32_MAX, &sig)) < 0)
		return r;
	if (aad > KEY_AAD_MAX || sig > KEY_SIG_MAX) {
		snprintf(q->msg, sizeof(q->msg), "\"%s\" of %" PRId64 " is over the limit (%u)",
			 aad > KEY_AAD_MAX ? "aad_len" : "signature_len",
			 aad > KEY_AAD_MAX ? aad : sig,
			 aad > KEY_AAD_MAX ? KEY_AAD_MAX : KEY_SIG_MAX);
		return -EMSGSIZE;
	}
	if (!alg)
		return req_bad(q, "missing member \"alg\" (%s)", op_algs[__builtin_ctz(use)]);
	k->alg = key_alg_from_name(alg);
	if (k->alg == KEY_ALG_INVALID || !alg_fits_op(k->alg, use))
		return req_bad(q, "\"alg\": %s \"%.32s\" for %s (%s)",
			       k->alg == KEY_ALG_INVALID ? "unknown algorithm" : "not an algorithm",
			       alg, key_op_name(use), op_algs[__builtin_ctz(use)]);
	if (aad && k->alg != KEY_ALG_A256GCM)
		return req_bad(q, "\"aad_len\": only A256GCM takes additional data");
	if (use == KEY_OP_VERIFY && !sig)
		return req_bad(q, "missing member \"signature_len\" (the value bytes are the "
				  "signature, then the digest or data)");
	n = q->value->len;
	if ((size_t)(aad + sig) > n)
		return req_bad(q, "\"%s\" is longer than the value bytes (%zu)",
			       aad ? "aad_len" : "signature_len", n);
	k->aad = aad ? q->value->data : NULL;
	k->aad_len = (size_t)aad;
	k->sig = q->value->data + aad;
	k->sig_len = (size_t)sig;
	k->in = q->value->data + aad + sig;
	k->n = n - (size_t)(aad + sig);
	cap = use == KEY_OP_WRAP    ? KEY_WRAP_INPUT_MAX :
	      use == KEY_OP_UNWRAP  ? KEY_UNWRAP_INPUT_MAX :
	      use == KEY_OP_DECRYPT ? KEY_CIPHERTEXT_MAX :
				      KEY_INPUT_MAX;
	if (k->n > cap) {
		snprintf(q->msg, sizeof(q->msg),
			 "the input of %zu bytes is over the limit of %s (%zu)", k->n,
			 key_op_name(use), cap);
		return -EMSGSIZE;
	}
	if (k->n == 0)
		return req_bad(q, "the input of %s is empty", key_op_name(use));
	if ((use == KEY_OP_SIGN || use == KEY_OP_VERIFY) && !k->data && k->alg != KEY_ALG_EDDSA &&
	    k->n != key_alg_digest_len(k->alg))
		return req_bad(q,
			       "a %s digest is %zu bytes, not %zu (or send the message with "
			       "\"data\": true)",
			       alg, key_alg_digest_len(k->alg), k->n);
	snprintf(k->event, sizeof(k->event), "%s-%s", k->verb->event, alg);
	for (char *p = k->event; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	return 0;
}

static int op_key(struct request_ctx *q)
{
	struct request_key k = {};
	const char *op = json_object_get_string(req_member(q, "op")), *event;
	const struct key_verb *v = NULL;
	int64_t version = 0;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(op, verbs[i].op.name))
			v = &verbs[i];
	if (!v)
		return -EOPNOTSUPP; /* not reached: request.c finds the op here */
	k.verb = v;
	q->key = &k;
	r = req_value_fits(q, v->op.value_max);
	if (r < 0)
		return r;
	r = req_get_target(q, !streq(op, "key-list") && !streq(op, "key-restore"));
	if (r < 0)
		return r;
	/* a new version's attributes start from the defaults, an update's from what it has */
	q->attrs = streq(op, "key-update") ? (struct kv_attrs)KV_ATTRS_KEEP :
					     (struct kv_attrs){ .enabled = 1, .content_type = "" };
	/* members checked before anything is decided or recorded: a bad request changes nothing */
	if ((r = req_get_int(q, "version", 1, UINT32_MAX, &version)) < 0 ||
	    (r = req_get_attrs(q)) < 0 || (r = req_get_bool(q, "deleted", &q->deleted)) < 0)
		return r;
	q->version = (uint32_t)version;
	if (streq(op, "key-create") || streq(op, "key-import"))
		r = get_spec(q, streq(op, "key-create"));
	else if (streq(op, "key-rotation-set")) {
		/* seconds, at most ten years each; all 0 (or absent) removes the policy */
		const int64_t max = INT64_C(3650) * 86400;

		if ((r = req_get_int(q, "rotate_after", 0, max, &k.rotation.rotate_after)) >= 0 &&
		    (r = req_get_int(q, "notify_before", 0, max, &k.rotation.notify_before)) >= 0)
			r = req_get_int(q, "expires_after", 0, max, &k.rotation.expires_after);
	} else if (streq(op, "key-get-public")) {
		r = get_str(q, "format", &k.format);
		if (r >= 0 && !k.format)
			k.format = "pem";
		if (r >= 0 && !streq(k.format, "pem") && !streq(k.format, "der") &&
		    !streq(k.format, "ssh"))
			r = req_bad(q, "\"format\" must be \"pem\", \"der\" or \"ssh\"");
	} else if (v->use)
		r = get_use(q);
	if (r < 0)
		return r;
	/* restore: decided on the name the blob restores to, and recorded with it */
	if (streq(op, "key-restore"))
		r = req_restore_target(q, "key-restore");
	if (r < 0)
		return r;
	event = v->use ? k.event : v->event;
	return req_decide(q, v->kind, v->policy, event, v->fn);
}
