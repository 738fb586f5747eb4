/* fleet-pg.c: the fleet's center in PostgreSQL over libpq: the connection, the schema and its
 * migration, and each statement as one parameterised query (text parameters for names and
 * numbers, binary for bytea; binary results). libpq's failures become -errno here and nowhere
 * else, PostgreSQL's own words kept with log_foreign(r, "libpq", ...). It never builds SQL from
 * a value, never checks or believes a row (fleet.c does), and never holds a secret: every byte
 * it moves is public or sealed. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <libpq-fe.h>
#include <stdio.h>

#include "fleet-pg-int.h"
#include "log.h"
#include "util.h"

/* PostgreSQL's words, without libpq's trailing newline. */
static int keep_words(int r, const char *msg)
{
	size_t n = msg ? strlen(msg) : 0;

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	return log_foreign(r, "libpq", "%.*s", (int)MIN(n, 200u), msg ? msg : "");
}

/* The one place a libpq failure becomes an errno. */
int fleet_pg_errno(struct fleet_pg *p, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	int r = -EIO;

	if (!msg || !msg[0])
		msg = PQerrorMessage(p->conn);
	if (PQstatus(p->conn) != CONNECTION_OK)
		r = -EHOSTDOWN;
	else if (!state)
		r = res ? -EIO : -ENOMEM;
	else if (streq(state, "23505"))
		r = -EEXIST;
	else if (streq(state, "42501") || strncmp(state, "28", 2) == 0)
		r = -EACCES;
	else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
		r = -EHOSTDOWN;
	return keep_words(r, msg);
}

/* The server's notices ("schema already exists, skipping") at debug: libpq would print them to
 * stderr. */
static void notice(void *ud, const char *msg)
{
	(void)ud;
	log_debug("libpq: %s", msg);
}

int fleet_pg_connect(const char *conninfo, struct fleet_pg **ret)
{
	struct fleet_pg *p;
	int r;

	if (!conninfo || !conninfo[0])
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	/* a center that does not answer must not hold a caller for long: bounds of our own
	 * unless conninfo sets them (a later keyword wins; conninfo's are expanded after ours) */
	p->conn = PQconnectdbParams(
		(const char *const[]){ "connect_timeout", "tcp_user_timeout", "dbname", NULL },
		(const char *const[]){ FLEET_PG_CONNECT_TIMEOUT, FLEET_PG_TCP_TIMEOUT_MS, conninfo,
				       NULL },
		1);
	if (!p->conn) {
		free(p);
		return -ENOMEM;
	}
	if (PQstatus(p->conn) != CONNECTION_OK) {
		const char *msg = PQerrorMessage(p->conn);

		/* a refused password or role is not an outage */
		r = strstr(msg, "authentication failed") || strstr(msg, "does not exist") ?
			    -EACCES :
			    -EHOSTDOWN;
		keep_words(r, msg);
		fleet_pg_free(p);
		return r;
	}
	PQsetNoticeProcessor(p->conn, notice, NULL);
	p->answer_ms = FLEET_PG_ANSWER_MS;
	*ret = p;
	return 0;
}

void fleet_pg_set_answer_ms(struct fleet_pg *p, int64_t ms)
{
	p->answer_ms = ms > 0 ? MIN(ms, (int64_t)INT_MAX) : FLEET_PG_ANSWER_MS;
}

void fleet_pg_free(struct fleet_pg *p)
{
	if (!p)
		return;
	PQfinish(p->conn);
	free(p);
}

void fleet_pg_param_text(struct fleet_pg_params *q, const char *s)
{
	q->v[q->n] = s;
	q->len[q->n] = 0;
	q->fmt[q->n] = 0;
	q->n++;
}

void fleet_pg_param_int(struct fleet_pg_params *q, int64_t v)
{
	snprintf(q->num[q->n], sizeof(q->num[q->n]), "%" PRId64, v);
	fleet_pg_param_text(q, q->num[q->n]);
}

void fleet_pg_param_bytes(struct fleet_pg_params *q, const void *p, size_t n)
{
	q->v[q->n] = n ? p : "";
	q->len[q->n] = (int)n;
	q->fmt[q->n] = 1;
	q->n++;
}

/* The answer to what was sent, waited for p->answer_ms at most: a center that holds the
 * connection and does not answer (a stopped server, a partition that drops nothing) holds no
 * caller for longer. Past it the connection is shut (libpq sees it gone) and -ETIMEDOUT: what
 * was sent may still be taken when the center wakes. The first error among the results, or
 * the last result, in *ret. */
static int answer(struct fleet_pg *p, PGresult **ret)
{
	int64_t end = clock_ms(CLOCK_MONOTONIC) + p->answer_ms;
	struct pollfd pfd = { .fd = PQsocket(p->conn) };
	PGresult *res, *kept = NULL;
	int f, n;

	*ret = NULL;
	if (pfd.fd < 0)
		return fleet_pg_errno(p, NULL);
	for (;;) {
		f = PQflush(p->conn);
		if (f < 0)
			break;
		if (f == 0 && !PQisBusy(p->conn)) {
			res = PQgetResult(p->conn);
			if (!res)
				break;
			if (!kept || (PQresultStatus(kept) != PGRES_FATAL_ERROR &&
				      PQresultStatus(res) == PGRES_FATAL_ERROR)) {
				if (kept)
					PQclear(kept);
				kept = res;
			} else
				PQclear(res);
			continue;
		}
		pfd.events = POLLIN | (f == 1 ? POLLOUT : 0);
		n = poll(&pfd, 1, (int)MAX(end - clock_ms(CLOCK_MONOTONIC), (int64_t)0));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (kept)
				PQclear(kept);
			(void)shutdown(pfd.fd, SHUT_RDWR);
			(void)PQconsumeInput(p->conn);
			return keep_words(-ETIMEDOUT, "the center did not answer in time");
		}
		if ((pfd.revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(p->conn))
			break;
	}
	if (PQstatus(p->conn) != CONNECTION_OK || f < 0) {
		if (kept)
			PQclear(kept);
		return fleet_pg_errno(p, NULL);
	}
	*ret = kept;
	return 0;
}

/* sql sent (parameters: q, or none; several statements only without), in libpq's
 * nonblocking mode for the send, then its answer (above); 0 with the result (rows or none) in
 * *ret, or -errno. */
static int send_and_wait(struct fleet_pg *p, const char *sql, const struct fleet_pg_params *q,
			 PGresult **ret)
{
	PGresult *res = NULL;
	ExecStatusType st;
	int ok, r;

	if (PQsetnonblocking(p->conn, 1) < 0)
		return fleet_pg_errno(p, NULL);
	ok = q ? PQsendQueryParams(p->conn, sql, q->n, NULL, q->v, q->len, q->fmt, 1) :
		 PQsendQuery(p->conn, sql);
	r = ok ? answer(p, &res) : fleet_pg_errno(p, NULL);
	(void)PQsetnonblocking(p->conn, 0);
	if (r < 0)
		return r;
	st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		r = fleet_pg_errno(p, res);
		if (res)
			PQclear(res);
		return r;
	}
	*ret = res;
	return 0;
}

/* Run sql; 0 with the result (rows or none) in *ret, or -errno. */
int fleet_pg_run(struct fleet_pg *p, const char *sql, const struct fleet_pg_params *q,
		 PGresult **ret)
{
	static const struct fleet_pg_params none = { 0 };

	return send_and_wait(p, sql, q ? q : &none, ret);
}

static int run_none(struct fleet_pg *p, const char *sql, const struct fleet_pg_params *q)
{
	_cleanup_pgresult_ PGresult *res = NULL;

	return fleet_pg_run(p, sql, q, &res);
}

int fleet_pg_exec(struct fleet_pg *p, const char *sql)
{
	_cleanup_pgresult_ PGresult *res = NULL;

	return send_and_wait(p, sql, NULL, &res);
}

/* Binary columns: integers big-endian of their width, text and bytea as bytes. */
int fleet_pg_get_int(const PGresult *res, int row, int col, int64_t *ret)
{
	const uint8_t *v = (const uint8_t *)PQgetvalue(res, row, col);
	int len = PQgetlength(res, row, col);
	uint64_t x = 0;

	if (PQgetisnull(res, row, col)) {
		*ret = 0;
		return 0;
	}
	if (len != 2 && len != 4 && len != 8)
		return -EBADMSG;
	for (int i = 0; i < len; i++)
		x = x << 8 | v[i];
	/* sign-extend the narrower widths */
	if (len < 8 && (x >> (len * 8 - 1)) & 1)
		x |= ~0ull << (len * 8);
	*ret = (int64_t)x;
	return 0;
}

int fleet_pg_get_text(const PGresult *res, int row, int col, char *buf, size_t size)
{
	int len = PQgetlength(res, row, col);

	if (len < 0 || (size_t)len >= size)
		return -EBADMSG;
	memcpy(buf, PQgetvalue(res, row, col), (size_t)len);
	buf[len] = '\0';
	return strlen(buf) == (size_t)len ? 0 : -EBADMSG;
}

/* A host's name ("" allowed where none is: empty), checked as fleet_host_name_valid: a name
 * the center made up goes into no log or record unchecked. */
static int get_host(const PGresult *res, int row, int col, char *buf, size_t size, bool empty)
{
	int r = fleet_pg_get_text(res, row, col, buf, size);

	if (r < 0)
		return r;
	return (empty && !buf[0]) || fleet_host_name_valid(buf) ? 0 : -EBADMSG;
}

int fleet_pg_get_bytes(const PGresult *res, int row, int col, uint8_t *buf, size_t size,
		       size_t *ret_len)
{
	int len = PQgetlength(res, row, col);

	if (len < 0 || (size_t)len > size)
		return -EBADMSG;
	memcpy(buf, PQgetvalue(res, row, col), (size_t)len);
	*ret_len = (size_t)len;
	return 0;
}

static const char schema_v1[] =
	"CREATE TABLE vaultfs.hosts ("
	" name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$'),"
	" kind smallint NOT NULL,"
	" spki bytea NOT NULL,"
	" approved_by text NOT NULL DEFAULT '',"
	" sig bytea NOT NULL DEFAULT '',"
	" revoked_by text NOT NULL DEFAULT '',"
	" revoked_sig bytea NOT NULL DEFAULT '',"
	" joined timestamptz NOT NULL DEFAULT now(),"
	" last_seen timestamptz);"
	/* one anchor: two first hosts joining at once cannot both approve themselves */
	"CREATE UNIQUE INDEX hosts_one_anchor ON vaultfs.hosts ((true)) WHERE approved_by = name;"
	"CREATE TABLE vaultfs.vaults ("
	" name text PRIMARY KEY,"
	" epoch integer NOT NULL CHECK (epoch > 0),"
	" created timestamptz NOT NULL DEFAULT now());"
	"CREATE TABLE vaultfs.grants ("
	" vault text NOT NULL REFERENCES vaultfs.vaults (name),"
	" epoch integer NOT NULL,"
	" host text NOT NULL REFERENCES vaultfs.hosts (name),"
	" wrapped bytea NOT NULL,"
	" granted_by text NOT NULL,"
	" sig bytea NOT NULL,"
	" PRIMARY KEY (vault, epoch, host));"
	"CREATE TABLE vaultfs.changes ("
	" vault text NOT NULL REFERENCES vaultfs.vaults (name),"
	" seq bigint NOT NULL CHECK (seq > 0),"
	" epoch integer NOT NULL,"
	" host text NOT NULL,"
	" body bytea NOT NULL,"
	" mac bytea NOT NULL,"
	" created timestamptz NOT NULL DEFAULT now(),"
	" PRIMARY KEY (vault, seq));"
	"CREATE TABLE vaultfs.applied ("
	" host text NOT NULL,"
	" vault text NOT NULL,"
	" seq bigint NOT NULL,"
	" at timestamptz NOT NULL DEFAULT now(),"
	" PRIMARY KEY (host, vault));"
	"INSERT INTO vaultfs.meta (key, value) VALUES ('schema', '1');";

int fleet_pg_migrate(struct fleet_pg *p)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	char v[16] = "0";
	int r;

	r = fleet_pg_exec(p, "BEGIN;"
			     "SELECT pg_advisory_xact_lock(8534109521226938113);"
			     "CREATE SCHEMA IF NOT EXISTS vaultfs;"
			     "CREATE TABLE IF NOT EXISTS vaultfs.meta ("
			     " key text PRIMARY KEY, value text NOT NULL);");
	if (r < 0)
		goto fail;
	r = fleet_pg_run(p, "SELECT value FROM vaultfs.meta WHERE key = 'schema'", NULL, &res);
	if (r < 0)
		goto fail;
	if (PQntuples(res) == 1 && fleet_pg_get_text(res, 0, 0, v, sizeof(v)) < 0) {
		r = -EBADMSG;
		goto fail;
	}
	if (atoi(v) > FLEET_PG_SCHEMA_VERSION) {
		r = -EPROTONOSUPPORT;
		goto fail;
	}
	if (atoi(v) < 1) {
		r = fleet_pg_exec(p, schema_v1);
		if (r < 0)
			goto fail;
	}
	return fleet_pg_exec(p, "COMMIT");
fail:
	(void)fleet_pg_exec(p, "ROLLBACK");
	return r;
}

/* --- hosts --- */

int fleet_pg_host_insert(struct fleet_pg *p, const struct fleet_host *h)
{
	struct fleet_pg_params q = { 0 };

	fleet_pg_param_text(&q, h->name);
	fleet_pg_param_int(&q, h->kind);
	fleet_pg_param_bytes(&q, h->spki, h->spki_len);
	fleet_pg_param_text(&q, h->approved_by);
	fleet_pg_param_bytes(&q, h->sig, h->sig_len);
	return run_none(p,
			"INSERT INTO vaultfs.hosts (name, kind, spki, approved_by, sig) "
			"VALUES ($1, $2, $3, $4, $5)",
			&q);
}

int fleet_pg_host_update(struct fleet_pg *p, const struct fleet_host *h)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };
	int r;

	fleet_pg_param_text(&q, h->name);
	fleet_pg_param_text(&q, h->approved_by);
	fleet_pg_param_bytes(&q, h->sig, h->sig_len);
	fleet_pg_param_text(&q, h->revoked_by);
	fleet_pg_param_bytes(&q, h->revoked_sig, h->revoked_sig_len);
	r = fleet_pg_run(p,
			 "UPDATE vaultfs.hosts SET approved_by = $2, sig = $3, revoked_by = $4, "
			 "revoked_sig = $5 WHERE name = $1",
			 &q, &res);
	if (r < 0)
		return r;
	return streq(PQcmdTuples(res), "1") ? 0 : -ENOENT;
}

int fleet_pg_hosts(struct fleet_pg *p, struct fleet_host **ret, size_t *ret_n)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	_cleanup_free_ struct fleet_host *hosts = NULL;
	int r, n;

	r = fleet_pg_run(p,
			 "SELECT name, kind, spki, approved_by, sig, revoked_by, revoked_sig, "
			 "extract(epoch FROM joined)::bigint, "
			 "COALESCE(extract(epoch FROM last_seen)::bigint, 0) "
			 "FROM vaultfs.hosts ORDER BY name",
			 NULL, &res);
	if (r < 0)
		return r;
	n = PQntuples(res);
	if (n > (int)FLEET_PG_HOSTS_MAX)
		return -EBADMSG; /* a center that would have the daemon hold more */
	hosts = calloc((size_t)n + 1, sizeof(*hosts));
	if (!hosts)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct fleet_host *h = &hosts[i];
		int64_t kind;

		if (get_host(res, i, 0, h->name, sizeof(h->name), false) < 0 ||
		    fleet_pg_get_int(res, i, 1, &kind) < 0 ||
		    fleet_pg_get_bytes(res, i, 2, h->spki, sizeof(h->spki), &h->spki_len) < 0 ||
		    get_host(res, i, 3, h->approved_by, sizeof(h->approved_by), true) < 0 ||
		    fleet_pg_get_bytes(res, i, 4, h->sig, sizeof(h->sig), &h->sig_len) < 0 ||
		    get_host(res, i, 5, h->revoked_by, sizeof(h->revoked_by), true) < 0 ||
		    fleet_pg_get_bytes(res, i, 6, h->revoked_sig, sizeof(h->revoked_sig),
				       &h->revoked_sig_len) < 0 ||
		    fleet_pg_get_int(res, i, 7, &h->joined) < 0 ||
		    fleet_pg_get_int(res, i, 8, &h->last_seen) < 0)
			return -EBADMSG;
		h->kind = (enum fleet_key_kind)kind;
	}
	*ret = TAKE_PTR(hosts);
	*ret_n = (size_t)n;
	return 0;
}

int fleet_pg_host_seen(struct fleet_pg *p, const char *name)
{
	struct fleet_pg_params q = { 0 };

	fleet_pg_param_text(&q, name);
	return run_none(p, "UPDATE vaultfs.hosts SET last_seen = now() WHERE name = $1", &q);
}

/* --- vaults --- */

int fleet_pg_vault_insert(struct fleet_pg *p, const char *vault, uint32_t epoch)
{
	struct fleet_pg_params q = { 0 };

	fleet_pg_param_text(&q, vault);
	fleet_pg_param_int(&q, epoch);
	return run_none(p, "INSERT INTO vaultfs.vaults (name, epoch) VALUES ($1, $2)", &q);
}

int fleet_pg_vault_epoch(struct fleet_pg *p, const char *vault, uint32_t *ret)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };
	int64_t e;
	int r;

	fleet_pg_param_text(&q, vault);
	r = fleet_pg_run(p, "SELECT epoch FROM vaultfs.vaults WHERE name = $1", &q, &res);
	if (r < 0)
		return r;
	if (PQntuples(res) != 1)
		return -ENOENT;
	r = fleet_pg_get_int(res, 0, 0, &e);
	if (r < 0 || e <= 0 || e > UINT32_MAX)
		return -EBADMSG;
	*ret = (uint32_t)e;
	return 0;
}

int fleet_pg_vault_set_epoch(struct fleet_pg *p, const char *vault, uint32_t epoch)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };
	int r;

	fleet_pg_param_text(&q, vault);
	fleet_pg_param_int(&q, epoch);
	r = fleet_pg_run(p, "UPDATE vaultfs.vaults SET epoch = $2 WHERE name = $1", &q, &res);
	if (r < 0)
		return r;
	return streq(PQcmdTuples(res), "1") ? 0 : -ENOENT;
}

int fleet_pg_vaults(struct fleet_pg *p, struct fleet_pg_vault **ret, size_t *ret_n)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	_cleanup_free_ struct fleet_pg_vault *v = NULL;
	int r, n;

	r = fleet_pg_run(p,
			 "SELECT v.name, v.epoch, COALESCE((SELECT max(seq) FROM vaultfs.changes c "
			 "WHERE c.vault = v.name), 0) FROM vaultfs.vaults v ORDER BY v.name",
			 NULL, &res);
	if (r < 0)
		return r;
	n = PQntuples(res);
	if (n > (int)FLEET_PG_VAULTS_MAX)
		return -EBADMSG;
	v = calloc((size_t)n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		int64_t e;

		if (fleet_pg_get_text(res, i, 0, v[i].name, sizeof(v[i].name)) < 0 ||
		    fleet_pg_get_int(res, i, 1, &e) < 0 || e <= 0 || e > UINT32_MAX ||
		    fleet_pg_get_int(res, i, 2, &v[i].max_seq) < 0)
			return -EBADMSG;
		v[i].epoch = (uint32_t)e;
	}
	*ret = TAKE_PTR(v);
	*ret_n = (size_t)n;
	return 0;
}

/* --- grants --- */

int fleet_pg_grant_put(struct fleet_pg *p, const struct fleet_grant *g)
{
	struct fleet_pg_params q = { 0 };

	fleet_pg_param_text(&q, g->vault);
	fleet_pg_param_int(&q, g->epoch);
	fleet_pg_param_text(&q, g->host);
	fleet_pg_param_bytes(&q, g->wrapped, g->wrapped_len);
	fleet_pg_param_text(&q, g->granted_by);
	fleet_pg_param_bytes(&q, g->sig, g->sig_len);
	return run_none(p,
			"INSERT INTO vaultfs.grants (vault, epoch, host, wrapped, granted_by, sig) "
			"VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (vault, epoch, host) DO "
			"UPDATE SET wrapped = $4, granted_by = $5, sig = $6",
			&q);
}

int fleet_pg_grant_get(struct fleet_pg *p, const char *vault, uint32_t epoch, const char *host,
		       struct fleet_grant *ret)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };
	struct fleet_grant g = { .epoch = epoch };
	int r;

	fleet_pg_param_text(&q, vault);
	fleet_pg_param_int(&q, epoch);
	fleet_pg_param_text(&q, host);
	r = fleet_pg_run(p,
			 "SELECT wrapped, granted_by, sig FROM vaultfs.grants "
			 "WHERE vault = $1 AND epoch = $2 AND host = $3",
			 &q, &res);
	if (r < 0)
		return r;
	if (PQntuples(res) != 1)
		return -ENOENT;
	if (str_copy(g.vault, sizeof(g.vault), vault) >= sizeof(g.vault) ||
	    str_copy(g.host, sizeof(g.host), host) >= sizeof(g.host) ||
	    fleet_pg_get_bytes(res, 0, 0, g.wrapped, sizeof(g.wrapped), &g.wrapped_len) < 0 ||
	    fleet_pg_get_text(res, 0, 1, g.granted_by, sizeof(g.granted_by)) < 0 ||
	    fleet_pg_get_bytes(res, 0, 2, g.sig, sizeof(g.sig), &g.sig_len) < 0)
		return -EBADMSG;
	*ret = g;
	return 0;
}

int fleet_pg_grant_delete_host(struct fleet_pg *p, const char *host)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };
	int r;

	fleet_pg_param_text(&q, host);
	r = fleet_pg_run(p, "DELETE FROM vaultfs.grants WHERE host = $1", &q, &res);
	if (r < 0)
		return r;
	return atoi(PQcmdTuples(res));
}

/* --- changes --- */

int fleet_pg_change_insert(struct fleet_pg *p, const struct fleet_change *c)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };
	int r;

	if (c->body_len > FLEET_BODY_MAX)
		return -EMSGSIZE;
	fleet_pg_param_text(&q, c->vault);
	fleet_pg_param_int(&q, c->seq);
	fleet_pg_param_int(&q, c->epoch);
	fleet_pg_param_text(&q, c->host);
	fleet_pg_param_bytes(&q, c->body, c->body_len);
	fleet_pg_param_bytes(&q, c->mac, sizeof(c->mac));
	/* one statement, one transaction: the row and its notification commit together; and
	 * only at the vault's epoch or later (its row locked: a rekey's epoch change waits for
	 * the insert, or the insert sees it), so that a host that read the epoch just before a
	 * rekey cannot put a row of the old key after it (every host would refuse it, and the
	 * chain would stop there) */
	r = fleet_pg_run(
		p,
		"WITH ins AS (INSERT INTO vaultfs.changes (vault, seq, epoch, host, body, mac) "
		"SELECT $1, $2, $3, $4, $5, $6 WHERE $3::integer >= (SELECT epoch FROM "
		"vaultfs.vaults WHERE name = $1 FOR SHARE) RETURNING vault) "
		"SELECT pg_notify('" FLEET_PG_CHANNEL "', vault) FROM ins",
		&q, &res);
	if (r < 0)
		return r;
	return PQntuples(res) == 1 ? 0 : -EEXIST; /* the vault moved on: pull, build again */
}

int fleet_pg_listen(struct fleet_pg *p)
{
	return fleet_pg_exec(p, "LISTEN " FLEET_PG_CHANNEL);
}

int fleet_pg_wait(struct fleet_pg *p, int timeout_ms)
{
	struct pollfd pfd = { .fd = PQsocket(p->conn), .events = POLLIN };
	PGnotify *n;
	int got = 0, r;

	if (pfd.fd < 0)
		return -EHOSTDOWN;
	for (;;) {
		if (!PQconsumeInput(p->conn)) {
			keep_words(-EHOSTDOWN, PQerrorMessage(p->conn));
			return -EHOSTDOWN;
		}
		while ((n = PQnotifies(p->conn))) {
			got++;
			PQfreemem(n);
		}
		if (got || timeout_ms == 0)
			return got;
		r = poll(&pfd, 1, timeout_ms);
		if (r < 0)
			return errno == EINTR ? 0 : -errno;
		if (r == 0)
			return 0;
		timeout_ms = 0; /* read what came, then return */
	}
}

int fleet_pg_ok(struct fleet_pg *p)
{
	return PQstatus(p->conn) == CONNECTION_OK ? 0 : -EHOSTDOWN;
}

void fleet_pg_changes_free(struct fleet_change *rows, size_t n)
{
	if (!rows)
		return;
	for (size_t i = 0; i < n; i++)
		fleet_change_done(&rows[i]);
	free(rows);
}

int fleet_pg_changes_since(struct fleet_pg *p, const char *vault, int64_t from, unsigned limit,
			   struct fleet_change **ret, size_t *ret_n)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };
	struct fleet_change *rows;
	size_t bytes = 0;
	int r, n;

	if (limit == 0 || limit > 100000)
		return -EINVAL;
	fleet_pg_param_text(&q, vault);
	fleet_pg_param_int(&q, from);
	fleet_pg_param_int(&q, limit);
	r = fleet_pg_run(p,
			 "SELECT seq, epoch, host, body, mac FROM vaultfs.changes "
			 "WHERE vault = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
			 &q, &res);
	if (r < 0)
		return r;
	n = PQntuples(res);
	if (n > (int)limit)
		return -EBADMSG; /* more than asked for */
	rows = calloc((size_t)n + 1, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct fleet_change *c = &rows[i];
		int64_t epoch;
		size_t maclen;
		int len = PQgetlength(res, i, 3);

		if (i > 0 && len > 0 && bytes + (size_t)len > FLEET_PG_PULL_BYTES_MAX) {
			/* the rest at the next call: a pull holds so much at most */
			n = i;
			break;
		}
		bytes += len > 0 ? (size_t)len : 0;
		r = -EBADMSG;
		if (str_copy(c->vault, sizeof(c->vault), vault) >= sizeof(c->vault) ||
		    fleet_pg_get_int(res, i, 0, &c->seq) < 0 ||
		    fleet_pg_get_int(res, i, 1, &epoch) < 0 || epoch < 0 || epoch > UINT32_MAX ||
		    get_host(res, i, 2, c->host, sizeof(c->host), false) < 0 || len < 0 ||
		    (size_t)len > FLEET_BODY_MAX ||
		    fleet_pg_get_bytes(res, i, 4, c->mac, sizeof(c->mac), &maclen) < 0 ||
		    maclen != sizeof(c->mac))
			goto fail;
		c->epoch = (uint32_t)epoch;
		c->body = malloc((size_t)len + 1);
		if (!c->body) {
			r = -ENOMEM;
			goto fail;
		}
		memcpy(c->body, PQgetvalue(res, i, 3), (size_t)len);
		c->body_len = (size_t)len;
	}
	*ret = rows;
	*ret_n = (size_t)n;
	return 0;
fail:
	fleet_pg_changes_free(rows, (size_t)n);
	return r;
}

int fleet_pg_change_max(struct fleet_pg *p, const char *vault, int64_t *ret)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };
	int r;

	fleet_pg_param_text(&q, vault);
	r = fleet_pg_run(p, "SELECT COALESCE(max(seq), 0) FROM vaultfs.changes WHERE vault = $1",
			 &q, &res);
	if (r < 0)
		return r;
	if (PQntuples(res) != 1)
		return -EBADMSG;
	return fleet_pg_get_int(res, 0, 0, ret);
}

/* --- applied --- */

int fleet_pg_applied_set(struct fleet_pg *p, const char *host, const char *vault, int64_t seq)
{
	struct fleet_pg_params q = { 0 };

	fleet_pg_param_text(&q, host);
	fleet_pg_param_text(&q, vault);
	fleet_pg_param_int(&q, seq);
	return run_none(p,
			"INSERT INTO vaultfs.applied (host, vault, seq) VALUES ($1, $2, $3) "
			"ON CONFLICT (host, vault) DO UPDATE SET seq = $3, at = now()",
			&q);
}

int fleet_pg_applied_get(struct fleet_pg *p, const char *host, const char *vault, int64_t *ret)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	struct fleet_pg_params q = { 0 };
	int r;

	fleet_pg_param_text(&q, host);
	fleet_pg_param_text(&q, vault);
	r = fleet_pg_run(p, "SELECT seq FROM vaultfs.applied WHERE host = $1 AND vault = $2", &q,
			 &res);
	if (r < 0)
		return r;
	if (PQntuples(res) != 1)
		return -ENOENT;
	return fleet_pg_get_int(res, 0, 0, ret);
}
