/* tpm-int.h: what the parts of core/tpm share: the connection with its lock and transient
 * handles, the one TSS2-to-errno conversion, sessions and the retry of a busy TPM. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_sys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/secbuf.h"
#include "core/tpm.h"
#include "core/util.h"

/* "VFTPM2": the object and its primary carry noDA; "VFTPM1" (before noDA): neither does, and
 * such a blob only loads under the primary made without it. Both have the same layout. */
#define BLOB_MAGIC "VFTPM2"
#define BLOB_MAGIC_V1 "VFTPM1"
#define BLOB_MAGIC_LEN (sizeof(BLOB_MAGIC) - 1)
#define BLOB_HEADER_LEN (BLOB_MAGIC_LEN + 4)
#define BLOB_MAX VAULTFS_SEALED_MAX

/* PCRs 0..23: the sha256 bank of every PC Client TPM. */
#define TPM_PCR_COUNT 24u
#define TPM_PCR_MASK_ALL ((UINT32_C(1) << TPM_PCR_COUNT) - 1)

#define SHA256_SIZE 32u

/* The lock that serialises the clients of a TPM without a resource manager. */
#define TPM_LOCK_DIR "/run/lock"
#define TPM_LOCK_DIR_FALLBACK "/tmp"
#define TPM_LOCK_WAIT_MS 10000u
#define TPM_LOCK_POLL_MS 10u

/* A seal or unseal the TPM answered with "busy, try again": tries, and the first pause between
 * two of them (doubled each time: 20, 40, 80, 160 ms). */
#define TPM_TRIES 5u
#define TPM_BACKOFF_MS 20u

/* The sealed-data object's attributes, without and with a PCR policy. noDA: no low-entropy
 * secret guards the object (its auth is empty, or a PCR policy), so dictionary-attack
 * protection guards nothing and only locks it out, after power losses (each one is counted as
 * a failed try of a DA-protected object used since the last orderly shutdown). The _V1 forms
 * are those of blobs made before noDA, still loaded and unsealed. */
#define SEALED_ATTRS_V1 (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT)
#define SEALED_ATTRS_NOPOLICY_V1 (SEALED_ATTRS_V1 | TPMA_OBJECT_USERWITHAUTH)
#define SEALED_ATTRS (SEALED_ATTRS_V1 | TPMA_OBJECT_NODA)
#define SEALED_ATTRS_NOPOLICY (SEALED_ATTRS_NOPOLICY_V1 | TPMA_OBJECT_NODA)

/* One TPM connection, the transient handles made on it and the lock held for it (-1: none), all
 * released by tpm_conn_close(). */
struct tpm_conn {
	int lock_fd;
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR primary;
	ESYS_TR trial;
	ESYS_TR session;
	ESYS_TR object;
	ESYS_TR nv; /* an NV index: closed, never flushed */
};

#define TPM_CONN_INIT                                                                              \
	{                                                                                          \
		.lock_fd = -1, .primary = ESYS_TR_NONE, .trial = ESYS_TR_NONE,                     \
		.session = ESYS_TR_NONE, .object = ESYS_TR_NONE, .nv = ESYS_TR_NONE,               \
	}

/* A blob taken apart. */
struct tpm_blob {
	bool v1; /* made before noDA */
	uint32_t pcr_mask;
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
};

static inline void esys_freep(void *p)
{
	Esys_Free(*(void **)p);
}
#define _cleanup_esys_ _cleanup_(esys_freep)

/* The library's copy of an unsealed secret: wiped before it is freed. */
static inline void sensitive_data_freep(TPM2B_SENSITIVE_DATA **p)
{
	if (*p) {
		secure_wipe(*p, sizeof(**p));
		Esys_Free(*p);
	}
}

/* tpm.c */
int tss_errno(TSS2_RC rc, bool blob, const char *call);
void tpm_flush(ESYS_CONTEXT *esys, ESYS_TR *handle);
void tpm_conn_close(struct tpm_conn *c);
int tpm_conn_open(struct tpm_conn *c, const char *tcti, bool v1);
int tpm_start_salted(struct tpm_conn *c, TPM2_SE type, TPMA_SESSION crypt, ESYS_TR *ret);
/* The pause before try i of a busy TPM, and whether r (of try i) ends the tries. */
unsigned backoff_ms(unsigned i);
int busy_done(int r, unsigned i);
void sleep_ms(unsigned ms);

/* tpm-seal.c */
/* Wipe the response bytes ESAPI keeps in its SYS context's buffer (a decrypted parameter, in
 * place) until Esys_Finalize frees it unwiped: after a command whose response is secret. */
void wipe_response_buffer(ESYS_CONTEXT *esys);
