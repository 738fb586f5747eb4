/* vaultfs.h: the daemon's one mutable context, reached from every FUSE request, and what the
 * files of fs/ share. Only fs/ includes the FUSE headers. */
#pragma once

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/kv.h"
#include "policy/identity.h"
#include "policy/policy.h"

struct budget;

struct handle; /* an open file (ops-int.h) */
struct draft;  /* a temporary file (ops-int.h) */
struct notify; /* the kernel cache invalidation thread (notify.h) */
struct acme;   /* the ACME issuer's worker (acme.h) */
struct events; /* the change stream (events.h) */
/* the fleet's sync thread (fleet.h) */
struct fleet_daemon;
/* the central audit's shipping thread (fleet-audit.h) */
struct fleet_audit_daemon;
/* the commits of write handles on fleet vaults, off the FUSE thread (commit.h) */
struct committer;

struct vaultfsd {
	/* Held by whichever thread works on the rest: the FUSE thread per request, the main
	 * thread per control dispatch, expiry scan pass and reload (vaultfsd.c). */
	pthread_mutex_t lock;
	const struct config *config;
	struct kv *kv;
	struct policy *policy; /* replaced whole on reload */
	struct audit *audit;
	struct identity_cache *ids; /* cgroups by id, for the serving thread's resolves */
	bool hide_unreadable;
	int64_t started; /* unix seconds: the directories' times (they hold no time of their own) */
	struct {	 /* the last refusal recorded at lookup: one record per attempt */
		pid_t tid;
		uint64_t parent;
		char name[VAULTFS_NAME_MAX + 1];
		int64_t at_ms;
	} last_refusal;
	/* Write handles not yet released (drafts' excepted: they are counted as their draft).
	 * Those of files created through the mount (pending) have no object id until their first
	 * commit, so the kernel knows them by a number of ours: one of kind INO_ROOT other than 1
	 * (which inode.h never hands out), 2 + next_pending++. */
	struct handle *writers;
	unsigned n_writers;
	uint64_t next_pending;
	unsigned n_drafts;
	unsigned writers_peak; /* the most write buffers at once since the pool was drained */
	struct draft *drafts;  /* temporary files, held only here (draft.c); numbered as pending */
	struct budget *reads;  /* the locked bytes of open read handles, per uid (budget.h) */
	struct { /* the last secret soft-deleted through the mount: an exclusive create of its
		  * name by the same process soon after is the second half of a replace (install,
		  * mv across file systems), not a new secret */
		uid_t uid;
		pid_t pid; /* 0: unknown */
		char vault[VAULTFS_NAME_MAX + 1];
		char name[VAULTFS_NAME_MAX + 1];
		int64_t at_ms;
	} last_unlink;
	struct notify *notify;	   /* NULL: no invalidations are sent */
	struct acme *acme;	   /* the ACME issuer's worker (acme.h); NULL: none */
	struct events *events;	   /* the change stream (events.h); NULL: none */
	struct {		   /* the rollback guard's pacing (epoch.c) */
		bool guarded;	   /* the store has an epoch on a TPM counter */
		int64_t last_ms;   /* CLOCK_MONOTONIC of the last advance (or try) */
		uint64_t changes;  /* kv_changes() at the last advance */
		uint64_t seq;	   /* the journal's seq at the last advance */
		unsigned tokens;   /* advances the budget still allows soon (VAULTFS_EPOCH_BURST) */
		int64_t refill_ms; /* when the next token comes */
		int err;	   /* the last failure said, 0 none */
	} epoch;
	/* CLOCK_MONOTONIC ms before which the next scan (expiry, rotation, renewal, purge) runs,
	 * 0: at its interval; under the lock (daemon_scan_soon) */
	_Atomic int64_t scan_by_ms;
	/* the fleet's sync thread (fleet.h); NULL: no fleet */
	struct fleet_daemon *fleet;
	/* the central audit's shipping thread (fleet-audit.h); NULL: none */
	struct fleet_audit_daemon *fleet_audit;
	/* the thread that makes the commits of write handles on fleet vaults (commit.h) */
	struct committer *committer;
};

/* Have the scan run within ms (a change a scan acts on: a certificate made pending for its
 * ACME issuer, a renewal that failed and backs off), instead of at its interval. */
void daemon_scan_soon(struct vaultfsd *v, int64_t ms);
/* One pass of the scan (scan.c), under the lock: true when work is left for another pass
 * soon. */
bool daemon_scan(struct vaultfsd *v);

/* A record of the daemon's own (vaultfsd.c): event, its errno (0: allowed), and what it is
 * about in the rule field. */
int daemon_event(struct vaultfsd *v, const char *event, int err, const char *rule);

/* The rollback guard (epoch.c), under the lock: at start, check the store against its TPM
 * counter (before the journal opens: it fills *ao's epochs) and then advance it (after);
 * epoch_tick advances it, paced, while the store or the journal changes (limits.h). */
int epoch_check(struct vaultfsd *v, struct audit_options *ao);
void epoch_advance(struct vaultfsd *v, const char *why);
void epoch_tick(struct vaultfsd *v, int64_t now_ms);

/* Drop the temporary files (drafts) no one has touched for a while (draft.c): the expiry scan
 * calls it, under the lock. */
void ops_reap(struct vaultfsd *v);
/* At stop, after the session is gone: wipe and free every draft and write buffer left. */
void ops_done(struct vaultfsd *v);

/* The low-level operations (ops.c, served by the files of ops-int.h). */
extern const struct fuse_lowlevel_ops vfs_ops;

/* The JSON of /vault/V/.meta/S: attributes, tags and versions, never a value (meta.c). */
int meta_json(struct kv *kv, const char *vault, const char *name, char **ret, size_t *ret_len);
