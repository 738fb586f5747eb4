/* fleet-pg-int.h: what the center's files share (core/fleet-pg*.c, the only files that include
 * libpq-fe.h): the connection and the one mapping of a libpq failure to -errno. Not for any
 * other file: the rest of the tree speaks fleet-pg.h. */
#pragma once

#include <libpq-fe.h>

#include "fleet-pg.h"

struct fleet_pg {
	PGconn *conn;
};

static inline void fleet_pq_clearp(PGresult **r)
{
	if (*r)
		PQclear(*r);
}
#define _cleanup_pgresult_ __attribute__((cleanup(fleet_pq_clearp)))

/* res's failure (or the connection's, res NULL) as -errno, PostgreSQL's words kept with
 * log_foreign(r, "libpq", ...): -EHOSTDOWN the connection is gone, -EEXIST a unique key,
 * -EACCES the role refused, -EIO anything else. */
int fleet_pg_errno(struct fleet_pg *p, const PGresult *res);
