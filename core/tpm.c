/* tpm.c: the TPM 2.0 connection of core/tpm (shared through tpm-int.h): connecting, the lock of
 * a TPM without a resource manager, sessions, the one TSS2-to-errno conversion, retries of a busy
 * TPM, the dictionary-attack lockout state and PCR lists. Sealing is tpm-seal.c, the store's NV
 * counter tpm-nv.c. Each call opens the TCTI named by the caller, does its work, flushes every
 * transient handle and closes the connection: this module never keeps a connection between
 * calls, never persists an object in the TPM, and never logs or prints (TSS2's own words go to
 * log_foreign, which the caller's error line prints).
 * A TPM reached with no resource manager in between (the swtpm and mssim TCTIs, also wrapped in
 * pcap:) is shared by all its clients, and so are its three or so object slots: there a call
 * holds an exclusive flock on /run/lock/vaultfs-tpm-<FNV-1a 64 of the TCTI string without
 * "pcap:", 16 hex>.lock (in /tmp when /run/lock is not writable) from connect to close, waits
 * for it at most 10 s (then -EBUSY), and under it first flushes every transient object and
 * loaded session, which can then only be leftovers of a killed client. A lock file not owned by
 * our euid, or one that cannot be opened, is not used: the call goes on unlocked. TPM answers
 * that mean "busy, try again" (out of object or session memory, RETRY, YIELDED, TESTING, a
 * handle flushed under us, ...) become -EAGAIN, and a whole call is tried up to 5 times, 20 to
 * 160 ms apart, before it returns -EBUSY. The TSS libraries log errors to stderr on their own:
 * callers that want them quiet set TSS2_LOG=all+NONE (this module does not touch the
 * environment). */
#include "core/tpm-int.h"

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
int tss_errno(TSS2_RC rc, bool blob, const char *call)
{
	int r = tss_code_errno(rc, blob);

	if (r == -TPM_ELOCKOUT)
		return log_foreign(r, "tss2",
				   "%s: %s; clear it with `tpm2_dictionarylockout "
				   "--clear-lockout` (or wait)",
				   call, Tss2_RC_Decode(rc));
	if (r < 0)
		log_foreign(r, "tss2", "%s: %s", call, Tss2_RC_Decode(rc));
	return r;
}

void tpm_flush(ESYS_CONTEXT *esys, ESYS_TR *handle)
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

void sleep_ms(unsigned ms)
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

	deadline = (uint64_t)clock_ms(CLOCK_MONOTONIC) + TPM_LOCK_WAIT_MS;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			/* No flock here (ENOLCK): go on unlocked, as without a lock file. */
			*ret_fd = -1;
			return 0;
		}
		if ((uint64_t)clock_ms(CLOCK_MONOTONIC) >= deadline)
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

void tpm_conn_close(struct tpm_conn *c)
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
int tpm_conn_open(struct tpm_conn *c, const char *tcti, bool v1)
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
				ESYS_TR_NONE, &sensitive, &template, &outside, &creation_pcrs,
				&c->primary, NULL, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		c->primary = ESYS_TR_NONE;
		return tss_errno(rc, false, "Esys_CreatePrimary");
	}
	return 0;
}

/* Start a session salted to the primary key (the salt is encrypted to it, so the session key is
 * unknown to anyone on the bus) with AES-128-CFB parameter encryption in the given direction. */
int tpm_start_salted(struct tpm_conn *c, TPM2_SE type, TPMA_SESSION crypt, ESYS_TR *ret_session)
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

/* The pause after try number i (0-based) of TPM_TRIES. */
unsigned backoff_ms(unsigned i)
{
	return TPM_BACKOFF_MS << i;
}

/* The end of a retried operation after try i: a success after "busy" answers drops the words
 * of the last busy answer (they would end an unrelated error line); after the last try they
 * stay, and tell what kept the TPM busy. */
int busy_done(int r, unsigned i)
{
	if (r >= 0 && i > 0)
		log_foreign_clear();
	return r;
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
