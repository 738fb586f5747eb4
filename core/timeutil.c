/* timeutil.c: parse and format the times of attributes, policies and audit records. Pure
 * functions: no locale, no TZ, no global state. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "timeutil.h"
#include "util.h"

/* Largest time we accept: year 9999. */
#define TIME_MAX_SECONDS 253402300799LL

static int digits(const char *s, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

int duration_parse(const char *s, int64_t *ret)
{
	int64_t n = 0, unit;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (*p - '0');
		if (n > 100000000LL)
			return -EINVAL;
	}
	switch (*p) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	case 'w':
		unit = 7 * 86400;
		break;
	default:
		return -EINVAL;
	}
	if (p[1] != '\0')
		return -EINVAL;
	*ret = n * unit;
	return 0;
}

static int parse_relative(const char *s, int64_t now, int64_t *ret)
{
	int64_t d;

	if (duration_parse(s + 1, &d) < 0)
		return -EINVAL;
	d = now + (s[0] == '-' ? -d : d);
	if (d <= 0 || d > TIME_MAX_SECONDS)
		return -EINVAL;
	*ret = d;
	return 0;
}

int time_parse(const char *s, int64_t now, int64_t *ret)
{
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
	size_t len;
	const char *p;
	time_t t;

	if (!s)
		return -EINVAL;
	if (s[0] == '+' || s[0] == '-')
		return parse_relative(s, now, ret);
	len = strlen(s);
	if (len < 10 || digits(s, 4, &y) < 0 || s[4] != '-' || digits(s + 5, 2, &mo) < 0 ||
	    s[7] != '-' || digits(s + 8, 2, &d) < 0)
		return -EINVAL;
	p = s + 10;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		if (strlen(p) < 9 || digits(p + 1, 2, &h) < 0 || p[3] != ':' ||
		    digits(p + 4, 2, &mi) < 0 || p[6] != ':' || digits(p + 7, 2, &sec) < 0)
			return -EINVAL;
		p += 9;
		if (*p == '.') { /* fractional seconds: accepted, dropped */
			p++;
			if (!isdigit((unsigned char)*p))
				return -EINVAL;
			while (isdigit((unsigned char)*p))
				p++;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh, om;

			if (strlen(p) != 6 || digits(p + 1, 2, &oh) < 0 || p[3] != ':' ||
			    digits(p + 4, 2, &om) < 0 || oh > 23 || om > 59)
				return -EINVAL;
			off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
			p += 6;
		} else {
			return -EINVAL; /* a time needs its offset: no local-time guessing */
		}
	}
	if (*p != '\0')
		return -EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec == 60 ? 59 : sec;
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != d) /* timegm normalised Feb 30 into March */
		return -EINVAL;
	t -= off;
	if (t <= 0 || t > TIME_MAX_SECONDS) /* 0 means "none" to every caller: not a time */
		return -EINVAL;
	*ret = (int64_t)t;
	return 0;
}

static void put_digits(char *p, int v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
}

/* 10000-01-01T00:00:00Z: the first second that does not fit in four digits of year. */
#define YEAR_10000_SECS INT64_C(253402300800)

/* The proleptic Gregorian date of a day count since 1970-01-01 (days >= 0): pure arithmetic
 * (H. Hinnant's civil_from_days), not gmtime_r, which takes the time zone lock per call. */
static void civil_from_days(int64_t days, int *ret_y, int *ret_m, int *ret_d)
{
	int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;

	*ret_y = (int)(yoe + era * 400 + (m <= 2));
	*ret_m = (int)m;
	*ret_d = (int)(doy - (153 * mp + 2) / 5 + 1);
}

const char *time_format_us(int64_t time_us, char buf[TIME_FORMAT_MAX])
{
	int64_t secs = time_us / 1000000, sod = secs % 86400;
	int y, m, d;

	memcpy(buf, "0000-00-00T00:00:00.000000Z", TIME_FORMAT_US_LEN + 1);
	if (time_us < 0 || secs >= YEAR_10000_SECS)
		return buf;
	civil_from_days(secs / 86400, &y, &m, &d);
	put_digits(buf, y, 4);
	put_digits(buf + 5, m, 2);
	put_digits(buf + 8, d, 2);
	put_digits(buf + 11, (int)(sod / 3600), 2);
	put_digits(buf + 14, (int)(sod / 60 % 60), 2);
	put_digits(buf + 17, (int)(sod % 60), 2);
	put_digits(buf + 20, (int)(time_us % 1000000), 6);
	return buf;
}

const char *time_format(int64_t t, char buf[TIME_FORMAT_MAX])
{
	if (t < 0 || t >= YEAR_10000_SECS) {
		snprintf(buf, TIME_FORMAT_MAX, "%lld", (long long)t);
		return buf;
	}
	time_format_us(t * 1000000, buf);
	memcpy(buf + 19, "Z", 2); /* whole seconds: no fraction */
	return buf;
}

int time_parse_us(const char *s, size_t n, int64_t *ret)
{
	static const int at[7] = { 0, 5, 8, 11, 14, 17, 20 }, len[7] = { 4, 2, 2, 2, 2, 2, 6 };
	struct tm tm = { 0 };
	int v[7] = { 0 };
	time_t t;

	if (n < TIME_FORMAT_US_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != '.' || s[26] != 'Z')
		return -EINVAL;
	for (int i = 0; i < 7; i++)
		if (digits(s + at[i], len[i], &v[i]) < 0)
			return -EINVAL;
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	t = timegm(&tm);
	if (t == (time_t)-1 || t < 0)
		return -EINVAL;
	*ret = (int64_t)t * 1000000 + v[6];
	return 0;
}
