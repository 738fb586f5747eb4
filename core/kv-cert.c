/* kv-cert.c: certificate objects (OBJECT_CERT): their versions made by a policy (a key made in
 * software or in the TPM, then signed by itself, by a vault CA's key, or left pending with a
 * CSR for an outside CA or the daemon's ACME client), merged, imported, renewed (by the policy
 * set for the next version, kv-cert-state.c, or the newest version's), and served as the views
 * of one version; a certificate's key for the key operations by its name (kv_cert_keyrec).
 * Private keys live in secbufs only and are signed with where they are (the TPM's in the TPM);
 * a view with the private key is made only for an exportable key, after every lifecycle check.
 *
 * The certificate record (a version's material, sealed like a secret's value), little-endian:
 *   "VCR1" | u8 state (1 issued, 2 pending) | u8 source (enum kv_cert_issuer) | u16 0 |
 *   u32 keyrec_len | keyrec (the key record of kv-key.c, "VKR1") |
 *   u32 policy_len | policy | u32 csr_len | csr DER (pending only) |
 *   u8 n | n x (u32 len | certificate DER), leaf first (none when pending)
 * The policy (the one this version was made by; the next version's unless one is given):
 *   "VCP1" | u8 key_type | u8 protection | u8 flags (1 exportable, 2 reuse_key, 4 is_ca) |
 *   u8 issuer | i32 path_len | u32 key_usage | u32 ext_key_usage | i64 validity |
 *   i64 renew_before | u32 renew_percent | i64 notify_before | u16 len | subject |
 *   u16 len | issuer_name | u16 n | n x (u8 kind | u16 len | value)
 * "VCP2" is the same with u16 len | acme_directory | u16 len | acme_contact after the SANs: a
 * policy without ACME fields is written as VCP1, so stores and readers of before ACME read it.
 * The key record's layout is kv-key.c's (checked by kv_key_check_material); it is read here
 * for its type, protection, exportable, SPKI and private part. The policy's checks and bytes
 * are kv-cert-policy.c's; records are put together with bytes.h. */
#include "bytes.h"
#include "key-soft.h"
#include "kv-int.h"
#include "tpm-key.h"

#define CERT_MAGIC "VCR1"
#define STATE_ISSUED 1
#define STATE_PENDING 2

/* --- the key record (kv-key.c's layout) --- */

struct keyview {
	enum key_type type;
	enum key_protection protection;
	bool exportable;
	const uint8_t *spki, *priv;
	size_t spki_len, priv_len;
};

static int keyrec_view(const uint8_t *p, size_t n, struct keyview *ret)
{
	size_t spki_len;

	if (kv_key_check_material(p, n) < 0)
		return -EINVAL;
	spki_len = (size_t)p[10] | (size_t)p[11] << 8;
	if (spki_len == 0)
		return -EINVAL; /* AES: no certificate */
	*ret = (struct keyview){ .type = p[4],
				 .protection = p[5],
				 .exportable = p[6],
				 .spki = p + 12,
				 .spki_len = spki_len,
				 .priv = p + 12 + spki_len + 4,
				 .priv_len = n - 12 - spki_len - 4 };
	return 0;
}

static int keyrec_build(enum key_type t, enum key_protection prot, bool exportable,
			const uint8_t *spki, size_t spki_len, const uint8_t *priv, size_t priv_len,
			struct secbuf **ret)
{
	struct secbuf *b = NULL;
	struct bytes_wr w;
	int r;

	r = secbuf_new(16 + spki_len + priv_len, &b);
	if (r < 0)
		return r;
	w = (struct bytes_wr){ .p = b->data, .cap = b->cap };
	bytes_put(&w, "VKR1", 4);
	bytes_put_int(&w, t, 1);
	bytes_put_int(&w, prot, 1);
	bytes_put_int(&w, exportable, 1);
	bytes_put_int(&w, 0, 1);
	bytes_put_int(&w, key_type_ops(t), 2);
	bytes_put_blob(&w, spki, spki_len, 2);
	bytes_put_blob(&w, priv, priv_len, 4);
	b->len = w.n;
	if (w.over || kv_key_check_material(b->data, b->len) < 0) {
		secbuf_free(b);
		return -EINVAL;
	}
	*ret = b;
	return 0;
}

/* A new key record of the policy's type and protection. */
static int key_make(const char *tcti, const struct kv_cert_policy *p, struct secbuf **ret)
{
	if (p->protection == KEY_PROTECTION_TPM) {
		_cleanup_free_ uint8_t *blob = NULL, *pub = NULL;
		size_t blen, plen;
		int r;

		r = tpm_key_create(tcti, p->key_type, &blob, &blen, &pub, &plen);
		if (r < 0)
			return r;
		return keyrec_build(p->key_type, p->protection, false, pub, plen, blob, blen, ret);
	}
	_cleanup_secbuf_ struct secbuf *priv = NULL;
	uint8_t spki[KEY_PUBLIC_DER_MAX];
	size_t spki_len = sizeof(spki);
	int r;

	r = key_soft_generate(p->key_type, &priv);
	if (r >= 0)
		r = key_soft_public(p->key_type, priv, spki, &spki_len);
	if (r < 0)
		return r;
	return keyrec_build(p->key_type, p->protection, p->exportable, spki, spki_len, priv->data,
			    priv->len, ret);
}

/* The x509_signer of a key record: signs where the key is. */
struct signctx {
	const char *tcti;
	struct keyview k;
};

static int signctx_sign(void *ud, enum key_alg alg, const uint8_t *in, size_t n, uint8_t *sig,
			size_t *siglen)
{
	struct signctx *c = ud;
	_cleanup_secbuf_ struct secbuf *priv = NULL;
	int r;

	if (c->k.protection == KEY_PROTECTION_TPM)
		return tpm_key_sign(c->tcti, c->k.priv, c->k.priv_len, c->k.type, alg, in, n, sig,
				    siglen);
	r = secbuf_dup(c->k.priv, c->k.priv_len, &priv);
	return r < 0 ? r : key_soft_sign(c->k.type, priv, alg, in, n, sig, siglen);
}

static struct x509_signer signer_of(struct signctx *c)
{
	return (struct x509_signer){ .type = c->k.type,
				     .alg = x509_default_alg(c->k.type),
				     .spki = c->k.spki,
				     .spki_len = c->k.spki_len,
				     .sign = signctx_sign,
				     .ud = c };
}

/* --- the certificate record --- */

struct certrec {
	unsigned state;
	enum kv_cert_issuer source;
	const uint8_t *keyrec, *policy, *csr;
	size_t keyrec_len, policy_len, csr_len;
	size_t n;
	struct x509_cert certs[X509_CHAIN_MAX]; /* into the record */
	struct keyview key;
};

static int rec_parse(const uint8_t *p, size_t n, struct certrec *ret)
{
	struct bytes_rd r = { .p = p, .n = n };
	struct certrec c = {};
	const uint8_t *m = bytes_get(&r, 4);

	if (!m || memcmp(m, CERT_MAGIC, 4) != 0)
		return -EINVAL;
	c.state = bytes_get_int(&r, 1);
	c.source = bytes_get_int(&r, 1);
	if (bytes_get_int(&r, 2) != 0)
		return -EINVAL;
	c.keyrec = bytes_get_blob(&r, 4, &c.keyrec_len);
	c.policy = bytes_get_blob(&r, 4, &c.policy_len);
	c.csr = bytes_get_blob(&r, 4, &c.csr_len);
	c.n = bytes_get_int(&r, 1);
	if (r.bad || c.n > X509_CHAIN_MAX || c.source < KV_CERT_SELF || c.source > KV_CERT_ACME)
		return -EINVAL;
	for (size_t i = 0; i < c.n; i++) {
		c.certs[i].der = (uint8_t *)bytes_get_blob(&r, 4, &c.certs[i].len);
		if (r.bad || c.certs[i].len == 0 || c.certs[i].len > X509_DER_MAX)
			return -EINVAL;
	}
	if (r.off != n || !c.keyrec || keyrec_view(c.keyrec, c.keyrec_len, &c.key) < 0 || !c.policy)
		return -EINVAL;
	struct kv_cert_policy pol;
	void *mem = NULL;

	if (kv_cert_policy_decode(c.policy, c.policy_len, &pol, &mem) < 0)
		return -EINVAL;
	free(mem);
	if (c.state == STATE_ISSUED ?
		    (c.n == 0 || c.csr_len) :
		    (c.state != STATE_PENDING || c.n || !c.csr_len || c.csr_len > X509_DER_MAX))
		return -EINVAL;
	*ret = c;
	return 0;
}

int kv_cert_check_material(const void *material, size_t len)
{
	struct certrec c;

	return rec_parse(material, len, &c);
}

static void rec_put(struct bytes_wr *w, unsigned state, enum kv_cert_issuer source,
		    const struct secbuf *keyrec, const struct kv_cert_policy *pol,
		    const uint8_t *csr, size_t csr_len, const struct x509_cert *certs, size_t n)
{
	size_t pol_start, pol_len;

	bytes_put(w, CERT_MAGIC, 4);
	bytes_put_int(w, state, 1);
	bytes_put_int(w, source, 1);
	bytes_put_int(w, 0, 2);
	bytes_put_blob(w, keyrec->data, keyrec->len, 4);
	bytes_put_int(w, 0, 4); /* the policy's length, below */
	pol_start = w->n;
	kv_cert_policy_put(w, pol);
	pol_len = w->n - pol_start;
	if (!w->over && w->p)
		kv_put_le(w->p + pol_start - 4, pol_len, 4);
	bytes_put_blob(w, csr, csr_len, 4);
	bytes_put_int(w, n, 1);
	for (size_t i = 0; i < n; i++)
		bytes_put_blob(w, certs[i].der, certs[i].len, 4);
}

/* The record in a secure buffer of its own size (a dry run counts it first): a chain may take
 * hundreds of KiB up to VAULTFS_VALUE_MAX, a record is mostly a few KiB. */
static int rec_build(unsigned state, enum kv_cert_issuer source, const struct secbuf *keyrec,
		     const struct kv_cert_policy *pol, const uint8_t *csr, size_t csr_len,
		     const struct x509_cert *certs, size_t n, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;
	struct bytes_wr w = { .cap = VAULTFS_VALUE_MAX };
	int r;

	if (n > X509_CHAIN_MAX)
		return -EMSGSIZE;
	rec_put(&w, state, source, keyrec, pol, csr, csr_len, certs, n);
	if (w.over)
		return -EMSGSIZE;
	r = secbuf_new(w.n, &b);
	if (r < 0)
		return r;
	w = (struct bytes_wr){ .p = b->data, .cap = b->cap };
	rec_put(&w, state, source, keyrec, pol, csr, csr_len, certs, n);
	if (w.over)
		return -EMSGSIZE;
	b->len = w.n;
	*ret = TAKE_PTR(b);
	return 0;
}

/* The record of version `version` (0: the newest issued) for use, parsed into c (pointing into
 * *ret_rec). */
static int load_rec(struct kv *kv, const char *vault, const char *name, uint32_t version,
		    enum kv_use use, struct secbuf **ret_rec, struct certrec *c,
		    struct kv_version_info *ret_info)
{
	struct kv_version_info info;
	int r;

	if (version == 0) {
		r = kv_object_info(kv, OBJECT_CERT, vault, name, 0, &info);
		if (r < 0)
			return r;
		for (version = info.version; version >= 1; version--) {
			_cleanup_secbuf_ struct secbuf *rec = NULL;

			r = kv_object_get_for(kv, OBJECT_CERT, vault, name, version, KV_USE_ANY,
					      &rec, &info);
			if (r < 0)
				return r;
			if (rec_parse(rec->data, rec->len, c) < 0)
				return -EBADMSG;
			if (c->state != STATE_ISSUED)
				continue;
			if (use != KV_USE_ANY)
				break; /* read again below, for its lifecycle check */
			if (ret_info)
				*ret_info = info;
			*ret_rec = TAKE_PTR(rec); /* c points into it */
			return 0;
		}
		if (version == 0)
			return -ENOENT; /* nothing issued yet */
	}
	struct secbuf *rec = NULL;

	r = kv_object_get_for(kv, OBJECT_CERT, vault, name, version, use, &rec, ret_info);
	if (r < 0)
		return r;
	if (rec_parse(rec->data, rec->len, c) < 0) {
		secbuf_free(rec);
		return -EBADMSG; /* it passed its MAC and AEAD: not one we made */
	}
	*ret_rec = rec;
	return 0;
}

/* The newest version's record whatever its state (-ENOENT none). */
static int load_newest(struct kv *kv, const char *vault, const char *name, enum kv_use use,
		       struct secbuf **ret_rec, struct certrec *c)
{
	struct kv_version_info info;
	int r;

	r = kv_object_info(kv, OBJECT_CERT, vault, name, 0, &info);
	if (r < 0)
		return r;
	return load_rec(kv, vault, name, info.version, use, ret_rec, c, NULL);
}

/* Write a record as a new version, its dates the leaf's. */
static int store_rec(struct kv *kv, const char *vault, const char *name, const struct secbuf *rec,
		     const struct x509_cert *leaf, uint32_t *ret_version)
{
	struct kv_attrs a = { .enabled = 1, .content_type = "" };

	if (leaf) {
		struct x509_info xi = {};
		int r = x509_info_get(leaf->der, leaf->len, &xi);

		if (r < 0)
			return r;
		a.not_before = xi.not_before;
		a.expires = xi.not_after;
		x509_info_done(&xi);
	}
	return kv_object_set(kv, OBJECT_CERT, vault, name, rec->data, rec->len, &a, ret_version);
}

/* --- one name space with the views (kv.h) --- */

/* The names a certificate X's views take in its vault: X + each. */
static const char *const view_suffixes[] = { ".crt", ".chain.crt", ".key", ".pem", ".p12" };

/* Is there an object named base + suffix in v (any kind and state, checked)? */
static int name_taken(struct kv *kv, const struct store_vault *v, const char *base, size_t n,
		      const char *suffix, enum object_type kind)
{
	char name[VAULTFS_NAME_MAX + 1];
	struct store_object o;
	size_t sl = strlen(suffix);
	int r;

	if (n + sl > VAULTFS_NAME_MAX || n == 0)
		return 0; /* no such name can exist */
	memcpy(name, base, n);
	memcpy(name + n, suffix, sl + 1);
	if (!kv_name_valid(name))
		return 0;
	r = kv_load_object(kv, v, name, true, &o);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return kind == KV_KIND_ANY || o.type == (int)kind ? -EEXIST : 0;
}

int kv_name_clash(struct kv *kv, const struct store_vault *v, enum object_type kind,
		  const char *name)
{
	size_t n = strlen(name);
	int r;

	/* name is a view of a certificate: X.crt and X.chain.crt of X, ... */
	for (size_t i = 0; i < ELEMENTSOF(view_suffixes); i++) {
		size_t sl = strlen(view_suffixes[i]);

		if (n <= sl || memcmp(name + n - sl, view_suffixes[i], sl) != 0)
			continue;
		r = name_taken(kv, v, name, n - sl, "", OBJECT_CERT);
		if (r < 0)
			return r;
	}
	if (kind != OBJECT_CERT)
		return 0;
	/* a certificate: no object holds one of its views' names ... */
	for (size_t i = 0; i < ELEMENTSOF(view_suffixes); i++) {
		r = name_taken(kv, v, name, n, view_suffixes[i], KV_KIND_ANY);
		if (r < 0)
			return r;
	}
	/* ... and no certificate's view is one of them: X.chain.crt is X.chain's X.chain.crt, and
	 * X's X.chain.crt is X.chain's CRT */
	r = name_taken(kv, v, name, n, ".chain", OBJECT_CERT);
	if (r >= 0 && n > 6 && strcmp(name + n - 6, ".chain") == 0)
		r = name_taken(kv, v, name, n - 6, "", OBJECT_CERT);
	return r < 0 ? r : 0;
}

/* --- making versions --- */

static struct x509_profile profile_of(const struct kv *kv, const struct kv_cert_policy *p)
{
	int64_t now = kv_now(kv);

	return (struct x509_profile){ .subject = p->subject ? p->subject : "",
				      .sans = p->sans,
				      .n_sans = p->n_sans,
				      .key_usage = p->key_usage,
				      .ext_key_usage = p->ext_key_usage,
				      .not_before = now,
				      .not_after = now + p->validity,
				      .is_ca = p->is_ca,
				      .path_len = p->path_len };
}

/* 0 when cert is a CA's (basic constraints CA:TRUE), else -EPERM. */
static int is_ca(const struct x509_cert *cert)
{
	struct x509_info xi = {};
	int r;

	r = x509_info_get(cert->der, cert->len, &xi);
	if (r < 0)
		return r;
	r = xi.is_ca ? 0 : -EPERM;
	x509_info_done(&xi);
	return r;
}

/* Issue by the vault CA "V/N": leaf + the CA's chain into chain (heap DERs). */
static int issue_by_ca(struct kv *kv, const char *tcti, const struct kv_cert_policy *p,
		       const struct keyview *k, struct x509_chain *chain)
{
	_cleanup_secbuf_ struct secbuf *carec = NULL;
	char cav[VAULTFS_NAME_MAX + 1], can[VAULTFS_NAME_MAX + 1];
	const char *slash = strchr(p->issuer_name, '/');
	struct certrec ca;
	struct signctx sc = { .tcti = tcti };
	struct x509_signer s;
	struct x509_issue req = { .spki = k->spki, .spki_len = k->spki_len };
	uint8_t *der = NULL;
	size_t len;
	int r;

	if ((size_t)(slash - p->issuer_name) > VAULTFS_NAME_MAX ||
	    strlen(slash + 1) > VAULTFS_NAME_MAX)
		return -EINVAL;
	memcpy(cav, p->issuer_name, slash - p->issuer_name);
	cav[slash - p->issuer_name] = 0;
	str_copy(can, sizeof(can), slash + 1);
	r = load_rec(kv, cav, can, 0, KV_USE_PRODUCE, &carec, &ca, NULL);
	if (r < 0)
		return r;
	r = is_ca(&ca.certs[0]);
	if (r < 0)
		return r;
	if (ca.n + 1 > X509_CHAIN_MAX)
		return -EMSGSIZE;
	sc.k = ca.key;
	s = signer_of(&sc);
	req.profile = profile_of(kv, p);
	r = x509_issue(&s, ca.certs[0].der, ca.certs[0].len, &req, &der, &len);
	if (r < 0)
		return r;
	chain->certs = calloc(ca.n + 1, sizeof(*chain->certs));
	if (!chain->certs) {
		free(der);
		return -ENOMEM;
	}
	chain->certs[0] = (struct x509_cert){ .der = der, .len = len };
	chain->n = 1;
	for (size_t i = 0; i < ca.n; i++) {
		chain->certs[i + 1].der = malloc(ca.certs[i].len);
		if (!chain->certs[i + 1].der)
			return -ENOMEM;
		memcpy(chain->certs[i + 1].der, ca.certs[i].der, ca.certs[i].len);
		chain->certs[i + 1].len = ca.certs[i].len;
		chain->n++;
	}
	return 0;
}

static void chain_done(struct x509_chain *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->certs[i].der);
	free(c->certs);
	*c = (struct x509_chain){};
}

/* The version of policy pol with key record key (its view k, signer s): issued or pending. */
static int make_version(struct kv *kv, const char *vault, const char *name,
			const struct kv_cert_policy *p, const struct secbuf *key,
			const struct keyview *k, struct x509_signer *s, uint32_t *ret_version)
{
	_cleanup_secbuf_ struct secbuf *rec = NULL;
	_cleanup_free_ uint8_t *der = NULL;
	struct x509_chain chain = {};
	const struct kv_cert_policy pol = *p;
	size_t len = 0;
	int r;

	switch (pol.issuer) {
	case KV_CERT_SELF: {
		struct x509_profile prof = profile_of(kv, &pol);

		r = x509_self_sign(s, &prof, &der, &len);
		if (r < 0)
			return r;
		struct x509_cert leaf = { .der = der, .len = len };

		r = rec_build(STATE_ISSUED, KV_CERT_SELF, key, &pol, NULL, 0, &leaf, 1, &rec);
		return r < 0 ? r : store_rec(kv, vault, name, rec, &leaf, ret_version);
	}
	case KV_CERT_VAULT_CA:
		r = issue_by_ca(kv, ((struct signctx *)s->ud)->tcti, &pol, k, &chain);
		if (r >= 0)
			r = rec_build(STATE_ISSUED, KV_CERT_VAULT_CA, key, &pol, NULL, 0,
				      chain.certs, chain.n, &rec);
		if (r >= 0)
			r = store_rec(kv, vault, name, rec, &chain.certs[0], ret_version);
		chain_done(&chain);
		return r;
	case KV_CERT_EXTERNAL:
	case KV_CERT_ACME: {
		struct x509_profile prof = profile_of(kv, &pol);

		r = x509_csr_make(s, &prof, &der, &len, NULL);
		if (r < 0)
			return r;
		r = rec_build(STATE_PENDING, pol.issuer, key, &pol, der, len, NULL, 0, &rec);
		return r < 0 ? r : store_rec(kv, vault, name, rec, NULL, ret_version);
	}
	default:
		return -EINVAL;
	}
}

int kv_cert_create(struct kv *kv, const char *tcti, const char *vault, const char *name,
		   const struct kv_cert_policy *policy, uint32_t *ret_version)
{
	_cleanup_secbuf_ struct secbuf *old = NULL, *key = NULL;
	_cleanup_free_ void *mem = NULL;
	struct kv_cert_policy pol;
	struct certrec prev;
	struct signctx sc = { .tcti = tcti };
	struct x509_signer s;
	bool have_prev;
	int r;

	if (!kv_name_valid(vault) || !kv_name_valid(name))
		return -EINVAL;
	r = load_newest(kv, vault, name, KV_USE_ANY, &old, &prev);
	if (r < 0 && r != -ENOENT)
		return r;
	have_prev = r >= 0;
	if (policy) {
		pol = *policy;
	} else {
		if (!have_prev)
			return -ENOENT;
		r = kv_cert_state_policy(kv, vault, name, &pol, &mem); /* one set for the next */
		if (r == -ENODATA &&
		    kv_cert_policy_decode(prev.policy, prev.policy_len, &pol, &mem) < 0)
			return -EBADMSG;
		if (r < 0 && r != -ENODATA)
			return r;
	}
	r = kv_cert_policy_check(&pol);
	if (r < 0)
		return r;
	if (pol.reuse_key && have_prev && prev.key.type == pol.key_type &&
	    prev.key.protection == pol.protection)
		r = secbuf_dup(prev.keyrec, prev.keyrec_len, &key);
	else
		r = key_make(tcti, &pol, &key);
	if (r < 0)
		return r;
	r = keyrec_view(key->data, key->len, &sc.k);
	if (r < 0)
		return r;
	s = signer_of(&sc);

	r = make_version(kv, vault, name, &pol, key, &sc.k, &s, ret_version);
	if (r < 0)
		return r;
	(void)kv_cert_state_made(kv, vault, name, policy != NULL); /* the version is whole */
	return 0;
}

int kv_cert_renew(struct kv *kv, const char *tcti, const char *vault, const char *name,
		  uint32_t *ret_version)
{
	return kv_cert_create(kv, tcti, vault, name, NULL, ret_version);
}

int kv_cert_merge(struct kv *kv, const char *vault, const char *name, const uint8_t *in, size_t n,
		  uint32_t *ret_version)
{
	_cleanup_secbuf_ struct secbuf *old = NULL, *key = NULL, *rec = NULL;
	_cleanup_(x509_chain_freep) struct x509_chain *chain = NULL;
	_cleanup_free_ void *mem = NULL;
	struct kv_cert_policy pol;
	struct certrec prev;
	int r;

	if (!in || n == 0)
		return -EINVAL;
	if (n > X509_INPUT_MAX)
		return -EMSGSIZE;
	r = load_newest(kv, vault, name, KV_USE_ANY, &old, &prev);
	if (r < 0)
		return r;
	if (prev.state != STATE_PENDING)
		return -EALREADY;
	r = x509_parse_chain(in, n, prev.key.spki, prev.key.spki_len, &chain, NULL);
	if (r < 0)
		return r;
	r = kv_cert_policy_decode(prev.policy, prev.policy_len, &pol, &mem);
	if (r < 0)
		return -EBADMSG;
	r = secbuf_dup(prev.keyrec, prev.keyrec_len, &key);
	if (r >= 0)
		r = rec_build(STATE_ISSUED, prev.source, key, &pol, NULL, 0, chain->certs, chain->n,
			      &rec);
	if (r >= 0)
		r = store_rec(kv, vault, name, rec, &chain->certs[0], ret_version);
	if (r >= 0)
		(void)kv_cert_state_made(kv, vault, name, false); /* the version is whole */
	return r;
}

int kv_cert_import(struct kv *kv, const char *vault, const char *name, const uint8_t *in, size_t n,
		   bool p12, const char *password, bool exportable, uint32_t *ret_version)
{
	_cleanup_secbuf_ struct secbuf *material = NULL, *key = NULL, *rec = NULL;
	_cleanup_(x509_chain_freep) struct x509_chain *chain = NULL;
	struct x509_info xi = {};
	uint8_t spki[KEY_PUBLIC_DER_MAX];
	size_t spki_len = sizeof(spki);
	enum key_type t;
	int r;

	if (!kv_name_valid(vault) || !kv_name_valid(name) || !in || n == 0)
		return -EINVAL;
	if (n > X509_INPUT_MAX)
		return -EMSGSIZE;
	r = p12 ? x509_import_p12(in, n, password, &t, &material, &chain, NULL) :
		  x509_import_pem(in, n, &t, &material, &chain, NULL);
	if (r < 0)
		return r;
	r = key_soft_public(t, material, spki, &spki_len);
	if (r >= 0)
		r = keyrec_build(t, KEY_PROTECTION_SOFTWARE, exportable, spki, spki_len,
				 material->data, material->len, &key);
	if (r >= 0)
		r = x509_info_get(chain->certs[0].der, chain->certs[0].len, &xi);
	if (r < 0)
		return r;
	struct kv_cert_policy pol = {
		.subject = xi.subject && *xi.subject ? xi.subject : NULL,
		.sans = xi.sans,
		.n_sans = xi.n_sans,
		.key_type = t,
		.protection = KEY_PROTECTION_SOFTWARE,
		.exportable = exportable,
		.validity = xi.not_after > xi.not_before ? xi.not_after - xi.not_before : 1,
		.key_usage = xi.key_usage,
		.ext_key_usage = xi.ext_key_usage,
		.issuer = KV_CERT_EXTERNAL,
		.is_ca = xi.is_ca,
		.path_len = xi.path_len,
	};
	r = kv_cert_policy_check(&pol);
	if (r >= 0)
		r = rec_build(STATE_ISSUED, KV_CERT_IMPORTED, key, &pol, NULL, 0, chain->certs,
			      chain->n, &rec);
	x509_info_done(&xi);
	if (r >= 0)
		r = store_rec(kv, vault, name, rec, &chain->certs[0], ret_version);
	if (r >= 0)
		(void)kv_cert_state_made(kv, vault, name, true); /* its own policy from now on */
	return r;
}

int kv_cert_keyrec(struct kv *kv, const char *vault, const char *name, uint32_t version,
		   enum kv_use use, struct secbuf **ret, struct kv_version_info *ret_info)
{
	_cleanup_secbuf_ struct secbuf *rec = NULL;
	struct certrec c;
	int r;

	r = load_rec(kv, vault, name, version, use, &rec, &c, ret_info);
	if (r < 0)
		return r;
	if (c.state != STATE_ISSUED)
		return -ENOENT;
	return secbuf_dup(c.keyrec, c.keyrec_len, ret);
}

/* --- reading --- */

void kv_cert_info_done(struct kv_cert_info *i)
{
	if (!i)
		return;
	x509_chain_free(i->chain);
	free(i->csr);
	free(i->subject);
	free(i->issuer);
	free(i->mem_);
	*i = (struct kv_cert_info){};
}

/* A heap copy of c's certificates as a chain x509_chain_free frees. */
static int chain_copy(const struct certrec *c, struct x509_chain **ret)
{
	struct x509_chain *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return -ENOMEM;
	ch->certs = calloc(c->n ? c->n : 1, sizeof(*ch->certs));
	if (!ch->certs) {
		free(ch);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n; i++) {
		ch->certs[i].der = malloc(c->certs[i].len);
		if (!ch->certs[i].der) {
			x509_chain_free(ch);
			return -ENOMEM;
		}
		memcpy(ch->certs[i].der, c->certs[i].der, c->certs[i].len);
		ch->certs[i].len = c->certs[i].len;
		ch->n++;
	}
	*ret = ch;
	return 0;
}

/* kv_cert_get, or with brief kv_cert_head: nothing of the policy or the leaf's contents. */
static int cert_get(struct kv *kv, const char *vault, const char *name, uint32_t version,
		    bool brief, struct kv_cert_info *ret)
{
	_cleanup_secbuf_ struct secbuf *rec = NULL;
	struct kv_cert_info i = {};
	struct certrec c;
	int r;

	r = load_rec(kv, vault, name, version, KV_USE_ANY, &rec, &c, &i.info);
	if (r < 0)
		return r;
	i.version = i.info.version;
	i.pending = c.state == STATE_PENDING;
	i.source = c.source;
	i.key_type = c.key.type;
	i.protection = c.key.protection;
	i.exportable = c.key.exportable;
	memcpy(i.spki, c.key.spki, c.key.spki_len);
	i.spki_len = c.key.spki_len;
	if (brief) {
		if (!i.pending)
			r = chain_copy(&c, &i.chain);
		if (r < 0)
			goto fail;
		*ret = i;
		return 0;
	}
	r = kv_cert_policy_decode(c.policy, c.policy_len, &i.policy, &i.mem_);
	if (r < 0) {
		r = -EBADMSG;
		goto fail;
	}
	if (i.pending) {
		i.csr = malloc(c.csr_len);
		if (!i.csr) {
			r = -ENOMEM;
			goto fail;
		}
		memcpy(i.csr, c.csr, c.csr_len);
		i.csr_len = c.csr_len;
	} else {
		struct x509_info xi = {};

		/* brief: kv_cert_info says nothing of self_signed, so no signature verified */
		r = chain_copy(&c, &i.chain);
		if (r >= 0)
			r = x509_info_brief(c.certs[0].der, c.certs[0].len, &xi);
		if (r < 0)
			goto fail;
		memcpy(i.serial, xi.serial, sizeof(i.serial));
		i.subject = TAKE_PTR(xi.subject);
		i.issuer = TAKE_PTR(xi.issuer);
		i.not_before = xi.not_before;
		i.not_after = xi.not_after;
		x509_info_done(&xi);
	}
	*ret = i;
	return 0;
fail:
	kv_cert_info_done(&i);
	return r;
}

int kv_cert_get(struct kv *kv, const char *vault, const char *name, uint32_t version,
		struct kv_cert_info *ret)
{
	return cert_get(kv, vault, name, version, false, ret);
}

int kv_cert_head(struct kv *kv, const char *vault, const char *name, uint32_t version,
		 struct kv_cert_info *ret)
{
	return cert_get(kv, vault, name, version, true, ret);
}

/* A heap string into a new secbuf, NUL-terminated (len without it); the string freed. */
static int str_to_secbuf(char *s, struct secbuf **ret)
{
	size_t n = strlen(s);
	int r;

	r = secbuf_new(n + 1, ret);
	if (r >= 0) {
		memcpy((*ret)->data, s, n + 1);
		(*ret)->len = n;
	}
	free(s);
	return r;
}

/* The record of an issued version `version` to make a view of, with every lifecycle check; its
 * chain in *chain (into *rec); -EPERM for a key view of a key that is not exportable. */
static int view_rec(struct kv *kv, const char *vault, const char *name, uint32_t version,
		    enum kv_cert_view view, struct secbuf **rec, struct certrec *c,
		    struct x509_chain *chain)
{
	int r;

	if (view < KV_CERT_VIEW_CRT || view > KV_CERT_VIEW_P12)
		return -EINVAL;
	r = load_rec(kv, vault, name, version, KV_USE_PRODUCE, rec, c, NULL);
	if (r < 0)
		return r;
	if (c->state != STATE_ISSUED)
		return -ENOENT;
	*chain = (struct x509_chain){ .certs = c->certs, .n = c->n };
	if (view != KV_CERT_VIEW_CRT && view != KV_CERT_VIEW_CHAIN &&
	    (!c->key.exportable || c->key.protection != KEY_PROTECTION_SOFTWARE))
		return -EPERM;
	return 0;
}

static enum x509_view x509_view_of(enum kv_cert_view view)
{
	return view == KV_CERT_VIEW_CRT ? X509_VIEW_CRT : X509_VIEW_CHAIN;
}

int kv_cert_view(struct kv *kv, const char *vault, const char *name, uint32_t version,
		 enum kv_cert_view view, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *rec = NULL, *material = NULL;
	struct x509_chain chain;
	struct certrec c;
	char *s = NULL;
	int r;

	r = view_rec(kv, vault, name, version, view, &rec, &c, &chain);
	if (r < 0)
		return r;
	if (view == KV_CERT_VIEW_CRT || view == KV_CERT_VIEW_CHAIN) {
		r = x509_export_chain(&chain, x509_view_of(view), &s);
		return r < 0 ? r : str_to_secbuf(s, ret);
	}
	r = secbuf_dup(c.key.priv, c.key.priv_len, &material);
	if (r < 0)
		return r;
	if (view == KV_CERT_VIEW_KEY)
		return x509_export_key_pem(material, ret);
	if (view == KV_CERT_VIEW_PEM)
		return x509_export_pem_bundle(material, &chain, ret);
	return x509_export_p12(c.key.type, material, &chain, NULL, name, ret);
}

int kv_cert_view_size(struct kv *kv, const char *vault, const char *name, uint32_t version,
		      enum kv_cert_view view, size_t *ret)
{
	_cleanup_secbuf_ struct secbuf *rec = NULL, *material = NULL;
	struct x509_chain chain;
	struct certrec c;
	int r;

	if (!ret)
		return -EINVAL;
	r = view_rec(kv, vault, name, version, view, &rec, &c, &chain);
	if (r < 0)
		return r;
	switch (view) {
	case KV_CERT_VIEW_CRT:
	case KV_CERT_VIEW_CHAIN:
		return x509_export_chain_size(&chain, x509_view_of(view), ret);
	case KV_CERT_VIEW_KEY:
		if (c.key.priv_len == 0)
			return -EINVAL; /* as x509_export_key_pem */
		if (c.key.priv_len > KEY_MATERIAL_MAX)
			return -EMSGSIZE;
		*ret = x509_export_key_pem_size(c.key.priv_len);
		return 0;
	case KV_CERT_VIEW_PEM:
		return x509_export_pem_bundle_size(c.key.priv_len, &chain, ret);
	default: /* the one view whose size needs it made (x509.h) */
		r = secbuf_dup(c.key.priv, c.key.priv_len, &material);
		if (r < 0)
			return r;
		return x509_export_p12_size(c.key.type, material, &chain, NULL, name, ret);
	}
}
