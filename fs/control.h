/* control.h: the control socket of vaultfsd (DESIGN §8): a Unix stream socket, mode 0666
 * (authorization is by policy), on which vaultctl sends the requests of core/request.h. Served
 * from the daemon's main loop under the daemon's lock: every socket is non-blocking, a
 * connection works on one request at a time, and one that stalls is closed after a deadline, so
 * no client can stall the filesystem. No uid can lock the others out: connections are capped per
 * uid, the last slots are root's, and idle ones are cut early when the daemon is crowded (the
 * caps: control.c). The caller is who SO_PEERCRED says connected, resolved by policy/identity
 * like a FUSE caller. */
#pragma once

#include <poll.h>
#include <stddef.h>

#include "fs/vaultfs.h"

struct control;

/* policy-reload: done by the daemon (reload the set, record it); msg gets why it failed. */
typedef int (*control_reload_fn)(struct vaultfsd *v, char *msg, size_t size);

/* Bind path (creating its directory, replacing a stale socket, never another file), listen.
 * -EEXIST when path exists and is not a socket. */
int control_open(struct vaultfsd *v, const char *path, control_reload_fn reload,
		 struct control **ret);
/* Close every connection (wiping what they held) and remove the socket. Accepts NULL. */
void control_free(struct control *c);

/* The descriptors to poll, at most control_max_fds(): fill, ppoll, then dispatch the same
 * array. The timeout (ms, -1 none) is when the next connection's deadline passes. */
size_t control_max_fds(void);
size_t control_pollfds(struct control *c, struct pollfd *fds);
int control_timeout_ms(struct control *c);
void control_dispatch(struct control *c, const struct pollfd *fds, size_t n);
