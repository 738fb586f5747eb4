/* agent-server.h: vaultfsd's ssh-agent socket ([agent] socket, config.h): core/agent.c's
 * protocol engine on a Unix stream socket, mode 0666 (who may sign with which key is the
 * policy's `sign`, with its ssh= condition). Served from the daemon's main loop under the
 * daemon's lock, like the control socket (control.h): every socket is non-blocking, connections
 * are capped in all and per uid, one that stalls mid-message or leaves its reply untaken is
 * closed after a deadline, an idle one after a longer one, so no client can hold up the
 * filesystem or the control socket. Each connection is the peer SO_PEERCRED names, resolved
 * once at accept (pidfd) as a control-socket peer. */
#pragma once

#include <poll.h>
#include <stddef.h>

#include "fs/vaultfs.h"

struct agent_server;

/* Bind path (creating its directory, replacing a stale socket, never another file), listen.
 * -EEXIST when path exists and is not a socket, -EADDRINUSE when a live one answers there. */
int agent_server_open(struct vaultfsd *v, const char *path, struct agent_server **ret);
/* Close every connection (wiping what they held) and remove the socket. Accepts NULL. */
void agent_server_free(struct agent_server *s);

/* The descriptors to poll, at most agent_server_max_fds(): fill, ppoll, then dispatch the same
 * array (under the daemon's lock). The timeout (ms, -1 none) is when the next connection's
 * deadline passes. */
size_t agent_server_max_fds(void);
size_t agent_server_pollfds(struct agent_server *s, struct pollfd *fds);
int agent_server_timeout_ms(struct agent_server *s);
void agent_server_dispatch(struct agent_server *s, const struct pollfd *fds, size_t n);
