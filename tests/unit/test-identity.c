/* test-identity.c: unit tests for policy/cgroup.c and policy/identity.c. Unit, slice, user-unit
 * flag, container and pod derived from a sample path of every runtime in
 * ../shared/cgroup-paths.md (Docker, Podman rootful/rootless/in a pod/cgroupfs, Kubernetes
 * with both drivers and every QoS class, CRI-O, nesting, host services, user sessions and
 * units), refusals of bad paths; then live identities: this process, one of its threads, a
 * child that changed its ids and exec'd another program, a zombie and a reaped pid (both
 * refused), the fields-asked-for contract, and the cgroup2 mount found through mountinfo. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

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
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util.h"
#include "policy/cgroup.h"
#include "policy/identity.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define POD "8a3b9c2d-1e4f-4a5b-9c6d-7e8f9a0b1c2d"
#define POD_ "8a3b9c2d_1e4f_4a5b_9c6d_7e8f9a0b1c2d"

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
	/* nested: kind inside Podman; the innermost container wins */
	{ "/machine.slice/libpod-" ID2 ".scope/container/kubelet.slice/kubelet-kubepods.slice/"
	  "kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" POD_
	  ".slice/cri-containerd-" ID ".scope",
	  "libpod-" ID2 ".scope", "machine.slice", ID, POD, false, false, 0 },
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
	assert_null(identity_field_name(IDENTITY_EXE | IDENTITY_UID));
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
	assert_int_equal(identity_resolve(NULL, id, tid, IDENTITY_PID | IDENTITY_EXE | IDENTITY_CGROUP),
			 0);
	assert_int_equal(id->pid, getpid()); /* the thread's process */
	assert_int_equal(write(b[1], "x", 1), 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
	free(id);
}

/* A child as nobody:nogroup with groups {65534, 100}, exec'd into sleep. */
static pid_t spawn_nobody(void)
{
	int ready[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		gid_t g[] = { 65534, 100 };

		if (setgroups(2, g) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(1);
		execl("/bin/sleep", "sleep", "60", (char *)NULL);
		_exit(2);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 0); /* EOF: exec'd (CLOEXEC) or exited */
	close(ready[0]);
	return pid;
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
	assert_int_equal(identity_resolve(NULL, id, pid, IDENTITY_GROUPS | IDENTITY_CGROUP), -ESRCH);
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
		cmocka_unit_test(test_resolve_cache),
		cmocka_unit_test(test_cgroup2_mount),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
