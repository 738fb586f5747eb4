/* harden.h: the process hardening vaultfsd and vaultctl start with (STYLE "Secrets"), written
 * once: no core dumps (RLIMIT_CORE 0), not dumpable (no ptrace or /proc/PID/mem by others of our
 * uid), umask 077, SIGPIPE ignored (a peer gone is EPIPE, not a death), the TSS library's own
 * stderr logging off unless the environment already sets TSS2_LOG, OpenSSL's heap wiped on
 * free (crypto_wipe_heap: call this before OpenSSL allocates); and with HARDEN_MLOCK,
 * mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) (lock what is touched, not every mapping
 * whole). Logs nothing: the program says what failed. */
#pragma once

enum {
	HARDEN_MLOCK = 1u << 0,
};

/* Harden this process. 0, or the -errno of the first step that failed (every step is tried);
 * *ret_failed (may be NULL) says which: "prctl(PR_SET_DUMPABLE)", "mlockall" or
 * "CRYPTO_set_mem_functions" (OpenSSL had allocated already). */
int harden_process(unsigned flags, const char **ret_failed);
