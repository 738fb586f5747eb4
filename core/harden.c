/* harden.c: harden_process() of harden.h. Must never leave the process less private than it
 * found it, nor stop at a step that fails: the others still run. */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "crypto.h"
#include "harden.h"
#include "util.h"

int harden_process(unsigned flags, const char **ret_failed)
{
	const char *failed = NULL;
	int r = 0;

	(void)setrlimit(RLIMIT_CORE, &(const struct rlimit){ 0, 0 });
	if (prctl(PR_SET_DUMPABLE, 0) < 0) {
		r = negative_errno();
		failed = "prctl(PR_SET_DUMPABLE)";
	}
	if ((flags & HARDEN_MLOCK) && mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0 &&
	    r == 0) {
		r = negative_errno();
		failed = "mlockall";
	}
	if (crypto_wipe_heap() < 0 && r == 0) {
		r = -EBUSY;
		failed = "CRYPTO_set_mem_functions";
	}
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	setenv("TSS2_LOG", "all+NONE", 0);
	if (ret_failed)
		*ret_failed = failed;
	return r;
}
