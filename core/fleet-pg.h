/* fleet-pg.h: the fleet's center in PostgreSQL, a thin layer over libpq (core/fleet-pg*.c are the
 * only files that include libpq-fe.h): the connection, the schema (fleet.h has its design)
 * made and migrated idempotently, and the few statements the fleet needs. Rows go in and come
 * out as they are: nothing here checks a signature or a MAC (fleet.c does, before anything
 * believes them).
 *
 * Errors: -EHOSTDOWN the center cannot be reached or the connection was lost ("the center is
 * away": changes to fleet vaults are refused, reads go on from the local store), -EEXIST a
 * unique key taken (a seq another host took first, a host name or vault already there),
 * -ENOENT no such row, -EACCES PostgreSQL refused the role, -ETIMEDOUT no answer within
 * the connection's answer time (FLEET_PG_ANSWER_MS unless fleet_pg_set_answer_ms; the
 * connection is shut: fleet_pg_ok says so; what was sent may still be taken), -EPROTONOSUPPORT the center's schema is newer than this program, -EBADMSG a row of
 * the wrong form, -EIO anything else; PostgreSQL's own words are kept with log_foreign(r,
 * "libpq", ...) for the edge's log line. */
#pragma once

#include <stdint.h>

#include "fleet.h"

#define FLEET_PG_SCHEMA_VERSION 1
/* The channel a change's insert notifies (its payload: the vault's name). */
#define FLEET_PG_CHANNEL "vaultfs_changes"

struct fleet_pg;
/* libpq's connect_timeout (seconds) and tcp_user_timeout (ms) unless the conninfo sets them */
#define FLEET_PG_CONNECT_TIMEOUT "5"
#define FLEET_PG_TCP_TIMEOUT_MS "10000"
/* The longest wait for the answer to a statement by default (a center that keeps the
 * connection and does not answer: -ETIMEDOUT, the connection shut; what was sent may still be
 * taken); [fleet] answer_timeout sets it (config.h) */
#define FLEET_PG_ANSWER_MS 30000
/* Connect with a libpq conninfo ("host=... dbname=... user=..." or a postgresql:// URI); a
 * connection is for one thread at a time. */
int fleet_pg_connect(const char *conninfo, struct fleet_pg **ret);
/* The longest wait for each later statement's answer on p, in ms (> 0); FLEET_PG_ANSWER_MS
 * until set. */
void fleet_pg_set_answer_ms(struct fleet_pg *p, int64_t ms);
void fleet_pg_free(struct fleet_pg *p);
/* Make the schema, or bring it to FLEET_PG_SCHEMA_VERSION, in one transaction (idempotent: two
 * hosts doing it at once are serialised by an advisory lock). */
int fleet_pg_migrate(struct fleet_pg *p);
/* One statement with no parameters and no rows (tests, and an operator's tools). */
int fleet_pg_exec(struct fleet_pg *p, const char *sql);

/* Hosts. insert: -EEXIST when the name is taken, or for a second self-approved host (the
 * anchor is one: a unique index). update: approval and revocation fields (the
 * key and kind never change: a host that needs a new key is removed and joins again).
 * list: every host in name order, *ret heap (free). seen: last_seen = now. */
int fleet_pg_host_insert(struct fleet_pg *p, const struct fleet_host *h);
int fleet_pg_host_update(struct fleet_pg *p, const struct fleet_host *h);
int fleet_pg_hosts(struct fleet_pg *p, struct fleet_host **ret, size_t *ret_n);
int fleet_pg_host_seen(struct fleet_pg *p, const char *name);

/* Vaults in the fleet: insert (-EEXIST), the epoch of the current key (-ENOENT), set it. */
int fleet_pg_vault_insert(struct fleet_pg *p, const char *vault, uint32_t epoch);
int fleet_pg_vault_epoch(struct fleet_pg *p, const char *vault, uint32_t *ret);
int fleet_pg_vault_set_epoch(struct fleet_pg *p, const char *vault, uint32_t epoch);
/* Every fleet vault in name order with its epoch and highest seq (0: no change yet); *ret heap
 * (free). */
struct fleet_pg_vault {
	char name[VAULTFS_NAME_MAX + 1];
	uint32_t epoch;
	int64_t max_seq;
};
int fleet_pg_vaults(struct fleet_pg *p, struct fleet_pg_vault **ret, size_t *ret_n);

/* Grants: put inserts or replaces (vault, epoch, host); get -ENOENT; delete every grant of a
 * host (returns how many). */
int fleet_pg_grant_put(struct fleet_pg *p, const struct fleet_grant *g);
int fleet_pg_grant_get(struct fleet_pg *p, const char *vault, uint32_t epoch, const char *host,
		       struct fleet_grant *ret);
int fleet_pg_grant_delete_host(struct fleet_pg *p, const char *host);

/* What the center may have a host hold at once: more is -EBADMSG (hosts, vaults), or left for
 * the next call (a pull's bodies: never fewer than two rows, as a body is at most
 * FLEET_BODY_MAX). */
#define FLEET_PG_HOSTS_MAX 4096u
#define FLEET_PG_VAULTS_MAX 4096u
#define FLEET_PG_PULL_BYTES_MAX (64u << 20)

/* Changes: insert at c->seq (-EEXIST when another host took that seq, or when c->epoch is
 * below the vault's epoch, a rekey having come between: pull, then try the next), notifying
 * FLEET_PG_CHANNEL in the same transaction; since: the rows of vault with seq >= from in seq
 * order, at most limit and FLEET_PG_PULL_BYTES_MAX of bodies (more rows than limit: -EBADMSG),
 * into *ret (heap array; each row's body heap: fleet_pg_changes_free), *ret_n how many; max:
 * the highest seq (0 none). */
int fleet_pg_change_insert(struct fleet_pg *p, const struct fleet_change *c);
int fleet_pg_changes_since(struct fleet_pg *p, const char *vault, int64_t from, unsigned limit,
			   struct fleet_change **ret, size_t *ret_n);
void fleet_pg_changes_free(struct fleet_change *rows, size_t n);
int fleet_pg_change_max(struct fleet_pg *p, const char *vault, int64_t *ret);

/* Notifications: listen on FLEET_PG_CHANNEL (this connection), then wait up to timeout_ms (0:
 * do not wait) for some: how many came (0 none), -EHOSTDOWN the connection is lost. ok: 0 while
 * the connection holds, else -EHOSTDOWN. */
int fleet_pg_listen(struct fleet_pg *p);
int fleet_pg_wait(struct fleet_pg *p, int timeout_ms);
int fleet_pg_ok(struct fleet_pg *p);

/* What a host says it applied (status only): upsert, and its read. */
int fleet_pg_applied_set(struct fleet_pg *p, const char *host, const char *vault, int64_t seq);
int fleet_pg_applied_get(struct fleet_pg *p, const char *host, const char *vault, int64_t *ret);
