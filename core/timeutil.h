/* timeutil.h: the time formats users type and read: RFC 3339 ("2026-12-01T00:00:00Z",
 * "2026-12-01T02:00:00+02:00", "2026-12-01" = midnight UTC) and relative ("+30d", "+12h",
 * "+15m", "+90s", "-1d"). Times are unix seconds (UTC). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define TIME_FORMAT_MAX 32u

/* Parse s; relative forms are taken from now. -EINVAL for anything else or out of range
 * (the result is always > 0: 0 stands for "no time" in attributes). */
int time_parse(const char *s, int64_t now, int64_t *ret);
/* A span: a number and a unit s, m, h, d or w ("30d"), in seconds. -EINVAL otherwise. */
int duration_parse(const char *s, int64_t *ret);
/* RFC 3339 UTC, "2026-12-01T00:00:00Z". buf holds TIME_FORMAT_MAX bytes. */
const char *time_format(int64_t t, char buf[TIME_FORMAT_MAX]);
/* The same to the microsecond, "2026-12-01T00:00:00.000000Z" (TIME_FORMAT_US_LEN characters,
 * the audit journal's form), by arithmetic: no gmtime_r, which takes the time zone lock per
 * call. Times before 1970 or from year 10000 give all zeros. */
#define TIME_FORMAT_US_LEN 27u
const char *time_format_us(int64_t time_us, char buf[TIME_FORMAT_MAX]);
/* Exactly that form at the start of s (n bytes), in unix microseconds; -EINVAL otherwise. */
int time_parse_us(const char *s, size_t n, int64_t *ret);
