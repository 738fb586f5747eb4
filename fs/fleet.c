/* fleet.c: the daemon's sync thread (fleet.h): connect to the center (backoff 1..30 s while it
 * is away), LISTEN vaultfs_changes, and pull every fleet vault this host holds a key of on each
 * notification and at least every [fleet] pull_interval (30 s): rows checked
 * (core/fleet-sync.c) and applied under the lock, one `fleet-apply` journal record per change
 * applied or refused, the kernel's caches of the changed names dropped. Also the hook of kv for
 * the changes this daemon's requests make. It must never hold the lock while it waits for the
 * network, and never log a value or a key. */
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>

#include "core/fleet-sync.h"
#include "core/kv-fleet.h"
#include "core/log.h"
#include "fs/fleet.h"
#include "fs/inode.h"
#include "fs/notify.h"
#include "fs/vaultfs.h"

#define FLEET_BACKOFF_MIN_MS 1000
#define FLEET_BACKOFF_MAX_MS 30000
#define FLEET_WAIT_MS 500

struct fleet_daemon {
	struct vaultfsd *v;
	struct fleet_sync *sync;   /* the thread's (its own connection) */
	struct fleet_sync *commit; /* the hook's: called under v->lock, which it lets go while it
				    * speaks to the center */
	pthread_t thread;
	bool started;
	atomic_bool stop;
	struct { /* the last refusal recorded (under v->lock): a pull that meets it again every
		  * pull_interval does not record it again */
		char vault[VAULTFS_NAME_MAX + 1];
		int64_t seq;
		int err;
	} refused;
};

static const char *op_name(int op)
{
	static const char *const names[] = { "?",	"set",	 "update", "delete",
					     "recover", "purge", "rekey",  "revoke" };

	return op > 0 && op < (int)ELEMENTSOF(names) ? names[op] : "?";
}

/* The kernel's caches of vault (and name) dropped (as for the control socket's changes). */
static void changed(struct vaultfsd *v, const char *vault, const char *name)
{
	struct kv_vault_info vi;
	struct kv_version_info si;
	struct ino n = { .kind = INO_VAULT };
	uint64_t ino;

	if (!v->notify)
		return;
	notify_entry(v->notify, FUSE_ROOT_ID, vault);
	if (!name || !name[0] || kv_vault_get(v->kv, vault, &vi) < 0)
		return;
	n.id = vi.id;
	if (ino_encode(&n, &ino) < 0)
		return;
	notify_entry(v->notify, ino, name);
	if (kv_secret_info(v->kv, vault, name, 0, &si) < 0)
		return;
	n = (struct ino){ .kind = INO_SECRET, .id = si.object_id };
	if (ino_encode(&n, &ino) >= 0)
		notify_inode(v->notify, ino);
}

/* Each change of the center applied here or refused (v->lock held): a journal record of the
 * daemon's own, `fleet-apply`, the rule field saying what and from where. */
static void applied(void *ud, const char *vault, const struct fleet_change *c,
		    const struct fleet_body *b, int err)
{
	struct fleet_daemon *f = ud;
	struct audit_record rec = AUDIT_RECORD_INIT;
	int64_t seq = c ? c->seq : 0;
	bool held = err > 0; /* a purge held back by this host's purge protection */
	char what[160];

	if (held)
		err = 0;

	if (err && f->refused.err == err && f->refused.seq == seq && streq(f->refused.vault, vault))
		return; /* said already */
	if (err) {
		str_copy(f->refused.vault, sizeof(f->refused.vault), vault);
		f->refused.seq = seq;
		f->refused.err = err;
	} else if (streq(f->refused.vault, vault))
		f->refused.err = 0;

	if (c)
		snprintf(what, sizeof(what), "fleet %s seq %lld from %s%s",
			 b ? op_name(b->op) : "row", (long long)c->seq, c->host,
			 held ? " (held back: purge protection keeps it here)" : "");
	else if (err == -EEXIST)
		snprintf(what, sizeof(what), "fleet center: a local vault of this name, not taken");
	else
		snprintf(what, sizeof(what), "fleet center");
	rec.event = "fleet-apply";
	rec.decision = err ? AUDIT_DENY : AUDIT_ALLOW;
	rec.err = err;
	rec.rule = what;
	rec.vault = vault;
	if (b && b->name[0]) {
		rec.object = b->name;
		rec.version = b->version;
	}
	audit_record_self(&rec);
	(void)audit_append(f->v->audit, &rec, NULL);
	if (err)
		log_warning_errno(err, "fleet: vault %s: a change of the center refused (%s): %m",
				  vault, what);
	else
		changed(f->v, vault, b ? b->name : NULL);
}

static bool stopping(struct fleet_daemon *f)
{
	return atomic_load(&f->stop);
}

/* Sleep ms, or less when stopped. */
static void nap(struct fleet_daemon *f, int64_t ms)
{
	for (int64_t left = ms; left > 0 && !stopping(f); left -= FLEET_WAIT_MS)
		(void)poll(NULL, 0, (int)MIN(left, (int64_t)FLEET_WAIT_MS));
}

static void *fleet_main(void *arg)
{
	struct fleet_daemon *f = arg;
	int64_t backoff = FLEET_BACKOFF_MIN_MS, since_pull = 0;
	int64_t pull_ms = f->v->config->fleet_pull * 1000;
	bool away = false;

	while (!stopping(f)) {
		int r = fleet_sync_connect(f->sync, true);

		if (r >= 0) {
			if (away)
				log_info("fleet: the center is back");
			away = false;
			backoff = FLEET_BACKOFF_MIN_MS;
			r = fleet_sync_pull_all(f->sync);
			since_pull = 0;
			if (r < 0 && r != -EHOSTDOWN && r != -ETIMEDOUT)
				log_warning_errno(r, "fleet: pull: %m");
		}
		if (r == -EHOSTDOWN || r == -ETIMEDOUT) { /* no answer in time: as away */
			if (!away)
				log_warning(
					"fleet: the center is away: reads go on from this store, "
					"fleet changes are refused until it is back");
			away = true;
			nap(f, backoff);
			backoff = MIN(2 * backoff, (int64_t)FLEET_BACKOFF_MAX_MS);
			continue;
		}
		/* wait for a notification, a stop, or the next pull at the latest */
		while (!stopping(f) && since_pull < pull_ms) {
			r = fleet_sync_wait(f->sync, FLEET_WAIT_MS);
			if (r != 0)
				break;
			since_pull += FLEET_WAIT_MS;
		}
	}
	return NULL;
}

int fleet_start(struct vaultfsd *v, struct fleet_daemon **ret)
{
	struct fleet_daemon *f;
	sigset_t all, old;
	int r;

	*ret = NULL;
	if (!v->config->fleet_conninfo)
		return 0;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->v = v;
	atomic_init(&f->stop, false);
	pthread_mutex_lock(&v->lock);
	r = fleet_sync_new(
		v->config, v->kv,
		&(struct fleet_sync_ops){ .lock = &v->lock, .applied = applied, .ud = f },
		&f->sync);
	if (r >= 0)
		r = fleet_sync_new(
			v->config, v->kv,
			&(struct fleet_sync_ops){ .lock = &v->lock, .applied = applied, .ud = f },
			&f->commit);
	if (r >= 0)
		kv_fleet_hook(v->kv, fleet_sync_commit, f->commit);
	pthread_mutex_unlock(&v->lock);
	if (r == -ENOENT) {
		log_warning("fleet: [fleet] conninfo is set but this host has not joined (vaultctl "
			    "fleet join): no sync");
		fleet_stop(f);
		return 0;
	}
	if (r < 0) {
		fleet_stop(f);
		return r;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&f->thread, NULL, fleet_main, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		fleet_stop(f);
		return r;
	}
	f->started = true;
	log_info("fleet: syncing as %s", fleet_sync_name(f->sync));
	*ret = f;
	return 0;
}

void fleet_stop(struct fleet_daemon *f)
{
	if (!f)
		return;
	atomic_store(&f->stop, true);
	if (f->started)
		pthread_join(f->thread, NULL);
	pthread_mutex_lock(&f->v->lock);
	if (f->commit)
		kv_fleet_hook(f->v->kv, NULL, NULL);
	fleet_sync_free(f->commit);
	fleet_sync_free(f->sync);
	pthread_mutex_unlock(&f->v->lock);
	free(f);
}
