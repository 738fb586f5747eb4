/* tpm-legacy.h: for test-tpm.c and test-seal.c, the TPM as the tests drive it behind core/tpm.c's
 * back: a blob sealed as core/tpm.c made them before noDA ("VFTPM1": the same primary template
 * and sealed-data object, without TPMA_OBJECT_NODA, so both are DA-protected), made with plain
 * ESAPI; the attributes of a blob's object; the TPM's dictionary-attack state, a lockout forced
 * by failed authorizations, and clearing it. Static functions only: each test includes it. */
#pragma once

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

/* What swtpm starts with: 3 tries, 1000 s to forget one, 1000 s after a lockoutAuth failure. */
#define LEGACY_DA_MAX_TRIES 3u
#define LEGACY_DA_RECOVERY 1000u
#define LEGACY_DA_LOCKOUT_RECOVERY 1000u

struct legacy_link {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
};

static void legacy_open(const char *tcti, struct legacy_link *l)
{
	*l = (struct legacy_link){};
	assert_int_equal(Tss2_TctiLdr_Initialize(tcti, &l->tcti), TSS2_RC_SUCCESS);
	if (Esys_Initialize(&l->esys, l->tcti, NULL) != TSS2_RC_SUCCESS) {
		Tss2_TctiLdr_Finalize(&l->tcti);
		fail_msg("Esys_Initialize");
	}
}

static void legacy_close(struct legacy_link *l)
{
	Esys_Finalize(&l->esys);
	Tss2_TctiLdr_Finalize(&l->tcti);
}

/* The primary of VFTPM1 blobs (core/tpm.c's template before noDA). */
static const TPM2B_PUBLIC legacy_primary = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
				    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH,
		.parameters.eccDetail = {
			.symmetric = {
				.algorithm = TPM2_ALG_AES,
				.keyBits.aes = 128,
				.mode.aes = TPM2_ALG_CFB,
			},
			.scheme.scheme = TPM2_ALG_NULL,
			.curveID = TPM2_ECC_NIST_P256,
			.kdf.scheme = TPM2_ALG_NULL,
		},
	},
};

/* Seal n bytes as a VFTPM1 blob (no PCRs), the object's auth value auth ("" for none, as
 * core/tpm.c made them). The heap blob in *ret_blob. */
static void legacy_seal(const char *tcti, const uint8_t *secret, size_t n, const char *auth,
			uint8_t **ret_blob, size_t *ret_len)
{
	static const TPM2B_DATA outside = {};
	static const TPML_PCR_SELECTION pcrs = {};
	TPM2B_SENSITIVE_CREATE primary_sensitive = {}, sensitive = {};
	TPM2B_PUBLIC template = {
		.publicArea = {
			.type = TPM2_ALG_KEYEDHASH,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					    TPMA_OBJECT_USERWITHAUTH,
			.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
		},
	};
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	struct legacy_link l;
	ESYS_TR primary = ESYS_TR_NONE;
	uint8_t *blob = malloc(4096);
	size_t off = 10;
	TSS2_RC rc;

	assert_non_null(blob);
	memcpy(blob, "VFTPM1\0\0\0\0", 10);
	sensitive.sensitive.data.size = (UINT16)n;
	memcpy(sensitive.sensitive.data.buffer, secret, n);
	sensitive.sensitive.userAuth.size = (UINT16)strlen(auth);
	memcpy(sensitive.sensitive.userAuth.buffer, auth, strlen(auth));

	legacy_open(tcti, &l);
	rc = Esys_CreatePrimary(l.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &primary_sensitive, &legacy_primary, &outside, &pcrs,
				&primary, NULL, NULL, NULL, NULL);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_Create(l.esys, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				 &sensitive, &template, &outside, &pcrs, &priv, &pub, NULL, NULL,
				 NULL);
	if (primary != ESYS_TR_NONE)
		(void)Esys_FlushContext(l.esys, primary);
	legacy_close(&l);
	assert_int_equal(rc, TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(pub, blob, 4096, &off), TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_MU_TPM2B_PRIVATE_Marshal(priv, blob, 4096, &off), TSS2_RC_SUCCESS);
	Esys_Free(pub);
	Esys_Free(priv);
	*ret_blob = blob;
	*ret_len = off;
}

/* The sealed object's attributes, as the blob's public area (which the TPM checks at load)
 * gives them. */
static TPMA_OBJECT legacy_blob_attrs(const uint8_t *blob, size_t len)
{
	TPM2B_PUBLIC pub = {};
	size_t off = 10;

	assert_true(len > off);
	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob, len, &off, &pub), TSS2_RC_SUCCESS);
	return pub.publicArea.objectAttributes;
}

/* TPM2_PT_LOCKOUT_COUNTER, or with in_lockout TPMA_PERMANENT's inLockout (0 or 1). */
static uint32_t legacy_da_state(const char *tcti, bool in_lockout)
{
	TPMS_CAPABILITY_DATA *data = NULL;
	TPMI_YES_NO more = TPM2_NO;
	struct legacy_link l;
	uint32_t v = UINT32_MAX;
	TSS2_RC rc;

	legacy_open(tcti, &l);
	rc = Esys_GetCapability(
		l.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
		in_lockout ? TPM2_PT_PERMANENT : TPM2_PT_LOCKOUT_COUNTER, 1, &more, &data);
	legacy_close(&l);
	assert_int_equal(rc, TSS2_RC_SUCCESS);
	assert_int_equal(data->data.tpmProperties.count, 1);
	v = data->data.tpmProperties.tpmProperty[0].value;
	Esys_Free(data);
	return in_lockout ? !!(v & TPMA_PERMANENT_INLOCKOUT) : v;
}

/* Set the DA parameters (lockout auth empty, as swtpm starts). */
static void legacy_da_parameters(const char *tcti, uint32_t max_tries, uint32_t recovery,
				 uint32_t lockout_recovery)
{
	struct legacy_link l;
	TSS2_RC rc;

	legacy_open(tcti, &l);
	rc = Esys_DictionaryAttackParameters(l.esys, ESYS_TR_RH_LOCKOUT, ESYS_TR_PASSWORD,
					     ESYS_TR_NONE, ESYS_TR_NONE, max_tries, recovery,
					     lockout_recovery);
	legacy_close(&l);
	assert_int_equal(rc, TSS2_RC_SUCCESS);
}

/* Put the TPM in DA lockout: one try allowed, then one failed authorization of a DA-protected
 * object (a VFTPM1 object with an auth value, unsealed with another). */
static void legacy_force_lockout(const char *tcti)
{
	static const TPM2B_AUTH wrong = { .size = 5, .buffer = "wrong" };
	static const TPM2B_SENSITIVE_CREATE primary_sensitive = {};
	static const TPM2B_DATA outside = {};
	static const TPML_PCR_SELECTION pcrs = {};
	TPM2B_SENSITIVE_DATA *out = NULL;
	TPM2B_PUBLIC pub = {};
	TPM2B_PRIVATE priv = {};
	ESYS_TR primary = ESYS_TR_NONE, object = ESYS_TR_NONE;
	struct legacy_link l;
	uint8_t *blob, one = 1;
	size_t len, off = 10;
	TSS2_RC rc;

	legacy_seal(tcti, &one, 1, "right", &blob, &len);
	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob, len, &off, &pub), TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob, len, &off, &priv), TSS2_RC_SUCCESS);
	free(blob);
	legacy_da_parameters(tcti, 1, LEGACY_DA_RECOVERY, LEGACY_DA_LOCKOUT_RECOVERY);

	legacy_open(tcti, &l);
	rc = Esys_CreatePrimary(l.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &primary_sensitive, &legacy_primary, &outside, &pcrs,
				&primary, NULL, NULL, NULL, NULL);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_Load(l.esys, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv,
			       &pub, &object);
	if (rc == TSS2_RC_SUCCESS) {
		(void)Esys_TR_SetAuth(l.esys, object, &wrong);
		rc = Esys_Unseal(l.esys, object, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				 &out);
		Esys_Free(out);
		/* TPM_RC_AUTH_FAIL for session 1: the failure the DA counter counts */
		rc = (rc & ~TPM2_RC_N_MASK) == TPM2_RC_AUTH_FAIL ? TSS2_RC_SUCCESS : rc ? rc : 1;
	}
	if (object != ESYS_TR_NONE)
		(void)Esys_FlushContext(l.esys, object);
	if (primary != ESYS_TR_NONE)
		(void)Esys_FlushContext(l.esys, primary);
	legacy_close(&l);
	assert_int_equal(rc, TSS2_RC_SUCCESS);
	assert_int_equal(legacy_da_state(tcti, true), 1);
}

/* Leave lockout and restore swtpm's DA parameters. */
static void legacy_clear_lockout(const char *tcti)
{
	struct legacy_link l;
	TSS2_RC rc;

	legacy_open(tcti, &l);
	rc = Esys_DictionaryAttackLockReset(l.esys, ESYS_TR_RH_LOCKOUT, ESYS_TR_PASSWORD,
					    ESYS_TR_NONE, ESYS_TR_NONE);
	legacy_close(&l);
	assert_int_equal(rc, TSS2_RC_SUCCESS);
	legacy_da_parameters(tcti, LEGACY_DA_MAX_TRIES, LEGACY_DA_RECOVERY,
			     LEGACY_DA_LOCKOUT_RECOVERY);
	assert_int_equal(legacy_da_state(tcti, true), 0);
	assert_int_equal(legacy_da_state(tcti, false), 0);
}
