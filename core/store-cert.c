/* store-cert.c: the rows of cert_state, a certificate's state (kv-cert-state.c makes and checks
 * them): the row as its row table maps it, get and set (insert or replace). The row goes with
 * its object (ON DELETE CASCADE). Opaque to the store like every row: the MAC is kv's, and the
 * store never reads the policy it keeps. */
#include <assert.h>
#include <stdlib.h>

#include "core/store-int.h"

static void cert_state_done(void *row)
{
	store_cert_state_done(row);
}

/* The columns of CERT_STATE_COLS (store-schema.c), in order. */
/* clang-format off */
static const struct row_col cert_state_cols[] = {
	ROW_I64(struct store_cert_state, object_id, 1, INT64_MAX),
	ROW_U32(struct store_cert_state, failures, 0),
	ROW_I64(struct store_cert_state, last_attempt, 0, INT64_MAX),
	ROW_I64(struct store_cert_state, next_try, 0, INT64_MAX),
	ROW_INT(struct store_cert_state, last_err, -4095, 0),
	ROW_TEXT(struct store_cert_state, last_error, 0),
	ROW_U32(struct store_cert_state, notified_version, 0),
	ROW_U32(struct store_cert_state, expired_version, 0),
	ROW_I64(struct store_cert_state, updated, 0, INT64_MAX),
	ROW_BYTES(struct store_cert_state, policy, policy_len, STORE_CERT_POLICY_MAX),
	ROW_BLOB(struct store_cert_state, mac),
};
/* clang-format on */
static const struct row_table cert_state_row = { cert_state_cols, ELEMENTSOF(cert_state_cols),
						 cert_state_done };

void store_cert_state_done(struct store_cert_state *c)
{
	if (!c)
		return;
	free(c->policy);
	*c = (struct store_cert_state){};
}

int store_cert_state_get(struct store *s, int64_t object_id, struct store_cert_state *ret)
{
	assert(s && ret);
	return row_get_by(s, STMT_CERT_STATE_GET, &cert_state_row, 1, &object_id, ret,
			  sizeof(*ret));
}

int store_cert_state_set(struct store *s, const struct store_cert_state *c)
{
	assert(s && c);
	if (c->object_id < 1 || c->last_attempt < 0 || c->next_try < 0 || c->updated < 0 ||
	    c->last_err > 0 || c->last_err < -4095 || c->policy_len > STORE_CERT_POLICY_MAX ||
	    (c->policy_len && !c->policy) ||
	    check_str(c->last_error, sizeof(c->last_error), 0, sizeof(c->last_error) - 1) < 0)
		return -EINVAL;
	return row_write(s, STMT_CERT_STATE_SET, &cert_state_row, cert_state_row.n, c, false);
}
