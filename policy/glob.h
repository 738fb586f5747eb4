/* glob.h: the globs of policy rules. A glob is a list of segments separated by '/'; in a
 * segment '*' matches any run of characters (never a '/'); a segment that is exactly "**"
 * matches any number of segments, none included. A glob that starts with '/' matches only
 * values that start with '/' ("/" alone is the empty list). No other character is special;
 * "?[]{}" are reserved and refused by glob_validate(). Matching allocates nothing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum glob_kind {
	GLOB_VAULT_PATH, /* "/VAULT" or "/VAULT/OBJECT": names, '*', '**' */
	GLOB_FS_PATH,	 /* absolute: cgroup= and exe= values */
	GLOB_NAME,	 /* relative: unit= container= pod= values */
};

/* Does value match pattern? */
bool glob_match(const char *pattern, const char *value);
/* Could pattern match some value "PARENT/NAME" (NAME any one segment)? For "/V" and the
 * question "may this rule grant something on an object of vault V". */
bool glob_match_child(const char *pattern, const char *parent);
/* Does pattern hold a '*'? */
bool glob_is_literal(const char *pattern);
/* Check pattern (len bytes, not NUL-terminated) for kind. 0 when good; else -EINVAL with
 * *ret_offset the byte of the fault and *ret_why a sentence ("'**' must be a whole
 * segment"). */
int glob_validate(const char *pattern, size_t len, enum glob_kind kind, size_t *ret_offset,
		  const char **ret_why);
