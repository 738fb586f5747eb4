/* test-budget.c: the read budget (fs/budget.c): a uid's share and the total, refusals with
 * EMFILE and ENFILE and one warning a run, pages, what is given back, and the uid table under
 * many uids coming and going (its deletion moves entries back; a lost one would read as 0). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs/budget.c"

#define PAGE ((size_t)sysconf(_SC_PAGESIZE))

static void test_shares(void **state)
{
	struct budget *b = NULL;
	bool warn;

	(void)state;
	assert_int_equal(budget_new(4 * PAGE, 6 * PAGE, &b), 0);
	/* one byte is a page; four pages are uid 1000's share */
	assert_int_equal(budget_take(b, 1000, 1, &warn), 0);
	assert_false(warn);
	assert_int_equal(budget_held(b, 1000), PAGE);
	assert_int_equal(budget_take(b, 1000, 3 * PAGE, &warn), 0);
	assert_int_equal(budget_take(b, 1000, 1, &warn), -EMFILE);
	assert_true(warn);
	assert_int_equal(budget_take(b, 1000, 1, &warn), -EMFILE);
	assert_false(warn); /* once a run */
	assert_int_equal(budget_held(b, 1000), 4 * PAGE);
	/* another uid has its own share, up to the total */
	assert_int_equal(budget_take(b, 1001, 2 * PAGE, &warn), 0);
	assert_int_equal(budget_take(b, 1002, 1, &warn), -ENFILE);
	assert_true(warn);
	assert_int_equal(budget_take(b, 1002, 1, &warn), -ENFILE);
	assert_false(warn);
	assert_int_equal(budget_held(b, 1002), 0);
	/* given back: the total, then the share */
	budget_give(b, 1001, 2 * PAGE);
	assert_int_equal(budget_held(b, 1001), 0);
	assert_int_equal(budget_take(b, 1002, PAGE, &warn), 0);
	budget_give(b, 1000, 3 * PAGE);
	assert_int_equal(budget_held(b, 1000), PAGE);
	assert_int_equal(budget_take(b, 1000, 2 * PAGE, &warn), 0);
	/* more than a share at once, and a give of what was never taken */
	assert_int_equal(budget_take(b, 1003, 5 * PAGE, &warn), -EMFILE);
	budget_give(b, 1004, PAGE);
	assert_int_equal(budget_held(b, 1004), 0);
	budget_give(NULL, 1000, PAGE);
	budget_free(b);
}

/* The warning comes again once the uid fell to half its share. */
static void test_warn_again(void **state)
{
	struct budget *b = NULL;
	bool warn;

	(void)state;
	assert_int_equal(budget_new(4 * PAGE, 100 * PAGE, &b), 0);
	assert_int_equal(budget_take(b, 7, 4 * PAGE, &warn), 0);
	assert_int_equal(budget_take(b, 7, 1, &warn), -EMFILE);
	assert_true(warn);
	budget_give(b, 7, PAGE);
	assert_int_equal(budget_take(b, 7, 2 * PAGE, &warn), -EMFILE);
	assert_false(warn);
	budget_give(b, 7, PAGE);
	assert_int_equal(budget_take(b, 7, 3 * PAGE, &warn), -EMFILE);
	assert_true(warn);
	budget_free(b);
}

/* Thousands of uids in and out: every one keeps what it holds. */
static void test_many_uids(void **state)
{
	struct budget *b = NULL;
	bool warn;
	enum { N = 5000 };

	(void)state;
	assert_int_equal(budget_new(SIZE_MAX / 4, SIZE_MAX / 2, &b), 0);
	for (uid_t u = 0; u < N; u++)
		assert_int_equal(budget_take(b, u * 7919u, (u % 5 + 1) * PAGE, &warn), 0);
	for (uid_t u = 0; u < N; u += 2)
		budget_give(b, u * 7919u, (u % 5 + 1) * PAGE);
	for (uid_t u = 0; u < N; u++)
		assert_int_equal(budget_held(b, u * 7919u), u % 2 ? (u % 5 + 1) * PAGE : 0);
	for (uid_t u = 1; u < N; u += 2)
		budget_give(b, u * 7919u, (u % 5 + 1) * PAGE);
	assert_int_equal(b->n, 0);
	assert_int_equal(b->all, 0);
	budget_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares),
		cmocka_unit_test(test_warn_again),
		cmocka_unit_test(test_many_uids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
