/* fleet-audit.h: the daemon's side of the central audit (core/fleet-audit.h has the design): a
 * thread of its own, with its own connection to the center, that ships this host's journal in
 * signed batches as it is written. It never touches the FUSE thread, the lock (but once, at
 * start, to derive the host key's seal) or an append: the journal is only read. */
#pragma once

#include <stdbool.h>

struct vaultfsd;
struct fleet_audit_daemon;

/* Start when the configuration has [fleet] conninfo and the store has joined the fleet (else
 * *ret is NULL and 0 is returned). Call it with v->lock free, after the journal is open (next
 * to fleet_start). */
int fleet_audit_start(struct vaultfsd *v, struct fleet_audit_daemon **ret);
/* Stop the thread (joined). ship_rest: first ship what is left (the stop record) when the
 * center is connected (one round, no wait for an absent one; a center that stopped answering
 * holds it up to the connection's timeout): for the daemon's stop, not for a hand-over (the
 * new daemon ships it). Call it without v->lock held, before the journal is closed. Accepts
 * NULL. */
void fleet_audit_stop(struct fleet_audit_daemon *d, bool ship_rest);
