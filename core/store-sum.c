/* store-sum.c: the running sum of every MAC'd row (vaults, objects, versions, key_rotation,
 * cert_state, fleet_applied), kept in the meta key "rows.sum" by temporary triggers of this connection, so
 * that each write transaction carries its own change to the sum and a rollback (of the
 * transaction or of a savepoint) takes it back with the rows. The sum is of f(mac) over the
 * rows, mod 2^256, where f is the caller's keyed function (kv: a PRF no one without the master
 * key can compute): the store adds and subtracts and knows nothing of f. Never trusts the sum
 * it keeps: kv binds it under a MAC (seal.h) and compares it with store_rows_sum at open. The
 * triggers' SQL is here (made per table), the rest in store-schema.c. */
#include <assert.h>

#include "store-int.h"

#define SUM_KEY "rows.sum"

struct sum_fn {
	store_row_fn fn;
	void *ud;
};

/* a += b (sign > 0) or a -= b, little-endian 256 bits */
static void add256(uint8_t a[STORE_SUM_LEN], const uint8_t b[STORE_SUM_LEN], int sign)
{
	unsigned carry = 0;

	for (size_t i = 0; i < STORE_SUM_LEN; i++) {
		if (sign > 0) {
			unsigned t = (unsigned)a[i] + b[i] + carry;

			a[i] = (uint8_t)t;
			carry = t >> 8;
		} else {
			int t = (int)a[i] - b[i] - (int)carry;

			a[i] = (uint8_t)t;
			carry = t < 0;
		}
	}
}

/* vfs_fold(sum BLOB or NULL, mac BLOB, sign INTEGER): sum ± f(mac). */
static void fold_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct sum_fn *f = sqlite3_user_data(ctx);
	uint8_t sum[STORE_SUM_LEN] = {}, v[STORE_SUM_LEN];
	const void *p;

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_BLOB) {
		if (sqlite3_value_bytes(argv[0]) != STORE_SUM_LEN) {
			sqlite3_result_error(ctx, "rows.sum is not a sum", -1);
			return;
		}
		memcpy(sum, sqlite3_value_blob(argv[0]), STORE_SUM_LEN);
	}
	p = sqlite3_value_blob(argv[1]);
	if (!p || sqlite3_value_bytes(argv[1]) != CRYPTO_MAC_LEN) {
		sqlite3_result_error(ctx, "a row's mac is not a MAC", -1);
		return;
	}
	if (f->fn(f->ud, p, v) < 0) {
		sqlite3_result_error(ctx, "the row function failed", -1);
		return;
	}
	add256(sum, v, sqlite3_value_int(argv[2]));
	sqlite3_result_blob(ctx, sum, STORE_SUM_LEN, SQLITE_TRANSIENT);
}

#define FOLD(tbl, row, sign)                                                                       \
	"INSERT INTO meta (key, value) VALUES ('" SUM_KEY "', vfs_fold(NULL, " row ".mac, " sign   \
	")) ON CONFLICT (key) DO UPDATE SET value = vfs_fold(value, " row ".mac, " sign ");"
#define TRIGGERS(tbl)                                                                              \
	"CREATE TEMP TRIGGER IF NOT EXISTS sum_" tbl "_ins AFTER INSERT ON main." tbl              \
	" BEGIN " FOLD(tbl, "NEW", "1") " END;"                                                    \
					"CREATE TEMP TRIGGER IF NOT EXISTS sum_" tbl               \
					"_del AFTER DELETE ON main." tbl " BEGIN " FOLD(           \
						tbl, "OLD",                                        \
						"-1") " END;"                                      \
						      "CREATE TEMP TRIGGER IF NOT EXISTS sum_" tbl \
						      "_upd AFTER UPDATE ON main." tbl             \
						      " BEGIN " FOLD(tbl, "OLD", "-1")             \
							      FOLD(tbl, "NEW", "1") " END;"

int store_track_rows(struct store *s, store_row_fn fn, void *ud)
{
	struct sum_fn *f;
	int rc;

	assert(s && fn);
	f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	*f = (struct sum_fn){ .fn = fn, .ud = ud };
	/* not SQLITE_INNOCUOUS: with trusted_schema off, a trigger or view someone wrote into the
	 * file cannot call it (it would be an oracle of f); our TEMP triggers are trusted */
	rc = sqlite3_create_function_v2(s->db, "vfs_fold", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC, f,
					fold_sql, NULL, NULL, free);
	if (rc != SQLITE_OK)
		return store_errno(s->db, rc);
	return store_exec(s->db, TRIGGERS("vaults") TRIGGERS("objects") TRIGGERS("versions")
					 TRIGGERS("key_rotation") TRIGGERS("cert_state")
						 TRIGGERS("fleet_applied"));
}

int store_rows_sum(struct store *s, store_row_fn fn, void *ud, uint8_t ret[STORE_SUM_LEN])
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	uint8_t sum[STORE_SUM_LEN] = {}, v[STORE_SUM_LEN];
	int rc, r;

	r = stmt_take(s, STMT_ROWS_MACS, &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *p = sqlite3_column_blob(st, 0);

		if (!p || sqlite3_column_bytes(st, 0) != CRYPTO_MAC_LEN)
			return -EBADMSG;
		r = fn(ud, p, v);
		if (r < 0)
			return r;
		add256(sum, v, 1);
	}
	if (rc != SQLITE_DONE)
		return store_errno(s->db, rc);
	memcpy(ret, sum, STORE_SUM_LEN);
	return 0;
}

int store_rows_sum_kept(struct store *s, uint8_t ret[STORE_SUM_LEN])
{
	uint8_t *v = NULL;
	size_t n;
	int r;

	r = store_meta_get(s, SUM_KEY, &v, &n);
	if (r == -ENOENT) {
		memset(ret, 0, STORE_SUM_LEN);
		return 0;
	}
	if (r < 0)
		return r;
	if (n == STORE_SUM_LEN)
		memcpy(ret, v, n);
	free(v);
	return n == STORE_SUM_LEN ? 0 : -EBADMSG;
}

int store_rows_sum_keep(struct store *s, const uint8_t sum[STORE_SUM_LEN])
{
	return store_meta_set(s, SUM_KEY, sum, STORE_SUM_LEN);
}
