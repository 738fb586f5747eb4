/* test-fleet-pg.c: unit tests for the answer time of core/fleet-pg.c against a real PostgreSQL
 * 15 (a private one started in a temp dir by tests/lib/pg-private.sh; every test skips when
 * there is none): a statement whose answer takes longer than the connection's answer time
 * ([fleet] answer_timeout, fleet_pg_set_answer_ms) is -ETIMEDOUT within about that time, the
 * connection shut and the reason kept; one that answers within it is 0; an answer time of 0 is
 * the default (FLEET_PG_ANSWER_MS), not "do not wait". Never starts or touches any server but
 * its own. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/fleet-pg.h"
#include "core/log.h"
#include "core/util.h"
#include "tests/unit/testlib.h"

struct env {
	char *dir;
	char conninfo[512];
	bool have_pg;
};

static struct env E;

static int setup(void **state)
{
	(void)state;
	if (test_tmpdir(&E.dir) < 0 || chmod(E.dir, 0711) < 0)
		return -1;
	E.have_pg = test_pg(E.dir, "start", E.conninfo, sizeof(E.conninfo)) == 0 && E.conninfo[0];
	if (!E.have_pg)
		fprintf(stderr, "test-fleet-pg: no PostgreSQL 15: the tests skip\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (E.have_pg)
		test_pg(E.dir, "stop", NULL, 0);
	test_rmtree(E.dir);
	free(E.dir);
	return 0;
}

static struct fleet_pg *connect_pg(void)
{
	struct fleet_pg *p = NULL;

	if (!E.have_pg)
		skip();
	assert_int_equal(fleet_pg_connect(E.conninfo, &p), 0);
	return p;
}

/* A center slower than the answer time: -ETIMEDOUT about then, the connection shut. */
static void test_answer_late(void **state)
{
	struct fleet_pg *p = connect_pg();
	int64_t t0, took;

	(void)state;
	fleet_pg_set_answer_ms(p, 1000);
	log_foreign_clear();
	t0 = clock_ms(CLOCK_MONOTONIC);
	assert_int_equal(fleet_pg_exec(p, "SELECT pg_sleep(4)"), -ETIMEDOUT);
	took = clock_ms(CLOCK_MONOTONIC) - t0;
	assert_true(took >= 950);
	assert_true(took < 3500); /* the default 30 s, or the server's 4 s, not waited */
	assert_non_null(strstr(log_foreign_last(), "did not answer in time"));
	assert_true(fleet_pg_ok(p) < 0);
	fleet_pg_free(p);
}

/* Within the answer time, or with it set to 0 (the default), the answer is taken. */
static void test_answer_in_time(void **state)
{
	struct fleet_pg *p = connect_pg();

	(void)state;
	fleet_pg_set_answer_ms(p, 5000);
	assert_int_equal(fleet_pg_exec(p, "SELECT pg_sleep(0.3)"), 0);
	fleet_pg_set_answer_ms(p, 0);
	assert_int_equal(fleet_pg_exec(p, "SELECT pg_sleep(0.3)"), 0);
	assert_int_equal(fleet_pg_ok(p), 0);
	fleet_pg_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_late),
		cmocka_unit_test(test_answer_in_time),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
