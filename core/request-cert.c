/* request-cert.c: the certificate requests of request.h (cert-create ... cert-export): check
 * every member (the policy: subject, SANs, key, validity, usages, issuer, renewal) and every
 * input (a PEM or PKCS#12 to import, a chain to merge, a backup) against x509.h's and limits.h's
 * caps, ask the caller's authorizer (and, for a certificate a vault CA issues, `sign` on the
 * CA's path, decided for whoever asks), record, run the kv_cert_* or kv_object_* call with
 * OBJECT_CERT, build the reply. Inputs come as the request's raw value bytes (a PKCS#12's
 * password first, password_len bytes, never JSON text) and views go back the same way. Nothing
 * here logs; a private key passes only inside the secbufs kv_cert_view fills.
 *
 * The ops (request.h's wire format), their members and the policy ops each needs:
 *   cert-create   vault name [policy]                 write /V/N (+ sign /CAV/CA for a vault CA)
 *   cert-import   vault name [format pem|p12] [password_len] [exportable]
 *                 + password || PEM or PKCS#12        write /V/N
 *   cert-list     vault [deleted]                     list /V (then what the caller sees)
 *   cert-show     vault name [version]                meta /V/N (the newest version, the next
 *                                                     one's policy, the renewal state)
 *   cert-versions vault name                          meta /V/N
 *   cert-renew    vault name                          write /V/N (+ sign /CAV/CA for a vault CA)
 *   cert-merge    vault name + chain (PEM or DER)     write /V/N
 *   cert-csr      vault name [version]                meta /V/N; value: the CSR's PEM
 *   cert-update   vault name [version] [attrs]        write /V/N
 *   cert-update-policy vault name [policy]            write /V/N (+ sign /CAV/CA when the
 *                                                     policy names a vault CA)
 *   cert-get-policy vault name                        meta /V/N
 *   cert-delete|recover|purge vault name              delete|recover|purge /V/N
 *   cert-backup   vault name                          write /V/N and manage /V
 *   cert-restore  vault + blob                        write /V/N (N: the blob's) and manage /V
 *   cert-export   vault name [version] [view crt|chain|key|pem|p12]
 *                                                     meta /V/N (crt, chain), read /V/N (key,
 *                                                     pem, p12: EPERM unless exportable);
 *                                                     value: the view; event cert-export-VIEW
 *   cert-failing                                      none (what the caller sees): the
 *                                                     certificates whose renewals fail
 *   policy: subject (RFC 4514; "" none), sans [{"dns"|"ip"|"email"|"uri": value}], key_type,
 *   protection software|tpm, exportable, reuse_key, validity (seconds, at most
 *   VAULTFS_CERT_VALIDITY_MAX), key_usage and ext_key_usage (OpenSSL's names, comma-separated;
 *   "" none), issuer self|external|acme|VAULT/NAME, acme_directory, acme_contact, is_ca,
 *   path_len, renew_before (seconds) or renew_percent (1..99; either 0: no renewal),
 *   notify_before. create starts from defaults (EC P-256, a year, digitalSignature and
 *   serverAuth,clientAuth, self, renewed at 80% but for external and CAs); update-policy from
 *   the policy the next version is made by. The caps: X509_INPUT_MAX (+ X509_PASSWORD_MAX) for
 *   import, X509_INPUT_MAX for merge, VAULTFS_BACKUP_MAX for restore. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "errtext.h"
#include "kvjson.h"
#include "request-cert-int.h"
#include "tpm-key.h"
#include "util.h"

/* --- the sentences of what failed --- */

/* "VAULT/NAME" of p's issuer into vault and name. */
static void issuer_split(const char *s, char vault[VAULTFS_NAME_MAX + 1],
			 char name[VAULTFS_NAME_MAX + 1])
{
	const char *slash = strchr(s, '/');

	snprintf(vault, VAULTFS_NAME_MAX + 1, "%.*s", (int)(slash - s), s);
	snprintf(name, VAULTFS_NAME_MAX + 1, "%s", slash + 1);
}

/* q->msg for an error of making a version by policy p (left alone when errtext says enough). */
static int make_failed(struct request_ctx *q, const struct kv_cert_policy *p, int r)
{
	bool by_ca = p && p->issuer == KV_CERT_VAULT_CA && p->issuer_name;

	switch (-r) {
	case EINVAL:
		snprintf(q->msg, sizeof(q->msg),
			 "the policy's subject or a SAN cannot be in a certificate (subject in "
			 "RFC 4514: \"CN=www.example,O=Example\"; attributes CN O OU C ST L DC "
			 "emailAddress serialNumber)");
		break;
	case EPERM:
		if (by_ca)
			snprintf(q->msg, sizeof(q->msg),
				 "%s cannot issue this: it is not a CA, or its path length leaves "
				 "no room for a CA below it",
				 p->issuer_name);
		break;
	case ENOENT:
		if (by_ca) {
			char v[VAULTFS_NAME_MAX + 1], n[VAULTFS_NAME_MAX + 1];
			struct kv_object_info o;

			issuer_split(p->issuer_name, v, n);
			if (kv_object_lookup(q->env->kv, OBJECT_CERT, v, n, &o) < 0 || o.deleted_at)
				snprintf(q->msg, sizeof(q->msg),
					 "the issuer %s: no such certificate", p->issuer_name);
			else
				snprintf(q->msg, sizeof(q->msg),
					 "the issuer %s has no issued version", p->issuer_name);
		}
		break;
	case EKEYEXPIRED:
	case EKEYREJECTED:
	case EKEYREVOKED:
		if (by_ca)
			snprintf(q->msg, sizeof(q->msg), "the issuer %s cannot sign: %s",
				 p->issuer_name, errtext(ERRTEXT_OBJECT, r));
		break;
	case EOPNOTSUPP:
		if (p && p->protection == KEY_PROTECTION_TPM)
			snprintf(q->msg, sizeof(q->msg), "this TPM cannot make %s keys",
				 key_type_name(p->key_type));
		break;
	case ENODEV:
		snprintf(q->msg, sizeof(q->msg), "no TPM for keys here ([seal] tcti)");
		break;
	}
	return r;
}

/* q->msg for a chain that import or merge refused: its reason from x509 when it says one. */
static int chain_failed(struct request_ctx *q, int r, const uint8_t *spki, size_t spki_len)
{
	struct request_cert *k = q->cert;
	char reason[X509_REASON_MAX] = "";
	bool import = streq(cert_op_name(q), "cert-import");

	if (r == -EBADMSG || r == -EKEYREJECTED || r == -EINVAL) {
		/* again, for the words (only on this failure path) */
		_cleanup_(x509_chain_freep) struct x509_chain *c = NULL;
		_cleanup_secbuf_ struct secbuf *m = NULL;
		enum key_type t;

		if (!import)
			(void)x509_parse_chain(k->in, k->n, spki, spki_len, &c, reason);
		else if (k->p12)
			(void)x509_import_p12(k->in, k->n, (const char *)k->password->data, &t, &m,
					      &c, reason);
		else
			(void)x509_import_pem(k->in, k->n, &t, &m, &c, reason);
	}
	switch (-r) {
	case EBADMSG:
		snprintf(q->msg, sizeof(q->msg),
			 "the certificates do not form a chain, each signed by the next%s%s",
			 reason[0] ? ": " : "", reason);
		break;
	case EKEYREJECTED:
		snprintf(
			q->msg, sizeof(q->msg), "%s%s%s",
			import ?
				"no certificate of the bundle is of its private key" :
				"the leaf is not of the pending version's key (a chain for another "
				"CSR?)",
			reason[0] ? ": " : "", reason);
		break;
	case ENOKEY:
		snprintf(q->msg, sizeof(q->msg), "%s",
			 k->p12 ? "the PKCS#12 does not open with this password" :
				  "the private key is encrypted under a passphrase: decrypt it "
				  "first (openssl pkey)");
		break;
	case EINVAL:
		snprintf(q->msg, sizeof(q->msg), "%s%s%s",
			 import && k->p12 ? "not a PKCS#12 vaultfs can import" :
			 import		  ? "not a PEM of one private key (PKCS#1, SEC1 or PKCS#8) "
					    "and its certificates" :
					    "not certificates in PEM or DER",
			 reason[0] ? ": " : "", reason);
		break;
	case EALREADY:
		snprintf(q->msg, sizeof(q->msg),
			 "no pending version to merge into (cert create --issuer external, or a "
			 "renewal of one, makes it)");
		break;
	case EOPNOTSUPP:
		snprintf(q->msg, sizeof(q->msg),
			 "a key type vaultfs does not hold in a certificate");
		break;
	}
	return r;
}

/* --- lifecycle --- */

static int made(struct request_ctx *q, uint32_t version)
{
	struct kv_cert_info i = {};

	q->version = version;
	req_reply_int(q, "version", version);
	if (kv_cert_get(q->env->kv, q->vault, q->name, version, &i) >= 0) {
		req_reply_bool(q, "pending", i.pending);
		if (!i.pending)
			req_reply_str(q, "serial", i.serial);
		kv_cert_info_done(&i);
	}
	return 0;
}

static int do_create(struct request_ctx *q)
{
	const struct kv_cert_policy *p = &q->cert->pol;
	uint32_t v = 0;
	int r;

	if (p->protection == KEY_PROTECTION_TPM && !q->env->tcti)
		return make_failed(q, p, -ENODEV);
	r = kv_cert_create(q->env->kv, q->env->tcti, q->vault, q->name, p, &v);
	return r < 0 ? make_failed(q, p, r) : made(q, v);
}

/* The policy the next version is made by (ret->policy), and the newest version's number. */
static int next_policy(struct request_ctx *q, struct kv_cert_info *ret)
{
	return kv_cert_get_policy(q->env->kv, q->vault, q->name, ret);
}

/* A version (0: the newest), pending or not, of the certificate, which is not deleted; the
 * object's own info in *ret_obj. */
static int cert_version(struct request_ctx *q, uint32_t version, struct kv_object_info *ret_obj,
			struct kv_cert_info *ret)
{
	int r;

	r = kv_object_lookup(q->env->kv, OBJECT_CERT, q->vault, q->name, ret_obj);
	if (r >= 0 && ret_obj->deleted_at)
		r = -ENOENT;
	if (r < 0)
		return r;
	return kv_cert_get(q->env->kv, q->vault, q->name,
			   version ? version : ret_obj->current_version, ret);
}

/* The newest version, pending or not. */
static int newest(struct request_ctx *q, struct kv_cert_info *ret)
{
	struct kv_object_info o;

	return cert_version(q, 0, &o, ret);
}

static int do_renew(struct request_ctx *q)
{
	struct kv_cert_info i = {};
	uint32_t v = 0;
	int r;

	r = next_policy(q, &i);
	if (r >= 0 && i.policy.protection == KEY_PROTECTION_TPM && !q->env->tcti)
		r = -ENODEV;
	if (r >= 0)
		r = kv_cert_renew(q->env->kv, q->env->tcti, q->vault, q->name, &v);
	if (r < 0)
		r = make_failed(q, &i.policy, r);
	kv_cert_info_done(&i);
	return r < 0 ? r : made(q, v);
}

static int do_import(struct request_ctx *q)
{
	struct request_cert *k = q->cert;
	uint32_t v = 0;
	int r;

	r = kv_cert_import(q->env->kv, q->vault, q->name, k->in, k->n, k->p12,
			   (const char *)k->password->data, k->pol.exportable, &v);
	return r < 0 ? chain_failed(q, r, NULL, 0) : made(q, v);
}

static int do_merge(struct request_ctx *q)
{
	struct request_cert *k = q->cert;
	uint32_t v = 0;
	int r;

	k->in = q->value->data;
	k->n = q->value->len;
	r = kv_cert_merge(q->env->kv, q->vault, q->name, k->in, k->n, &v);
	if (r < 0) {
		struct kv_cert_info i = {};

		if (newest(q, &i) >= 0 && i.pending)
			r = chain_failed(q, r, i.spki, i.spki_len);
		else
			r = chain_failed(q, r, NULL, 0);
		kv_cert_info_done(&i);
		return r;
	}
	return made(q, v);
}

static int do_update(struct request_ctx *q)
{
	return kv_object_update(q->env->kv, OBJECT_CERT, q->vault, q->name, q->version, &q->attrs);
}

/* --- reads --- */

/* What a version says: dates, serial, names, key, how it was made. */
static void version_members(struct json_object *o, const struct kv_cert_info *i)
{
	json_object_object_add(o, "pending", json_object_new_boolean(i->pending));
	json_object_object_add(o, "source", json_object_new_string(cert_issuer_word(i->source)));
	if (!i->pending) {
		json_object_object_add(o, "serial", json_object_new_string(i->serial));
		json_object_object_add(o, "subject",
				       json_object_new_string(i->subject ? i->subject : ""));
		json_object_object_add(o, "issuer",
				       json_object_new_string(i->issuer ? i->issuer : ""));
		json_object_object_add(o, "not_before", kvjson_time(i->not_before));
		json_object_object_add(o, "not_after", kvjson_time(i->not_after));
	}
	json_object_object_add(o, "key_type", json_object_new_string(key_type_name(i->key_type)));
	json_object_object_add(
		o, "protection",
		json_object_new_string(i->protection == KEY_PROTECTION_TPM ? "tpm" : "software"));
	json_object_object_add(o, "exportable", json_object_new_boolean(i->exportable));
}

/* The renewal state: failures in a row, the last attempt and its error, the next try. */
static struct json_object *renewal_json(struct request_ctx *q)
{
	struct kv_cert_renewal rn = {};
	struct json_object *o;

	(void)kv_cert_renewal_get(q->env->kv, q->vault, q->name, &rn);
	o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "failures", json_object_new_int64(rn.failures));
	json_object_object_add(o, "last_attempt", kvjson_time(rn.last_attempt));
	json_object_object_add(o, "next_try", kvjson_time(rn.next_try));
	json_object_object_add(o, "last_errno", json_object_new_int(-rn.last_err));
	json_object_object_add(o, "last_error",
			       rn.last_error[0] ? json_object_new_string(rn.last_error) : NULL);
	return o;
}

/* The newest version (or the one asked for), pending or issued, what it is, the policy of the
 * next version and the renewal state. */
static int do_show(struct request_ctx *q)
{
	struct kv_object_info o;
	struct kv_cert_info i = {};
	struct json_object *attrs, *pol, *rn;
	int r;

	r = cert_version(q, q->version, &o, &i);
	if (r < 0)
		return r;
	q->version = i.version;
	req_reply_str(q, "name", q->name);
	req_reply_int(q, "current_version", o.current_version);
	version_members(q->reply, &i);
	attrs = kvjson_version(&i.info);
	kv_cert_info_done(&i);
	r = next_policy(q, &i);
	if (r < 0) {
		json_object_put(attrs);
		return r;
	}
	pol = cert_policy_json(&i.policy);
	kv_cert_info_done(&i);
	rn = renewal_json(q);
	if (!attrs || !pol || !rn) {
		json_object_put(attrs);
		json_object_put(pol);
		json_object_put(rn);
		return -ENOMEM;
	}
	/* the version's attributes flat beside the certificate's (its record's size and content
	 * type say nothing); "not_before"/"expires" are the leaf's */
	json_object_object_foreach(attrs, key, val)
	{
		if (!streq(key, "size") && !streq(key, "content_type") && !streq(key, "not_before"))
			json_object_object_add(q->reply, key, json_object_get(val));
	}
	json_object_put(attrs);
	json_object_object_add(q->reply, "policy", pol);
	json_object_object_add(q->reply, "renewal", rn);
	return 0;
}

static int do_get_policy(struct request_ctx *q)
{
	struct kv_cert_info i = {};
	struct json_object *pol;
	int r;

	r = next_policy(q, &i);
	if (r < 0)
		return r;
	pol = cert_policy_json(&i.policy);
	kv_cert_info_done(&i);
	if (!pol)
		return -ENOMEM;
	json_object_object_add(q->reply, "policy", pol);
	return 0;
}

static int do_update_policy(struct request_ctx *q)
{
	const struct kv_cert_policy *p = &q->cert->pol;
	int r;

	if (q->cert->missing)
		return -ENOENT;
	r = kv_cert_set_policy(q->env->kv, q->vault, q->name, p);
	return r < 0 ? make_failed(q, p, r) : 0;
}

/* Every certificate the caller may see whose renewals fail, in every vault (for status). */
struct failing {
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1];
};
struct failing_ctx {
	struct request_ctx *q;
	const char *vault;
	struct failing *f;
	size_t n, cap;
};

static int failing_vault(const struct kv_vault_info *v, void *ud)
{
	struct failing_ctx *c = ud;
	struct failing *f;

	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;

		f = realloc(c->f, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		c->f = f, c->cap = cap;
	}
	f = &c->f[c->n++];
	str_copy(f->vault, sizeof(f->vault), c->vault ? c->vault : v->name);
	f->name[0] = '\0';
	return 0;
}

static int failing_cert(const struct kv_object_info *o, void *ud)
{
	struct failing_ctx *c = ud;
	int r;

	r = failing_vault(NULL, c);
	if (r >= 0)
		str_copy(c->f[c->n - 1].name, sizeof(c->f[0].name), o->name);
	return r;
}

static int do_failing(struct request_ctx *q)
{
	struct failing_ctx vaults = { .q = q }, certs = { .q = q };
	struct json_object *arr;
	int r;

	r = req_reply_array(q, "certificates", &arr);
	if (r >= 0)
		r = kv_vault_list(q->env->kv, failing_vault, &vaults);
	/* the listings first, then a kv call for each (none inside a listing) */
	for (size_t i = 0; r >= 0 && i < vaults.n; i++) {
		certs.vault = vaults.f[i].vault;
		r = kv_object_list(q->env->kv, OBJECT_CERT, certs.vault, false, failing_cert,
				   &certs);
	}
	for (size_t i = 0; r >= 0 && i < certs.n; i++) {
		const struct failing *f = &certs.f[i];
		char path[2 * VAULTFS_NAME_MAX + 3];
		struct kv_cert_renewal rn = {};
		struct json_object *o;

		snprintf(path, sizeof(path), "/%s/%s", f->vault, f->name);
		if (kv_cert_renewal_get(q->env->kv, f->vault, f->name, &rn) < 0 ||
		    rn.failures == 0 || !q->env->caller->visible(q->env->caller->ud, path))
			continue;
		o = json_object_new_object();
		if (!o) {
			r = -ENOMEM;
			break;
		}
		json_object_object_add(o, "vault", json_object_new_string(f->vault));
		json_object_object_add(o, "name", json_object_new_string(f->name));
		json_object_object_add(o, "failures", json_object_new_int64(rn.failures));
		json_object_object_add(o, "last_attempt", kvjson_time(rn.last_attempt));
		json_object_object_add(o, "next_try", kvjson_time(rn.next_try));
		json_object_object_add(o, "last_error", json_object_new_string(rn.last_error));
		r = req_array_add(arr, o);
	}
	free(vaults.f);
	free(certs.f);
	return r < 0 ? r : 0;
}

/* Each version's attributes, then (once the listing is over: no kv call inside it) what its
 * certificate says. */
static int do_versions(struct request_ctx *q)
{
	struct json_object *arr;
	int r;

	r = req_reply_array(q, "versions", &arr);
	if (r >= 0)
		r = kv_object_versions(q->env->kv, OBJECT_CERT, q->vault, q->name, req_version_json,
				       arr);
	for (size_t i = 0; r >= 0 && i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i), *m;
		struct kv_cert_info c = {};

		json_object_object_del(o, "size");
		json_object_object_del(o, "content_type");
		if (!json_object_object_get_ex(o, "version", &m))
			continue;
		r = kv_cert_get(q->env->kv, q->vault, q->name, (uint32_t)json_object_get_int64(m),
				&c);
		if (r < 0)
			break;
		json_object_object_del(o, "not_before"); /* the leaf's, below */
		json_object_object_del(o, "expires");
		version_members(o, &c);
		kv_cert_info_done(&c);
	}
	return r < 0 ? r : 0;
}

/* The CSR of a pending version (the newest, or the one asked for), PEM, as value bytes. */
static int do_csr(struct request_ctx *q)
{
	_cleanup_free_ char *pem = NULL;
	struct kv_object_info o;
	struct kv_cert_info i = {};
	int r;

	r = cert_version(q, q->version, &o, &i);
	if (r < 0)
		return r;
	q->version = i.version;
	if (!i.pending) {
		snprintf(q->msg, sizeof(q->msg),
			 "version %" PRIu32 " is issued, not pending: only a pending version has a "
			 "CSR (cert create --issuer external, or cert renew of one)",
			 i.version);
		kv_cert_info_done(&i);
		return -ENOENT;
	}
	r = x509_der_to_pem(i.csr, i.csr_len, true, &pem);
	kv_cert_info_done(&i);
	if (r >= 0)
		r = secbuf_dup(pem, strlen(pem), &q->out);
	if (r < 0)
		return r;
	req_reply_int(q, "version", q->version);
	return 0;
}

static int do_export(struct request_ctx *q)
{
	struct request_cert *k = q->cert;
	struct kv_cert_info i = {};
	int r;

	/* the version served, named in the record and the reply */
	r = kv_cert_get(q->env->kv, q->vault, q->name, q->version, &i);
	if (r >= 0 && i.pending) {
		snprintf(q->msg, sizeof(q->msg),
			 "version %" PRIu32 " is pending (a CSR waiting for cert merge): it has "
			 "no certificate yet",
			 i.version);
		r = -ENOENT;
	}
	if (r >= 0)
		q->version = i.version;
	kv_cert_info_done(&i);
	if (r >= 0)
		r = kv_cert_view(q->env->kv, q->vault, q->name, q->version, k->view, &q->out);
	if (r == -EPERM)
		snprintf(q->msg, sizeof(q->msg),
			 "the certificate's private key is not exportable: it has no key, pem or "
			 "p12 view (only crt and chain)");
	if (r < 0)
		return r;
	req_reply_int(q, "version", q->version);
	return 0;
}

/* --- the verbs --- */

static int op_cert(struct request_ctx *q);

#define POLICY                                                                                     \
	" subject sans key_type protection exportable reuse_key validity key_usage ext_key_usage " \
	"issuer acme_directory acme_contact is_ca path_len renew_before renew_percent "            \
	"notify_before "
#define ATTRS " enabled not_before expires tags "
static const struct cert_verb verbs[] = {
	{ { "cert-create", " vault name" POLICY, 0, op_cert },
	  POLICY_OP_WRITE,
	  VERB_CHANGE,
	  do_create },
	{ { "cert-import", " vault name format password_len exportable ",
	    X509_INPUT_MAX + X509_PASSWORD_MAX, op_cert },
	  POLICY_OP_WRITE,
	  VERB_CHANGE,
	  do_import },
	{ { "cert-list", " vault deleted ", 0, op_cert },
	  POLICY_OP_LIST,
	  VERB_READ,
	  req_object_list },
	{ { "cert-show", " vault name version ", 0, op_cert }, POLICY_OP_META, VERB_READ, do_show },
	{ { "cert-versions", " vault name ", 0, op_cert }, POLICY_OP_META, VERB_READ, do_versions },
	{ { "cert-renew", " vault name ", 0, op_cert }, POLICY_OP_WRITE, VERB_CHANGE, do_renew },
	{ { "cert-merge", " vault name ", X509_INPUT_MAX, op_cert },
	  POLICY_OP_WRITE,
	  VERB_CHANGE,
	  do_merge },
	{ { "cert-csr", " vault name version ", 0, op_cert }, POLICY_OP_META, VERB_READ, do_csr },
	{ { "cert-update-policy", " vault name" POLICY, 0, op_cert },
	  POLICY_OP_WRITE,
	  VERB_CHANGE,
	  do_update_policy },
	{ { "cert-get-policy", " vault name ", 0, op_cert },
	  POLICY_OP_META,
	  VERB_READ,
	  do_get_policy },
	/* the certificates whose renewals fail, of every vault, those the caller sees */
	{ { "cert-failing", " ", 0, op_cert }, 0, VERB_READ, do_failing },
	{ { "cert-update", " vault name version" ATTRS, 0, op_cert },
	  POLICY_OP_WRITE,
	  VERB_CHANGE,
	  do_update },
	{ { "cert-delete", " vault name ", 0, op_cert },
	  POLICY_OP_DELETE,
	  VERB_CHANGE,
	  req_object_delete },
	{ { "cert-recover", " vault name ", 0, op_cert },
	  POLICY_OP_RECOVER,
	  VERB_CHANGE,
	  req_object_recover },
	{ { "cert-purge", " vault name ", 0, op_cert },
	  POLICY_OP_PURGE,
	  VERB_CHANGE,
	  req_object_purge },
	/* the blob holds every version's private key (sealed to this store's master key): the
	 * vault's manager's to take out, with write on the certificate (as a key's) */
	{ { "cert-backup", " vault name ", 0, op_cert },
	  POLICY_OP_WRITE | POLICY_OP_MANAGE,
	  VERB_READ,
	  req_object_backup },
	{ { "cert-restore", " vault ", VAULTFS_BACKUP_MAX, op_cert },
	  POLICY_OP_WRITE | POLICY_OP_MANAGE,
	  VERB_CHANGE,
	  req_object_restore },
	/* policy: meta for crt and chain, read for key, pem and p12 (cert_get_view) */
	{ { "cert-export", " vault name version view ", 0, op_cert }, 0, VERB_READ, do_export },
};

const struct request_op *request_cert_op(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(name, verbs[i].op.name))
			return &verbs[i].op;
	return NULL;
}

/* --- the members, then the decision --- */

/* renew: a vault CA issues it for whoever asks, so sign on the CA as for create. */
static int renew_target(struct request_ctx *q)
{
	struct kv_cert_info i = {};
	int r;

	r = next_policy(q, &i);
	if (r == -ENOENT)
		return 0; /* decided, then kv says so */
	if (r < 0)
		return r;
	if (i.policy.issuer == KV_CERT_VAULT_CA && i.policy.issuer_name) {
		q->also_op = POLICY_OP_SIGN;
		snprintf(q->also_path, sizeof(q->also_path), "/%s", i.policy.issuer_name);
	}
	kv_cert_info_done(&i);
	return 0;
}

static int op_cert(struct request_ctx *q)
{
	struct request_cert k = { .pol = cert_policy_defaults };
	const char *op = json_object_get_string(req_member(q, "op"));
	const struct cert_verb *v = NULL;
	unsigned policy;
	int64_t version = 0;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(op, verbs[i].op.name))
			v = &verbs[i];
	if (!v)
		return -EOPNOTSUPP; /* not reached: request.c finds the op here */
	k.verb = v;
	policy = v->policy;
	q->cert = &k;
	snprintf(k.event, sizeof(k.event), "%s", op);
	r = req_value_fits(q, v->op.value_max);
	if (r < 0)
		return r;
	if (streq(op, "cert-failing")) {
		/* no vault: every one, filtered by what the caller sees, as vault-list */
		int rec;

		r = do_failing(q);
		rec = req_record(q, "cert-failing", r);
		if (rec < 0) {
			snprintf(q->msg, sizeof(q->msg),
				 "cannot write the audit journal (%s); nothing given",
				 strerror(-rec));
			return -EIO;
		}
		return r;
	}
	r = req_get_target(q, !streq(op, "cert-list") && !streq(op, "cert-restore"));
	if (r < 0)
		return r;
	q->attrs = (struct kv_attrs)KV_ATTRS_KEEP;
	/* members checked before anything is decided or recorded: a bad request changes nothing */
	if ((r = req_get_int(q, "version", 1, UINT32_MAX, &version)) < 0 ||
	    (r = req_get_attrs(q)) < 0 || (r = req_get_bool(q, "deleted", &q->deleted)) < 0)
		goto out;
	q->version = (uint32_t)version;
	if (streq(op, "cert-create"))
		r = cert_get_policy(q, &k.pol, true);
	else if (streq(op, "cert-update-policy")) {
		/* the members given change the policy the next version is made by */
		r = next_policy(q, &k.base);
		if (r >= 0) {
			k.pol = k.base.policy;
			r = cert_get_policy(q, &k.pol, false);
		} else if (r == -ENOENT) {
			k.missing = true; /* decided, then said */
			r = 0;
		}
	} else if (streq(op, "cert-import"))
		r = cert_get_import(q);
	else if (streq(op, "cert-export"))
		r = cert_get_view(q, &policy);
	else if (streq(op, "cert-merge") && q->value->len == 0)
		r = req_bad(q, "nothing to merge: the value bytes are the chain (PEM or DER)");
	else if (streq(op, "cert-restore"))
		r = req_restore_target(q, "cert-restore");
	else if (streq(op, "cert-renew"))
		r = renew_target(q);
	if (r < 0)
		goto out;
	r = req_decide(q, v->kind, policy, k.event, v->fn);
out:
	secbuf_free(k.password);
	kv_cert_info_done(&k.base);
	return r;
}
