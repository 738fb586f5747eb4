/* fleet-pg-audit.c: the central audit's table in PostgreSQL (fleet-audit.h has the design): made
 * idempotently, and its few statements, each one parameterised query (text parameters for
 * names and numbers, binary for bytea; binary results). libpq's failures become -errno through
 * fleet_pg_errno (fleet-pg-int.h). It never builds SQL from a value and never believes a row:
 * fleet-audit.c checks every batch before a record of it is shown. */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>

#include "fleet-audit-ship.h"
#include "fleet-audit.h"
#include "fleet-pg-int.h"
#include "util.h"

/* not fleet_pg_migrate's lock: that one may be held by the same session's caller */
#define AUDIT_MIGRATE_LOCK "8534109521226938114"

int fleet_pg_audit_migrate(struct fleet_pg *p)
{
	PGresult *res;
	ExecStatusType st;
	int r = 0;

	/* two hosts making it at once: CREATE ... IF NOT EXISTS alone can still collide; one
	 * string of statements, so PQexec (PQexecParams takes one) */
	res = PQexec(p->conn,
		     "BEGIN;"
		     "SELECT pg_advisory_xact_lock(" AUDIT_MIGRATE_LOCK ");"
		     "CREATE TABLE IF NOT EXISTS vaultfs.audit_batches ("
		     " host text NOT NULL CHECK (host ~ '^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$'),"
		     " first_seq bigint NOT NULL CHECK (first_seq > 0),"
		     " last_seq bigint NOT NULL CHECK (last_seq >= first_seq),"
		     " prev bytea NOT NULL,"
		     " lines bytea NOT NULL,"
		     " sig bytea NOT NULL,"
		     " shipped timestamptz NOT NULL DEFAULT now(),"
		     " PRIMARY KEY (host, first_seq));"
		     "COMMIT");
	st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		r = fleet_pg_errno(p, res);
	if (res)
		PQclear(res);
	if (r < 0 && PQtransactionStatus(p->conn) != PQTRANS_IDLE) {
		res = PQexec(p->conn, "ROLLBACK");
		if (res)
			PQclear(res);
	}
	return r;
}

int fleet_pg_audit_insert(struct fleet_pg *p, const struct fleet_audit_batch *b)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };

	if (b->lines_len > INT32_MAX)
		return -EMSGSIZE;
	fleet_pg_param_text(&q, b->host);
	fleet_pg_param_int(&q, b->first_seq);
	fleet_pg_param_int(&q, b->last_seq);
	fleet_pg_param_bytes(&q, b->prev, sizeof(b->prev));
	fleet_pg_param_bytes(&q, b->lines, b->lines_len);
	fleet_pg_param_bytes(&q, b->sig, b->sig_len);
	return fleet_pg_run(
		p,
		"INSERT INTO vaultfs.audit_batches (host, first_seq, last_seq, prev, lines, sig) "
		"VALUES ($1, $2, $3, $4, $5, $6)",
		&q, &res);
}

#define COLUMNS                                                                                    \
	"host, first_seq, last_seq, prev, lines, sig, "                                            \
	"extract(epoch FROM shipped)::bigint FROM vaultfs.audit_batches "

static int get_batch(const PGresult *res, int i, struct fleet_audit_batch *b)
{
	int len = PQgetlength(res, i, 4), hlen = PQgetlength(res, i, 0);
	size_t n;

	memset(b, 0, sizeof(*b));
	if (PQgetisnull(res, i, 0) || hlen < 0 || (size_t)hlen >= sizeof(b->host) || len < 0 ||
	    (size_t)len > FLEET_AUDIT_BATCH_BYTES ||
	    fleet_pg_get_int(res, i, 1, &b->first_seq) < 0 ||
	    fleet_pg_get_int(res, i, 2, &b->last_seq) < 0 ||
	    fleet_pg_get_bytes(res, i, 3, b->prev, sizeof(b->prev), &n) < 0 ||
	    n != sizeof(b->prev) ||
	    fleet_pg_get_bytes(res, i, 5, b->sig, sizeof(b->sig), &b->sig_len) < 0 ||
	    fleet_pg_get_int(res, i, 6, &b->shipped) < 0)
		return -EBADMSG;
	memcpy(b->host, PQgetvalue(res, i, 0), (size_t)hlen);
	if (!fleet_host_name_valid(b->host)) /* the table's CHECK may be gone: not shown */
		return -EBADMSG;
	b->lines = malloc((size_t)len + 1);
	if (!b->lines)
		return -ENOMEM;
	memcpy(b->lines, PQgetvalue(res, i, 4), (size_t)len);
	b->lines_len = (size_t)len;
	return 0;
}

int fleet_pg_audit_last(struct fleet_pg *p, const char *host, struct fleet_audit_batch *ret)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };
	int r;

	fleet_pg_param_text(&q, host);
	r = fleet_pg_run(p, "SELECT " COLUMNS "WHERE host = $1 ORDER BY first_seq DESC LIMIT 1", &q,
			 &res);
	if (r < 0)
		return r;
	if (PQntuples(res) != 1)
		return -ENOENT;
	r = get_batch(res, 0, ret);
	if (r < 0)
		fleet_audit_batch_done(ret);
	return r;
}

int fleet_pg_audit_batches(struct fleet_pg *p, const char *host, struct fleet_audit_batch **ret,
			   size_t *ret_n)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };
	struct fleet_audit_batch *v;
	int r, n;

	if (host) {
		fleet_pg_param_text(&q, host);
		r = fleet_pg_run(p, "SELECT " COLUMNS "WHERE host = $1 ORDER BY host, first_seq",
				 &q, &res);
	} else
		r = fleet_pg_run(p, "SELECT " COLUMNS "ORDER BY host, first_seq", NULL, &res);
	if (r < 0)
		return r;
	n = PQntuples(res);
	v = calloc((size_t)n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		r = get_batch(res, i, &v[i]);
		if (r < 0) {
			fleet_audit_batches_free(v, (size_t)n);
			return r;
		}
	}
	*ret = v;
	*ret_n = (size_t)n;
	return 0;
}

int fleet_pg_audit_ranges(struct fleet_pg *p, const char *host, int64_t **ret, size_t *ret_n)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };
	int64_t *v;
	int r, n;

	/* read only: a missing table is an answer, not something to make */
	r = fleet_pg_run(p, "SELECT to_regclass('vaultfs.audit_batches') IS NOT NULL", NULL, &res);
	if (r < 0)
		return r;
	if (PQntuples(res) != 1 || PQgetlength(res, 0, 0) != 1)
		return -EBADMSG;
	if (!PQgetvalue(res, 0, 0)[0])
		return -ENOENT;
	PQclear(res);
	res = NULL;
	fleet_pg_param_text(&q, host);
	r = fleet_pg_run(p,
			 "SELECT first_seq, last_seq FROM vaultfs.audit_batches WHERE host = $1 "
			 "ORDER BY first_seq",
			 &q, &res);
	if (r < 0)
		return r;
	n = PQntuples(res);
	v = calloc(2 * (size_t)n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		if (fleet_pg_get_int(res, i, 0, &v[2 * i]) < 0 ||
		    fleet_pg_get_int(res, i, 1, &v[2 * i + 1]) < 0) {
			free(v);
			return -EBADMSG;
		}
	*ret = v;
	*ret_n = (size_t)n;
	return 0;
}

int fleet_pg_audit_delete_from(struct fleet_pg *p, const char *host, int64_t first_seq)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };
	int r;

	fleet_pg_param_text(&q, host);
	fleet_pg_param_int(&q, first_seq);
	r = fleet_pg_run(p, "DELETE FROM vaultfs.audit_batches WHERE host = $1 AND first_seq >= $2",
			 &q, &res);
	if (r < 0)
		return r;
	return atoi(PQcmdTuples(res));
}

int fleet_pg_audit_head(struct fleet_pg *p, const char *host, int64_t first_seq,
			struct fleet_audit_head *ret)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_audit_head h = {};
	struct fleet_pg_params q = { 0 };
	size_t n, m;
	int r;

	/* the center hashes the lines: only 80 bytes come back, whatever the batch's size */
	fleet_pg_param_text(&q, host);
	if (first_seq > 0) {
		fleet_pg_param_int(&q, first_seq);
		r = fleet_pg_run(p,
				 "SELECT first_seq, last_seq, prev, sha256(lines) "
				 "FROM vaultfs.audit_batches WHERE host = $1 AND first_seq = $2",
				 &q, &res);
	} else
		r = fleet_pg_run(
			p,
			"SELECT first_seq, last_seq, prev, sha256(lines) "
			"FROM vaultfs.audit_batches WHERE host = $1 ORDER BY first_seq DESC LIMIT 1",
			&q, &res);
	if (r < 0)
		return r;
	if (PQntuples(res) != 1)
		return -ENOENT;
	if (fleet_pg_get_int(res, 0, 0, &h.first_seq) < 0 ||
	    fleet_pg_get_int(res, 0, 1, &h.last_seq) < 0 ||
	    fleet_pg_get_bytes(res, 0, 2, h.prev, sizeof(h.prev), &n) < 0 || n != sizeof(h.prev) ||
	    fleet_pg_get_bytes(res, 0, 3, h.digest, sizeof(h.digest), &m) < 0 ||
	    m != sizeof(h.digest))
		return -EBADMSG;
	*ret = h;
	return 0;
}
