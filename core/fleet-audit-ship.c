/* fleet-audit-ship.c: the shipper of the central audit (fleet-audit.h has the design): it tails
 * the host's journal files with core's reader (following rotation: PATH.N ... PATH.1 PATH),
 * cuts the lines into batches, signs each with the host key and inserts it at the center; on
 * every connection it first finds where the center is (its last batch of this host, checked
 * under this host's key and against the journal) and goes on from there, so a restart, an
 * outage, or a center that lost or changed batches ends with the center holding what the
 * journal holds. While it stays connected it checks the center's view again every
 * FLEET_AUDIT_CHECK_MS, and after an insert that fails, cheaply (its last batch's head, the
 * center hashing the lines; the seqs of its batches): a last batch lost or changed is found as
 * at a connection; a hole (a batch gone in the middle, or at the start: the first batch there
 * does not have the zero prev) is filled from the journal while it still holds those records.
 * A refilled batch is one batch a..b, chained and signed as the first time: prev is the head
 * hash of the batch before it (zero at the start), signed by this host's key; when its head
 * hash is the prev of the batch after it (the hole was one batch: the journal's same lines
 * give the same head), it is inserted alone and the chain is whole again, so `audit show
 * --fleet` reads every batch as ok. Otherwise (the hole was several batches, cut where the
 * shipper cannot know) the batches from a on are deleted and shipped again from the journal
 * as a new chain after the batch before the hole: their lines are the journal's, byte for byte,
 * so nothing the center held is lost. A hole the journal no longer holds (rotated away) is
 * said, and left: the reader says it too. Each finding is reported (the daemon logs it and
 * writes a `fleet-audit` record). It only reads the journal: it never writes, locks or waits for
 * it (an append never waits for the shipper), and it never ships a line it did not read from
 * the journal. */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "audit.h"
#include "buf.h"
#include "crypto.h"
#include "fleet-audit-ship.h"
#include "fleet-audit.h"
#include "fleet-pg.h"
#include "util.h"

/* tries at finding a center's last batch that agrees with the journal before giving up */
#define RESUME_TRIES 16
/* full batches one round ships at most (catching up is many rounds: a stop waits for one) */
#define STEP_BATCHES 8

struct fleet_audit_ship {
	char *conninfo, *path;
	char host[FLEET_HOST_NAME_MAX + 1];
	struct fleet_key *key;
	const uint8_t *spki;
	size_t spki_len;
	fleet_audit_report_fn report;
	void *ud;
	char said[256]; /* the last report: not said twice in a row */

	struct fleet_pg *pg; /* NULL: not connected */
	bool placed;	     /* the reader is where the center is */
	struct audit_reader *rd;
	int64_t next_seq; /* the journal's next line wanted */
	uint8_t prev[FLEET_AUDIT_HASH_LEN];
	int64_t shipped;     /* the center's last seq of this host */
	int64_t shipped_max; /* the most this shipper ever saw the center hold */

	int64_t check_ms;   /* the center's view checked again this often */
	int64_t answer_ms;  /* a statement's answer waited for this long (0: the default) */
	int64_t checked_ms; /* CLOCK_MONOTONIC of the last check */
	bool check_now;	    /* at the next step: a connection, an insert that failed */

	struct buf pend; /* the lines of the batch being made */
	size_t pend_n;
	int64_t pend_first;
};

static void say(struct fleet_audit_ship *s, int err, const char *fmt, ...) _printf_(3, 4);
static void say(struct fleet_audit_ship *s, int err, const char *fmt, ...)
{
	char what[sizeof(s->said)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (streq(what, s->said))
		return;
	str_copy(s->said, sizeof(s->said), what);
	if (s->report)
		s->report(s->ud, err, what);
}

int fleet_audit_ship_new(const char *conninfo, const char *journal_path, const char *host,
			 struct fleet_key *key, fleet_audit_report_fn report, void *ud,
			 struct fleet_audit_ship **ret)
{
	struct fleet_audit_ship *s;

	if (!conninfo || !journal_path || !key || !fleet_host_name_valid(host))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->conninfo = strdup(conninfo);
	s->path = strdup(journal_path);
	if (!s->conninfo || !s->path) {
		free(s->conninfo);
		free(s->path);
		free(s);
		return -ENOMEM;
	}
	str_copy(s->host, sizeof(s->host), host);
	s->key = key;
	s->spki = fleet_key_spki(key, &s->spki_len);
	s->report = report;
	s->ud = ud;
	s->pend.max = FLEET_AUDIT_BATCH_BYTES;
	s->check_ms = FLEET_AUDIT_CHECK_MS;
	*ret = s;
	return 0;
}

static void unplace(struct fleet_audit_ship *s)
{
	audit_reader_free(s->rd);
	s->rd = NULL;
	s->placed = false;
	buf_clear(&s->pend);
	s->pend_n = 0;
}

static void disconnect(struct fleet_audit_ship *s)
{
	unplace(s);
	fleet_pg_free(s->pg);
	s->pg = NULL;
}

void fleet_audit_ship_free(struct fleet_audit_ship *s)
{
	if (!s)
		return;
	disconnect(s);
	buf_done(&s->pend);
	fleet_key_free(s->key);
	free(s->conninfo);
	free(s->path);
	free(s);
}

int64_t fleet_audit_ship_shipped(const struct fleet_audit_ship *s)
{
	return s->shipped;
}

void fleet_audit_ship_set_check_ms(struct fleet_audit_ship *s, int64_t ms)
{
	s->check_ms = MAX(ms, (int64_t)0);
}

void fleet_audit_ship_set_answer_ms(struct fleet_audit_ship *s, int64_t ms)
{
	s->answer_ms = ms;
}

/* fleet-audit.c's head form (fleet-audit.h), for a head whose lines the center hashed */
#define HEAD_MAGIC "vaultfs audit batch v1"

static void put_be64(uint8_t *out, int64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}

int fleet_audit_head_hash_of(const char *host, const struct fleet_audit_head *h,
			     uint8_t ret[FLEET_AUDIT_HASH_LEN])
{
	struct buf b = BUF_INIT(1024);
	uint8_t n[16];
	unsigned len = 0;
	int r;

	if (!fleet_host_name_valid(host) || h->first_seq < 1 || h->last_seq < h->first_seq)
		return -EBADMSG;
	put_be64(n, h->first_seq);
	put_be64(n + 8, h->last_seq);
	buf_put(&b, HEAD_MAGIC, sizeof(HEAD_MAGIC)); /* with its NUL */
	buf_put(&b, host, strlen(host) + 1);
	buf_put(&b, n, sizeof(n));
	buf_put(&b, h->digest, sizeof(h->digest));
	buf_put(&b, h->prev, sizeof(h->prev));
	r = b.err;
	if (r >= 0 && (EVP_Digest(b.p, b.len, ret, &len, EVP_sha256(), NULL) != 1 ||
		       len != FLEET_AUDIT_HASH_LEN))
		r = crypto_openssl_errno(-EIO);
	buf_done(&b);
	return r;
}

/* --- the journal's files --- */

/* The seq of a file's first record: 1 and *ret, 0 none (empty or not a record), <0. */
static int first_seq(const char *path, int64_t *ret)
{
	struct audit_reader *rd = NULL;
	struct audit_entry e;
	const char *line;
	size_t len;
	int r;

	r = audit_reader_open(path, &rd);
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

static int open_file(struct fleet_audit_ship *s, const char *path)
{
	audit_reader_free(s->rd);
	s->rd = NULL;
	return audit_reader_open(path, &s->rd);
}

/* Open the file that holds want: the newest whose first record is want or older; when every
 * file starts past want (older ones gone), the oldest there is. */
static int locate(struct fleet_audit_ship *s, int64_t want)
{
	char **list = NULL;
	size_t n, pick;
	int r;

	r = audit_list_files(s->path, &list, &n);
	if (r < 0)
		return r;
	pick = n; /* none yet */
	for (size_t i = n; i-- > 0;) {
		int64_t f;

		r = first_seq(list[i], &f);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			goto out;
		if (r > 0 && f <= want) {
			pick = i;
			break;
		}
		if (r > 0)
			pick = i; /* the oldest that starts past want, so far */
	}
	r = open_file(s, list[pick == n ? n - 1 : pick]);
out:
	audit_paths_free(list);
	return r;
}

/* At the end of a file that is no longer the live one: open the file after it (or, when it
 * is gone from the list, the file that holds next_seq). 1 moved, 0 this is the live file. */
static int next_file(struct fleet_audit_ship *s)
{
	uint64_t dev, ino;
	char **list = NULL;
	struct stat st;
	size_t n;
	int r;

	r = audit_reader_stat(s->rd, &dev, &ino);
	if (r < 0)
		return r;
	if (stat(s->path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
		return 0;
	r = audit_list_files(s->path, &list, &n);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i + 1 < n; i++)
		if (stat(list[i], &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
			r = open_file(s, list[i + 1]);
			break;
		}
	audit_paths_free(list);
	if (r == -ENOENT)
		r = locate(s, s->next_seq);
	return r < 0 ? r : 1;
}

/* The journal's next record at or past next_seq: 1 with the line (valid until the next call)
 * and its seq, 0 none written yet, <0. Lines that are not records are said and passed over. */
static int read_line(struct fleet_audit_ship *s, const char **ret_line, size_t *ret_len,
		     int64_t *ret_seq)
{
	for (;;) {
		struct audit_entry e;
		const char *line;
		size_t len;
		int r;

		r = audit_reader_next(s->rd, &line, &len);
		if (r < 0)
			return r;
		if (r == 0) {
			r = next_file(s);
			if (r < 0)
				return r;
			if (r == 0)
				return 0;
			continue;
		}
		if (audit_parse_line(line, len, &e) < 0) {
			say(s, -EBADMSG,
			    "a line of the journal after seq %" PRId64
			    " is not an audit record: not shipped",
			    s->next_seq - 1);
			continue;
		}
		*ret_seq = (int64_t)e.seq;
		audit_entry_done(&e);
		if (*ret_seq < s->next_seq)
			continue;
		*ret_line = line;
		*ret_len = len;
		return 1;
	}
}

/* --- where the center is --- */

/* The seq of the journal's oldest record: 1 and *ret, 0 it has none. */
static int journal_oldest(struct fleet_audit_ship *s, int64_t *ret)
{
	char **list = NULL;
	size_t n;
	int r;

	r = audit_list_files(s->path, &list, &n);
	if (r < 0)
		return r;
	r = 0;
	for (size_t i = 0; i < n && r == 0; i++) /* the oldest file with a record */
		r = first_seq(list[i], ret);
	audit_paths_free(list);
	return r;
}

/* 1 when the journal's files still hold seq (its oldest file starts at or before it), else 0:
 * a batch of the center is replaced only by what the journal can ship again. */
static int journal_holds(struct fleet_audit_ship *s, int64_t seq)
{
	int64_t f = 0;
	int r;

	r = journal_oldest(s, &f);
	if (r < 0)
		return r;
	return r > 0 && f <= seq;
}

/* The journal's records a..b into out (its max caps them): 1 every one of them, 0 not all
 * there (gone, or not written), <0 (out's -EMSGSIZE: more than out may hold). The shipper's
 * own reader and place are left as they were. */
static int journal_range(struct fleet_audit_ship *s, int64_t a, int64_t b, struct buf *out)
{
	struct audit_reader *rd = s->rd;
	int64_t next = s->next_seq;
	int r;

	s->rd = NULL;
	s->next_seq = a;
	r = locate(s, a);
	while (r >= 0 && s->next_seq <= b) {
		const char *line;
		size_t len;
		int64_t seq;

		r = read_line(s, &line, &len, &seq);
		if (r <= 0)
			break;
		if (seq != s->next_seq) {
			r = 0;
			break;
		}
		buf_put(out, line, len);
		buf_putc(out, '\n');
		r = out->err;
		s->next_seq++;
	}
	if (r >= 0)
		r = s->next_seq > b;
	audit_reader_free(s->rd);
	s->rd = rd;
	s->next_seq = next;
	return r;
}

/* Open the journal at first (the center's last batch b, or NULL: none) and compare b's lines
 * with the journal's: 0 they agree (or the journal no longer has them) and the reader is past
 * them, -EBADMSG they differ, -ESTALE the journal ends before b does. */
static int place(struct fleet_audit_ship *s, const struct fleet_audit_batch *b)
{
	size_t off = 0;
	int r;

	s->next_seq = b ? b->first_seq : 1;
	r = locate(s, s->next_seq);
	if (r < 0 || !b)
		return r;
	while (s->next_seq <= b->last_seq) {
		const char *line;
		size_t len;
		int64_t seq;

		r = read_line(s, &line, &len, &seq);
		if (r < 0)
			return r;
		if (r == 0)
			return -ESTALE;
		if (seq != s->next_seq) {
			/* the journal no longer holds them (rotated away): nothing to compare */
			s->next_seq = b->last_seq + 1;
			return locate(s, s->next_seq);
		}
		if (off + len + 1 > b->lines_len || memcmp(b->lines + off, line, len) != 0 ||
		    b->lines[off + len] != '\n')
			return -EBADMSG;
		off += len + 1;
		s->next_seq++;
	}
	return off == b->lines_len ? 0 : -EBADMSG;
}

/* Go on after the center's last batch of this host, when it verifies under this host's key
 * and agrees with the journal (0, placed); else replace it with the journal's records (delete
 * it: -EAGAIN, look at the one before), unless the journal no longer holds them (-EBADMSG). */
static int take_last(struct fleet_audit_ship *s, const struct fleet_audit_batch *last)
{
	const char *why = "differs from this host's journal";
	int r;

	if (streq(last->host, s->host) &&
	    fleet_audit_batch_verify(s->spki, s->spki_len, last, NULL, NULL) >= 0) {
		r = place(s, last);
		if (r == -ESTALE)
			say(s, r,
			    "the center holds audit records of this host up to seq %" PRId64
			    ", past the end of its journal: not shipping",
			    last->last_seq);
		if (r != -EBADMSG && r < 0)
			return r;
		if (r >= 0) {
			if (last->last_seq < s->shipped_max)
				say(s, -ESTALE,
				    "the center lost the audit batches of this host after seq %" PRId64
				    " (it had up to %" PRId64 "): shipping them again",
				    last->last_seq, s->shipped_max);
			r = fleet_audit_head_hash(last, s->prev);
			if (r < 0)
				return r;
			s->shipped = last->last_seq;
			s->shipped_max = MAX(s->shipped_max, s->shipped);
			s->placed = true;
			return 0;
		}
	} else
		why = "does not verify under this host's key";
	r = journal_holds(s, last->first_seq);
	if (r < 0)
		return r;
	if (r == 0) {
		say(s, -EBADMSG,
		    "the center's audit batch of seq %" PRId64 "..%" PRId64
		    " %s; kept: this host's "
		    "journal no longer holds its records",
		    last->first_seq, last->last_seq, why);
		return -EBADMSG;
	}
	say(s, -EBADMSG,
	    "the center's audit batch of seq %" PRId64 "..%" PRId64 " %s: shipping it again",
	    last->first_seq, last->last_seq, why);
	r = fleet_pg_audit_delete_from(s->pg, s->host, last->first_seq);
	return r < 0 ? r : -EAGAIN;
}

static int resume(struct fleet_audit_ship *s)
{
	for (int tries = 0; tries < RESUME_TRIES; tries++) {
		struct fleet_audit_batch last = {};
		int r;

		r = fleet_pg_audit_last(s->pg, s->host, &last);
		if (r == -ENOENT) {
			if (s->shipped_max > 0)
				say(s, -ESTALE,
				    "the center lost every audit batch of this host (it "
				    "had seq 1..%" PRId64 "): shipping the journal again",
				    s->shipped_max);
			memset(s->prev, 0, sizeof(s->prev));
			s->shipped = 0;
			r = place(s, NULL);
			if (r >= 0)
				s->placed = true;
			return r;
		}
		if (r < 0)
			return r;
		r = take_last(s, &last);
		fleet_audit_batch_done(&last);
		if (r != -EAGAIN)
			return r;
	}
	return -EBADMSG;
}

/* --- the center's view, checked again while connected --- */

/* The center lacks this host's records a..b between its batch at before (0: none, the hole is
 * at the start: a is then the journal's oldest record, or 1) and its batch at next. Fill them
 * from the journal (see the top of this file): the records filled, 0 none (said why), -EAGAIN
 * the batches from a on were deleted to be shipped again (the shipper is no longer placed). */
static int fill(struct fleet_audit_ship *s, int64_t a, int64_t b, int64_t before, int64_t next)
{
	static const uint8_t zeros[FLEET_AUDIT_HASH_LEN];
	struct fleet_audit_batch fb = {};
	struct fleet_audit_head hn, hb;
	struct buf lines = BUF_INIT(FLEET_AUDIT_BATCH_BYTES);
	uint8_t h[FLEET_AUDIT_HASH_LEN];
	char what[64];
	int64_t oldest = 0;
	bool linked = false;
	int r, held;

	if (before > 0)
		snprintf(what, sizeof(what), "of seq %" PRId64 "..%" PRId64, a, b);
	else
		snprintf(what, sizeof(what), "before seq %" PRId64, b + 1);
	r = fleet_pg_audit_head(s->pg, s->host, next, &hn);
	if (r >= 0 && before > 0) {
		r = fleet_pg_audit_head(s->pg, s->host, before, &hb);
		if (r >= 0)
			r = fleet_audit_head_hash_of(s->host, &hb, fb.prev);
	}
	if (r == -ENOENT)
		return 0; /* gone meanwhile: the next check sees what is there */
	if (r < 0)
		return r;
	if (before == 0 && crypto_memeq(hn.prev, zeros, sizeof(zeros)))
		return 0; /* the start of this host's chain */
	r = journal_oldest(s, &oldest);
	if (r < 0)
		return r;
	if (before == 0)
		a = r > 0 ? MAX(oldest, (int64_t)1) : b + 1;
	held = r > 0 && oldest <= a && a <= b;
	if (held) {
		held = journal_range(s, a, b, &lines);
		if (held == -EMSGSIZE)
			held = 2; /* more than one batch holds: shipped again as a new chain */
	}
	if (held < 0) {
		r = held;
		goto out;
	}
	if (held == 0) {
		say(s, -ENOENT,
		    "the center lacks this host's audit records %s; this journal no longer holds "
		    "them: left missing",
		    what);
		r = 0;
		goto out;
	}
	str_copy(fb.host, sizeof(fb.host), s->host);
	fb.first_seq = a;
	fb.last_seq = b;
	fb.lines = (uint8_t *)lines.p;
	fb.lines_len = lines.len;
	if (held == 1) {
		r = fleet_audit_head_hash(&fb, h);
		if (r < 0)
			goto out;
		linked = crypto_memeq(h, hn.prev, sizeof(h));
	}
	if (linked) {
		r = fleet_audit_sign(s->key, &fb);
		if (r >= 0)
			r = fleet_pg_audit_insert(s->pg, &fb);
		if (r < 0)
			goto out;
		say(s, -ESTALE,
		    "the center lost this host's audit records %s: filled again from the journal",
		    what);
		r = (int)MIN(b - a + 1, (int64_t)INT32_MAX);
		goto out;
	}
	if (before == 0 && a > 1) {
		/* a new start past seq 1 would hide that the records before it existed */
		say(s, -ENOENT,
		    "the center lacks this host's audit records %s; this journal holds them only "
		    "from seq %" PRId64 ": left missing",
		    what, a);
		r = 0;
		goto out;
	}
	say(s, -ESTALE,
	    "the center lost this host's audit records %s: shipping them and every batch after "
	    "them again from the journal",
	    what);
	r = fleet_pg_audit_delete_from(s->pg, s->host, a);
	if (r >= 0) {
		unplace(s);
		r = -EAGAIN;
	}
out:
	buf_done(&lines);
	return r;
}

/* The center's view of this host against what this shipper shipped: its last batch (head
 * and seq; lost or changed: unplaced, the next resume finds why) and the holes between its
 * batches (filled). The records filled, or <0. */
static int check_center(struct fleet_audit_ship *s)
{
	_cleanup_free_ int64_t *rg = NULL;
	struct fleet_audit_head last;
	uint8_t h[FLEET_AUDIT_HASH_LEN];
	size_t n = 0;
	int filled = 0, r;

	s->check_now = false;
	s->checked_ms = clock_ms(CLOCK_MONOTONIC);
	r = fleet_pg_audit_head(s->pg, s->host, 0, &last);
	if (r == -ENOENT) {
		if (s->shipped > 0)
			unplace(s); /* every batch gone */
		return 0;
	}
	if (r >= 0)
		r = fleet_audit_head_hash_of(s->host, &last, h);
	if (r < 0)
		return r;
	if (last.last_seq != s->shipped || !crypto_memeq(h, s->prev, sizeof(h))) {
		unplace(s);
		return 0;
	}
	r = fleet_pg_audit_ranges(s->pg, s->host, &rg, &n);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		int64_t first = rg[2 * i];

		if (i == 0 && first > 1)
			r = fill(s, 0, first - 1, 0, first);
		else if (i > 0 && first > rg[2 * i - 1] + 1)
			r = fill(s, rg[2 * i - 1] + 1, first - 1, rg[2 * i - 2], first);
		else
			continue; /* follows on (an overlap the reader says) */
		if (r == -EAGAIN)
			break;
		if (r < 0)
			return r;
		filled += r;
	}
	return filled;
}

/* --- shipping --- */

static int ship(struct fleet_audit_ship *s)
{
	struct fleet_audit_batch b = {};
	int r;

	if (s->pend_n == 0)
		return 0;
	str_copy(b.host, sizeof(b.host), s->host);
	b.first_seq = s->pend_first;
	b.last_seq = s->pend_first + (int64_t)s->pend_n - 1;
	memcpy(b.prev, s->prev, sizeof(b.prev));
	b.lines = (uint8_t *)s->pend.p;
	b.lines_len = s->pend.len;
	r = fleet_audit_sign(s->key, &b);
	if (r >= 0) {
		r = fleet_pg_audit_insert(s->pg, &b);
		if (r < 0)
			s->check_now = true; /* -EEXIST: the center is not where it was */
	}
	if (r >= 0)
		r = fleet_audit_head_hash(&b, s->prev);
	if (r < 0)
		return r;
	s->shipped = b.last_seq;
	s->shipped_max = MAX(s->shipped_max, s->shipped);
	buf_clear(&s->pend);
	s->pend_n = 0;
	return 0;
}

static int connect_center(struct fleet_audit_ship *s)
{
	int r;

	r = fleet_pg_connect(s->conninfo, &s->pg);
	if (r < 0) {
		s->pg = NULL;
		return r;
	}
	fleet_pg_set_answer_ms(s->pg, s->answer_ms);
	s->check_now = true;
	r = fleet_pg_migrate(s->pg);
	if (r >= 0)
		r = fleet_pg_audit_migrate(s->pg);
	return r;
}

/* Ship the pending batch, adding its records to *count. */
static int ship_count(struct fleet_audit_ship *s, int *count)
{
	size_t n = s->pend_n;
	int r;

	r = ship(s);
	if (r >= 0)
		*count += (int)n;
	return r;
}

static int step(struct fleet_audit_ship *s, bool due)
{
	int shipped = 0, r;

	if (!s->placed) {
		r = resume(s);
		if (r < 0)
			return r;
	}
	if (s->check_now || clock_ms(CLOCK_MONOTONIC) - s->checked_ms >= s->check_ms) {
		r = check_center(s);
		if (r < 0)
			return r;
		shipped += r;
		if (!s->placed) {
			r = resume(s);
			if (r < 0)
				return r;
		}
	}
	for (;;) {
		const char *line;
		size_t len;
		int64_t seq;

		r = read_line(s, &line, &len, &seq);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (seq != s->next_seq)
			say(s, -ENOENT,
			    "audit records %" PRId64 "..%" PRId64 " are not in this host's journal "
			    "(gone before they were shipped)",
			    s->next_seq, seq - 1);
		/* a batch is whole: no hole inside it, at most its caps */
		if (s->pend_n > 0 && (seq != s->next_seq || s->pend.len + len + 1 > s->pend.max)) {
			r = ship_count(s, &shipped);
			if (r < 0)
				return r;
		}
		if (s->pend_n == 0)
			s->pend_first = seq;
		buf_put(&s->pend, line, len);
		buf_putc(&s->pend, '\n');
		if (s->pend.err)
			return s->pend.err;
		s->pend_n++;
		s->next_seq = seq + 1;
		if (s->pend_n >= FLEET_AUDIT_BATCH_RECORDS) {
			r = ship_count(s, &shipped);
			if (r < 0)
				return r;
			if (shipped >= (int)(STEP_BATCHES * FLEET_AUDIT_BATCH_RECORDS))
				return shipped; /* more in the next round */
		}
	}
	if (s->pend_n > 0 && due) {
		r = ship_count(s, &shipped);
		if (r < 0)
			return r;
	}
	return shipped;
}

int fleet_audit_ship_step(struct fleet_audit_ship *s, bool due)
{
	int r;

	if (!s->pg || fleet_pg_ok(s->pg) < 0) {
		disconnect(s);
		r = connect_center(s);
		if (r < 0) {
			disconnect(s);
			return r;
		}
	}
	r = step(s, due);
	if (r < 0) {
		/* start over from the center's state: what was read and not shipped is read
		 * again */
		if (r == -EHOSTDOWN || fleet_pg_ok(s->pg) < 0) {
			disconnect(s);
			return -EHOSTDOWN;
		}
		unplace(s);
	}
	return r;
}

int fleet_audit_ship_flush(struct fleet_audit_ship *s)
{
	if (!s->pg || fleet_pg_ok(s->pg) < 0)
		return -EHOSTDOWN;
	return fleet_audit_ship_step(s, true);
}
