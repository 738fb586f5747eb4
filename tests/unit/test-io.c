/* test-io.c: io_read_all, io_write_all and io_pwrite_all over pipes and files, and io_stat_notime:
 * exact results and -errnos. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/io.h"
#include "core/util.h"

static void test_round_trip(void **state)
{
	uint8_t out[5000], in[5001];
	size_t len = 0;
	int p[2];

	(void)state;
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(io_write_all(p[1], out, sizeof(out)), 0);
	close(p[1]);
	assert_int_equal(io_read_all(p[0], in, sizeof(in), &len), 0);
	assert_int_equal(len, sizeof(out));
	assert_memory_equal(in, out, sizeof(out));
	close(p[0]);
}

static void test_exactly_full_is_too_big(void **state)
{
	uint8_t in[4];
	size_t len = 77;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(io_write_all(p[1], "abcd", 4), 0);
	close(p[1]);
	assert_int_equal(io_read_all(p[0], in, sizeof(in), &len), -EFBIG);
	assert_int_equal(len, 77); /* untouched on failure */
	close(p[0]);

	assert_int_equal(pipe(p), 0);
	assert_int_equal(io_write_all(p[1], "abc", 3), 0);
	close(p[1]);
	assert_int_equal(io_read_all(p[0], in, sizeof(in), &len), 0);
	assert_int_equal(len, 3);
	close(p[0]);
}

static void test_errors(void **state)
{
	uint8_t in[4];
	size_t len;
	int p[2];

	(void)state;
	assert_int_equal(io_read_all(-1, in, sizeof(in), &len), -EBADF);
	assert_int_equal(io_write_all(-1, "x", 1), -EBADF);
	assert_int_equal(io_write_all(-1, "x", 0), 0); /* nothing to write */
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(io_write_all(p[1], "x", 1), -EPIPE);
	close(p[1]);
}

/* io_pwrite_all writes where it is told, not at the file position; io_stat_notime gives what
 * fstat does for the fields it sets, and follows a symbolic link only when asked. */
static void test_pwrite_and_stat(void **state)
{
	char path[] = "/tmp/vaultfs-io-XXXXXX", link[64];
	struct stat a, b;
	char buf[8] = {};
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(io_pwrite_all(fd, "world", 5, 6), 0);
	assert_int_equal(io_pwrite_all(fd, "hello ", 6, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
	assert_int_equal(pread(fd, buf, 5, 6), 5);
	assert_string_equal(buf, "world");
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(io_stat_notime(fd, "", AT_EMPTY_PATH, &b), 0);
	assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_mode == b.st_mode);
	assert_true(a.st_nlink == b.st_nlink && b.st_size == 11);
	snprintf(link, sizeof(link), "%s.l", path);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(io_stat_notime(AT_FDCWD, link, AT_SYMLINK_NOFOLLOW, &b), 0);
	assert_true(S_ISLNK(b.st_mode));
	assert_int_equal(io_stat_notime(AT_FDCWD, link, 0, &b), 0);
	assert_true(S_ISREG(b.st_mode) && b.st_ino == a.st_ino);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(io_stat_notime(AT_FDCWD, path, 0, &b), -ENOENT);
	assert_int_equal(io_stat_notime(fd, "", AT_EMPTY_PATH, &b), 0);
	assert_int_equal(b.st_nlink, 0);
	unlink(link);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_exactly_full_is_too_big),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_pwrite_and_stat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
