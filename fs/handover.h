/* handover.h: the FUSE session outlives the vaultfsd process. The /dev/fuse descriptor of the
 * mount and a small state file (a memfd: the kernel's FUSE_INIT as it came, what the session
 * negotiated, the mount, the handle generation) go either to systemd's descriptor store
 * (FDSTORE=1, given back at the next start as LISTEN_FDS) or, without systemd, from the running
 * daemon to a new one over a root-only socket (SCM_RIGHTS, `vaultfsd --takeover`). The new
 * process checks the descriptor and the mount, replays the saved FUSE_INIT into a fresh libfuse
 * session (the kernel sends none: the mount is already initialised) and serves on. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <linux/limits.h>

#include "fs/vaultfs.h"

/* The names of the two descriptors in systemd's store (FDNAME=). */
#define HANDOVER_FUSE_NAME "vaultfs-fuse"
#define HANDOVER_STATE_NAME "vaultfs-state"
/* The state file's format: a new process refuses any other. */
#define HANDOVER_FORMAT 1
/* The bytes of FUSE_INIT's arguments kept (struct fuse_init_in is 64 on 7.36+). */
#define HANDOVER_INIT_MAX 256
/* The handover socket's name, beside the control socket. */
#define HANDOVER_SOCKET_NAME "handover.sock"

/* What libfuse negotiated (struct fuse_conn_info's fields that reach the kernel or shape the
 * session): a new session must end with the same. */
struct handover_conn {
	uint32_t proto_major, proto_minor;
	uint32_t capable, want;
	uint32_t max_write, max_read, max_readahead;
	uint32_t max_background, congestion_threshold, time_gran;
};

/* The state file: written once by the process that mounted (its generation 1), then by each
 * process that takes the session over (its generation, one more). */
struct handover_state {
	char magic[8]; /* "vaultfs\n" */
	uint32_t format;
	uint32_t generation; /* of the process serving now: its file handles' tag */
	uint64_t dev;	     /* the mount's device number (its FUSE connection) */
	char mountpoint[PATH_MAX];
	uint32_t init_len; /* bytes of init_in */
	uint8_t init_in[HANDOVER_INIT_MAX];
	struct handover_conn conn;
};

void handover_conn_from(const struct fuse_conn_info *ci, struct handover_conn *ret);

/* A new state file (memfd) for the mount at mountpoint, from the FUSE_INIT arguments the kernel
 * sent (in, len) and what was negotiated. */
int handover_state_new(const char *mountpoint, const void *in, size_t len,
		       const struct handover_conn *conn, int *ret_fd);
int handover_state_read(int fd, struct handover_state *ret);
int handover_state_set_generation(int fd, uint32_t generation);

/* The mount at mountpoint: its device number, from /proc/self/mountinfo (a stat would wait for
 * the daemon). -ENOENT when no vaultfs (fuse.vaultfs) mount is there. */
int handover_mount_dev(const char *mountpoint, uint64_t *ret_dev);
/* Is fd /dev/fuse, the mount at s->mountpoint (== mountpoint) the one s names, and its
 * connection alive? 0, or -errno with a word on why in why. */
int handover_check(int fd, const struct handover_state *s, const char *mountpoint,
		   const char **why);

/* systemd's descriptor store: store both (> 0 sent, 0 no store: $FDSTORE below 2 or unset, or
 * no NOTIFY_SOCKET), take them back at
 * start (1 both found, 0 none; any other descriptor passed is closed), drop them (a stop that
 * unmounts). */
int handover_fdstore_put(int fuse_fd, int state_fd);
int handover_fdstore_take(int *ret_fuse, int *ret_state);
void handover_fdstore_drop(void);

/* Replay FUSE_INIT into se (fresh, adopted with fuse_session_mount(se, "/dev/fd/N")) and check
 * the session negotiated what s says (conn: what the init callback saw). */
int handover_replay_init(struct fuse_session *se, const struct handover_state *s);
int handover_conn_check(const struct handover_state *s, const struct handover_conn *conn);

/* The descriptor blocking: the FUSE thread's reads wait for a request. Its flags are shared
 * by every process holding it (notify.c's stop sets O_NONBLOCK). */
int handover_blocking(int fuse_fd);

/* Requests a process that died had read and not answered stay on the connection's processing
 * list (the descriptor store keeps the connection): have the kernel queue them again
 * (FUSE_NOTIFY_RESEND, Linux 6.9+). -EINVAL where the kernel does not know it. */
int handover_resend(int fuse_fd);
/* Without resend: answer EIO to the requests below first_unique that may be in flight. */
void handover_sweep(int fuse_fd, uint64_t first_unique);

/* The socket hand-over. The serving daemon listens (root only, 0600); a new one connects,
 * receives the descriptors, adopts them and answers yes or no; the old one exits on yes
 * (without unmounting), serves on otherwise. */
int handover_socket_path(const char *control_socket, char *buf, size_t size);
int handover_listen(const char *path, int *ret_fd);
int handover_accept(int listen_fd, int *ret_conn);
int handover_send(int conn, int fuse_fd, int state_fd);
int handover_wait_answer(int conn, int timeout_ms);
int handover_request(const char *path, int *ret_conn, int *ret_fuse, int *ret_state);
int handover_answer(int conn, bool ok);
/* Wait (at most timeout_ms) until the other end closes conn: the old daemon has let go. */
int handover_wait_closed(int conn, int timeout_ms);
