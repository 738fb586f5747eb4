/* timeutil.c: parse and format the times of attributes, policies and audit records. Pure
 * functions: no locale, no TZ, no global state. */
#include <ctype.h>
#include <stdio.h>
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

const char *time_format(int64_t t, char buf[TIME_FORMAT_MAX])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!gmtime_r(&tt, &tm) || strftime(buf, TIME_FORMAT_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, TIME_FORMAT_MAX, "%lld", (long long)t);
	return buf;
}
