/* tpm.c: seal and unseal a small secret with a TPM 2.0 over tpm2-tss ESAPI. Each call opens the
 * TCTI named by the caller, re-creates the owner-hierarchy primary storage key (ECC P-256,
 * AES-128-CFB, from a fixed template, so it is the same key every time and nothing is persisted
 * in the TPM), does its work, then flushes every transient handle and closes the connection.
 * The primary and the objects sealed under it carry noDA (see SEALED_ATTRS); blobs made before
 * that ("VFTPM1") still load and unseal, under the primary they were made with.
 * Sealing creates a keyedhash sealed-data object, bound to sha256 PCRs through a PolicyPCR digest
 * when asked, over a salted HMAC session with command parameter encryption; unsealing loads it
 * back and unseals over a salted HMAC or policy session with response encryption. The blob is
 * "VFTPM1", the PCR mask (u32 LE), the marshalled TPM2B_PUBLIC and TPM2B_PRIVATE, parsed
 * defensively. A TPM reached with no resource manager in between (the swtpm and mssim TCTIs,
 * also wrapped in pcap:) is shared by all its clients, and so are its three or so object slots:
 * there a call holds an exclusive flock on /run/lock/vaultfs-tpm-<FNV-1a 64 of the TCTI string
 * without "pcap:", 16 hex>.lock (in /tmp when /run/lock is not writable) from connect to close,
 * waits for it at most 10 s (then -EBUSY), and under it first flushes every transient object and
 * loaded session, which can then only be leftovers of a killed client. A lock file not owned by
 * our euid, or one that cannot be opened, is not used: the call goes on unlocked. TPM answers
 * that mean "busy, try again" (out of object or session memory, RETRY, YIELDED, TESTING, a
 * handle flushed under us, ...) become -EAGAIN, and a whole seal or unseal is tried up to 5
 * times, 20 to 160 ms apart, before it returns -EBUSY. Every TSS2_RC becomes -errno in
 * tss_errno() and nowhere else, which keeps TSS2's own words for it (log_foreign).
 * Esys_Create keeps a copy of its inSensitive (the secret being sealed) in the ESYS_CONTEXT,
 * which Esys_Finalize frees unwiped (the SYS command buffer holds only its encrypted form,
 * parameter encryption being done in place). tpm_seal() overwrites the
 * copy with a second TPM2_Create of an empty secret; checked with tpm2-tss 3.2.1 by scanning
 * every block freed during seal and unseal: none holds the secret with it, one does without.
 * It is impossible only when the transport failed during the first TPM2_Create (ESAPI then
 * refuses every command): the copy is then freed unwiped. This module must never persist
 * anything in the TPM, never keep a connection open between calls, never leave an unsealed secret
 * outside a secbuf (the library's copy is wiped before it is freed), and never log or print. The
 * TSS libraries log errors to stderr on their own: callers that want them quiet set
 * TSS2_LOG=all+NONE in their environment (this module does not touch the environment). */
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

static const TPMT_SYM_DEF session_symmetric = {
	.algorithm = TPM2_ALG_AES,
	.keyBits.aes = 128,
	.mode.aes = TPM2_ALG_CFB,
};

/* The primary storage key: a restricted decryption ECC P-256 key with an AES-128-CFB
 * symmetric, derived from the owner seed, so the same key comes back on every CreatePrimary.
 * This is the template of "VFTPM1" blobs; the current one adds noDA (its auth is empty), and
 * from that the TPM derives another key. */
static const TPM2B_PUBLIC primary_template_v1 = {
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

/* What -errno a TSS2_RC means (see tss_errno). */
static int tss_code_errno(TSS2_RC rc, bool blob)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
	TSS2_RC code = rc & ~TSS2_RC_LAYER_MASK;

	if (rc == TSS2_RC_SUCCESS)
		return 0;

	switch (layer) {
	case TSS2_TCTI_RC_LAYER:
		/* The transport: unknown TCTI, bad TCTI string, nothing listening, link lost. */
		return code == TSS2_BASE_RC_TRY_AGAIN ? -EAGAIN : -ENODEV;
	case TSS2_ESAPI_RC_LAYER:
	case TSS2_SYS_RC_LAYER:
	case TSS2_MU_RC_LAYER:
		if (code == TSS2_BASE_RC_TRY_AGAIN)
			return -EAGAIN;
		if (code == TSS2_BASE_RC_MEMORY)
			return -ENOMEM;
		if (blob && (code == TSS2_BASE_RC_BAD_VALUE || code == TSS2_BASE_RC_BAD_SIZE ||
			     code == TSS2_BASE_RC_INSUFFICIENT_BUFFER))
			return -EBADMSG;
		return -EIO;
	case TSS2_RESMGR_RC_LAYER:
		/* A resource manager's own answers: TSS2 base codes, or TPM codes for its quotas
		 * (tpm2-abrmd's TSS2_RESMGR_RC_OBJECT_MEMORY is TPM2_RC_OBJECT_MEMORY here). */
		if (code == TSS2_BASE_RC_TRY_AGAIN)
			return -EAGAIN;
		break;
	case TSS2_TPM_RC_LAYER:
	case TSS2_RESMGR_TPM_RC_LAYER:
		break;
	default:
		return -EIO;
	}

	/* A TPM response code. Format 1 codes carry the handle, parameter or session they are
	 * about in their upper bits: strip that to get the error itself. */
	if (code & TPM2_RC_FMT1)
		code &= TPM2_RC_FMT1 | 0x3f;

	switch (code) {
	case TPM2_RC_CONTEXT_GAP:
	case TPM2_RC_OBJECT_MEMORY:
	case TPM2_RC_SESSION_MEMORY:
	case TPM2_RC_MEMORY:
	case TPM2_RC_SESSION_HANDLES:
	case TPM2_RC_YIELDED:
	case TPM2_RC_CANCELED:
	case TPM2_RC_TESTING:
	case TPM2_RC_NV_RATE:
	case TPM2_RC_RETRY:
	case TPM2_RC_NV_UNAVAILABLE:
	/* An object or session of ours is gone: only another client without our lock (another
	 * TCTI string for the same TPM, another program) flushes what is not its own. */
	case TPM2_RC_REFERENCE_H0:
	case TPM2_RC_REFERENCE_H1:
	case TPM2_RC_REFERENCE_H2:
	case TPM2_RC_REFERENCE_H3:
	case TPM2_RC_REFERENCE_H4:
	case TPM2_RC_REFERENCE_H5:
	case TPM2_RC_REFERENCE_H6:
	case TPM2_RC_REFERENCE_S0:
	case TPM2_RC_REFERENCE_S1:
	case TPM2_RC_REFERENCE_S2:
	case TPM2_RC_REFERENCE_S3:
	case TPM2_RC_REFERENCE_S4:
	case TPM2_RC_REFERENCE_S5:
	case TPM2_RC_REFERENCE_S6:
		return -EAGAIN;
	case TPM2_RC_INITIALIZE:
		/* No TPM2_Startup yet: there is no usable TPM. */
		return -ENODEV;
	case TPM2_RC_LOCKOUT:
		/* Dictionary-attack lockout: a DA-protected object (a blob from before noDA, under
		 * its primary) is refused until the lockout is cleared or its time runs out. */
		return -TPM_ELOCKOUT;
	case TPM2_RC_POLICY_FAIL:
	case TPM2_RC_POLICY:
	case TPM2_RC_PCR_CHANGED:
	case TPM2_RC_EXPIRED:
	case TPM2_RC_POLICY_CC:
		return -EPERM;
	case TPM2_RC_INTEGRITY:
	case TPM2_RC_SENSITIVE:
	case TPM2_RC_BINDING:
	case TPM2_RC_SIZE:
	case TPM2_RC_INSUFFICIENT:
	case TPM2_RC_VALUE:
	case TPM2_RC_TYPE:
	case TPM2_RC_SELECTOR:
	case TPM2_RC_ATTRIBUTES:
	case TPM2_RC_RESERVED_BITS:
	case TPM2_RC_HASH:
	case TPM2_RC_SCHEME:
	case TPM2_RC_SYMMETRIC:
	case TPM2_RC_KEY_SIZE:
	case TPM2_RC_KEY:
	case TPM2_RC_KDF:
	case TPM2_RC_MODE:
	case TPM2_RC_ASYMMETRIC:
	case TPM2_RC_CURVE:
	case TPM2_RC_ECC_POINT:
	case TPM2_RC_HANDLE:
		return blob ? -EBADMSG : -EIO;
	default:
		return -EIO;
	}
}

/* The one place where a TSS2_RC becomes -errno. call names the TSS2 function that answered
 * rc. blob says whether the failing operation was fed data from a blob (unmarshalling it,
 * loading it): then a malformed or foreign object is the likely cause and the answer is
 * -EBADMSG; elsewhere the same codes are a TPM failure. -EAGAIN means "busy, try the whole
 * operation again" and never leaves this file. TSS2's own words for rc are kept as this
 * thread's last foreign error (log_foreign), for the one error line at the edge; a lockout also
 * says how to clear it. */
static int tss_errno(TSS2_RC rc, bool blob, const char *call)
{
	int r = tss_code_errno(rc, blob);

	if (r == -TPM_ELOCKOUT)
		return log_foreign(r, "tss2", "%s: %s; clear it with `tpm2_dictionarylockout "
				   "--clear-lockout` (or wait)", call, Tss2_RC_Decode(rc));
	if (r < 0)
		log_foreign(r, "tss2", "%s: %s", call, Tss2_RC_Decode(rc));
	return r;
}

static void tpm_flush(ESYS_CONTEXT *esys, ESYS_TR *handle)
{
	if (*handle == ESYS_TR_NONE)
		return;
	/* Nothing to do about a failure here: the caller already has its answer. */
	(void)Esys_FlushContext(esys, *handle);
	*handle = ESYS_TR_NONE;
}

/* The key of a TCTI string for the lock: the string without any "pcap:" in front (the pcap TCTI
 * records the traffic of the TCTI named after it), or NULL when the TPM behind it has a resource
 * manager (device: on /dev/tpmrm0, tabrmd) or is unknown to us. */
static const char *tcti_lock_key(const char *tcti)
{
	static const char *const unmanaged[] = {
		"swtpm",
		"mssim",
		"libtss2-tcti-swtpm.so",
		"libtss2-tcti-swtpm.so.0",
		"libtss2-tcti-mssim.so",
		"libtss2-tcti-mssim.so.0",
	};
	size_t n;

	while (strncmp(tcti, "pcap:", 5) == 0)
		tcti += 5;
	n = strcspn(tcti, ":");
	for (size_t i = 0; i < ELEMENTSOF(unmanaged); i++)
		if (strlen(unmanaged[i]) == n && strncmp(tcti, unmanaged[i], n) == 0)
			return tcti;
	return NULL;
}

/* FNV-1a, 64 bits: names the lock file; it needs to tell TCTI strings apart, not resist anyone. */
static uint64_t fnv1a64(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Open (creating it 0600) the lock file for hash h in dir. -EPERM for a file that is not a plain
 * file with one link owned by our euid: someone else's, which we must not trust. */
static int lock_file_open(const char *dir, uint64_t h)
{
	_cleanup_close_ int fd = -1;
	char path[64];
	struct stat st;
	int k;

	k = snprintf(path, sizeof(path), "%s/vaultfs-tpm-%016" PRIx64 ".lock", dir, h);
	if (k < 0 || (size_t)k >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != geteuid())
		return -EPERM;
	return TAKE_FD(fd);
}

/* Take the lock of tcti if its TPM has no resource manager. *ret_fd is the locked fd, or -1 when
 * no lock is needed or none could be opened (see the top of this file). -EBUSY when another
 * process held it for TPM_LOCK_WAIT_MS. */
static int tpm_lock(const char *tcti, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	const char *key = tcti_lock_key(tcti);
	uint64_t h, deadline;

	if (!key) {
		*ret_fd = -1;
		return 0;
	}
	h = fnv1a64(key);
	fd = lock_file_open(TPM_LOCK_DIR, h);
	if (fd == -EACCES || fd == -EROFS || fd == -ENOENT)
		fd = lock_file_open(TPM_LOCK_DIR_FALLBACK, h);
	if (fd < 0) {
		*ret_fd = -1;
		return 0;
	}

	deadline = now_ms() + TPM_LOCK_WAIT_MS;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			/* No flock here (ENOLCK): go on unlocked, as without a lock file. */
			*ret_fd = -1;
			return 0;
		}
		if (now_ms() >= deadline)
			return -EBUSY;
		sleep_ms(TPM_LOCK_POLL_MS);
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Flush one TPM handle, object or session, that no ESYS_TR of ours stands for. */
static void tpm_flush_raw(ESYS_CONTEXT *esys, TPM2_HANDLE handle)
{
	ESYS_TR tr = ESYS_TR_NONE;

	if (Esys_TR_FromTPMPublic(esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr) !=
	    TSS2_RC_SUCCESS)
		return;
	if (Esys_FlushContext(esys, tr) != TSS2_RC_SUCCESS)
		(void)Esys_TR_Close(esys, &tr);
}

/* Flush every transient object and loaded session in the TPM. Only called under the lock of a
 * TPM without a resource manager: then none of them belongs to a live client of ours; they are
 * what a client killed in mid-operation left, and they would fill the TPM's slots for good.
 * Errors are ignored: the operation that follows reports any real trouble. Saved (not loaded)
 * sessions are left alone: we never save one, and they take no slot. */
static void tpm_flush_leftovers(ESYS_CONTEXT *esys)
{
	static const TPM2_HANDLE kinds[] = { TPM2_TRANSIENT_FIRST, TPM2_LOADED_SESSION_FIRST };

	for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
		_cleanup_esys_ TPMS_CAPABILITY_DATA *data = NULL;
		TPMI_YES_NO more = TPM2_NO;
		uint32_t count;

		if (Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				       TPM2_CAP_HANDLES, kinds[i], TPM2_MAX_CAP_HANDLES, &more,
				       &data) != TSS2_RC_SUCCESS)
			continue;
		if (data->capability != TPM2_CAP_HANDLES)
			continue;
		count = data->data.handles.count;
		if (count > TPM2_MAX_CAP_HANDLES)
			count = TPM2_MAX_CAP_HANDLES;
		for (uint32_t k = 0; k < count; k++) {
			TPM2_HANDLE h = data->data.handles.handle[k];
			TPM2_HT type = (TPM2_HT)(h >> TPM2_HR_SHIFT);

			if (type == TPM2_HT_TRANSIENT || type == TPM2_HT_HMAC_SESSION ||
			    type == TPM2_HT_POLICY_SESSION)
				tpm_flush_raw(esys, h);
		}
	}
}

static void tpm_conn_close(struct tpm_conn *c)
{
	if (c->esys) {
		if (c->nv != ESYS_TR_NONE)
			(void)Esys_TR_Close(c->esys, &c->nv);
		tpm_flush(c->esys, &c->object);
		tpm_flush(c->esys, &c->session);
		tpm_flush(c->esys, &c->trial);
		tpm_flush(c->esys, &c->primary);
		Esys_Finalize(&c->esys);
	}
	if (c->tcti)
		Tss2_TctiLdr_Finalize(&c->tcti);
	/* Closing the fd releases the lock, after the connection is gone. */
	closep(&c->lock_fd);
	c->lock_fd = -1;
}

/* Take the TPM's lock if it needs one, connect to it, and flush leftovers if locked. */
static int tpm_conn_connect(struct tpm_conn *c, const char *tcti)
{
	TSS2_RC rc;
	int r;

	r = tpm_lock(tcti, &c->lock_fd);
	if (r < 0)
		return r;

	/* The TCTI connects here: its failures are transport (TCTI layer) errors, -ENODEV. */
	rc = Tss2_TctiLdr_Initialize(tcti, &c->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		c->tcti = NULL;
		return tss_errno(rc, false, "Tss2_TctiLdr_Initialize");
	}
	rc = Esys_Initialize(&c->esys, c->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		c->esys = NULL;
		return tss_errno(rc, false, "Esys_Initialize");
	}
	if (c->lock_fd >= 0)
		tpm_flush_leftovers(c->esys);
	return 0;
}

/* tpm_conn_connect, and create the primary storage key (with noDA, or for v1 as blobs from
 * before noDA were made). */
static int tpm_conn_open(struct tpm_conn *c, const char *tcti, bool v1)
{
	TPM2B_PUBLIC template = primary_template_v1;
	TPM2B_SENSITIVE_CREATE sensitive = {};
	TPM2B_DATA outside = {};
	TPML_PCR_SELECTION creation_pcrs = {};
	TSS2_RC rc;
	int r;

	r = tpm_conn_connect(c, tcti);
	if (r < 0)
		return r;
	if (!v1)
		template.publicArea.objectAttributes |= TPMA_OBJECT_NODA;
	rc = Esys_CreatePrimary(c->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sensitive, &template, &outside,
				&creation_pcrs, &c->primary, NULL, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		c->primary = ESYS_TR_NONE;
		return tss_errno(rc, false, "Esys_CreatePrimary");
	}
	return 0;
}

/* Start a session salted to the primary key (the salt is encrypted to it, so the session key is
 * unknown to anyone on the bus) with AES-128-CFB parameter encryption in the given direction. */
static int tpm_start_salted(struct tpm_conn *c, TPM2_SE type, TPMA_SESSION crypt,
			    ESYS_TR *ret_session)
{
	ESYS_TR session = ESYS_TR_NONE;
	TSS2_RC rc;

	rc = Esys_StartAuthSession(c->esys, c->primary, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, type, &session_symmetric, TPM2_ALG_SHA256,
				   &session);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Esys_StartAuthSession");

	rc = Esys_TRSess_SetAttributes(c->esys, session, TPMA_SESSION_CONTINUESESSION | crypt,
				       0xff);
	if (rc != TSS2_RC_SUCCESS) {
		tpm_flush(c->esys, &session);
		return tss_errno(rc, false, "Esys_TRSess_SetAttributes");
	}
	*ret_session = session;
	return 0;
}

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

	rc = Esys_StartAuthSession(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_TRIAL, &no_symmetric,
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
	if (mask == 0 && (area->objectAttributes != (b.v1 ? SEALED_ATTRS_NOPOLICY_V1 :
							       SEALED_ATTRS_NOPOLICY) ||
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

/* The pause after try number i (0-based) of TPM_TRIES. */
static unsigned backoff_ms(unsigned i)
{
	return TPM_BACKOFF_MS << i;
}

/* The end of a retried operation after try i: a success after "busy" answers drops the words
 * of the last busy answer (they would end an unrelated error line); after the last try they
 * stay, and tell what kept the TPM busy. */
static int busy_done(int r, unsigned i)
{
	if (r >= 0 && i > 0)
		log_foreign_clear();
	return r;
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
static void wipe_response_buffer(ESYS_CONTEXT *esys)
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

/* One TPM property (TPM2_PT_*). */
static int tpm_property(struct tpm_conn *c, TPM2_PT pt, uint32_t *ret)
{
	_cleanup_esys_ TPMS_CAPABILITY_DATA *data = NULL;
	TPMI_YES_NO more = TPM2_NO;
	TSS2_RC rc;

	rc = Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				TPM2_CAP_TPM_PROPERTIES, pt, 1, &more, &data);
	if (rc != TSS2_RC_SUCCESS)
		return tss_errno(rc, false, "Esys_GetCapability");
	if (data->capability != TPM2_CAP_TPM_PROPERTIES || data->data.tpmProperties.count < 1 ||
	    data->data.tpmProperties.tpmProperty[0].property != pt)
		return -EIO;
	*ret = data->data.tpmProperties.tpmProperty[0].value;
	return 0;
}

static int da_status_once(const char *tcti, struct tpm_da_status *ret)
{
	_cleanup_(tpm_conn_close) struct tpm_conn c = TPM_CONN_INIT;
	struct tpm_da_status st = {};
	uint32_t permanent;
	int r;

	r = tpm_conn_connect(&c, tcti);
	if (r < 0)
		return r;
	if ((r = tpm_property(&c, TPM2_PT_PERMANENT, &permanent)) < 0 ||
	    (r = tpm_property(&c, TPM2_PT_LOCKOUT_COUNTER, &st.failed_tries)) < 0 ||
	    (r = tpm_property(&c, TPM2_PT_MAX_AUTH_FAIL, &st.max_tries)) < 0 ||
	    (r = tpm_property(&c, TPM2_PT_LOCKOUT_INTERVAL, &st.recovery_s)) < 0)
		return r;
	st.in_lockout = permanent & TPMA_PERMANENT_INLOCKOUT;
	*ret = st;
	return 0;
}

int tpm_da_status(const char *tcti, struct tpm_da_status *ret)
{
	int r = -EAGAIN;

	if (!tcti || !*tcti || !ret)
		return -EINVAL;
	for (unsigned i = 0; i < TPM_TRIES; i++) {
		if (i > 0)
			sleep_ms(backoff_ms(i - 1));
		r = da_status_once(tcti, ret);
		if (r != -EAGAIN)
			return busy_done(r, i);
	}
	return -EBUSY;
}

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
	return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER &&
	       (rc & TPM2_RC_FMT1) && (rc & (TPM2_RC_FMT1 | 0x3f)) == TPM2_RC_HANDLE;
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
	rc = Esys_NV_DefineSpace(c->esys, ESYS_TR_RH_OWNER, c->session, ESYS_TR_NONE,
				 ESYS_TR_NONE, &empty, &pub, &c->nv);
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

int tpm_counter_increment(const char *tcti, const uint8_t tag[TPM_NV_TAG_LEN],
			  uint64_t *ret_value)
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

int tpm_parse_pcrs(const char *s, uint32_t *ret_mask)
{
	uint32_t mask = 0;
	const char *p = s;

	if (!s || !ret_mask)
		return -EINVAL;

	while (*p != '\0') {
		unsigned v;

		/* One or two digits, no leading zero, then ',' and another or the end. */
		if (p[0] < '0' || p[0] > '9')
			return -EINVAL;
		v = (unsigned)(p[0] - '0');
		p++;
		if (p[0] >= '0' && p[0] <= '9') {
			if (v == 0)
				return -EINVAL;
			v = v * 10 + (unsigned)(p[0] - '0');
			p++;
		}
		if (v >= TPM_PCR_COUNT)
			return -EINVAL;
		mask |= UINT32_C(1) << v;

		if (p[0] == ',') {
			p++;
			if (p[0] == '\0')
				return -EINVAL;
		} else if (p[0] != '\0') {
			return -EINVAL;
		}
	}

	*ret_mask = mask;
	return 0;
}
