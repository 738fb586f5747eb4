/* harden.c: the process hardening of vaultfsd and vaultctl, written once. Touches only the
 * process's own limits and flags; never exits, never logs. */
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "harden.h"
#include "util.h"

int harden_process(void)
{
	int r = 0;

	(void)setrlimit(RLIMIT_CORE, &(const struct rlimit){ 0, 0 });
	if (prctl(PR_SET_DUMPABLE, 0) < 0)
		r = negative_errno();
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	return r;
}

int harden_mlock(void)
{
	/* MCL_ONFAULT: lock what is touched, not every mapping whole (the store's mmap would
	 * otherwise be read in and locked at once: RSS the size of the store) */
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		return negative_errno();
	return 0;
}
