/* fleet-pg-int.h: what the center's files share (core/fleet-pg*.c, the only files that include
 * libpq-fe.h): the connection and the one mapping of a libpq failure to -errno. Not for any
 * other file: the rest of the tree speaks fleet-pg.h. */
#pragma once

#include <libpq-fe.h>

#include "fleet-pg.h"

struct fleet_pg {
	PGconn *conn;
	int64_t answer_ms; /* the longest wait for a statement's answer */
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

/* A statement of up to 8 parameters, each text (param_text, param_int) or binary (bytea,
 * param_bytes); run sends it and waits for its answer p->answer_ms at most (-ETIMEDOUT,
 * the connection shut): 0 with the result (rows or none) in *ret, or -errno. */
struct fleet_pg_params {
	int n;
	const char *v[8];
	int len[8];
	int fmt[8];
	char num[8][24];
};
void fleet_pg_param_text(struct fleet_pg_params *q, const char *s);
void fleet_pg_param_int(struct fleet_pg_params *q, int64_t v);
void fleet_pg_param_bytes(struct fleet_pg_params *q, const void *p, size_t n);
int fleet_pg_run(struct fleet_pg *p, const char *sql, const struct fleet_pg_params *q,
		 PGresult **ret);
/* Binary columns of a result: an integer big-endian of its width (2, 4 or 8; NULL is 0), text
 * (no NUL inside, shorter than size) and bytea (at most size; NULL is empty) as bytes;
 * -EBADMSG when the column is not of that form. */
int fleet_pg_get_int(const PGresult *res, int row, int col, int64_t *ret);
int fleet_pg_get_text(const PGresult *res, int row, int col, char *buf, size_t size);
int fleet_pg_get_bytes(const PGresult *res, int row, int col, uint8_t *buf, size_t size,
		       size_t *ret_len);
