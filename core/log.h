/* log.h: leveled logging to stderr for the programs (fs/, tools/). core/ and policy/ log at
 * debug level at most. log_*_errno() take a negative errno, make %m print it, and return it, so
 * `return log_error_errno(r, "Failed to open store '%s': %m", path);` reads as one step. */
#pragma once

#include <stdarg.h>

#include "util.h"

enum log_level {
	LOG_LEVEL_ERROR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

void log_set_level(int level);
int log_get_level(void);
/* Prefix for every line, e.g. "vaultctl". NULL for none. The string must outlive the logger. */
void log_set_ident(const char *ident);

/* Returns err (a negative errno, or 0). */
int log_internal(int level, int err, const char *fmt, ...) _printf_(3, 4);

#define log_debug(...) log_internal(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_internal(LOG_LEVEL_ERROR, 0, __VA_ARGS__)
#define log_debug_errno(r, ...) log_internal(LOG_LEVEL_DEBUG, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) log_internal(LOG_LEVEL_WARNING, (r), __VA_ARGS__)
#define log_error_errno(r, ...) log_internal(LOG_LEVEL_ERROR, (r), __VA_ARGS__)

/* A foreign library's own words. Where a library's code (TSS2_RC, SQLITE_*, OpenSSL's error
 * queue) becomes an -errno, the one file that converts it calls log_foreign() with the
 * library's text ("sqlite", "unable to open database file"): logged at debug, and kept as this
 * thread's last foreign error. The next error or warning line that carries an errno (the one
 * log line at the edge, in fs/ or tools/) ends with it, " [sqlite: unable to open database
 * file]", and clears it. Never give it secret bytes. Returns err. */
int log_foreign(int err, const char *lib, const char *fmt, ...) _printf_(3, 4);
/* This thread's last foreign error ("" for none), and clearing it. */
const char *log_foreign_last(void);
void log_foreign_clear(void);
/* For a line printed some other way (printf): " [lib: words]" of this thread's last foreign
 * error into buf ("" for none), which it clears. Returns buf. */
#define LOG_FOREIGN_SUFFIX_MAX 260
const char *log_foreign_take(char buf[LOG_FOREIGN_SUFFIX_MAX]);
