/* util.h: small helpers every module uses, each written once here: cleanup attributes,
 * ownership transfer, string equality and copy, clocks, hex. Nothing here allocates secrets or
 * touches the outside world. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define _unused_ __attribute__((unused))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(closep)

/* Hand ownership on: returns the pointer and clears the variable so cleanup skips it. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _p_ = (p);                                                           \
		(p) = NULL;                                                                        \
		_p_;                                                                               \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _fd_ = (fd);                                                                   \
		(fd) = -1;                                                                         \
		_fd_;                                                                              \
	})

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* s into buf of size (> 0) bytes, cut to fit, always NUL-terminated: what
 * snprintf(buf, size, "%s", s) does, without parsing a format on the hot path. Returns strlen(s)
 * (>= size: it was cut). */
static inline size_t str_copy(char *buf, size_t size, const char *s)
{
	size_t n = strlen(s), k = n < size ? n : size - 1;

	memcpy(buf, s, k);
	buf[k] = '\0';
	return n;
}

/* Negative errno from the current errno, never 0 (a failing call that forgot errno is EIO). */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* A clock's time in nanoseconds / milliseconds (CLOCK_MONOTONIC for intervals, CLOCK_REALTIME
 * for dates). */
static inline int64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clock_ms(clockid_t clk)
{
	return clock_ns(clk) / 1000000;
}

/* n bytes as 2n lowercase hex digits into out (no NUL). */
static inline void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
}

/* The value of a lowercase hex digit, -1 for anything else. */
static inline int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* 2n lowercase hex digits into n bytes: -EINVAL on any other character. */
static inline int hex_decode(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
