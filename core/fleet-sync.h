/* fleet-sync.h: a host's side of the fleet's sync (core/fleet.h has the design): what it keeps
 * of the fleet in its store's meta (its name, its host key, the anchor it pinned, the vault
 * keys it opened, sealed under keys derived from its master key), pulling each fleet vault's
 * changes from its applied seq, checking the chain and applying each body in one local
 * transaction (kv-fleet.h), and committing a change made here: to the center first, at the
 * applied seq + 1, then applied here (kv_fleet_hook's hook). One fleet_sync and its connection
 * are for one thread at a time; the daemon has one for its sync thread and one for the changes
 * its requests make.
 *
 * Errors: -ENOENT this host has not joined (no fleet name in its store), -EHOSTDOWN the center
 * is away (the connection is dropped and made again on the next call), and fleet.h's and
 * fleet-pg.h's: -ESTALE the center went back, -EBADMSG a row that does not verify,
 * -EKEYREVOKED an old epoch, -ENOKEY no key of the vault's epoch for this host. */
#pragma once

#include <pthread.h>

#include "config.h"
#include "fleet.h"
#include "kv.h"

/* meta keys of the store (vaultctl fleet and the daemon share them) */
#define FLEET_META_NAME "fleet.name"
#define FLEET_META_KEY "fleet.host"
#define FLEET_META_ANCHOR "fleet.anchor"
#define FLEET_HOST_KEY_LABEL "fleet host key"
#define FLEET_VAULT_KEYS_LABEL "fleet vault keys"

struct fleet_sync;
struct fleet_sync_ops {
	/* kv is used only with *lock held (NULL: the caller holds whatever guards kv);
	 * fleet_sync_commit is called with it held and lets it go while it speaks to the
	 * center (reads wait for no network), returning with it held again */
	pthread_mutex_t *lock;
	/* each change of another host applied (err 0; 1: a purge held back by this host's purge
	 * protection, kv-fleet.h) or refused (err < 0, c NULL when no row is to blame: the
	 * center went back, or a local vault of the name), with the lock held; may be NULL */
	void (*applied)(void *ud, const char *vault, const struct fleet_change *c,
			const struct fleet_body *b, int err);
	void *ud;
};

/* The fleet state of the store at c->store_path for kv (its master key's); called with kv
 * free to use (under the lock). */
int fleet_sync_new(const struct config *c, struct kv *kv, const struct fleet_sync_ops *ops,
		   struct fleet_sync **ret);
void fleet_sync_free(struct fleet_sync *fs);
static inline void fleet_sync_freep(struct fleet_sync **fs)
{
	fleet_sync_free(*fs);
}
const char *fleet_sync_name(const struct fleet_sync *fs);
/* Connect when not connected (and LISTEN when listen): 0, -EHOSTDOWN. */
int fleet_sync_connect(struct fleet_sync *fs, bool listen);
void fleet_sync_disconnect(struct fleet_sync *fs);
/* Wait up to timeout_ms for a change's notification: how many came, -EHOSTDOWN. */
int fleet_sync_wait(struct fleet_sync *fs, int timeout_ms);
/* Every fleet vault this host holds a key of: made here when missing and marked a fleet
 * vault, then pulled. Returns how many changes were applied, or the first error (the other
 * vaults are pulled still). */
int fleet_sync_pull_all(struct fleet_sync *fs);
/* Pull one vault: the changes after its applied seq, checked and applied in order. Returns
 * how many were applied. */
int fleet_sync_pull(struct fleet_sync *fs, const char *vault);
/* The hook of kv_fleet_hook (ud: the fleet_sync): the row after the applied state the body was
 * built on (seen when called, under the lock), sent without the lock; applied here after,
 * under it, in one local transaction, unless the store moved meanwhile: then a pull applies
 * it (or -EAGAIN: the body is built again). Threads that commit through one fleet_sync take
 * turns (the lock is let go before waiting for the turn). */
int fleet_sync_commit(void *ud, const char *vault, const struct fleet_body *b,
		      const struct secbuf *material);
/* A membership change as a row of vault's chain, so that every host learns it authenticated
 * (fleet.h): b's op FLEET_OP_REVOKE (b->host removed) or FLEET_OP_REKEY (the row at the
 * vault's epoch in the center, set to the new one first, whose key this host holds). Committed
 * as fleet_sync_commit does (pulled first, tried again when another host took the seq), and
 * applied here. For a caller with no lock (vaultctl). */
int fleet_sync_announce(struct fleet_sync *fs, const char *vault, const struct fleet_body *b);
/* The contents vault had before it entered the fleet (kv_fleet_contents), as its first rows,
 * so that a host approved later gets them; this store's applied state moves with each (its
 * objects are there already). Only into a chain that is empty, from a vault with nothing
 * applied (-EEXIST otherwise). Returns how many rows. For a caller with no lock (vaultctl). */
int fleet_sync_push(struct fleet_sync *fs, const char *vault);
