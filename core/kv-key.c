/* kv-key.c: key objects (OBJECT_KEY): what a key version's material is (the key record below),
 * their making (create in software or in the TPM, import, rotate) and their use (sign, verify,
 * encrypt, decrypt, wrap, unwrap) inside the daemon, the private half never leaving it. Each
 * use takes the version its input names (0: the current one) with the lifecycle check the use
 * needs (kv.h: producing needs every check, consuming only enabled), then the key's key_ops,
 * then the algorithm against the type (key.h). Private bytes live in secbufs only.
 *
 * The key record (a version's material, sealed like a secret's value), little-endian:
 *   "VKR1" | u8 type | u8 protection | u8 exportable | u8 0 | u16 key_ops | u16 spki_len |
 *   spki (SubjectPublicKeyInfo DER; none for AES) | u32 private_len | private (PKCS#8 DER or
 *   the 32 AES bytes for software keys; the TPM's blob for TPM keys)
 * A certificate's versions hold such a record (kv-cert.c): sign, verify and the public half
 * take a certificate's name too (its newest issued version, or the one named); rotate and the
 * encryptions are a key object's only. */
#include "key-soft.h"
#include "kv-int.h"
#include "tpm-key.h"

#define REC_MAGIC "VKR1"
#define REC_HEAD 12u

struct keyrec {
	enum key_type type;
	enum key_protection protection;
	bool exportable;
	unsigned ops;
	const uint8_t *spki; /* into the record's buffer */
	size_t spki_len;
	const uint8_t *priv;
	size_t priv_len;
};

static uint32_t get_le(const uint8_t *p, size_t bytes)
{
	uint32_t v = 0;

	for (size_t i = bytes; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* Parse a record (its form only): -EINVAL when it is not one. */
static int rec_parse(const uint8_t *p, size_t n, struct keyrec *ret)
{
	struct keyrec k = {};
	size_t off;

	if (n < REC_HEAD + 4 || memcmp(p, REC_MAGIC, 4) != 0 || p[7] != 0)
		return -EINVAL;
	k.type = p[4];
	k.protection = p[5];
	k.exportable = p[6];
	k.ops = get_le(p + 8, 2);
	k.spki_len = get_le(p + 10, 2);
	if (k.type <= KEY_TYPE_INVALID || k.type >= _KEY_TYPE_MAX || p[6] > 1 ||
	    (k.protection != KEY_PROTECTION_SOFTWARE && k.protection != KEY_PROTECTION_TPM) ||
	    k.ops == 0 || (k.ops & ~key_type_ops(k.type)) || k.spki_len > KEY_PUBLIC_DER_MAX)
		return -EINVAL;
	off = REC_HEAD;
	if (n - off < k.spki_len + 4)
		return -EINVAL;
	k.spki = p + off;
	off += k.spki_len;
	k.priv_len = get_le(p + off, 4);
	off += 4;
	if (k.priv_len == 0 || k.priv_len != n - off || k.priv_len > KEY_MATERIAL_MAX)
		return -EINVAL;
	k.priv = p + off;
	if ((k.type == KEY_AES_256) != (k.spki_len == 0) ||
	    (k.type == KEY_AES_256 && k.priv_len != 32))
		return -EINVAL;
	*ret = k;
	return 0;
}

int kv_key_check_material(const void *material, size_t len)
{
	struct keyrec k;

	return rec_parse(material, len, &k);
}

/* A new record in a secbuf. */
static int rec_build(const struct keyrec *k, struct secbuf **ret)
{
	size_t n = REC_HEAD + k->spki_len + 4 + k->priv_len;
	struct secbuf *b = NULL;
	int r;

	if (k->spki_len > KEY_PUBLIC_DER_MAX || k->priv_len > KEY_MATERIAL_MAX)
		return -EINVAL;
	r = secbuf_new(n, &b);
	if (r < 0)
		return r;
	memcpy(b->data, REC_MAGIC, 4);
	b->data[4] = (uint8_t)k->type;
	b->data[5] = (uint8_t)k->protection;
	b->data[6] = k->exportable;
	b->data[7] = 0;
	kv_put_le(b->data + 8, k->ops, 2);
	kv_put_le(b->data + 10, k->spki_len, 2);
	if (k->spki_len)
		memcpy(b->data + REC_HEAD, k->spki, k->spki_len);
	kv_put_le(b->data + REC_HEAD + k->spki_len, k->priv_len, 4);
	memcpy(b->data + REC_HEAD + k->spki_len + 4, k->priv, k->priv_len);
	b->len = n;
	*ret = b;
	return 0;
}

/* Make the material of a new key of spec (the record, in a secbuf). */
static int make_key(const char *tcti, const struct kv_key_spec *spec, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *priv = NULL;
	uint8_t spki[KEY_PUBLIC_DER_MAX];
	struct keyrec k = { .type = spec->type,
			    .protection = spec->protection,
			    .exportable = spec->exportable,
			    .ops = spec->ops ? spec->ops : key_type_ops(spec->type) };
	size_t spki_len = sizeof(spki);
	int r;

	if (spec->type <= KEY_TYPE_INVALID || spec->type >= _KEY_TYPE_MAX ||
	    (k.ops & ~key_type_ops(spec->type)))
		return -EINVAL;
	if (spec->protection == KEY_PROTECTION_TPM) {
		_cleanup_free_ uint8_t *blob = NULL, *pub = NULL;
		size_t blen, plen;

		if (spec->exportable)
			return -EINVAL; /* a TPM key's private half never leaves the TPM */
		r = tpm_key_create(tcti, spec->type, &blob, &blen, &pub, &plen);
		if (r < 0)
			return r;
		k.spki = pub, k.spki_len = plen, k.priv = blob, k.priv_len = blen;
		return rec_build(&k, ret);
	}
	if (spec->protection != KEY_PROTECTION_SOFTWARE)
		return -EINVAL;
	r = key_soft_generate(spec->type, &priv);
	if (r < 0)
		return r;
	if (spec->type != KEY_AES_256) {
		r = key_soft_public(spec->type, priv, spki, &spki_len);
		if (r < 0)
			return r;
		k.spki = spki, k.spki_len = spki_len;
	}
	k.priv = priv->data, k.priv_len = priv->len;
	return rec_build(&k, ret);
}

int kv_key_create(struct kv *kv, const char *tcti, const char *vault, const char *name,
		  const struct kv_key_spec *spec, const struct kv_attrs *attrs,
		  uint32_t *ret_version)
{
	_cleanup_secbuf_ struct secbuf *rec = NULL;
	int r;

	if (!kv_name_valid(vault) || !kv_name_valid(name))
		return -EINVAL;
	r = make_key(tcti, spec, &rec);
	if (r < 0)
		return r;
	return kv_object_set(kv, OBJECT_KEY, vault, name, rec->data, rec->len, attrs, ret_version);
}

int kv_key_import(struct kv *kv, const char *vault, const char *name, const uint8_t *in, size_t n,
		  unsigned ops, bool exportable, const struct kv_attrs *attrs,
		  uint32_t *ret_version)
{
	_cleanup_secbuf_ struct secbuf *priv = NULL, *rec = NULL;
	uint8_t spki[KEY_PUBLIC_DER_MAX];
	size_t spki_len = sizeof(spki);
	struct keyrec k = { .protection = KEY_PROTECTION_SOFTWARE, .exportable = exportable };
	int r;

	if (!kv_name_valid(vault) || !kv_name_valid(name))
		return -EINVAL;
	r = key_soft_import(in, n, &k.type, &priv);
	if (r < 0)
		return r;
	k.ops = ops ? ops : key_type_ops(k.type);
	if (k.ops & ~key_type_ops(k.type))
		return -EINVAL;
	if (k.type != KEY_AES_256) {
		r = key_soft_public(k.type, priv, spki, &spki_len);
		if (r < 0)
			return r;
		k.spki = spki, k.spki_len = spki_len;
	}
	k.priv = priv->data, k.priv_len = priv->len;
	r = rec_build(&k, &rec);
	if (r < 0)
		return r;
	return kv_object_set(kv, OBJECT_KEY, vault, name, rec->data, rec->len, attrs, ret_version);
}

/* The record of a version for a use, parsed (k points into *ret_rec). by_cert: a certificate's
 * name names its key too: its version `version` (0: the newest issued), with the same
 * lifecycle check (kv_cert_keyrec). */
static int load_key(struct kv *kv, const char *vault, const char *name, uint32_t version,
		    enum kv_use use, bool by_cert, struct secbuf **ret_rec, struct keyrec *k,
		    struct kv_version_info *ret_info)
{
	struct secbuf *rec = NULL;
	int r;

	r = kv_object_get_for(kv, OBJECT_KEY, vault, name, version, use, &rec, ret_info);
	if (r == -ENOENT && by_cert)
		r = kv_cert_keyrec(kv, vault, name, version, use, &rec, ret_info);
	if (r < 0)
		return r;
	r = rec_parse(rec->data, rec->len, k);
	if (r < 0) {
		secbuf_free(rec);
		return -EBADMSG; /* it passed its MAC and AEAD: not one we made */
	}
	*ret_rec = rec;
	return 0;
}

int kv_key_rotate(struct kv *kv, const char *tcti, const char *vault, const char *name,
		  const struct kv_attrs *attrs, uint32_t *ret_version)
{
	_cleanup_secbuf_ struct secbuf *old = NULL, *rec = NULL;
	struct kv_attrs policy_attrs = { .enabled = 1, .content_type = "" };
	struct kv_key_spec spec;
	struct keyrec k;
	int r;

	r = load_key(kv, vault, name, 0, KV_USE_ANY, false, &old, &k, NULL);
	if (r < 0)
		return r;
	spec = (struct kv_key_spec){
		.type = k.type, .protection = k.protection, .ops = k.ops, .exportable = k.exportable
	};
	r = make_key(tcti, &spec, &rec);
	if (r < 0)
		return r;
	if (!attrs) { /* the rotation policy's expiry of new versions, if any */
		r = kv_key_rotation_expiry(kv, vault, name, &policy_attrs.expires);
		if (r < 0)
			return r;
		attrs = &policy_attrs;
	}
	return kv_object_set(kv, OBJECT_KEY, vault, name, rec->data, rec->len, attrs, ret_version);
}

int kv_key_public(struct kv *kv, const char *vault, const char *name, uint32_t version,
		  struct kv_key_public *ret)
{
	_cleanup_secbuf_ struct secbuf *rec = NULL;
	struct kv_key_public p = {};
	struct keyrec k;
	int r;

	r = load_key(kv, vault, name, version, KV_USE_ANY, true, &rec, &k, &p.info);
	if (r < 0)
		return r;
	p.version = p.info.version;
	p.type = k.type;
	p.protection = k.protection;
	p.ops = k.ops;
	p.exportable = k.exportable;
	memcpy(p.spki, k.spki, k.spki_len);
	p.spki_len = k.spki_len;
	*ret = p;
	return 0;
}

/* May key k do op with alg? -EPERM its key_ops do not allow op; key_alg_check's answer. */
static int allowed(const struct keyrec *k, enum key_op op, enum key_alg alg)
{
	if (!(k->ops & op))
		return -EPERM;
	return key_alg_check(k->type, op, alg);
}

/* kv_key_sign's and kv_key_sign_spki's: spki NULL for any public half. */
static int sign_with(struct kv *kv, const char *tcti, const char *vault, const char *name,
		     uint32_t version, const uint8_t *spki, size_t spki_len, enum key_alg alg,
		     const uint8_t *in, size_t n, uint8_t *sig, size_t *siglen,
		     uint32_t *ret_version)
{
	_cleanup_secbuf_ struct secbuf *rec = NULL, *priv = NULL;
	struct kv_version_info info;
	struct keyrec k;
	int r;

	r = load_key(kv, vault, name, version, KV_USE_PRODUCE, true, &rec, &k, &info);
	if (r >= 0 && spki && (k.spki_len != spki_len || memcmp(k.spki, spki, spki_len) != 0))
		r = -ESTALE;
	if (r >= 0)
		r = allowed(&k, KEY_OP_SIGN, alg);
	if (r < 0)
		return r;
	if (k.protection == KEY_PROTECTION_TPM) {
		r = tpm_key_sign(tcti, k.priv, k.priv_len, k.type, alg, in, n, sig, siglen);
	} else {
		r = secbuf_dup(k.priv, k.priv_len, &priv);
		if (r >= 0)
			r = key_soft_sign_spki(k.type, priv, k.spki, k.spki_len, alg, in, n, sig,
					       siglen);
	}
	if (r >= 0 && ret_version)
		*ret_version = info.version;
	return r;
}

int kv_key_sign(struct kv *kv, const char *tcti, const char *vault, const char *name,
		uint32_t version, enum key_alg alg, const uint8_t *in, size_t n, uint8_t *sig,
		size_t *siglen, uint32_t *ret_version)
{
	return sign_with(kv, tcti, vault, name, version, NULL, 0, alg, in, n, sig, siglen,
			 ret_version);
}

int kv_key_sign_spki(struct kv *kv, const char *tcti, const char *vault, const char *name,
		     const uint8_t *spki, size_t spki_len, enum key_alg alg, const uint8_t *in,
		     size_t n, uint8_t *sig, size_t *siglen, uint32_t *ret_version)
{
	if (!spki || spki_len == 0)
		return -EINVAL;
	return sign_with(kv, tcti, vault, name, 0, spki, spki_len, alg, in, n, sig, siglen,
			 ret_version);
}

int kv_key_verify(struct kv *kv, const char *vault, const char *name, uint32_t version,
		  enum key_alg alg, const uint8_t *in, size_t n, const uint8_t *sig, size_t siglen)
{
	_cleanup_secbuf_ struct secbuf *rec = NULL;
	struct keyrec k;
	int r;

	r = load_key(kv, vault, name, version, KV_USE_CONSUME, true, &rec, &k, NULL);
	if (r >= 0)
		r = allowed(&k, KEY_OP_VERIFY, alg);
	if (r < 0)
		return r;
	return key_verify(k.type, k.spki, k.spki_len, alg, in, n, sig, siglen);
}

int kv_key_encrypt(struct kv *kv, const char *vault, const char *name, enum key_op op,
		   enum key_alg alg, const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t n,
		   uint8_t *out, size_t *outlen, uint32_t *ret_version)
{
	_cleanup_secbuf_ struct secbuf *rec = NULL, *priv = NULL;
	struct kv_version_info info;
	struct keyrec k;
	int r;

	if (op != KEY_OP_ENCRYPT && op != KEY_OP_WRAP)
		return -EINVAL;
	r = load_key(kv, vault, name, 0, KV_USE_PRODUCE, false, &rec, &k, &info);
	if (r >= 0)
		r = allowed(&k, op, alg);
	if (r < 0)
		return r;
	if (key_type_is_rsa(k.type)) {
		if (aadlen)
			return -EINVAL;
		r = key_public_encrypt(k.type, k.spki, k.spki_len, op, alg, in, n, out, outlen);
	} else {
		r = secbuf_dup(k.priv, k.priv_len, &priv);
		if (r >= 0 && op == KEY_OP_ENCRYPT)
			r = key_soft_encrypt(k.type, priv, alg, aad, aadlen, in, n, out, outlen);
		else if (r >= 0)
			r = aadlen ? -EINVAL : key_soft_wrap(k.type, priv, alg, in, n, out, outlen);
	}
	if (r >= 0 && ret_version)
		*ret_version = info.version;
	return r;
}

int kv_key_decrypt(struct kv *kv, const char *tcti, const char *vault, const char *name,
		   uint32_t version, enum key_op op, enum key_alg alg, const uint8_t *aad,
		   size_t aadlen, const uint8_t *in, size_t n, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *rec = NULL, *priv = NULL;
	struct keyrec k;
	int r;

	if (op != KEY_OP_DECRYPT && op != KEY_OP_UNWRAP)
		return -EINVAL;
	r = load_key(kv, vault, name, version, KV_USE_CONSUME, false, &rec, &k, NULL);
	if (r >= 0)
		r = allowed(&k, op, alg);
	if (r < 0)
		return r;
	if (k.protection == KEY_PROTECTION_TPM)
		return aadlen ? -EINVAL :
				tpm_key_decrypt(tcti, k.priv, k.priv_len, k.type, alg, in, n, ret);
	r = secbuf_dup(k.priv, k.priv_len, &priv);
	if (r < 0)
		return r;
	if (op == KEY_OP_DECRYPT)
		return key_soft_decrypt(k.type, priv, alg, aad, aadlen, in, n, ret);
	return aadlen ? -EINVAL : key_soft_unwrap(k.type, priv, alg, in, n, ret);
}
