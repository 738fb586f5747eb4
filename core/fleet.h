/* fleet.h: many hosts share vaults through PostgreSQL (DESIGN §9, issue 20). This header is the
 * design note of the fleet and the interface of its pure part (core/fleet.c: host keys,
 * approvals, vault keys wrapped for hosts, the change chain, the applied-sequence guard); the
 * database is core/fleet-pg.h, the only part that speaks libpq.
 *
 * What the center holds (PostgreSQL, schema "vaultfs", core/fleet-pg.c makes it):
 *   hosts    name, public key (SubjectPublicKeyInfo DER), key kind (tpm | soft), approved_by
 *            and sig (the approval, signed by an approved host's key; the first host's is
 *            signed by itself: the fleet's anchor), revoked_by and revoked_sig, last seen.
 *   vaults   name, the epoch of its current fleet vault key.
 *   grants   (vault, epoch, host): the fleet vault key of that epoch wrapped for the host's
 *            public key, granted_by and sig (the granter's signature over all of it).
 *   changes  (vault, seq) PRIMARY KEY, epoch, host, body, mac: the vault's change sequence.
 *            A body is the same envelope the local store holds, under the fleet vault key:
 *            an object's name, kind, version, attributes, its data key wrapped under the fleet
 *            vault key (AAD: vault, object, version, kind) and the value sealed under the data
 *            key; or a membership change (a host revoked, a rekey). The unique key means two
 *            hosts can never take the same seq: the loser pulls and tries at seq + 1.
 *   applied  (host, vault) the seq each host says it applied and when: status only, trusted
 *            by nobody.
 * The database and its operators never see a plaintext value or key.
 *
 * The fleet vault key (FVK) of a vault is its own random 32-byte key, not any host's local
 * vault key: local stores keep their own envelope under their own master key, and a host that
 * applies a change opens it under the FVK and sets the version in its local store (one local
 * transaction), sealed anew under its local keys. A host keeps the FVKs it was granted in its
 * store's meta (sealed under a key derived from its master key), so a read never needs the
 * center and a restart needs no TPM operation for them.
 *
 * Authentication of every row, under keys PostgreSQL does not have:
 *   - changes: mac = HMAC(HKDF(FVK_epoch, "vaultfs fleet chain v1"), vault, seq, epoch,
 *     host, body, previous row's mac) (fleet_change_mac: the exact bytes). A chain: a changed
 *     row fails its MAC; a row swapped with another fails (seq and prev are inside); a dropped
 *     row leaves a gap (seq must be exactly last + 1) and breaks prev; a row rolled back, or the
 *     whole table, is below what each host remembers. Each host keeps, per vault, the seq, mac
 *     and epoch of the last row it applied (struct fleet_applied, in its store: it moves with
 *     the local apply, in the same transaction) and refuses a center that no longer holds that
 *     row as it was, or shows less (-ESTALE), a gap or a bad row (-EBADMSG), or a row of an
 *     epoch older than the newest it applied (-EKEYREVOKED: the old key is a removed host's
 *     too). What the center can still do is withhold: show nothing new (a host cannot tell a
 *     quiet vault from a censoring center; fleet status shows each host's lag).
 *   - hosts: a host row counts only when its approval signature verifies under the key of a
 *     host that counts, up to the anchor, whose fingerprint each host pinned when it joined
 *     (`fleet join --anchor SHA256:...` checks it; without it the first host's key is taken on
 *     first use and printed, as ssh does; an --anchor named to a center with no hosts is
 *     refused). A public key replaced by SQL fails its approval; `fleet approve HOST` signs
 *     a host's key only when it is the one --fingerprint names (as `fleet join` printed it on
 *     that host), or when told --trust-center. A removal is remembered by each host that
 *     learns it (its own `fleet remove`, a REVOKE row applied: kv-fleet.h fleet_removed_*),
 *     and a revocation cleared in the center brings no host back there.
 *   - grants: signed by the granter (a host that counts) over vault, epoch, the receiving
 *     host's name and public key fingerprint, and the wrapped bytes, so a grant replaced by one
 *     wrapping a key of the attacker's choosing (anyone can encrypt to a public key) is
 *     refused before it is unwrapped.
 *
 * The host key: an RSA-2048 key made inside the host's TPM (core/tpm-key.h: non-duplicable,
 * noDA), used for both jobs: RSA-OAEP-256 decryption of the grants made for it and RS256
 * signatures (PKCS#1 v1.5, SHA-256: deterministic, no PSS salt length to agree on with the
 * TPM) of the approvals and grants it makes. Chosen over an X25519/P-256 key
 * sealed like the master key because its private half never exists outside the TPM, not even
 * during an unwrap, and because tpm-key already does both operations; RSA because the TPM does
 * not do X25519 and tpm-key's EC keys only sign. The cost, an RSA decryption in the TPM (tens
 * of ms on a real one), is paid once per vault key: the FVK is kept afterwards as above.
 * A store with `--sealer host` (no TPM) gets a software RSA-2048 key whose PKCS#8 is kept in
 * its store sealed under a key derived from the master key: it gives up the hardware binding
 * (a copy of the store with the host key file is a copy of the host's fleet identity, and the
 * key is in memory while used) and keeps everything else; `fleet status` says which kind each
 * host has. `tpm2+host` stores get a TPM key.
 *
 * Wrapping a vault key for a host: RSA-OAEP-256 to the host's public key (a TPM key's
 * decryption needs no ECDH support the TPM lacks), then signed by the granter as above.
 *
 * Rekey (`vaultctl fleet rekey VAULT`; `fleet remove` runs it for each vault it announces the
 * removal in): a new FVK at epoch + 1, granted to the hosts that count and held the old key
 * (a grant of the old epoch that verifies: fleet_grant_verify; the removed ones hold no grant
 * and count no more), the center's epoch moved, then announced by a change row MAC'd under
 * the new key; later rows must be of the new epoch (the center takes no row below the vault's
 * epoch: a host that read the old epoch just before is told to pull and build again, so an
 * honest race cannot stop the chain). A host that holds no key of the vault's epoch but is a
 * fleet vault here pulls still: it applies the rows of the keys it had (its removal among
 * them) and refuses, and says, the rekey's. New versions only: old versions stay under the
 * old key. A removed host has read them already (it held the key), so re-wrapping them takes
 * nothing back; what must be taken back is rotated (new values), and those are under the new key.
 * `fleet remove` revokes the host row (signed, naming where its central audit ends:
 * fleet_host_revoke_at), deletes its grants, and is itself a change row in each vault's chain,
 * so every host learns it authenticated; after that row (epoch E) a host takes no row of E
 * but the REKEY's (of E + 1) and makes no change under K_E (kv-fleet.h). `fleet approve`
 * grants a host every epoch of a vault, so it checks the chain from seq 1.
 *
 * Errors: -EINVAL bad argument (a host name not `[A-Za-z0-9][A-Za-z0-9.-]{0,62}`),
 * -EBADMSG a signature, MAC or chain that does not verify, -ESTALE the center went back,
 * -ENOKEY no trusted chain to the anchor, -EKEYREVOKED a revoked host or an old epoch,
 * -ENOMEM, and tpm-key.h's errors for TPM keys. Nothing here logs above debug; nothing secret
 * is ever in an error. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "limits.h"
#include "secbuf.h"

#define FLEET_HOST_NAME_MAX 63u
/* "SHA256:" and 64 hex digits, NUL */
#define FLEET_FPR_LEN (7u + 64u + 1u)
#define FLEET_SPKI_MAX 1024u
#define FLEET_SIG_MAX 512u
#define FLEET_WRAPPED_MAX 512u
/* a change body (a version's envelope and attributes): the value cap and room for the rest */
#define FLEET_BODY_MAX (VAULTFS_VALUE_MAX + 16u * 1024u)
/* hops from a host to the anchor through approvals */
#define FLEET_CHAIN_DEPTH_MAX 32u

bool fleet_host_name_valid(const char *name);

/* --- the host key --- */
enum fleet_key_kind {
	FLEET_KEY_TPM = 1,  /* RSA-2048 in the TPM (tpm-key.h) */
	FLEET_KEY_SOFT = 2, /* RSA-2048 in software, sealed in the store */
};
const char *fleet_key_kind_name(enum fleet_key_kind k); /* "tpm", "soft" */
struct fleet_key;
/* A new host key: in the TPM reached by tcti, or in software when tcti is NULL. */
int fleet_key_create(const char *tcti, struct fleet_key **ret);
void fleet_key_free(struct fleet_key *k);
enum fleet_key_kind fleet_key_kind(const struct fleet_key *k);
const uint8_t *fleet_key_spki(const struct fleet_key *k, size_t *ret_len);
/* The form kept in the local store: kind, public key and the TPM blob (useless off its TPM),
 * or the software key's PKCS#8 sealed (AES-256-GCM) under seal_key, a key derived from the
 * master key; load: -EBADMSG when it does not open. tcti: where a TPM key is used later. */
int fleet_key_save(const struct fleet_key *k, const uint8_t seal_key[CRYPTO_KEY_LEN], uint8_t **ret,
		   size_t *ret_len);
int fleet_key_load(const uint8_t *in, size_t len, const uint8_t seal_key[CRYPTO_KEY_LEN],
		   const char *tcti, struct fleet_key **ret);
/* "SHA256:<hex>" of a public key's DER. */
int fleet_fingerprint(const uint8_t *spki, size_t len, char ret[FLEET_FPR_LEN]);
/* RS256 signature of msg (sig holds FLEET_SIG_MAX) and its check (-EBADMSG). */
int fleet_sign(const struct fleet_key *k, const void *msg, size_t n, uint8_t *sig, size_t *siglen);
int fleet_verify(const uint8_t *spki, size_t spki_len, const void *msg, size_t n,
		 const uint8_t *sig, size_t siglen);

/* --- hosts and their approvals --- */
struct fleet_host {
	char name[FLEET_HOST_NAME_MAX + 1];
	enum fleet_key_kind kind;
	uint8_t spki[FLEET_SPKI_MAX];
	size_t spki_len;
	char approved_by[FLEET_HOST_NAME_MAX + 1]; /* "" not approved yet */
	uint8_t sig[FLEET_SIG_MAX];
	size_t sig_len;
	char revoked_by[FLEET_HOST_NAME_MAX + 1]; /* "" not revoked */
	uint8_t revoked_sig[FLEET_SIG_MAX];
	size_t revoked_sig_len;
	int64_t joined, last_seen; /* unix seconds (status only) */
	/* removed as this host remembers it (kv-fleet.h fleet_removed_mark, from the store, not
	 * the center): counts as a revocation that verifies, whatever the center's columns say */
	bool removed;
};
/* Fill h's approval: approved_by = by_name, sig by the approver's key (by_name = h->name with
 * h's own key: the anchor). */
int fleet_host_approve(const struct fleet_key *by, const char *by_name, struct fleet_host *h);
int fleet_host_revoke(const struct fleet_key *by, const char *by_name, struct fleet_host *h);
/* A revocation with a cut: it also names h's last audit batch at the center as the revoker
 * saw it (its last seq, 0 none, and its head hash: fleet-audit.h), signed with the rest
 * ("vaultfs fleet revoke v2\0" ... be64(seq) head), and carried after the signature in
 * revoked_sig (be64(seq) head), so the center's table needs nothing new. Readers of the
 * central audit refuse h's batches after the cut: h keeps its key and the center's write
 * access, and could ship a new history after its removal. */
#define FLEET_CUT_HEAD_LEN 32u
#define FLEET_CUT_LEN (8u + FLEET_CUT_HEAD_LEN)
int fleet_host_revoke_at(const struct fleet_key *by, const char *by_name, struct fleet_host *h,
			 int64_t last_seq, const uint8_t head[FLEET_CUT_HEAD_LEN]);
/* Whether the host called name counts: its approval verifies under a host that counts, and so
 * on up to a self-approved host whose key's fingerprint is anchor. 0 yes; -ENOENT no such
 * host; -EACCES not approved yet; -EKEYREVOKED revoked (with a revocation that verifies under
 * a host that counts); -ENOKEY no chain to the anchor (a bad signature on the way, a loop, a
 * chain longer than FLEET_CHAIN_DEPTH_MAX, another anchor, or a removed host on the way up:
 * approvals carry no time, so none of a removed host's counts, and the hosts it approved must
 * be approved again by a host that counts). ret (may be NULL): the host. A removal counts when
 * its signature verifies under a host whose approvals hold up to the anchor, or when the host
 * is marked removed (h->removed: this host's own memory of it, which the center cannot
 * clear). */
int fleet_host_trusted(const struct fleet_host *hosts, size_t n, const char *anchor,
		       const char *name, const struct fleet_host **ret);

/* The cut of h's revocation: 0 with it when h's revocation is a v2 one that verifies under a
 * host that counts; -ENOENT none (no revocation, a v1 one, one that does not verify). */
int fleet_host_revoked_cut(const struct fleet_host *hosts, size_t n, const char *anchor,
			   const struct fleet_host *h, int64_t *ret_seq,
			   uint8_t ret_head[FLEET_CUT_HEAD_LEN]);

/* --- fleet vault keys wrapped for hosts --- */
struct fleet_grant {
	char vault[VAULTFS_NAME_MAX + 1];
	uint32_t epoch;
	char host[FLEET_HOST_NAME_MAX + 1];
	uint8_t wrapped[FLEET_WRAPPED_MAX];
	size_t wrapped_len;
	char granted_by[FLEET_HOST_NAME_MAX + 1];
	uint8_t sig[FLEET_SIG_MAX];
	size_t sig_len;
};
/* A new random fleet vault key. */
int fleet_vault_key_new(struct secbuf **ret);
/* Wrap vkey for host `to` (RSA-OAEP-256 to its public key) and sign the grant with by's key. */
int fleet_grant_make(const struct fleet_key *by, const char *by_name, const struct fleet_host *to,
		     const char *vault, uint32_t epoch, const struct secbuf *vkey,
		     struct fleet_grant *ret);
/* Open a grant made for me (my_name, my key): the granter must count (fleet_host_trusted with
 * hosts and anchor), its signature must verify over the grant and my public key, then the
 * key is unwrapped (in the TPM for a TPM key). -EINVAL a grant for another host; -EBADMSG a
 * signature that does not verify or a key that does not unwrap; fleet_host_trusted's errors
 * for the granter (and for me: a revoked host opens nothing). */
int fleet_grant_open(const struct fleet_key *me, const char *my_name, const struct fleet_grant *g,
		     const struct fleet_host *hosts, size_t n, const char *anchor,
		     struct secbuf **ret_vkey);

/* Whether grant g is what it says (no key opened): its host and its granter count, and the
 * granter's signature verifies over it and the host's current public key. 0 yes;
 * -EBADMSG a signature that does not verify; fleet_host_trusted's errors for either host.
 * What `fleet rekey` asks before it believes a host held the old key. */
int fleet_grant_verify(const struct fleet_grant *g, const struct fleet_host *hosts, size_t n,
		       const char *anchor);

/* --- the change chain --- */
struct fleet_change {
	char vault[VAULTFS_NAME_MAX + 1];
	int64_t seq; /* 1, 2, 3 ... per vault */
	uint32_t epoch;
	char host[FLEET_HOST_NAME_MAX + 1]; /* who made it */
	uint8_t *body;			    /* heap (fleet_change_done frees) */
	size_t body_len;
	uint8_t mac[CRYPTO_MAC_LEN];
};
void fleet_change_done(struct fleet_change *c);
/* The MAC of c after prev (the mac of row seq - 1; zeros for seq 1) under the chain key of
 * vkey (the FVK of c->epoch): HMAC-SHA256(HKDF(vkey, "vaultfs fleet chain v1"),
 * "vaultfs fleet change v1\0" vault "\0" be64(seq) be32(epoch) host "\0" be64(len) body
 * prev). */
int fleet_change_mac(const struct secbuf *vkey, const struct fleet_change *c,
		     const uint8_t prev[CRYPTO_MAC_LEN], uint8_t ret[CRYPTO_MAC_LEN]);

/* What a host applied last of a vault: seq 0 (mac zeros, epoch 0) before the first. */
struct fleet_applied {
	int64_t seq;
	uint32_t epoch;
	uint8_t mac[CRYPTO_MAC_LEN];
};
/* The guard: check the rows the center gives from a->seq on (rows[0] is the row at a->seq,
 * the one applied last, unless a->seq is 0; then rows from seq 1), n of them in seq order,
 * against what was applied and against their MACs (key(epoch) gives the FVK of an epoch, or
 * -ENOKEY), and move *a to the last row that verifies. 0 when all of them verify;
 * -ESTALE the center no longer holds the row applied last as it was (missing, or another mac)
 * or holds less than applied; -EBADMSG a row's seq is not the next, its MAC does not verify;
 * -EKEYREVOKED an epoch older than the last applied. *ret_good (may be NULL): how many of the
 * rows after the one applied last are good (to apply) before the first refused. */
int fleet_chain_check(struct fleet_applied *a, const struct fleet_change *rows, size_t n,
		      int (*key)(void *ud, uint32_t epoch, const struct secbuf **ret), void *ud,
		      size_t *ret_good);
/* The applied state in the store's form (seq, epoch, mac) and back (-EBADMSG). */
#define FLEET_APPLIED_LEN (8u + 4u + CRYPTO_MAC_LEN)
void fleet_applied_encode(const struct fleet_applied *a, uint8_t out[FLEET_APPLIED_LEN]);
int fleet_applied_decode(const uint8_t *in, size_t len, struct fleet_applied *ret);

/* --- change bodies: what a change row carries (core/fleet-body.c) ---
 * A new version travels as the local store keeps it, under the fleet vault key instead of a
 * host's: a random data key wrapped under the FVK of the row's epoch and the material sealed
 * under the data key (AES-256-GCM), both with the AAD "vaultfs fleet version v1\0" vault "\0"
 * name "\0" be32(kind) be32(version) be32(epoch), so a ciphertext moved to another vault, name,
 * version or epoch does not open. Names and attributes are in the clear (as in the local
 * store); the chain MAC covers all of it. Other ops carry no material: an update of a
 * version's attributes, delete, recover, purge of an object; a rekey (the row's epoch is the
 * new key's, MAC'd under it); a host removed (host). Form: "VFB1" op kind be32(version)
 * be16(len) name enabled be64(nbf) be64(exp) be16(len) content-type be32(len) tags be16(len)
 * host, then for FLEET_OP_SET wrapped data key (CRYPTO_WRAPPED_KEY_LEN) be32(len) ciphertext;
 * nothing may follow. */
enum fleet_op {
	FLEET_OP_SET = 1,     /* a new version, with its material */
	FLEET_OP_UPDATE = 2,  /* a version's attributes */
	FLEET_OP_DELETE = 3,  /* soft delete of an object */
	FLEET_OP_RECOVER = 4, /* its recovery */
	FLEET_OP_PURGE = 5,   /* its purge */
	FLEET_OP_REKEY = 6,   /* from this row on, the row's epoch */
	FLEET_OP_REVOKE = 7,  /* host removed from the fleet */
};
struct fleet_body {
	enum fleet_op op;
	int kind;			 /* enum object_type (store.h); 0 for REKEY, REVOKE */
	char name[VAULTFS_NAME_MAX + 1]; /* the object; "" for REKEY, REVOKE */
	uint32_t version;		 /* SET, UPDATE; else 0 */
	bool enabled;
	int64_t not_before, expires; /* 0 none */
	char content_type[VAULTFS_CONTENT_TYPE_MAX + 1];
	char tags[VAULTFS_TAGS_LEN_MAX + 1]; /* canonical "k=v\n" lines, as the store keeps them */
	char host[FLEET_HOST_NAME_MAX + 1];  /* REVOKE: the host removed */
};
/* Seal a body for vault at epoch under vkey (material: SET only, at most VAULTFS_VALUE_MAX;
 * NULL otherwise) into a new heap buffer. -EINVAL a body of the wrong shape (an op it does not
 * know, a name missing or invalid, material with another op or none with SET), -EMSGSIZE. */
int fleet_body_seal(const struct secbuf *vkey, const char *vault, uint32_t epoch,
		    const struct fleet_body *b, const struct secbuf *material, uint8_t **ret,
		    size_t *ret_len);
/* The inverse, after the row's MAC verified: *ret_material (SET only, else NULL) in a new
 * secure buffer. -EBADMSG a body not of this form, or material that does not open. */
int fleet_body_open(const struct secbuf *vkey, const char *vault, uint32_t epoch, const uint8_t *in,
		    size_t len, struct fleet_body *ret, struct secbuf **ret_material);
