/* scan.c: the daemon's own pass over the store (vaultfs.h daemon_scan): near-expiry and
 * expired notices, key rotations and certificate renewals and notices that are due, and the
 * purge of soft-deleted secrets past their vault's retention; each recorded in the journal as
 * the daemon's own event and logged. Runs on the main loop's thread under the daemon's lock;
 * never logs a value. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "core/errtext.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/util.h"
#include "fs/acme.h"
#include "fs/certs.h"
#include "fs/ops-int.h"
#include "fs/vaultfs.h"

/* A record of the daemon's own; about secret vault/name (version 0: none) when vault is not
 * NULL. */
static int secret_event(struct vaultfsd *v, const char *event, int err, const char *rule,
			const char *vault, const char *name, uint32_t version)
{
	struct audit_record rec = AUDIT_RECORD_INIT;
	char path[2 * VAULTFS_NAME_MAX + 3];

	rec.event = event;
	rec.decision = err ? AUDIT_DENY : AUDIT_ALLOW;
	rec.err = err;
	rec.rule = rule;
	if (vault) {
		snprintf(path, sizeof(path), "/%s/%s", vault, name);
		rec.vault = vault;
		rec.object = name;
		rec.version = version;
		rec.path = path;
	}
	audit_record_self(&rec);
	return audit_append(v->audit, &rec, NULL);
}

void daemon_scan_soon(struct vaultfsd *v, int64_t ms)
{
	int64_t at = clock_ms(CLOCK_MONOTONIC) + ms, was = v->scan_by_ms;

	while ((was == 0 || at < was) && !atomic_compare_exchange_weak(&v->scan_by_ms, &was, at))
		;
}

int daemon_event(struct vaultfsd *v, const char *event, int err, const char *rule)
{
	return secret_event(v, event, err, rule, NULL, NULL, 0);
}

/* One near-expiry or expired notice: recorded (then the scan marks it done) and logged. */
static int expiry_notice(const char *vault, const char *name, uint32_t version, int64_t expires,
			 int event, void *userdata)
{
	struct vaultfsd *v = userdata;
	char when[TIME_FORMAT_MAX];
	int r;

	r = secret_event(v, event == KV_EXPIRED ? "expired" : "near-expiry", 0,
			 time_format(expires, when), vault, name, version);
	if (r < 0)
		return r; /* not marked: the next scan tries again */
	log_warning("/%s/%s version %u %s %s", vault, name, version,
		    event == KV_EXPIRED ? "expired at" : "expires at", when);
	return 0;
}

/* Notices recorded in one pass of the loop: the rest wait for the next pass, so that a store
 * with many due at once does not hold the lock from the FUSE requests. */
#define EXPIRY_NOTICES_PER_PASS 32

struct expiry_pass {
	struct vaultfsd *v;
	unsigned n;
};

static int expiry_notice_one(const char *vault, const char *name, uint32_t version, int64_t expires,
			     int event, void *userdata)
{
	struct expiry_pass *p = userdata;

	if (p->n++ >= EXPIRY_NOTICES_PER_PASS)
		return -EAGAIN; /* not marked: the next pass takes it */
	return expiry_notice(vault, name, version, expires, event, p->v);
}

/* A soft-deleted secret whose vault's retention has passed, about to be purged: recorded
 * first (no record, no purge), then logged. */
static int purge_notice(const char *vault, const char *name, void *userdata)
{
	struct vaultfsd *v = userdata;
	int r;

	r = secret_event(v, "purge", 0, "retention passed", vault, name, 0);
	if (r < 0)
		return r;
	log_info("Purging /%s/%s: deleted and its vault's retention has passed", vault, name);
	return 0;
}

/* A key's rotation policy carried out (kv_key_rotation_due): recorded, and said when it fails. */
static int rotation_notice(const struct kv_rotation_notice *n, void *ud)
{
	struct vaultfsd *v = ud;
	bool rotate = n->event == KV_ROTATION_ROTATE;

	if (n->err < 0)
		log_warning_errno(
			n->err, "Could not %s key %s/%s: %m (tried again at the next scan)",
			rotate ? "rotate" : "record the expiry notice of", n->vault, n->name);
	(void)secret_event(v, rotate ? "key-rotate" : "key-expiring", n->err, "rotation-policy",
			   n->vault, n->name, rotate && n->err >= 0 ? n->new_version : n->version);
	return 0;
}

/* A certificate's policy carried out (kv_cert_due): renewals (made or failed, with why) and the
 * expiry notices recorded and said; an ACME certificate's pending version handed to its
 * client. */
static int cert_notice(const struct kv_rotation_notice *n, void *ud)
{
	struct vaultfsd *v = ud;
	const char *event;

	switch (n->event) {
	case KV_ROTATION_PENDING: {
		/* queued for the ACME worker (acme.h), which records the outcome; told again at
		 * every pass until then: 0 already queued */
		int r = acme_issue(v->acme, n->vault, n->name, n->version);

		if (r > 0)
			log_info("Certificate %s/%s version %" PRIu32 " handed to its ACME client",
				 n->vault, n->name, n->version);
		else if (r < 0)
			log_warning_errno(r,
					  "Could not hand certificate %s/%s to its ACME client: "
					  "%m (given again at the next scan)",
					  n->vault, n->name);
		return 0;
	}
	case KV_ROTATION_ROTATE:
		event = "cert-renew";
		if (n->err < 0) {
			struct kv_cert_renewal ren = { 0 };

			/* tried again when the backoff says, not at the next hourly scan */
			if (kv_cert_renewal_get(v->kv, n->vault, n->name, &ren) >= 0 &&
			    ren.next_try > 0)
				daemon_scan_soon(v,
						 MAX(ren.next_try - (int64_t)time(NULL), 1) * 1000);
		}
		if (n->err < 0 && n->why)
			log_warning_errno(
				n->err,
				"Could not renew certificate %s/%s: %s (tried again after "
				"the backoff)",
				n->vault, n->name, n->why);
		else if (n->err < 0)
			log_warning_errno(n->err, "Could not renew certificate %s/%s: %m", n->vault,
					  n->name);
		else {
			log_info("Renewed certificate %s/%s: version %" PRIu32, n->vault, n->name,
				 n->new_version);
			certs_changed(v, n->vault, n->name);
		}
		break;
	case KV_ROTATION_NOTIFY:
		event = "near-expiry"; /* the secrets' names: one event for every kind */
		break;
	case KV_ROTATION_EXPIRED:
		event = "expired";
		break;
	default:
		return 0;
	}
	if (n->event != KV_ROTATION_ROTATE) {
		if (n->err < 0)
			log_warning_errno(n->err,
					  "Could not record the %s notice of certificate %s/%s: %m "
					  "(given again at the next scan)",
					  event, n->vault, n->name);
		else
			log_warning("Certificate %s/%s version %" PRIu32 " %s", n->vault, n->name,
				    n->version,
				    n->event == KV_ROTATION_EXPIRED ? "has expired" :
								      "expires soon");
	}
	(void)secret_event(v, event, n->err, "certificate-policy", n->vault, n->name,
			   n->event == KV_ROTATION_ROTATE && n->err >= 0 ? n->new_version :
									   n->version);
	return 0;
}

/* One pass of the scan (expiry notices, key rotations, certificate renewals and notices, then
 * purges when retention has passed): true when work is left for another pass soon. */
bool daemon_scan(struct vaultfsd *v)
{
	struct expiry_pass p = { .v = v };
	int r = kv_expiry_scan(v->kv, v->config->near_expiry, expiry_notice_one, &p), k, c;

	k = kv_key_rotation_due(v->kv, v->config->tcti, rotation_notice, v);
	if (k < 0)
		log_warning_errno(k, "Key rotation scan stopped: %m (tried again at the next one)");
	c = kv_cert_due(v->kv, v->config->tcti, cert_notice, v);
	if (c < 0)
		log_warning_errno(c, "Certificate scan stopped: %m (tried again at the next one)");
	if (r == -EAGAIN || k > 0 || c > 0)
		return true;
	if (r < 0)
		log_warning_errno(r, "Expiry scan stopped: %m (tried again at the next one)");
	r = kv_purge_due(v->kv, purge_notice, v);
	if (r < 0) {
		log_warning_errno(r, "Purge of secrets past retention stopped: %m (tried again at "
				     "the next scan)");
		return false;
	}
	return r > 0; /* something was purged (or a batch was full): look again soon */
}
