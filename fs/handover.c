/* handover.c: taking and giving the /dev/fuse descriptor of a live mount (handover.h): the
 * state file, systemd's descriptor store, the root-only hand-over socket (SCM_RIGHTS), the
 * replay of FUSE_INIT into a new libfuse session, and the requests a dead process left on the
 * connection. Facts relied on (libfuse 3.14 lib/fuse_lowlevel.c, Linux fs/fuse/dev.c):
 * fuse_session_mount(se, "/dev/fd/N") adopts N without mounting and leaves se's mountpoint
 * unset; a session answers nothing before it has processed a FUSE_INIT, which
 * fuse_session_process_buf accepts from a buffer; its reply is written with the request's
 * unique, and the kernel answers a reply whose unique is on no processing list ENOENT, which
 * libfuse ignores (fuse_send_msg); real uniques are even and count up from 2 (odd ones are
 * interrupts, 0 a notification). Never reads or holds a secret. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fuse.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "core/util.h"
#include "fs/handover.h"

#ifndef FUSE_NOTIFY_RESEND
#define FUSE_NOTIFY_RESEND 7 /* Linux 6.9 */
#endif

/* The unique of the replayed FUSE_INIT: even (not an interrupt's), not 0 (a notification),
 * below bit 63 (the kernel's resend mark), and far beyond any the kernel's counter reaches
 * (it adds 2 per request). */
#define FUSE_CTL_SUPER_MAGIC 0x65735543 /* fusectl, /sys/fs/fuse/connections */

#define HANDOVER_INIT_UNIQUE 0x7ffffffffffffffeULL

/* At most this many requests below the first one read are answered EIO (handover_sweep): the
 * dead daemon read one at a time; forgets take uniques too. */
#define HANDOVER_SWEEP 1024

static const char state_magic[8] = "vaultfs\n";

void handover_conn_from(const struct fuse_conn_info *ci, struct handover_conn *ret)
{
	*ret = (struct handover_conn){
		.proto_major = ci->proto_major,
		.proto_minor = ci->proto_minor,
		.capable = ci->capable,
		.want = ci->want,
		.max_write = ci->max_write,
		.max_read = ci->max_read,
		.max_readahead = ci->max_readahead,
		.max_background = ci->max_background,
		.congestion_threshold = ci->congestion_threshold,
		.time_gran = ci->time_gran,
	};
}

static int state_write(int fd, const struct handover_state *s)
{
	ssize_t n = pwrite(fd, s, sizeof(*s), 0);

	if (n < 0)
		return negative_errno();
	return (size_t)n == sizeof(*s) ? 0 : -EIO;
}

int handover_state_new(const char *mountpoint, const void *in, size_t len,
		       const struct handover_conn *conn, int *ret_fd)
{
	_cleanup_free_ struct handover_state *s = calloc(1, sizeof(*s));
	_cleanup_close_ int fd = -1;
	int r;

	if (!s)
		return -ENOMEM;
	if (len > sizeof(s->init_in) || strlen(mountpoint) >= sizeof(s->mountpoint))
		return -ENAMETOOLONG;
	memcpy(s->magic, state_magic, sizeof(s->magic));
	s->format = HANDOVER_FORMAT;
	s->generation = 1;
	r = handover_mount_dev(mountpoint, &s->dev);
	if (r < 0)
		return r;
	memcpy(s->mountpoint, mountpoint, strlen(mountpoint) + 1);
	memcpy(s->init_in, in, len);
	s->init_len = (uint32_t)len;
	s->conn = *conn;
	fd = memfd_create(HANDOVER_STATE_NAME, MFD_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	r = state_write(fd, s);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int handover_state_read(int fd, struct handover_state *ret)
{
	ssize_t n = pread(fd, ret, sizeof(*ret), 0);

	if (n < 0)
		return negative_errno();
	if ((size_t)n != sizeof(*ret) || memcmp(ret->magic, state_magic, sizeof(state_magic)) ||
	    ret->format != HANDOVER_FORMAT || ret->init_len > sizeof(ret->init_in) ||
	    ret->init_len < 8 || !memchr(ret->mountpoint, '\0', sizeof(ret->mountpoint)))
		return -EPROTO;
	return 0;
}

int handover_state_set_generation(int fd, uint32_t generation)
{
	struct handover_state s;
	int r;

	r = handover_state_read(fd, &s);
	if (r < 0)
		return r;
	s.generation = generation;
	return state_write(fd, &s);
}

int handover_mount_dev(const char *mountpoint, uint64_t *ret_dev)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t size = 0;
	uint64_t dev = 0;
	bool found = false;

	if (!f)
		return negative_errno();
	/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS"; the last
	 * mount there is the one a path reaches */
	while (getline(&line, &size, f) > 0) {
		unsigned maj, min;
		char mnt[PATH_MAX], *sep;

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mnt) != 3)
			continue;
		sep = strstr(line, " - ");
		if (!sep || !streq(mnt, mountpoint))
			continue;
		found = strncmp(sep + 3, "fuse.vaultfs ", 13) == 0;
		dev = makedev(maj, min);
	}
	free(line);
	fclose(f);
	if (!found)
		return -ENOENT;
	*ret_dev = dev;
	return 0;
}

int handover_check(int fd, const struct handover_state *s, const char *mountpoint, const char **why)
{
	char path[64];
	struct statfs sf;
	struct stat st;
	uint64_t dev;

	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 10 ||
	    minor(st.st_rdev) != 229) {
		*why = "the descriptor is not /dev/fuse";
		return -EBADF;
	}
	if (!streq(s->mountpoint, mountpoint)) {
		*why = "the session was mounted at another mountpoint";
		return -EXDEV;
	}
	if (handover_mount_dev(mountpoint, &dev) < 0) {
		*why = "no vaultfs mount is at the mountpoint";
		return -ENOENT;
	}
	if (dev != s->dev) {
		*why = "the mount at the mountpoint is another one";
		return -ESTALE;
	}
	/* the connection lives until its last /dev/fuse descriptor closes or it is aborted;
	 * fusectl lists the live ones, where it is mounted */
	snprintf(path, sizeof(path), "/sys/fs/fuse/connections/%u", minor(dev));
	if (statfs("/sys/fs/fuse/connections", &sf) == 0 && sf.f_type == FUSE_CTL_SUPER_MAGIC &&
	    access(path, F_OK) < 0 && errno == ENOENT) {
		*why = "the mount's FUSE connection is gone";
		return -ENOTCONN;
	}
	return 0;
}

int handover_fdstore_put(int fuse_fd, int state_fd)
{
	const char *max = getenv("FDSTORE");
	int r;

	/* only where a store of two at least is known to exist: systemd 254+ says so in
	 * $FDSTORE, and vaultfsd.service sets it for older ones (a notify socket alone does not
	 * keep descriptors, and a daemon that left its mount to it would leave a dead one) */
	if (!max || strtoul(max, NULL, 10) < 2)
		return 0;
	r = sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=" HANDOVER_FUSE_NAME, &fuse_fd, 1);
	if (r <= 0)
		return r;
	return sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=" HANDOVER_STATE_NAME, &state_fd, 1);
}

int handover_fdstore_take(int *ret_fuse, int *ret_state)
{
	char **names = NULL;
	int n, fuse = -1, state = -1;

	n = sd_listen_fds_with_names(1, &names);
	if (n <= 0)
		return n;
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *name = names ? names[i] : NULL;

		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (name && streq(name, HANDOVER_FUSE_NAME) && fuse < 0)
			fuse = fd;
		else if (name && streq(name, HANDOVER_STATE_NAME) && state < 0)
			state = fd;
		else
			close(fd);
	}
	for (int i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	if (fuse < 0 || state < 0) {
		if (fuse >= 0)
			close(fuse);
		if (state >= 0)
			close(state);
		return 0;
	}
	*ret_fuse = fuse;
	*ret_state = state;
	return 1;
}

void handover_fdstore_drop(void)
{
	(void)sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=" HANDOVER_FUSE_NAME);
	(void)sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=" HANDOVER_STATE_NAME);
}

int handover_replay_init(struct fuse_session *se, const struct handover_state *s)
{
	struct {
		struct fuse_in_header h;
		uint8_t in[HANDOVER_INIT_MAX];
	} msg = { 0 };
	struct fuse_buf buf = { 0 };

	msg.h.len = (uint32_t)(sizeof(msg.h) + s->init_len);
	msg.h.opcode = FUSE_INIT;
	msg.h.unique = HANDOVER_INIT_UNIQUE;
	memcpy(msg.in, s->init_in, s->init_len);
	buf.mem = &msg;
	buf.size = msg.h.len;
	/* answered to the kernel with HANDOVER_INIT_UNIQUE: ENOENT there, ignored by libfuse */
	fuse_session_process_buf(se, &buf);
	return fuse_session_exited(se) ? -EPROTO : 0;
}

int handover_conn_check(const struct handover_state *s, const struct handover_conn *conn)
{
	return memcmp(&s->conn, conn, sizeof(*conn)) == 0 ? 0 : -EPROTO;
}

int handover_blocking(int fuse_fd)
{
	int fl = fcntl(fuse_fd, F_GETFL);

	if (fl < 0 || ((fl & O_NONBLOCK) && fcntl(fuse_fd, F_SETFL, fl & ~O_NONBLOCK) < 0))
		return negative_errno();
	return 0;
}

int handover_resend(int fuse_fd)
{
	struct fuse_out_header oh = { .len = sizeof(oh), .error = FUSE_NOTIFY_RESEND };

	if (write(fuse_fd, &oh, sizeof(oh)) < 0)
		return negative_errno();
	return 0;
}

void handover_sweep(int fuse_fd, uint64_t first_unique)
{
	uint64_t u = first_unique & ~1ULL;

	/* a unique no request holds (answered, a forget's) is ENOENT: harmless */
	for (unsigned i = 0; i < HANDOVER_SWEEP && u > 2; i++) {
		struct fuse_out_header oh = { .len = sizeof(oh), .error = -EIO };

		u -= 2;
		oh.unique = u;
		(void)!write(fuse_fd, &oh, sizeof(oh));
	}
}

int handover_socket_path(const char *control_socket, char *buf, size_t size)
{
	const char *slash = strrchr(control_socket, '/');
	int n;

	if (!slash)
		n = snprintf(buf, size, "%s", HANDOVER_SOCKET_NAME);
	else
		n = snprintf(buf, size, "%.*s/%s", (int)(slash - control_socket), control_socket,
			     HANDOVER_SOCKET_NAME);
	return n < 0 || (size_t)n >= size ||
			       (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path) ?
		       -ENAMETOOLONG :
		       0;
}

static void addr_of(const char *path, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(sa->sun_path, path, strlen(path) + 1);
}

int handover_listen(const char *path, int *ret_fd)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un sa;
	struct stat st;

	if (fd < 0)
		return negative_errno();
	addr_of(path, &sa);
	/* a socket left by a daemon that died; never another file */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		(void)unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	if (chmod(path, 0600) < 0 || listen(fd, 2) < 0) {
		int r = negative_errno();

		(void)unlink(path);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int handover_accept(int listen_fd, int *ret_conn)
{
	_cleanup_close_ int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (c < 0)
		return negative_errno();
	/* the socket is 0600 root's; the peer is checked all the same */
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return negative_errno();
	if (cred.uid != 0)
		return -EPERM;
	*ret_conn = TAKE_FD(c);
	return 0;
}

int handover_send(int conn, int fuse_fd, int state_fd)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u = { 0 };
	char word[] = "take";
	struct iovec iov = { .iov_base = word, .iov_len = sizeof(word) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	int fds[2] = { fuse_fd, state_fd };

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	if (sendmsg(conn, &mh, MSG_NOSIGNAL) < 0)
		return negative_errno();
	return 0;
}

static int wait_in(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return negative_errno();
	return r == 0 ? -ETIMEDOUT : 0;
}

int handover_wait_answer(int conn, int timeout_ms)
{
	char c = 0;
	int r;

	r = wait_in(conn, timeout_ms);
	if (r < 0)
		return r;
	if (recv(conn, &c, 1, 0) != 1)
		return -ECONNABORTED;
	return c == 'y' ? 0 : -ECANCELED;
}

int handover_request(const char *path, int *ret_conn, int *ret_fuse, int *ret_state)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	char word[8];
	struct iovec iov = { .iov_base = word, .iov_len = sizeof(word) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct sockaddr_un sa;
	struct cmsghdr *cm;
	int fds[2];
	ssize_t n;
	int r;

	if (fd < 0)
		return negative_errno();
	addr_of(path, &sa);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	/* the old daemon finishes the request it is answering first: a moment */
	r = wait_in(fd, 30000);
	if (r < 0)
		return r;
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return negative_errno();
	cm = CMSG_FIRSTHDR(&mh);
	if (n != 5 || memcmp(word, "take", 5) || !cm || cm->cmsg_level != SOL_SOCKET ||
	    cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(fds))) {
		if (cm && cm->cmsg_type == SCM_RIGHTS) {
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			memcpy(fds, CMSG_DATA(cm), MIN(k, 2) * sizeof(int));
			for (size_t i = 0; i < MIN(k, 2); i++)
				close(fds[i]);
		}
		return -EPROTO;
	}
	memcpy(fds, CMSG_DATA(cm), sizeof(fds));
	*ret_fuse = fds[0];
	*ret_state = fds[1];
	*ret_conn = TAKE_FD(fd);
	return 0;
}

int handover_answer(int conn, bool ok)
{
	char c = ok ? 'y' : 'n';

	return send(conn, &c, 1, MSG_NOSIGNAL) == 1 ? 0 : negative_errno();
}

int handover_wait_closed(int conn, int timeout_ms)
{
	char c;
	int r;

	r = wait_in(conn, timeout_ms);
	if (r < 0)
		return r;
	(void)recv(conn, &c, 1, MSG_DONTWAIT);
	return 0;
}
