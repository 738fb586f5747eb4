/* log.c: leveled logging to stderr, and each thread's last foreign error. The level and the
 * ident are set once in main() and read afterwards. Never given secret bytes. */
#include <stdio.h>
#include <string.h>

#include "log.h"

/* Process-wide logger settings: written by main() before any thread starts. */
static struct {
	int level;
	const char *ident;
} logger = { LOG_LEVEL_INFO, NULL };

void log_set_level(int level)
{
	logger.level = level;
}

int log_get_level(void)
{
	return logger.level;
}

void log_set_ident(const char *ident)
{
	logger.ident = ident;
}

/* The last foreign error of this thread: "lib: words", "" for none. */
static _Thread_local char foreign[256];

static _printf_(3, 0) void log_line(int level, int err, const char *fmt, va_list ap)
{
	char line[1024];
	int saved = errno;

	if (err < 0)
		errno = -err;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (err < 0 && level <= LOG_LEVEL_WARNING && foreign[0]) {
		size_t n = strlen(line);

		snprintf(line + n, sizeof(line) - n, " [%s]", foreign);
		foreign[0] = '\0';
	}
	if (logger.ident)
		fprintf(stderr, "%s: %s\n", logger.ident, line);
	else
		fprintf(stderr, "%s\n", line);
	errno = saved;
}

int log_internal(int level, int err, const char *fmt, ...)
{
	va_list ap;

	if (level > logger.level)
		return err;
	va_start(ap, fmt);
	log_line(level, err, fmt, ap);
	va_end(ap);
	return err;
}

int log_foreign(int err, const char *lib, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	n = (size_t)snprintf(foreign, sizeof(foreign), "%s: ", lib);
	if (n >= sizeof(foreign))
		return err;
	va_start(ap, fmt);
	vsnprintf(foreign + n, sizeof(foreign) - n, fmt, ap);
	va_end(ap);
	if (logger.level >= LOG_LEVEL_DEBUG) {
		int saved = errno;

		if (logger.ident)
			fprintf(stderr, "%s: %s\n", logger.ident, foreign);
		else
			fprintf(stderr, "%s\n", foreign);
		errno = saved;
	}
	return err;
}

const char *log_foreign_last(void)
{
	return foreign;
}

void log_foreign_clear(void)
{
	foreign[0] = '\0';
}

const char *log_foreign_take(char buf[LOG_FOREIGN_SUFFIX_MAX])
{
	buf[0] = '\0';
	if (foreign[0])
		snprintf(buf, LOG_FOREIGN_SUFFIX_MAX, " [%s]", foreign);
	foreign[0] = '\0';
	return buf;
}
