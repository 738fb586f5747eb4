/* commit.h: the committer, a thread that makes the commits of write handles on fleet vaults,
 * so that the FUSE thread never waits for the fleet's center. A close(2) of a file written in a
 * fleet vault commits to the center first (kv-fleet.h); that may take as long as the center
 * takes to answer, and the FUSE thread, the only one, would serve nothing meanwhile: no read of
 * any other file on the host. The FUSE thread hands such a flush (and a release that comes while
 * one is waiting) here and goes on; the committer makes the commit under the daemon's lock (the
 * commit lets the lock go while it speaks to the center) and answers the request itself. A
 * local vault's commit, which never leaves the host, is made on the FUSE thread as before. */
#pragma once

#include <stdbool.h>

#include "fs/vaultfs.h"

struct committer;
struct handle;

/* Start the thread. */
int committer_start(struct vaultfsd *v, struct committer **ret);
/* Make every commit handed over and answer it, then stop the thread (joined). Call it without
 * v->lock held, once the FUSE thread hands nothing more (it has ended). Accepts NULL. */
void committer_stop(struct committer *c);

/* Called by the FUSE thread with v->lock held. Whether h's flush goes to the committer: its
 * secret is in a fleet vault, or a commit of h is already waiting there (a later one must come
 * after it). */
bool committer_wants(struct vaultfsd *v, const struct handle *h);
/* Hand req (a FLUSH, or a RELEASE when release is true) of h to the committer, which answers
 * it: true; false when it cannot (no committer, no memory): the caller answers it. */
bool committer_take(struct vaultfsd *v, fuse_req_t req, struct handle *h, bool release);
