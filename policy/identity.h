/* identity.h: who is calling. From what a FUSE request or a socket peer gives (uid, gid, a
 * thread or process id) resolve the caller's supplementary groups, process, cgroup v2 path
 * (with the unit, slice, container and pod derived from it, cgroup.h) and executable, through
 * /proc and a pidfd, so that a recycled pid cannot answer for another process. Only the fields
 * asked for are read: the policy says which it needs (policy_needs()). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/limits.h"
#include "policy/cgroup.h"

enum identity_field {
	IDENTITY_UID = 1u << 0,
	IDENTITY_GID = 1u << 1,
	IDENTITY_GROUPS = 1u << 2, /* supplementary groups */
	IDENTITY_PID = 1u << 3,	   /* the process (thread group) */
	IDENTITY_CGROUP = 1u << 4, /* the cgroup path and cg: unit, slice, container, pod */
	IDENTITY_EXE = 1u << 5,
	IDENTITY_NS = 1u << 6,	      /* host: whether the mount namespace is the resolver's */
	IDENTITY_ALL = (1u << 7) - 1, /* what identity_resolve can read */
	/* What an ssh-agent request is for (identity_set_ssh): known only to vaultfsd's agent
	 * socket, never resolved, outside IDENTITY_ALL. */
	IDENTITY_SSH = 1u << 7,
};

/* The use of a signature asked through the ssh-agent socket (IDENTITY_SSH). */
enum identity_ssh {
	IDENTITY_SSH_NONE = 0,
	IDENTITY_SSH_LOGIN, /* an ssh user authentication (ssh=login) */
	IDENTITY_SSH_SIG,   /* an SSHSIG of namespace ssh_namespace (ssh=sig:GLOB) */
	IDENTITY_SSH_OTHER, /* other data: ssh-add -T, a certificate (ssh=other) */
	/* any use: for the list of keys a peer may use at all; an allow rule's ssh= holds, a
	 * deny rule's does not (the key is listed when some use of it may be allowed) */
	IDENTITY_SSH_ANY,
};

struct identity {
	unsigned known;	   /* fields set; a decision treats every other field as unknown */
	unsigned verified; /* fields read from /proc and confirmed by the pidfd after reading */
	uint32_t uid;	   /* for FUSE: the request's (fs)uid */
	uint32_t gid;	   /* the request's (fs)gid: the primary group */
	pid_t pid;
	uint32_t n_groups;
	gid_t groups[VAULTFS_POLICY_GROUPS_MAX]; /* sorted */
	char cgroup[VAULTFS_PATH_MAX];
	struct cgroup_info cg;
	/* The executable's path, known (IDENTITY_EXE) only when verified: the file the task runs
	 * is still linked and on a mount of the resolver's own mount namespace, so the kernel's
	 * path for it is the path in the resolver's view. Otherwise "?(PATH)", PATH as the kernel
	 * names it in the task's own mount namespace (which the task may have made: a bind mount
	 * over the path; a container's root), or of a deleted file, with exe_unverified set: kept
	 * for the record, unknown to the policy. */
	char exe[VAULTFS_PATH_MAX];
	bool exe_unverified;
	/* IDENTITY_NS: the task's mount namespace is the one its resolver (vaultfsd, which runs in
	 * the host's: vaultfsd.service makes none of its own) is in; false in a container, in
	 * `unshare -m`, in a service with a mount namespace of its own (PrivateTmp= and the
	 * like). The mount namespace is what a file system view is: who shares it is on the host. */
	bool host;
	/* IDENTITY_SSH: enum identity_ssh, and the SSHSIG namespace (IDENTITY_SSH_SIG; points
	 * into the caller's request, which outlives the decision) */
	uint8_t ssh;
	const char *ssh_namespace;
};

/* Nothing known. */
void identity_init(struct identity *id);
void identity_set_uid(struct identity *id, uint32_t uid);
void identity_set_gid(struct identity *id, uint32_t gid);
void identity_set_pid(struct identity *id, pid_t pid);
/* -E2BIG past VAULTFS_POLICY_GROUPS_MAX. */
int identity_set_groups(struct identity *id, const gid_t *groups, size_t n);
/* Sets the path and derives cg from it; errors of cgroup_parse(). */
int identity_set_cgroup(struct identity *id, const char *path);
/* -EINVAL when not absolute, -ENAMETOOLONG past VAULTFS_PATH_MAX. */
int identity_set_exe(struct identity *id, const char *path);
void identity_set_host(struct identity *id, bool host);
/* The use of an ssh-agent signature (enum identity_ssh); ns the SSHSIG namespace for
 * IDENTITY_SSH_SIG (kept as a pointer: it must outlive every decision made with id). */
void identity_set_ssh(struct identity *id, enum identity_ssh use, const char *ns);

struct audit_record;
/* The caller's fields of an audit record (uid, gid, pid, exe, cgroup, unit, container), as far
 * as they are known: the one place that fills them. The record points into id. */
void identity_to_record(const struct identity *id, struct audit_record *rec);

/* What identity_resolve may keep from one call to the next, the things a task cannot change:
 * - pidfds of the last callers (at most 16 fds held, by tid; a newcomer displaces the one in
 *   its slot and closes its fd). vaultfsd resolves the same few callers over and over; a
 *   pidfd_open and close per resolve cost more than the reads. While the task a pidfd pins
 *   lives, its tid names no other task, so a kept pidfd that shows its task alive after the
 *   reads vouches for them as a new one would; once it shows it exited, the tid may name
 *   another task, and the resolve is done once more with a new pidfd. Only pidfds that pin
 *   the tid's own task are kept (a thread pidfd, or a thread group leader's), never one of
 *   another thread's process.
 * - cgroup paths by cgroup id: the kernel names a task's cgroup by id through its pidfd
 *   (PIDFD_GET_INFO, Linux 6.13). A cgroup v2 directory cannot be renamed (EPERM) and an id
 *   is never reused within a boot, so the path of an id holds for the id's whole life; a path
 *   is remembered only once a stat on the cgroup2 mount shows it names that id (the task may
 *   move while /proc/TID/cgroup is read). Saves that read, the most costly step of a resolve.
 *   On a kernel without the ioctl, or without a cgroup2 mount, nothing is remembered and every
 *   resolve reads /proc.
 * - our mount namespace's mount ids (/proc/thread-self/mountinfo, one fd held), read again
 *   only when polling it says the mount table changed: what verifies an executable.
 * Ids, groups, executable and which cgroup a task is in are read anew on every resolve.
 * Not thread-safe: one thread at a time (vaultfsd: under its vfs lock). identity_cache_free
 * closes every fd it holds; NULL is a no-op. */
struct identity_cache;
int identity_cache_new(struct identity_cache **ret);
void identity_cache_free(struct identity_cache *c);

/* Read the fields asked for (enum identity_field) of thread or process tid from /proc: uid and
 * gid are the fsuid/fsgid of /proc/TID/status (a FUSE daemon takes them from the request
 * instead), groups and pid (Tgid) from the same file, the "0::" line of /proc/TID/cgroup, the
 * link /proc/TID/exe, verified by the mount of the file it opens (struct identity: exe; an
 * unverified exe is no error, it stays unknown), /proc/TID/ns/mnt against our own (struct identity:
 * host). A pidfd is opened first (a thread pidfd where the kernel has them), or the cache's
 * taken, and polled last: -ESRCH when the caller exited meanwhile
 * (a kept pidfd's task that exited only makes the resolve start once more, with a new one).
 * Other errors: -ENOENT/-ESRCH no such task, -EACCES, -E2BIG too many groups, -ENODATA no
 * cgroup v2 line, -EXDEV a cgroup outside our cgroup namespace, -ENAMETOOLONG. On success the
 * fields are known and verified; on failure those fields are unknown. Nothing is read for
 * fields not asked for. cache may be NULL: a pidfd is opened and closed by every call, the
 * cgroup read from /proc. */
int identity_resolve(struct identity_cache *cache, struct identity *id, pid_t tid, unsigned fields);
/* The same for the process that pidfd pins (taken when it was known to be the peer, e.g. a
 * socket's SO_PEERPIDFD), whose pid is pid: the reads go through /proc/PID, and count only if
 * pidfd shows its process alive after them. -ESRCH when it exited, even if pid names another
 * process by now. pidfd stays the caller's. */
int identity_resolve_pidfd(struct identity_cache *cache, struct identity *id, int pidfd, pid_t pid,
			   unsigned fields);

/* Is g the caller's gid or one of its supplementary groups? */
bool identity_in_group(const struct identity *id, uint32_t g);
/* "uid", "gid", "groups", "pid", "cgroup", "exe", "ns", "ssh" for one field; NULL otherwise. */
const char *identity_field_name(unsigned field);
/* Where cgroup2 is mounted, from /proc/self/mountinfo: "/sys/fs/cgroup" on a pure v2 host,
 * "/sys/fs/cgroup/unified" on a hybrid one. -ENOENT when it is not mounted, -ENAMETOOLONG
 * when it does not fit size. */
int identity_cgroup2_mount(char *buf, size_t size);
