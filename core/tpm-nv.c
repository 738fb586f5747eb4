/* tpm-nv.c: the store's NV counter (TPM_NT_COUNTER, noDA, not orderly): found by the store's
 * tag, defined when missing, read and incremented over a salted session. Never touches an NV
 * index it did not define (its authPolicy names the store). */
#include "core/tpm-int.h"

/* NV counters (see tpm.h). The index's attributes: a counter, read and incremented with its
 * (empty) auth value, never DA-protected, never orderly (an orderly counter kept in RAM jumps
 * ahead after a power loss, which would read as a rollback). */
#define NV_COUNTER_ATTRS                                                                           \
	((TPMA_NV)(TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHREAD |                  \
	 TPMA_NV_AUTHWRITE | TPMA_NV_NO_DA)
#define NV_COUNTER_SIZE 8u

/* The handle that probe i of tag looks at. */
static TPM2_HANDLE nv_counter_handle(const uint8_t tag[TPM_NV_TAG_LEN], unsigned i)
{
	uint32_t start = ((uint32_t)tag[0] << 8 | tag[1]) % TPM_NV_COUNTER_SPAN;

	return TPM_NV_COUNTER_FIRST + (start + i) % TPM_NV_COUNTER_SPAN;
}

static bool rc_is_handle(TSS2_RC rc)
{
	return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (rc & TPM2_RC_FMT1) &&
	       (rc & (TPM2_RC_FMT1 | 0x3f)) == TPM2_RC_HANDLE;
}

/* Look at NV handle h: 1 and its ESYS_TR in c->nv when it is our counter for tag, 0 when
 * nothing is defined there, -EEXIST when it is someone else's index. */
static int nv_counter_probe(struct tpm_conn *c, TPM2_HANDLE h, const uint8_t tag[TPM_NV_TAG_LEN])
{
	_cleanup_esys_ TPM2B_NV_PUBLIC *pub = NULL;
	_cleanup_esys_ TPM2B_NAME *name = NULL;
	const TPMS_NV_PUBLIC *p;
	TSS2_RC rc;

	if (c->nv != ESYS_TR_NONE)
		(void)Esys_TR_Close(c->esys, &c->nv);
	rc = Esys_TR_FromTPMPublic(c->esys, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &c->nv);
	if (rc_is_handle(rc)) {
		c->nv = ESYS_TR_NONE;
		return 0;
	}
	if (rc != TSS2_RC_SUCCESS) {
		c->nv = ESYS_TR_NONE;
		return tss_errno(rc, false, "Esys_TR_FromTPMPublic");
	}
	rc = Esys_NV_ReadPublic(c->esys, c->nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
				&name);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Esys_NV_ReadPublic");
	p = &pub->nvPublic;
	if (p->nvIndex != h || p->nameAlg != TPM2_ALG_SHA256 ||
	    (p->attributes & ~TPMA_NV_WRITTEN) != NV_COUNTER_ATTRS ||
	    p->dataSize != NV_COUNTER_SIZE || p->authPolicy.size != TPM_NV_TAG_LEN ||
	    memcmp(p->authPolicy.buffer, tag, TPM_NV_TAG_LEN) != 0)
		return -EEXIST;
	return 1;
}

static int nv_counter_read(struct tpm_conn *c, uint64_t *ret_value)
{
	_cleanup_esys_ TPM2B_MAX_NV_BUFFER *data = NULL;
	uint64_t v = 0;
	TSS2_RC rc;

	rc = Esys_NV_Read(c->esys, c->nv, c->nv, c->session, ESYS_TR_NONE, ESYS_TR_NONE,
			  NV_COUNTER_SIZE, 0, &data);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Esys_NV_Read");
	if (data->size != NV_COUNTER_SIZE)
		return -EIO;
	for (unsigned i = 0; i < NV_COUNTER_SIZE; i++)
		v = v << 8 | data->buffer[i];
	*ret_value = v;
	return 0;
}

static int nv_counter_increment(struct tpm_conn *c)
{
	TSS2_RC rc;

	rc = Esys_NV_Increment(c->esys, c->nv, c->nv, c->session, ESYS_TR_NONE, ESYS_TR_NONE);
	return rc == TSS2_RC_SUCCESS ? 0 : tss_errno(rc, false, "Esys_NV_Increment");
}

/* Define the counter for tag at h, and increment it once: a new counter starts at the highest
 * value any counter of this TPM ever had, which it takes at its first increment. */
static int nv_counter_define(struct tpm_conn *c, TPM2_HANDLE h, const uint8_t tag[TPM_NV_TAG_LEN])
{
	static const TPM2B_AUTH empty = {};
	TPM2B_NV_PUBLIC pub = {
		.nvPublic = {
			.nvIndex = h,
			.nameAlg = TPM2_ALG_SHA256,
			.attributes = NV_COUNTER_ATTRS,
			.authPolicy.size = TPM_NV_TAG_LEN,
			.dataSize = NV_COUNTER_SIZE,
		},
	};
	TSS2_RC rc;

	memcpy(pub.nvPublic.authPolicy.buffer, tag, TPM_NV_TAG_LEN);
	if (c->nv != ESYS_TR_NONE)
		(void)Esys_TR_Close(c->esys, &c->nv);
	rc = Esys_NV_DefineSpace(c->esys, ESYS_TR_RH_OWNER, c->session, ESYS_TR_NONE, ESYS_TR_NONE,
				 &empty, &pub, &c->nv);
	if (rc != TSS2_RC_SUCCESS) {
		c->nv = ESYS_TR_NONE;
		if (rc == TPM2_RC_NV_SPACE)
			return log_foreign(-ENOSPC, "tss2", "Esys_NV_DefineSpace: %s",
					   Tss2_RC_Decode(rc));
		return tss_errno(rc, false, "Esys_NV_DefineSpace");
	}
	return nv_counter_increment(c);
}

/* Find tag's counter in c (c->nv), or with create define it at the first free handle probed.
 * Every probe is looked at (a counter after a free handle is found: another store's index
 * before it may have been undefined since). -ENOENT: none (without create); -ENOSPC: no free
 * handle among the probes, or NV full. */
static int nv_counter_locate(struct tpm_conn *c, const uint8_t tag[TPM_NV_TAG_LEN], bool create,
			     uint32_t *ret_index)
{
	TPM2_HANDLE free_h = 0;
	int r;

	for (unsigned i = 0; i < TPM_NV_COUNTER_PROBES; i++) {
		TPM2_HANDLE h = nv_counter_handle(tag, i);

		r = nv_counter_probe(c, h, tag);
		if (r == -EEXIST)
			continue; /* another's index */
		if (r < 0)
			return r;
		if (r == 1) {
			*ret_index = h;
			return 0;
		}
		if (!free_h)
			free_h = h;
	}
	if (!create)
		return -ENOENT;
	if (!free_h)
		return -ENOSPC;
	r = nv_counter_define(c, free_h, tag);
	if (r < 0)
		return r;
	*ret_index = free_h;
	return 0;
}

/* Connect, start a salted HMAC session and find the store's counter (defined when create).
 * Responses are authenticated by the session's HMAC, keyed by a salt no one on the bus knows:
 * a value read is the TPM's, not a bus forger's. */
static int counter_open(struct tpm_conn *c, const char *tcti, const uint8_t tag[TPM_NV_TAG_LEN],
			bool create, uint32_t *ret_index)
{
	int r = tpm_conn_open(c, tcti, false);

	if (r < 0)
		return r;
	r = tpm_start_salted(c, TPM2_SE_HMAC, 0, &c->session);
	if (r < 0)
		return r;
	return nv_counter_locate(c, tag, create, ret_index);
}

static int counter_once(const char *tcti, const uint8_t tag[TPM_NV_TAG_LEN], bool create,
			bool increment, uint32_t *ret_index, uint64_t *ret_value)
{
	_cleanup_(tpm_conn_close) struct tpm_conn c = TPM_CONN_INIT;
	uint32_t index;
	int r;

	r = counter_open(&c, tcti, tag, create, &index);
	if (r < 0)
		return r;
	if (increment) {
		r = nv_counter_increment(&c);
		if (r < 0)
			return r;
	}
	r = nv_counter_read(&c, ret_value);
	if (r < 0)
		return r;
	*ret_index = index;
	return 0;
}

static int counter_retry(const char *tcti, const uint8_t *tag, bool create, bool increment,
			 uint32_t *ret_index, uint64_t *ret_value)
{
	uint32_t index = 0;
	uint64_t value = 0;
	int r = -EAGAIN;

	if (!tcti || !*tcti || !tag || !ret_value)
		return -EINVAL;
	for (unsigned i = 0; i < TPM_TRIES; i++) {
		if (i > 0)
			sleep_ms(backoff_ms(i - 1));
		r = counter_once(tcti, tag, create, increment, &index, &value);
		if (r != -EAGAIN) {
			r = busy_done(r, i);
			break;
		}
	}
	if (r == -EAGAIN)
		return -EBUSY;
	if (r < 0)
		return r;
	if (ret_index)
		*ret_index = index;
	*ret_value = value;
	return 0;
}

int tpm_counter_read(const char *tcti, const uint8_t tag[TPM_NV_TAG_LEN], bool create,
		     uint32_t *ret_index, uint64_t *ret_value)
{
	return counter_retry(tcti, tag, create, false, ret_index, ret_value);
}

int tpm_counter_increment(const char *tcti, const uint8_t tag[TPM_NV_TAG_LEN], uint64_t *ret_value)
{
	return counter_retry(tcti, tag, false, true, NULL, ret_value);
}

int tpm_counter_remove(const char *tcti, const uint8_t tag[TPM_NV_TAG_LEN])
{
	_cleanup_(tpm_conn_close) struct tpm_conn c = TPM_CONN_INIT;
	uint32_t index;
	TSS2_RC rc;
	int r;

	if (!tcti || !*tcti || !tag)
		return -EINVAL;
	r = counter_open(&c, tcti, tag, false, &index);
	if (r < 0)
		return r;
	rc = Esys_NV_UndefineSpace(c.esys, ESYS_TR_RH_OWNER, c.nv, c.session, ESYS_TR_NONE,
				   ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Esys_NV_UndefineSpace");
	c.nv = ESYS_TR_NONE; /* gone with the index */
	return 0;
}
