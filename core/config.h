/* config.h: the INI configuration file every program reads (-c FILE). Unknown sections and
 * keys are errors, so a typo never silently falls back to a default. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH "/etc/vaultfs/vaultfs.conf"

enum audit_sync {
	AUDIT_SYNC_ALWAYS,
	AUDIT_SYNC_BATCH,
	AUDIT_SYNC_NONE,
};

struct config {
	char *path;	   /* the file read */
	char *store_path;  /* [store] path */
	char *sealer;	   /* [seal] sealer: tpm2 | host | tpm2+host */
	char *tcti;	   /* [seal] tcti */
	uint32_t pcr_mask; /* [seal] pcrs, e.g. "7" or "0,7" */
	char *host_key;	   /* [seal] host_key: path of the root-only host key file */
	unsigned
		keyring_timeout; /* [seal] keyring_timeout: seconds to cache the master key, 0 off */
	char *mountpoint;	 /* [fs] mountpoint */
	bool hide_unreadable;	 /* [fs] hide_unreadable: names the caller may not see are ENOENT */
	char *policy_dir;	 /* [policy] dir */
	char *audit_path;	 /* [audit] path */
	int audit_sync;		 /* [audit] sync: enum audit_sync */
	uint64_t audit_rotate_size; /* [audit] rotate_size: bytes (K/M/G suffix), 0 = never */
	char *control_socket;	    /* [control] socket */
	char *agent_socket;  /* [agent] socket: the ssh-agent socket; NULL (the default) none */
	char *stamp_dir;     /* [events] stamp_dir: stamp files of changes; NULL (default) none */
	int64_t near_expiry; /* [lifecycle] near_expiry: seconds before expiry to warn (30d) */
	int64_t expiry_scan; /* [lifecycle] scan_interval: seconds between scans (1h) */
	char *acme_client;   /* [acme] client: the lego program; NULL: /usr/bin/lego */
	char *acme_http; /* [acme] http: ":80" (lego's listener, the default) or a webroot path */
	char *acme_ca_file; /* [acme] ca_file: CA bundle for the ACME server; NULL: the system's */
	int64_t acme_timeout; /* [acme] timeout: seconds a run may take; 0: 300 */
	char *fleet_conninfo; /* [fleet] conninfo: libpq's, of the center; NULL: not in a fleet */
	char *fleet_host;     /* [fleet] host: this host's name there; NULL: the short hostname */
	int64_t fleet_pull;   /* [fleet] pull_interval: seconds between pulls at the latest (30) */
	int64_t fleet_audit_check; /* [fleet] audit_check_interval: seconds between the audit
				    * shipper's checks of the center's view (30) */
	int64_t fleet_answer;	   /* [fleet] answer_timeout: seconds the center's answer to a
				    * statement is waited for at most (30: FLEET_PG_ANSWER_MS) */
};

/* The bounds of [fleet] pull_interval and audit_check_interval, in seconds */
#define CONFIG_FLEET_INTERVAL_MIN 1
#define CONFIG_FLEET_INTERVAL_MAX 86400
/* The bounds of [fleet] answer_timeout, in seconds */
#define CONFIG_FLEET_ANSWER_MIN 1
#define CONFIG_FLEET_ANSWER_MAX 3600

/* Read and parse path. -ENOENT / -EACCES when it cannot be read, -EFBIG when larger than
 * VAULTFS_CONFIG_MAX, -EINVAL on a syntax error, unknown section or key, or bad value; then
 * err (if not NULL) gets "FILE:LINE: what is wrong". Relative paths in values are taken
 * relative to the directory of the config file. */
int config_load(const char *path, struct config **ret, char *err, size_t errlen);
/* Defaults for every key (the installed paths of DESIGN §1). */
int config_new_default(struct config **ret);
void config_free(struct config *c);

static inline void config_freep(struct config **c)
{
	config_free(*c);
}
#define _cleanup_config_ __attribute__((cleanup(config_freep)))
