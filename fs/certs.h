/* certs.h: what the rest of the daemon tells fs/certs.c (a certificate's views as files under
 * /vault/V). */
#pragma once

struct vaultfsd;

/* Certificate vault/name changed (made, renewed, merged, imported, updated, deleted,
 * recovered, purged): the kernel may hold its view names in the vault's directory, the
 * attributes of C.crt ... C.p12 and its .versions/C name; queued for the invalidation thread
 * (notify.h), never waits. Replies are made with timeouts 0 and direct_io, so this is belt
 * and braces, as for secrets and keys. Call under the daemon's lock, after the change; a name
 * that is no certificate (any more) costs one lookup. */
void certs_changed(struct vaultfsd *v, const char *vault, const char *name);
