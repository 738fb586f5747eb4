/* doctor-fleet.c: `vaultctl doctor`'s checks of the fleet (tools/doctor.h), run when [fleet]
 * conninfo is set: the conninfo's TLS, the center answers (read only: it never makes the schema
 * nor writes a row), this host's key loads and signs, this host counts, each fleet vault's lag,
 * and the center's copy of this host's journal (its last batch, its holes, its lag). Each
 * failure comes with advice. Holds no secret beyond the host key it loads to prove it signs. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/audit.h"
#include "core/fleet-audit.h"
#include "core/fleet-pg-conninfo.h"
#include "core/fleet-pg.h"
#include "core/fleet-sync.h"
#include "core/fleet.h"
#include "core/kv-fleet.h"
#include "core/log.h"
#include "core/store.h"
#include "tools/doctor.h"
#include "tools/vaultctl.h"

/* --- doctor: the fleet ([fleet] conninfo set) --- */

/* What a host that does not count should do, by fleet_host_trusted's error. */
static const char *fleet_trust_advice(int r)
{
	switch (-r) {
	case EACCES:
		return "not approved yet: an admin on a host that counts runs `vaultctl fleet "
		       "approve THIS-HOST --fingerprint F [--vault V]...` (F as `fleet join` "
		       "printed it here)";
	case EKEYREVOKED:
		return "removed from the fleet: it gets no new versions; to come back, join "
		       "again under a new name and be approved";
	case ENOENT:
		return "the center does not know this host: `vaultctl fleet join` (a center "
		       "restored from an old backup forgets hosts too)";
	default:
		return "its approval does not verify up to the anchor this host pinned: a row "
		       "changed in the center, or another fleet's center; see `vaultctl fleet "
		       "status` on a host that counts";
	}
}

/* The center's answer, or its failure with advice. 0 or the failure. */
static int fleet_center_check(struct doctor *d, const struct ctl *ctl, struct fleet_pg **ret_pg,
			      struct fleet_host **ret_hosts, size_t *ret_n)
{
	char words[LOG_FOREIGN_SUFFIX_MAX], what[512];
	struct fleet_pg *pg = NULL;
	int r;

	r = ctl_center_connect(ctl, &pg);
	if (r >= 0)
		r = fleet_pg_hosts(pg, ret_hosts, ret_n);
	if (r >= 0) {
		doctor_check(d, 0, "fleet: the center (PostgreSQL) answers", NULL);
		*ret_pg = pg;
		return 0;
	}
	fleet_pg_free(pg);
	snprintf(what, sizeof(what), "fleet: the center (PostgreSQL) answers: %s%s",
		 r == -EHOSTDOWN ? "it is away" : strerror(-r), log_foreign_take(words));
	doctor_check(d, 2, what,
		     r == -EHOSTDOWN ?
			     "reads go on from this store; changes to fleet vaults are refused "
			     "until it answers: check that PostgreSQL runs and that this host "
			     "reaches it (host and port of [fleet] conninfo, a firewall)" :
		     r == -EACCES ?
			     "PostgreSQL refused the role: check user and password in [fleet] "
			     "conninfo and the center's pg_hba.conf" :
			     "the center has no fleet yet (the first `vaultctl fleet join` makes "
			     "its schema), or see PostgreSQL's log");
	return r;
}

/* The way to the center (review finding 10): over TCP, only TLS with the server's name checked
 * (sslmode=verify-full) keeps a man in the middle out, and with a password only channel
 * binding keeps him from relaying the login. A unix socket directory is fine. */
static void fleet_tls_check(struct doctor *d, const char *conninfo)
{
	struct fleet_pg_conninfo f;
	char words[LOG_FOREIGN_SUFFIX_MAX], what[256];
	int r;

	r = fleet_pg_conninfo_facts(conninfo, &f);
	if (r < 0) {
		snprintf(what, sizeof(what), "fleet tls: [fleet] conninfo parses: %s%s",
			 strerror(-r), log_foreign_take(words));
		doctor_check(d, 2, what,
			     "write it as libpq takes it: key=value pairs or a postgresql:// URI");
		return;
	}
	if (!f.tcp) {
		doctor_check(d, 0,
			     "fleet tls: [fleet] conninfo reaches the center through a unix socket",
			     NULL);
		return;
	}
	doctor_check(
		d, f.verify_full ? 0 : 1,
		f.verify_full ? "fleet tls: [fleet] conninfo reaches the center over TCP with "
				"sslmode=verify-full" :
				"fleet tls: [fleet] conninfo reaches the center over TCP without "
				"sslmode=verify-full",
		"add sslmode=verify-full (and sslrootcert=FILE, the CA that signed the center's "
		"certificate): without it a man in the middle can read the traffic or act as the "
		"center (stalls, metadata); or reach it through a unix socket directory (host=/DIR)");
	if (f.password)
		doctor_check(
			d, f.channel_binding ? 0 : 1,
			f.channel_binding ?
				"fleet tls: [fleet] conninfo's password login is bound to its TLS "
				"channel (channel_binding=require)" :
				"fleet tls: [fleet] conninfo logs in with a password without "
				"channel_binding=require",
			"add channel_binding=require (the center's role with a SCRAM password): "
			"without it a man in the middle can relay the login and act as the center");
}

/* Each fleet vault this host holds: its applied seq against the center's highest. */
static void fleet_lag_checks(struct doctor *d, struct fleet_pg *pg, struct kv *kv, const char *me,
			     bool daemon)
{
	_cleanup_free_ struct fleet_pg_vault *v = NULL;
	char what[512];
	size_t nv;
	int r;

	r = fleet_pg_vaults(pg, &v, &nv);
	if (r < 0) {
		char words[LOG_FOREIGN_SUFFIX_MAX];

		snprintf(what, sizeof(what), "fleet: the center lists its vaults: %s%s",
			 strerror(-r), log_foreign_take(words));
		doctor_check(d, 2, what, "see PostgreSQL's log");
		return;
	}
	for (size_t i = 0; i < nv; i++) {
		struct fleet_applied a;
		struct fleet_grant g;
		int64_t lag;

		r = kv_fleet_applied(kv, v[i].name, &a);
		if (r == -ENOENT) {
			/* not here: fine unless it was granted to this host */
			if (fleet_pg_grant_get(pg, v[i].name, v[i].epoch, me, &g) < 0) {
				log_foreign_clear();
				continue;
			}
			snprintf(what, sizeof(what),
				 "fleet: vault %s (granted to this host) is here", v[i].name);
			doctor_check(
				d, 1, what,
				daemon ?
					"vaultfsd takes it on its next pull (at most a minute); if "
					"it does not, see its log" :
					"vaultfsd takes it when it runs: start it");
			continue;
		}
		if (r < 0) {
			snprintf(what, sizeof(what), "fleet: vault %s's applied state reads: %s",
				 v[i].name, strerror(-r));
			doctor_check(d, 2, what,
				     "the store's row does not verify: see 'vaultctl verify'");
			continue;
		}
		lag = v[i].max_seq - a.seq;
		if (lag < 0) {
			snprintf(what, sizeof(what),
				 "fleet: vault %s: the center holds seq %" PRId64
				 ", less than the %" PRId64 " applied here (it went back)",
				 v[i].name, v[i].max_seq, a.seq);
			doctor_check(
				d, 2, what,
				"this host refuses a center that went back (restored from a backup, "
				"rows deleted); its reads go on: have the center's operators restore "
				"the rows, never roll a host's store back to match");
			continue;
		}
		snprintf(what, sizeof(what),
			 "fleet: vault %s applied to seq %" PRId64 " of the center's %" PRId64
			 " (lag %" PRId64 ")",
			 v[i].name, a.seq, v[i].max_seq, lag);
		doctor_check(
			d, lag ? 1 : 0, what,
			!daemon ?
				"vaultfsd applies the center's changes: start it" :
				"vaultfsd applies changes as they come; a lag that stays is a change "
				"this host refused: `vaultctl audit show --event fleet-apply "
				"--decision deny` and vaultfsd's log say which and why");
	}
}

/* --- doctor: the central audit of this host (fleet-audit.h) --- */

/* a lag of the center's copy older than this, with vaultfsd running, is a shipper that does not
 * ship (it ships at least every FLEET_AUDIT_SHIP_MS) */
#define AUDIT_LAG_WARN_MS (5 * FLEET_AUDIT_SHIP_MS)

/* This host's journal as the center's copy is checked against it. */
struct journal_side {
	int64_t oldest, last; /* the seqs of its oldest and its last record (0: none) */
	int64_t pending_us;   /* the time of its first record the center does not have (0 none) */
	int same; /* the center's last batch: 1 the journal's lines, 0 the journal no longer holds
		   * them all, -EBADMSG they differ, -ESTALE the journal ends before it */
};

/* The seq of a journal file's first record: 1, 0 none (empty, missing, not a record), <0. */
static int file_first_seq(const char *path, int64_t *ret)
{
	struct audit_reader *rd = NULL;
	struct audit_entry e;
	const char *line;
	size_t len;
	int r;

	r = audit_reader_open(path, &rd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = audit_reader_next(rd, &line, &len);
	if (r > 0) {
		r = audit_parse_line(line, len, &e) < 0 ? 0 : 1;
		if (r > 0) {
			*ret = (int64_t)e.seq;
			audit_entry_done(&e);
		}
	}
	audit_reader_free(rd);
	return r;
}

/* Read one journal file into j, comparing b's lines (when b) at *off; *want the seq b's next
 * line should be. */
static int journal_side_file(const char *path, const struct fleet_audit_batch *b, int64_t shipped,
			     struct journal_side *j, size_t *off, int64_t *want)
{
	struct audit_reader *rd = NULL;
	const char *line;
	size_t len;
	int r;

	r = audit_reader_open(path, &rd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	while ((r = audit_reader_next(rd, &line, &len)) > 0) {
		struct audit_entry e;
		int64_t seq;

		if (audit_parse_line(line, len, &e) < 0)
			continue; /* the shipper passes over it too */
		seq = (int64_t)e.seq;
		if (seq > shipped && !j->pending_us)
			j->pending_us = e.time_us;
		audit_entry_done(&e);
		j->last = seq;
		if (!b || seq < b->first_seq || seq > b->last_seq || j->same != 1)
			continue;
		if (seq != *want) {
			j->same = 0; /* a hole here: what is missing cannot be compared */
			continue;
		}
		if (*off + len + 1 > b->lines_len || memcmp(b->lines + *off, line, len) != 0 ||
		    b->lines[*off + len] != '\n')
			j->same = -EBADMSG;
		*off += len + 1;
		(*want)++;
	}
	audit_reader_free(rd);
	return r;
}

/* This host's journal at path against the center's copy: shipped its last seq there, b its
 * last batch (NULL: none). Reads from the file that holds the first seq compared on. */
static int journal_side(const char *path, const struct fleet_audit_batch *b, int64_t shipped,
			struct journal_side *ret)
{
	int64_t from = b ? b->first_seq : shipped + 1, want = b ? b->first_seq : 0;
	char **list = NULL;
	size_t n, start = 0, off = 0;
	int r;

	*ret = (struct journal_side){ .same = 1 };
	r = audit_list_files(path, &list, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		int64_t f = 0;

		r = file_first_seq(list[i], &f);
		if (r < 0)
			goto out;
		if (r > 0 && !ret->oldest)
			ret->oldest = f;
		if (r > 0 && f <= from)
			start = i;
	}
	for (size_t i = start; i < n; i++) {
		r = journal_side_file(list[i], b, shipped, ret, &off, &want);
		if (r < 0)
			goto out;
	}
	r = 0;
	if (!b)
		goto out;
	if (ret->last < b->last_seq)
		ret->same = -ESTALE;
	else if (!ret->oldest || ret->oldest > b->first_seq)
		ret->same = 0; /* rotated away here */
	else if (ret->same == 1 && off != b->lines_len)
		ret->same = -EBADMSG;
out:
	audit_paths_free(list);
	return r;
}

/* The center's last batch of this host (me, whose key is spki): it verifies and is this
 * journal's. daemon: vaultfsd answers. */
static void audit_last_check(struct doctor *d, const char *me, const uint8_t *spki, size_t spki_len,
			     const struct fleet_audit_batch *b, const struct journal_side *j,
			     bool daemon)
{
	char what[512], advice[512];
	bool held = j->oldest && j->oldest <= b->first_seq;
	int r;

	r = fleet_audit_batch_verify(spki, spki_len, b, NULL, NULL);
	snprintf(what, sizeof(what),
		 "fleet audit: the center's last batch of this host (seq %" PRId64 "..%" PRId64
		 ") verifies under its key and is this journal's%s",
		 b->first_seq, b->last_seq,
		 r < 0		     ? ": it does not verify" :
		 j->same == -ESTALE  ? ": the journal here ends before it" :
		 j->same == -EBADMSG ? ": its lines differ from the journal's" :
		 j->same == 0	     ? " (its records are no longer in the journal here: not "
				       "compared)" :
				       "");
	if (r < 0 && held)
		snprintf(advice, sizeof(advice),
			 "the center changed it (or holds another host's under this name): "
			 "vaultfsd replaces it from this journal when it connects to the center: "
			 "%s; `vaultctl audit show --fleet --host %s` says what else the center "
			 "withholds",
			 daemon ? "restart it (systemctl restart vaultfsd)" :
				  "start it (systemctl start vaultfsd)",
			 me);
	else if (r < 0 || (j->same == -EBADMSG && !held))
		snprintf(advice, sizeof(advice),
			 "this journal no longer holds seq %" PRId64 "..%" PRId64
			 ": nobody can ship it again; have the center's operators restore "
			 "vaultfs.audit_batches from a backup (a changed audit row is a security "
			 "incident)",
			 b->first_seq, b->last_seq);
	else if (j->same == -ESTALE)
		snprintf(advice, sizeof(advice),
			 "the journal here ends at seq %" PRId64
			 ": it was cut or replaced (a store or journal restored from a backup?), "
			 "or another host ships under this name; vaultfsd ships nothing until the "
			 "two agree; a journal cut here is a security incident",
			 j->last);
	else
		snprintf(advice, sizeof(advice),
			 "it carries this host's signature but not this journal's lines: unless "
			 "the journal was restored from a backup, it changed here (see `vaultctl "
			 "--offline audit verify`: a security incident); vaultfsd replaces the "
			 "center's copy when it connects: keep that copy first, it is evidence");
	doctor_check(d, r < 0 || j->same < 0 ? 2 : 0, what, advice);
}

/* The center's batches of this host (rg: their first and last seqs) follow one another: a
 * hole is a batch the center lost (or records lost here before they were shipped). */
static void audit_holes_check(struct doctor *d, const char *me, const int64_t *rg, size_t n,
			      const struct journal_side *j)
{
	int64_t hole_first = 0, hole_last = 0;
	size_t holes = 0;
	bool overlap = false;
	char what[512], advice[512];
	int level = 0;

	/* before the first: only records the journal here holds (older ones were gone when this
	 * host first shipped) */
	if (j->oldest && rg[0] > j->oldest) {
		holes++;
		hole_first = j->oldest;
		hole_last = rg[0] - 1;
	}
	for (size_t i = 1; i < n; i++) {
		if (rg[2 * i] == rg[2 * i - 1] + 1)
			continue;
		if (rg[2 * i] <= rg[2 * i - 1])
			overlap = true;
		else if (!holes++) {
			hole_first = rg[2 * i - 1] + 1;
			hole_last = rg[2 * i] - 1;
		}
	}
	if (overlap) {
		snprintf(what, sizeof(what),
			 "fleet audit: the center's %zu batches of this host (seq %" PRId64
			 "..%" PRId64 ") follow one another: some overlap",
			 n, rg[0], rg[2 * n - 1]);
		level = 2;
	} else if (holes) {
		snprintf(what, sizeof(what),
			 "fleet audit: the center's %zu batches of this host (seq %" PRId64
			 "..%" PRId64 ") follow one another: seq %" PRId64 "..%" PRId64
			 " missing%s",
			 n, rg[0], rg[2 * n - 1], hole_first, hole_last,
			 holes > 1 ? " (and more holes)" : "");
		level = j->oldest && j->oldest <= hole_first ? 2 : 1;
	} else {
		snprintf(what, sizeof(what),
			 "fleet audit: the center's %zu batches of this host (seq %" PRId64
			 "..%" PRId64 ") follow one another",
			 n, rg[0], rg[2 * n - 1]);
	}
	if (level == 1)
		snprintf(advice, sizeof(advice),
			 "those records are in neither place now: either they were gone here "
			 "before they were shipped (a `fleet-audit` record of this journal says "
			 "so) or the center lost them: have its operators restore "
			 "vaultfs.audit_batches from a backup");
	else
		snprintf(advice, sizeof(advice),
			 "the center lost or changed batches of this host (rows deleted or "
			 "changed, a restore from an old backup): this journal still holds them, "
			 "but vaultfsd ships only past the center's last batch; have the center's "
			 "operators restore vaultfs.audit_batches; `vaultctl audit show --fleet "
			 "--host %s` says what it withholds",
			 me);
	doctor_check(d, level, what, advice);
}

/* How far the center's copy lags this journal (shipped: its last seq there); with vaultfsd
 * running, a lag is a warning only once its oldest record (or the daemon) is older than
 * AUDIT_LAG_WARN_MS. */
static void audit_lag_check(struct doctor *d, int64_t shipped, const struct journal_side *j,
			    struct json_object *st)
{
	int64_t lag = j->last - shipped, now_us = clock_ms(CLOCK_REALTIME) * 1000, since_us;
	char what[512];

	if (lag <= 0) {
		snprintf(what, sizeof(what),
			 "fleet audit: the center has this host's journal to seq %" PRId64
			 " of %" PRId64 " (lag 0)",
			 shipped, j->last);
		doctor_check(d, 0, what, NULL);
		return;
	}
	since_us = j->pending_us;
	if (st)
		since_us =
			MAX(since_us,
			    json_object_get_int64(json_object_object_get(st, "started")) * 1000000);
	snprintf(what, sizeof(what),
		 "fleet audit: the center has this host's journal to seq %" PRId64 " of %" PRId64
		 " (lag %" PRId64 ", the oldest record not there written %.1f s ago)",
		 shipped, j->last, lag, (double)(now_us - j->pending_us) / 1e6);
	doctor_check(
		d, !st || now_us - since_us > AUDIT_LAG_WARN_MS * 1000 ? 1 : 0, what,
		!st ? "vaultfsd ships the journal as it runs (at least once a second), from the "
		      "center's last batch of this host on: start it" :
		      "vaultfsd ships the journal as it runs, at least once a second: a lag that "
		      "stays is a shipper that stopped (vaultfsd's log says why: 'fleet audit:' "
		      "lines) or a center that lost its newest batches (restart vaultfsd: it ships "
		      "again from the center's last batch)");
}

/* The central audit's checks for this host (me, its key): the center's last batch of it, the
 * holes between its batches, and the lag behind this journal. */
static void fleet_audit_checks(struct doctor *d, struct fleet_pg *pg, const struct config *c,
			       const char *me, const struct fleet_key *key, struct json_object *st)
{
	_cleanup_free_ int64_t *rg = NULL;
	struct fleet_audit_batch last = {};
	struct journal_side j;
	char what[512], words[LOG_FOREIGN_SUFFIX_MAX];
	const uint8_t *spki;
	size_t n = 0, spki_len;
	int64_t shipped;
	int r;

	r = fleet_pg_audit_ranges(pg, me, &rg, &n);
	if (r == -ENOENT)
		r = 0; /* no host shipped yet */
	if (r >= 0 && n > 0)
		r = fleet_pg_audit_last(pg, me, &last);
	if (r == -ENOENT) /* gone between the two */
		r = 0, n = 0;
	if (r < 0) {
		snprintf(what, sizeof(what),
			 "fleet audit: the center's audit batches of this host read: %s%s",
			 r == -EBADMSG ? "a row is not of its form" : strerror(-r),
			 log_foreign_take(words));
		doctor_check(d, 2, what,
			     r == -EBADMSG ?
				     "a row of vaultfs.audit_batches was changed in SQL: `vaultctl "
				     "audit show --fleet` says which host's" :
				     "see PostgreSQL's log");
		return;
	}
	shipped = n ? last.last_seq : 0;
	r = journal_side(c->audit_path, n ? &last : NULL, shipped, &j);
	if (r < 0) {
		snprintf(what, sizeof(what), "fleet audit: this host's journal %s reads: %s",
			 c->audit_path, strerror(-r));
		doctor_check(d, 2, what, "see the journal's check above");
		goto out;
	}
	if (n) {
		spki = fleet_key_spki(key, &spki_len);
		audit_last_check(d, me, spki, spki_len, &last, &j, st != NULL);
		audit_holes_check(d, me, rg, n, &j);
	}
	if (j.same != -ESTALE)
		audit_lag_check(d, shipped, &j, st);
out:
	fleet_audit_batch_done(&last);
}

/* The fleet's checks: the center answers, this host's key loads and signs, this host counts
 * (approved, not revoked), each fleet vault's lag, and the central audit of this host. Needs
 * the store's master key (root). st: the daemon's status (NULL: it does not answer). */
void doctor_fleet(struct doctor *d, struct ctl *ctl, struct json_object *st)
{
	bool daemon = st != NULL;
	const struct config *c = ctl->config;
	_cleanup_secbuf_ struct secbuf *seal = NULL;
	_cleanup_free_ struct fleet_host *hosts = NULL;
	_cleanup_free_ uint8_t *saved = NULL;
	_cleanup_(kv_freep) struct kv *kv = NULL;
	char name[FLEET_HOST_NAME_MAX + 1], anchor[FLEET_FPR_LEN], what[512];
	const struct fleet_host *me = NULL;
	struct fleet_key *key = NULL;
	struct fleet_pg *pg = NULL;
	struct store *s = NULL;
	uint8_t sig[FLEET_SIG_MAX];
	size_t n = 0, len = 0, siglen = 0;
	bool center;
	int r;

	fleet_tls_check(d, c->fleet_conninfo);
	center = fleet_center_check(d, ctl, &pg, &hosts, &n) == 0;
	if (geteuid() != 0) {
		doctor_check(d, 1, "fleet: this host's key not checked", "run doctor as root");
		goto out;
	}
	r = store_open(c->store_path, STORE_READONLY, &s);
	if (r >= 0) {
		r = store_meta_text(s, FLEET_META_NAME, name, sizeof(name));
		if (r >= 0)
			r = store_meta_text(s, FLEET_META_ANCHOR, anchor, sizeof(anchor));
		if (r >= 0)
			r = store_meta_get(s, FLEET_META_KEY, &saved, &len);
		/* the removals this host learned count whatever the center says now */
		if (r >= 0 && center)
			r = fleet_removed_mark(s, hosts, n);
		store_free(s);
	}
	if (r == -ENOENT) {
		doctor_check(
			d, 1, "fleet: this host has joined the fleet",
			"[fleet] conninfo is set but this host never joined: `vaultctl fleet join` "
			"(with --anchor as the first host printed it), then an approval");
		goto out;
	}
	if (r < 0)
		goto out; /* the store's own checks above say why */
	if (open_kv(ctl, &kv) != 0) {
		doctor_check(d, 2, "fleet: this host's key not checked: the store does not open",
			     "see the master key's check above");
		goto out;
	}
	r = kv_derive_key(kv, FLEET_HOST_KEY_LABEL, &seal);
	if (r >= 0)
		r = fleet_key_load(saved, len, seal->data,
				   strstr(c->sealer, "tpm2") ? c->tcti : NULL, &key);
	/* a key that loads but cannot sign (a TPM key off its TPM) does not count as loaded */
	if (r >= 0)
		r = fleet_sign(key, "vaultfs doctor", 14, sig, &siglen);
	{
		char words[LOG_FOREIGN_SUFFIX_MAX];

		snprintf(what, sizeof(what), "fleet: this host's key (%s) loads and signs%s%s%s",
			 key ? fleet_key_kind_name(fleet_key_kind(key)) : "?", r < 0 ? ": " : "",
			 r < 0 ? strerror(-r) : "", r < 0 ? log_foreign_take(words) : "");
	}
	doctor_check(d, r < 0 ? 2 : 0, what,
		     r == -EBADMSG ?
			     "its sealed form does not open under this store's master key (a "
			     "store restored from another host?): `fleet remove` it on a host "
			     "that counts and join again" :
			     "a TPM key lives in the TPM it was made in: check [seal] tcti; a host "
			     "that lost its TPM is removed and joins again");
	if (r < 0 || !center)
		goto out;
	r = fleet_host_trusted(hosts, n, anchor, name, &me);
	if (r >= 0) {
		size_t splen;
		const uint8_t *spki = fleet_key_spki(key, &splen);

		if (me->spki_len != splen || memcmp(me->spki, spki, splen) != 0)
			r = -ENOKEY; /* the center shows another key under this name */
	}
	snprintf(what, sizeof(what), "fleet: this host (%s) counts in the fleet%s%s", name,
		 r < 0 ? ": " : "",
		 r == -EACCES	   ? "not approved yet" :
		 r == -EKEYREVOKED ? "removed" :
		 r == -ENOENT	   ? "unknown to the center" :
		 r < 0		   ? "its approval does not verify" :
				     "");
	doctor_check(d, r < 0 ? 2 : 0, what, fleet_trust_advice(r));
	fleet_lag_checks(d, pg, kv, name, daemon);
	fleet_audit_checks(d, pg, c, name, key, st);
out:
	fleet_key_free(key);
	fleet_pg_free(pg);
}
