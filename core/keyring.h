/* keyring.h: optional cache of the unsealed master key in the kernel keyring (libkeyutils), so
 * a restarted daemon or an offline vaultctl need not wait on the TPM. The key is a "user" key in
 * the caller's user keyring with possessor-only permissions and a timeout; the kernel removes
 * it when the timeout passes. */
#pragma once

#include "secbuf.h"

/* Add or replace the key named desc with the bytes of key, expiring after timeout_sec seconds
 * (must be > 0). */
int keyring_put(const char *desc, const struct secbuf *key, unsigned timeout_sec);
/* Read the key named desc into a new secure buffer. -ENOKEY when absent, expired or revoked. */
int keyring_get(const char *desc, struct secbuf **ret);
/* Remove the key named desc; 0 also when it was not there. */
int keyring_drop(const char *desc);
