/* tpm-key.c: keys that live in the TPM (tpm-key.h): created as non-duplicable, noDA, empty-auth
 * children of the primary storage key tpm_seal() uses, then loaded, used and flushed per
 * operation: TPM2_Sign (RSASSA, RSAPSS, ECDSA over a digest the caller made, with a null hash
 * check ticket: the keys are unrestricted) and TPM2_RSA_Decrypt (OAEP, empty label, the result
 * encrypted on the bus and wiped from the library's buffers). The blob is TPM2B_PUBLIC ||
 * TPM2B_PRIVATE marshalled, parsed defensively; public keys are written as SubjectPublicKeyInfo
 * DER by hand (fixed prefixes and two INTEGERs: no OpenSSL here) and signatures in JWS form. It
 * must never persist an object in the TPM, leave a transient handle behind on any path, hold a
 * decrypted plaintext outside a secbuf, or log (TSS2's words go to log_foreign, in tpm.c). */
#include "core/key.h"
#include "core/tpm-int.h"
#include "core/tpm-key.h"

/* What every key carries: it cannot leave this TPM or its parent, its private half was made
 * inside, its (empty) auth value is used with a password or HMAC session, and no
 * dictionary-attack counter guards it (there is no low-entropy secret to guard). */
#define TPM_KEY_ATTRS                                                                              \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |        \
	 TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA)
/* RSA signs and decrypts (scheme NULL: the operation names it); EC only signs. */
#define TPM_KEY_ATTRS_RSA (TPM_KEY_ATTRS | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_DECRYPT)
#define TPM_KEY_ATTRS_EC (TPM_KEY_ATTRS | TPMA_OBJECT_SIGN_ENCRYPT)

/* The largest RSA modulus of a TPM key (3072 bits), in bytes: also the largest signature. */
#define RSA_MODULUS_MAX 384u

/* The types a TPM key may have. size: the modulus or coordinate size in bytes. */
struct tpm_key_kind {
	enum key_type type;
	const char *name;
	TPMI_ALG_PUBLIC alg;
	uint16_t bits;
	TPMI_ECC_CURVE curve;
	size_t size;
};

static const struct tpm_key_kind kinds[] = {
	{ KEY_RSA_2048, "rsa-2048", TPM2_ALG_RSA, 2048, TPM2_ECC_NONE, 256 },
	{ KEY_RSA_3072, "rsa-3072", TPM2_ALG_RSA, 3072, TPM2_ECC_NONE, 384 },
	{ KEY_EC_P256, "ec-p256", TPM2_ALG_ECC, 256, TPM2_ECC_NIST_P256, 32 },
	{ KEY_EC_P384, "ec-p384", TPM2_ALG_ECC, 384, TPM2_ECC_NIST_P384, 48 },
};

static const struct tpm_key_kind *kind_of(enum key_type t)
{
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
		if (kinds[i].type == t)
			return &kinds[i];
	return NULL;
}

bool tpm_key_type_allowed(enum key_type t)
{
	return kind_of(t) != NULL;
}

/* The template of a key of kind k: every field a created key's public area has, but unique. */
static void key_template(const struct tpm_key_kind *k, TPM2B_PUBLIC *ret)
{
	*ret = (TPM2B_PUBLIC){
		.publicArea = {
			.type = k->alg,
			.nameAlg = TPM2_ALG_SHA256,
		},
	};
	if (k->alg == TPM2_ALG_RSA) {
		ret->publicArea.objectAttributes = TPM_KEY_ATTRS_RSA;
		ret->publicArea.parameters.rsaDetail = (TPMS_RSA_PARMS){
			.symmetric.algorithm = TPM2_ALG_NULL,
			.scheme.scheme = TPM2_ALG_NULL,
			.keyBits = k->bits,
			.exponent = 0, /* the default, 65537 */
		};
	} else {
		ret->publicArea.objectAttributes = TPM_KEY_ATTRS_EC;
		ret->publicArea.parameters.eccDetail = (TPMS_ECC_PARMS){
			.symmetric.algorithm = TPM2_ALG_NULL,
			.scheme.scheme = TPM2_ALG_NULL,
			.curveID = k->curve,
			.kdf.scheme = TPM2_ALG_NULL,
		};
	}
}

/* ---- the blob ---- */

struct key_blob {
	const struct tpm_key_kind *kind;
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
};

/* Take a blob apart and check that its public area is exactly one tpm_key_create() makes: the
 * template of its kind, and a unique part of the kind's size. Anything else, trailing bytes
 * included, is -EBADMSG. */
static int key_blob_parse(const uint8_t *blob, size_t len, struct key_blob *ret)
{
	struct key_blob b = {};
	const TPMT_PUBLIC *area = &b.pub.publicArea;
	TPM2B_PUBLIC want;
	size_t off = 0;
	TSS2_RC rc;

	if (!blob || len == 0 || len > KEY_TPM_BLOB_MAX)
		return -EBADMSG;
	rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob, len, &off, &b.pub);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, true, "Tss2_MU_TPM2B_PUBLIC_Unmarshal");
	if (off != sizeof(b.pub.size) + b.pub.size)
		return -EBADMSG;
	rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob, len, &off, &b.priv);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, true, "Tss2_MU_TPM2B_PRIVATE_Unmarshal");
	if (off != len || b.priv.size == 0)
		return -EBADMSG;

	for (size_t i = 0; i < ELEMENTSOF(kinds) && !b.kind; i++) {
		const struct tpm_key_kind *k = &kinds[i];

		if (k->alg != area->type)
			continue;
		if (k->alg == TPM2_ALG_RSA && area->parameters.rsaDetail.keyBits == k->bits)
			b.kind = k;
		if (k->alg == TPM2_ALG_ECC && area->parameters.eccDetail.curveID == k->curve)
			b.kind = k;
	}
	if (!b.kind)
		return -EBADMSG;

	/* Compare the fixed fields through the template, unique aside. */
	key_template(b.kind, &want);
	if (area->nameAlg != want.publicArea.nameAlg ||
	    area->objectAttributes != want.publicArea.objectAttributes ||
	    area->authPolicy.size != 0)
		return -EBADMSG;
	if (b.kind->alg == TPM2_ALG_RSA) {
		const TPMS_RSA_PARMS *p = &area->parameters.rsaDetail;

		if (p->symmetric.algorithm != TPM2_ALG_NULL || p->scheme.scheme != TPM2_ALG_NULL ||
		    p->exponent != 0 || area->unique.rsa.size != b.kind->size ||
		    !(area->unique.rsa.buffer[0] & 0x80))
			return -EBADMSG;
	} else {
		const TPMS_ECC_PARMS *p = &area->parameters.eccDetail;

		if (p->symmetric.algorithm != TPM2_ALG_NULL || p->scheme.scheme != TPM2_ALG_NULL ||
		    p->kdf.scheme != TPM2_ALG_NULL || area->unique.ecc.x.size == 0 ||
		    area->unique.ecc.x.size > b.kind->size || area->unique.ecc.y.size == 0 ||
		    area->unique.ecc.y.size > b.kind->size)
			return -EBADMSG;
	}

	*ret = b;
	return 0;
}

static int key_blob_marshal(const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv, uint8_t **ret_blob,
			    size_t *ret_len)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t off = 0;
	uint8_t *shrunk;
	TSS2_RC rc;

	buf = malloc(KEY_TPM_BLOB_MAX);
	if (!buf)
		return -ENOMEM;
	rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, KEY_TPM_BLOB_MAX, &off);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Tss2_MU_TPM2B_PUBLIC_Marshal");
	rc = Tss2_MU_TPM2B_PRIVATE_Marshal(priv, buf, KEY_TPM_BLOB_MAX, &off);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Tss2_MU_TPM2B_PRIVATE_Marshal");
	shrunk = realloc(buf, off);
	if (shrunk)
		buf = shrunk;
	*ret_blob = TAKE_PTR(buf);
	*ret_len = off;
	return 0;
}

int tpm_key_blob_type(const uint8_t *blob, size_t len, enum key_type *ret)
{
	struct key_blob b;
	int r;

	if (!ret)
		return -EINVAL;
	r = key_blob_parse(blob, len, &b);
	if (r < 0)
		return r;
	*ret = b.kind->type;
	return 0;
}

/* ---- SubjectPublicKeyInfo DER, written back to front ---- */

struct der {
	uint8_t buf[KEY_PUBLIC_DER_MAX];
	size_t pos; /* the first byte written; sizeof(buf) when empty */
	bool overflow;
};

static void der_put(struct der *d, const void *p, size_t n)
{
	if (d->overflow || d->pos < n) {
		d->overflow = true;
		return;
	}
	d->pos -= n;
	memcpy(d->buf + d->pos, p, n);
}

static void der_put_byte(struct der *d, uint8_t b)
{
	der_put(d, &b, 1);
}

/* The tag and length of a value of len bytes, put in front of it. */
static void der_head(struct der *d, uint8_t tag, size_t len)
{
	if (len < 0x80) {
		der_put_byte(d, (uint8_t)len);
	} else if (len <= 0xff) {
		der_put_byte(d, (uint8_t)len);
		der_put_byte(d, 0x81);
	} else {
		der_put_byte(d, (uint8_t)(len & 0xff));
		der_put_byte(d, (uint8_t)(len >> 8));
		der_put_byte(d, 0x82);
	}
	der_put_byte(d, tag);
}

/* An unsigned big-endian number as an INTEGER: leading zeros dropped, one put back when the top
 * bit is set. */
static void der_uint(struct der *d, const uint8_t *p, size_t n)
{
	size_t end = d->pos;

	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	der_put(d, p, n);
	if (p[0] & 0x80)
		der_put_byte(d, 0);
	der_head(d, 0x02, end - d->pos);
}

static int der_take(struct der *d, uint8_t **ret, size_t *ret_len)
{
	size_t n = sizeof(d->buf) - d->pos;
	uint8_t *p;

	if (d->overflow)
		return -EBADMSG;
	p = malloc(n);
	if (!p)
		return -ENOMEM;
	memcpy(p, d->buf + d->pos, n);
	*ret = p;
	*ret_len = n;
	return 0;
}

/* RSA: SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { RSAPublicKey } }. */
static int spki_rsa(const TPM2B_PUBLIC_KEY_RSA *n, uint8_t **ret, size_t *ret_len)
{
	static const uint8_t alg_id[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					  0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00 };
	static const uint8_t e65537[] = { 0x01, 0x00, 0x01 };
	struct der d = { .pos = sizeof(d.buf) };

	der_uint(&d, e65537, sizeof(e65537));
	der_uint(&d, n->buffer, n->size);
	der_head(&d, 0x30, sizeof(d.buf) - d.pos);
	der_put_byte(&d, 0); /* no unused bits */
	der_head(&d, 0x03, sizeof(d.buf) - d.pos);
	der_put(&d, alg_id, sizeof(alg_id));
	der_head(&d, 0x30, sizeof(d.buf) - d.pos);
	return der_take(&d, ret, ret_len);
}

/* A big-endian number left-padded with zeros to size bytes (n <= size). */
static void put_padded(uint8_t *out, size_t size, const uint8_t *p, size_t n)
{
	memset(out, 0, size - n);
	memcpy(out + size - n, p, n);
}

/* EC: SEQUENCE { SEQUENCE { id-ecPublicKey, curve }, BIT STRING { 04 || X || Y } }; the
 * prefixes are those of RFC 5480 for the two curves. */
static int spki_ec(const struct tpm_key_kind *k, const TPMS_ECC_POINT *pt, uint8_t **ret,
		   size_t *ret_len)
{
	static const uint8_t p256[] = { 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
					0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
					0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04 };
	static const uint8_t p384[] = { 0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86,
					0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
					0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00, 0x04 };
	const uint8_t *prefix = k->type == KEY_EC_P256 ? p256 : p384;
	size_t plen = k->type == KEY_EC_P256 ? sizeof(p256) : sizeof(p384);
	size_t n = plen + 2 * k->size;
	uint8_t *out;

	out = malloc(n);
	if (!out)
		return -ENOMEM;
	memcpy(out, prefix, plen);
	put_padded(out + plen, k->size, pt->x.buffer, pt->x.size);
	put_padded(out + plen + k->size, k->size, pt->y.buffer, pt->y.size);
	*ret = out;
	*ret_len = n;
	return 0;
}

static int spki_of(const struct key_blob *b, uint8_t **ret, size_t *ret_len)
{
	const TPMT_PUBLIC *area = &b->pub.publicArea;

	if (b->kind->alg == TPM2_ALG_RSA)
		return spki_rsa(&area->unique.rsa, ret, ret_len);
	return spki_ec(b->kind, &area->unique.ecc, ret, ret_len);
}

int tpm_key_public(const uint8_t *blob, size_t len, uint8_t **ret_spki, size_t *ret_spki_len)
{
	struct key_blob b;
	int r;

	if (!blob || !ret_spki || !ret_spki_len)
		return -EINVAL;
	r = key_blob_parse(blob, len, &b);
	if (r < 0)
		return r;
	return spki_of(&b, ret_spki, ret_spki_len);
}

/* ---- operations ---- */

/* Run once(tcti, ctx) until the TPM is not busy, as tpm_seal() does. */
static int tpm_key_retry(int (*once)(const char *tcti, void *ctx), const char *tcti, void *ctx)
{
	int r;

	for (unsigned i = 0; i < TPM_TRIES; i++) {
		if (i > 0)
			sleep_ms(backoff_ms(i - 1));
		r = once(tcti, ctx);
		if (r != -EAGAIN)
			return busy_done(r, i);
	}
	return -EBUSY;
}

/* Ask the TPM whether it makes keys of kind k. A parameter it refuses (key size, curve, scheme:
 * a format-1 TPM answer) means it cannot: -EOPNOTSUPP with its words. */
static int key_test_parms(struct tpm_conn *c, const struct tpm_key_kind *k)
{
	TPM2B_PUBLIC template;
	TPMT_PUBLIC_PARMS parms;
	TSS2_RC rc;

	key_template(k, &template);
	parms = (TPMT_PUBLIC_PARMS){
		.type = template.publicArea.type,
		.parameters = template.publicArea.parameters,
	};
	rc = Esys_TestParms(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &parms);
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (rc & TPM2_RC_FMT1))
		return log_foreign(-EOPNOTSUPP, "tss2",
				   "Esys_TestParms: %s: this TPM cannot make %s keys",
				   Tss2_RC_Decode(rc), k->name);
	return tss_errno(rc, false, "Esys_TestParms");
}

static int supported_once(const char *tcti, void *ctx)
{
	_cleanup_(tpm_conn_close) struct tpm_conn c = TPM_CONN_INIT;
	int r;

	/* TestParms needs no primary, but the connection is opened as for every other call. */
	r = tpm_conn_open(&c, tcti, false);
	if (r < 0)
		return r;
	return key_test_parms(&c, ctx);
}

int tpm_key_supported(const char *tcti, enum key_type t)
{
	const struct tpm_key_kind *k = kind_of(t);

	if (!tcti || !*tcti || t <= KEY_TYPE_INVALID || t >= _KEY_TYPE_MAX)
		return -EINVAL;
	if (!k)
		return -EOPNOTSUPP;
	return tpm_key_retry(supported_once, tcti, (void *)k);
}

struct create_args {
	const struct tpm_key_kind *kind;
	uint8_t *blob;
	size_t blob_len;
};

static int create_once(const char *tcti, void *ctx)
{
	_cleanup_(tpm_conn_close) struct tpm_conn c = TPM_CONN_INIT;
	_cleanup_esys_ TPM2B_PRIVATE *priv = NULL;
	_cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
	struct create_args *a = ctx;
	const TPM2B_SENSITIVE_CREATE sensitive = {};
	const TPM2B_DATA outside = {};
	const TPML_PCR_SELECTION creation_pcrs = {};
	TPM2B_PUBLIC template;
	TSS2_RC rc;
	int r;

	r = tpm_conn_open(&c, tcti, false);
	if (r < 0)
		return r;
	r = key_test_parms(&c, a->kind);
	if (r < 0)
		return r;

	/* The sensitive part is empty (no auth value, the TPM makes the key): nothing secret
	 * crosses the bus or stays in ESAPI's copy of the inputs. */
	key_template(a->kind, &template);
	rc = Esys_Create(c.esys, c.primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			 &sensitive, &template, &outside, &creation_pcrs, &priv, &pub, NULL, NULL,
			 NULL);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Esys_Create");
	return key_blob_marshal(pub, priv, &a->blob, &a->blob_len);
}

int tpm_key_create(const char *tcti, enum key_type t, uint8_t **ret_blob, size_t *ret_blob_len,
		   uint8_t **ret_spki, size_t *ret_spki_len)
{
	struct create_args a = { .kind = kind_of(t) };
	_cleanup_free_ uint8_t *blob = NULL;
	struct key_blob b;
	int r;

	if (!tcti || !*tcti || !ret_blob || !ret_blob_len || !ret_spki || !ret_spki_len ||
	    t <= KEY_TYPE_INVALID || t >= _KEY_TYPE_MAX)
		return -EINVAL;
	if (!a.kind)
		return -EOPNOTSUPP;

	r = tpm_key_retry(create_once, tcti, &a);
	if (r < 0)
		return r;
	blob = a.blob;

	/* What the TPM made must read back as a blob of ours (it always does: checked for the
	 * same form the operations will insist on). */
	r = key_blob_parse(blob, a.blob_len, &b);
	if (r < 0)
		return -EIO;
	if (b.kind != a.kind)
		return -EIO;
	r = spki_of(&b, ret_spki, ret_spki_len);
	if (r < 0)
		return r;
	*ret_blob = TAKE_PTR(blob);
	*ret_blob_len = a.blob_len;
	return 0;
}

/* Parse blob, check it is of type t, and that alg is one the type can use for op (sign or
 * decrypt). */
static int key_prepare(const uint8_t *blob, size_t len, enum key_type t, enum key_op op,
		       enum key_alg alg, struct key_blob *ret)
{
	const struct tpm_key_kind *k = kind_of(t);
	bool rsa, fits;
	int r;

	if (alg <= KEY_ALG_INVALID || alg >= _KEY_ALG_MAX || t <= KEY_TYPE_INVALID ||
	    t >= _KEY_TYPE_MAX)
		return -EINVAL;
	if (!k)
		return -EOPNOTSUPP;
	rsa = k->alg == TPM2_ALG_RSA;
	if (op == KEY_OP_SIGN)
		fits = (rsa && alg >= KEY_ALG_RS256 && alg <= KEY_ALG_PS512) ||
		       (t == KEY_EC_P256 && alg == KEY_ALG_ES256) ||
		       (t == KEY_EC_P384 && alg == KEY_ALG_ES384);
	else
		fits = rsa && (alg == KEY_ALG_RSA_OAEP_256 || alg == KEY_ALG_RSA_OAEP);
	if (!fits)
		return -EOPNOTSUPP;

	r = key_blob_parse(blob, len, ret);
	if (r < 0)
		return r;
	if (ret->kind != k)
		return -EBADMSG;
	return 0;
}

/* Connect, re-create the primary and load the key under it (into c->object). A blob of another
 * TPM, or one changed anywhere, fails here: the private area's integrity is checked against
 * this TPM's primary and the public area. */
static int key_load(struct tpm_conn *c, const char *tcti, const struct key_blob *b)
{
	TSS2_RC rc;
	int r;

	r = tpm_conn_open(c, tcti, false);
	if (r < 0)
		return r;
	rc = Esys_Load(c->esys, c->primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &b->priv,
		       &b->pub, &c->object);
	if (rc != TSS2_RC_SUCCESS) {
		c->object = ESYS_TR_NONE;
		return tss_errno(rc, true, "Esys_Load");
	}
	return 0;
}

struct sign_args {
	const struct key_blob *blob;
	TPMT_SIG_SCHEME scheme;
	TPM2B_DIGEST digest;
	uint8_t sig[RSA_MODULUS_MAX];
	size_t siglen;
};

static int sign_once(const char *tcti, void *ctx)
{
	_cleanup_(tpm_conn_close) struct tpm_conn c = TPM_CONN_INIT;
	_cleanup_esys_ TPMT_SIGNATURE *sig = NULL;
	/* The digest was not made by the TPM's own hash: a null ticket, which an unrestricted
	 * key accepts. */
	const TPMT_TK_HASHCHECK validation = {
		.tag = TPM2_ST_HASHCHECK,
		.hierarchy = TPM2_RH_NULL,
	};
	struct sign_args *a = ctx;
	const struct tpm_key_kind *k = a->blob->kind;
	TSS2_RC rc;
	int r;

	r = key_load(&c, tcti, a->blob);
	if (r < 0)
		return r;
	rc = Esys_Sign(c.esys, c.object, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &a->digest,
		       &a->scheme, &validation, &sig);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Esys_Sign");
	if (sig->sigAlg != a->scheme.scheme)
		return -EIO;

	if (k->alg == TPM2_ALG_RSA) {
		const TPM2B_PUBLIC_KEY_RSA *s = &sig->signature.rsassa.sig;

		if (sig->signature.rsassa.hash != a->scheme.details.any.hashAlg || s->size == 0 ||
		    s->size > k->size)
			return -EIO;
		put_padded(a->sig, k->size, s->buffer, s->size);
		a->siglen = k->size;
	} else {
		const TPMS_SIGNATURE_ECDSA *s = &sig->signature.ecdsa;

		if (s->hash != a->scheme.details.any.hashAlg || s->signatureR.size == 0 ||
		    s->signatureR.size > k->size || s->signatureS.size == 0 ||
		    s->signatureS.size > k->size)
			return -EIO;
		put_padded(a->sig, k->size, s->signatureR.buffer, s->signatureR.size);
		put_padded(a->sig + k->size, k->size, s->signatureS.buffer, s->signatureS.size);
		a->siglen = 2 * k->size;
	}
	return 0;
}

/* The TPM's scheme and hash for a signing algorithm, and the digest length it takes. */
static void sign_scheme(enum key_alg alg, TPMT_SIG_SCHEME *ret, size_t *ret_dlen)
{
	TPMI_ALG_HASH hash;
	TPMI_ALG_SIG_SCHEME scheme;

	switch (alg) {
	case KEY_ALG_RS256:
	case KEY_ALG_PS256:
	case KEY_ALG_ES256:
		hash = TPM2_ALG_SHA256;
		*ret_dlen = 32;
		break;
	case KEY_ALG_RS384:
	case KEY_ALG_PS384:
	case KEY_ALG_ES384:
		hash = TPM2_ALG_SHA384;
		*ret_dlen = 48;
		break;
	default:
		hash = TPM2_ALG_SHA512;
		*ret_dlen = 64;
		break;
	}
	if (alg >= KEY_ALG_RS256 && alg <= KEY_ALG_RS512)
		scheme = TPM2_ALG_RSASSA;
	else if (alg >= KEY_ALG_PS256 && alg <= KEY_ALG_PS512)
		scheme = TPM2_ALG_RSAPSS;
	else
		scheme = TPM2_ALG_ECDSA;
	*ret = (TPMT_SIG_SCHEME){ .scheme = scheme, .details.any.hashAlg = hash };
}

int tpm_key_sign(const char *tcti, const uint8_t *blob, size_t len, enum key_type t,
		 enum key_alg alg, const uint8_t *digest, size_t dlen, uint8_t *sig, size_t *siglen)
{
	struct sign_args a = {};
	struct key_blob b;
	size_t want;
	int r;

	if (!tcti || !*tcti || !blob || !digest || !sig || !siglen)
		return -EINVAL;
	r = key_prepare(blob, len, t, KEY_OP_SIGN, alg, &b);
	if (r < 0)
		return r;
	sign_scheme(alg, &a.scheme, &want);
	if (dlen != want)
		return -EINVAL;
	if (*siglen < (b.kind->alg == TPM2_ALG_RSA ? b.kind->size : 2 * b.kind->size))
		return -ENOBUFS;

	a.blob = &b;
	a.digest.size = (UINT16)dlen;
	memcpy(a.digest.buffer, digest, dlen);
	r = tpm_key_retry(sign_once, tcti, &a);
	if (r < 0)
		return r;
	memcpy(sig, a.sig, a.siglen);
	*siglen = a.siglen;
	return 0;
}

/* The library's copy of a decrypted message: wiped before it is freed. */
static void rsa_message_freep(TPM2B_PUBLIC_KEY_RSA **p)
{
	if (*p) {
		secure_wipe(*p, sizeof(**p));
		Esys_Free(*p);
	}
}

/* A ciphertext that does not decrypt (its padding, a value over the modulus) is -EBADMSG. The
 * reference TPM answers TPM_RC_VALUE about it; libtpms (swtpm) with its OpenSSL backend answers
 * TPM_RC_FAILURE for any failed EVP_PKEY_decrypt, which elsewhere means a TPM in failure mode:
 * but such a TPM would have refused the TPM2_Load just before, so here it is the ciphertext. */
static int decrypt_errno(TSS2_RC rc)
{
	int r = tss_errno(rc, true, "Esys_RSA_Decrypt");

	if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER &&
	    (rc & ~TSS2_RC_LAYER_MASK) == TPM2_RC_FAILURE)
		return log_foreign(
			-EBADMSG, "tss2",
			"Esys_RSA_Decrypt: %s (libtpms: the ciphertext does not decrypt)",
			Tss2_RC_Decode(rc));
	return r;
}

struct decrypt_args {
	const struct key_blob *blob;
	TPMT_RSA_DECRYPT scheme;
	TPM2B_PUBLIC_KEY_RSA cipher;
	struct secbuf *out;
};

static int decrypt_once(const char *tcti, void *ctx)
{
	_cleanup_(tpm_conn_close) struct tpm_conn c = TPM_CONN_INIT;
	_cleanup_(rsa_message_freep) TPM2B_PUBLIC_KEY_RSA *msg = NULL;
	/* Empty: a TPM wants a non-empty label to end in a zero byte, and OpenSSL's default
	 * (and JWA's RSA-OAEP) label is empty. */
	const TPM2B_DATA label = {};
	struct decrypt_args *a = ctx;
	TSS2_RC rc;
	int r;

	r = key_load(&c, tcti, a->blob);
	if (r < 0)
		return r;
	/* TPMA_SESSION_ENCRYPT: the TPM encrypts the first response parameter, the message; the
	 * HMAC session also authorizes the key with its empty auth value. */
	r = tpm_start_salted(&c, TPM2_SE_HMAC, TPMA_SESSION_ENCRYPT, &c.session);
	if (r < 0)
		return r;
	rc = Esys_RSA_Decrypt(c.esys, c.object, c.session, ESYS_TR_NONE, ESYS_TR_NONE, &a->cipher,
			      &a->scheme, &label, &msg);
	wipe_response_buffer(c.esys);
	if (rc != TSS2_RC_SUCCESS)
		return decrypt_errno(rc);
	return secbuf_dup(msg->buffer, msg->size, &a->out);
}

int tpm_key_decrypt(const char *tcti, const uint8_t *blob, size_t len, enum key_type t,
		    enum key_alg alg, const uint8_t *in, size_t n, struct secbuf **ret)
{
	struct decrypt_args a = {};
	struct key_blob b;
	int r;

	if (!tcti || !*tcti || !blob || !in || !ret)
		return -EINVAL;
	r = key_prepare(blob, len, t, KEY_OP_DECRYPT, alg, &b);
	if (r < 0)
		return r;
	if (n != b.kind->size)
		return -EINVAL;

	a.blob = &b;
	a.scheme = (TPMT_RSA_DECRYPT){
		.scheme = TPM2_ALG_OAEP,
		.details.oaep.hashAlg = alg == KEY_ALG_RSA_OAEP ? TPM2_ALG_SHA1 : TPM2_ALG_SHA256,
	};
	a.cipher.size = (UINT16)n;
	memcpy(a.cipher.buffer, in, n);
	r = tpm_key_retry(decrypt_once, tcti, &a);
	if (r < 0)
		return r;
	*ret = a.out;
	return 0;
}
