/* glob.c: matching and checking the globs of policy rules ('*' within a segment, '**' for any
 * number of segments). Pure functions on strings: no allocation, no state, nothing that can
 * fail at match time; a bad pattern is refused by glob_validate() when the policy is loaded,
 * never at decision time. Matching is linear in practice and O(pattern * value) at worst
 * (greedy with one backtrack point per level, no recursion). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/limits.h"
#include "policy/glob.h"

static size_t seg_len(const char *s)
{
	return (size_t)(strchrnul(s, '/') - s);
}

static const char *seg_next(const char *s, size_t len)
{
	s += len;
	return *s == '/' ? s + 1 : s;
}

static bool is_dstar(const char *p, size_t len)
{
	return len == 2 && p[0] == '*' && p[1] == '*';
}

/* One segment: p[0..pn) against s[0..sn); '*' is any run of characters. */
static bool seg_match(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (si < sn) {
		if (pi < pn && p[pi] == '*') {
			star = ++pi;
			mark = si;
		} else if (pi < pn && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

/* Segment lists ("a/b", "" = none). With child, one more segment that any segment pattern
 * matches follows s (a name not known yet). Greedy: back up only to the last "**". */
static bool segs_match(const char *p, const char *s, bool child)
{
	const char *star_p = NULL, *star_s = NULL;
	bool star_child = false;

	for (;;) {
		size_t pl = seg_len(p);

		if (*s == '\0' && !child) {
			while (*p && is_dstar(p, pl)) {
				p = seg_next(p, pl);
				pl = seg_len(p);
			}
			return *p == '\0';
		}
		if (*p) {
			if (is_dstar(p, pl)) {
				star_p = p = seg_next(p, pl);
				star_s = s;
				star_child = child;
				continue;
			}
			if (*s ==
			    '\0') { /* the child segment: every segment pattern matches a name */
				p = seg_next(p, pl);
				child = false;
				continue;
			}
			size_t sl = seg_len(s);

			if (seg_match(p, pl, s, sl)) {
				p = seg_next(p, pl);
				s = seg_next(s, sl);
				continue;
			}
		}
		if (!star_p)
			return false;
		if (*star_s)
			star_s = seg_next(star_s, seg_len(star_s));
		else if (star_child)
			star_child = false;
		else
			return false;
		p = star_p;
		s = star_s;
		child = star_child;
	}
}

static bool match(const char *pattern, const char *value, bool child)
{
	if (!pattern || !value)
		return false;
	if ((pattern[0] == '/') != (value[0] == '/'))
		return false;
	if (pattern[0] == '/') {
		pattern++;
		value++;
	}
	return segs_match(pattern, value, child);
}

bool glob_match(const char *pattern, const char *value)
{
	return match(pattern, value, false);
}

bool glob_match_child(const char *pattern, const char *parent)
{
	return match(pattern, parent, true);
}

bool glob_is_literal(const char *pattern)
{
	return !strchr(pattern, '*');
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static int refuse(size_t off, const char *why, size_t *ret_offset, const char **ret_why)
{
	*ret_offset = off;
	*ret_why = why;
	return -EINVAL;
}

int glob_validate(const char *pattern, size_t len, enum glob_kind kind, size_t *ret_offset,
		  const char **ret_why)
{
	bool absolute = kind != GLOB_NAME;
	size_t i = 0, names = 0;

	if (len == 0)
		return refuse(0, "empty", ret_offset, ret_why);
	if (absolute && pattern[0] != '/')
		return refuse(0, "must start with '/'", ret_offset, ret_why);
	if (!absolute && pattern[0] == '/')
		return refuse(0, "must not start with '/'", ret_offset, ret_why);
	if (absolute)
		i = 1;
	if (kind == GLOB_FS_PATH && len == 1)
		return 0; /* "/": the root cgroup */
	if (kind == GLOB_VAULT_PATH && len == 1)
		return refuse(1, "missing vault name", ret_offset, ret_why);

	while (i <= len) {
		size_t start = i, stars = 0;
		bool dstar = false;

		for (; i < len && pattern[i] != '/'; i++) {
			unsigned char c = (unsigned char)pattern[i];

			if (c == '*') {
				if (i + 1 < len && pattern[i + 1] == '*')
					dstar = true;
				stars++;
				continue;
			}
			if (strchr("?[]{}", c))
				return refuse(i, "reserved character", ret_offset, ret_why);
			if (c <= ' ' || c == 0x7f || (c >= 0x80 && kind != GLOB_FS_PATH))
				return refuse(i, "invalid character", ret_offset, ret_why);
			if (kind == GLOB_VAULT_PATH && !name_char((char)c))
				return refuse(i, "invalid character in a name", ret_offset,
					      ret_why);
		}
		if (i == start)
			return refuse(i, "empty segment", ret_offset, ret_why);
		if (dstar && (i - start != 2 || stars != 2)) {
			size_t d = start;

			while (!(pattern[d] == '*' && pattern[d + 1] == '*'))
				d++;
			return refuse(d, "'**' must be a whole segment", ret_offset, ret_why);
		}
		if (kind == GLOB_VAULT_PATH && !dstar) {
			if (++names > 2)
				return refuse(start, "a path is /VAULT or /VAULT/OBJECT",
					      ret_offset, ret_why);
			if (stars == 0 && (i - start > VAULTFS_NAME_MAX ||
					   !name_char(pattern[start]) || pattern[start] == '.' ||
					   pattern[start] == '_' || pattern[start] == '-'))
				return refuse(start, "not a valid name", ret_offset, ret_why);
		}
		i++; /* past the '/' (or the end) */
	}
	return 0;
}
