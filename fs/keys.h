/* keys.h: what the rest of the daemon tells fs/keys.c (the public halves of keys under
 * /vault/V/.keys). */
#pragma once

struct vaultfsd;

/* Key vault/name changed (made, rotated, updated, deleted, recovered, purged): the kernel may
 * hold its .keys names and attributes, and the pages of a MAP_PRIVATE mapping of the old
 * public half; queued for the invalidation thread (notify.h), never waits. Replies are made
 * with timeouts 0 and direct_io, so this is belt and braces, as for secrets. Call under the
 * daemon's lock, after the change. */
void keys_changed(struct vaultfsd *v, const char *vault, const char *name);
