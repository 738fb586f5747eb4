/* fleet.h: the daemon's side of the fleet (core/fleet.h has the design): a sync thread of its
 * own, with its own connection to the center, that listens for changes and applies them, and
 * the hook that sends the changes this daemon's requests make to the center first (kv-fleet.h).
 * Reads never wait for either: a read needs the lock only, and the thread holds it only to
 * apply a change that it already fetched and checked. */
#pragma once

struct vaultfsd;
struct fleet_daemon;

/* Start when the configuration has [fleet] conninfo and the store has joined (else *ret is
 * NULL and 0 is returned: this host is in no fleet, its fleet vaults refuse changes). Call it
 * with v->lock free, after the journal and the notify thread are up. */
int fleet_start(struct vaultfsd *v, struct fleet_daemon **ret);
/* Stop the thread (joined) and take the hook away. Call it without v->lock held. Accepts
 * NULL. */
void fleet_stop(struct fleet_daemon *f);
