/* peer.h: what vaultfsd's socket servers (control.c, agent-server.c) share: a listening unix
 * socket made the same way, and a connected peer resolved like a FUSE caller. */
#pragma once

#include <sys/socket.h>

#include "policy/identity.h"

/* Listen on the unix socket path (mode 0666: the policy decides, not the file mode), its
 * directory made if missing. A socket left by a daemon that died is replaced; a live one is
 * -EADDRINUSE, any other file there -EEXIST; -ENAMETOOLONG for a path sun_path cannot hold. The
 * non-blocking, close-on-exec listening fd in *ret_fd. */
int peer_listen(const char *path, int *ret_fd);

/* The identity of the peer of fd whose SO_PEERCRED is cred, resolved through its pidfd (or its
 * pid before Linux 6.5) with the cache ids, every field but uid and gid (the credentials'). A
 * field that cannot be resolved stays unknown. */
void peer_identity(struct identity_cache *ids, int fd, const struct ucred *cred,
		   struct identity *ret);
