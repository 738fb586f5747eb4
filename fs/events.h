/* events.h: the change stream of vaultfsd (fs/events.c): the daemon's change bus
 * (core/events.h) fed by the audit journal's observer, the `.events` files of the mount that
 * read it per caller, and the stamp files (events_start's stamp_dir) for systemd .path units.
 * Every delivery is filtered by policy for its reader at delivery time; nothing carries a
 * value. */
#pragma once

#include "core/events.h"
#include "fs/vaultfs.h"

struct events;

/* Make the bus, observe v->audit, start the thread that wakes blocked readers (and touches
 * the stamp files under stamp_dir, NULL: none). -errno. */
int events_start(struct vaultfsd *v, struct fuse_session *se, const char *stamp_dir,
		 struct events **ret);
/* Stop observing, answer every read still waiting (with the lost line: the reader re-reads
 * the state, from whichever process serves it next), join the thread, free. Call without
 * v->lock, before the session's fd is closed, after every cursor of others (control.c's) is
 * freed. Accepts NULL. */
void events_stop(struct events *e);
/* The bus (NULL for e NULL): the control socket's `watch` reads it. */
struct ev_bus *events_bus(struct events *e);

/* May the reader `id` hear of event e, under v->lock: an object's when the policy lets it see
 * the name (`ls /vault/V` would list it), a vault's when it holds `list` on the vault. */
bool events_visible(const struct vaultfsd *v, const struct identity *id, const struct ev_event *e);
