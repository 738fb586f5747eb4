/* seal-int.h: what seal.c gives seal-epoch.c and nothing else may use: the store's id and
 * sealer as seal.c keeps them, and the recovery key's unwrap of the master key. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "seal.h"
#include "secbuf.h"
#include "store.h"

#define STORE_ID_LEN 16u

void seal_freep_u8(uint8_t **p);
/* Meta key `key`, exactly len bytes: -ENOENT absent, -EBADMSG another length. */
int seal_meta_get_exact(struct store *s, const char *key, size_t len, uint8_t *out);
/* The store's sealer name ("tpm2", "tpm2+host", "host"). */
int seal_read_sealer(struct store *s, char *buf, size_t size);
bool seal_uses_tpm(const char *sealer);
/* The master key, unwrapped with recovery key R: -EBADMSG for a wrong R. */
int seal_recovery_master(struct store *s, const uint8_t id[STORE_ID_LEN],
			 const struct secbuf *recovery, struct secbuf **ret);
