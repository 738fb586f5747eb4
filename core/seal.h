/* seal.h: how the master key is kept at rest. At init a random 32-byte master key M and a
 * one-time recovery key R are made. M is stored wrapped under a key-encryption key that the
 * sealer yields:
 *   tpm2       KEK = HKDF(T)        T: 32 random bytes sealed by the TPM (tpm.h)
 *   host       KEK = HKDF(H)        H: 32 bytes in a root-only host key file
 *   tpm2+host  KEK = HKDF(T || H)   both needed
 * and, independently, wrapped under R, so a dead TPM does not lose the store: seal_recover
 * unwraps M with R and seals it anew with the configured sealer (e.g. to a new TPM).
 * A key check value (HKDF(M), not invertible) lets a cached M be verified before use.
 * Everything sealed lives in the store's meta table; nothing secret is ever logged. */
#pragma once

#include "config.h"
#include "secbuf.h"
#include "store.h"
#include "util.h"

#define SEAL_RECOVERY_KEY_LEN 32u
/* Text form: 8 groups of 8 hex digits joined by '-', plus NUL. */
#define SEAL_RECOVERY_TEXT_LEN (8u * 8u + 7u + 1u)

/* tpm2, host or tpm2+host */
static inline bool seal_sealer_valid(const char *s)
{
	return s && (streq(s, "tpm2") || streq(s, "host") || streq(s, "tpm2+host"));
}

/* 1 when the store holds a sealed master key, 0 when not. */
int seal_is_initialised(struct store *s);
/* A new random recovery key. */
int seal_recovery_new(struct secbuf **ret);
/* Make and seal a new master key in a store that has none (-EEXIST if it has one), wrapped
 * also under the recovery key R, which the caller made (seal_recovery_new) and has already put
 * somewhere safe: once this returns 0 the store is initialised. Seal failures: see tpm.h; the
 * host key file is created (0400) if missing, and removed again if init fails, and refused
 * (-EPERM) if not a regular file of ours without group/other access. One store transaction. */
int seal_init(struct store *s, const struct config *c, const struct secbuf *recovery);
/* Unseal the master key with the sealer recorded at init (and the config's tcti/host_key).
 * Uses the kernel keyring cache when c->keyring_timeout > 0 (and fills it after an unseal).
 * -ENOMEDIUM: the store was never initialised. -EBADMSG: sealed data does not open (another
 * TPM, changed blob, wrong host key). Other errors as tpm.h. */
int seal_unseal(struct store *s, const struct config *c, struct secbuf **ret_master);
/* seal_unseal, which also upgrades a store sealed before noDA: when "seal.tpm" was made before
 * its TPM objects carried noDA (they are then subject to the TPM's dictionary-attack lockout,
 * which power losses alone trigger), T is sealed anew with noDA right after the unseal, on a
 * handle open for writing (a read-only one is left as it is). *ret_resealed (may be NULL) says
 * what happened, for the caller to record: 1 re-sealed, 0 nothing to do (or read-only), -errno
 * the re-seal failed (the master key is returned all the same; the next unseal tries again).
 * seal_unseal does the same without telling. */
int seal_unseal_noda(struct store *s, const struct config *c, struct secbuf **ret_master,
		     int *ret_resealed);
/* Unwrap the master key with recovery key R and seal it anew with the configured sealer,
 * replacing the old sealed data. -EBADMSG for a wrong recovery key (nothing is changed). */
int seal_recover(struct store *s, const struct config *c, const struct secbuf *recovery);
/* Drop the cached master key of this store from the kernel keyring (0 if none). */
int seal_forget(struct store *s);

/* The store's epoch: its place on a TPM NV counter (tpm.h) of its own, against rollback (an
 * older copy of the store written back). The meta key "seal.epoch" records the epoch the
 * store is at and the state of its rows (the running sum kv keeps, kv.h), MAC'd under a key
 * from the master key and bound to the store's id; the counter holds the TPM's. They agree on a
 * store that is current; a store whose epoch is below the counter is an older copy: refused.
 * Each advance moves both on (one NV write), so a copy from before it is refused; a copy taken
 * since the last advance is not told from the current store (that is the window). An advance
 * first commits "pending = epoch + 1" (advance_begin), then increments the counter and commits
 * the new epoch (advance_end), so a crash anywhere in it leaves a store that still opens (the
 * next open finishes it); what else must name the new epoch (the journal's anchor) is written
 * between the two. Only for the tpm2 and tpm2+host sealers (-EOPNOTSUPP otherwise). The
 * evidence of every answer, refusals included, is left in *ret (an exception to "written only
 * on success"). */
#define SEAL_STATE_LEN 32u
struct seal_epoch {
	uint64_t store_epoch; /* the store's record */
	uint64_t pending;     /* = store_epoch, or store_epoch + 1 while an advance is under way */
	uint64_t tpm_value;   /* the counter */
	uint32_t nv_index;
	bool bound;    /* bound now, the first time (or accepted): state is to be set */
	bool advanced; /* advance_end moved it */
	uint8_t state[SEAL_STATE_LEN]; /* the rows' state the record names; zero: not yet set */
};
/* Check the store against its counter at open (master: from seal_unseal), in a write
 * transaction of its own. A store never bound is bound now (its counter defined). -ESTALE:
 * rolled back (its epoch is below the counter, or it was never bound while its counter
 * exists); -ENXIO: its counter is missing (another TPM, or the index was undefined); -EBADMSG:
 * the record was changed; -EROFS: a read-only handle; TPM errors as tpm.h. */
int seal_epoch_open(struct store *s, const struct config *c, const struct secbuf *master,
		    struct seal_epoch *ret);
/* Advance: begin (seal_epoch_open's check, then pending = epoch + 1 committed), end (the
 * counter incremented, the new epoch committed). ret->pending names the epoch being moved to. */
int seal_epoch_advance_begin(struct store *s, const struct config *c, const struct secbuf *master,
			     struct seal_epoch *ret);
int seal_epoch_advance_end(struct store *s, const struct config *c, const struct secbuf *master,
			   struct seal_epoch *ret);
/* Set the rows' state the record names, inside the caller's write transaction (the epoch is
 * kept). -ENOENT: the store has no epoch record (never bound: nothing to keep); -EOPNOTSUPP:
 * not a TPM sealer. */
int seal_epoch_set_state(struct store *s, const struct secbuf *master,
			 const uint8_t state[SEAL_STATE_LEN]);
/* The operator's way past a refusal, on purpose: with the recovery key, bind the store as it
 * is to the counter's current value (defining the counter if it is missing); the state is left
 * unset, for the next open to take from the rows as they are. *ret: the epoch the store had (0
 * if none or unreadable) and the counter's value, for the record. -EBADMSG: wrong recovery key
 * (nothing changed). */
int seal_epoch_accept(struct store *s, const struct config *c, const struct secbuf *recovery,
		      struct seal_epoch *ret);

/* Recovery key text form: "0a1b2c3d-..." and back. Parsing ignores whitespace; -EINVAL for
 * anything else. */
void seal_recovery_format(const struct secbuf *r, char out[SEAL_RECOVERY_TEXT_LEN]);
int seal_recovery_parse(const char *text, struct secbuf **ret);
