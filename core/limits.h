/* limits.h: every size a caller controls has its cap here, in one place. */
#pragma once

/* A secret value (bytes): a CA bundle or a long certificate chain fits (a system bundle is some
 * 220 KB). Buffers for values grow as bytes arrive: this is a cap, never a size allocated up
 * front. */
#define VAULTFS_VALUE_MAX (1024u * 1024u)
/* Vault and object names: [A-Za-z0-9][A-Za-z0-9._-]{0,126}. */
#define VAULTFS_NAME_MAX 127u
/* Content type, e.g. "application/x-pem-file". */
#define VAULTFS_CONTENT_TYPE_MAX 255u
/* Tags per version, and the length of a tag's key and value. */
#define VAULTFS_TAGS_MAX 15u
#define VAULTFS_TAG_KEY_MAX 64u
#define VAULTFS_TAG_VALUE_MAX 256u
/* Canonical tag text of one version: "key=value\n" lines. */
#define VAULTFS_TAGS_LEN_MAX (VAULTFS_TAGS_MAX * (VAULTFS_TAG_KEY_MAX + VAULTFS_TAG_VALUE_MAX + 2u))
/* Versions of one secret. */
#define VAULTFS_VERSIONS_MAX 100000u
/* Config file: whole file and one line. */
#define VAULTFS_CONFIG_MAX (64u * 1024u)
#define VAULTFS_CONFIG_LINE_MAX 4096u
/* Any path we accept from config or argv. */
#define VAULTFS_PATH_MAX 4096u
/* Sealed blobs kept in the store (TPM public+private area, wrapped keys). */
#define VAULTFS_SEALED_MAX 4096u
/* Soft-delete retention, days. */
#define VAULTFS_RETENTION_MIN 7u
#define VAULTFS_RETENTION_MAX 90u
#define VAULTFS_RETENTION_DEFAULT 90u

/* --- policy/ (policy engine and caller identity) --- */
/* One policy line, bytes (without its newline). */
#define VAULTFS_POLICY_LINE_MAX 4096u
/* One policy file, bytes. */
#define VAULTFS_POLICY_FILE_MAX (16u * 1024u * 1024u)
/* Policy files in one set (the policy dir, or the files given to `policy check`). */
#define VAULTFS_POLICY_FILES_MAX 256u
/* Rules in one file, and in the whole set. */
#define VAULTFS_POLICY_RULES_PER_FILE_MAX 100000u
#define VAULTFS_POLICY_RULES_MAX 200000u
/* One glob (a rule's path or one condition value), bytes. */
#define VAULTFS_POLICY_GLOB_MAX 1024u
/* Values of one condition ("uid=0,1,2" has three). */
#define VAULTFS_POLICY_VALUES_MAX 64u
/* Error messages kept from one load (all errors are counted). */
#define VAULTFS_POLICY_ERRORS_MAX 50u
/* Supplementary groups of a caller; a caller with more cannot be resolved (fails closed). */
#define VAULTFS_POLICY_GROUPS_MAX 1024u

/* --- core/audit (audit journal) --- */
/* One string field of a record (rule, vault, object, path, exe, cgroup, unit, container), bytes
 * before escaping; longer input is refused (-EMSGSIZE), never cut. */
#define VAULTFS_AUDIT_FIELD_MAX 4096u
/* One serialized record, with its newline. Also the most a reader accepts as one line. */
#define VAULTFS_AUDIT_LINE_MAX (256u * 1024u)
/* Records waiting for the writer thread; a producer that finds it full waits (backpressure) up
 * to VAULTFS_AUDIT_QUEUE_TIMEOUT_MS, then gets -ETIMEDOUT. */
#define VAULTFS_AUDIT_QUEUE_MAX 1024u
#define VAULTFS_AUDIT_QUEUE_TIMEOUT_MS 5000u
/* The writer waits this long for the journal's flock held by another process (a stuck peer),
 * then fails that group with -ETIMEDOUT (not sticky: the next append tries again). Longer than
 * the queue timeout, so that a full queue is what a producer sees first. */
#define VAULTFS_AUDIT_LOCK_TIMEOUT_MS 8000u
/* Records the writer takes into one group commit (one write, at most one fdatasync). */
#define VAULTFS_AUDIT_GROUP_MAX 256u
/* sync = batch: the flusher's fdatasync period, milliseconds. */
#define VAULTFS_AUDIT_BATCH_MS 100u
/* sync = none: sync and anchor the chain head after this many records (and on close). */
#define VAULTFS_AUDIT_ANCHOR_EVERY 1000u
/* Rotated files looked for (PATH.1 ... PATH.N) when shifting and when listing. */
#define VAULTFS_AUDIT_ROTATED_MAX 10000u

/* --- fs/ write buffers --- */
/* Write buffers (write handles and temporary files) one uid may hold at once, and all uids
 * together: past them a write open or a create is EMFILE, or ENFILE. */
#define VAULTFS_WRITERS_UID_MAX 128u
#define VAULTFS_WRITERS_MAX 1024u
/* The bytes of locked memory those write buffers may hold, one uid's and all together: a buffer
 * that would grow past them fails its write, EDQUOT for the uid's, ENOSPC for the total (each
 * buffer may grow to VAULTFS_VALUE_MAX, and 1024 of them would be 1 GiB). */
#define VAULTFS_WRITE_BYTES_UID_MAX (16u * 1024u * 1024u)
#define VAULTFS_WRITE_BYTES_MAX (64u * 1024u * 1024u)

/* --- fs/ read handles --- */
/* The bytes of locked memory open read handles (a value, a version, .meta, a key's or a
 * certificate's file) may hold, one uid's and all together (fs/budget.h): past them an open is
 * EMFILE, or ENFILE. Each handle holds at least a page; 64 MiB is 16 384 of those, or 64 opens
 * of a 1 MiB value. */
#define VAULTFS_READ_BYTES_UID_MAX (64u * 1024u * 1024u)
#define VAULTFS_READ_BYTES_MAX (512u * 1024u * 1024u)

/* --- certificates (request-cert.c) --- */
/* The longest validity a certificate's policy may ask for, seconds (100 years). */
#define VAULTFS_CERT_VALIDITY_MAX (100LL * 365 * 86400)

/* --- core/kv backup --- */
/* One secret's backup blob (header, all versions sealed), bytes. Built whole in locked memory
 * (and received whole through the control socket, whose values in flight are capped at 32 MiB):
 * kept at 8 MiB, so a secret of many versions near VAULTFS_VALUE_MAX cannot be backed up until
 * old versions are purged (-EMSGSIZE). */
#define VAULTFS_BACKUP_MAX (8u * 1024u * 1024u)

/* --- the rollback guard (kv-epoch.c, vaultfsd): the store's epoch on its TPM NV counter ---
 * vaultfsd advances it at start and, while the store or the journal changes, at most every
 * VAULTFS_EPOCH_MIN_S seconds out of a budget of VAULTFS_EPOCH_BURST (one more each
 * VAULTFS_EPOCH_REFILL_S), and at least every VAULTFS_EPOCH_MAX_S: at most 72 NV writes a
 * day (26 280 a year) plus one per start. */
#define VAULTFS_EPOCH_MIN_S 60u
#define VAULTFS_EPOCH_MAX_S 3600u
#define VAULTFS_EPOCH_BURST 48u
#define VAULTFS_EPOCH_REFILL_S 1800u
