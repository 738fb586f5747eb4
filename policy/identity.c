/* identity.c: resolve a caller through /proc, pinned by a pidfd: groups, process, cgroup (and
 * what it says: unit, container, pod), executable. It reads only the fields asked for, each
 * once (the process id from the pidfd itself where the kernel tells it, PIDFD_GET_INFO, Linux
 * 6.13: no /proc/TID/status to read and format), and counts nothing as verified unless the
 * pidfd shows the task alive after the reads. With a cache it keeps the pidfds of the last
 * few callers (a pidfd whose task lives pins its tid to it, so one shown alive after the reads
 * vouches for them as well as a new one would) and remembers cgroup paths by id; it never
 * keeps what a task can change: ids, groups, executable, which cgroup it is in.
 * It never trusts a name from a delegated cgroup subtree as a system one (cgroup.c), never
 * logs, and never looks at secrets. */
#include <assert.h>
#include <fcntl.h>
#include <linux/types.h>
#include <poll.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/stat.h>

#include "core/io.h"
#include "core/util.h"
#include "core/audit.h"
#include "policy/identity.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux 6.9 */
#endif

/* PIDFD_GET_INFO (linux/pidfd.h of Linux 6.13; its first 64 bytes, PIDFD_INFO_SIZE_VER0, which
 * every kernel that has the ioctl accepts): what the pidfd's task is. */
#ifndef PIDFD_GET_INFO
struct pidfd_info {
	__u64 mask;
	__u64 cgroupid;
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	__u32 ruid;
	__u32 rgid;
	__u32 euid;
	__u32 egid;
	__u32 suid;
	__u32 sgid;
	__u32 fsuid;
	__u32 fsgid;
	__u32 spare0[1];
};
#define PIDFD_GET_INFO _IOWR(0xFF, 11, struct pidfd_info)
#define PIDFD_INFO_PID (1UL << 0)
#endif
#ifndef PIDFD_INFO_CGROUPID
#define PIDFD_INFO_CGROUPID (1UL << 2)
#endif

/* Cgroups remembered by id (a direct-mapped table: a busy host has few cgroups that call). */
#define MEMO_SLOTS 64u
/* Pidfds kept by tid (direct-mapped: consecutive tids, a process's threads, do not collide);
 * at most this many fds are held. */
#define PIDFD_SLOTS 16u

struct cgroup_memo {
	uint64_t id; /* 0: empty */
	char *path;
	size_t len; /* strlen(path) */
	struct cgroup_info cg;
};

/* A pidfd that pins exactly the task that had tid when it was opened: a thread pidfd, or a
 * process pidfd of a thread group leader; never one of tid's process opened through its Tgid
 * (the thread may die, and its tid name another task, while the process lives). */
struct pidfd_slot {
	pid_t tid; /* 0: empty */
	int fd;
};

struct identity_cache {
	int mount_fd;	  /* the cgroup2 mount (O_PATH), -1: nothing is memoized */
	int mi_fd;	  /* our /proc/thread-self/mountinfo, polled for changes; -1: none */
	uint64_t *mi_ids; /* its mount ids, sorted; NULL: to be read */
	size_t n_mi_ids;
	struct stat mnt_ns; /* our own mount namespace; st_ino 0: not known */
	struct cgroup_memo memo[MEMO_SLOTS];
	struct pidfd_slot pidfd[PIDFD_SLOTS];
};

/* /proc/thread-self/mountinfo is read whole up to this size (a host with many containers). */
#define VAULTFS_MOUNTINFO_MAX (16u * 1024u * 1024u)
/* /proc/TID/status and /proc/TID/cgroup are read whole into a buffer this large. */
#define PROC_FILE_MAX (16u * 1024u)

void identity_init(struct identity *id)
{
	id->known = 0;
	id->verified = 0;
	id->uid = id->gid = UINT32_MAX;
	id->pid = 0;
	id->n_groups = 0;
	id->cgroup[0] = '\0';
	memset(&id->cg, 0, sizeof(id->cg));
	id->exe[0] = '\0';
	id->exe_unverified = false;
	id->host = false;
	id->ssh = IDENTITY_SSH_NONE;
	id->ssh_namespace = NULL;
}

void identity_set_uid(struct identity *id, uint32_t uid)
{
	id->uid = uid;
	id->known |= IDENTITY_UID;
	id->verified &= ~IDENTITY_UID;
}

void identity_set_gid(struct identity *id, uint32_t gid)
{
	id->gid = gid;
	id->known |= IDENTITY_GID;
	id->verified &= ~IDENTITY_GID;
}

void identity_set_pid(struct identity *id, pid_t pid)
{
	id->pid = pid;
	id->known |= IDENTITY_PID;
	id->verified &= ~IDENTITY_PID;
}

static int gid_cmp(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;

	return x < y ? -1 : x > y;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int identity_set_groups(struct identity *id, const gid_t *groups, size_t n)
{
	if (n > VAULTFS_POLICY_GROUPS_MAX)
		return -E2BIG;
	if (n)
		memcpy(id->groups, groups, n * sizeof(gid_t));
	id->n_groups = (uint32_t)n;
	qsort(id->groups, n, sizeof(gid_t), gid_cmp);
	id->known |= IDENTITY_GROUPS;
	id->verified &= ~IDENTITY_GROUPS;
	return 0;
}

int identity_set_cgroup(struct identity *id, const char *path)
{
	struct cgroup_info cg;
	int r;

	r = cgroup_parse(path, &cg);
	if (r < 0)
		return r;
	strcpy(id->cgroup, path); /* cgroup_parse checked the length */
	id->cg = cg;
	id->known |= IDENTITY_CGROUP;
	id->verified &= ~IDENTITY_CGROUP;
	return 0;
}

int identity_set_exe(struct identity *id, const char *path)
{
	size_t n = strlen(path);

	if (path[0] != '/')
		return -EINVAL;
	if (n >= sizeof(id->exe))
		return -ENAMETOOLONG;
	memcpy(id->exe, path, n + 1);
	id->exe_unverified = false;
	id->known |= IDENTITY_EXE;
	id->verified &= ~IDENTITY_EXE;
	return 0;
}

void identity_set_host(struct identity *id, bool host)
{
	id->host = host;
	id->known |= IDENTITY_NS;
	id->verified &= ~IDENTITY_NS;
}

void identity_set_ssh(struct identity *id, enum identity_ssh use, const char *ns)
{
	id->ssh = (uint8_t)use;
	id->ssh_namespace = use == IDENTITY_SSH_SIG ? ns : NULL;
	if (use == IDENTITY_SSH_NONE)
		id->known &= ~(unsigned)IDENTITY_SSH;
	else
		id->known |= IDENTITY_SSH;
	id->verified &= ~(unsigned)IDENTITY_SSH;
}

void identity_to_record(const struct identity *id, struct audit_record *rec)
{
	rec->uid = id->uid;
	rec->gid = id->gid;
	if (id->known & IDENTITY_PID)
		rec->pid = id->pid;
	if ((id->known & IDENTITY_EXE) || id->exe_unverified)
		rec->exe = id->exe; /* "?(PATH)" when unverified */
	if (id->known & IDENTITY_CGROUP) {
		rec->cgroup = id->cgroup;
		rec->unit = id->cg.unit[0] ? id->cg.unit : NULL;
		rec->container = id->cg.container[0] ? id->cg.container : NULL;
	}
}

bool identity_in_group(const struct identity *id, uint32_t g)
{
	gid_t key = g;

	if ((id->known & IDENTITY_GID) && id->gid == g)
		return true;
	return (id->known & IDENTITY_GROUPS) &&
	       bsearch(&key, id->groups, id->n_groups, sizeof(gid_t), gid_cmp);
}

const char *identity_field_name(unsigned field)
{
	switch (field) {
	case IDENTITY_UID:
		return "uid";
	case IDENTITY_GID:
		return "gid";
	case IDENTITY_GROUPS:
		return "groups";
	case IDENTITY_PID:
		return "pid";
	case IDENTITY_CGROUP:
		return "cgroup";
	case IDENTITY_EXE:
		return "exe";
	case IDENTITY_NS:
		return "ns";
	case IDENTITY_SSH:
		return "ssh";
	default:
		return NULL;
	}
}

/* Room for "/proc/TID/NAME" with the names below (TID: 10 digits at most). */
#define PROC_PATH_MAX 32u

/* "/proc/TID/NAME" into buf, tid > 0, name one of this file's ("exe", "ns/mnt", ...): what
 * snprintf would write, without its machinery (measured on every open, read_exe). */
static const char *proc_path(char buf[static PROC_PATH_MAX], pid_t tid, const char *name)
{
	char digits[10];
	size_t n = 0, k = strlen(name);
	uint32_t v = (uint32_t)tid;
	char *p = buf;

	assert(tid > 0 && sizeof("/proc//") + sizeof(digits) + k <= PROC_PATH_MAX);
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	memcpy(p, "/proc/", 6);
	p += 6;
	while (n > 0)
		*p++ = digits[--n];
	*p++ = '/';
	memcpy(p, name, k + 1);
	return buf;
}

/* Read /proc/TID/NAME whole into buf (NUL-terminated); -E2BIG when it does not fit. */
static int read_proc(pid_t tid, const char *name, char *buf, size_t size)
{
	_cleanup_close_ int fd = -1;
	char path[PROC_PATH_MAX];
	size_t len = 0;
	int r;

	fd = open(proc_path(path, tid, name), O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	r = io_read_all(fd, buf, size - 1, &len);
	if (r < 0)
		return r == -EFBIG ? -E2BIG : r;
	buf[len] = '\0';
	return 0;
}

/* The value after "Key:" on its own line of a status file, or NULL. */
static const char *status_field(const char *buf, const char *key)
{
	size_t k = strlen(key);

	for (const char *l = buf; *l;) {
		const char *nl = strchrnul(l, '\n');

		if (strncmp(l, key, k) == 0 && l[k] == ':')
			return l + k + 1;
		if (!*nl)
			break;
		l = nl + 1;
	}
	return NULL;
}

/* Next unsigned decimal number on this line of p; false at the line's end. */
static bool next_number(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*p = s;
	*ret = v;
	return true;
}

/* The n-th (0-based) number of a status line. */
static int status_number(const char *buf, const char *key, unsigned nth, uint64_t *ret)
{
	const char *p = status_field(buf, key);
	uint64_t v;

	if (!p)
		return -EBADMSG;
	for (unsigned i = 0; i <= nth; i++)
		if (!next_number(&p, &v))
			return -EBADMSG;
	*ret = v;
	return 0;
}

static int read_status(pid_t tid, unsigned fields, struct identity *id)
{
	char buf[PROC_FILE_MAX];
	uint64_t v;
	int r;

	r = read_proc(tid, "status", buf, sizeof(buf));
	if (r < 0)
		return r;
	if (fields & IDENTITY_PID) {
		r = status_number(buf, "Tgid", 0, &v);
		if (r < 0)
			return r;
		id->pid = (pid_t)v;
	}
	if (fields & IDENTITY_UID) { /* real, effective, saved, fs: FUSE reports the fs id */
		r = status_number(buf, "Uid", 3, &v);
		if (r < 0)
			return r;
		id->uid = (uint32_t)v;
	}
	if (fields & IDENTITY_GID) {
		r = status_number(buf, "Gid", 3, &v);
		if (r < 0)
			return r;
		id->gid = (uint32_t)v;
	}
	if (fields & IDENTITY_GROUPS) {
		const char *p = status_field(buf, "Groups");
		uint32_t n = 0;

		if (!p)
			return -EBADMSG;
		while (next_number(&p, &v)) {
			if (n >= VAULTFS_POLICY_GROUPS_MAX)
				return -E2BIG;
			id->groups[n++] = (gid_t)v;
		}
		p += strspn(p, " \t");
		if (*p != '\n' && *p != '\0')
			return -EBADMSG;
		id->n_groups = n;
		qsort(id->groups, n, sizeof(gid_t), gid_cmp);
	}
	return 0;
}

static int read_cgroup(pid_t tid, struct identity *id)
{
	char buf[PROC_FILE_MAX];
	char *line, *end;
	int r;

	r = read_proc(tid, "cgroup", buf, sizeof(buf));
	if (r < 0)
		return r;
	/* "0::/path" is the v2 hierarchy, on a pure v2 host and on a hybrid one alike */
	for (line = buf; *line; line = end + 1) {
		end = strchrnul(line, '\n');
		if (strncmp(line, "0::", 3) == 0) {
			*end = '\0';
			if (strncmp(line + 3, "/..", 3) == 0)
				return -EXDEV; /* outside the cgroup namespace we live in */
			r = identity_set_cgroup(id, line + 3);
			return r == -EINVAL ? -EBADMSG : r;
		}
		if (!*end)
			break;
	}
	return -ENODATA;
}

/* Our mount namespace's mounts: the ids of /proc/thread-self/mountinfo (fd, read from its
 * start), sorted, into *ret (freed by the caller). */
static int mounts_load(int fd, uint64_t **ret, size_t *ret_n)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ uint64_t *ids = NULL;
	size_t len = 0, cap = 64 * 1024, n = 0;

	for (;;) { /* the whole file: it may change between reads, the poll says so then */
		char *nb = realloc(buf, cap + 1);
		ssize_t k;

		if (!nb)
			return -ENOMEM;
		buf = nb;
		k = pread(fd, buf + len, cap - len, (off_t)len);
		if (k < 0)
			return negative_errno();
		if (k == 0)
			break;
		len += (size_t)k;
		if (len == cap) {
			if (cap >= VAULTFS_MOUNTINFO_MAX)
				return -E2BIG;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	for (const char *l = buf; *l;) { /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ..." a line */
		const char *nl = strchrnul(l, '\n'), *p = l;
		uint64_t v;

		if (n % 256 == 0) {
			uint64_t *ni = reallocarray(ids, n + 256, sizeof(*ids));

			if (!ni)
				return -ENOMEM;
			ids = ni;
		}
		if (next_number(&p, &v))
			ids[n++] = v;
		l = *nl ? nl + 1 : nl;
	}
	qsort(ids, n, sizeof(*ids), u64_cmp);
	*ret = TAKE_PTR(ids);
	*ret_n = n;
	return 0;
}

/* Is mount id one of our mount namespace's? With a cache, its list is read again only when
 * the kernel said the mount table changed (POLLPRI on mountinfo: the list was forgotten then,
 * mounts_forget); without, read now. */
static bool mount_is_ours(struct identity_cache *c, uint64_t id)
{
	_cleanup_free_ uint64_t *tmp = NULL;
	_cleanup_close_ int fd = -1;
	const uint64_t *ids;
	size_t n;

	if (c && c->mi_fd >= 0) {
		if (!c->mi_ids) {
			if (mounts_load(c->mi_fd, &c->mi_ids, &c->n_mi_ids) < 0)
				return false;
		}
		ids = c->mi_ids;
		n = c->n_mi_ids;
	} else {
		fd = open("/proc/thread-self/mountinfo", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || mounts_load(fd, &tmp, &n) < 0)
			return false;
		ids = tmp;
	}
	return bsearch(&id, ids, n, sizeof(*ids), u64_cmp) != NULL;
}

/* What read_exe saw of the link: its text, and whether the file is a linked one on a mount
 * (mnt_id) that is still to be found ours. */
struct exe_seen {
	char path[VAULTFS_PATH_MAX - 3]; /* room for "?(" and ")" */
	uint64_t mnt_id;
	bool linked; /* absolute, still linked, the mount id known */
};

/* The executable of tid: the link's text and what the file is (exe_verdict decides). The
 * link's text is the path in the task's own mount namespace, which the task may have made up
 * (an unprivileged user namespace can bind-mount any file over /usr/bin/cat): it counts only
 * where the file the task runs is on a mount of our own mount namespace, and still linked.
 * Then the kernel made the text through our mount tree: it is the file's path in our view
 * (only root could mount over it since). A bind mount made in another namespace, a
 * container's root, are mounts of theirs. Nothing is looked up by path: a caller cannot stall
 * us with a path through a file system it serves itself (AT_STATX_DONT_SYNC: nor is the
 * file's own asked). */
static int read_exe(pid_t tid, struct exe_seen *ret)
{
	char link[PROC_PATH_MAX];
	struct statx stx;
	ssize_t n;

	proc_path(link, tid, "exe");
	if (statx(AT_FDCWD, link, AT_STATX_DONT_SYNC, STATX_MNT_ID | STATX_NLINK, &stx) < 0)
		return negative_errno();
	n = readlink(link, ret->path, sizeof(ret->path));
	if (n < 0)
		return negative_errno();
	if ((size_t)n >= sizeof(ret->path))
		return -ENAMETOOLONG;
	ret->path[n] = '\0';
	ret->linked = ret->path[0] == '/' && (stx.stx_mask & STATX_NLINK) && stx.stx_nlink > 0 &&
		      (stx.stx_mask & STATX_MNT_ID);
	ret->mnt_id = stx.stx_mnt_id;
	return 0;
}

/* What read_exe saw into id->exe: 0 when verified, 1 when not ("?(PATH)", struct identity). */
static int exe_verdict(struct identity_cache *cache, const struct exe_seen *e, struct identity *id)
{
	if (e->linked && mount_is_ours(cache, e->mnt_id)) {
		strcpy(id->exe, e->path); /* sizeof(e->path) < sizeof(id->exe) */
		return 0;
	}
	snprintf(id->exe, sizeof(id->exe), "?(%s)", e->path);
	return 1;
}

/* Our own mount namespace: the calling thread's (a thread may have one of its own). */
static int own_mnt_ns(struct stat *ret)
{
	return stat("/proc/thread-self/ns/mnt", ret) < 0 ? negative_errno() : 0;
}

/* Is tid's mount namespace ours (own, when known, saves reading it)? */
static int read_ns(pid_t tid, const struct stat *own, struct identity *id)
{
	struct stat ns, self;
	char path[PROC_PATH_MAX];
	int r;

	if (stat(proc_path(path, tid, "ns/mnt"), &ns) < 0)
		return negative_errno();
	if (!own || own->st_ino == 0) {
		r = own_mnt_ns(&self);
		if (r < 0)
			return r;
		own = &self;
	}
	id->host = ns.st_dev == own->st_dev && ns.st_ino == own->st_ino;
	return 0;
}

/* A pidfd that pins tid: a thread pidfd (Linux >= 6.9), else the process's. *ret_exact says
 * whether it pins the task of tid itself (struct pidfd_slot), or only its process. */
static int open_pidfd(pid_t tid, bool *ret_exact)
{
	char buf[PROC_FILE_MAX];
	uint64_t tgid;
	int fd, r;

	fd = pidfd_open(tid, PIDFD_THREAD);
	if (fd < 0 && errno == EINVAL)
		fd = pidfd_open(tid, 0); /* older kernel: fine for a thread group leader */
	if (fd >= 0) {
		*ret_exact = true;
		return fd;
	}
	if (errno != EINVAL)
		return negative_errno();
	/* older kernel, another thread: pin its process (a blocked FUSE caller keeps its tid) */
	r = read_proc(tid, "status", buf, sizeof(buf));
	if (r < 0)
		return r;
	r = status_number(buf, "Tgid", 0, &tgid);
	if (r < 0)
		return r;
	fd = pidfd_open((pid_t)tgid, 0);
	if (fd < 0)
		return negative_errno();
	*ret_exact = false;
	return fd;
}

/* What the kernel says of the pidfd's task (PIDFD_GET_INFO): -ESRCH when it exited,
 * -EOPNOTSUPP when the kernel cannot tell (before 6.13). The caller checks info->mask. */
static int pidfd_info_get(int pidfd, struct pidfd_info *ret)
{
	struct pidfd_info info = { .mask = PIDFD_INFO_PID | PIDFD_INFO_CGROUPID };

	if (ioctl(pidfd, PIDFD_GET_INFO, &info) < 0)
		return errno == ESRCH ? -ESRCH : -EOPNOTSUPP;
	*ret = info;
	return 0;
}

/* The process (thread group) id in info: -EOPNOTSUPP when it does not say (a task outside our
 * pid namespace). */
static int info_tgid(const struct pidfd_info *info, pid_t *ret)
{
	if (!(info->mask & PIDFD_INFO_PID) || info->tgid == 0 || info->tgid > INT32_MAX)
		return -EOPNOTSUPP;
	*ret = (pid_t)info->tgid;
	return 0;
}

int identity_cache_new(struct identity_cache **ret)
{
	struct identity_cache *c;
	char mnt[VAULTFS_PATH_MAX];

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->mount_fd = -1;
	c->mi_fd = open("/proc/thread-self/mountinfo", O_RDONLY | O_CLOEXEC);
	for (size_t i = 0; i < PIDFD_SLOTS; i++)
		c->pidfd[i] = (struct pidfd_slot){ .tid = 0, .fd = -1 };
	if (identity_cgroup2_mount(mnt, sizeof(mnt)) >= 0)
		c->mount_fd = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (own_mnt_ns(&c->mnt_ns) < 0)
		c->mnt_ns.st_ino = 0; /* read by each resolve then */
	*ret = c;
	return 0;
}

/* Close and forget the slot's pidfd. */
static void pidfd_slot_drop(struct pidfd_slot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	*s = (struct pidfd_slot){ .tid = 0, .fd = -1 };
}

void identity_cache_free(struct identity_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < MEMO_SLOTS; i++)
		free(c->memo[i].path);
	for (size_t i = 0; i < PIDFD_SLOTS; i++)
		pidfd_slot_drop(&c->pidfd[i]);
	if (c->mount_fd >= 0)
		close(c->mount_fd);
	if (c->mi_fd >= 0)
		close(c->mi_fd);
	free(c->mi_ids);
	free(c);
}

/* Does path (absolute, as in /proc/TID/cgroup) name the cgroup with this id? A cgroup's
 * directory has its id as inode number. */
static bool cgroup_is(const struct identity_cache *c, const char *path, uint64_t id)
{
	struct stat st;

	if (fstatat(c->mount_fd, path[1] ? path + 1 : ".", &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return S_ISDIR(st.st_mode) && (uint64_t)st.st_ino == id;
}

/* The cgroup of id from the memo into id (known only once the pidfd says alive): true on a
 * hit. No syscall: the path of a live id does not change (identity.h). */
static bool memo_get(const struct identity_cache *c, uint64_t cgid, struct identity *id)
{
	const struct cgroup_memo *m = &c->memo[cgid % MEMO_SLOTS];

	if (m->id != cgid || !m->path)
		return false;
	memcpy(id->cgroup, m->path, m->len + 1); /* from identity_set_cgroup: it fits */
	id->cg = m->cg;
	return true;
}

/* Remember what was read for cgid, when the path read still names it (the task may have
 * moved between the ioctl and the read). Best effort: no memory, no memo. */
static void memo_put(struct identity_cache *c, uint64_t cgid, const struct identity *id)
{
	struct cgroup_memo *m = &c->memo[cgid % MEMO_SLOTS];
	char *p;

	if (!cgroup_is(c, id->cgroup, cgid))
		return;
	p = strdup(id->cgroup);
	if (!p)
		return;
	free(m->path);
	m->path = p;
	m->len = strlen(p);
	m->id = cgid;
	m->cg = id->cg;
}

/* 0 while the task of pidfd has not exited. With mi_fd (>= 0), the same poll asks whether
 * the mount table changed since mi_fd was last polled (one system call for both): into
 * *ret_changed. */
static int still_alive_at(int pidfd, int mi_fd, bool *ret_changed)
{
	struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN },
			       { .fd = mi_fd, .events = POLLPRI } };
	int r;

	do
		r = poll(p, mi_fd >= 0 ? 2 : 1, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return negative_errno();
	if (ret_changed) /* said whatever the task's fate: the poll took the news */
		*ret_changed = mi_fd >= 0 && (p[1].revents & (POLLPRI | POLLERR));
	return p[0].revents ? -ESRCH : 0;
}

static int still_alive(int pidfd)
{
	return still_alive_at(pidfd, -1, NULL);
}

/* Read fields of tid, then check that the task pidfd pins is still alive. fields is not 0 and
 * none of them is known. */
static int resolve_pinned(struct identity_cache *cache, int pidfd, struct identity *id, pid_t tid,
			  unsigned fields)
{
	struct pidfd_info info = { .mask = 0 };
	struct exe_seen exe;
	unsigned unverified = 0;
	bool have_info = false, mounts_changed = false;
	int mi_fd, r;

	/* the process and the cgroup's id from the kernel, without /proc, where it tells */
	if ((fields & IDENTITY_PID) ||
	    (cache && cache->mount_fd >= 0 && (fields & IDENTITY_CGROUP))) {
		r = pidfd_info_get(pidfd, &info);
		if (r == -ESRCH)
			return r;
		have_info = r >= 0;
	}
	if (fields & (IDENTITY_UID | IDENTITY_GID | IDENTITY_GROUPS | IDENTITY_PID)) {
		unsigned from_status = fields;

		/* the process alone: the pidfd says it, without /proc/TID/status */
		if ((fields & (IDENTITY_UID | IDENTITY_GID | IDENTITY_GROUPS)) == 0 && have_info &&
		    info_tgid(&info, &id->pid) >= 0)
			from_status = 0;
		if (from_status) {
			r = read_status(tid, from_status, id);
			if (r < 0)
				return r;
		}
	}
	if (fields & IDENTITY_CGROUP) {
		bool by_id = cache && cache->mount_fd >= 0 && have_info &&
			     (info.mask & PIDFD_INFO_CGROUPID) && info.cgroupid != 0;

		if (!by_id || !memo_get(cache, info.cgroupid, id)) {
			r = read_cgroup(tid, id);
			id->known &= ~IDENTITY_CGROUP; /* not before the pidfd says so */
			if (r < 0)
				return r;
			if (by_id)
				memo_put(cache, info.cgroupid, id);
		}
	}
	if (fields & IDENTITY_EXE) {
		r = read_exe(tid, &exe);
		if (r < 0)
			return r;
	}
	if (fields & IDENTITY_NS) {
		r = read_ns(tid, cache ? &cache->mnt_ns : NULL, id);
		if (r < 0)
			return r;
	}
	/* alive after the reads, and in the same poll whether the mount table changed: the list
	 * the exe's mount is judged by is then as new as this poll */
	mi_fd = (fields & IDENTITY_EXE) && cache && cache->mi_ids ? cache->mi_fd : -1;
	r = still_alive_at(pidfd, mi_fd, &mounts_changed);
	if (mounts_changed) { /* the poll took the news: the list goes, read again when asked */
		free(cache->mi_ids);
		cache->mi_ids = NULL;
	}
	if (r < 0)
		return r;
	if (fields & IDENTITY_EXE)
		unverified = exe_verdict(cache, &exe, id) > 0 ? IDENTITY_EXE : 0;
	id->known |= fields & ~unverified;
	id->verified |= fields & ~unverified;
	if (unverified)
		id->exe_unverified = true;
	return 0;
}

/* The fields a resolve reads (those asked that exist), unknown from now on. */
static unsigned fields_begin(struct identity *id, unsigned fields)
{
	fields &= IDENTITY_ALL;
	id->known &= ~fields;
	id->verified &= ~fields;
	if (fields & IDENTITY_EXE)
		id->exe_unverified = false;
	return fields;
}

int identity_resolve(struct identity_cache *cache, struct identity *id, pid_t tid, unsigned fields)
{
	_cleanup_close_ int pidfd = -1;
	struct pidfd_slot *s = NULL;
	bool exact;
	int r;

	if (tid <= 0)
		return -EINVAL;
	fields = fields_begin(id, fields);
	if (!fields)
		return 0;
	if (cache) {
		s = &cache->pidfd[(unsigned)tid % PIDFD_SLOTS];
		if (s->tid == tid) {
			/* alive after the reads: tid was its task's all along, the reads were of
			 * it. Whatever the outcome, while it lives it is tid's answer. */
			r = resolve_pinned(cache, s->fd, id, tid, fields);
			if (r >= 0 || still_alive(s->fd) == 0)
				return r;
			/* its task exited: tid may name another task now, whatever was read or
			 * failed may be that one's or nobody's. Once more, with a new pidfd. */
			pidfd_slot_drop(s);
		}
	}
	pidfd = open_pidfd(tid, &exact);
	if (pidfd < 0)
		return pidfd;
	r = resolve_pinned(cache, pidfd, id, tid, fields);
	/* kept once seen alive after use (on success resolve_pinned saw it) */
	if (s && exact && (r >= 0 || (r != -ESRCH && still_alive(pidfd) == 0))) {
		pidfd_slot_drop(s);
		s->tid = tid;
		s->fd = TAKE_FD(pidfd);
	}
	return r;
}

int identity_resolve_pidfd(struct identity_cache *cache, struct identity *id, int pidfd, pid_t pid,
			   unsigned fields)
{
	if (pid <= 0 || pidfd < 0)
		return -EINVAL;
	fields = fields_begin(id, fields);
	return fields ? resolve_pinned(cache, pidfd, id, pid, fields) : 0;
}

/* Undo the octal escapes (\040 for a space) of a mountinfo field, in place. */
static void unescape_mount(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

static void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

int identity_cgroup2_mount(char *buf, size_t size)
{
	_cleanup_(fclosep) FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return negative_errno();
	while (getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER */
		char *save = NULL, *mnt = NULL, *tok;
		bool sep = false;
		int i = 0;

		for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
			if (i++ == 4)
				mnt = tok;
			else if (sep)
				break;
			else if (streq(tok, "-") && i > 6)
				sep = true;
		}
		if (!sep || !tok || !mnt || !streq(tok, "cgroup2"))
			continue;
		unescape_mount(mnt);
		if (strlen(mnt) >= size)
			return -ENAMETOOLONG;
		strcpy(buf, mnt);
		return 0;
	}
	return -ENOENT;
}
