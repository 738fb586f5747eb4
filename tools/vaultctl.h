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
/* A change done: one line on stderr, "REF: deleted" (verbs delete, recover, purge, update,
 * create, restore...). Every successful change says what it did there; stdout is for data. */
void say_done(const char *ref, const char *verb);
void print_json(struct json_object *o);

/* The fleet's center as [fleet] conninfo names it, its answers waited for [fleet]
 * answer_timeout at most, as the daemon's (util.c): 0 or -errno. */
struct fleet_pg;
int ctl_center_connect(const struct ctl *ctl, struct fleet_pg **ret);

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
int cmd_fleet(struct ctl *ctl, int argc, char **argv);
int cmd_watch(struct ctl *ctl, int argc, char **argv);

/* A backup blob (secret or key) from path, at most VAULTFS_BACKUP_MAX bytes, into a new heap
 * buffer; and one into a new file of mode 0600, synced, never over an existing one (removed
 * again when the write fails). 0 or an exit status after saying why. */
int backup_read(const char *path, uint8_t **ret, size_t *ret_len);
int backup_write(const char *path, const struct secbuf *blob);

/* --- cli-object.c: what the nouns of vault objects (key, cert; secret can) share --- */

/* A verb of a noun: the letters of the options it takes (each noun has its own letter table),
 * whether its one argument is a VAULT rather than VAULT/NAME, the request op it becomes. */
struct cli_verb {
	const char *verb;
	const char *opts;
	bool vault_only;
	const char *op;
};
/* The verb called name in the n verbs, or NULL. */
const struct cli_verb *cli_verb_find(const struct cli_verb *verbs, size_t n, const char *name);
/* The one argument left after the options (argv[optind]): its text in *ret_ref and, for a
 * VAULT/NAME, its parts split into buf. 0, or EXIT_USAGE after saying why ("NOUN VERB takes
 * one VAULT", an invalid name). */
int cli_object_ref(const char *noun, const struct cli_verb *v, int argc, char **argv, char *buf,
		   size_t size, const char **ret_ref, char **ret_vault, char **ret_name);

/* Members of a JSON object: add a string or integer; a member's text (NULL when absent or
 * null) or integer (0 when absent). */
void cli_add_str(struct json_object *o, const char *key, const char *s);
void cli_add_int(struct json_object *o, const char *key, int64_t v);
const char *cli_str_of(struct json_object *o, const char *key);
int64_t cli_int_of(struct json_object *o, const char *key);
/* Options that become request members: a time (parse_time_arg), --enabled yes|no, one more
 * --tag (*tags: the array, made on the first). 0 or EXIT_USAGE after saying why. */
int cli_add_time(struct json_object *m, const char *key, const char *opt, const char *s,
		 bool allow_none);
int cli_add_enabled(struct json_object *m, const char *arg);
int cli_add_tag(struct json_object *m, struct json_object **tags, const char *arg);

/* All of path (or stdin when NULL) into a new secure buffer of at most max bytes (what: for
 * the error). 0 or an exit status after saying why. */
int cli_read_input(const char *path, size_t max, const char *what, struct secbuf **ret);
/* A new request of op on vault and name (NULL: a vault's), with "version" when version is not
 * 0, "deleted" when deleted, and each member of members; NULL when out of memory. */
struct json_object *cli_object_request(const char *op, const char *vault, const char *name,
				       uint32_t version, bool deleted, struct json_object *members);
/* The value bytes of NOUN restore (the blob of --file, viewed by *view, in *ret_blob: it is
 * ciphertext, so not a secbuf of its own) and the --file that NOUN backup needs; nothing for
 * other verbs. 0 or EXIT_USAGE. */
int cli_backup_input(const char *noun, const char *verb, const char *file, uint8_t **ret_blob,
		     struct secbuf *view);
/* An errno of a reply that exits with status, not exit_status(-errno); a list ends with {0}. */
struct cli_errno_status {
	int err;
	int status;
};
/* Send req (taken; NULL: out of memory) with value; an error reply is printed ("vaultctl: WHAT:
 * error") and is its exit status (map, when not NULL, first). 0 with the ok reply and its value
 * bytes (dropped when ret_value is NULL), or an exit status. */
int cli_call(struct ctl *ctl, struct json_object *req, const struct secbuf *value, const char *what,
	     const struct cli_errno_status *map, struct json_object **ret_reply,
	     struct secbuf **ret_value);

/* Printing: the blob of backup into a new file; the array member of a list or versions reply,
 * as JSON or by print; a deleted object's line of a list (false: s is not deleted, nothing
 * printed); "enabled" or "disabled" for a version; "%-16s%s" lines of members ("-": absent). */
int cli_write_backup(const char *file, const struct secbuf *out);
void cli_print_array(struct json_object *reply, const char *member, bool json,
		     void (*print)(struct json_object *arr));
bool cli_print_deleted(struct json_object *s);
const char *cli_enabled_word(struct json_object *v);
void cli_print_fields(struct json_object *reply, const char *const *keys, size_t n);
