/* peer.c: the listening socket and the peer identity of vaultfsd's socket servers (peer.h),
 * written once for the control socket and the agent socket. Never reads from a peer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/util.h"
#include "fs/peer.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 (asm-generic/socket.h); Debian 12's headers predate it */
#endif

int peer_listen(const char *path, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_free_ char *dir = NULL;
	struct stat st;
	char *slash;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return negative_errno();
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	/* a socket left by a daemon that died goes; a live one, or any other file, stays */
	if (lstat(path, &st) == 0) {
		_cleanup_close_ int probe = -1;

		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return -EADDRINUSE;
		if (unlink(path) < 0)
			return negative_errno();
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	/* authorization is by policy, not by file mode: anyone may ask */
	if (chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
		int r = negative_errno();

		(void)unlink(path);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

void peer_identity(struct identity_cache *ids, int fd, const struct ucred *cred,
		   struct identity *ret)
{
	const unsigned fields = IDENTITY_ALL & ~(unsigned)(IDENTITY_UID | IDENTITY_GID);
	_cleanup_close_ int pidfd = -1;
	socklen_t len = sizeof(pidfd);

	identity_init(ret);
	identity_set_uid(ret, cred->uid);
	identity_set_gid(ret, cred->gid);
	identity_set_pid(ret, cred->pid);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0) {
		(void)identity_resolve_pidfd(ids, ret, pidfd, cred->pid, fields);
		return;
	}
	if (errno == ENOPROTOOPT) /* before Linux 6.5 */
		(void)identity_resolve(ids, ret, cred->pid, fields);
}
