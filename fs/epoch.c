/* epoch.c: vaultfsd's side of the rollback guard (kv.h, seal.h): the store checked against its
 * TPM counter at start, then its epoch advanced at start and, while the store or the journal
 * changes, paced so that the TPM's NV sees at most VAULTFS_EPOCH_* writes (limits.h). Each
 * advance names the new epoch in the journal's anchor before the counter moves. Never writes
 * NV on a read path; never refuses a request for an advance that failed (it is said, and the
 * next tick tries again). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/errtext.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/util.h"
#include "fs/vaultfs.h"

static void say_refused(int r, const struct seal_epoch *ev)
{
	log_error_errno(r,
			"The store is refused: %s. Evidence: the store is at epoch %" PRIu64
			" (pending %" PRIu64 "), its TPM counter (NV index 0x%08" PRIx32
			") at %" PRIu64,
			errtext(ERRTEXT_STORE, r), ev->store_epoch, ev->pending, ev->nv_index,
			ev->tpm_value);
}

int epoch_check(struct vaultfsd *v, struct audit_options *ao)
{
	struct seal_epoch ev;
	int r;

	r = kv_epoch_open(v->kv, v->config, &ev);
	if (r == -EOPNOTSUPP) {
		log_warning("The store's sealer uses no TPM: no rollback guard (an older copy of "
			    "the store written back would not be found)");
		return 0;
	}
	if (r == -ENODEV) { /* unsealed from the keyring cache with the TPM away */
		log_warning("The TPM is not reachable: the store's rollback guard is not checked "
			    "and its epoch does not advance until vaultfsd starts with it");
		return 0;
	}
	if (r < 0) {
		say_refused(r, &ev);
		return r;
	}
	if (ev.bound)
		log_info("The store is bound to its TPM counter (NV index 0x%08" PRIx32
			 ") at epoch %" PRIu64,
			 ev.nv_index, ev.store_epoch);
	v->epoch.guarded = true;
	v->epoch.tokens = VAULTFS_EPOCH_BURST;
	kv_epoch(v->kv, &ao->epoch, &ao->epoch_min);
	return 0;
}

void epoch_advance(struct vaultfsd *v, const char *why)
{
	struct seal_epoch ev;
	struct audit_health h = { 0 };
	char detail[96];
	int r;

	if (!v->epoch.guarded)
		return;
	v->epoch.last_ms = clock_ms(CLOCK_MONOTONIC);
	v->epoch.changes = kv_changes(v->kv);
	r = kv_epoch_advance_begin(v->kv, v->config, &ev);
	if (r >= 0) {
		/* the anchor names the new epoch before the counter moves (seal.h) */
		r = audit_set_epoch(v->audit, ev.pending);
		if (r >= 0)
			r = kv_epoch_advance_end(v->kv, v->config, &ev);
		if (r < 0) /* the counter did not move: anchors name the epoch it holds */
			(void)audit_set_epoch(v->audit, ev.store_epoch);
	}
	(void)audit_health(v->audit, &h);
	v->epoch.seq = h.seq;
	if (r < 0) {
		if (r != v->epoch.err)
			log_warning_errno(r,
					  "Could not advance the store's epoch (%s; tried again "
					  "later): %s",
					  why,
					  r == -ESTALE || r == -EUCLEAN || r == -ENXIO ?
						  errtext(ERRTEXT_STORE, r) :
						  strerror(-r));
		v->epoch.err = r;
		return;
	}
	if (v->epoch.err)
		log_info("The store's epoch advances again");
	v->epoch.err = 0;
	snprintf(detail, sizeof(detail), "epoch %" PRIu64 " (%s)", ev.store_epoch, why);
	(void)daemon_event(v, "epoch-advance", 0, detail);
}

void epoch_tick(struct vaultfsd *v, int64_t now_ms)
{
	struct audit_health h = { 0 };
	int64_t since;

	if (!v->epoch.guarded)
		return;
	while (v->epoch.tokens < VAULTFS_EPOCH_BURST && now_ms >= v->epoch.refill_ms) {
		v->epoch.tokens++;
		v->epoch.refill_ms += VAULTFS_EPOCH_REFILL_S * 1000;
	}
	if (v->epoch.tokens >= VAULTFS_EPOCH_BURST)
		v->epoch.refill_ms = now_ms + VAULTFS_EPOCH_REFILL_S * 1000;
	(void)audit_health(v->audit, &h);
	/* the advance's own record moves the journal by one: not a change to advance for */
	if (kv_changes(v->kv) == v->epoch.changes && h.seq <= v->epoch.seq + 1)
		return;
	since = now_ms - v->epoch.last_ms;
	if (since >= (int64_t)VAULTFS_EPOCH_MAX_S * 1000) {
		epoch_advance(v, "hourly");
	} else if (since >= (int64_t)VAULTFS_EPOCH_MIN_S * 1000 && v->epoch.tokens > 0) {
		v->epoch.tokens--;
		epoch_advance(v, "changed");
	}
}
