/* request-cert-members.c: the members of a certificate request checked before anything is
 * decided or recorded (the policy: subject, SANs, key, validity, usages, issuer, renewal; an
 * import's password and input; an export's view), each bad one an -EINVAL with its sentence,
 * and a policy given back as JSON. No decision, no record, no store. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "request-cert-int.h"
#include "util.h"

const char *cert_op_name(const struct request_ctx *q)
{
	return q->cert->verb->op.name;
}

/* --- names of the policy's parts --- */

static const char *const san_words[] = { [X509_SAN_DNS] = "dns",
					 [X509_SAN_IP] = "ip",
					 [X509_SAN_EMAIL] = "email",
					 [X509_SAN_URI] = "uri" };

const char *cert_issuer_word(enum kv_cert_issuer i)
{
	switch (i) {
	case KV_CERT_SELF:
		return "self";
	case KV_CERT_VAULT_CA:
		return "vault-ca";
	case KV_CERT_EXTERNAL:
		return "external";
	case KV_CERT_IMPORTED:
		return "imported";
	case KV_CERT_ACME:
		return "acme";
	}
	return "?";
}

/* The policy as JSON, as get-policy and show give it and create takes it. */
struct json_object *cert_policy_json(const struct kv_cert_policy *p)
{
	struct json_object *o = json_object_new_object(), *sans = json_object_new_array();
	char ku[160] = "", eku[160] = "";

	if (!o || !sans) {
		json_object_put(o);
		json_object_put(sans);
		return NULL;
	}
	(void)x509_ku_format(p->key_usage, ku, sizeof(ku));
	(void)x509_eku_format(p->ext_key_usage, eku, sizeof(eku));
	json_object_object_add(o, "subject", json_object_new_string(p->subject ? p->subject : ""));
	for (size_t i = 0; i < p->n_sans; i++) {
		struct json_object *s = json_object_new_object();
		unsigned k = p->sans[i].kind;

		if (!s)
			break;
		json_object_object_add(
			s, k < ELEMENTSOF(san_words) && san_words[k] ? san_words[k] : "?",
			json_object_new_string(p->sans[i].value));
		json_object_array_add(sans, s);
	}
	json_object_object_add(o, "sans", sans);
	json_object_object_add(o, "key_type", json_object_new_string(key_type_name(p->key_type)));
	json_object_object_add(
		o, "protection",
		json_object_new_string(p->protection == KEY_PROTECTION_TPM ? "tpm" : "software"));
	json_object_object_add(o, "exportable", json_object_new_boolean(p->exportable));
	json_object_object_add(o, "reuse_key", json_object_new_boolean(p->reuse_key));
	json_object_object_add(o, "validity", json_object_new_int64(p->validity));
	json_object_object_add(o, "key_usage", json_object_new_string(ku));
	json_object_object_add(o, "ext_key_usage", json_object_new_string(eku));
	json_object_object_add(
		o, "issuer",
		json_object_new_string(p->issuer == KV_CERT_VAULT_CA && p->issuer_name ?
					       p->issuer_name :
					       cert_issuer_word(p->issuer)));
	if (p->issuer == KV_CERT_ACME) {
		json_object_object_add(
			o, "acme_directory",
			json_object_new_string(p->acme_directory ? p->acme_directory : ""));
		json_object_object_add(o, "acme_contact",
				       p->acme_contact && *p->acme_contact ?
					       json_object_new_string(p->acme_contact) :
					       NULL);
	}
	json_object_object_add(o, "is_ca", json_object_new_boolean(p->is_ca));
	json_object_object_add(o, "path_len", json_object_new_int64(p->path_len));
	json_object_object_add(o, "renew_before", json_object_new_int64(p->renew_before));
	json_object_object_add(o, "renew_percent", json_object_new_int64(p->renew_percent));
	json_object_object_add(o, "notify_before", json_object_new_int64(p->notify_before));
	return o;
}

/* --- the members --- */

/* A string member (NUL-free, at most max bytes), or NULL when absent; -EINVAL another type. */
static int get_str(struct request_ctx *q, const char *key, size_t max, const char **ret)
{
	struct json_object *o = req_member(q, key);

	*ret = NULL;
	if (!o)
		return 0;
	if (!json_object_is_type(o, json_type_string) ||
	    (size_t)json_object_get_string_len(o) != strlen(json_object_get_string(o)) ||
	    (size_t)json_object_get_string_len(o) > max)
		return req_bad(q, "\"%s\" must be a string of at most %zu bytes", key, max);
	*ret = json_object_get_string(o);
	return 1;
}

/* One SAN value checked as x509 will take it, with the reason in words. */
static int san_check(struct request_ctx *q, size_t i, enum x509_san_kind kind, const char *v)
{
	const char *word = san_words[kind];
	uint8_t a[16];

	if (!*v)
		return req_bad(q, "\"sans\"[%zu]: an empty %s name", i, word);
	switch (kind) {
	case X509_SAN_DNS:
		if (strlen(v) > 253 ||
		    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			      "0123456789-.*_") != strlen(v))
			return req_bad(
				q,
				"\"sans\"[%zu]: \"%.64s\" is not a DNS name (letters, digits, "
				"'-', '.', a leading \"*.\"; at most 253 bytes)",
				i, v);
		break;
	case X509_SAN_IP:
		if (inet_pton(AF_INET, v, a) != 1 && inet_pton(AF_INET6, v, a) != 1)
			return req_bad(q, "\"sans\"[%zu]: \"%.64s\" is not an IPv4 or IPv6 address",
				       i, v);
		break;
	case X509_SAN_EMAIL:
		if (!strchr(v, '@') ||
		    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			      "0123456789!#$%&'*+-/=?^_`{|}~.@") != strlen(v))
			return req_bad(q, "\"sans\"[%zu]: \"%.64s\" is not an email address", i, v);
		break;
	case X509_SAN_URI:
		if (!strchr(v, ':') ||
		    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			      "0123456789-._~:/?#[]@!$&'()*+,;=%") != strlen(v))
			return req_bad(q, "\"sans\"[%zu]: \"%.64s\" is not a URI (scheme:...)", i,
				       v);
		break;
	}
	return 0;
}

/* "sans": [{"dns": "a.example"}, {"ip": "192.0.2.1"}, ...] into k->sans. */
static int get_sans(struct request_ctx *q, struct kv_cert_policy *p)
{
	struct request_cert *k = q->cert;
	struct json_object *o = req_member(q, "sans");
	size_t n;
	int r;

	if (!o)
		return 0;
	if (!json_object_is_type(o, json_type_array) ||
	    (n = json_object_array_length(o)) > X509_SANS_MAX)
		return req_bad(q,
			       "\"sans\" must be an array of at most %u objects such as "
			       "{\"dns\": \"www.example\"}",
			       X509_SANS_MAX);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(o, i);
		enum x509_san_kind kind = 0;
		const char *v = NULL;

		if (!json_object_is_type(e, json_type_object) || json_object_object_length(e) != 1)
			return req_bad(
				q,
				"\"sans\"[%zu] must be one of {\"dns\": ...}, {\"ip\": ...}, "
				"{\"email\": ...}, {\"uri\": ...}",
				i);
		json_object_object_foreach(e, key, val)
		{
			for (unsigned j = X509_SAN_DNS; j <= X509_SAN_URI; j++)
				if (streq(key, san_words[j]))
					kind = j;
			if (!kind)
				return req_bad(q,
					       "\"sans\"[%zu]: unknown kind \"%.32s\" (dns, ip, "
					       "email, uri)",
					       i, key);
			if (!json_object_is_type(val, json_type_string) ||
			    (size_t)json_object_get_string_len(val) !=
				    strlen(json_object_get_string(val)) ||
			    json_object_get_string_len(val) > (int)X509_SAN_LEN_MAX)
				return req_bad(q,
					       "\"sans\"[%zu] must be a string of at most %u bytes",
					       i, X509_SAN_LEN_MAX);
			v = json_object_get_string(val);
		}
		r = san_check(q, i, kind, v);
		if (r < 0)
			return r;
		k->sans[i] = (struct x509_san){ .kind = kind, .value = (char *)v };
	}
	p->sans = k->sans;
	p->n_sans = n;
	return 1;
}

/* "issuer": self, external, or VAULT/NAME (a vault CA). */
static int get_issuer(struct request_ctx *q, struct kv_cert_policy *p)
{
	struct request_cert *k = q->cert;
	const char *s = NULL, *slash;
	char v[VAULTFS_NAME_MAX + 1];
	int r;

	r = get_str(q, "issuer", 2 * VAULTFS_NAME_MAX + 1, &s);
	if (r <= 0)
		return r;
	p->issuer_name = NULL;
	if (streq(s, "self")) {
		p->issuer = KV_CERT_SELF;
		return 1;
	}
	if (streq(s, "external")) {
		p->issuer = KV_CERT_EXTERNAL;
		return 1;
	}
	if (streq(s, "acme")) {
		p->issuer = KV_CERT_ACME;
		return 1;
	}
	slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) > VAULTFS_NAME_MAX ||
	    (memcpy(v, s, (size_t)(slash - s)), v[slash - s] = '\0', !kv_name_valid(v)) ||
	    !kv_name_valid(slash + 1))
		return req_bad(q,
			       "\"issuer\" must be \"self\", \"external\", \"acme\" or a vault CA "
			       "\"VAULT/NAME\", not \"%.64s\"",
			       s);
	str_copy(k->issuer_name, sizeof(k->issuer_name), s);
	p->issuer = KV_CERT_VAULT_CA;
	p->issuer_name = k->issuer_name;
	return 1;
}

/* A usage list: "" none, else OpenSSL's names. */
static int get_usage(struct request_ctx *q, const char *key, bool ext, unsigned *ret)
{
	const char *s = NULL;
	int r;

	r = get_str(q, key, 256, &s);
	if (r <= 0)
		return r;
	if (!*s) {
		*ret = 0;
		return 1;
	}
	r = ext ? x509_eku_parse(s, ret) : x509_ku_parse(s, ret);
	if (r == -EOPNOTSUPP)
		return req_bad(q, "\"%s\": an unknown usage in \"%.64s\" (%s)", key, s,
			       ext ? "serverAuth, clientAuth, codeSigning, emailProtection, "
				     "timeStamping, OCSPSigning" :
				     "digitalSignature, nonRepudiation, keyEncipherment, "
				     "dataEncipherment, keyAgreement, keyCertSign, cRLSign");
	if (r < 0)
		return req_bad(q, "\"%s\": a comma-separated list of usages", key);
	return 1;
}

/* "acme_directory" and "acme_contact", an ACME issuer's own (dropped for another issuer). */
static int get_acme(struct request_ctx *q, struct kv_cert_policy *p)
{
	const char *dir = NULL, *contact = NULL;
	int r;

	if ((r = get_str(q, "acme_directory", KV_CERT_ACME_URL_MAX, &dir)) < 0 ||
	    (r = get_str(q, "acme_contact", KV_CERT_ACME_CONTACT_MAX, &contact)) < 0)
		return r;
	if (p->issuer != KV_CERT_ACME) {
		if (dir || contact)
			return req_bad(q, "\"%s\" is for the issuer \"acme\"",
				       dir ? "acme_directory" : "acme_contact");
		p->acme_directory = p->acme_contact = NULL;
		return 0;
	}
	if (dir) {
		if ((strncmp(dir, "https://", 8) && strncmp(dir, "http://", 7)) ||
		    strpbrk(dir, " \t\r\n\"<>\\"))
			return req_bad(q,
				       "\"acme_directory\": an http:// or https:// URL, not "
				       "\"%.64s\"",
				       dir);
		p->acme_directory = dir;
	}
	if (contact) {
		const char *at = strchr(contact, '@');

		if (*contact && (!at || at == contact || !at[1] || strpbrk(contact, " \t:<>,")))
			return req_bad(q, "\"acme_contact\": an email address, not \"%.64s\"",
				       contact);
		p->acme_contact = *contact ? contact : NULL;
	}
	if (!p->acme_directory || !*p->acme_directory)
		return req_bad(q, "the issuer \"acme\" needs \"acme_directory\" (the ACME "
				  "server's directory URL)");
	return 0;
}

/* The policy members of create (from the defaults) and update-policy (from the policy the
 * next version is made by): each given one replaces what p holds, then the whole is checked. */
int cert_get_policy(struct request_ctx *q, struct kv_cert_policy *p, bool create)
{
	const char *subject = NULL, *type = NULL, *prot = NULL;
	bool is_ca = p->is_ca, given_ku = false, given_eku = false;
	int64_t v;
	int r;

	if ((r = get_str(q, "subject", X509_SUBJECT_MAX, &subject)) < 0)
		return r;
	if (subject)
		p->subject = subject; /* "": none, with SANs (x509 takes "", not NULL) */
	if ((r = get_sans(q, p)) < 0)
		return r;
	if ((r = get_str(q, "key_type", 32, &type)) < 0 ||
	    (r = get_str(q, "protection", 32, &prot)) < 0)
		return r;
	if (type) {
		p->key_type = key_type_from_name(type);
		if (p->key_type == KEY_TYPE_INVALID || p->key_type == KEY_AES_256)
			return req_bad(q,
				       "\"key_type\": \"%.32s\" is not a certificate's key type "
				       "(rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384, ec-p521, "
				       "ed25519)",
				       type);
	}
	if (prot && streq(prot, "software"))
		p->protection = KEY_PROTECTION_SOFTWARE;
	else if (prot && streq(prot, "tpm"))
		p->protection = KEY_PROTECTION_TPM;
	else if (prot)
		return req_bad(q, "\"protection\" must be \"software\" or \"tpm\"");
	if ((r = req_get_bool(q, "exportable", &p->exportable)) < 0 ||
	    (r = req_get_bool(q, "reuse_key", &p->reuse_key)) < 0 ||
	    (r = req_get_bool(q, "is_ca", &is_ca)) < 0)
		return r;
	p->is_ca = is_ca;
	v = p->validity;
	r = req_get_int(q, "validity", INT64_MIN / 2, INT64_MAX / 2, &v);
	if (r < 0)
		return r;
	if (v <= 0 || v > VAULTFS_CERT_VALIDITY_MAX)
		return req_bad(q,
			       "\"validity\" must be 1 to %" PRId64 " seconds (%" PRId64 " days)",
			       (int64_t)VAULTFS_CERT_VALIDITY_MAX,
			       (int64_t)VAULTFS_CERT_VALIDITY_MAX / 86400);
	p->validity = v;
	if ((r = get_usage(q, "key_usage", false, &p->key_usage)) < 0)
		return r;
	given_ku = r > 0;
	if ((r = get_usage(q, "ext_key_usage", true, &p->ext_key_usage)) < 0)
		return r;
	given_eku = r > 0;
	if ((r = get_issuer(q, p)) < 0 || (r = get_acme(q, p)) < 0)
		return r;
	v = p->path_len;
	if ((r = req_get_int(q, "path_len", -1, 16, &v)) < 0)
		return r;
	p->path_len = (int)v;
	if (r > 0 && !p->is_ca)
		return req_bad(q, "\"path_len\" is for a CA (\"is_ca\": true)");
	{
		int64_t before = -1, percent = -1, notify = p->notify_before;

		if ((r = req_get_int(q, "renew_before", 0, VAULTFS_CERT_VALIDITY_MAX, &before)) <
			    0 ||
		    (r = req_get_int(q, "renew_percent", 0, 99, &percent)) < 0 ||
		    (r = req_get_int(q, "notify_before", 0, VAULTFS_CERT_VALIDITY_MAX, &notify)) <
			    0)
			return r;
		if (before > 0 && percent > 0)
			return req_bad(q, "\"renew_before\" or \"renew_percent\", not both");
		if (before >= 0) {
			p->renew_before = before;
			if (before > 0 || percent < 0)
				p->renew_percent = 0;
		}
		if (percent >= 0) {
			p->renew_percent = (unsigned)percent;
			if (percent > 0)
				p->renew_before = 0;
		}
		p->notify_before = notify;
	}
	/* a new CA's usages, when none are given: signs certificates and CRLs, no EKU */
	if (create && p->is_ca && !given_ku)
		p->key_usage = X509_KU_KEY_CERT_SIGN | X509_KU_CRL_SIGN | X509_KU_DIGITAL_SIGNATURE;
	if (create && p->is_ca && !given_eku)
		p->ext_key_usage = 0;
	if (create && !p->is_ca && !given_ku && key_type_is_rsa(p->key_type))
		p->key_usage |= X509_KU_KEY_ENCIPHERMENT;
	/* no default renewal for an external one (nothing here can renew it: reported only) nor
	 * a CA (a new CA key under certificates it issued is for its operator to decide) */
	if (create && (p->issuer == KV_CERT_EXTERNAL || p->is_ca) &&
	    !req_member(q, "renew_percent") && !req_member(q, "renew_before"))
		p->renew_percent = 0;
	/* no subject asked for: CN is the first dns or ip SAN (as ACME CAs make it, and for
	 * clients that still read the CN) */
	if (create && !subject) {
		for (size_t i = 0; i < p->n_sans; i++) {
			const struct x509_san *sn = &p->sans[i];

			if ((sn->kind == X509_SAN_DNS || sn->kind == X509_SAN_IP) &&
			    strlen(sn->value) <= 64) {
				snprintf(q->cert->subject, sizeof(q->cert->subject), "CN=%s",
					 sn->value);
				p->subject = q->cert->subject;
				break;
			}
		}
	}
	if ((!p->subject || !*p->subject) && p->n_sans == 0)
		return req_bad(q, "a certificate needs a \"subject\" or at least one of \"sans\"");
	if (p->renew_before >= p->validity)
		return req_bad(q, "\"renew_before\" must be shorter than \"validity\"");
	if (p->protection == KEY_PROTECTION_TPM &&
	    (r = req_tpm_key_check(q, p->key_type, p->exportable)) < 0)
		return r;
	if (!p->is_ca && p->key_usage & (X509_KU_KEY_CERT_SIGN | X509_KU_CRL_SIGN))
		return req_bad(q, "\"key_usage\": keyCertSign and cRLSign are a CA's "
				  "(\"is_ca\": true)");
	if (p->issuer == KV_CERT_ACME) {
		if (p->is_ca)
			return req_bad(q, "an ACME CA issues no CA certificate (\"is_ca\")");
		if (p->n_sans == 0)
			return req_bad(q, "the issuer \"acme\" needs at least one of \"sans\" "
					  "(dns or ip: what the CA validates)");
		for (size_t i = 0; i < p->n_sans; i++)
			if (p->sans[i].kind != X509_SAN_DNS && p->sans[i].kind != X509_SAN_IP)
				return req_bad(q,
					       "\"sans\"[%zu]: an ACME CA validates dns and ip "
					       "names only",
					       i);
	}
	if (p->issuer == KV_CERT_VAULT_CA) {
		/* the CA's key signs for whoever asks: sign on its path, decided for them */
		q->also_op = POLICY_OP_SIGN;
		snprintf(q->also_path, sizeof(q->also_path), "/%s", p->issuer_name);
	}
	return 0;
}

/* The defaults of a new certificate: an EC P-256 software key, a year, a TLS server's and
 * client's usages, self-signed, renewed at 80% of its lifetime (as Azure Key Vault). */
const struct kv_cert_policy cert_policy_defaults = {
	.subject = "",
	.key_type = KEY_EC_P256,
	.protection = KEY_PROTECTION_SOFTWARE,
	.validity = 365 * 86400,
	.key_usage = X509_KU_DIGITAL_SIGNATURE,
	.ext_key_usage = X509_EKU_SERVER_AUTH | X509_EKU_CLIENT_AUTH,
	.issuer = KV_CERT_SELF,
	.path_len = -1,
	.renew_percent = 80,
};

/* The value bytes of import: [password][input]. */
int cert_get_import(struct request_ctx *q)
{
	struct request_cert *k = q->cert;
	const char *format = NULL;
	int64_t plen = 0;
	int r;

	if ((r = get_str(q, "format", 8, &format)) < 0 ||
	    (r = req_get_int(q, "password_len", 0, X509_PASSWORD_MAX, &plen)) < 0 ||
	    (r = req_get_bool(q, "exportable", &k->pol.exportable)) < 0)
		return r;
	if ((size_t)plen > q->value->len)
		return req_bad(q, "\"password_len\" is longer than the value bytes (%zu)",
			       q->value->len);
	k->in = q->value->data + plen;
	k->n = q->value->len - (size_t)plen;
	if (k->n == 0)
		return req_bad(q, "nothing to import: the value bytes are a PEM (key and "
				  "certificates) or a PKCS#12");
	if (k->n > X509_INPUT_MAX) {
		snprintf(q->msg, sizeof(q->msg), "the input of %zu bytes is over the limit (%u)",
			 k->n, X509_INPUT_MAX);
		return -EMSGSIZE;
	}
	if (format && !streq(format, "pem") && !streq(format, "p12"))
		return req_bad(q, "\"format\" must be \"pem\" or \"p12\"");
	/* without one: a PKCS#12 is DER (a SEQUENCE), a PEM is text */
	k->p12 = format ? streq(format, "p12") : k->in[0] == 0x30;
	if (plen && !k->p12)
		return req_bad(q, "\"password_len\": only a PKCS#12 takes a password (decrypt an "
				  "encrypted PEM key first: openssl pkey)");
	r = secbuf_new((size_t)plen + 1, &k->password);
	if (r < 0)
		return r;
	memcpy(k->password->data, q->value->data, (size_t)plen);
	k->password->data[plen] = '\0';
	k->password->len = (size_t)plen;
	if (memchr(k->password->data, '\0', (size_t)plen))
		return req_bad(q, "the password holds a NUL byte");
	return 0;
}

/* "view": crt, chain, key, pem or p12; the key views are decided as read. */
int cert_get_view(struct request_ctx *q, unsigned *ret_policy)
{
	static const char *const names[] = { [KV_CERT_VIEW_CRT] = "crt",
					     [KV_CERT_VIEW_CHAIN] = "chain",
					     [KV_CERT_VIEW_KEY] = "key",
					     [KV_CERT_VIEW_PEM] = "pem",
					     [KV_CERT_VIEW_P12] = "p12" };
	struct request_cert *k = q->cert;
	const char *s = NULL;
	int r;

	r = get_str(q, "view", 8, &s);
	if (r < 0)
		return r;
	k->view = s ? 0 : KV_CERT_VIEW_CRT;
	for (unsigned i = KV_CERT_VIEW_CRT; s && i <= KV_CERT_VIEW_P12; i++)
		if (streq(s, names[i]))
			k->view = i;
	if (!k->view)
		return req_bad(q, "\"view\" must be crt, chain, key, pem or p12");
	*ret_policy = k->view <= KV_CERT_VIEW_CHAIN ? POLICY_OP_META : POLICY_OP_READ;
	snprintf(k->event, sizeof(k->event), "cert-export-%s", names[k->view]);
	return 0;
}
