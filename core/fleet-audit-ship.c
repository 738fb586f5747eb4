/* fleet-audit-ship.c: the shipper of the central audit (fleet-audit.h has the design): it tails
 * the host's journal files with core's reader (following rotation: PATH.N ... PATH.1 PATH),
 * cuts the lines into batches, signs each with the host key and inserts it at the center; on
 * every connection it first finds where the center is (its last batch of this host, checked
 * under this host's key and against the journal) and goes on from there, so a restart, an
 * outage, or a center that lost or changed batches ends with the center holding what the
 * journal holds. It only reads the journal: it never writes, locks or waits for it (an append
 * never waits for the shipper), and it never ships a line it did not read from the journal. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "audit.h"
#include "buf.h"
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

/* 1 when the journal's files still hold seq (its oldest file starts at or before it), else 0:
 * a batch of the center is replaced only by what the journal can ship again. */
static int journal_holds(struct fleet_audit_ship *s, int64_t seq)
{
	char **list = NULL;
	size_t n;
	int64_t f = 0;
	int r;

	r = audit_list_files(s->path, &list, &n);
	if (r < 0)
		return r;
	r = 0;
	for (size_t i = 0; i < n && r == 0; i++) /* the oldest file with a record */
		r = first_seq(list[i], &f);
	audit_paths_free(list);
	if (r < 0)
		return r;
	return r > 0 && f <= seq;
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
	if (r >= 0)
		r = fleet_pg_audit_insert(s->pg, &b);
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
