/* test-identity-poll.c: unit tests for the one poll that ends a resolve in policy/identity.c:
 * the task's liveness and the mount table's change asked together. The change is news the
 * kernel tells once: a resolve that takes it and does not judge an executable by the mount
 * list (the executable deleted: never verified) must still leave the list to be read again,
 * or the next caller, on a mount made since, is judged by a list without it. Root only (it
 * mounts a tmpfs); skipped otherwise. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy/identity.h"
#include "tests/unit/testlib.h"

/* Copy the file at from to a new executable at to. */
static void copy_exe(const char *from, const char *to)
{
	char buf[65536];
	int in, out;
	ssize_t k;

	in = open(from, O_RDONLY | O_CLOEXEC);
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	assert_true(in >= 0 && out >= 0);
	while ((k = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)k), k);
	close(in);
	close(out);
}

/* A child exec'd into exe as "sleep 60" (killed with the test should it fail first); returns
 * once it exec'd. */
static pid_t spawn_exec(const char *exe)
{
	int ready[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			_exit(1);
		execl(exe, "sleep", "60", (char *)NULL);
		_exit(2);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 0); /* EOF: exec'd (CLOEXEC) or exited */
	close(ready[0]);
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void test_mount_news_kept(void **state)
{
	char dir[] = "/tmp/test-identity-poll-XXXXXX", gone[] = "/tmp/test-identity-gone-XXXXXX";
	char sleep_path[PATH_MAX], exe[PATH_MAX + 16], expect[PATH_MAX + 32];
	struct identity_cache *c = NULL;
	struct identity *id = calloc(1, sizeof(*id));
	pid_t deleted, fresh;
	int fd;

	(void)state;
	assert_non_null(id);
	if (geteuid() != 0) {
		free(id);
		skip();
	}
	assert_non_null(realpath("/bin/sleep", sleep_path));

	assert_int_equal(identity_cache_new(&c), 0);
	identity_init(id);
	assert_int_equal(identity_resolve(c, id, getpid(), IDENTITY_EXE), 0); /* list read */
	assert_true(id->known & IDENTITY_EXE);

	/* a child whose executable is deleted: judged without the mount list */
	fd = mkstemp(gone);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(unlink(gone), 0);
	copy_exe(sleep_path, gone);
	deleted = spawn_exec(gone);
	assert_int_equal(unlink(gone), 0);

	/* the mount table changes; the first resolve after it is the deleted one's */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(mount("tmpfs", dir, "tmpfs", 0, "mode=0755"), 0);
	snprintf(exe, sizeof(exe), "%s/sleep", dir);
	copy_exe(sleep_path, exe);
	identity_init(id);
	assert_int_equal(identity_resolve(c, id, deleted, IDENTITY_EXE), 0);
	assert_true(id->exe_unverified);
	assert_false(id->known & IDENTITY_EXE);
	snprintf(expect, sizeof(expect), "?(%s (deleted))", gone);
	assert_string_equal(id->exe, expect);

	/* a caller on the new mount: verified, the list read again */
	fresh = spawn_exec(exe);
	identity_init(id);
	assert_int_equal(identity_resolve(c, id, fresh, IDENTITY_EXE), 0);
	assert_string_equal(id->exe, exe);
	assert_false(id->exe_unverified);
	assert_true(id->known & IDENTITY_EXE);

	reap(fresh);
	reap(deleted);
	assert_int_equal(umount2(dir, MNT_DETACH), 0);
	rmdir(dir);
	identity_cache_free(c);
	free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mount_news_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
