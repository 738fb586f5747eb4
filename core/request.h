/* request.h: the management requests (DESIGN §8): one request in, one reply out, each decided
 * by the caller's authorizer and recorded in the audit journal before anything changes. The
 * daemon's control socket and `vaultctl --offline` both run requests through request_exec, so
 * there is one implementation of every verb whoever carries it.
 *
 * Wire format (the control socket, both directions): a message is one line of JSON, an object
 * of at most REQUEST_LINE_MAX bytes with its newline, followed by exactly "value_len" raw bytes
 * when it has that member (a secret value, a backup blob), so that values never pass through
 * JSON text or json-c's heap: they go from the socket into a secbuf and back.
 *   request  {"v":1,"op":"secret-get","vault":"app","name":"db"}
 *   reply    {"v":1,"ok":true,"version":3,"value_len":12} + 12 bytes
 *            {"v":1,"ok":false,"errno":13,"errname":"EACCES","error":"permission denied"}
 * A connection the daemon turns away by its caps (fs/control.c: connections in all, per uid,
 * root's reserve) is answered once, before a byte of it is read, and closed:
 *            {"v":1,"ok":false,"errno":16,"errname":"EBUSY","error":"...","accepted":false}
 * and the client may send the same request again on a new connection.
 * Unknown members, wrong types and bad names are refused with EINVAL and a sentence naming the
 * member; nothing is done. Times are unix seconds in requests and RFC 3339 in replies (the
 * shape of `vaultctl --json`). The ops, their members and the policy op each needs:
 *   vault-list                                        (vaults the caller can see)
 *   vault-create  vault [retention_days] [max_versions]   manage /V
 *   vault-delete  vault                               manage /V
 *   vault-update  vault [purge_protection (true only)] [max_versions (0: none)]  manage /V
 *   secret-set    vault name + value [attrs]          write /V/N
 *   secret-get    vault name [version]                read /V/N
 *   secret-list   vault [deleted] [expiring]          list /V (then objects the caller sees)
 *   secret-versions vault name                        meta /V/N
 *   secret-update vault name [version] [attrs]        write /V/N
 *   secret-delete|recover|purge vault name            delete|recover|purge /V/N
 *   secret-backup vault name                          read and write /V/N
 *   secret-restore vault + blob                       write /V/N (N: the name in the blob) and
 *                                                     manage /V
 *   secret-rollback vault name to                     write /V/N: a new current version of
 *                                                     version `to`'s bytes, made in the daemon
 *                                                     (no value in the reply: "version", "from")
 * A set or rollback in a vault with max_versions prunes the secret's oldest versions (kv.h's
 * kv_secret_prune), each recorded as "prune" with its version; the reply says "pruned": n.
 * A rollback is recorded as "rollback" with the version it makes, path "/V/N from=T".
 * Backup and restore give no more than read gives: the blob holds every version, disabled and
 * not yet valid ones too, so backup needs write as well (whoever has write on N can re-enable
 * any version and read it anyway), and restore needs manage on the target vault (else read on
 * one secret and write on another vault would bring withheld versions back readable).
 * Keys (OBJECT_KEY objects; the names of types, algorithms and ops are key.h's):
 *   key-create    vault name type [protection software|tpm] [ops "sign,verify"] [exportable]
 *                 [attrs]                             write /V/N
 *   key-import    vault name + the private key (PEM PKCS#1, SEC1, PKCS#8, OpenSSH, JWK)
 *                 [ops] [exportable] [attrs]          write /V/N
 *   key-list      vault [deleted]                     list /V (then keys the caller sees)
 *   key-show      vault name [version]                meta /V/N (type, protection, key_ops,
 *                                                     exportable, the version's attributes)
 *   key-versions  vault name                          meta /V/N
 *   key-rotate    vault name [attrs]                  write /V/N (a new version, same type,
 *                                                     protection and key_ops)
 *   key-update    vault name [version] [attrs]        write /V/N
 *   key-delete|recover|purge vault name               delete|recover|purge /V/N
 *   key-backup    vault name                          write /V/N and manage /V
 *   key-restore   vault + blob                        write /V/N (N: the name in the blob) and
 *                                                     manage /V; a secret's blob: EMEDIUMTYPE
 *   key-get-public vault name [version] [format pem|der|ssh]   meta /V/N; value: the public
 *                                                     key (PEM, SubjectPublicKeyInfo DER, or
 *                                                     an OpenSSH line); an AES key: EOPNOTSUPP
 *   key-sign      vault name alg [version] [data] + digest    sign /V/N
 *   key-verify    vault name alg [version] [data] signature_len + signature || digest
 *                                                     verify /V/N
 *   key-encrypt   vault name alg [aad_len] + aad || plaintext     encrypt /V/N
 *   key-decrypt   vault name alg [version] [aad_len] + aad || ciphertext   decrypt /V/N
 *   key-wrap      vault name alg + key                wrap /V/N
 *   key-unwrap    vault name alg [version] + wrapped key          unwrap /V/N
 * The inputs of a use are its value bytes (never JSON text): sign and verify take the digest
 * (key_alg_digest_len bytes) or, with "data": true, the message, hashed in the daemon (EdDSA
 * always signs the message); verify's first signature_len bytes are the signature; encrypt's
 * and decrypt's first aad_len bytes are A256GCM's additional data. Caps: KEY_INPUT_MAX (data,
 * plaintext), KEY_SIG_MAX, KEY_AAD_MAX, KEY_CIPHERTEXT_MAX, KEY_WRAP_INPUT_MAX, KEY_IMPORT_MAX;
 * over one: EMSGSIZE; a wrong length, an unknown algorithm or one the op cannot name: EINVAL
 * naming the member. Outputs (signature in JWS form, ciphertext, plaintext, wrapped or
 * unwrapped key) are the reply's value bytes, with "version" (the version that made or was
 * used) and "alg" in the reply: sign, encrypt and wrap use the current version (sign: or the
 * one given), verify, decrypt and unwrap the one given (default the current one), so a caller
 * keeps the version with what encrypt and wrap made. verify's reply has "valid": true (a
 * signature that does not verify is an EBADMSG reply). key-create and key-import on a name a
 * key holds add a version, as in Azure Key Vault; a TPM key with no env->tcti: ENODEV. A version outside its dates produces
 * nothing (EKEYEXPIRED, EKEYREJECTED) but still verifies, decrypts and unwraps; a disabled
 * one does nothing (EKEYREVOKED); an op outside the key's key_ops: EPERM; an algorithm the
 * key's type cannot use: EOPNOTSUPP; a signature that does not verify, a ciphertext that does
 * not decrypt: EBADMSG. A key's backup holds every version's private half, sealed to this
 * store's master key: restored into another vault of the store it is used under that vault's
 * policy, so taking one out needs the vault's manage with write on the key (gives no more than
 * manage and write give: the manager may restore it anywhere anyway). A TPM key's backup opens
 * only in a store of the same master key and is used only with the same TPM.
 * Records: the lifecycle verbs as events key-create ... key-restore; each use as the event
 * "<op>-<alg>" in lower case ("sign-es256", "decrypt-rsa-oaep-256") with the key, the version
 * used and the outcome; never the data.
 * Certificates (OBJECT_CERT): the cert-* requests, each with its fields and policy op, are
 * listed at the top of request-cert.c. In short: create, import, renew, merge, update,
 * update-policy write /V/C (and, for an issuer that is a vault CA, sign on /CAV/CA decided for
 * the asker); show, versions, get-policy, csr and the export of the crt and chain views meta;
 * the key, pem and p12 views read (exportable keys only: EPERM); delete|recover|purge as for
 * secrets; backup write and manage /V; restore write and manage /V; cert-failing (the
 * certificates whose renewal failed) decides nothing itself: it shows those the caller sees.
 *   watch         [targets ["V", "V/N", ...]]         list /V of each target (the daemon's
 *                 control socket only, fs/control.c): the reply {"v":1,"ok":true,"watching":n},
 *                 then, on the same connection, one JSON line per change the peer may see
 *                 (core/events.h's ev_format; the lost line when it fell behind the ring) for
 *                 as long as it stays open; nothing more is read from it. Recorded as "watch".
 *   policy-reload                                     the daemon's own rule (env->reload)
 *   status                                            anyone (env->status: the daemon); served even when its record fails
 *   attrs: enabled (bool), not_before, expires (seconds, 0 none), content_type, tags ["k=v"] */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "kv.h"
#include "ops.h"
#include "secbuf.h"

#define REQUEST_VERSION 1
/* One JSON line, with its newline. */
#define REQUEST_LINE_MAX (64u * 1024u)

/* Who asks, as the carrier knows it. authorize decides one policy op (a single POLICY_OP_* of
 * ops.h, never a string) on a policy path ("/V" or "/V/N"): 0 allowed, -EACCES refused;
 * *ret_rule names the deciding rule for the record (may stay NULL). visible filters listings
 * (DESIGN §5). identify fills the caller's fields of a record (uid, gid, pid, exe, cgroup, unit,
 * container; the daemon's carrier with identity_to_record). */
struct request_caller {
	int (*authorize)(void *ud, unsigned op, const char *path, const char **ret_rule);
	bool (*visible)(void *ud, const char *path);
	void (*identify)(void *ud, struct audit_record *rec);
	void *ud;
};

struct request_env {
	struct kv *kv;
	struct audit *audit;
	/* The TPM of TPM-protected keys (config [seal] tcti); NULL: tpm2-tss's default. */
	const char *tcti;
	const struct request_caller *caller;
	/* Where the policy lives (config [policy] dir), named in a refusal's message with a rule
	 * that would grant it; NULL: not named. */
	const char *policy_dir;
	/* policy-reload: NULL where there is no daemon (-EOPNOTSUPP). Decides and records itself;
	 * returns 0 or -errno, and may fill msg with the parse errors. */
	int (*reload)(void *ud, char *msg, size_t size);
	void *reload_ud;
	/* status: add the daemon's state to the reply (NULL where there is no daemon). */
	int (*status)(void *ud, struct json_object *reply);
	void *status_ud;
	/* Called after a change to vault/name (name NULL: the vault), for cache invalidation;
	 * may be NULL. */
	void (*changed)(void *ud, const char *vault, const char *name);
	void *changed_ud;
};

/* Run one request (a parsed JSON object) with its value bytes (NULL when it has none).
 * Always builds a reply, ok or not, in *ret_reply, and the reply's value bytes in *ret_value
 * (NULL when none). Returns 0, or -ENOMEM when not even a reply could be built. */
int request_exec(const struct request_env *env, struct json_object *req, const struct secbuf *value,
		 struct json_object **ret_reply, struct secbuf **ret_value);

/* Parse one message line (without its newline): a JSON object with "v" == REQUEST_VERSION.
 * *ret_value_len is its "value_len" (0 when absent). -EBADMSG not JSON or not an object,
 * -EPROTO wrong or missing version, -EMSGSIZE value_len over the op's cap (VAULTFS_VALUE_MAX for
 * secret-set, VAULTFS_BACKUP_MAX for secret-restore, key-restore and cert-restore, the key caps
 * above for the key uses and key-import, X509_INPUT_MAX + X509_PASSWORD_MAX for cert-import,
 * X509_INPUT_MAX for cert-merge, 0 for the others; then *ret_value_len is
 * still set: the bytes to throw away), -EINVAL a value_len that is not a non-negative integer.
 * After another error the server answers and reads on: value bytes that followed a bad line
 * are read as lines (each wiped from the line buffer once parsed). msg says which (may be
 * NULL). */
int request_parse(const char *line, size_t len, struct json_object **ret, size_t *ret_value_len,
		  char *msg, size_t size);

/* An error reply; without msg, its sentence is errtext(ERRTEXT_OBJECT, err). */
struct json_object *request_error_reply(int err, const char *msg);

/* Blocking client side: send one message (JSON object + value bytes) on fd, and read one back
 * (the value into a secbuf). Errors: -EPIPE/-ECONNRESET peer gone, -EBADMSG/-EPROTO a reply
 * that is not a message, -EMSGSIZE over the caps, plus read/write errors. */
int request_send(int fd, struct json_object *msg, const void *value, size_t value_len);
int request_recv(int fd, struct json_object **ret, struct secbuf **ret_value);
