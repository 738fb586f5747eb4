/* store-fleet.c: the rows of fleet_applied, a fleet vault's applied state (kv-fleet.c makes and
 * checks them): the row as its row table maps it, get and set (insert or replace). The row
 * goes with its vault (ON DELETE CASCADE). Opaque to the store like every row: the MAC is
 * kv's, and the store never decides anything by what the row says. */
#include <assert.h>

#include "core/store-int.h"

/* The columns of FLEET_COLS (store-schema.c), in order. */
/* clang-format off */
static const struct row_col fleet_cols[] = {
	ROW_I64(struct store_fleet_applied, vault_id, 1, INT64_MAX),
	ROW_I64(struct store_fleet_applied, seq, 0, INT64_MAX),
	ROW_U32(struct store_fleet_applied, epoch, 0),
	ROW_BLOB(struct store_fleet_applied, last_mac),
	ROW_I64(struct store_fleet_applied, updated, 0, INT64_MAX),
	ROW_BLOB(struct store_fleet_applied, mac),
};
/* clang-format on */
static const struct row_table fleet_row = { fleet_cols, ELEMENTSOF(fleet_cols), NULL };

int store_fleet_applied_get(struct store *s, int64_t vault_id, struct store_fleet_applied *ret)
{
	assert(s && ret);
	return row_get_by(s, STMT_FLEET_GET, &fleet_row, 1, &vault_id, ret, sizeof(*ret));
}

int store_fleet_applied_set(struct store *s, const struct store_fleet_applied *a)
{
	assert(s && a);
	if (a->vault_id < 1 || a->seq < 0 || a->updated < 0)
		return -EINVAL;
	return row_write(s, STMT_FLEET_SET, &fleet_row, fleet_row.n, a, false);
}
