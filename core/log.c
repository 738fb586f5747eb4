/* log.c: leveled logging to stderr. The level and the ident are the only process-wide state
 * in core/: they are set once in main() and read afterwards. Never given secret bytes. */
#include <stdio.h>

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

int log_internal(int level, int err, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int saved = errno;

	if (level > logger.level)
		return err;
	if (err < 0)
		errno = -err;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (logger.ident)
		fprintf(stderr, "%s: %s\n", logger.ident, line);
	else
		fprintf(stderr, "%s\n", line);
	errno = saved;
	return err;
}
