/* kv-cert-policy.c: a certificate's policy (kv.h struct kv_cert_policy): the checks every
 * policy passes before a version is made by it or it is kept for the next one, and its bytes
 * (the layout kv-cert.c's opening comment gives: "VCP1", or "VCP2" with the ACME fields), as
 * they stand inside a certificate record and in the state row. Parsing checks as hostile every
 * length it meets and copies the strings into one heap block. Nothing here holds a key. */
#include "bytes.h"
#include "kv-int.h"

#define POLICY_MAGIC "VCP1"
#define POLICY_MAGIC_ACME "VCP2"

/* An ACME directory URL or contact: printable ASCII without a space, within max bytes. */
static bool acme_text_ok(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

static bool empty(const char *s)
{
	return !s || !*s;
}

static int acme_check(const struct kv_cert_policy *p)
{
	const char *d = p->acme_directory, *c = p->acme_contact, *at;

	if (p->issuer != KV_CERT_ACME)
		return empty(d) && empty(c) ? 0 : -EINVAL;
	if (empty(d) || !acme_text_ok(d, KV_CERT_ACME_URL_MAX) ||
	    (strncmp(d, "https://", 8) != 0 && strncmp(d, "http://", 7) != 0))
		return -EINVAL;
	if (!empty(c)) {
		at = strchr(c, '@');
		if (!acme_text_ok(c, KV_CERT_ACME_CONTACT_MAX) || !at || at == c || !at[1] ||
		    strchr(at + 1, '@'))
			return -EINVAL;
	}
	if (p->is_ca || p->n_sans == 0)
		return -EINVAL;
	for (size_t i = 0; i < p->n_sans; i++)
		if (p->sans[i].kind != X509_SAN_DNS && p->sans[i].kind != X509_SAN_IP)
			return -EINVAL;
	return 0;
}

int kv_cert_policy_check(const struct kv_cert_policy *p)
{
	size_t subj = p->subject ? strlen(p->subject) : 0;

	if (p->key_type <= KEY_TYPE_INVALID || p->key_type >= _KEY_TYPE_MAX ||
	    p->key_type == KEY_AES_256 || p->validity <= 0 || p->renew_before < 0 ||
	    p->notify_before < 0 || p->renew_percent > 99 || p->renew_before >= p->validity ||
	    subj > X509_SUBJECT_MAX || p->n_sans > X509_SANS_MAX || (subj == 0 && p->n_sans == 0) ||
	    (p->n_sans && !p->sans))
		return -EINVAL;
	if (p->protection == KEY_PROTECTION_TPM ? p->exportable :
						  p->protection != KEY_PROTECTION_SOFTWARE)
		return -EINVAL;
	if (p->issuer == KV_CERT_VAULT_CA) {
		const char *slash = p->issuer_name ? strchr(p->issuer_name, '/') : NULL;

		if (!slash || strlen(p->issuer_name) > 2 * VAULTFS_NAME_MAX + 1)
			return -EINVAL;
	} else if (p->issuer != KV_CERT_SELF && p->issuer != KV_CERT_EXTERNAL &&
		   p->issuer != KV_CERT_ACME) {
		return -EINVAL;
	} else if (p->issuer_name) {
		return -EINVAL;
	}
	for (size_t i = 0; i < p->n_sans; i++)
		if (!p->sans[i].value || strlen(p->sans[i].value) > X509_SAN_LEN_MAX ||
		    p->sans[i].kind < X509_SAN_DNS || p->sans[i].kind > X509_SAN_URI)
			return -EINVAL;
	return acme_check(p);
}

void kv_cert_policy_put(struct bytes_wr *w, const struct kv_cert_policy *p)
{
	const char *subj = p->subject ? p->subject : "";
	const char *iss = p->issuer_name ? p->issuer_name : "";
	bool acme = !empty(p->acme_directory) || !empty(p->acme_contact);

	bytes_put(w, acme ? POLICY_MAGIC_ACME : POLICY_MAGIC, 4);
	bytes_put_int(w, p->key_type, 1);
	bytes_put_int(w, p->protection, 1);
	bytes_put_int(w, (p->exportable ? 1 : 0) | (p->reuse_key ? 2 : 0) | (p->is_ca ? 4 : 0), 1);
	bytes_put_int(w, p->issuer, 1);
	bytes_put_int(w, (uint32_t)p->path_len, 4);
	bytes_put_int(w, p->key_usage, 4);
	bytes_put_int(w, p->ext_key_usage, 4);
	bytes_put_int(w, (uint64_t)p->validity, 8);
	bytes_put_int(w, (uint64_t)p->renew_before, 8);
	bytes_put_int(w, p->renew_percent, 4);
	bytes_put_int(w, (uint64_t)p->notify_before, 8);
	bytes_put_blob(w, subj, strlen(subj), 2);
	bytes_put_blob(w, iss, strlen(iss), 2);
	bytes_put_int(w, p->n_sans, 2);
	for (size_t i = 0; i < p->n_sans; i++) {
		bytes_put_int(w, p->sans[i].kind, 1);
		bytes_put_blob(w, p->sans[i].value, strlen(p->sans[i].value), 2);
	}
	if (acme) {
		const char *d = p->acme_directory ? p->acme_directory : "";
		const char *c = p->acme_contact ? p->acme_contact : "";

		bytes_put_blob(w, d, strlen(d), 2);
		bytes_put_blob(w, c, strlen(c), 2);
	}
}

int kv_cert_policy_encode(const struct kv_cert_policy *p, uint8_t **ret, size_t *ret_len)
{
	struct bytes_wr w = { .cap = STORE_CERT_POLICY_MAX };

	w.p = malloc(w.cap);
	if (!w.p)
		return -ENOMEM;
	kv_cert_policy_put(&w, p);
	if (w.over) {
		free(w.p);
		return -EMSGSIZE;
	}
	*ret = w.p;
	*ret_len = w.n;
	return 0;
}

/* Parse and check a policy: its strings copied to one heap block (*mem) the result points
 * into. */
int kv_cert_policy_decode(const uint8_t *p, size_t n, struct kv_cert_policy *ret, void **mem)
{
	struct bytes_rd r = { .p = p, .n = n };
	struct kv_cert_policy pol = {};
	const uint8_t *subj, *iss, *m, *dir = NULL, *contact = NULL;
	size_t subj_len, iss_len, nsans, total, dir_len = 0, contact_len = 0;
	struct x509_san *sans;
	char *s;
	unsigned flags;
	bool acme;

	m = bytes_get(&r, 4);
	if (!m || (memcmp(m, POLICY_MAGIC, 4) != 0 && memcmp(m, POLICY_MAGIC_ACME, 4) != 0))
		return -EINVAL;
	acme = memcmp(m, POLICY_MAGIC_ACME, 4) == 0;
	pol.key_type = bytes_get_int(&r, 1);
	pol.protection = bytes_get_int(&r, 1);
	flags = bytes_get_int(&r, 1);
	pol.issuer = bytes_get_int(&r, 1);
	pol.path_len = (int32_t)bytes_get_int(&r, 4);
	pol.key_usage = bytes_get_int(&r, 4);
	pol.ext_key_usage = bytes_get_int(&r, 4);
	pol.validity = (int64_t)bytes_get_int(&r, 8);
	pol.renew_before = (int64_t)bytes_get_int(&r, 8);
	pol.renew_percent = bytes_get_int(&r, 4);
	pol.notify_before = (int64_t)bytes_get_int(&r, 8);
	subj = bytes_get_blob(&r, 2, &subj_len);
	iss = bytes_get_blob(&r, 2, &iss_len);
	nsans = bytes_get_int(&r, 2);
	if (r.bad || flags > 7 || nsans > X509_SANS_MAX)
		return -EINVAL;
	pol.exportable = flags & 1, pol.reuse_key = flags & 2, pol.is_ca = flags & 4;
	/* the SANs: first pass measures */
	size_t sans_off = r.off, strbytes = subj_len + 1 + iss_len + 1;

	for (size_t i = 0; i < nsans; i++) {
		size_t l;

		bytes_get_int(&r, 1);
		if (!bytes_get_blob(&r, 2, &l) && l)
			return -EINVAL;
		strbytes += l + 1;
	}
	if (acme) {
		dir = bytes_get_blob(&r, 2, &dir_len);
		contact = bytes_get_blob(&r, 2, &contact_len);
		strbytes += dir_len + 1 + contact_len + 1;
	}
	if (r.bad || r.off != n)
		return -EINVAL;
	total = nsans * sizeof(struct x509_san) + strbytes;
	void *block = calloc(1, total ? total : 1);

	if (!block)
		return -ENOMEM;
	sans = block;
	s = (char *)block + nsans * sizeof(struct x509_san);
	memcpy(s, subj, subj_len), s[subj_len] = 0;
	pol.subject = subj_len ? s : NULL;
	s += subj_len + 1;
	memcpy(s, iss, iss_len), s[iss_len] = 0;
	pol.issuer_name = iss_len ? s : NULL;
	s += iss_len + 1;
	r.off = sans_off;
	for (size_t i = 0; i < nsans; i++) {
		size_t l;
		const uint8_t *v;

		sans[i].kind = bytes_get_int(&r, 1);
		v = bytes_get_blob(&r, 2, &l);
		if (l)
			memcpy(s, v, l);
		s[l] = 0;
		sans[i].value = s;
		s += l + 1;
	}
	pol.sans = nsans ? sans : NULL;
	pol.n_sans = nsans;
	if (acme) {
		if (dir_len)
			memcpy(s, dir, dir_len);
		s[dir_len] = 0;
		pol.acme_directory = dir_len ? s : NULL;
		s += dir_len + 1;
		if (contact_len)
			memcpy(s, contact, contact_len);
		s[contact_len] = 0;
		pol.acme_contact = contact_len ? s : NULL;
	}
	if (kv_cert_policy_check(&pol) < 0) {
		free(block);
		return -EINVAL;
	}
	*ret = pol;
	*mem = block;
	return 0;
}
