/* fleet-audit.c: the daemon's shipping thread of the central audit (fleet-audit.h): loads the
 * host key (once, at start, under the lock), then runs core's shipper every
 * FLEET_AUDIT_POLL_MS, a partial batch at most every FLEET_AUDIT_SHIP_MS, backing off 1..30 s
 * while the center is away; the shipper itself checks the center's view again every
 * [fleet] audit_check_interval (30 s) and fills what it lost. What it finds wrong at the center is
 * logged and recorded in the journal (event fleet-audit, deny), once per finding. It must never
 * hold the lock while it reads the journal or waits for the network, and never block an
 * append. */
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>

#include "core/fleet-audit-ship.h"
#include "core/fleet-audit.h"
#include "core/fleet-sync.h"
#include "core/log.h"
#include "core/store.h"
#include "fs/fleet-audit.h"
#include "fs/vaultfs.h"

#define FLEET_AUDIT_POLL_MS 200
#define FLEET_AUDIT_BACKOFF_MIN_MS 1000
#define FLEET_AUDIT_BACKOFF_MAX_MS 30000

struct fleet_audit_daemon {
	struct vaultfsd *v;
	struct fleet_audit_ship *ship;
	pthread_t thread;
	bool started;
	atomic_bool stop;
};

static void report(void *ud, int err, const char *what)
{
	struct fleet_audit_daemon *d = ud;
	struct audit_record rec = AUDIT_RECORD_INIT;

	log_warning_errno(err, "fleet audit: %s: %m", what);
	rec.event = "fleet-audit";
	rec.decision = AUDIT_DENY;
	rec.err = err;
	rec.rule = what;
	audit_record_self(&rec);
	(void)audit_append(d->v->audit, &rec, NULL);
}

static bool stopping(struct fleet_audit_daemon *d)
{
	return atomic_load(&d->stop);
}

static void nap(struct fleet_audit_daemon *d, int64_t ms)
{
	for (int64_t left = ms; left > 0 && !stopping(d); left -= FLEET_AUDIT_POLL_MS)
		(void)poll(NULL, 0, (int)MIN(left, (int64_t)FLEET_AUDIT_POLL_MS));
}

static void *fleet_audit_main(void *arg)
{
	struct fleet_audit_daemon *d = arg;
	int64_t backoff = FLEET_AUDIT_BACKOFF_MIN_MS, last_ship = 0;
	int said = 0;

	while (!stopping(d)) {
		int64_t now = clock_ms(CLOCK_MONOTONIC);
		bool due = now - last_ship >= FLEET_AUDIT_SHIP_MS;
		int r = fleet_audit_ship_step(d->ship, due);

		if (r >= 0) {
			if (said)
				log_info("fleet audit: shipping again (the center has seq %lld)",
					 (long long)fleet_audit_ship_shipped(d->ship));
			said = 0;
			backoff = FLEET_AUDIT_BACKOFF_MIN_MS;
			if (due)
				last_ship = now;
			if (r < (int)FLEET_AUDIT_BATCH_RECORDS) /* else catching up: on at once */
				nap(d, FLEET_AUDIT_POLL_MS);
			continue;
		}
		if (r != said) {
			if (r == -EHOSTDOWN)
				log_warning(
					"fleet audit: the center is away: the journal is shipped "
					"when it is back");
			else
				log_warning_errno(r, "fleet audit: shipping stopped: %m");
			said = r;
		}
		nap(d, backoff);
		backoff = MIN(2 * backoff, (int64_t)FLEET_AUDIT_BACKOFF_MAX_MS);
	}
	return NULL;
}

/* The host key and name from the store (fleet-sync.h's meta keys), the seal key derived under
 * the lock. -ENOENT: not joined. */
static int load_key(struct vaultfsd *v, char name[FLEET_HOST_NAME_MAX + 1], struct fleet_key **ret)
{
	const struct config *c = v->config;
	_cleanup_secbuf_ struct secbuf *seal = NULL;
	_cleanup_free_ uint8_t *saved = NULL;
	struct store *s = NULL;
	size_t n;
	int r;

	r = store_open(c->store_path, STORE_READONLY, &s);
	if (r >= 0)
		r = store_meta_text(s, FLEET_META_NAME, name, FLEET_HOST_NAME_MAX + 1);
	if (r >= 0)
		r = store_meta_get(s, FLEET_META_KEY, &saved, &n);
	store_free(s);
	if (r < 0)
		return r;
	pthread_mutex_lock(&v->lock);
	r = kv_derive_key(v->kv, FLEET_HOST_KEY_LABEL, &seal);
	pthread_mutex_unlock(&v->lock);
	if (r < 0)
		return r;
	return fleet_key_load(saved, n, seal->data, strstr(c->sealer, "tpm2") ? c->tcti : NULL,
			      ret);
}

int fleet_audit_start(struct vaultfsd *v, struct fleet_audit_daemon **ret)
{
	char name[FLEET_HOST_NAME_MAX + 1];
	struct fleet_audit_daemon *d;
	struct fleet_key *key = NULL;
	sigset_t all, old;
	int r;

	*ret = NULL;
	if (!v->config->fleet_conninfo || !v->audit)
		return 0;
	r = load_key(v, name, &key);
	if (r == -ENOENT)
		return 0; /* not joined: fleet_start says so */
	if (r < 0)
		return r;
	d = calloc(1, sizeof(*d));
	if (!d) {
		fleet_key_free(key);
		return -ENOMEM;
	}
	d->v = v;
	atomic_init(&d->stop, false);
	r = fleet_audit_ship_new(v->config->fleet_conninfo, v->config->audit_path, name, key,
				 report, d, &d->ship);
	if (r < 0) {
		fleet_key_free(key);
		free(d);
		return r;
	}
	fleet_audit_ship_set_check_ms(d->ship, v->config->fleet_audit_check * 1000);
	fleet_audit_ship_set_answer_ms(d->ship, v->config->fleet_answer * 1000);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&d->thread, NULL, fleet_audit_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		fleet_audit_stop(d, false);
		return r;
	}
	d->started = true;
	log_info("fleet audit: shipping the journal as %s", name);
	*ret = d;
	return 0;
}

void fleet_audit_stop(struct fleet_audit_daemon *d, bool ship_rest)
{
	if (!d)
		return;
	atomic_store(&d->stop, true);
	if (d->started)
		pthread_join(d->thread, NULL);
	/* what was written since the last round (the stop record), when the center is there */
	if (ship_rest)
		(void)fleet_audit_ship_flush(d->ship);
	fleet_audit_ship_free(d->ship);
	free(d);
}
