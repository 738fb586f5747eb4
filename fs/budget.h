/* budget.h: the locked memory that open read handles hold, counted per uid and for all uids,
 * so that no uid can make the daemon lock memory without bound. Every read handle holds its
 * bytes in a secure buffer (locked, at least a page, up to VAULTFS_VALUE_MAX) from its open to
 * its release, and the daemon runs with no RLIMIT_MEMLOCK (systemd/vaultfsd.service): without a
 * budget, a uid allowed to read one 1 MiB secret could pin a GiB of the host's memory with a
 * thousand opens, and one allowed `list` could do it with .meta files a page at a time. Past
 * its uid's share an open is refused with EMFILE, past the share of all with ENFILE (as the
 * kernel says for open files), recorded as any refusal; what a release gives back is the
 * budget back. Touched only under the daemon's lock (open, revive and release). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct budget;

/* A budget of uid_max bytes a uid and all_max for all. */
int budget_new(size_t uid_max, size_t all_max, struct budget **ret);
void budget_free(struct budget *b);

/* Take n bytes (counted in whole pages) for uid: 0; -EMFILE past uid's share, -ENFILE past all's, -ENOMEM. *ret_warn
 * is set on the first refusal of a run (a uid, or all, at its limit until it falls to half of
 * it again): the one to log. */
int budget_take(struct budget *b, uid_t uid, size_t n, bool *ret_warn);
/* Give back n bytes uid took (b NULL: nothing). */
void budget_give(struct budget *b, uid_t uid, size_t n);
/* What uid holds (for tests and status). */
size_t budget_held(const struct budget *b, uid_t uid);
