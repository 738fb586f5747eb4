/* test-timeutil.c: unit tests for core/timeutil.c. Exact unix seconds for every RFC 3339 form
 * it accepts (Z, lower-case z and t, a space for T, numeric offsets, fractional seconds, a leap
 * second, date only) and every relative form (+30d -1h +15m +90s +2w), the bounds (1970 and
 * year 9999), every refusal as -EINVAL with the out-parameter untouched (no offset, impossible
 * dates and times, garbage, trailing text, years before 1970, huge relative times), and
 * time_format, alone and as the inverse of time_parse. Pure functions: no fixture. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/timeutil.h"
#include "core/util.h"

#define NOW INT64_C(1800000000) /* 2027-01-15T08:00:00Z */
#define SENTINEL INT64_C(-777)
#define T_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

struct good {
	const char *s;
	int64_t t;
};

static void expect_good(const struct good *g, size_t n, int64_t now)
{
	for (size_t i = 0; i < n; i++) {
		int64_t t = SENTINEL;
		int r = time_parse(g[i].s, now, &t);

		if (r != 0 || t != g[i].t)
			fail_msg("'%s': got %d, %lld; expected 0, %lld", g[i].s, r, (long long)t,
				 (long long)g[i].t);
	}
}

static void expect_bad(const char *const *bad, size_t n, int64_t now)
{
	for (size_t i = 0; i < n; i++) {
		int64_t t = SENTINEL;
		int r = time_parse(bad[i], now, &t);

		if (r != -EINVAL || t != SENTINEL)
			fail_msg("'%s': got %d, %lld; expected -EINVAL and no result", bad[i], r,
				 (long long)t);
	}
}

static void test_rfc3339_utc(void **state)
{
	static const struct good g[] = {
		{ "2026-12-01T00:00:00Z", 1796083200 },
		{ "2026-12-01t00:00:00z", 1796083200 },
		{ "2026-12-01 00:00:00Z", 1796083200 },
		{ "2024-02-29T12:34:56Z", 1709210096 },
		{ "2000-01-01T00:00:00Z", 946684800 },
		{ "1970-01-01T00:00:01Z", 1 },
		{ "9999-12-31T23:59:59Z", T_MAX },
		/* A leap second reads as the second before it. */
		{ "2016-12-31T23:59:60Z", 1483228799 },
		{ "2016-12-31T23:59:59Z", 1483228799 },
	};

	(void)state;
	expect_good(g, ELEMENTSOF(g), NOW);
}

static void test_rfc3339_offsets(void **state)
{
	static const struct good g[] = {
		{ "2026-12-01T02:00:00+02:00", 1796083200 },
		{ "2026-11-30T19:00:00-05:00", 1796083200 },
		{ "2026-12-01T00:00:00+00:00", 1796083200 },
		{ "2026-12-01T00:00:00-00:00", 1796083200 },
		{ "2026-12-01T11:00:00+05:30", 1796103000 },
		{ "2026-12-01T05:30:00+00:00", 1796103000 },
		{ "2026-12-01T23:59:00+23:59", 1796083200 },
		{ "2026-11-30T00:01:00-23:59", 1796083200 },
		{ "1970-01-01T01:00:01+01:00", 1 },
		{ "9999-12-31T23:59:59+00:00", T_MAX },
	};

	(void)state;
	expect_good(g, ELEMENTSOF(g), NOW);
}

static void test_rfc3339_fraction_and_date(void **state)
{
	static const struct good g[] = {
		{ "2026-12-01T00:00:00.5Z", 1796083200 },
		{ "2026-12-01T00:00:00.999999999Z", 1796083200 },
		{ "2026-12-01T02:00:00.000+02:00", 1796083200 },
		{ "2026-12-01", 1796083200 },
		{ "1970-01-02", 86400 },
		{ "2024-02-29", 1709164800 },
		{ "9999-12-31", T_MAX - 86399 },
	};

	(void)state;
	expect_good(g, ELEMENTSOF(g), NOW);
}

static void test_relative(void **state)
{
	static const struct good g[] = {
		{ "+30d", NOW + 30 * 86400 },
		{ "-1h", NOW - 3600 },
		{ "+15m", NOW + 15 * 60 },
		{ "+90s", NOW + 90 },
		{ "+2w", NOW + 2 * 7 * 86400 },
		{ "+12h", NOW + 12 * 3600 },
		{ "-1d", NOW - 86400 },
		{ "+0s", NOW },
		{ "-0d", NOW },
		{ "+007m", NOW + 7 * 60 },
		{ "+100000000s", NOW + 100000000 },
	};
	int64_t t = SENTINEL;

	(void)state;
	expect_good(g, ELEMENTSOF(g), NOW);
	/* From the epoch and up to the last second we accept. */
	assert_int_equal(time_parse("+1s", 0, &t), 0);
	assert_int_equal(t, 1);
	assert_int_equal(time_parse("-9s", 10, &t), 0);
	assert_int_equal(t, 1);
	/* 0 means "no time" to every caller: the epoch itself is refused */
	t = SENTINEL;
	assert_int_equal(time_parse("-10s", 10, &t), -EINVAL);
	assert_int_equal(time_parse("1970-01-01T00:00:00Z", NOW, &t), -EINVAL);
	assert_int_equal(time_parse("1970-01-01", NOW, &t), -EINVAL);
	assert_int_equal(time_parse("1970-01-01T01:00:00+01:00", NOW, &t), -EINVAL);
	assert_int_equal(t, SENTINEL);
	assert_int_equal(time_parse("+1s", T_MAX - 1, &t), 0);
	assert_int_equal(t, T_MAX);
}

static void test_rejected(void **state)
{
	static const char *const bad[] = {
		/* no offset: a time is never taken as local time */
		"2026-12-01T00:00:00",
		"2026-12-01T00:00:00.5",
		"2026-12-01 00:00:00",
		/* impossible dates */
		"2026-02-30",
		"2026-02-29",
		"2026-04-31T00:00:00Z",
		"2026-13-01",
		"2026-00-10",
		"2026-12-00",
		"2026-12-32",
		/* impossible times and offsets */
		"2026-12-01T25:00:00Z",
		"2026-12-01T24:00:00Z",
		"2026-12-01T23:60:00Z",
		"2026-12-01T23:59:61Z",
		"2026-12-01T00:00:00+24:00",
		"2026-12-01T00:00:00+02:60",
		"2026-12-01T00:00:00+0200",
		"2026-12-01T00:00:00+02",
		"2026-12-01T00:00:00+2:00",
		/* malformed */
		"",
		"garbage",
		"now",
		"2026",
		"2026-12",
		"2026-12-1",
		"2026/12/01",
		"26-12-01",
		"20261201",
		"2026-12-01T",
		"2026-12-01T00:00Z",
		"2026-12-01T0:00:00Z",
		"2026-12-01T00:00:00.Z",
		"2026-12-01T00-00-00Z",
		"2026-12-01X00:00:00Z",
		" 2026-12-01",
		"+2026-12-01",
		"10000-01-01",
		/* trailing text */
		"2026-12-01Z",
		"2026-12-01 ",
		"2026-12-01T00:00:00Z ",
		"2026-12-01T00:00:00Zjunk",
		"2026-12-01T00:00:00ZZ",
		"2026-12-01T00:00:00+02:00x",
		"2026-12-01T00:00:00+02:00Z",
		/* before 1970, also by way of an offset; after 9999 by way of an offset */
		"1969-12-31",
		"1969-12-31T23:59:59Z",
		"0000-01-01",
		"1970-01-01T00:00:00+00:01",
		"9999-12-31T23:59:59-00:01",
		/* relative forms */
		"+",
		"-",
		"+d",
		"+5",
		"+5x",
		"+5D",
		"+5dd",
		"+5d ",
		"+ 5d",
		"++5d",
		"+-5d",
		"+1.5d",
		"+100000001s",
		"+99999999999999999999d",
		"+100000000w",
	};
	int64_t t = SENTINEL;

	(void)state;
	expect_bad(bad, ELEMENTSOF(bad), NOW);
	/* Relative times that leave the range: before the epoch, after year 9999. */
	assert_int_equal(time_parse("-1s", 0, &t), -EINVAL);
	assert_int_equal(time_parse("-2d", 86400, &t), -EINVAL);
	assert_int_equal(time_parse("+1s", T_MAX, &t), -EINVAL);
	assert_int_equal(t, SENTINEL);
	assert_int_equal(time_parse(NULL, NOW, &t), -EINVAL);
	assert_int_equal(t, SENTINEL);
}

/* The journal's form: microseconds, by arithmetic; parsed back exactly, nothing else taken. */
static void test_format_us(void **state)
{
	char buf[TIME_FORMAT_MAX];
	int64_t us = 0;

	(void)state;
	assert_string_equal(time_format_us(0, buf), "1970-01-01T00:00:00.000000Z");
	assert_string_equal(time_format_us(1796083200123456LL, buf), "2026-12-01T00:00:00.123456Z");
	assert_string_equal(time_format_us(951782400000001LL, buf), "2000-02-29T00:00:00.000001Z");
	assert_string_equal(time_format_us(253402300799999999LL, buf),
			    "9999-12-31T23:59:59.999999Z");
	assert_string_equal(time_format_us(-1, buf), "0000-00-00T00:00:00.000000Z");
	assert_int_equal(time_parse_us("2026-12-01T00:00:00.123456Z", 27, &us), 0);
	assert_int_equal(us, 1796083200123456LL);
	for (int64_t t = 0; t < 4102444800LL; t += 86400 * 37 + 3671) {
		assert_int_equal(time_parse_us(time_format_us(t * 1000000 + 7, buf), 27, &us), 0);
		assert_int_equal(us, t * 1000000 + 7);
	}
	assert_int_equal(time_parse_us("2026-12-01T00:00:00.123456Z", 26, &us), -EINVAL);
	assert_int_equal(time_parse_us("2026-12-01T00:00:00Z", 20, &us), -EINVAL);
	assert_int_equal(time_parse_us("2026-12-01T00:00:0a.123456Z", 27, &us), -EINVAL);
	assert_int_equal(time_parse_us("2026-12-01 00:00:00.123456Z", 27, &us), -EINVAL);
}

static void test_format(void **state)
{
	static const struct good g[] = {
		{ "1970-01-01T00:00:01Z", 1 },		{ "2000-01-01T00:00:00Z", 946684800 },
		{ "2016-12-31T23:59:59Z", 1483228799 }, { "2024-02-29T12:34:56Z", 1709210096 },
		{ "2026-12-01T00:00:00Z", 1796083200 }, { "2027-01-15T08:00:00Z", NOW },
		{ "9999-12-31T23:59:59Z", T_MAX },
	};
	char buf[TIME_FORMAT_MAX];

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(g); i++) {
		int64_t t = SENTINEL;

		memset(buf, 'x', sizeof(buf));
		assert_ptr_equal(time_format(g[i].t, buf), buf);
		assert_string_equal(buf, g[i].s);
		assert_int_equal(time_parse(buf, NOW, &t), 0);
		assert_int_equal(t, g[i].t);
	}
}

/* parse(format(t)) == t over the whole range, at a prime stride that hits every second of the
 * minute, every hour and both sides of leap days. */
static void test_round_trip(void **state)
{
	char buf[TIME_FORMAT_MAX];
	unsigned n = 0;

	(void)state;
	for (int64_t t = 1; t <= T_MAX; t += INT64_C(9999991) * 7 + 13, n++) {
		int64_t back = SENTINEL;

		time_format(t, buf);
		assert_int_equal(strlen(buf), 20);
		if (time_parse(buf, NOW, &back) != 0 || back != t)
			fail_msg("%lld formats as '%s', which parses as %lld", (long long)t, buf,
				 (long long)back);
	}
	assert_true(n > 3000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339_utc),
		cmocka_unit_test(test_rfc3339_offsets),
		cmocka_unit_test(test_rfc3339_fraction_and_date),
		cmocka_unit_test(test_relative),
		cmocka_unit_test(test_rejected),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_us),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
