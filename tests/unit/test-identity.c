/* test-identity.c: unit tests for policy/cgroup.c and policy/identity.c. Unit, slice, user-unit
 * flag, container and pod derived from a sample path of every runtime in
 * ../shared/cgroup-paths.md (Docker, Podman rootful/rootless/in a pod/cgroupfs, Kubernetes
 * with both drivers and every QoS class, CRI-O, nesting, host services, user sessions and
 * units), container and pod names forged below a container, a unit or an LXC payload (docker,
 * podman, containerd/k8s, lxc, nspawn: unknown), refusals of bad paths; then live identities:
 * this process, one of its threads, a child that changed its ids and exec'd another program,
 * a zombie and a reaped pid (both refused), an executable that is not the file its path names
 * (bind-mounted over it, deleted), the fields-asked-for contract, and the cgroup2 mount found
 * through mountinfo; and the cache's pidfds: reused (no fd opened per resolve), bounded, all
 * closed at free, dropped when their task exits, never vouching for a task that reused the pid
 * (forced with clone3's set_tid), never hiding an exec or a change of ids, nor a thread's exec
 * that ends its tid. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/audit.h"
#include "core/util.h"
#include "policy/cgroup.h"
#include "policy/identity.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* What identity.h promises: the cache holds at most this many pidfds. */
#define CACHE_PIDFDS 16

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define POD "8a3b9c2d-1e4f-4a5b-9c6d-7e8f9a0b1c2d"
#define POD_ "8a3b9c2d_1e4f_4a5b_9c6d_7e8f9a0b1c2d"
#define POD2 "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"
#define POD2_ "1b2c3d4e_5f60_4a7b_8c9d_0e1f2a3b4c5d"

struct sample {
	const char *path, *unit, *slice, *container, *pod;
	bool user_unit, delegated;
	uint32_t user_uid;
};

static const struct sample samples[] = {
	/* host services, the root, sessions */
	{ "/system.slice/payments-api.service", "payments-api.service", "system.slice", "", "",
	  false, false, 0 },
	{ "/system.slice/payments-api.service/worker", "payments-api.service", "system.slice", "",
	  "", false, false, 0 },
	{ "/init.scope", "init.scope", "-.slice", "", "", false, false, 0 },
	{ "/", "", "-.slice", "", "", false, false, 0 },
	{ "/system.slice/system-getty.slice/getty@tty1.service", "getty@tty1.service",
	  "system-getty.slice", "", "", false, false, 0 },
	{ "/system.slice/_cgroup.x.service", "cgroup.x.service", "system.slice", "", "", false,
	  false, 0 },
	{ "/user.slice/user-1000.slice/session-3.scope", "session-3.scope", "user-1000.slice", "",
	  "", false, false, 0 },
	/* user units: never a system unit of the same name */
	{ "/user.slice/user-1000.slice/user@1000.service/app.slice/payments-api.service",
	  "user@1000.service/payments-api.service", "user-1000.slice", "", "", true, true, 1000 },
	{ "/user.slice/user-1000.slice/user@1000.service/init.scope",
	  "user@1000.service/init.scope", "user-1000.slice", "", "", true, true, 1000 },
	{ "/user.slice/user-1000.slice/user@1000.service", "user@1000.service", "user-1000.slice",
	  "", "", false, true, 1000 },
	/* a delegated subtree cannot pass for system.slice either */
	{ "/user.slice/user-1000.slice/user@1000.service/system.slice/sshd.service",
	  "user@1000.service/sshd.service", "user-1000.slice", "", "", true, true, 1000 },
	/* Docker */
	{ "/system.slice/docker-" ID ".scope", "docker-" ID ".scope", "system.slice", ID, "", false,
	  false, 0 },
	{ "/docker/" ID, "", "-.slice", ID, "", false, false, 0 },
	{ "/user.slice/user-1000.slice/user@1000.service/user.slice/docker-" ID ".scope",
	  "user@1000.service/docker-" ID ".scope", "user-1000.slice", "user@1000.service/" ID, "",
	  true, true, 1000 },
	/* Podman */
	{ "/machine.slice/libpod-" ID ".scope/container", "libpod-" ID ".scope", "machine.slice",
	  ID, "", false, false, 0 },
	{ "/machine.slice/libpod-" ID ".scope", "libpod-" ID ".scope", "machine.slice", ID, "",
	  false, false, 0 },
	{ "/machine.slice/libpod-conmon-" ID ".scope", "libpod-conmon-" ID ".scope",
	  "machine.slice", "", "", false, false, 0 },
	{ "/machine.slice/machine-libpod_pod_" ID2 ".slice/libpod-" ID ".scope/container",
	  "libpod-" ID ".scope", "machine-libpod_pod_" ID2 ".slice", ID, ID2, false, false, 0 },
	{ "/machine.slice/machine-libpod_pod_" ID2 ".slice/libpod-" ID ".scope",
	  "libpod-" ID ".scope", "machine-libpod_pod_" ID2 ".slice", ID, ID2, false, false, 0 },
	{ "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope/container",
	  "user@1000.service/libpod-" ID ".scope", "user-1000.slice", "user@1000.service/" ID, "",
	  true, true, 1000 },
	{ "/user.slice/user-1000.slice/user@1000.service/user.slice/user-libpod_pod_" ID2
	  ".slice/libpod-" ID ".scope",
	  "user@1000.service/libpod-" ID ".scope", "user-1000.slice", "user@1000.service/" ID,
	  "user@1000.service/" ID2, true, true, 1000 },
	{ "/libpod_parent/libpod-" ID, "", "-.slice", ID, "", false, false, 0 },
	/* Kubernetes, systemd driver, each QoS class; containerd and CRI-O */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" POD_
	  ".slice/cri-containerd-" ID ".scope",
	  "cri-containerd-" ID ".scope", "kubepods-burstable-pod" POD_ ".slice", ID, POD, false,
	  false, 0 },
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" POD_
	  ".slice/cri-containerd-" ID ".scope",
	  "cri-containerd-" ID ".scope", "kubepods-besteffort-pod" POD_ ".slice", ID, POD, false,
	  false, 0 },
	{ "/kubepods.slice/kubepods-pod" POD_ ".slice/cri-containerd-" ID ".scope",
	  "cri-containerd-" ID ".scope", "kubepods-pod" POD_ ".slice", ID, POD, false, false, 0 },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" POD_ ".slice/crio-" ID
	  ".scope",
	  "crio-" ID ".scope", "kubepods-burstable-pod" POD_ ".slice", ID, POD, false, false, 0 },
	/* Kubernetes, cgroupfs driver */
	{ "/kubepods/burstable/pod" POD "/" ID, "", "-.slice", ID, POD, false, false, 0 },
	{ "/kubepods/besteffort/pod" POD "/" ID, "", "-.slice", ID, POD, false, false, 0 },
	{ "/kubepods/pod" POD "/" ID, "", "-.slice", ID, POD, false, false, 0 },
	/* nested: kind inside Podman. The inner names were made inside the outer container, by
	 * whatever runs there: the container and the pod are unknown ("?(claim)") */
	{ "/machine.slice/libpod-" ID2 ".scope/container/kubelet.slice/kubelet-kubepods.slice/"
	  "kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" POD_
	  ".slice/cri-containerd-" ID ".scope",
	  "libpod-" ID2 ".scope", "machine.slice", "?(" ID ")", "?(" POD ")", false, false, 0 },
	/* forgeries: a container or pod name made below a container, a unit or an LXC payload,
	 * by a workload that may make cgroups in its own tree (delegation) */
	{ "/system.slice/docker-" ID ".scope/docker-" ID2 ".scope", "docker-" ID ".scope",
	  "system.slice", "?(" ID2 ")", "", false, false, 0 },
	{ "/system.slice/docker-" ID ".scope/sub/docker-" ID2 ".scope/x", "docker-" ID ".scope",
	  "system.slice", "?(" ID2 ")", "", false, false, 0 },
	{ "/docker/" ID "/" ID2, "", "-.slice", "?(" ID2 ")", "", false, false, 0 },
	{ "/docker/" ID "/docker/" ID2, "", "-.slice", "?(" ID2 ")", "", false, false, 0 },
	{ "/docker/" ID "/sub", "", "-.slice", ID, "", false, false, 0 }, /* its own: fine */
	{ "/machine.slice/libpod-" ID ".scope/container/libpod-" ID2 ".scope",
	  "libpod-" ID ".scope", "machine.slice", "?(" ID2 ")", "", false, false, 0 },
	{ "/machine.slice/libpod-" ID ".scope/machine-libpod_pod_" ID2 ".slice",
	  "libpod-" ID ".scope", "machine.slice", ID, "?(" ID2 ")", false, false, 0 },
	{ "/machine.slice/libpod-conmon-" ID ".scope/libpod-" ID2 ".scope",
	  "libpod-conmon-" ID ".scope", "machine.slice", "?(" ID2 ")", "", false, false, 0 },
	{ "/libpod_parent/libpod-" ID "/libpod-" ID2, "", "-.slice", "?(" ID2 ")", "", false, false,
	  0 },
	{ "/libpod_parent/" ID2 "/libpod-" ID, "", "-.slice", ID, ID2, false, false, 0 }, /* pod */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" POD_
	  ".slice/cri-containerd-" ID
	  ".scope/kubepods-besteffort.slice/kubepods-besteffort-pod" POD2_
	  ".slice/cri-containerd-" ID2 ".scope",
	  "cri-containerd-" ID ".scope", "kubepods-burstable-pod" POD_ ".slice", "?(" ID2 ")",
	  "?(" POD2 ")", false, false, 0 },
	{ "/kubepods/burstable/pod" POD "/" ID "/pod" POD2 "/" ID2, "", "-.slice", "?(" ID2 ")",
	  "?(" POD2 ")", false, false, 0 },
	{ "/kubepods/burstable/pod" POD "/pod" POD2 "/" ID, "", "-.slice", ID, "?(" POD2 ")", false,
	  false, 0 },
	{ "/lxc.payload.c1/system.slice/docker-" ID ".scope", "", "-.slice", "?(" ID ")", "", false,
	  false, 0 },
	{ "/lxc.payload.c1/docker/" ID, "", "-.slice", "?(" ID ")", "", false, false, 0 },
	{ "/lxc/c1/docker/" ID, "", "-.slice", "?(" ID ")", "", false, false, 0 },
	{ "/machine.slice/machine-c1.scope/payload/system.slice/docker-" ID ".scope",
	  "machine-c1.scope", "machine.slice", "?(" ID ")", "", false, false, 0 },
	{ "/machine.slice/systemd-nspawn@c1.service/payload/docker/" ID,
	  "systemd-nspawn@c1.service", "machine.slice", "?(" ID ")", "", false, false, 0 },
	{ "/system.slice/k3s.service/kubepods/pod" POD "/" ID, "k3s.service", "system.slice",
	  "?(" ID ")", "?(" POD ")", false, false, 0 },
	{ "/user.slice/user-1000.slice/user@1000.service/app.slice/app.service/docker-" ID ".scope",
	  "user@1000.service/app.service", "user-1000.slice", "?(user@1000.service/" ID ")", "",
	  true, true, 1000 },
	{ "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID
	  ".scope/container/libpod-" ID2 ".scope",
	  "user@1000.service/libpod-" ID ".scope", "user-1000.slice",
	  "?(user@1000.service/" ID2 ")", "", true, true, 1000 },
	/* not container ids: too short, upper case */
	{ "/system.slice/docker-0123.scope", "docker-0123.scope", "system.slice", "", "", false,
	  false, 0 },
	{ "/docker/0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF", "", "-.slice",
	  "", "", false, false, 0 },
};

static void test_cgroup_samples(void **state)
{
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(samples); i++) {
		const struct sample *s = &samples[i];
		struct cgroup_info ci;

		memset(&ci, 0x55, sizeof(ci));
		assert_int_equal(cgroup_parse(s->path, &ci), 0);
		assert_string_equal(ci.unit, s->unit);
		assert_string_equal(ci.slice, s->slice);
		assert_string_equal(ci.container, s->container);
		assert_string_equal(ci.pod, s->pod);
		assert_int_equal(ci.container_unknown, s->container[0] == '?');
		assert_int_equal(ci.pod_unknown, s->pod[0] == '?');
		assert_int_equal(ci.user_unit, s->user_unit);
		assert_int_equal(ci.delegated, s->delegated);
		if (s->delegated)
			assert_int_equal(ci.user_uid, s->user_uid);
	}
}

static void test_cgroup_refusals(void **state)
{
	char *longpath = malloc(VAULTFS_PATH_MAX + 1);
	struct cgroup_info ci, keep;

	(void)state;
	memset(&ci, 0x55, sizeof(ci));
	keep = ci;
	assert_int_equal(cgroup_parse("system.slice/x.service", &ci), -EINVAL);
	assert_int_equal(cgroup_parse("", &ci), -EINVAL);
	assert_int_equal(cgroup_parse(NULL, &ci), -EINVAL);
	assert_int_equal(cgroup_parse("/../../system.slice/x.service", &ci), -EINVAL);
	assert_int_equal(cgroup_parse("/system.slice/./x.service", &ci), -EINVAL);
	assert_int_equal(cgroup_parse("/system.slice//x.service", &ci), -EINVAL);
	assert_non_null(longpath);
	memset(longpath, 'a', VAULTFS_PATH_MAX);
	longpath[0] = '/';
	longpath[VAULTFS_PATH_MAX] = '\0';
	assert_int_equal(cgroup_parse(longpath, &ci), -ENAMETOOLONG);
	assert_memory_equal(&ci, &keep, sizeof(ci)); /* nothing written on failure */
	longpath[VAULTFS_PATH_MAX - 1] = '\0';
	assert_int_equal(cgroup_parse(longpath, &ci), 0);
	free(longpath);
	/* user@ with a bad UID is an ordinary unit, not a delegation */
	assert_int_equal(cgroup_parse("/user.slice/user@x.service/a.service", &ci), 0);
	assert_string_equal(ci.unit, "user@x.service");
	assert_false(ci.delegated);
	assert_int_equal(cgroup_parse("/user.slice/user@99999999999.service/a.service", &ci), 0);
	assert_false(ci.delegated);
}

static struct identity *new_identity(void)
{
	struct identity *id = malloc(sizeof(*id));

	assert_non_null(id);
	memset(id, 0x55, sizeof(*id));
	identity_init(id);
	return id;
}

static void test_setters(void **state)
{
	struct identity *id = new_identity();
	gid_t many[VAULTFS_POLICY_GROUPS_MAX + 1] = { 0 };
	gid_t g[] = { 30, 10, 20 };

	(void)state;
	assert_int_equal(id->known, 0);
	assert_int_equal(id->verified, 0);
	assert_false(identity_in_group(id, 10));
	identity_set_gid(id, 5);
	assert_true(identity_in_group(id, 5));
	assert_int_equal(identity_set_groups(id, g, 3), 0);
	assert_int_equal(id->groups[0], 10);
	assert_int_equal(id->groups[2], 30);
	assert_true(identity_in_group(id, 20));
	assert_false(identity_in_group(id, 25));
	assert_int_equal(identity_set_groups(id, many, VAULTFS_POLICY_GROUPS_MAX + 1), -E2BIG);
	assert_int_equal(identity_set_groups(id, many, VAULTFS_POLICY_GROUPS_MAX), 0);
	assert_int_equal(identity_set_exe(id, "usr/bin/x"), -EINVAL);
	assert_int_equal(identity_set_cgroup(id, "/a/../b"), -EINVAL);
	assert_int_equal(id->known, IDENTITY_GID | IDENTITY_GROUPS);
	assert_int_equal(identity_set_exe(id, "/usr/bin/x"), 0);
	assert_int_equal(identity_set_cgroup(id, "/system.slice/a.service"), 0);
	assert_string_equal(id->cg.unit, "a.service");
	assert_int_equal(id->known,
			 IDENTITY_GID | IDENTITY_GROUPS | IDENTITY_EXE | IDENTITY_CGROUP);
	assert_int_equal(id->verified, 0);
	assert_string_equal(identity_field_name(IDENTITY_EXE), "exe");
	assert_string_equal(identity_field_name(IDENTITY_NS), "ns");
	assert_null(identity_field_name(IDENTITY_EXE | IDENTITY_UID));
	identity_set_host(id, true);
	assert_true(id->host);
	assert_true(id->known & IDENTITY_NS);
	assert_int_equal(id->verified & IDENTITY_NS, 0);
	free(id);
}

/* The "0::" line of /proc/self/cgroup, read here independently. */
static void own_cgroup(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4200];

	assert_non_null(f);
	buf[0] = '\0';
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, size, "%s", line + 3);
		}
	fclose(f);
	assert_true(buf[0] == '/');
}

static void test_resolve_self(void **state)
{
	struct identity *id = new_identity();
	char exe[PATH_MAX], cg[4200];
	gid_t groups[VAULTFS_POLICY_GROUPS_MAX];
	ssize_t n;
	int ng;

	(void)state;
	assert_int_equal(identity_resolve(NULL, id, getpid(), IDENTITY_ALL), 0);
	assert_int_equal(id->known, IDENTITY_ALL);
	assert_int_equal(id->verified, IDENTITY_ALL);
	assert_int_equal(id->uid, geteuid());
	assert_int_equal(id->gid, getegid());
	assert_int_equal(id->pid, getpid());
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	assert_string_equal(id->exe, exe);
	own_cgroup(cg, sizeof(cg));
	assert_string_equal(id->cgroup, cg);
	ng = getgroups(VAULTFS_POLICY_GROUPS_MAX, groups);
	assert_true(ng >= 0);
	assert_int_equal(id->n_groups, ng);
	for (int i = 0; i < ng; i++)
		assert_true(identity_in_group(id, groups[i]));
	free(id);
}

static void test_resolve_only_asked(void **state)
{
	struct identity *id = new_identity();

	(void)state;
	identity_set_uid(id, 4242);
	assert_int_equal(identity_resolve(NULL, id, getpid(), 0), 0);
	assert_int_equal(id->known, IDENTITY_UID);
	assert_int_equal(identity_resolve(NULL, id, getpid(), IDENTITY_GROUPS), 0);
	assert_int_equal(id->known, IDENTITY_UID | IDENTITY_GROUPS);
	assert_int_equal(id->verified, IDENTITY_GROUPS);
	assert_int_equal(id->uid, 4242); /* not read, not changed */
	assert_string_equal(id->exe, "");
	assert_int_equal(identity_resolve(NULL, id, 0, IDENTITY_ALL), -EINVAL);
	assert_int_equal(identity_resolve(NULL, id, -5, IDENTITY_ALL), -EINVAL);
	free(id);
}

static void *thread_main(void *ud)
{
	int *fds = ud;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	char c;

	assert_int_equal(write(fds[1], &tid, sizeof(tid)), sizeof(tid));
	(void)!read(fds[2], &c, 1); /* until the test is done */
	return NULL;
}

static void test_resolve_thread(void **state)
{
	struct identity *id = new_identity();
	int a[2], b[2], fds[3];
	pthread_t t;
	pid_t tid;

	(void)state;
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	fds[1] = a[1];
	fds[2] = b[0];
	assert_int_equal(pthread_create(&t, NULL, thread_main, fds), 0);
	assert_int_equal(read(a[0], &tid, sizeof(tid)), sizeof(tid));
	assert_int_not_equal(tid, getpid());
	assert_int_equal(
		identity_resolve(NULL, id, tid, IDENTITY_PID | IDENTITY_EXE | IDENTITY_CGROUP), 0);
	assert_int_equal(id->pid, getpid()); /* the thread's process */
	assert_int_equal(write(b[1], "x", 1), 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
	free(id);
}

/* A child that runs prepare(arg) (0 or it exits), then execs exe as "sleep 60"; killed with
 * the test should it fail first (PR_SET_PDEATHSIG, set after prepare: setuid clears it).
 * Returns once it exec'd (or exited). */
static pid_t spawn_exec(int (*prepare)(const void *arg), const void *arg, const char *exe)
{
	int ready[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if ((prepare && prepare(arg) < 0) || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			_exit(1);
		execl(exe, "sleep", "60", (char *)NULL);
		_exit(2);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 0); /* EOF: exec'd (CLOEXEC) or exited */
	close(ready[0]);
	return pid;
}

static int become_nobody(const void *arg)
{
	gid_t g[] = { 65534, 100 };

	(void)arg;
	return setgroups(2, g) < 0 || setgid(65534) < 0 || setuid(65534) < 0 ? -1 : 0;
}

/* A child as nobody:nogroup with groups {65534, 100}, exec'd into sleep. */
static pid_t spawn_nobody(void)
{
	return spawn_exec(become_nobody, NULL, "/bin/sleep");
}

static void test_resolve_child(void **state)
{
	struct identity *id = new_identity();
	char sleep_path[PATH_MAX], cg[4200];
	int status;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	pid = spawn_nobody();
	assert_int_equal(identity_resolve(NULL, id, pid, IDENTITY_ALL), 0);
	assert_int_equal(id->uid, 65534);
	assert_int_equal(id->gid, 65534);
	assert_int_equal(id->pid, pid);
	assert_int_equal(id->n_groups, 2);
	assert_int_equal(id->groups[0], 100);
	assert_int_equal(id->groups[1], 65534);
	assert_non_null(realpath("/bin/sleep", sleep_path));
	assert_string_equal(id->exe, sleep_path);
	own_cgroup(cg, sizeof(cg)); /* a child starts in its parent's cgroup */
	assert_string_equal(id->cgroup, cg);
	assert_int_equal(id->verified, IDENTITY_ALL);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* reaped: the pid names nobody now (or, if recycled, a process pidfd_open finds) */
	assert_int_equal(identity_resolve(NULL, id, pid, IDENTITY_CGROUP), -ESRCH);
	assert_int_equal(id->known & IDENTITY_CGROUP, 0);
	free(id);
}

static int unshare_mnt(const void *arg)
{
	(void)arg;
	return unshare(CLONE_NEWNS);
}

/* ns: this process shares our mount namespace; a child in one of its own (unshare -m, a
 * container) does not. */
static void test_resolve_ns(void **state)
{
	struct identity *id = new_identity();
	struct identity_cache *c;
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(identity_cache_new(&c), 0);
	assert_int_equal(identity_resolve(NULL, id, getpid(), IDENTITY_NS), 0);
	assert_true(id->host);
	assert_int_equal(id->verified, IDENTITY_NS);
	id->host = false;
	assert_int_equal(identity_resolve(c, id, getpid(), IDENTITY_NS), 0);
	assert_true(id->host);
	if (geteuid() != 0) {
		identity_cache_free(c);
		free(id);
		skip();
	}
	pid = spawn_exec(unshare_mnt, NULL, "/bin/sleep");
	for (int i = 0; i < 2; i++) { /* without and with the cache */
		id->host = true;
		assert_int_equal(identity_resolve(i ? c : NULL, id, pid, IDENTITY_NS), 0);
		assert_false(id->host);
		assert_true(id->known & IDENTITY_NS);
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	identity_cache_free(c);
	free(id);
}

struct bind_copy {
	const char *copy, *target;
};

/* In a mount namespace of its own, copy bind-mounted over target. */
static int bind_copy(const void *arg)
{
	const struct bind_copy *b = arg;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	return mount(b->copy, b->target, NULL, MS_BIND, NULL);
}

/* A child exec'd into a copy of sleep at copy, which it first bind-mounts over the real
 * sleep's path in a mount namespace of its own when bind (root only). */
static pid_t spawn_copy(const char *copy, const char *sleep_path, bool bind)
{
	struct bind_copy b = { copy, sleep_path };

	return bind ? spawn_exec(bind_copy, &b, sleep_path) : spawn_exec(NULL, NULL, copy);
}

/* The executable counts only where its path names, for us, the file the task runs: a copy
 * bind-mounted over the real path in another mount namespace, or deleted, is "?(PATH)",
 * unknown to the policy, recorded as such. */
static void test_resolve_exe_unverified(void **state)
{
	struct identity *id = new_identity();
	char sleep_path[PATH_MAX], copy[] = "/tmp/test-identity-exe-XXXXXX", expect[PATH_MAX + 16];
	struct audit_record rec = { .exe = NULL };
	struct identity_cache *c;
	int fd, status;
	pid_t pid;

	(void)state;
	assert_non_null(realpath("/bin/sleep", sleep_path));
	fd = mkstemp(copy);
	assert_true(fd >= 0);
	{
		int in = open(sleep_path, O_RDONLY | O_CLOEXEC);
		char buf[65536];
		ssize_t n;

		assert_true(in >= 0);
		while ((n = read(in, buf, sizeof(buf))) > 0)
			assert_int_equal(write(fd, buf, (size_t)n), n);
		close(in);
	}
	assert_int_equal(fchmod(fd, 0755), 0);
	close(fd);

	assert_int_equal(identity_cache_new(&c), 0);
	assert_int_equal(identity_resolve(c, id, getpid(), IDENTITY_EXE), 0); /* mounts read */
	assert_true(id->known & IDENTITY_EXE);
	/* on a mount made in our namespace since: the cache sees the mount table change */
	if (geteuid() == 0) {
		char dir[] = "/tmp/test-identity-mnt-XXXXXX", exe[PATH_MAX];
		int in, out;
		char buf[65536];
		ssize_t k;

		assert_non_null(mkdtemp(dir));
		assert_int_equal(mount("tmpfs", dir, "tmpfs", 0, "mode=0755"), 0);
		snprintf(exe, sizeof(exe), "%s/sleep", dir);
		in = open(sleep_path, O_RDONLY | O_CLOEXEC);
		out = open(exe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
		assert_true(in >= 0 && out >= 0);
		while ((k = read(in, buf, sizeof(buf))) > 0)
			assert_int_equal(write(out, buf, (size_t)k), k);
		close(in);
		close(out);
		pid = spawn_exec(NULL, NULL, exe);
		assert_int_equal(identity_resolve(c, id, pid, IDENTITY_EXE), 0);
		assert_string_equal(id->exe, exe);
		assert_false(id->exe_unverified);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_int_equal(umount2(dir, MNT_DETACH), 0);
		rmdir(dir);
	}

	/* bind-mounted over the real path where only the task sees it (root: a mount namespace
	 * without a user namespace; tests/bats/20-policy.bats does it as nobody) */
	if (geteuid() == 0) {
		char link[64], seen[PATH_MAX];
		ssize_t n;

		pid = spawn_copy(copy, sleep_path, true);
		snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
		n = readlink(link, seen, sizeof(seen) - 1);
		assert_true(n > 0);
		seen[n] = '\0';
		assert_string_equal(seen, sleep_path); /* what the link's text says */
		snprintf(expect, sizeof(expect), "?(%s)", sleep_path);
		for (int i = 0; i < 2; i++) { /* without a cache and with one */
			assert_int_equal(identity_resolve(i ? c : NULL, id, pid, IDENTITY_EXE), 0);
			assert_string_equal(id->exe, expect);
			assert_true(id->exe_unverified);
			assert_int_equal(id->known & IDENTITY_EXE, 0);
		}
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
	}

	/* deleted after it started: the path names nothing */
	pid = spawn_copy(copy, sleep_path, false);
	assert_int_equal(unlink(copy), 0);
	assert_int_equal(identity_resolve(NULL, id, pid, IDENTITY_EXE | IDENTITY_PID), 0);
	snprintf(expect, sizeof(expect), "?(%s (deleted))", copy);
	assert_string_equal(id->exe, expect);
	assert_true(id->exe_unverified);
	assert_int_equal(id->known & IDENTITY_EXE, 0);
	assert_int_equal(id->verified, IDENTITY_PID);
	identity_to_record(id, &rec);
	assert_string_equal(rec.exe, expect);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);

	/* a verified one again clears it */
	assert_int_equal(identity_resolve(NULL, id, getpid(), IDENTITY_EXE), 0);
	assert_false(id->exe_unverified);
	assert_true(id->known & IDENTITY_EXE);
	identity_cache_free(c);
	free(id);
}

static void test_resolve_zombie(void **state)
{
	struct identity *id = new_identity();
	siginfo_t si;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	/* wait until it has exited, but leave it unreaped */
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	/* /proc still answers for a zombie: the pidfd says it is gone */
	assert_int_equal(identity_resolve(NULL, id, pid, IDENTITY_GROUPS | IDENTITY_CGROUP),
			 -ESRCH);
	assert_int_equal(id->known, 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	free(id);
}

/* Move pid into the cgroup at dir (its cgroup.procs). */
static void move_to(const char *dir, pid_t pid)
{
	char path[PATH_MAX], num[16];
	int fd, n;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	n = snprintf(num, sizeof(num), "%d", (int)pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, num, (size_t)n), n);
	close(fd);
}

/* The memo of cgroups by id: a moved process, a cgroup removed and made again at its path, and
 * more cgroups than slots all resolve as /proc says; a cgroup cannot be renamed. */
static void test_resolve_cache(void **state)
{
	struct identity *id = new_identity(), *plain = new_identity();
	struct identity_cache *cache = NULL;
	char mnt[256], top[300], dir[340], to[340], want[256];
	pid_t pid;

	(void)state;
	if (geteuid() != 0 || identity_cgroup2_mount(mnt, sizeof(mnt)) < 0)
		skip();
	snprintf(top, sizeof(top), "%s/vaultfs-idtest-%d", mnt, (int)getpid());
	if (mkdir(top, 0755) < 0)
		skip(); /* cgroup2 not writable here */
	assert_int_equal(identity_cache_new(&cache), 0);
	pid = spawn_nobody();
	snprintf(dir, sizeof(dir), "%s/a", top);
	assert_int_equal(mkdir(dir, 0755), 0);
	move_to(dir, pid);
	snprintf(want, sizeof(want), "/vaultfs-idtest-%d/a", (int)getpid());
	for (int i = 0; i < 2; i++) { /* a miss, then a hit */
		assert_int_equal(identity_resolve(cache, id, pid, IDENTITY_CGROUP), 0);
		assert_string_equal(id->cgroup, want);
		assert_int_equal(id->verified, IDENTITY_CGROUP);
	}
	/* what the memo relies on: a cgroup v2 directory cannot be renamed */
	snprintf(to, sizeof(to), "%s/renamed.service", top);
	assert_int_equal(rename(dir, to), -1);
	assert_int_equal(errno, EPERM);
	/* removed and made again at the same path: another cgroup, another id */
	snprintf(to, sizeof(to), "%s/b.service", top);
	assert_int_equal(mkdir(to, 0755), 0);
	move_to(to, pid);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(want, sizeof(want), "/vaultfs-idtest-%d/b.service", (int)getpid());
	assert_int_equal(identity_resolve(cache, id, pid, IDENTITY_CGROUP | IDENTITY_PID), 0);
	assert_string_equal(id->cgroup, want);
	assert_int_equal(id->pid, pid);
	/* moved, through more cgroups than the memo has slots, and back */
	for (int i = 0; i < 80; i++) {
		snprintf(to, sizeof(to), "%s/c%d", top, i);
		assert_int_equal(mkdir(to, 0755), 0);
		move_to(to, pid);
		snprintf(want, sizeof(want), "/vaultfs-idtest-%d/c%d", (int)getpid(), i);
		assert_int_equal(identity_resolve(cache, id, pid, IDENTITY_CGROUP), 0);
		assert_string_equal(id->cgroup, want);
		assert_int_equal(identity_resolve(NULL, plain, pid, IDENTITY_CGROUP), 0);
		assert_string_equal(plain->cgroup, want);
	}
	move_to(dir, pid);
	snprintf(want, sizeof(want), "/vaultfs-idtest-%d/a", (int)getpid());
	assert_int_equal(identity_resolve(cache, id, pid, IDENTITY_CGROUP), 0);
	assert_string_equal(id->cgroup, want);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(identity_resolve(cache, id, pid, IDENTITY_CGROUP), -ESRCH);
	assert_int_equal(id->known & IDENTITY_CGROUP, 0);
	for (int i = 0; i < 80; i++) {
		snprintf(to, sizeof(to), "%s/c%d", top, i);
		assert_int_equal(rmdir(to), 0);
	}
	snprintf(to, sizeof(to), "%s/b.service", top);
	assert_int_equal(rmdir(to), 0);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(rmdir(top), 0);
	identity_cache_free(cache);
	identity_cache_free(NULL);
	free(id);
	free(plain);
}

/* Open fds of this process, the directory's own not counted. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* The pidfds this process holds: their fd numbers (ascending) and the pid each names (its
 * fdinfo's "Pid:"; -1 for an exited task). Returns how many, at most max. */
static int list_pidfds(int *fds, pid_t *pids, int max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[64], link[64], line[128];
		ssize_t k;
		FILE *f;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		k = readlink(path, link, sizeof(link) - 1);
		if (k < 0)
			continue; /* the directory's own fd, closed meanwhile */
		link[k] = '\0';
		if (strncmp(link, "pidfd:", 6) != 0 && !streq(link, "anon_inode:[pidfd]"))
			continue;
		assert_true(n < max);
		fds[n] = fd;
		pids[n] = 0;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
		f = fopen(path, "re");
		assert_non_null(f);
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "Pid:", 4) == 0)
				pids[n] = (pid_t)atoi(line + 4);
		fclose(f);
		n++;
	}
	closedir(d);
	/* readdir's order is the fds' on procfs, but do not rely on it */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
			int t = fds[j];
			pid_t u = pids[j];

			fds[j] = fds[j - 1], fds[j - 1] = t;
			pids[j] = pids[j - 1], pids[j - 1] = u;
		}
	return n;
}

/* What a test of the cache holds, released by its teardown whether the test passed or not, so
 * that a failure leaves no pidfd or child behind to fail the next test: the cache, the
 * identity, the children (killed and reaped). */
struct fixture {
	struct identity_cache *cache;
	struct identity *id;
	pid_t kids[48]; /* 0: reaped */
	size_t n_kids;
};

static int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->id = new_identity();
	if (identity_cache_new(&f->cache) < 0) {
		free(f->id);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	identity_cache_free(f->cache);
	for (size_t i = 0; i < f->n_kids; i++)
		if (f->kids[i] > 0) {
			kill(f->kids[i], SIGKILL);
			waitpid(f->kids[i], NULL, 0);
		}
	free(f->id);
	free(f);
	return 0;
}

/* pid is the fixture's to kill and reap at teardown. */
static pid_t adopt(struct fixture *f, pid_t pid)
{
	assert_true(pid > 0);
	assert_true(f->n_kids < ELEMENTSOF(f->kids));
	f->kids[f->n_kids++] = pid;
	return pid;
}

/* Kill and reap an adopted child now. */
static void kill_reap(struct fixture *f, pid_t pid)
{
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	for (size_t i = 0; i < f->n_kids; i++)
		if (f->kids[i] == pid)
			f->kids[i] = 0;
}

static void real_path(const char *path, char *buf)
{
	assert_non_null(realpath(path, buf));
}

#define PID_EXE_CG (IDENTITY_PID | IDENTITY_EXE | IDENTITY_CGROUP)

/* One caller resolved again and again: one pidfd, opened once, the same answers; many callers:
 * never more than the cache's pidfds, each of one of them; identity_cache_free closes them
 * all. */
static void test_cache_pidfds(void **state)
{
	struct fixture *f = *state;
	struct identity *id = f->id, first;
	int fds[64], fds0[1], base, n;
	pid_t pids[64], pid, kids[40];
	char sleep_path[PATH_MAX], mnt[PATH_MAX];

	if (geteuid() != 0)
		skip();
	real_path("/bin/sleep", sleep_path);
	base = count_fds();
	assert_int_equal(list_pidfds(fds, pids, 64), 0);
	pid = adopt(f, spawn_nobody());
	identity_init(&first);
	assert_int_equal(identity_resolve(f->cache, &first, pid, IDENTITY_ALL), 0);
	assert_int_equal(first.verified, IDENTITY_ALL);
	assert_int_equal(first.pid, pid);
	assert_int_equal(first.uid, 65534);
	assert_string_equal(first.exe, sleep_path);
	assert_int_equal(count_fds(), base + 1);
	assert_int_equal(list_pidfds(fds0, pids, 1), 1);
	assert_int_equal(pids[0], pid);
	for (int i = 0; i < 200; i++) {
		unsigned fields = i % 2 ? IDENTITY_ALL : PID_EXE_CG;

		identity_init(id);
		assert_int_equal(identity_resolve(f->cache, id, pid, fields), 0);
		assert_int_equal(id->known, fields);
		assert_int_equal(id->verified, fields);
		assert_int_equal(id->pid, pid);
		assert_string_equal(id->exe, sleep_path);
		assert_string_equal(id->cgroup, first.cgroup);
		if (fields & IDENTITY_UID) {
			assert_int_equal(id->uid, 65534);
			assert_int_equal(id->n_groups, 2);
			assert_int_equal(id->groups[0], 100);
		}
		/* the same pidfd, not a new one in place of the old */
		assert_int_equal(count_fds(), base + 1);
		assert_int_equal(list_pidfds(fds, pids, 64), 1);
		assert_int_equal(fds[0], fds0[0]);
	}
	/* without a cache nothing is kept */
	assert_int_equal(identity_resolve(NULL, id, pid, PID_EXE_CG), 0);
	assert_int_equal(count_fds(), base + 1);
	/* many callers */
	for (size_t i = 0; i < ELEMENTSOF(kids); i++) {
		kids[i] = adopt(f, spawn_nobody());
		identity_init(id);
		assert_int_equal(identity_resolve(f->cache, id, kids[i], PID_EXE_CG), 0);
		assert_int_equal(id->pid, kids[i]);
		assert_string_equal(id->exe, sleep_path);
	}
	n = list_pidfds(fds, pids, 64);
	assert_true(n >= 1 && n <= CACHE_PIDFDS);
	assert_int_equal(count_fds(), base + n);
	for (int i = 0; i < n; i++) {
		bool found = pids[i] == pid;

		for (size_t k = 0; k < ELEMENTSOF(kids); k++)
			found = found || pids[i] == kids[k];
		assert_true(found);
	}
	/* each of them again, in turn: still bounded, still right */
	for (size_t i = 0; i < ELEMENTSOF(kids); i++) {
		assert_int_equal(identity_resolve(f->cache, id, kids[i], IDENTITY_PID), 0);
		assert_int_equal(id->pid, kids[i]);
	}
	assert_true(count_fds() <= base + CACHE_PIDFDS);
	/* every pidfd closed, and the cgroup2 mount's fd and the mountinfo one (read_exe) */
	identity_cache_free(f->cache);
	f->cache = NULL;
	assert_int_equal(count_fds(), base - (identity_cgroup2_mount(mnt, sizeof(mnt)) >= 0) - 1);
	assert_int_equal(list_pidfds(fds, pids, 64), 0);
}

/* A cached caller that exits: its pid gives -ESRCH (from a new pidfd: not the -ENOENT of a
 * /proc read) and its pidfd is closed; so does a zombie, whose /proc still answers, and a
 * pidfd of a task that exited is never kept. */
static void test_cache_exited(void **state)
{
	struct fixture *f = *state;
	struct identity *id = f->id;
	int fds[4], base;
	pid_t pids[4], pid;
	siginfo_t si;

	if (geteuid() != 0)
		skip();
	base = count_fds();
	pid = adopt(f, spawn_nobody());
	assert_int_equal(identity_resolve(f->cache, id, pid, IDENTITY_EXE), 0);
	assert_int_equal(count_fds(), base + 1);
	kill_reap(f, pid);
	for (int i = 0; i < 2; i++) { /* found out by the poll after the reads, by the ioctl */
		identity_init(id);
		assert_int_equal(identity_resolve(f->cache, id, pid, i ? PID_EXE_CG : IDENTITY_EXE),
				 -ESRCH);
		assert_int_equal(id->known, 0);
		assert_int_equal(id->verified, 0);
		assert_int_equal(count_fds(), base);
	}
	/* a zombie: the cached pidfd says it exited, and so does the new one, not kept */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	adopt(f, pid);
	assert_int_equal(identity_resolve(f->cache, id, pid, IDENTITY_GROUPS | IDENTITY_EXE), 0);
	assert_int_equal(list_pidfds(fds, pids, 4), 1);
	assert_int_equal(pids[0], pid);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	for (int i = 0; i < 2; i++) {
		identity_init(id);
		assert_int_equal(identity_resolve(f->cache, id, pid, IDENTITY_GROUPS), -ESRCH);
		assert_int_equal(id->known, 0);
		assert_int_equal(count_fds(), base);
	}
}

/* clone3's arguments up to set_tid (CLONE_ARGS_SIZE_VER1, Linux 5.5). */
struct clone_args_v1 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size;
};

/* A child as root, exec'd into cat (reading a pipe whose other end it holds itself: for ever),
 * with exactly pid want: its pid, or -errno (-EEXIST: want is taken). */
static pid_t spawn_cat_at(pid_t want)
{
	struct clone_args_v1 args = { .exit_signal = SIGCHLD, .set_tid_size = 1 };
	int ready[2], in[2];
	pid_t tid = want;
	long pid;
	char c;

	args.set_tid = (uint64_t)(uintptr_t)&tid;
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0) {
		if (dup2(in[0], 0) < 0 || fcntl(in[1], F_SETFD, 0) < 0 ||
		    prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			_exit(1);
		execl("/bin/cat", "cat", (char *)NULL);
		_exit(2);
	}
	if (pid < 0)
		pid = -errno;
	close(ready[1]);
	close(in[0]);
	close(in[1]);
	if (pid > 0)
		assert_int_equal(read(ready[0], &c, 1), 0); /* exec'd */
	close(ready[0]);
	return (pid_t)pid;
}

/* The pid of a cached caller reused: A (sleep, as nobody) resolved, exits, is reaped; B (cat,
 * as root) made with A's pid. Through the same cache B's pid resolves as B, whether the stale
 * pidfd is found out by its ioctl (pid, cgroup) or only by the poll after the reads. */
static void test_cache_pid_reused(void **state)
{
	static const unsigned sets[] = {
		IDENTITY_EXE,
		IDENTITY_UID | IDENTITY_GROUPS | IDENTITY_EXE,
		PID_EXE_CG,
		IDENTITY_ALL,
	};
	struct fixture *f = *state;
	struct identity *id = f->id;
	char sleep_path[PATH_MAX], cat_path[PATH_MAX];
	int fds[4], base;
	pid_t pids[4];

	if (geteuid() != 0)
		skip();
	real_path("/bin/sleep", sleep_path);
	real_path("/bin/cat", cat_path);
	assert_string_not_equal(sleep_path, cat_path);
	base = count_fds();
	for (size_t i = 0; i < ELEMENTSOF(sets); i++) {
		unsigned fields = sets[i];
		pid_t a = 0, b = -EEXIST;

		/* another process may take A's pid first: then again, with another A */
		for (int try = 0; try < 5 && b == -EEXIST; try++) {
			a = adopt(f, spawn_nobody());
			identity_init(id);
			assert_int_equal(identity_resolve(f->cache, id, a, fields), 0);
			assert_string_equal(id->exe, sleep_path);
			assert_int_equal(count_fds(), base + 1);
			kill_reap(f, a);
			b = spawn_cat_at(a);
		}
		if (b == -EPERM || b == -ENOSYS || b == -EINVAL)
			skip(); /* no clone3 with set_tid here */
		assert_int_equal(b, a);
		adopt(f, b);
		/* the cached pidfd is A's, exited; the pid is B's now */
		assert_int_equal(list_pidfds(fds, pids, 4), 1);
		assert_int_equal(pids[0], -1);
		for (int k = 0; k < 2; k++) { /* found out and replaced, then B's own */
			identity_init(id);
			assert_int_equal(identity_resolve(f->cache, id, b, fields), 0);
			assert_int_equal(id->known, fields);
			assert_int_equal(id->verified, fields);
			assert_string_equal(id->exe, cat_path);
			if (fields & IDENTITY_PID)
				assert_int_equal(id->pid, b);
			if (fields & IDENTITY_UID) {
				assert_int_equal(id->uid, 0);
				assert_false(identity_in_group(id, 100));
			}
			assert_int_equal(list_pidfds(fds, pids, 4), 1);
			assert_int_equal(pids[0], b);
			assert_int_equal(count_fds(), base + 1);
		}
		kill_reap(f, b);
		assert_int_equal(identity_resolve(f->cache, id, b, fields), -ESRCH);
		assert_int_equal(count_fds(), base);
	}
}

/* identity_resolve_pidfd, the control socket's peer: through a pidfd taken while A was the
 * peer, A reads as A; once A has exited and B has A's pid, the same pidfd gives -ESRCH and
 * nothing of B (the peer is never read as the process that took its pid). */
static void test_resolve_pidfd(void **state)
{
	struct fixture *f = *state;
	struct identity *id = f->id;
	char sleep_path[PATH_MAX];
	pid_t a = 0, b = -EEXIST;
	int pidfd = -1;

	if (geteuid() != 0)
		skip();
	real_path("/bin/sleep", sleep_path);
	for (int try = 0; try < 5 && b == -EEXIST; try++) {
		if (pidfd >= 0)
			close(pidfd);
		a = adopt(f, spawn_nobody());
		pidfd = (int)syscall(SYS_pidfd_open, a, 0);
		assert_true(pidfd >= 0);
		identity_init(id);
		assert_int_equal(identity_resolve_pidfd(f->cache, id, pidfd, a, IDENTITY_ALL), 0);
		assert_int_equal(id->verified, IDENTITY_ALL);
		assert_string_equal(id->exe, sleep_path);
		assert_int_equal(id->uid, 65534);
		assert_int_equal(id->pid, a);
		kill_reap(f, a);
		b = spawn_cat_at(a);
	}
	if (b == -EPERM || b == -ENOSYS || b == -EINVAL) {
		close(pidfd);
		skip(); /* no clone3 with set_tid here */
	}
	assert_int_equal(b, a);
	adopt(f, b);
	for (unsigned fields = 1; fields <= IDENTITY_ALL; fields <<= 1) {
		identity_init(id);
		assert_int_equal(identity_resolve_pidfd(f->cache, id, pidfd, b, fields), -ESRCH);
		assert_int_equal(id->known, 0);
		assert_int_equal(id->verified, 0);
	}
	identity_init(id);
	assert_int_equal(identity_resolve_pidfd(f->cache, id, pidfd, b, IDENTITY_ALL), -ESRCH);
	assert_int_equal(id->known, 0);
	/* the pid itself, resolved anew, is B */
	assert_int_equal(identity_resolve(f->cache, id, b, IDENTITY_UID), 0);
	assert_int_equal(id->uid, 0);
	assert_int_equal(identity_resolve_pidfd(f->cache, id, -1, b, IDENTITY_UID), -EINVAL);
	assert_int_equal(identity_resolve_pidfd(f->cache, id, pidfd, 0, IDENTITY_UID), -EINVAL);
	close(pidfd);
}

/* A cached caller that changes its ids and execs between two resolves: the second shows the
 * new ones, through the same pidfd (an exec keeps the pid). */
static void test_cache_exec(void **state)
{
	struct fixture *f = *state;
	struct identity *id = f->id;
	char self[PATH_MAX], sleep_path[PATH_MAX];
	int go[2], ready[2], fds0[1], fds[4];
	pid_t pid, pids[4];
	char c;

	if (geteuid() != 0)
		skip();
	real_path("/proc/self/exe", self);
	real_path("/bin/sleep", sleep_path);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		gid_t g[] = { 100 };

		close(go[1]);
		close(ready[0]);
		if (read(go[0], &c, 1) != 1 || setgroups(1, g) < 0 || setgid(65534) < 0 ||
		    setuid(65534) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			_exit(1);
		execl("/bin/sleep", "sleep", "60", (char *)NULL);
		_exit(2);
	}
	adopt(f, pid);
	close(go[0]);
	close(ready[1]);
	assert_int_equal(identity_resolve(f->cache, id, pid, IDENTITY_ALL), 0);
	assert_string_equal(id->exe, self);
	assert_int_equal(id->uid, 0);
	assert_int_equal(id->pid, pid);
	assert_int_equal(list_pidfds(fds0, pids, 1), 1);
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(read(ready[0], &c, 1), 0); /* exec'd */
	close(go[1]);
	close(ready[0]);
	for (int k = 0; k < 2; k++) {
		identity_init(id);
		assert_int_equal(identity_resolve(f->cache, id, pid, IDENTITY_ALL), 0);
		assert_int_equal(id->verified, IDENTITY_ALL);
		assert_string_equal(id->exe, sleep_path);
		assert_int_equal(id->uid, 65534);
		assert_int_equal(id->gid, 65534);
		assert_int_equal(id->n_groups, 1);
		assert_int_equal(id->groups[0], 100);
		assert_int_equal(id->pid, pid);
		assert_int_equal(list_pidfds(fds, pids, 4), 1);
		assert_int_equal(fds[0], fds0[0]);
	}
}

/* In a child: a thread that sends its tid, waits for a byte, then execs sleep. */
static void *exec_thread_main(void *ud)
{
	int *fds = ud;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	char c;

	if (write(fds[1], &tid, sizeof(tid)) != sizeof(tid) || read(fds[0], &c, 1) != 1)
		_exit(1);
	execl("/bin/sleep", "sleep", "60", (char *)NULL);
	_exit(2);
}

/* A thread that execs takes over its process's pid and its own tid is gone (de_thread): both
 * cached, the pid resolves as the new program through its pidfd, the old tid is refused. */
static void test_cache_thread_exec(void **state)
{
	struct fixture *f = *state;
	struct identity *id = f->id;
	char self[PATH_MAX], sleep_path[PATH_MAX];
	int go[2], out[2], fds[4];
	pid_t pid, tid, pids[4];
	char c;

	if (geteuid() != 0)
		skip();
	real_path("/proc/self/exe", self);
	real_path("/bin/sleep", sleep_path);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ends[2] = { go[0], out[1] };
		pthread_t t;

		close(go[1]);
		close(out[0]);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
		    pthread_create(&t, NULL, exec_thread_main, ends) != 0)
			_exit(1);
		for (;;)
			pause();
	}
	adopt(f, pid);
	close(go[0]);
	close(out[1]);
	assert_int_equal(read(out[0], &tid, sizeof(tid)), sizeof(tid));
	assert_int_not_equal(tid, pid);
	assert_int_equal(identity_resolve(f->cache, id, tid, PID_EXE_CG), 0);
	assert_int_equal(id->pid, pid);
	assert_string_equal(id->exe, self);
	assert_int_equal(identity_resolve(f->cache, id, pid, PID_EXE_CG), 0);
	assert_int_equal(id->pid, pid);
	assert_int_equal(list_pidfds(fds, pids, 4), 2);
	assert_true((pids[0] == tid && pids[1] == pid) || (pids[0] == pid && pids[1] == tid));
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(read(out[0], &c, 1), 0); /* exec'd */
	close(go[1]);
	close(out[0]);
	assert_int_equal(identity_resolve(f->cache, id, pid, PID_EXE_CG), 0);
	assert_int_equal(id->pid, pid);
	assert_string_equal(id->exe, sleep_path);
	assert_int_equal(identity_resolve(f->cache, id, tid, IDENTITY_EXE), -ESRCH);
	assert_int_equal(id->known & IDENTITY_EXE, 0);
	assert_int_equal(list_pidfds(fds, pids, 4), 1);
	assert_int_equal(pids[0], pid);
}

static void test_cgroup2_mount(void **state)
{
	char buf[PATH_MAX], tiny[4];
	struct statfs sf;

	(void)state;
	assert_int_equal(identity_cgroup2_mount(buf, sizeof(buf)), 0);
	assert_int_equal(statfs(buf, &sf), 0);
	assert_int_equal((unsigned long)sf.f_type, CGROUP2_SUPER_MAGIC);
	assert_true(streq(buf, "/sys/fs/cgroup") || streq(buf, "/sys/fs/cgroup/unified"));
	assert_int_equal(identity_cgroup2_mount(tiny, sizeof(tiny)), -ENAMETOOLONG);
}

#define cache_test(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cgroup_samples),
		cmocka_unit_test(test_cgroup_refusals),
		cmocka_unit_test(test_setters),
		cmocka_unit_test(test_resolve_self),
		cmocka_unit_test(test_resolve_only_asked),
		cmocka_unit_test(test_resolve_thread),
		cmocka_unit_test(test_resolve_child),
		cmocka_unit_test(test_resolve_zombie),
		cmocka_unit_test(test_resolve_exe_unverified),
		cmocka_unit_test(test_resolve_ns),
		cmocka_unit_test(test_resolve_cache),
		cache_test(test_cache_pidfds),
		cache_test(test_cache_exited),
		cache_test(test_cache_pid_reused),
		cache_test(test_resolve_pidfd),
		cache_test(test_cache_exec),
		cache_test(test_cache_thread_exec),
		cmocka_unit_test(test_cgroup2_mount),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
