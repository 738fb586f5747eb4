/* kv-fleet.h: the local side of a fleet vault (core/fleet.h has the design): the mark that a
 * vault is in a fleet, and the applied state that moves with each change applied. Both are one
 * MAC'd row per vault (store fleet_applied), counted in the row sum like every row, so a row
 * changed behind kv's back is -EBADMSG and a store rolled back with it is caught by the
 * rollback guard (kv_epoch). A change is applied in one local write transaction together with
 * its applied state: after a crash either both are there or neither.
 *
 * Errors: kv's (-ENOENT no such vault, -EBADMSG a row that does not verify), and for apply
 * -ESTALE the applied state is not `from` (another apply moved it, or from is stale),
 * -EINVAL a body of the wrong shape (to is not from + 1, a kind that fleet vaults do not
 * carry), and what the op meets in the store (-ENOENT, -EEXIST).
 *
 * A change made on this host to an object of a fleet vault (kv_object_set, _update, _delete,
 * _recover, _purge: every caller, the control socket, vaultctl --offline and writes through
 * the mount alike) is checked here as the local path would check it, made into a body and
 * handed to the hook (kv_fleet_hook): the center takes it first and the hook applies it here
 * (kv_fleet_apply). Without a hook it is refused with -EHOSTDOWN: the center is away and
 * nothing changed. Secrets, keys and certificates travel (a version's whole record); a key
 * bound to this host's TPM does not (-EOPNOTSUPP), nor does a kind's state beside its versions
 * (a key's rotation policy, a certificate's policy: the host where it was set makes the new
 * versions, and they travel). Reads never go near the hook. */
#pragma once

#include "fleet.h"
#include "kv.h"

struct store;

/* Hosts removed from the fleet, as this host learned it: its own `fleet remove` and each REVOKE
 * row it applied (kv_fleet_apply, in the apply's transaction). Sticky: kept in the store's meta
 * ("fleet.removed.HOST"), never taken back by the center (a revocation cleared there does not
 * bring a host back here). add: 0 (also when it is there already), -EINVAL a bad name. mark:
 * sets hosts[i].removed for each host this store remembers; every caller runs it on the host
 * list it loaded before it asks fleet_host_trusted. */
int fleet_removed_add(struct store *s, const char *host);
int fleet_removed_mark(struct store *s, struct fleet_host *hosts, size_t n);

/* Make vault a fleet vault (applied seq 0): 0, also when it is one already. */
int kv_fleet_mark(struct kv *kv, const char *vault);
/* The applied state of vault: -ENOENT when it is in no fleet (or no such vault). */
int kv_fleet_applied(struct kv *kv, const char *vault, struct fleet_applied *ret);
/* 1 vault is a fleet vault, 0 a local one, or -errno (-ENOENT no such vault). */
int kv_fleet_is(struct kv *kv, const char *vault);
/* The hook: commit b (material: SET's) to the center as the change after this host's applied
 * state of vault, then kv_fleet_apply it; -EAGAIN when it applied other hosts' changes first
 * (the body is built again and the hook called again, a few times at most); -EHOSTDOWN the
 * center is away. Called without a transaction open. fn NULL: fleet changes refused. */
typedef int (*kv_fleet_commit_fn)(void *ud, const char *vault, const struct fleet_body *b,
				  const struct secbuf *material);
void kv_fleet_hook(struct kv *kv, kv_fleet_commit_fn fn, void *ud);

/* Apply one change body (opened and its row verified: fleet_chain_check, fleet_body_open) to
 * vault in one write transaction, with the applied state going from `from` to `to` (the row's
 * seq, epoch and mac). material: SET's (NULL otherwise); a TPM-bound key's is refused.
 * REKEY changes no object: only the applied state moves. REVOKE remembers its host as removed
 * (fleet_removed_add) and fences the vault at the row's epoch E: the removed host held K_E, so
 * from then on no row of epoch E or older is taken but another REVOKE (-EKEYREVOKED; the
 * REKEY's row is of E + 1), and no change is made here under E (-ENOKEY from kv's calls,
 * before the hook: nothing is sealed under K_E) until the REKEY is applied (`vaultctl fleet
 * rekey V` on a host that holds it: `fleet remove` does it).
 * A PURGE of an object the local vault's purge protection still keeps (deleted less than its
 * retention ago) is held back: the object stays soft-deleted, the applied state moves, and 1
 * is returned (the caller says so); a PURGE of an object already gone changes nothing. */
int kv_fleet_apply(struct kv *kv, const char *vault, const struct fleet_applied *from,
		   const struct fleet_applied *to, const struct fleet_body *b,
		   const struct secbuf *material);

/* The contents of vault as the rows that make them, for a local vault entering the fleet (so a
 * host approved later gets what was there before): for each object of a kind that travels
 * (name order), each version (a SET with its material and attributes, in version order), then
 * a DELETE when it is soft-deleted. fn(ud, body, material: SET's, else NULL) for each, called
 * with no transaction open; its error stops the walk. -EOPNOTSUPP an object whose older
 * versions were pruned, or a TPM-bound key (neither can be made again elsewhere). */
typedef int (*kv_fleet_row_fn)(void *ud, const struct fleet_body *b, const struct secbuf *material);
int kv_fleet_contents(struct kv *kv, const char *vault, kv_fleet_row_fn fn, void *ud);
/* The applied state of vault moved from `from` to `to` (to.seq = from.seq + 1) with no object
 * changed: a row whose change this store holds already (its contents, pushed). -ESTALE as
 * kv_fleet_apply. */
int kv_fleet_skip(struct kv *kv, const char *vault, const struct fleet_applied *from,
		  const struct fleet_applied *to);
