/* vaultctl.h: what the command files of vaultctl share: the invocation, exit statuses, error
 * sentences and small helpers for input and output. Each cmd-*.c implements one noun. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/kv.h"
#include "core/secbuf.h"
#include "core/util.h"

enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE = 2,
	EXIT_INTEGRITY = 3,
};

struct ctl {
	const char *config_path;
	bool offline;
	struct config *config;
};

/* Print "vaultctl: MESSAGE" and the --help hint; returns EXIT_USAGE. */
int usage_error(const char *fmt, ...) _printf_(1, 2);
/* Exit status for a negative errno. */
int exit_status(int r);
/* A sentence for an error of seal.h: errtext(ERRTEXT_SEAL, r) (core/errtext.h has them all). */
const char *seal_why(int r);
/* Print "vaultctl: WHAT: errtext(ERRTEXT_OBJECT, r)"; returns exit_status(r). */
int fail(int r, const char *what);
int load_config(struct ctl *ctl);
/* Open the store and unseal (offline only, for now): 0 or an exit status. */
int open_kv(struct ctl *ctl, struct kv **ret);
void kv_freep(struct kv **kv);
/* "vault/name" into its parts, pointers into buf. -EINVAL when not two valid names. */
int split_ref(const char *ref, char *buf, size_t size, char **ret_vault, char **ret_name);
/* Read all of fd into a secure buffer; -EMSGSIZE past VAULTFS_VALUE_MAX. */
int read_value(int fd, struct secbuf **ret);
/* Parse a time option (RFC 3339 or relative; "never"/"none" = 0 when allow_none): 0 or
 * EXIT_USAGE after saying why. */
int parse_time_arg(const char *opt, const char *s, bool allow_none, int64_t *ret);
int parse_u32(const char *opt, const char *s, uint32_t *ret);
void print_json(struct json_object *o);

/* The audit journal of vaultctl's own changes (cmd-audit.c). open: 0 or an exit status after
 * saying why. ctl_audit records one event (err 0 = allowed and about to happen; a negative
 * errno = it failed): 0 or an exit status; a change must not happen when it is not 0. */
struct audit;
int ctl_audit_open(struct ctl *ctl, struct kv *kv, struct audit **ret);
int ctl_audit(struct ctl *ctl, struct audit *a, const char *event, const char *vault,
	      const char *object, uint32_t version, int err);
/* What a record of ours says about who we are (uid, gid, pid, exe, cgroup); self holds the
 * strings. */
#define CTL_OFFLINE_RULE "vaultctl --offline"
struct audit_record;
struct ctl_self {
	char exe[VAULTFS_PATH_MAX];
	char cgroup[VAULTFS_AUDIT_FIELD_MAX + 1];
};
void ctl_identify(struct ctl_self *self, struct audit_record *rec);
/* Say that the journal could not be written (before: so nothing was done); an exit status. */
int ctl_audit_failed(struct ctl *ctl, int r, bool before);

/* One request of core/request.h: to the daemon over the control socket, or with --offline run
 * here on the store (decided as root's own, recorded as vaultctl's). 0 with the reply (ok or
 * not) and its value bytes, or an exit status after saying why there is no reply. */
int ctl_call(struct ctl *ctl, struct json_object *req, const struct secbuf *value,
	     struct json_object **ret_reply, struct secbuf **ret_value);
/* The same to the daemon only, saying nothing: 0, -ENOTCONN no daemon answers, or -errno. */
int ctl_call_daemon(struct ctl *ctl, struct json_object *req, const struct secbuf *value,
		    struct json_object **ret_reply, struct secbuf **ret_value);
/* 0 for an ok reply; else print "vaultctl: WHAT: error" and return its exit status. */
int reply_status(struct json_object *reply, const char *what);
/* A new request {"v":1,"op":op}. */
struct json_object *request_new(const char *op);

/* `audit verify` of the configured journal (prints its one line): 0 or an exit status. */
int ctl_audit_verify(struct ctl *ctl);

/* The nouns: argv[0] is the noun. */
int cmd_init(struct ctl *ctl, int argc, char **argv);
int cmd_recover(struct ctl *ctl, int argc, char **argv);
int cmd_vault(struct ctl *ctl, int argc, char **argv);
int cmd_secret(struct ctl *ctl, int argc, char **argv);
int cmd_audit(struct ctl *ctl, int argc, char **argv);
int cmd_policy(struct ctl *ctl, int argc, char **argv);
int cmd_status(struct ctl *ctl, int argc, char **argv);
int cmd_doctor(struct ctl *ctl, int argc, char **argv);
int cmd_keyring(struct ctl *ctl, int argc, char **argv);
int cmd_key(struct ctl *ctl, int argc, char **argv);
int cmd_cert(struct ctl *ctl, int argc, char **argv);

/* A backup blob (secret or key) from path, at most VAULTFS_BACKUP_MAX bytes, into a new heap
 * buffer; and one into a new file of mode 0600, synced, never over an existing one (removed
 * again when the write fails). 0 or an exit status after saying why. */
int backup_read(const char *path, uint8_t **ret, size_t *ret_len);
int backup_write(const char *path, const struct secbuf *blob);
