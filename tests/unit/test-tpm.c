/* test-tpm.c: unit tests for core/tpm.c against a real software TPM. Run it under
 * tests/lib/with-swtpm, which starts a private swtpm and names it in VAULTFS_TEST_TCTI: seal and
 * unseal round trips (exact bytes), argument refusals, blobs truncated at every length and with
 * every byte flipped (always -EBADMSG, never a crash: each candidate is a heap copy of exactly
 * its length, so ASan sees any over-read), PCR 16 binding (unseal, extend -> -EPERM, reset ->
 * unseal again), an unreachable TPM (-ENODEV), a bus capture through the pcap TCTI (the secret
 * never crosses in the clear), a second swtpm (a foreign blob is -EBADMSG), tpm_parse_pcrs, and
 * the sharing of a TPM without a resource manager: concurrent clients (forked and threads), the
 * leftovers of a killed client (flushed), the lock (a holder makes us wait, then -EBUSY; a lock
 * file not ours or a symlink is not used) and the retries (a TPM kept full is -EBUSY); noDA on
 * what is sealed, blobs from before noDA (made by tpm-legacy.h) still unsealed, a DA lockout
 * (-TPM_ELOCKOUT for those only, TSS2's words kept), and the NV counters. The test drives
 * PCR 16, fills the TPM and forces the lockout itself through ESAPI. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/secbuf.h"
#include "core/tpm.h"
#include "core/util.h"

#define UNREACHABLE_TCTI "swtpm:host=127.0.0.1,port=1"
#define HEADER_LEN 10u
#define PCR_DEBUG 16u
/* TPM2_TRANSIENT_FIRST: the header's macro shifts a signed int into its sign bit, which UBSan
 * reports when it is evaluated at run time. */
#define HANDLES_TRANSIENT UINT32_C(0x80000000)
#define CONCURRENT_CHILDREN 6
#define CONCURRENT_THREADS 2
#define CONCURRENT_ROUNDS 8

#include "tests/unit/tpm-legacy.h"

static const char *test_tcti(void)
{
	const char *t = getenv("VAULTFS_TEST_TCTI");

	if (!t || !*t)
		fail_msg("VAULTFS_TEST_TCTI is not set: run under tests/lib/with-swtpm");
	return t;
}

static void random_bytes(uint8_t *p, size_t n)
{
	assert_int_equal(getrandom(p, n, 0), (ssize_t)n);
}

static void seal_ok(const char *tcti, uint32_t mask, const uint8_t *secret, size_t n,
		    uint8_t **ret_blob, size_t *ret_len)
{
	uint8_t *blob = NULL;
	size_t len = 0;

	assert_int_equal(tpm_seal(tcti, mask, secret, n, &blob, &len), 0);
	assert_non_null(blob);
	assert_in_range(len, HEADER_LEN + 4, VAULTFS_SEALED_MAX);
	assert_memory_equal(blob, "VFTPM2", 6);
	assert_int_equal(tpm_blob_da_protected(blob, len), 0);
	assert_int_equal(blob[6], mask & 0xff);
	assert_int_equal(blob[7], (mask >> 8) & 0xff);
	assert_int_equal(blob[8], (mask >> 16) & 0xff);
	assert_int_equal(blob[9], (mask >> 24) & 0xff);
	*ret_blob = blob;
	*ret_len = len;
}

static void unseal_equals(const char *tcti, const uint8_t *blob, size_t len, const uint8_t *secret,
			  size_t n)
{
	struct secbuf *sb = NULL;

	assert_int_equal(tpm_unseal(tcti, blob, len, &sb), 0);
	assert_non_null(sb);
	assert_int_equal(sb->len, n);
	assert_memory_equal(sb->data, secret, n);
	secbuf_free(sb);
}

/* Unseal a heap copy of exactly len bytes of p and expect the error r; *ret stays untouched. */
static int unseal_copy(const char *tcti, const uint8_t *p, size_t len)
{
	struct secbuf sentinel = {};
	struct secbuf *sb = &sentinel;
	uint8_t *copy;
	int r;

	copy = malloc(len ? len : 1);
	assert_non_null(copy);
	if (len)
		memcpy(copy, p, len);
	r = tpm_unseal(tcti, copy, len, &sb);
	free(copy);
	if (r == 0)
		secbuf_free(sb);
	else
		assert_ptr_equal(sb, &sentinel);
	return r;
}

/* Flip each byte in [from, to) of the blob with each of the masks: every result is r. */
static void check_flips(const char *tcti, const uint8_t *blob, size_t len, size_t from, size_t to,
			int r)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	uint8_t *m = malloc(len);

	assert_non_null(m);
	for (size_t i = from; i < to; i++)
		for (size_t k = 0; k < ELEMENTSOF(masks); k++) {
			int got;

			memcpy(m, blob, len);
			m[i] ^= masks[k];
			got = unseal_copy(tcti, m, len);
			if (got != r)
				fail_msg("byte %zu ^ 0x%02x: got %d, expected %d", i, masks[k], got,
					 r);
		}
	free(m);
}

/* A direct ESAPI link for the test's own TPM commands. */
struct esys_link {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
};

static void esys_link_open(const char *tcti, struct esys_link *l)
{
	TSS2_RC rc;

	*l = (struct esys_link){};
	rc = Tss2_TctiLdr_Initialize(tcti, &l->tcti);
	assert_int_equal(rc, TSS2_RC_SUCCESS);
	rc = Esys_Initialize(&l->esys, l->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS)
		Tss2_TctiLdr_Finalize(&l->tcti);
	assert_int_equal(rc, TSS2_RC_SUCCESS);
}

/* Close before asserting anything: swtpm serves one client, a leaked link would hang the rest. */
static void esys_link_close(struct esys_link *l)
{
	Esys_Finalize(&l->esys);
	Tss2_TctiLdr_Finalize(&l->tcti);
}

/* PCR 16 (the debug PCR, resettable from locality 0): reset it, or extend it once. */
static void pcr_debug(const char *tcti, bool extend)
{
	TPML_DIGEST_VALUES d = {
		.count = 1,
		.digests[0].hashAlg = TPM2_ALG_SHA256,
	};
	struct esys_link l;
	TSS2_RC rc;

	memset(d.digests[0].digest.sha256, 0x5a, sizeof(d.digests[0].digest.sha256));
	esys_link_open(tcti, &l);
	if (extend)
		rc = Esys_PCR_Extend(l.esys, ESYS_TR_PCR0 + PCR_DEBUG, ESYS_TR_PASSWORD,
				     ESYS_TR_NONE, ESYS_TR_NONE, &d);
	else
		rc = Esys_PCR_Reset(l.esys, ESYS_TR_PCR0 + PCR_DEBUG, ESYS_TR_PASSWORD,
				    ESYS_TR_NONE, ESYS_TR_NONE);
	esys_link_close(&l);
	assert_int_equal(rc, TSS2_RC_SUCCESS);
}

/* swtpm has no resource manager: whatever tpm.c forgot to flush stays loaded. After every test
 * that ends in failures, no transient object and no session may be left. */
static void assert_tpm_clean(const char *tcti)
{
	static const TPM2_HANDLE kinds[] = {
		TPM2_TRANSIENT_FIRST,
		TPM2_HMAC_SESSION_FIRST,
		TPM2_POLICY_SESSION_FIRST,
	};
	struct esys_link l;

	esys_link_open(tcti, &l);
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
		TPMS_CAPABILITY_DATA *data = NULL;
		TPMI_YES_NO more = TPM2_NO;
		uint32_t count = UINT32_MAX;
		TSS2_RC rc;

		rc = Esys_GetCapability(l.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_HANDLES, kinds[i], TPM2_MAX_CAP_HANDLES, &more,
					&data);
		if (rc == TSS2_RC_SUCCESS)
			count = data->data.handles.count;
		Esys_Free(data);
		if (rc != TSS2_RC_SUCCESS || count != 0) {
			esys_link_close(&l);
			fail_msg("handles 0x%08x: rc 0x%08x, %u left in the TPM", kinds[i], rc,
				 count);
		}
	}
	esys_link_close(&l);
}

/* How many handles of the kind of first the TPM holds. */
static uint32_t tpm_handle_count(const char *tcti, TPM2_HANDLE first)
{
	TPMS_CAPABILITY_DATA *data = NULL;
	TPMI_YES_NO more = TPM2_NO;
	uint32_t count = UINT32_MAX;
	struct esys_link l;
	TSS2_RC rc;

	esys_link_open(tcti, &l);
	rc = Esys_GetCapability(l.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
				first, TPM2_MAX_CAP_HANDLES, &more, &data);
	if (rc == TSS2_RC_SUCCESS)
		count = data->data.handles.count;
	Esys_Free(data);
	esys_link_close(&l);
	assert_int_equal(rc, TSS2_RC_SUCCESS);
	return count;
}

/* A cheap primary (an HMAC key) to take up object slots with. */
static const TPM2B_PUBLIC filler_template = {
	.publicArea = {
		.type = TPM2_ALG_KEYEDHASH,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT |
				    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				    TPMA_OBJECT_SENSITIVEDATAORIGIN,
		.parameters.keyedHashDetail.scheme = {
			.scheme = TPM2_ALG_HMAC,
			.details.hmac.hashAlg = TPM2_ALG_SHA256,
		},
	},
};

#define FILL_MAX 16

/* Create primaries until the TPM has no object slot left. Returns how many it took (their
 * ESYS_TRs in tr), or -1 when something other than TPM2_RC_OBJECT_MEMORY stopped it. */
static int fill_objects(ESYS_CONTEXT *esys, ESYS_TR tr[FILL_MAX])
{
	static const TPM2B_SENSITIVE_CREATE sensitive = {};
	static const TPM2B_DATA outside = {};
	static const TPML_PCR_SELECTION pcrs = {};

	for (int i = 0; i < FILL_MAX; i++) {
		TSS2_RC rc;

		rc = Esys_CreatePrimary(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					ESYS_TR_NONE, &sensitive, &filler_template, &outside, &pcrs,
					&tr[i], NULL, NULL, NULL, NULL);
		if (rc == TPM2_RC_OBJECT_MEMORY)
			return i;
		if (rc != TSS2_RC_SUCCESS)
			return -1;
	}
	return -1;
}

/* A client killed in mid-operation, as the TPM sees it: a child starts an HMAC and a policy
 * session, fills every object slot, then _exit()s without flushing or finalizing anything.
 * Returns how many objects it left. */
static int leave_leftovers(const char *tcti)
{
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static const TPMT_SYM_DEF none = { .algorithm = TPM2_ALG_NULL };
		TSS2_TCTI_CONTEXT *t = NULL;
		ESYS_CONTEXT *e = NULL;
		ESYS_TR tr[FILL_MAX], s1, s2;
		int n;

		if (Tss2_TctiLdr_Initialize(tcti, &t) != TSS2_RC_SUCCESS ||
		    Esys_Initialize(&e, t, NULL) != TSS2_RC_SUCCESS)
			_exit(100);
		if (Esys_StartAuthSession(e, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					  ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &none, TPM2_ALG_SHA256,
					  &s1) != TSS2_RC_SUCCESS ||
		    Esys_StartAuthSession(e, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					  ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &none,
					  TPM2_ALG_SHA256, &s2) != TSS2_RC_SUCCESS)
			_exit(101);
		n = fill_objects(e, tr);
		_exit(n < 1 ? 102 : n);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_in_range(WEXITSTATUS(status), 1, FILL_MAX - 1);
	return WEXITSTATUS(status);
}

/* The lock file tpm.c takes for tcti (see its top comment): FNV-1a 64 of the TCTI string. False
 * if it does not fit in buf. */
static bool lock_path(const char *tcti, char *buf, size_t size)
{
	const char *dir = access("/run/lock", W_OK) == 0 ? "/run/lock" : "/tmp";
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	int k;

	for (const char *p = tcti; *p; p++) {
		h ^= (uint8_t)*p;
		h *= UINT64_C(0x100000001b3);
	}
	k = snprintf(buf, size, "%s/vaultfs-tpm-%016" PRIx64 ".lock", dir, h);
	return k > 0 && (size_t)k < size;
}

/* Nobody uses a stopped swtpm's lock any more: leave no file behind. */
static void lock_remove(const char *tcti)
{
	char path[128];

	if (lock_path(tcti, path, sizeof(path)))
		(void)unlink(path);
}

/* One client of the TPM: CONCURRENT_ROUNDS unseals of a blob, then a seal and unseal of its
 * own, counting whatever failed or came back wrong. */
struct worker {
	const char *tcti;
	const uint8_t *blob;
	size_t len;
	const uint8_t *secret;
	size_t n;
	int failures;
};

static bool unseal_matches(const char *tcti, const uint8_t *blob, size_t len, const uint8_t *secret,
			   size_t n)
{
	struct secbuf *sb = NULL;
	bool ok;

	ok = tpm_unseal(tcti, blob, len, &sb) == 0 && sb->len == n &&
	     memcmp(sb->data, secret, n) == 0;
	secbuf_free(sb);
	return ok;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint8_t *blob = NULL;
	size_t len = 0;

	for (int i = 0; i < CONCURRENT_ROUNDS; i++)
		if (!unseal_matches(w->tcti, w->blob, w->len, w->secret, w->n))
			w->failures++;
	if (tpm_seal(w->tcti, 0, w->secret, w->n, &blob, &len) != 0)
		w->failures++;
	else if (!unseal_matches(w->tcti, blob, len, w->secret, w->n))
		w->failures++;
	free(blob);
	return NULL;
}

static void test_roundtrip(void **state)
{
	static const size_t sizes[] = { 32, 1, 64, 17 };
	const char *tcti = test_tcti();

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
		uint8_t secret[TPM_SECRET_MAX];
		uint8_t *a, *b;
		size_t alen, blen;

		random_bytes(secret, sizes[i]);
		seal_ok(tcti, 0, secret, sizes[i], &a, &alen);
		seal_ok(tcti, 0, secret, sizes[i], &b, &blen);
		/* A fresh object each time: same secret, different blobs. */
		assert_true(alen != blen || memcmp(a, b, alen) != 0);
		unseal_equals(tcti, a, alen, secret, sizes[i]);
		unseal_equals(tcti, b, blen, secret, sizes[i]);
		/* Unsealing twice works: the blob is not consumed. */
		unseal_equals(tcti, a, alen, secret, sizes[i]);
		free(a);
		free(b);
	}
	assert_tpm_clean(tcti);
}

static void test_seal_refusals(void **state)
{
	const char *tcti = test_tcti();
	uint8_t secret[TPM_SECRET_MAX + 1] = { 1, 2, 3 };
	uint8_t sentinel = 0;
	uint8_t *blob = &sentinel;
	size_t len = 12345;

	(void)state;
	assert_int_equal(tpm_seal(tcti, 0, secret, 0, &blob, &len), -EINVAL);
	assert_int_equal(tpm_seal(tcti, 0, secret, TPM_SECRET_MAX + 1, &blob, &len), -EINVAL);
	assert_int_equal(tpm_seal(tcti, 0, secret, SIZE_MAX, &blob, &len), -EINVAL);
	assert_int_equal(tpm_seal(tcti, 0, NULL, 32, &blob, &len), -EINVAL);
	assert_int_equal(tpm_seal(NULL, 0, secret, 32, &blob, &len), -EINVAL);
	assert_int_equal(tpm_seal("", 0, secret, 32, &blob, &len), -EINVAL);
	assert_int_equal(tpm_seal(tcti, UINT32_C(1) << 24, secret, 32, &blob, &len), -EINVAL);
	assert_int_equal(tpm_seal(tcti, UINT32_MAX, secret, 32, &blob, &len), -EINVAL);
	assert_ptr_equal(blob, &sentinel);
	assert_int_equal(len, 12345);
	assert_int_equal(tpm_seal(tcti, 0, secret, 32, NULL, &len), -EINVAL);
	assert_int_equal(tpm_seal(tcti, 0, secret, 32, &blob, NULL), -EINVAL);
	assert_ptr_equal(blob, &sentinel);
}

static void test_unseal_refusals(void **state)
{
	const char *tcti = test_tcti();
	uint8_t secret[32];
	struct secbuf *sb = NULL;
	uint8_t *blob;
	size_t len;

	(void)state;
	random_bytes(secret, sizeof(secret));
	seal_ok(tcti, 0, secret, sizeof(secret), &blob, &len);
	assert_int_equal(tpm_unseal(NULL, blob, len, &sb), -EINVAL);
	assert_int_equal(tpm_unseal("", blob, len, &sb), -EINVAL);
	assert_int_equal(tpm_unseal(tcti, NULL, len, &sb), -EINVAL);
	assert_int_equal(tpm_unseal(tcti, blob, len, NULL), -EINVAL);
	assert_null(sb);
	free(blob);
}

static void test_unseal_truncated(void **state)
{
	const char *tcti = test_tcti();
	uint8_t secret[TPM_SECRET_MAX];
	uint8_t *blob, *big;
	size_t len;

	(void)state;
	random_bytes(secret, sizeof(secret));
	seal_ok(tcti, 0, secret, sizeof(secret), &blob, &len);

	for (size_t l = 0; l < len; l++)
		if (unseal_copy(tcti, blob, l) != -EBADMSG)
			fail_msg("blob cut to %zu of %zu bytes was not -EBADMSG", l, len);

	/* Trailing bytes, and anything over the cap even when it starts with a good blob. */
	big = calloc(1, VAULTFS_SEALED_MAX + 1);
	assert_non_null(big);
	memcpy(big, blob, len);
	assert_int_equal(unseal_copy(tcti, big, len + 1), -EBADMSG);
	assert_int_equal(unseal_copy(tcti, big, VAULTFS_SEALED_MAX + 1), -EBADMSG);
	free(big);

	/* The intact blob still unseals: the failures above were about the cuts. */
	unseal_equals(tcti, blob, len, secret, sizeof(secret));
	free(blob);
	assert_tpm_clean(tcti);
}

static void test_unseal_bad_magic(void **state)
{
	const char *tcti = test_tcti();
	uint8_t secret[32];
	uint8_t *blob;
	size_t len;

	(void)state;
	random_bytes(secret, sizeof(secret));
	seal_ok(tcti, 0, secret, sizeof(secret), &blob, &len);
	check_flips(tcti, blob, len, 0, 6, -EBADMSG);

	/* Another version of the format; and version 1, whose objects have no noDA. */
	blob[5] = '3';
	assert_int_equal(unseal_copy(tcti, blob, len), -EBADMSG);
	blob[5] = '1';
	assert_int_equal(unseal_copy(tcti, blob, len), -EBADMSG);
	assert_int_equal(tpm_blob_da_protected(blob, len), -EBADMSG);
	blob[5] = '2';
	unseal_equals(tcti, blob, len, secret, sizeof(secret));
	free(blob);
	assert_tpm_clean(tcti);
}

static void test_unseal_flipped(void **state)
{
	const char *tcti = test_tcti();
	uint8_t secret[32];
	uint8_t *blob;
	size_t len;

	(void)state;
	random_bytes(secret, sizeof(secret));
	seal_ok(tcti, 0, secret, sizeof(secret), &blob, &len);
	/* The PCR mask, the public area and the private area: every byte of each. */
	check_flips(tcti, blob, len, 6, len, -EBADMSG);
	unseal_equals(tcti, blob, len, secret, sizeof(secret));
	free(blob);
	assert_tpm_clean(tcti);
}

static void test_pcr_bound(void **state)
{
	const char *tcti = test_tcti();
	const uint32_t mask = UINT32_C(1) << PCR_DEBUG;
	uint8_t secret[32], other[32];
	uint8_t *blob, *unbound;
	size_t len, unbound_len;

	(void)state;
	random_bytes(secret, sizeof(secret));
	random_bytes(other, sizeof(other));
	pcr_debug(tcti, false);
	seal_ok(tcti, mask, secret, sizeof(secret), &blob, &len);
	seal_ok(tcti, 0, other, sizeof(other), &unbound, &unbound_len);
	unseal_equals(tcti, blob, len, secret, sizeof(secret));

	/* Public and private areas: every byte flipped is -EBADMSG, as without a policy. */
	check_flips(tcti, blob, len, HEADER_LEN, len, -EBADMSG);

	/* The mask: no PCRs (the object has a policy), or a PCR over 23, is malformed; another
	 * valid set of PCRs is a different policy, which the TPM reports as not satisfied. */
	blob[8] = 0;
	assert_int_equal(unseal_copy(tcti, blob, len), -EBADMSG);
	blob[8] = 0x01;
	blob[9] = 0x01;
	assert_int_equal(unseal_copy(tcti, blob, len), -EBADMSG);
	blob[9] = 0;
	blob[8] = 0x02;
	assert_int_equal(unseal_copy(tcti, blob, len), -EPERM);
	blob[8] = 0x01;
	blob[6] = 0x80;
	assert_int_equal(unseal_copy(tcti, blob, len), -EPERM);
	blob[6] = 0;
	unseal_equals(tcti, blob, len, secret, sizeof(secret));

	/* Extend the PCR: the policy no longer holds. The unbound blob does not care. */
	pcr_debug(tcti, true);
	assert_int_equal(unseal_copy(tcti, blob, len), -EPERM);
	assert_int_equal(unseal_copy(tcti, blob, len), -EPERM);
	unseal_equals(tcti, unbound, unbound_len, other, sizeof(other));

	/* Sealing now binds to the new value; resetting brings the first blob back. */
	{
		uint8_t *now;
		size_t now_len;

		seal_ok(tcti, mask, other, sizeof(other), &now, &now_len);
		unseal_equals(tcti, now, now_len, other, sizeof(other));
		pcr_debug(tcti, false);
		assert_int_equal(unseal_copy(tcti, now, now_len), -EPERM);
		free(now);
	}
	unseal_equals(tcti, blob, len, secret, sizeof(secret));

	/* Several PCRs, one of which changes. */
	{
		uint8_t *multi;
		size_t multi_len;

		seal_ok(tcti, mask | (UINT32_C(1) << 0) | (UINT32_C(1) << 7), secret,
			sizeof(secret), &multi, &multi_len);
		unseal_equals(tcti, multi, multi_len, secret, sizeof(secret));
		pcr_debug(tcti, true);
		assert_int_equal(unseal_copy(tcti, multi, multi_len), -EPERM);
		pcr_debug(tcti, false);
		unseal_equals(tcti, multi, multi_len, secret, sizeof(secret));
		free(multi);
	}
	free(unbound);
	free(blob);
	assert_tpm_clean(tcti);
}

static void test_unreachable(void **state)
{
	static const char *const bad[] = {
		UNREACHABLE_TCTI,
		"swtpm:host=127.0.0.1,port=notaport",
		"no-such-tcti-vaultfs",
	};
	const char *tcti = test_tcti();
	uint8_t secret[32] = { 7 };
	uint8_t *blob;
	size_t len;

	(void)state;
	seal_ok(tcti, 0, secret, sizeof(secret), &blob, &len);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		uint8_t sentinel = 0;
		uint8_t *b = &sentinel;
		size_t l = 99;

		assert_int_equal(tpm_seal(bad[i], 0, secret, sizeof(secret), &b, &l), -ENODEV);
		assert_ptr_equal(b, &sentinel);
		assert_int_equal(l, 99);
		assert_int_equal(unseal_copy(bad[i], blob, len), -ENODEV);
	}
	/* TSS2's own words are kept for the error line at the edge. */
	log_foreign_clear();
	assert_int_equal(unseal_copy(UNREACHABLE_TCTI, blob, len), -ENODEV);
	assert_non_null(strstr(log_foreign_last(), "tss2: Tss2_TctiLdr_Initialize: "));
	assert_non_null(strstr(log_foreign_last(), "tcti:"));
	log_foreign_clear();
	/* A malformed blob is refused before any connection is tried. */
	assert_int_equal(unseal_copy(UNREACHABLE_TCTI, blob, len - 1), -EBADMSG);
	/* And the real TPM is still served: nothing above left a connection open. */
	unseal_equals(tcti, blob, len, secret, sizeof(secret));
	free(blob);
	assert_tpm_clean(tcti);
}

/* Does the file at path contain any 8-byte window of p? */
static bool file_contains_window(const char *path, const uint8_t *p, size_t n, size_t *ret_size)
{
	uint8_t buf[1 << 16];
	size_t size;
	bool found = false;
	FILE *f = fopen(path, "re");

	assert_non_null(f);
	size = fread(buf, 1, sizeof(buf), f);
	assert_int_equal(ferror(f), 0);
	assert_true(feof(f));
	fclose(f);
	for (size_t i = 0; i + 8 <= n && !found; i++)
		found = memmem(buf, size, p + i, 8) != NULL;
	*ret_size = size;
	return found;
}

/* Seal and unseal through the pcap TCTI, which records every command and response: the secret
 * never appears on the bus, while the blob's private area (sent to TPM2_Load in the clear) does,
 * which shows the capture sees the payloads. */
static void test_bus_encrypted(void **state)
{
	const char *tcti = test_tcti();
	const uint32_t masks[] = { 0, UINT32_C(1) << PCR_DEBUG };
	char dir[] = "/tmp/test-tpm.XXXXXX";
	char path[64], pcap[512];
	uint8_t secret[TPM_SECRET_MAX];

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_in_range(snprintf(path, sizeof(path), "%s/bus.pcap", dir), 1, sizeof(path) - 1);
	assert_in_range(snprintf(pcap, sizeof(pcap), "pcap:%s", tcti), 1, sizeof(pcap) - 1);
	pcr_debug(tcti, false);

	for (size_t i = 0; i < ELEMENTSOF(masks); i++) {
		uint8_t *blob;
		size_t len, size;

		random_bytes(secret, sizeof(secret));
		assert_int_equal(setenv("TCTI_PCAP_FILE", path, 1), 0);
		seal_ok(pcap, masks[i], secret, sizeof(secret), &blob, &len);
		unseal_equals(pcap, blob, len, secret, sizeof(secret));
		assert_int_equal(unsetenv("TCTI_PCAP_FILE"), 0);

		assert_false(file_contains_window(path, secret, sizeof(secret), &size));
		assert_true(size > 1000);
		assert_true(file_contains_window(path, blob + len - 40, 40, &size));
		assert_int_equal(unlink(path), 0);
		free(blob);
	}
	assert_int_equal(rmdir(dir), 0);
	assert_tpm_clean(tcti);
}

/* A second swtpm: tests/lib/with-swtpm running "print the TCTI, then wait for EOF on stdin".
 * Closing our end of its stdin makes it stop the swtpm and clean up, also if we crash. */
struct other_tpm {
	pid_t pid;
	int fd;
	char tcti[256];
};

static void other_tpm_start(struct other_tpm *o)
{
	const char *with = getenv("VAULTFS_TEST_WITH_SWTPM");
	int in[2], out[2];
	size_t n = 0;

	if (!with || !*with)
		with = "tests/lib/with-swtpm";
	if (access(with, X_OK) < 0)
		fail_msg("cannot run '%s' to start a second swtpm", with);

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	o->pid = fork();
	assert_true(o->pid >= 0);
	if (o->pid == 0) {
		if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0)
			_exit(127);
		execl(with, with, "/bin/sh", "-c",
		      "printf '%s\\n' \"$VAULTFS_TEST_TCTI\"; exec cat >/dev/null", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	o->fd = in[1];

	while (n < sizeof(o->tcti) - 1) {
		ssize_t k = read(out[0], o->tcti + n, 1);

		if (k <= 0 || o->tcti[n] == '\n')
			break;
		n++;
	}
	o->tcti[n] = '\0';
	close(out[0]);
	if (strncmp(o->tcti, "swtpm:", 6) != 0)
		fail_msg("second swtpm did not start (got '%s')", o->tcti);
}

static void other_tpm_stop(struct other_tpm *o)
{
	int status;

	close(o->fd);
	assert_int_equal(waitpid(o->pid, &status, 0), o->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_other_tpm(void **state)
{
	const char *tcti = test_tcti();
	struct other_tpm o = {};
	uint8_t secret[32];
	uint8_t *a, *b, *pa;
	size_t alen, blen, palen;

	(void)state;
	random_bytes(secret, sizeof(secret));
	other_tpm_start(&o);
	assert_string_not_equal(o.tcti, tcti);

	seal_ok(tcti, 0, secret, sizeof(secret), &a, &alen);
	seal_ok(tcti, UINT32_C(1) << 7, secret, sizeof(secret), &pa, &palen);
	seal_ok(o.tcti, 0, secret, sizeof(secret), &b, &blen);
	assert_int_equal(unseal_copy(o.tcti, a, alen), -EBADMSG);
	assert_int_equal(unseal_copy(o.tcti, pa, palen), -EBADMSG);
	assert_int_equal(unseal_copy(tcti, b, blen), -EBADMSG);
	unseal_equals(tcti, a, alen, secret, sizeof(secret));
	unseal_equals(tcti, pa, palen, secret, sizeof(secret));
	unseal_equals(o.tcti, b, blen, secret, sizeof(secret));

	assert_tpm_clean(o.tcti);
	other_tpm_stop(&o);
	lock_remove(o.tcti);
	free(a);
	free(pa);
	free(b);
	assert_tpm_clean(tcti);
}

/* Six processes and two threads use one swtpm at once, as offline vaultctls and the daemon do:
 * every unseal and seal succeeds with the right bytes, and nothing is left in the TPM. */
static void test_concurrent(void **state)
{
	const char *tcti = test_tcti();
	pid_t pids[CONCURRENT_CHILDREN];
	pthread_t th[CONCURRENT_THREADS];
	struct worker w[CONCURRENT_THREADS];
	uint8_t secret[32];
	uint8_t *blob;
	size_t len;

	(void)state;
	random_bytes(secret, sizeof(secret));
	seal_ok(tcti, 0, secret, sizeof(secret), &blob, &len);

	for (int i = 0; i < CONCURRENT_CHILDREN; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct worker cw = { tcti, blob, len, secret, sizeof(secret), 0 };

			worker_run(&cw);
			_exit(cw.failures > 100 ? 100 : cw.failures);
		}
	}
	for (int i = 0; i < CONCURRENT_THREADS; i++) {
		w[i] = (struct worker){ tcti, blob, len, secret, sizeof(secret), 0 };
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < CONCURRENT_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < CONCURRENT_CHILDREN; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) != 0)
			fail_msg("child %d: %d of %d operations failed", i, WEXITSTATUS(status),
				 CONCURRENT_ROUNDS + 2);
	}
	for (int i = 0; i < CONCURRENT_THREADS; i++)
		if (w[i].failures != 0)
			fail_msg("thread %d: %d of %d operations failed", i, w[i].failures,
				 CONCURRENT_ROUNDS + 2);
	free(blob);
	assert_tpm_clean(tcti);
}

/* A killed client left every object slot taken and two sessions loaded: the next unseal, and
 * the next seal (with a PCR policy: a trial session too), flush them first and work. */
static void test_leftovers(void **state)
{
	const char *tcti = test_tcti();
	const uint32_t mask = UINT32_C(1) << PCR_DEBUG;
	uint8_t secret[32];
	uint8_t *blob, *bound;
	size_t len, bound_len;
	int n;

	(void)state;
	random_bytes(secret, sizeof(secret));
	seal_ok(tcti, 0, secret, sizeof(secret), &blob, &len);

	n = leave_leftovers(tcti);
	assert_int_equal(tpm_handle_count(tcti, HANDLES_TRANSIENT), n);
	assert_int_equal(tpm_handle_count(tcti, TPM2_LOADED_SESSION_FIRST), 2);
	unseal_equals(tcti, blob, len, secret, sizeof(secret));
	assert_tpm_clean(tcti);

	pcr_debug(tcti, false);
	n = leave_leftovers(tcti);
	assert_int_equal(tpm_handle_count(tcti, HANDLES_TRANSIENT), n);
	seal_ok(tcti, mask, secret, sizeof(secret), &bound, &bound_len);
	assert_tpm_clean(tcti);
	unseal_equals(tcti, bound, bound_len, secret, sizeof(secret));
	free(bound);
	free(blob);
	assert_tpm_clean(tcti);
}

/* While another process holds the lock of a TCTI, calls on it (also through pcap:, which wraps
 * the same TPM) wait, then give up with -EBUSY and leave their out-parameters alone; a call on
 * another TCTI string is not held up. The lock file is a 0600 file of ours. */
static void test_lock_wait(void **state)
{
	const char *tcti = test_tcti();
	char path[128], pcap[512], pcap_file[] = "/tmp/test-tpm-pcap.XXXXXX";
	uint8_t secret[32];
	pid_t pids[3];
	struct stat st;
	uint8_t *blob;
	size_t len;
	int fd;

	(void)state;
	random_bytes(secret, sizeof(secret));
	seal_ok(tcti, 0, secret, sizeof(secret), &blob, &len);
	assert_true(lock_path(tcti, path, sizeof(path)));
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	assert_in_range(snprintf(pcap, sizeof(pcap), "pcap:%s", tcti), 1, sizeof(pcap) - 1);
	fd = mkstemp(pcap_file);
	assert_true(fd >= 0);
	close(fd);

	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	for (int i = 0; i < 3; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct secbuf sentinel = {};
			struct secbuf *sb = &sentinel;
			uint8_t byte = 0;
			uint8_t *b = &byte;
			size_t l = 99;
			int r;

			close(fd);
			if (i == 0) {
				r = tpm_unseal(tcti, blob, len, &sb);
			} else if (i == 1) {
				if (setenv("TCTI_PCAP_FILE", pcap_file, 1) < 0)
					_exit(90);
				r = tpm_unseal(pcap, blob, len, &sb);
			} else {
				r = tpm_seal(tcti, 0, secret, sizeof(secret), &b, &l);
			}
			_exit(r == -EBUSY && sb == &sentinel && b == &byte && l == 99 ? 0 : 1);
		}
	}
	assert_int_equal(unseal_copy(UNREACHABLE_TCTI, blob, len), -ENODEV);
	for (int i = 0; i < 3; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) != 0)
			fail_msg("call %d under a held lock was not -EBUSY", i);
	}
	close(fd);
	unseal_equals(tcti, blob, len, secret, sizeof(secret));
	unseal_equals(pcap, blob, len, secret, sizeof(secret));
	assert_int_equal(unlink(pcap_file), 0);
	free(blob);
	assert_tpm_clean(tcti);
}

/* A lock file that is not ours (another owner, or a symlink) is not used: holding it does not
 * hold us up. Unlocked, nothing is flushed for us either: while a live client keeps every object
 * slot, each try fails with TPM2_RC_OBJECT_MEMORY and after the last one the answer is -EBUSY. */
static void test_lock_not_ours(void **state)
{
	const char *tcti = test_tcti();
	char path[128], target[] = "/tmp/test-tpm-target.XXXXXX";
	uint8_t secret[32];
	uint8_t byte = 0;
	uint8_t *blob, *b = &byte;
	size_t len, l = 99;
	ESYS_TR tr[FILL_MAX];
	struct esys_link link;
	struct stat st;
	int fd, tfd, n, r_unseal, r_seal;

	(void)state;
	if (geteuid() != 0)
		skip();
	random_bytes(secret, sizeof(secret));
	seal_ok(tcti, 0, secret, sizeof(secret), &blob, &len);
	assert_true(lock_path(tcti, path, sizeof(path)));

	assert_int_equal(unlink(path), 0);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchown(fd, 65534, 65534), 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	unseal_equals(tcti, blob, len, secret, sizeof(secret));

	esys_link_open(tcti, &link);
	n = fill_objects(link.esys, tr);
	r_unseal = n > 0 ? unseal_copy(tcti, blob, len) : 0;
	r_seal = n > 0 ? tpm_seal(tcti, 0, secret, sizeof(secret), &b, &l) : 0;
	for (int i = 0; i < n; i++)
		(void)Esys_FlushContext(link.esys, tr[i]);
	esys_link_close(&link);
	assert_true(n > 0);
	assert_int_equal(r_unseal, -EBUSY);
	assert_int_equal(r_seal, -EBUSY);
	assert_ptr_equal(b, &byte);
	assert_int_equal(l, 99);
	close(fd);
	assert_int_equal(unlink(path), 0);

	tfd = mkstemp(target);
	assert_true(tfd >= 0);
	assert_int_equal(flock(tfd, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(symlink(target, path), 0);
	unseal_equals(tcti, blob, len, secret, sizeof(secret));
	assert_int_equal(fstat(tfd, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(unlink(path), 0);
	close(tfd);
	assert_int_equal(unlink(target), 0);

	/* The next call makes our own lock file again. */
	unseal_equals(tcti, blob, len, secret, sizeof(secret));
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_uid, geteuid());
	free(blob);
	assert_tpm_clean(tcti);
}

/* Sealed objects carry noDA (and so does their primary: the blob loads only under it); a blob
 * from before noDA ("VFTPM1") still unseals, and says it is DA-protected. */
static void test_noda(void **state)
{
	const char *tcti = test_tcti();
	uint8_t secret[32];
	uint8_t *blob, *old;
	size_t len, oldlen;

	(void)state;
	random_bytes(secret, sizeof(secret));
	seal_ok(tcti, 0, secret, sizeof(secret), &blob, &len);
	assert_true(legacy_blob_attrs(blob, len) & TPMA_OBJECT_NODA);
	free(blob);
	seal_ok(tcti, UINT32_C(1) << PCR_DEBUG, secret, sizeof(secret), &blob, &len);
	assert_true(legacy_blob_attrs(blob, len) & TPMA_OBJECT_NODA);
	free(blob);

	legacy_seal(tcti, secret, sizeof(secret), "", &old, &oldlen);
	assert_false(legacy_blob_attrs(old, oldlen) & TPMA_OBJECT_NODA);
	assert_int_equal(tpm_blob_da_protected(old, oldlen), 1);
	unseal_equals(tcti, old, oldlen, secret, sizeof(secret));
	/* The same object as version 2 is refused: its attributes say version 1. */
	old[5] = '2';
	assert_int_equal(unseal_copy(tcti, old, oldlen), -EBADMSG);
	old[5] = '1';
	check_flips(tcti, old, oldlen, HEADER_LEN, oldlen, -EBADMSG);
	free(old);
	assert_tpm_clean(tcti);
}

/* A TPM in dictionary-attack lockout: what we seal now is not concerned; a blob from before
 * noDA is refused with -TPM_ELOCKOUT, and TSS2's words plus the command that clears it are
 * kept for the error line. Cleared, it unseals again. */
static void test_lockout(void **state)
{
	const char *tcti = test_tcti();
	uint8_t secret[32];
	uint8_t *blob, *old;
	size_t len, oldlen;

	(void)state;
	random_bytes(secret, sizeof(secret));
	seal_ok(tcti, 0, secret, sizeof(secret), &blob, &len);
	legacy_seal(tcti, secret, sizeof(secret), "", &old, &oldlen);

	legacy_force_lockout(tcti);
	unseal_equals(tcti, blob, len, secret, sizeof(secret));
	log_foreign_clear();
	assert_int_equal(unseal_copy(tcti, old, oldlen), -TPM_ELOCKOUT);
	assert_non_null(strstr(log_foreign_last(), "tss2: Esys_Load: tpm:warn(2.0): "));
	assert_non_null(strstr(log_foreign_last(), "DA lockout mode"));
	assert_non_null(strstr(log_foreign_last(), "tpm2_dictionarylockout --clear-lockout"));
	log_foreign_clear();
	/* Sealing anew needs no DA-protected object either. */
	{
		uint8_t *b2;
		size_t l2;

		seal_ok(tcti, 0, secret, sizeof(secret), &b2, &l2);
		unseal_equals(tcti, b2, l2, secret, sizeof(secret));
		free(b2);
	}
	legacy_clear_lockout(tcti);
	unseal_equals(tcti, old, oldlen, secret, sizeof(secret));
	free(blob);
	free(old);
	assert_tpm_clean(tcti);
}

/* The NV index public area of handle h, through ESAPI. */
static TPMS_NV_PUBLIC nv_public(const char *tcti, uint32_t h)
{
	TPM2B_NV_PUBLIC *pub = NULL;
	TPMS_NV_PUBLIC p = {};
	struct esys_link l;
	ESYS_TR tr = ESYS_TR_NONE;
	TSS2_RC rc;

	esys_link_open(tcti, &l);
	rc = Esys_TR_FromTPMPublic(l.esys, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_NV_ReadPublic(l.esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
					NULL);
	if (rc == TSS2_RC_SUCCESS)
		p = pub->nvPublic;
	Esys_Free(pub);
	esys_link_close(&l);
	assert_int_equal(rc, TSS2_RC_SUCCESS);
	return p;
}

/* NV counters: none until created; then found again by its tag at the same handle, noDA, a
 * counter; +1 per increment; another tag that starts at the same handle gets the next one and
 * its own value; incremented during a DA lockout; removed and made again, it starts above
 * every value it had (the TPM's rule for new counters), so a remove is no rollback. */
static void test_counter(void **state)
{
	const char *tcti = test_tcti();
	uint8_t tag[TPM_NV_TAG_LEN], tag2[TPM_NV_TAG_LEN];
	uint32_t index, index2, again;
	uint64_t v, v2, w;
	TPMS_NV_PUBLIC p;

	(void)state;
	random_bytes(tag, sizeof(tag));
	memcpy(tag2, tag, sizeof(tag2));
	tag2[31] ^= 1; /* the same first handle, another counter */

	assert_int_equal(tpm_counter_read(tcti, tag, false, &index, &v), -ENOENT);
	assert_int_equal(tpm_counter_increment(tcti, tag, &v), -ENOENT);
	assert_int_equal(tpm_counter_remove(tcti, tag), -ENOENT);

	assert_int_equal(tpm_counter_read(tcti, tag, true, &index, &v), 0);
	assert_in_range(index, TPM_NV_COUNTER_FIRST,
			TPM_NV_COUNTER_FIRST + TPM_NV_COUNTER_SPAN - 1);
	p = nv_public(tcti, index);
	assert_int_equal((p.attributes & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT,
			 TPM2_NT_COUNTER);
	assert_true(p.attributes & TPMA_NV_NO_DA);
	assert_true(p.attributes & TPMA_NV_WRITTEN);
	assert_false(p.attributes & TPMA_NV_ORDERLY);
	assert_int_equal(p.authPolicy.size, TPM_NV_TAG_LEN);
	assert_memory_equal(p.authPolicy.buffer, tag, TPM_NV_TAG_LEN);

	assert_int_equal(tpm_counter_read(tcti, tag, false, &again, &w), 0);
	assert_int_equal(again, index);
	assert_true(w == v);
	assert_int_equal(tpm_counter_read(tcti, tag, true, &again, &w), 0);
	assert_int_equal(again, index);
	assert_true(w == v);
	assert_int_equal(tpm_counter_increment(tcti, tag, &w), 0);
	assert_true(w == v + 1);
	assert_int_equal(tpm_counter_increment(tcti, tag, &w), 0);
	assert_true(w == v + 2);
	assert_int_equal(tpm_counter_read(tcti, tag, false, NULL, &w), 0);
	assert_true(w == v + 2);

	assert_int_equal(tpm_counter_read(tcti, tag2, false, &index2, &v2), -ENOENT);
	assert_int_equal(tpm_counter_read(tcti, tag2, true, &index2, &v2), 0);
	assert_int_not_equal(index2, index);
	assert_int_equal(tpm_counter_increment(tcti, tag2, &w), 0);
	assert_true(w == v2 + 1);
	assert_int_equal(tpm_counter_read(tcti, tag, false, NULL, &w), 0);
	assert_true(w == v + 2);

	/* noDA: a lockout does not stop it */
	legacy_force_lockout(tcti);
	assert_int_equal(tpm_counter_increment(tcti, tag, &w), 0);
	assert_true(w == v + 3);
	legacy_clear_lockout(tcti);

	/* removed: gone; tag2, past its handle, is still found; made again, it is no lower */
	assert_int_equal(tpm_counter_remove(tcti, tag), 0);
	assert_int_equal(tpm_counter_read(tcti, tag, false, &again, &w), -ENOENT);
	assert_int_equal(tpm_counter_read(tcti, tag2, false, &again, &w), 0);
	assert_int_equal(again, index2);
	assert_int_equal(tpm_counter_read(tcti, tag, true, &again, &w), 0);
	assert_int_equal(again, index);
	assert_true(w >= v + 3);
	assert_int_equal(tpm_counter_remove(tcti, tag), 0);
	assert_int_equal(tpm_counter_remove(tcti, tag2), 0);

	/* arguments; an unreachable TPM */
	assert_int_equal(tpm_counter_read(NULL, tag, true, &index, &w), -EINVAL);
	assert_int_equal(tpm_counter_read(tcti, NULL, true, &index, &w), -EINVAL);
	assert_int_equal(tpm_counter_read(tcti, tag, true, &index, NULL), -EINVAL);
	assert_int_equal(tpm_counter_increment(UNREACHABLE_TCTI, tag, &w), -ENODEV);
	log_foreign_clear();
	assert_tpm_clean(tcti);
}

static void test_parse_pcrs(void **state)
{
	static const struct {
		const char *s;
		uint32_t mask;
	} good[] = {
		{ "", 0 },
		{ "0", UINT32_C(1) << 0 },
		{ "7", UINT32_C(1) << 7 },
		{ "0,7,14", (UINT32_C(1) << 0) | (UINT32_C(1) << 7) | (UINT32_C(1) << 14) },
		{ "23", UINT32_C(1) << 23 },
		{ "16,10", (UINT32_C(1) << 16) | (UINT32_C(1) << 10) },
		{ "7,7", UINT32_C(1) << 7 },
		{ "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23", 0xffffff },
	};
	static const char *const bad[] = {
		"24", "99", "100", "-1",  "+7", " 7", "7 ",  "7,",  ",7",	  "7,,8",
		",",  "a",  "7a",  "0x7", "07", "00", "1.5", "7;8", "4294967303", "7,24",
	};
	uint32_t mask;

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		mask = 0xdeadbeef;
		assert_int_equal(tpm_parse_pcrs(good[i].s, &mask), 0);
		assert_int_equal(mask, good[i].mask);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		mask = 0xdeadbeef;
		if (tpm_parse_pcrs(bad[i], &mask) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(mask, 0xdeadbeef);
	}
	assert_int_equal(tpm_parse_pcrs(NULL, &mask), -EINVAL);
	assert_int_equal(tpm_parse_pcrs("7", NULL), -EINVAL);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_pcrs),	 cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_seal_refusals),	 cmocka_unit_test(test_unseal_refusals),
		cmocka_unit_test(test_unseal_truncated), cmocka_unit_test(test_unseal_bad_magic),
		cmocka_unit_test(test_unseal_flipped),	 cmocka_unit_test(test_pcr_bound),
		cmocka_unit_test(test_unreachable),	 cmocka_unit_test(test_noda),
		cmocka_unit_test(test_lockout),		 cmocka_unit_test(test_counter),
		cmocka_unit_test(test_bus_encrypted),	 cmocka_unit_test(test_other_tpm),
		cmocka_unit_test(test_concurrent),	 cmocka_unit_test(test_leftovers),
		cmocka_unit_test(test_lock_wait),	 cmocka_unit_test(test_lock_not_ours),
	};
	const char *tcti = getenv("VAULTFS_TEST_TCTI");
	int r;

	(void)argc;
	if (!tcti || !*tcti) {
		fprintf(stderr,
			"test-tpm: VAULTFS_TEST_TCTI is not set; this test needs a TPM: "
			"run it as tests/lib/with-swtpm %s\n",
			argv[0]);
		return 1;
	}
	/* The TSS libraries log their errors to stderr; the refusal tests cause plenty. */
	setenv("TSS2_LOG", "all+NONE", 0);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	/* tests/lib/with-swtpm stops our swtpm when we return. */
	lock_remove(tcti);
	return r;
}
