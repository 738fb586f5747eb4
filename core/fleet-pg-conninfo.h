/* fleet-pg-conninfo.h: plain facts about a [fleet] conninfo, for doctor's TLS check (review
 * finding 10): whether it reaches the center over TCP, whether it insists on verify-full TLS and
 * on channel binding, whether it holds a password. Parsed with libpq's PQconninfoParse (the
 * only parser that agrees with the connection's own); nothing is connected, nothing logged. */
#pragma once

#include <stdbool.h>

struct fleet_pg_conninfo {
	bool tcp;	      /* some host of it is reached over TCP (hostaddr, or a host that is
			       * not a socket directory); no host at all is libpq's socket */
	bool verify_full;     /* sslmode=verify-full */
	bool channel_binding; /* channel_binding=require */
	bool password;	      /* a non-empty password keyword */
};

/* The facts of conninfo (a keyword=value string or a postgresql:// URI). -EINVAL it does not
 * parse (libpq's words kept with log_foreign), -ENOMEM. */
int fleet_pg_conninfo_facts(const char *conninfo, struct fleet_pg_conninfo *ret);
