/* test-io.c: io_read_all and io_write_all over pipes and files, exact results and -errnos. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_exactly_full_is_too_big),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
