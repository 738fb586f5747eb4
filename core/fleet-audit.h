/* fleet-audit.h: the fleet's central audit (issue 20): each host's journal records shipped to a
 * table of the center as they are written, verifiable there without any host's audit key, so
 * that `vaultctl audit show --fleet` shows who read what on which host.
 *
 * The decision: a per-host verification key, not an escrow of the audit key. The journal's
 * HMAC chain (audit.h) is keyed from the host's master key, which the center must never get;
 * escrowing that key would let whoever reads the center forge any host's records. Instead the
 * host ships its journal's lines exactly as they are (byte for byte, with their own seq, prev
 * and mac members) in batches, and signs each batch's head with its fleet host key (fleet.h:
 * fleet_sign, RS256, the TPM key or the sealed software one):
 *
 *   head = "vaultfs audit batch v1\0" host "\0" be64(first seq) be64(last seq)
 *          SHA-256(the batch's lines, each with its newline) prev
 *   prev = SHA-256(head of the host's batch before), 32 zero bytes for its first batch
 *
 * Anyone holding the host's public key (the center's hosts table, trusted only through its
 * approval chain to the pinned anchor: fleet_host_trusted) checks content, order and
 * completeness: a changed line or a replaced head fails the signature; a dropped batch leaves a
 * gap in the seqs and the next batch's prev names a head that is not there; batches swapped or
 * reordered do not link; a host's key replaced in SQL fails its approval, so none of its batches
 * count. Inside and across batches the lines must be canonical records (audit_parse_line) with
 * seqs first..last without a hole and each line's prev the mac of the line before (a structural
 * check of the journal's own chain, which needs no key). A host's first batch may start past
 * seq 1 (its journal's older files were gone when it joined); only a first batch has prev zero,
 * so the center cannot hide a host's beginning without hiding all of it.
 *
 * What the center can still do is withhold: drop a host's newest batches (a rollback) or
 * everything. The shipping host finds that: it remembers what it shipped while it runs, and on
 * every connection compares the center's last batch with its own journal; a batch the center
 * lost, changed or never got is reported (the daemon's log and a `fleet-audit` record in its
 * journal, itself shipped) and shipped again from the journal, as long as the journal still
 * holds those records (a changed batch it can no longer replace is kept, said, and shipping
 * stops there). A reader cannot tell a rolled-back tail from a quiet host.
 *
 * Batching bounds the signatures (one per batch: a TPM signature costs tens of ms): a batch
 * holds at most FLEET_AUDIT_BATCH_RECORDS records or FLEET_AUDIT_BATCH_BYTES, and a partial one
 * is shipped at most every FLEET_AUDIT_SHIP_MS. Catching up after an outage ships full batches
 * back to back.
 *
 * The center's table (made idempotently by fleet_pg_audit_migrate, after fleet_pg_migrate made
 * the schema): vaultfs.audit_batches (host, first_seq, last_seq, prev, lines, sig, shipped),
 * primary key (host, first_seq); `shipped` is the center's clock (status only, trusted by
 * nobody). The journal holds no secret, so neither does the table.
 *
 * Errors: -EBADMSG a batch or a line not of this form, a signature that does not verify;
 * -EHOSTDOWN the center is away; -EEXIST a batch at that (host, first_seq) already there;
 * -ENOENT none; -ESTALE the center holds records of this host past its journal's end;
 * fleet-pg.h's and fleet.h's otherwise. Nothing here logs above debug. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet.h"

#define FLEET_AUDIT_HASH_LEN 32u
#define FLEET_AUDIT_BATCH_RECORDS 512u
#define FLEET_AUDIT_BATCH_BYTES (1024u * 1024u)
#define FLEET_AUDIT_SHIP_MS 1000

struct fleet_audit_batch {
	char host[FLEET_HOST_NAME_MAX + 1];
	int64_t first_seq, last_seq;
	uint8_t prev[FLEET_AUDIT_HASH_LEN];
	uint8_t *lines; /* heap: the journal's lines, each with its newline */
	size_t lines_len;
	uint8_t sig[FLEET_SIG_MAX];
	size_t sig_len;
	int64_t shipped; /* unix seconds, the center's clock (status only) */
};
void fleet_audit_batch_done(struct fleet_audit_batch *b);
void fleet_audit_batches_free(struct fleet_audit_batch *b, size_t n);

/* SHA-256 of b's head (the form above): the next batch's prev. */
int fleet_audit_head_hash(const struct fleet_audit_batch *b, uint8_t ret[FLEET_AUDIT_HASH_LEN]);
/* Sign b's head with the host key k (b->sig). */
int fleet_audit_sign(const struct fleet_key *k, struct fleet_audit_batch *b);
/* b's signature under spki and its lines (canonical records, seqs first..last, each line's
 * prev the mac before it). prev_mac: the mac of the record before first (NULL: not known, the
 * first line's prev is not checked); ret_mac (may be NULL): the mac of b's last record.
 * -EBADMSG. */
int fleet_audit_batch_verify(const uint8_t *spki, size_t spki_len,
			     const struct fleet_audit_batch *b, const uint8_t *prev_mac,
			     uint8_t *ret_mac);

/* What a reader makes of each batch of a host, in first_seq order. */
enum fleet_audit_state {
	FLEET_AUDIT_OK = 0,
	FLEET_AUDIT_GAP,       /* verifies, but records are missing before it */
	FLEET_AUDIT_UNLINKED,  /* verifies, but does not follow the batch before (replaced,
				* swapped, or the head before it changed) */
	FLEET_AUDIT_BAD,       /* signature or lines do not verify: withheld */
	FLEET_AUDIT_UNTRUSTED, /* the host does not count (fleet_host_trusted): withheld */
};
const char *fleet_audit_state_name(enum fleet_audit_state s);
/* Check the batches of host (b[0..n), all of that host, in first_seq order) against hosts (the
 * center's table, with fleet_removed_mark run on it) and the pinned anchor: ret_state[i] for
 * each batch. Returns the host's fleet_host_trusted answer (0 counts, -EKEYREVOKED removed:
 * its batches are still checked under its key, the caller says it; anything else: every batch
 * FLEET_AUDIT_UNTRUSTED). A host removed with a cut (fleet_host_revoke_at, as `fleet remove`
 * does): its batches past the cut's seq are FLEET_AUDIT_UNTRUSTED (withheld: shipped after
 * its removal, or a history made again then), and the batch that ends at the cut must have
 * the head it names (else FLEET_AUDIT_BAD). A removal with no cut (an old one, or one this
 * host only remembers: fleet_removed_mark) leaves the batches checked as before. */
int fleet_audit_verify_host(const struct fleet_host *hosts, size_t nhosts, const char *anchor,
			    const char *host, const struct fleet_audit_batch *b, size_t n,
			    enum fleet_audit_state *ret_state);

/* --- the center (core/fleet-pg-audit.c; struct fleet_pg is fleet-pg.h's) --- */
struct fleet_pg;
/* The table, made when missing (idempotent; the schema must exist: fleet_pg_migrate). */
int fleet_pg_audit_migrate(struct fleet_pg *p);
/* Insert b (-EEXIST: a batch of that host at that first seq is there). */
int fleet_pg_audit_insert(struct fleet_pg *p, const struct fleet_audit_batch *b);
/* The host's batch with the highest first_seq (-ENOENT none). */
int fleet_pg_audit_last(struct fleet_pg *p, const char *host, struct fleet_audit_batch *ret);
/* Every batch (of host; NULL: of every host) in (host, first_seq) order; *ret heap
 * (fleet_audit_batches_free). */
int fleet_pg_audit_batches(struct fleet_pg *p, const char *host, struct fleet_audit_batch **ret,
			   size_t *ret_n);
/* The seqs of host's batches, in first_seq order, and nothing else (their lines stay at the
 * center: doctor's count of holes, not a check of a batch): ret[2i] the first seq of batch i,
 * ret[2i + 1] its last; *ret heap, *ret_n the batches. -ENOENT: there is no audit table (no
 * host shipped yet; it is not made here). */
int fleet_pg_audit_ranges(struct fleet_pg *p, const char *host, int64_t **ret, size_t *ret_n);
/* Delete host's batches from first_seq on (the shipper, to ship them again): how many. */
int fleet_pg_audit_delete_from(struct fleet_pg *p, const char *host, int64_t first_seq);

/* --- the shipper (core/fleet-audit-ship.c; fs/fleet-audit.c runs it in a thread) --- */
struct fleet_audit_ship;
/* What the shipper finds wrong at the center or in the journal (for the daemon's log and
 * journal): err and a sentence (no secret in it). */
typedef void (*fleet_audit_report_fn)(void *ud, int err, const char *what);
/* A shipper of the journal at journal_path (its rotated files too) as host, signing with key
 * (taken: freed with the shipper), to the center at conninfo. */
int fleet_audit_ship_new(const char *conninfo, const char *journal_path, const char *host,
			 struct fleet_key *key, fleet_audit_report_fn report, void *ud,
			 struct fleet_audit_ship **ret);
void fleet_audit_ship_free(struct fleet_audit_ship *s);
/* One round: connect when not connected (and find, against the journal, where the center
 * is), then read what the journal has and ship its full batches (at most a few: a round is
 * short, call again at once while it returns FLEET_AUDIT_BATCH_RECORDS or more), and the
 * partial one too when due. A batch of the center that differs from the journal, or does not
 * verify under this host's key, is reported and replaced by the journal's records, unless the
 * journal no longer holds them (reported, kept, -EBADMSG). Returns the records shipped (0
 * none), -EHOSTDOWN the center is away (reconnects on the next call), or another error (the
 * next call starts over from the center's state). */
int fleet_audit_ship_step(struct fleet_audit_ship *s, bool due);
/* A last round with every record read shipped, only when connected now (-EHOSTDOWN without
 * trying otherwise): for a stop. */
int fleet_audit_ship_flush(struct fleet_audit_ship *s);
/* The last seq the center has of this host, as this shipper knows it (0 none). */
int64_t fleet_audit_ship_shipped(const struct fleet_audit_ship *s);
