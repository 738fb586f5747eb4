/* harden.h: the process hardening both programs start with (STYLE.md, Secrets): they hold the
 * master key, so no core dumps, no ptrace by others of the uid, private files. */
#pragma once

/* RLIMIT_CORE 0, PR_SET_DUMPABLE 0, umask 077, SIGPIPE ignored (a peer that went away is an
 * EPIPE to report, not a death). Every step is tried; returns 0 or -errno of PR_SET_DUMPABLE,
 * the one that matters (the caller logs it and goes on). */
int harden_process(void);

/* The daemon's: lock every page it touches, so nothing is paged out. -errno when refused. */
int harden_mlock(void);
