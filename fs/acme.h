/* acme.h: the `acme` issuer: the daemon completes an ACME certificate's pending version (its CSR,
 * made by kv_cert_due with a key that never leaves the daemon) by having Debian's lego get the
 * CSR signed over ACME (CSR mode, http-01), off the FUSE and main threads. */
#pragma once

#include <stdint.h>

struct vaultfsd;
struct acme;

/* The name of a vault's ACME account key: a secret of that vault (a PEM private key), made by the
 * client on the first issuance of any certificate of the vault and reused by every later one. */
#define ACME_ACCOUNT_SECRET "acme-account"

/* How long one run of the client may take before it is killed (seconds), by default. */
#define ACME_TIMEOUT_DEFAULT 300

/* How many certificates may wait for the client at once; a notice past that is dropped, and
 * kv_cert_due notices the same pending version again at a later pass. */
#define ACME_QUEUE_MAX 16

/* What the operator chooses (the [acme] section of the configuration). Strings are copied. */
struct acme_options {
	const char *client; /* the lego program; NULL: "lego" in /usr/bin */
	/* how http-01 is answered: NULL or "ADDR:PORT" / ":PORT": lego's own listener there (NULL:
	 * ":80"); an absolute path: a webroot directory the host's web server serves, lego writes
	 * .well-known/acme-challenge/TOKEN below it */
	const char *http;
	const char *ca_file; /* CA bundle for the ACME server's HTTPS; NULL: the system's */
	/* where the private scratch directories go (each mode 0700); NULL: the directory of the
	 * control socket (/run/vaultfs as installed: a tmpfs) */
	const char *runtime_dir;
	int64_t timeout; /* seconds a run may take; 0: ACME_TIMEOUT_DEFAULT */
};

/* Start the issuer's worker thread (every signal blocked in it). Stale scratch directories left
 * in runtime_dir by a daemon that died are wiped and removed first. */
int acme_new(struct vaultfsd *v, const struct acme_options *o, struct acme **ret);
/* Stop: a running client is killed, its scratch directory wiped, the thread joined. Call it
 * without v->lock held, before the store is closed. Accepts NULL. */
void acme_free(struct acme *a);
/* On kv_cert_due's KV_ROTATION_PENDING notice of an ACME certificate, under v->lock: queue its
 * pending version for the worker and return at once. 1 queued, 0 already queued or being
 * issued (kv_cert_due tells it at every pass until it is completed or fails), -ENOSPC the queue is full (the next pass notices it again), -EINVAL bad names. The
 * worker takes v->lock only to read the CSR and the account key and to store the outcome: the
 * client's seconds pass with nothing locked. Each outcome is one journal record
 * ("cert-issue-acme", allowed with the new version, or refused with the errno and the reason)
 * and, on failure, kv_cert_renewal_failed (the backoff). */
int acme_issue(struct acme *a, const char *vault, const char *name, uint32_t version);
