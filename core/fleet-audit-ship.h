/* fleet-audit-ship.h: the shipper's own additions to fleet-audit.h (whose owner keeps its
 * declarations): how often it re-checks the center's view of this host, and the center's
 * heads of batches without their lines (fleet-pg-audit.c), for that cheap check. */
#pragma once

#include <stdint.h>

#include "fleet-audit.h"

/* the default interval of the shipper's re-check of the center while it stays connected */
#define FLEET_AUDIT_CHECK_MS 30000

/* A batch of the center without its lines: enough for its head's hash (fleet-audit.h's form,
 * with the SHA-256 of its lines as the center computes it). */
struct fleet_audit_head {
	int64_t first_seq, last_seq;
	uint8_t prev[FLEET_AUDIT_HASH_LEN];
	uint8_t digest[FLEET_AUDIT_HASH_LEN]; /* SHA-256 of its lines */
};

/* The head of host's batch at first_seq (0: its last batch). -ENOENT none (or no table). */
int fleet_pg_audit_head(struct fleet_pg *p, const char *host, int64_t first_seq,
			struct fleet_audit_head *ret);

/* The shipper re-checks the center every ms (0: at every step), besides at each connection
 * and after an insert that fails. */
void fleet_audit_ship_set_check_ms(struct fleet_audit_ship *s, int64_t ms);
/* Its connections wait for an answer ms at most (FLEET_PG_ANSWER_MS unless set: [fleet]
 * answer_timeout). */
void fleet_audit_ship_set_answer_ms(struct fleet_audit_ship *s, int64_t ms);

/* The hash of h's head (fleet_audit_head_hash's, from the digest of its lines) as host's. */
int fleet_audit_head_hash_of(const char *host, const struct fleet_audit_head *h,
			     uint8_t ret[FLEET_AUDIT_HASH_LEN]);
