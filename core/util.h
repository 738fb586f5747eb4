/* util.h: small helpers every module uses: cleanup attributes, ownership transfer, string
 * equality, time. Nothing here allocates secrets or touches the outside world. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
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
