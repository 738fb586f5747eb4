/* tpm.h: seal and unseal a small secret with a TPM 2.0 through tpm2-tss ESAPI. The secret is a
 * sealed-data object under a primary storage key of the owner hierarchy (created anew from the
 * same template on each use, so nothing is persisted in the TPM), unsealed over a salted
 * session with response encryption, optionally bound to PCRs (sha256 bank). A TPM connection
 * is held only for the duration of one call. A TPM with no resource manager in between (TCTIs
 * "swtpm" and "mssim", also under "pcap:") is used by one call at a time across processes and
 * threads: each call holds an flock on /run/lock/vaultfs-tpm-<16 hex>.lock (the hex is FNV-1a
 * 64 of the TCTI string without "pcap:"; /tmp when /run/lock is not writable; only a file owned
 * by the caller's euid is used), and first flushes the objects and sessions a killed client
 * left. Calls the TPM answers with "busy, try again" are retried 5 times. Every TSS2_RC becomes
 * -errno in tpm.c alone. Safe to call from several threads at once. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secbuf.h"

#define TPM_SECRET_MAX 64u
/* The errno of a TPM in dictionary-attack lockout (TPM_RC_LOCKOUT): it refuses DA-protected
 * objects (only blobs made before noDA are) until `tpm2_dictionarylockout --clear-lockout` or
 * its recovery time. Every error also leaves TSS2's own words as the thread's foreign error
 * (log.h: log_foreign). */
#define TPM_ELOCKOUT ENOLCK

/* Objects sealed here and their primary key carry noDA: no low-entropy secret guards them, and
 * a TPM's dictionary-attack counter (which also counts power losses) never locks them out.
 * Seal n bytes (1..TPM_SECRET_MAX) with the TPM reached by tcti (a tpm2-tss TCTI string such as
 * "device:/dev/tpmrm0" or "swtpm:host=127.0.0.1,port=2321"). pcr_mask: bit i binds sha256 PCR i
 * (0 = no PCR binding). Returns a heap blob (opaque, self-describing, versioned) to store.
 * Errors: -ENODEV no TPM reachable, -EIO TPM failure, -EINVAL bad arguments, -EBUSY the TPM
 * stayed busy (out of object or session memory, ... after all retries) or its lock was held by
 * another call for 10 s. */
int tpm_seal(const char *tcti, uint32_t pcr_mask, const uint8_t *secret, size_t n,
	     uint8_t **ret_blob, size_t *ret_len);
/* Unseal a blob from tpm_seal (or one made before noDA) into a new secure buffer; the
 * library's copy is wiped. Errors: -ENODEV no TPM reachable, -EBADMSG blob malformed or not
 * loadable by this TPM (other TPM, changed blob), -EPERM PCR policy not satisfied,
 * -TPM_ELOCKOUT the TPM is in DA lockout (a blob from before noDA), -EBUSY as for tpm_seal,
 * -EIO other TPM failure. */
int tpm_unseal(const char *tcti, const uint8_t *blob, size_t len, struct secbuf **ret);
/* The PCRs a blob from tpm_seal is bound to (0: none), after the same checks as unseal makes
 * of its form (no TPM needed). -EBADMSG for a blob that is not one. */
int tpm_blob_pcrs(const uint8_t *blob, size_t len, uint32_t *ret_mask);
/* The TPM's dictionary-attack state: in lockout, failed tries counted of max_tries, and the
 * seconds after which one is forgotten (TPM2_PT_LOCKOUT_INTERVAL). Errors as tpm_seal. */
struct tpm_da_status {
	bool in_lockout;
	uint32_t failed_tries;
	uint32_t max_tries;
	uint32_t recovery_s;
};
int tpm_da_status(const char *tcti, struct tpm_da_status *ret);
/* Monotonic counters in the TPM's NV (an index of type TPM_NT_COUNTER: it only ever goes up, and
 * a counter defined anew starts above every value any counter of this TPM ever had), one per
 * store, to bind the store's generation to (a copy of an older store names a lower value).
 * A counter is named by its tag, TPM_NV_TAG_LEN bytes the caller derives from the store (e.g.
 * HKDF of its id); the tag is kept as the index's authPolicy, which no one satisfies: reads and
 * increments authorize with the index's empty auth value over a salted HMAC session, so the
 * value is the TPM's own (a bus forger cannot answer for it). The index carries noDA and is
 * not orderly. Its handle: in [TPM_NV_COUNTER_FIRST, +TPM_NV_COUNTER_SPAN), starting from one
 * the tag chooses, past the indices of others (at most TPM_NV_COUNTER_PROBES looked at). The
 * range lies in the TCG registry's owner range by convention only (no assignment): anyone with
 * owner auth may undefine the index, which the store then sees as a counter missing. Defining
 * needs the owner hierarchy's auth to be empty (-EIO otherwise, with TSS2's words). Each
 * increment is one NV write: see the store's use of it for the rate. */
#define TPM_NV_TAG_LEN 32u
#define TPM_NV_COUNTER_FIRST UINT32_C(0x01b5f000)
#define TPM_NV_COUNTER_SPAN 4096u
#define TPM_NV_COUNTER_PROBES 16u
/* The current value of tag's counter (and with create, define it first when there is none: its
 * value is then already incremented once); its handle in *ret_index (may be NULL). -ENOENT no
 * such counter (without create), -ENOSPC no free handle among the probes or the NV is full;
 * others as tpm_seal. */
int tpm_counter_read(const char *tcti, const uint8_t tag[TPM_NV_TAG_LEN], bool create,
		     uint32_t *ret_index, uint64_t *ret_value);
/* Add 1 to tag's counter and return the new value. -ENOENT: no such counter. */
int tpm_counter_increment(const char *tcti, const uint8_t tag[TPM_NV_TAG_LEN], uint64_t *ret_value);
/* Undefine tag's counter (a store destroyed; tests). -ENOENT: none. */
int tpm_counter_remove(const char *tcti, const uint8_t tag[TPM_NV_TAG_LEN]);
/* 1 when a blob was made before noDA (its object and primary are DA-protected: seal its secret
 * anew), 0 when not, -EBADMSG for a blob that is not one. No TPM needed. */
int tpm_blob_da_protected(const uint8_t *blob, size_t len);
/* Parse "7" or "0,7,14" into a mask. -EINVAL for anything else (PCR > 23). "" gives 0. */
int tpm_parse_pcrs(const char *s, uint32_t *ret_mask);
