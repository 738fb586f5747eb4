/* tpm-seal.c: sealing and unsealing a small secret (the master key) under the owner hierarchy's
 * primary storage key (ECC P-256, AES-128-CFB, from a fixed template: the same key every time,
 * nothing persisted in the TPM). The primary and the objects sealed under it carry noDA (see
 * SEALED_ATTRS); blobs made before that ("VFTPM1") still load and unseal, under the primary they
 * were made with. Sealing creates a keyedhash sealed-data object, bound to sha256 PCRs through a
 * PolicyPCR digest when asked, over a salted HMAC session with command parameter encryption;
 * unsealing loads it back and unseals over a salted HMAC or policy session with response
 * encryption. The blob is "VFTPM2" (or "VFTPM1"), the PCR mask (u32 LE), the marshalled
 * TPM2B_PUBLIC and TPM2B_PRIVATE, parsed defensively.
 * Esys_Create keeps a copy of its inSensitive (the secret being sealed) in the ESYS_CONTEXT,
 * which Esys_Finalize frees unwiped (the SYS command buffer holds only its encrypted form,
 * parameter encryption being done in place). tpm_seal() overwrites the copy with a second
 * TPM2_Create of an empty secret; checked with tpm2-tss 3.2.1 by scanning every block freed
 * during seal and unseal: none holds the secret with it, one does without. It is impossible only
 * when the transport failed during the first TPM2_Create (ESAPI then refuses every command): the
 * copy is then freed unwiped. Never leaves an unsealed secret outside a secbuf (the library's
 * copy is wiped before it is freed). */
#include "core/tpm-int.h"

static void pcr_selection_from_mask(uint32_t mask, TPML_PCR_SELECTION *sel)
{
	*sel = (TPML_PCR_SELECTION){
		.count = 1,
		.pcrSelections[0] = {
			.hash = TPM2_ALG_SHA256,
			.sizeofSelect = 3,
			.pcrSelect = { mask & 0xff, (mask >> 8) & 0xff, (mask >> 16) & 0xff },
		},
	};
}

/* The PolicyPCR digest over the current values of the sha256 PCRs in mask, from a trial
 * session. */
static int tpm_policy_pcr_digest(struct tpm_conn *c, uint32_t mask, TPM2B_DIGEST *ret_digest)
{
	static const TPMT_SYM_DEF no_symmetric = { .algorithm = TPM2_ALG_NULL };
	_cleanup_esys_ TPM2B_DIGEST *digest = NULL;
	TPM2B_DIGEST current = {};
	TPML_PCR_SELECTION sel;
	TSS2_RC rc;

	rc = Esys_StartAuthSession(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, TPM2_SE_TRIAL, &no_symmetric,
				   TPM2_ALG_SHA256, &c->trial);
	if (rc != TSS2_RC_SUCCESS) {
		c->trial = ESYS_TR_NONE;
		return tss_errno(rc, false, "Esys_StartAuthSession");
	}

	/* An empty pcrDigest makes the TPM use the PCRs' current values. */
	pcr_selection_from_mask(mask, &sel);
	rc = Esys_PolicyPCR(c->esys, c->trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current,
			    &sel);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Esys_PolicyPCR");

	rc = Esys_PolicyGetDigest(c->esys, c->trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				  &digest);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Esys_PolicyGetDigest");
	if (digest->size != SHA256_SIZE)
		return -EIO;

	tpm_flush(c->esys, &c->trial);
	*ret_digest = *digest;
	return 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int blob_marshal(uint32_t pcr_mask, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
			uint8_t **ret_blob, size_t *ret_len)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t off = BLOB_HEADER_LEN;
	uint8_t *shrunk;
	TSS2_RC rc;

	buf = malloc(BLOB_MAX);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, BLOB_MAGIC, BLOB_MAGIC_LEN);
	put_le32(buf + BLOB_MAGIC_LEN, pcr_mask);

	rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, BLOB_MAX, &off);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Tss2_MU_TPM2B_PUBLIC_Marshal");
	rc = Tss2_MU_TPM2B_PRIVATE_Marshal(priv, buf, BLOB_MAX, &off);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Tss2_MU_TPM2B_PRIVATE_Marshal");

	shrunk = realloc(buf, off);
	if (shrunk)
		buf = shrunk;
	*ret_blob = TAKE_PTR(buf);
	*ret_len = off;
	return 0;
}

/* Take a blob apart and check that it describes a sealed-data object as tpm_seal() makes them.
 * Anything else, including trailing bytes, is -EBADMSG. */
static int blob_parse(const uint8_t *blob, size_t len, struct tpm_blob *ret)
{
	struct tpm_blob b = {};
	const TPMT_PUBLIC *area = &b.pub.publicArea;
	size_t off = BLOB_HEADER_LEN, start;
	uint32_t mask;
	TSS2_RC rc;

	if (len < BLOB_HEADER_LEN || len > BLOB_MAX)
		return -EBADMSG;
	if (memcmp(blob, BLOB_MAGIC_V1, BLOB_MAGIC_LEN) == 0)
		b.v1 = true;
	else if (memcmp(blob, BLOB_MAGIC, BLOB_MAGIC_LEN) != 0)
		return -EBADMSG;
	mask = get_le32(blob + BLOB_MAGIC_LEN);
	if (mask & ~TPM_PCR_MASK_ALL)
		return -EBADMSG;

	start = off;
	rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob, len, &off, &b.pub);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, true, "Tss2_MU_TPM2B_PUBLIC_Unmarshal");
	if (off - start != sizeof(b.pub.size) + b.pub.size)
		return -EBADMSG;
	rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob, len, &off, &b.priv);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, true, "Tss2_MU_TPM2B_PRIVATE_Unmarshal");
	if (off != len || b.priv.size == 0)
		return -EBADMSG;

	if (area->type != TPM2_ALG_KEYEDHASH || area->nameAlg != TPM2_ALG_SHA256 ||
	    area->parameters.keyedHashDetail.scheme.scheme != TPM2_ALG_NULL ||
	    area->unique.keyedHash.size != SHA256_SIZE)
		return -EBADMSG;
	/* The mask is not covered by the TPM's integrity check: it must at least agree with the
	 * object (a policy exactly when there is a mask), or a flipped bit would pass as "PCR
	 * policy not satisfied". */
	if (mask == 0 &&
	    (area->objectAttributes != (b.v1 ? SEALED_ATTRS_NOPOLICY_V1 : SEALED_ATTRS_NOPOLICY) ||
	     area->authPolicy.size != 0))
		return -EBADMSG;
	if (mask != 0 && (area->objectAttributes != (b.v1 ? SEALED_ATTRS_V1 : SEALED_ATTRS) ||
			  area->authPolicy.size != SHA256_SIZE))
		return -EBADMSG;

	b.pcr_mask = mask;
	*ret = b;
	return 0;
}

int tpm_blob_pcrs(const uint8_t *blob, size_t len, uint32_t *ret_mask)
{
	struct tpm_blob b;
	int r;

	r = blob_parse(blob, len, &b);
	if (r < 0)
		return r;
	*ret_mask = b.pcr_mask;
	return 0;
}

int tpm_blob_da_protected(const uint8_t *blob, size_t len)
{
	struct tpm_blob b;
	int r;

	r = blob_parse(blob, len, &b);
	if (r < 0)
		return r;
	return b.v1;
}

/* Esys_Create copies its inputs, inSensitive (the secret) included, into the ESYS_CONTEXT before
 * it sends anything, and nothing clears that copy: Esys_Finalize frees it as it is. The next
 * Esys_Create on the context copies its own inputs over it, so run one that seals nothing: it
 * authorises with the primary key's empty password, and its object is thrown away (the TPM
 * keeps nothing of a TPM2_Create). Its result does not matter; when ESAPI refuses it because
 * the transport failed, the copy stays (see the top of this file). */
static void wipe_create_input(struct tpm_conn *c, const TPM2B_PUBLIC *template)
{
	static const TPM2B_SENSITIVE_CREATE empty = {};
	static const TPM2B_DATA outside = {};
	static const TPML_PCR_SELECTION creation_pcrs = {};

	(void)Esys_Create(c->esys, c->primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &empty,
			  template, &outside, &creation_pcrs, NULL, NULL, NULL, NULL, NULL);
}

static int seal_once(const char *tcti, uint32_t pcr_mask, const uint8_t *secret, size_t n,
		     uint8_t **ret_blob, size_t *ret_len)
{
	_cleanup_(tpm_conn_close) struct tpm_conn c = TPM_CONN_INIT;
	_cleanup_esys_ TPM2B_PRIVATE *priv = NULL;
	_cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
	TPM2B_SENSITIVE_CREATE sensitive = {};
	TPM2B_DATA outside = {};
	TPML_PCR_SELECTION creation_pcrs = {};
	TPM2B_PUBLIC template = {
		.publicArea = {
			.type = TPM2_ALG_KEYEDHASH,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = pcr_mask ? SEALED_ATTRS : SEALED_ATTRS_NOPOLICY,
			.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
		},
	};
	TSS2_RC rc;
	int r;

	r = tpm_conn_open(&c, tcti, false);
	if (r < 0)
		return r;

	if (pcr_mask) {
		r = tpm_policy_pcr_digest(&c, pcr_mask, &template.publicArea.authPolicy);
		if (r < 0)
			return r;
	}

	/* TPMA_SESSION_DECRYPT: the TPM decrypts the first command parameter, inSensitive. */
	r = tpm_start_salted(&c, TPM2_SE_HMAC, TPMA_SESSION_DECRYPT, &c.session);
	if (r < 0)
		return r;

	sensitive.sensitive.data.size = n;
	memcpy(sensitive.sensitive.data.buffer, secret, n);
	rc = Esys_Create(c.esys, c.primary, c.session, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive,
			 &template, &outside, &creation_pcrs, &priv, &pub, NULL, NULL, NULL);
	secure_wipe(&sensitive, sizeof(sensitive));
	wipe_create_input(&c, &template);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Esys_Create");

	return blob_marshal(pcr_mask, pub, priv, ret_blob, ret_len);
}

int tpm_seal(const char *tcti, uint32_t pcr_mask, const uint8_t *secret, size_t n,
	     uint8_t **ret_blob, size_t *ret_len)
{
	int r = -EAGAIN;

	/* An explicit TCTI only: NULL or "" would make the loader pick some default TPM. */
	if (!tcti || !*tcti || !secret || n == 0 || n > TPM_SECRET_MAX ||
	    (pcr_mask & ~TPM_PCR_MASK_ALL) || !ret_blob || !ret_len)
		return -EINVAL;

	for (unsigned i = 0; i < TPM_TRIES; i++) {
		if (i > 0)
			sleep_ms(backoff_ms(i - 1));
		r = seal_once(tcti, pcr_mask, secret, n, ret_blob, ret_len);
		if (r != -EAGAIN)
			return busy_done(r, i);
	}
	return -EBUSY;
}

/* ESAPI decrypts the response in place in its SYS context's buffer and leaves it there until
 * Esys_Finalize frees it unwiped: wipe the response bytes now. The buffer is ours to clear
 * (the library only hands out a const view of it). */
void wipe_response_buffer(ESYS_CONTEXT *esys)
{
	TSS2_SYS_CONTEXT *sys = NULL;
	const uint8_t *rp = NULL;
	size_t n = 0;

	if (Esys_GetSysContext(esys, &sys) != TSS2_RC_SUCCESS || !sys)
		return;
	if (Tss2_Sys_GetRpBuffer(sys, &n, &rp) != TSS2_RC_SUCCESS || !rp)
		return;
	secure_wipe((uint8_t *)rp, n);
}

static int unseal_once(const char *tcti, const struct tpm_blob *b, struct secbuf **ret)
{
	_cleanup_(tpm_conn_close) struct tpm_conn c = TPM_CONN_INIT;
	_cleanup_(sensitive_data_freep) TPM2B_SENSITIVE_DATA *out = NULL;
	TSS2_RC rc;
	int r;

	r = tpm_conn_open(&c, tcti, b->v1);
	if (r < 0)
		return r;

	/* Loading checks the private area's integrity against this TPM's primary key: a blob from
	 * another TPM, or one changed anywhere, stops here. */
	rc = Esys_Load(c.esys, c.primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &b->priv,
		       &b->pub, &c.object);
	if (rc != TSS2_RC_SUCCESS) {
		c.object = ESYS_TR_NONE;
		return tss_errno(rc, true, "Esys_Load");
	}

	/* TPMA_SESSION_ENCRYPT: the TPM encrypts the first response parameter, outData. */
	if (b->pcr_mask == 0) {
		r = tpm_start_salted(&c, TPM2_SE_HMAC, TPMA_SESSION_ENCRYPT, &c.session);
		if (r < 0)
			return r;
	} else {
		TPM2B_DIGEST current = {};
		TPML_PCR_SELECTION sel;

		r = tpm_start_salted(&c, TPM2_SE_POLICY, TPMA_SESSION_ENCRYPT, &c.session);
		if (r < 0)
			return r;
		pcr_selection_from_mask(b->pcr_mask, &sel);
		rc = Esys_PolicyPCR(c.esys, c.session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				    &current, &sel);
		if (rc != TSS2_RC_SUCCESS)
			return tss_errno(rc, false, "Esys_PolicyPCR");
	}

	rc = Esys_Unseal(c.esys, c.object, c.session, ESYS_TR_NONE, ESYS_TR_NONE, &out);
	wipe_response_buffer(c.esys);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Esys_Unseal");
	if (out->size == 0 || out->size > TPM_SECRET_MAX)
		return -EBADMSG;

	return secbuf_dup(out->buffer, out->size, ret);
}

int tpm_unseal(const char *tcti, const uint8_t *blob, size_t len, struct secbuf **ret)
{
	struct tpm_blob b;
	int r;

	if (!tcti || !*tcti || !blob || !ret)
		return -EINVAL;

	r = blob_parse(blob, len, &b);
	if (r < 0)
		return r;

	for (unsigned i = 0; i < TPM_TRIES; i++) {
		if (i > 0)
			sleep_ms(backoff_ms(i - 1));
		r = unseal_once(tcti, &b, ret);
		if (r != -EAGAIN)
			return busy_done(r, i);
	}
	return -EBUSY;
}
