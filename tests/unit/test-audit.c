/* test-audit.c: unit tests for the audit journal (core/audit*.c). Each test gets a temp dir of its
 * own and checks exact results and exact -errnos: open and append refusals, the canonical form
 * (escaping of hostile strings, errno names, strict parsing), the chain across reopen, a torn tail
 * cut off (at open and when a peer crashed), two handles and many threads appending to one chain,
 * a file removed, replaced or shortened under the writer (-ESTALE, sticky), a full file
 * (RLIMIT_FSIZE: -EFBIG, nothing left behind, not sticky), rotation (one chain across files, also
 * with two handles), the anchor (flush, none mode, a forged anchor, a rolled back file refused at
 * open and found by verify), every tamper case found by verify at the right seq, queue
 * backpressure (-ETIMEDOUT while another open file description holds the lock), the systemd
 * journal message when a journal socket exists, and the batch mode's lease: the lock held between
 * syncs and let go at a flush, at an error and at a knock, a knock that stays (bounded), rotation
 * followed across leases, and a forked peer process that gets its turn while this one appends
 * without a pause; refusals limited per uid and below the disk reserve (counted, and the exact
 * count written), and audit_health; group commit (audit_append_nowait, the durability
 * callback). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/store.h"
#include "core/util.h"
#include "tests/unit/testlib.h"

struct fixture {
	char *dir;
	char path[128];
	char store[128];
	uint8_t key[CRYPTO_KEY_LEN];
};

/* The journal's key of every test (also in test_batch_storm's process). */
static void fixture_key(uint8_t key[CRYPTO_KEY_LEN])
{
	for (size_t i = 0; i < CRYPTO_KEY_LEN; i++)
		key[i] = (uint8_t)(i * 7 + 1);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store *s = NULL;

	if (!f || test_tmpdir(&f->dir) < 0) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/audit.jsonl", f->dir);
	snprintf(f->store, sizeof(f->store), "%s/vault.db", f->dir);
	fixture_key(f->key);
	if (store_open(f->store, STORE_CREATE, &s) < 0)
		return -1;
	store_free(s);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static const struct audit_options opt_none = { .sync = AUDIT_SYNC_NONE };
static const struct audit_options opt_always = { .sync = AUDIT_SYNC_ALWAYS };

static struct audit *open_ok(struct fixture *f, const struct audit_options *o)
{
	struct audit *a = NULL;

	assert_int_equal(audit_open(f->path, o, f->key, &a), 0);
	assert_non_null(a);
	return a;
}

static uint64_t append_ok(struct audit *a, const char *event)
{
	struct audit_record r = AUDIT_RECORD_INIT;
	uint64_t seq = 0;

	r.event = event;
	r.vault = "app";
	r.object = "db";
	r.uid = 1000;
	r.gid = 1000;
	r.pid = 42;
	r.exe = "/usr/bin/cat";
	assert_int_equal(audit_append(a, &r, &seq), 0);
	return seq;
}

static int append_event(struct audit *a, const char *event)
{
	struct audit_record r = AUDIT_RECORD_INIT;

	r.event = event;
	return audit_append(a, &r, NULL);
}

/* All lines of a file, each a heap string. */
struct lines {
	char *l[4096];
	size_t n;
};

static void lines_read(const char *path, struct lines *ls)
{
	struct audit_reader *rd = NULL;
	const char *line;
	size_t len;

	ls->n = 0;
	assert_int_equal(audit_reader_open(path, &rd), 0);
	while (audit_reader_next(rd, &line, &len) > 0) {
		assert_true(ls->n < ELEMENTSOF(ls->l));
		ls->l[ls->n] = strndup(line, len);
		assert_non_null(ls->l[ls->n]);
		ls->n++;
	}
	audit_reader_free(rd);
}

static void lines_write(const char *path, const struct lines *ls)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	for (size_t i = 0; i < ls->n; i++)
		fprintf(fp, "%s\n", ls->l[i]);
	fclose(fp);
}

static void lines_free(struct lines *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		free(ls->l[i]);
	ls->n = 0;
}

static void entry_of(const char *line, struct audit_entry *e)
{
	assert_int_equal(audit_parse_line(line, strlen(line), e), 0);
}

/* verify the given files (NULL: the journal and its rotated files); returns bad_seq. */
static uint64_t verify(struct fixture *f, const char *const *paths, size_t n,
		       const struct audit_anchor *an, struct audit_verify *ret)
{
	struct audit_verify v;
	char **list = NULL;
	size_t ln = 0;

	if (!paths) {
		assert_int_equal(audit_list_files(f->path, &list, &ln), 0);
		paths = (const char *const *)list;
		n = ln;
	}
	assert_int_equal(audit_verify_files(paths, n, f->key, an, &v), 0);
	audit_paths_free(list);
	if (ret)
		*ret = v;
	return v.bad_seq;
}

static void test_open_refusals(void **state)
{
	struct fixture *f = *state;
	struct audit_options bad = { .sync = 7 };
	struct audit_options nostore = { .sync = AUDIT_SYNC_NONE };
	struct audit *a = NULL;
	char p[200];

	assert_int_equal(audit_open(NULL, &opt_none, f->key, &a), -EINVAL);
	assert_int_equal(audit_open("", &opt_none, f->key, &a), -EINVAL);
	assert_int_equal(audit_open(f->path, &bad, f->key, &a), -EINVAL);
	assert_int_equal(audit_open(f->path, NULL, f->key, &a), -EINVAL);
	assert_int_equal(audit_open(f->path, &opt_none, NULL, &a), -EINVAL);
	snprintf(p, sizeof(p), "%s/link", f->dir);
	assert_int_equal(symlink(f->path, p), 0);
	assert_int_equal(audit_open(p, &opt_none, f->key, &a), -ELOOP);
	assert_int_equal(audit_open(f->dir, &opt_none, f->key, &a), -EISDIR);
	snprintf(p, sizeof(p), "%s/fifo", f->dir);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(audit_open(p, &opt_none, f->key, &a), -EINVAL);
	snprintf(p, sizeof(p), "%s/nodir/audit", f->dir);
	assert_int_equal(audit_open(p, &opt_none, f->key, &a), -ENOENT);
	snprintf(p, sizeof(p), "%s/nostore.db", f->dir);
	nostore.store_path = p;
	assert_int_equal(audit_open(f->path, &nostore, f->key, &a), -ENOENT);
	assert_null(a);
	audit_free(NULL);
}

static void test_new_file(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_none);
	struct audit_entry e;
	struct lines ls;
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(append_ok(a, "open"), 1);
	audit_free(a);
	lines_read(f->path, &ls);
	assert_int_equal(ls.n, 1);
	entry_of(ls.l[0], &e);
	assert_int_equal(e.seq, 1);
	for (size_t i = 0; i < CRYPTO_MAC_LEN; i++)
		assert_int_equal(e.prev[i], 0);
	assert_string_equal(e.rec.event, "open");
	assert_int_equal(e.rec.decision, AUDIT_ALLOW);
	assert_int_equal(e.rec.uid, 1000);
	assert_int_equal(e.rec.pid, 42);
	assert_null(e.rec.rule);
	assert_null(e.rec.cgroup);
	assert_int_equal(e.rec.version, 0);
	assert_int_equal(audit_entry_mac_ok(&e, ls.l[0], strlen(ls.l[0]), f->key), 1);
	f->key[0] ^= 1;
	assert_int_equal(audit_entry_mac_ok(&e, ls.l[0], strlen(ls.l[0]), f->key), 0);
	f->key[0] ^= 1;
	assert_non_null(strstr(ls.l[0], "\"rule\":null,\"vault\":\"app\",\"object\":\"db\","
					"\"version\":null,"));
	audit_entry_done(&e);
	lines_free(&ls);
}

/* --- the observer (the daemon's change events) --- */

static int append_deny(struct audit *a, int64_t uid, uint64_t *ret_seq);

struct seen {
	unsigned n;
	uint64_t seq;
	char event[32];
	int decision;
};

static void observer(void *ud, const struct audit_record *rec, uint64_t seq)
{
	struct seen *s = ud;

	s->n++;
	s->seq = seq;
	snprintf(s->event, sizeof(s->event), "%s", rec->event);
	s->decision = rec->decision;
}

/* Called once per record written, after it is written, with its seq; not for a refusal only
 * counted, nor for an append that failed; not once unset. */
static void test_observer(void **state)
{
	struct fixture *f = *state;
	const struct audit_options o = { .sync = AUDIT_SYNC_NONE, .deny_rate = 1, .deny_burst = 1 };
	struct audit *a = open_ok(f, &o);
	struct audit_record bad = AUDIT_RECORD_INIT;
	struct seen s = { 0 };
	uint64_t seq = 0;

	audit_set_observer(NULL, observer, &s); /* no journal: nothing */
	audit_set_observer(a, observer, &s);
	assert_int_equal(append_ok(a, "set"), 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.seq, 1);
	assert_string_equal(s.event, "set");
	assert_int_equal(s.decision, AUDIT_ALLOW);
	/* the first refusal is written (burst 1), the next only counted */
	assert_int_equal(append_deny(a, 1000, &seq), 0);
	assert_int_equal(seq, 2);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.decision, AUDIT_DENY);
	assert_int_equal(append_deny(a, 1000, &seq), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(s.n, 2);
	bad.event = "Not-An-Event";
	assert_int_equal(audit_append(a, &bad, NULL), -EINVAL);
	assert_int_equal(s.n, 2);
	audit_set_observer(a, NULL, NULL);
	assert_int_equal(append_ok(a, "delete"), 3);
	assert_int_equal(s.n, 2);
	audit_free(a);
}

static void test_append_refusals(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_none);
	struct audit_record r = AUDIT_RECORD_INIT;
	char *big = malloc(VAULTFS_AUDIT_FIELD_MAX + 2);
	struct lines ls;

	assert_non_null(big);
	assert_int_equal(audit_append(a, &r, NULL), -EINVAL); /* no event */
	const char *bad_events[] = { "",
				     "Open",
				     "1open",
				     "op en",
				     "op\nen",
				     "-x",
				     "abcdefghijabcdefghijabcdefghijabc" /* 33 */ };
	for (size_t i = 0; i < ELEMENTSOF(bad_events); i++)
		assert_int_equal(append_event(a, bad_events[i]), -EINVAL);
	assert_int_equal(append_event(a, "abcdefghijabcdefghijabcdefghijab"), 0); /* 32 */
	r.event = "open";
	r.decision = 2;
	assert_int_equal(audit_append(a, &r, NULL), -EINVAL);
	r.decision = AUDIT_DENY;
	r.err = 4096;
	assert_int_equal(audit_append(a, &r, NULL), -EINVAL);
	r.err = -EACCES;
	r.uid = -2;
	assert_int_equal(audit_append(a, &r, NULL), -EINVAL);
	r.uid = 0;
	memset(big, 'x', VAULTFS_AUDIT_FIELD_MAX + 1);
	big[VAULTFS_AUDIT_FIELD_MAX + 1] = '\0';
	r.cgroup = big;
	assert_int_equal(audit_append(a, &r, NULL), -EMSGSIZE);
	big[VAULTFS_AUDIT_FIELD_MAX] = '\0';
	assert_int_equal(audit_append(a, &r, NULL), 0);
	/* every string field at the cap, all escaped six-fold: the longest line there is */
	memset(big, 1, VAULTFS_AUDIT_FIELD_MAX);
	r = (struct audit_record){ .event = "open",
				   .rule = big,
				   .vault = big,
				   .object = big,
				   .path = big,
				   .exe = big,
				   .cgroup = big,
				   .unit = big,
				   .container = big,
				   .uid = -1,
				   .gid = -1,
				   .pid = -1 };
	assert_int_equal(audit_append(a, &r, NULL), 0);
	assert_int_equal(audit_append(NULL, &r, NULL), -EINVAL);
	assert_int_equal(audit_append(a, NULL, NULL), -EINVAL);
	audit_free(a);
	lines_read(f->path, &ls);
	assert_int_equal(ls.n, 3); /* only the accepted records */
	assert_true(strlen(ls.l[2]) > 8 * 6 * VAULTFS_AUDIT_FIELD_MAX);
	assert_non_null(strstr(ls.l[1], "\"decision\":\"deny\",\"errno\":\"EACCES\""));
	assert_non_null(strstr(ls.l[1], "\"uid\":0,"));
	lines_free(&ls);
	free(big);
}

static void test_escaping(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_none);
	struct audit_record r = AUDIT_RECORD_INIT;
	const char *nasty = "q\"b\\n\nt\tc\x01\x1f"
			    "d\x7f"
			    "\xc3\xa9"
			    "\xff"
			    "\x80"
			    "\xed\xa0\x80"
			    "\xf4\x90\x80\x80"
			    "\xe2\x82\xac"
			    "\xc0\xaf"
			    "}{,\":";
	struct audit_entry e;
	struct lines ls;

	r.event = "open";
	r.path = nasty;
	r.exe = "";
	r.err = ENOENT;
	r.version = 4294967295u;
	r.uid = 4294967294;
	assert_int_equal(audit_append(a, &r, NULL), 0);
	r.err = -4000; /* no name: a number */
	r.exe = NULL;
	assert_int_equal(audit_append(a, &r, NULL), 0);
	audit_free(a);
	lines_read(f->path, &ls);
	assert_int_equal(ls.n, 2);
	/* no raw control byte, and the exact escaped form */
	for (const char *p = ls.l[0]; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
	assert_non_null(strstr(ls.l[0], "\"path\":\"q\\\"b\\\\n\\u000at\\u0009c\\u0001\\u001fd"
					"\\u007f\xc3\xa9\\u00ff\\u0080\\u00ed\\u00a0\\u0080"
					"\\u00f4\\u0090\\u0080\\u0080\xe2\x82\xac"
					"\\u00c0\\u00af}{,\\\":\""));
	assert_non_null(strstr(ls.l[0], "\"errno\":\"ENOENT\""));
	assert_non_null(strstr(ls.l[0], "\"version\":4294967295,"));
	assert_non_null(strstr(ls.l[0], "\"exe\":\"\","));
	assert_non_null(strstr(ls.l[1], "\"errno\":4000,"));
	entry_of(ls.l[0], &e);
	assert_string_equal(e.rec.path, nasty); /* read back byte for byte */
	assert_string_equal(e.rec.exe, "");
	assert_int_equal(e.rec.err, ENOENT);
	assert_int_equal(e.rec.version, 4294967295u);
	assert_int_equal(e.rec.uid, 4294967294);
	assert_int_equal(e.rec.gid, -1);
	audit_entry_done(&e);
	entry_of(ls.l[1], &e);
	assert_int_equal(e.rec.err, 4000);
	assert_null(e.rec.exe);
	audit_entry_done(&e);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
	lines_free(&ls);
}

/* Replace the first occurrence of from in s by to (into out). */
static void subst(const char *s, const char *from, const char *to, char *out, size_t size)
{
	const char *p = strstr(s, from);

	assert_non_null(p);
	snprintf(out, size, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
}

static void test_parse_strict(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_none);
	struct audit_record r = AUDIT_RECORD_INIT;
	struct audit_entry e;
	struct lines ls;
	char buf[2048];
	const char *edits[][2] = {
		{ "{\"seq\":1,", "{\"seq\":01," },
		{ "{\"seq\":1,", "{\"seq\":0," },
		{ "{\"seq\":1,", "{ \"seq\":1," },
		{ "\"errno\":\"ENOENT\"", "\"errno\":2" },
		{ "\"errno\":\"ENOENT\"", "\"errno\":\"ENOPE\"" },
		{ "\"uid\":7", "\"uid\":-1" },
		{ "\"uid\":7", "\"uid\":7.0" },
		{ "\"vault\":\"v\\u000a\"", "\"vault\":\"v\\n\"" },
		{ "\"vault\":\"v\\u000a\"", "\"vault\":\"v\\u000A\"" },
		{ "\"vault\":\"v\\u000a\"", "\"vault\":\"v\\u0000\"" },
		{ "\"vault\":\"v\\u000a\"", "\"vault\":\"v\\/\"" },
		{ "\"decision\":\"allow\"", "\"decision\":\"ALLOW\"" },
		{ "\"rule\":null,\"vault\"", "\"vault\"" },
		{ ".", "," },
		{ "T", " " },
		{ "\"version\":null", "\"version\":0" },
		{ "\"event\":\"open\"", "\"event\":\"Open\"" },
		{ "\"event\":\"open\"", "\"event\":null" },
		{ "\"}", "\",\"x\":1}" },
	};

	r.event = "open";
	r.vault = "v\n";
	r.err = ENOENT;
	r.uid = 7;
	assert_int_equal(audit_append(a, &r, NULL), 0);
	audit_free(a);
	lines_read(f->path, &ls);
	assert_int_equal(ls.n, 1);
	entry_of(ls.l[0], &e);
	audit_entry_done(&e);
	for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
		subst(ls.l[0], edits[i][0], edits[i][1], buf, sizeof(buf));
		assert_int_equal(audit_parse_line(buf, strlen(buf), &e), -EBADMSG);
	}
	/* uppercase hex in the mac */
	snprintf(buf, sizeof(buf), "%s", ls.l[0]);
	for (char *p = strstr(buf, "\"mac\":\"") + 7; *p != '"'; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(audit_parse_line(buf, strlen(buf), &e), -EBADMSG);
	assert_int_equal(audit_parse_line(ls.l[0], strlen(ls.l[0]) - 1, &e), -EBADMSG);
	assert_int_equal(audit_parse_line("", 0, &e), -EBADMSG);
	lines_free(&ls);
}

static void test_chain_across_reopen(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_always);
	struct audit_entry e1, e2;
	struct lines ls;

	for (uint64_t i = 1; i <= 5; i++)
		assert_int_equal(append_ok(a, "set"), i);
	audit_free(a);
	a = open_ok(f, &opt_none);
	for (uint64_t i = 6; i <= 8; i++)
		assert_int_equal(append_ok(a, "open"), i);
	assert_int_equal(audit_flush(a), 0);
	audit_free(a);
	lines_read(f->path, &ls);
	assert_int_equal(ls.n, 8);
	entry_of(ls.l[4], &e1);
	entry_of(ls.l[5], &e2);
	assert_int_equal(e2.seq, 6);
	assert_memory_equal(e2.prev, e1.mac, CRYPTO_MAC_LEN);
	audit_entry_done(&e1);
	audit_entry_done(&e2);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
	/* another key: the last record does not verify, so the chain is not continued */
	f->key[3] ^= 0x40;
	assert_int_equal(audit_open(f->path, &opt_none, f->key, &(struct audit *){ NULL }),
			 -EBADMSG);
	f->key[3] ^= 0x40;
	lines_free(&ls);
}

/* Where a journal's data ends: before the zeros a writer with sync = always allocates. */
static off_t data_end(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);
	char buf[4096];

	assert_true(end >= 0);
	while (end > 0) {
		size_t w = end < (off_t)sizeof(buf) ? (size_t)end : sizeof(buf), i = w;

		assert_int_equal(pread(fd, buf, w, end - (off_t)w), (ssize_t)w);
		while (i > 0 && buf[i - 1] == 0)
			i--;
		end -= (off_t)(w - i);
		if (i > 0)
			break;
	}
	return end;
}

/* Write s where the journal's data ends, as a peer would. */
static void append_raw(const char *path, const char *s)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, s, strlen(s), data_end(fd)), (ssize_t)strlen(s));
	close(fd);
}

static void test_torn_tail(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_always);
	struct audit_verify v;
	struct audit_entry e;
	struct lines ls;

	for (int i = 0; i < 3; i++)
		append_ok(a, "set");
	audit_free(a);
	append_raw(f->path, "{\"seq\":4,\"time\":\"20");
	assert_int_equal(verify(f, NULL, 0, NULL, &v), 4);
	assert_non_null(strstr(v.why, "torn"));
	a = open_ok(f, &opt_always);
	assert_int_equal(append_ok(a, "open"), 5);
	audit_free(a);
	lines_read(f->path, &ls);
	assert_int_equal(ls.n, 5);
	entry_of(ls.l[3], &e);
	assert_int_equal(e.seq, 4);
	assert_string_equal(e.rec.event, "journal-recovered");
	assert_string_equal(e.rec.rule, "torn tail: 19 bytes cut");
	assert_string_equal(e.rec.path, f->path);
	audit_entry_done(&e);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
	lines_free(&ls);
	/* a file that is one torn line only */
	assert_int_equal(truncate(f->path, 0), 0);
	append_raw(f->path, "{\"seq\":1,");
	a = open_ok(f, &opt_none);
	assert_int_equal(append_ok(a, "open"), 2);
	audit_free(a);
	lines_read(f->path, &ls);
	assert_int_equal(ls.n, 2);
	assert_non_null(strstr(ls.l[0], "\"event\":\"journal-recovered\""));
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
	lines_free(&ls);
}

static void test_bad_last_record(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_none);
	struct audit *b = NULL;
	struct lines ls;

	for (int i = 0; i < 3; i++)
		append_ok(a, "set");
	audit_free(a);
	lines_read(f->path, &ls);
	ls.l[2][strlen(ls.l[2]) - 5] ^= 1; /* a mac digit */
	lines_write(f->path, &ls);
	assert_int_equal(audit_open(f->path, &opt_none, f->key, &b), -EBADMSG);
	ls.l[2][strlen(ls.l[2]) - 5] ^= 1;
	ls.l[2][10] = 'X'; /* not canonical at all */
	lines_write(f->path, &ls);
	assert_int_equal(audit_open(f->path, &opt_none, f->key, &b), -EBADMSG);
	assert_null(b);
	lines_free(&ls);
}

static void test_two_handles(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_always);
	struct audit *b = open_ok(f, &opt_none);

	for (uint64_t i = 1; i <= 20; i += 2) {
		assert_int_equal(append_ok(a, "open"), i);
		assert_int_equal(append_ok(b, "set"), i + 1);
	}
	audit_free(a);
	assert_int_equal(append_ok(b, "set"), 21);
	audit_free(b);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
}

static void test_removed(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_none);

	append_ok(a, "open");
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(append_event(a, "open"), -ESTALE);
	/* sticky, even once a file is back at the path */
	test_write_file(f->path, "", 0, 0600);
	assert_int_equal(append_event(a, "open"), -ESTALE);
	assert_int_equal(audit_flush(a), -ESTALE);
	audit_free(a);
}

static void test_replaced(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_always);
	char other[200];

	append_ok(a, "open");
	append_ok(a, "open");
	audit_free(a);
	a = open_ok(f, &opt_always);
	snprintf(other, sizeof(other), "%s/copy", f->dir);
	/* an identical copy put in its place is still another file */
	assert_int_equal(link(f->path, other), 0);
	{
		struct lines ls;

		lines_read(f->path, &ls);
		assert_int_equal(unlink(other), 0);
		lines_write(other, &ls);
		lines_free(&ls);
	}
	assert_int_equal(rename(other, f->path), 0);
	assert_int_equal(append_event(a, "open"), -ESTALE);
	audit_free(a);
	/* a symlink put in its place */
	a = open_ok(f, &opt_always);
	snprintf(other, sizeof(other), "%s/real", f->dir);
	assert_int_equal(rename(f->path, other), 0);
	assert_int_equal(symlink(other, f->path), 0);
	assert_int_equal(append_event(a, "open"), -ESTALE);
	audit_free(a);
}

static void test_shortened(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_none);

	append_ok(a, "open");
	append_ok(a, "open");
	assert_int_equal(truncate(f->path, 0), 0);
	assert_int_equal(append_event(a, "open"), -ESTALE);
	audit_free(a);
}

static void test_peer_crash(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_always);
	struct audit *b = open_ok(f, &opt_always);
	struct audit_entry e;
	struct lines ls;

	assert_int_equal(append_ok(a, "open"), 1);
	assert_int_equal(append_ok(b, "open"), 2);
	/* a peer died in the middle of its write, after its lock was gone */
	append_raw(f->path, "{\"seq\":3,\"time\":");
	assert_int_equal(append_ok(a, "set"), 4);
	assert_int_equal(append_ok(b, "set"), 5);
	audit_free(a);
	audit_free(b);
	lines_read(f->path, &ls);
	assert_int_equal(ls.n, 5);
	entry_of(ls.l[2], &e);
	assert_string_equal(e.rec.event, "journal-recovered");
	assert_string_equal(e.rec.rule, "torn tail: 16 bytes cut");
	audit_entry_done(&e);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
	lines_free(&ls);
	/* and a peer that appended a forged line: refused, sticky */
	a = open_ok(f, &opt_always);
	append_raw(f->path, "{\"seq\":6}\n");
	assert_int_equal(append_event(a, "open"), -EBADMSG);
	assert_int_equal(append_event(a, "open"), -EBADMSG);
	audit_free(a);
}

/* Let the journal grow by at most 100 bytes (RLIMIT_FSIZE; SIGXFSZ ignored) until
 * fsize_unlimit. */
static void fsize_limit(struct fixture *f, struct rlimit *ret_old)
{
	struct rlimit lim;
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, ret_old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = (struct rlimit){ .rlim_cur = (rlim_t)st.st_size + 100,
			       .rlim_max = ret_old->rlim_max };
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

static void fsize_unlimit(const struct rlimit *old)
{
	assert_int_equal(setrlimit(RLIMIT_FSIZE, old), 0);
	signal(SIGXFSZ, SIG_DFL);
}

static void test_file_size_limit(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_none); /* always allocates ahead: see test_prealloc */
	struct rlimit old;
	struct stat st;

	append_ok(a, "open");
	assert_int_equal(stat(f->path, &st), 0);
	fsize_limit(f, &old);
	/* a short write, then EFBIG: the part that made it is cut off again */
	assert_int_equal(append_event(a, "open"), -EFBIG);
	assert_int_equal(append_event(a, "set"), -EFBIG);
	fsize_unlimit(&old);
	{
		struct stat st2;

		assert_int_equal(stat(f->path, &st2), 0);
		assert_int_equal(st2.st_size, st.st_size);
	}
	/* not sticky: room again, the chain goes on at the next seq */
	assert_int_equal(append_ok(a, "open"), 2);
	audit_free(a);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
}

struct thread_arg {
	struct audit *a;
	int n;
	uint64_t seqs[400];
	int errors;
};

static void *appender(void *p)
{
	struct thread_arg *t = p;

	for (int i = 0; i < t->n; i++) {
		struct audit_record r = AUDIT_RECORD_INIT;

		r.event = "open";
		r.pid = i;
		if (audit_append(t->a, &r, &t->seqs[i]) < 0)
			t->errors++;
	}
	return NULL;
}

static void threads_one_chain(struct fixture *f, int sync)
{
	struct audit_options o = { .sync = sync, .store_path = f->store };
	struct audit *a = open_ok(f, &o);
	struct thread_arg t[4] = {};
	pthread_t th[4];
	uint8_t *seen = calloc(801, 1);
	struct audit_anchor an;
	struct store *s = NULL;

	assert_non_null(seen);
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thread_arg){ .a = a, .n = 200 };
		assert_int_equal(pthread_create(&th[i], NULL, appender, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(t[i].errors, 0);
		for (int k = 0; k < 200; k++) {
			assert_true(t[i].seqs[k] >= 1 && t[i].seqs[k] <= 800);
			assert_int_equal(seen[t[i].seqs[k]], 0);
			seen[t[i].seqs[k]] = 1;
			if (k > 0) /* one producer's records in its order */
				assert_true(t[i].seqs[k] > t[i].seqs[k - 1]);
		}
	}
	audit_free(a);
	assert_int_equal(store_open(f->store, STORE_READONLY, &s), 0);
	assert_int_equal(audit_anchor_load(s, f->key, &an), 0);
	assert_int_equal(an.seq, 800);
	assert_int_equal(verify(f, NULL, 0, &an, NULL), 0);
	store_free(s);
	free(seen);
}

static void test_threads_always(void **state)
{
	threads_one_chain(*state, AUDIT_SYNC_ALWAYS);
}

static void test_threads_batch(void **state)
{
	threads_one_chain(*state, AUDIT_SYNC_BATCH);
}

static void test_threads_none(void **state)
{
	threads_one_chain(*state, AUDIT_SYNC_NONE);
}

/* The storm of test_batch_storm, in a process of its own under tests/lib/fsync-gate.so (every
 * write of the journal slow): rounds of 4 threads of 3 appends each, for 8 s; a round that
 * does not end within 3 s (a record nobody writes) is killed by SIGALRM. */
static void *storm_appender(void *p)
{
	for (int i = 0; i < 3; i++)
		if (append_event(p, "open") < 0)
			_exit(3);
	return NULL;
}

static int storm(const char *dir)
{
	char path[256], store[256];
	struct audit_options o = { .sync = AUDIT_SYNC_BATCH, .store_path = store };
	uint8_t key[CRYPTO_KEY_LEN];
	struct audit *a = NULL;
	pthread_t th[4];
	time_t end = time(NULL) + 8;

	snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
	snprintf(store, sizeof(store), "%s/vault.db", dir);
	fixture_key(key);
	if (audit_open(path, &o, key, &a) < 0)
		return 2;
	while (time(NULL) < end) {
		alarm(3);
		for (int i = 0; i < 4; i++)
			if (pthread_create(&th[i], NULL, storm_appender, a) != 0)
				return 4;
		for (int i = 0; i < 4; i++)
			pthread_join(th[i], NULL);
		alarm(0);
	}
	audit_free(a);
	return 0;
}

/* batch: producers that write their own groups while the writer thread syncs behind them
 * (submit, sync_behind) leave no record unwritten for the thread to find. A producer that
 * wrote while the sync ran told nobody that a group had queued behind it, and the thread,
 * waiting for that write to end, slept on: the last producer of a burst waited for ever (CI
 * hung in test-audit). Writes are made slow (2 ms, fsync-gate's FSYNC_GATE_WRITE_US) so
 * that the window is wide: the old code failed it in 4 runs of 5 here. */
static void test_batch_storm(void **state)
{
	struct fixture *f = *state;
	char exe[PATH_MAX], gate[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	pid_t pid;
	int st;

	assert_true(n > 0);
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	assert_non_null(slash);
	snprintf(gate, sizeof(gate), "%.*s/fsync-gate.so", (int)(slash - exe), exe);
	assert_int_equal(access(gate, R_OK), 0); /* make units builds it */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("LD_PRELOAD", gate, 1);
		setenv("FSYNC_GATE_PATH", f->path, 1);
		setenv("FSYNC_GATE_WRITE_US", "2000", 1);
		/* under ASan (make SANITIZE=address) the preload comes first: allowed here */
		if (getenv("ASAN_OPTIONS")) {
			char o[512];

			snprintf(o, sizeof(o), "%s:verify_asan_link_order=0",
				 getenv("ASAN_OPTIONS"));
			setenv("ASAN_OPTIONS", o, 1);
		} else {
			setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 1);
		}
		execl(exe, exe, "--storm", f->dir, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		fail_msg("a burst's appends never ended (signal %d): a record left unwritten",
			 WTERMSIG(st));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
}

static void test_rotation(void **state)
{
	struct fixture *f = *state;
	struct audit_options o = { .sync = AUDIT_SYNC_BATCH, .rotate_size = 2000 };
	struct audit *a = open_ok(f, &o);
	struct audit_verify v;
	struct audit_entry e;
	struct lines ls;
	char **list = NULL;
	size_t n = 0;
	char p1[200];

	for (uint64_t i = 1; i <= 30; i++)
		assert_true(append_ok(a, "open") > 0);
	audit_free(a);
	assert_int_equal(audit_list_files(f->path, &list, &n), 0);
	assert_true(n >= 4);
	snprintf(p1, sizeof(p1), "%s.%zu", f->path, n - 1);
	assert_string_equal(list[0], p1);
	assert_string_equal(list[n - 1], f->path);
	assert_null(list[n]);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		assert_int_equal(stat(list[i], &st), 0);
		assert_true(st.st_size <= 2000);
		assert_int_equal(st.st_mode & 07777, 0600);
	}
	/* one chain: 30 records and n - 1 rotate records */
	assert_int_equal(verify(f, NULL, 0, NULL, &v), 0);
	assert_int_equal(v.first_seq, 1);
	assert_int_equal(v.last_seq, 30 + n - 1);
	assert_false(v.mid_chain);
	lines_read(f->path, &ls);
	entry_of(ls.l[0], &e);
	assert_string_equal(e.rec.event, "rotate");
	snprintf(p1, sizeof(p1), "%s.1", f->path);
	assert_string_equal(e.rec.path, p1);
	audit_entry_done(&e);
	lines_free(&ls);
	/* the newest two files alone: a chain that starts at a rotate record */
	assert_int_equal(verify(f, (const char *const *)list + n - 2, 2, NULL, &v), 0);
	assert_true(v.mid_chain);
	/* files out of order, or one left out in the middle */
	{
		const char *swapped[] = { list[1], list[0] };
		const char *gap[] = { list[0], list[2] };

		assert_true(verify(f, swapped, 2, NULL, NULL) > 0);
		assert_true(verify(f, gap, 2, NULL, NULL) > 0);
	}
	/* reopen continues in the current file */
	a = open_ok(f, &o);
	assert_int_equal(append_ok(a, "set"), 30 + n);
	audit_free(a);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
	audit_paths_free(list);
}

static bool has_zero(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[4096];
	bool z = false;
	ssize_t n;

	assert_true(fd >= 0);
	while (!z && (n = read(fd, buf, sizeof(buf))) > 0)
		z = memchr(buf, 0, (size_t)n) != NULL;
	close(fd);
	return z;
}

/* sync = always allocates the file ahead of its end (a sync then flushes data only): readers
 * stop where the data ends and see what fills it later; a writer that dies leaves zeros the
 * next one writes into (no record lost, nothing called torn); holes a crash left in the part
 * not yet synced are cut as torn; the zeros go when the writer ends and before a rotation. */
static void test_prealloc(void **state)
{
	struct fixture *f = *state;
	struct audit_options rot = { .sync = AUDIT_SYNC_ALWAYS, .rotate_size = 3000 };
	struct audit *a = open_ok(f, &opt_always);
	struct audit_reader *rd = NULL;
	struct audit_entry e;
	const char *line;
	struct lines ls;
	struct stat st;
	size_t len;
	pid_t pid;
	int status, fd;
	off_t end;

	assert_int_equal(append_ok(a, "open"), 1);
	assert_int_equal(stat(f->path, &st), 0);
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	end = data_end(fd);
	close(fd);
	assert_true(st.st_size >= (off_t)1 << 20 && end < st.st_size); /* a step: 1 MiB */
	/* a reader stops at the data's end, and goes on when it is filled */
	assert_int_equal(audit_reader_open(f->path, &rd), 0);
	assert_int_equal(audit_reader_next(rd, &line, &len), 1);
	assert_int_equal(audit_reader_next(rd, &line, &len), 0);
	assert_int_equal(audit_reader_pending(rd), 0);
	assert_int_equal(append_ok(a, "set"), 2);
	assert_int_equal(audit_reader_next(rd, &line, &len), 1);
	assert_non_null(strstr(line, "\"seq\":2,"));
	assert_int_equal(audit_reader_next(rd, &line, &len), 0);
	audit_reader_free(rd);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0); /* the live file verifies */
	/* a writer killed: its zeros stay; the next one writes into them, cuts nothing */
	audit_free(a);
	assert_false(has_zero(f->path)); /* a writer that ends cuts its zeros */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct audit *c = NULL;
		struct audit_record r = AUDIT_RECORD_INIT;

		r.event = "get";
		if (audit_open(f->path, &opt_always, f->key, &c) < 0 ||
		    audit_append(c, &r, NULL) < 0)
			_exit(1);
		_exit(0); /* no audit_free: as kill -9 would */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(has_zero(f->path));
	a = open_ok(f, &opt_always);
	assert_int_equal(append_ok(a, "open"), 4);
	audit_free(a);
	assert_false(has_zero(f->path));
	lines_read(f->path, &ls);
	assert_int_equal(ls.n, 4);
	lines_free(&ls);
	/* a crash that left a hole in the part not yet synced: cut from the hole on */
	a = open_ok(f, &opt_always);
	assert_int_equal(append_ok(a, "set"), 5);
	fd = open(f->path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	end = data_end(fd);
	assert_int_equal(pwrite(fd, "\0\0\0\0", 4, end - 40), 4);
	close(fd);
	{
		/* a's end would cut its zeros and the hole stays in the middle of a line: copy
		 * the file as the crash left it, let a go, and put the copy back */
		char *copy = NULL;
		char cmd[600];

		assert_true(asprintf(&copy, "%s.crash", f->path) > 0);
		snprintf(cmd, sizeof(cmd), "cp --sparse=never '%s' '%s'", f->path, copy);
		assert_int_equal(system(cmd), 0);
		audit_free(a);
		assert_int_equal(rename(copy, f->path), 0);
		free(copy);
	}
	a = open_ok(f, &opt_always);
	assert_int_equal(append_ok(a, "open"), 6);
	audit_free(a);
	lines_read(f->path, &ls);
	assert_int_equal(ls.n, 6);
	entry_of(ls.l[4], &e);
	assert_int_equal(e.seq, 5);
	assert_string_equal(e.rec.event, "journal-recovered");
	assert_non_null(strstr(e.rec.rule, "torn tail: "));
	audit_entry_done(&e);
	lines_free(&ls);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
	/* rotation: the file rotated away ends with its last line; none is allocated past
	 * the rotation size */
	a = open_ok(f, &rot);
	for (int i = 0; i < 20; i++)
		assert_true(append_ok(a, "open") > 0);
	{
		char p1[200];

		snprintf(p1, sizeof(p1), "%s.1", f->path);
		assert_false(has_zero(p1));
		assert_int_equal(stat(f->path, &st), 0);
		assert_true(st.st_size <= 3000);
	}
	audit_free(a);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
	/* bytes after the zeros (a torn write, or a writer of old that appended): verify calls
	 * them torn, as the next writer does, which cuts them */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct audit *c = NULL;

		_exit(audit_open(f->path, &opt_always, f->key, &c) < 0 || append_ok(c, "get") == 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(has_zero(f->path));
	fd = open(f->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"seq\":99,", 10), 10);
	close(fd);
	{
		struct audit_verify v;

		assert_true(verify(f, NULL, 0, NULL, &v) > 0);
		assert_non_null(strstr(v.why, "torn"));
	}
	a = open_ok(f, &opt_always);
	assert_true(append_ok(a, "open") > 0);
	audit_free(a);
	assert_false(has_zero(f->path));
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
}

/* Two writers of one journal and store (a vaultfsd and the one taking its session over):
 * the new one advances the store's epoch; the old one's later anchors must not name the
 * older epoch again, or the next start (at the new epoch) refuses the journal (-ESTALE). */
static void test_anchor_epoch_peer(void **state)
{
	struct fixture *f = *state;
	struct audit_options o5 = {
		.sync = AUDIT_SYNC_BATCH, .store_path = f->store, .epoch = 5, .epoch_min = 5
	};
	struct audit_options o6 = o5;
	struct audit *old = open_ok(f, &o5), *new;
	struct audit_anchor an;
	struct store *s = NULL;

	append_ok(old, "open");
	assert_int_equal(audit_flush(old), 0);
	new = open_ok(f, &o5);
	assert_int_equal(audit_set_epoch(new, 6), 0); /* the new daemon's start */
	append_ok(old, "handover");		      /* the old one's last records and anchor */
	audit_free(old);
	assert_int_equal(store_open(f->store, STORE_READONLY, &s), 0);
	assert_int_equal(audit_anchor_load(s, f->key, &an), 0);
	assert_int_equal(an.epoch, 6);
	store_free(s);
	audit_free(new);
	o6.epoch = o6.epoch_min = 6;
	new = open_ok(f, &o6);
	append_ok(new, "open");
	audit_free(new);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
}

static void test_rotation_two_handles(void **state)
{
	struct fixture *f = *state;
	struct audit_options o = { .sync = AUDIT_SYNC_NONE, .rotate_size = 1500 };
	struct audit *a = open_ok(f, &o);
	struct audit *b = open_ok(f, &o);
	struct audit_verify v;
	uint64_t last = 0;

	for (int i = 0; i < 40; i++) {
		uint64_t s = append_ok(i % 3 ? a : b, "open");

		assert_true(s > last);
		last = s;
	}
	audit_free(a);
	audit_free(b);
	assert_int_equal(verify(f, NULL, 0, NULL, &v), 0);
	assert_int_equal(v.last_seq, last);
	assert_int_equal(v.first_seq, 1);
}

static void test_rotation_interrupted(void **state)
{
	struct fixture *f = *state;
	struct audit_options o = { .sync = AUDIT_SYNC_ALWAYS, .rotate_size = 1500 };
	struct audit *a = open_ok(f, &o);
	char p1[200], pnew[200];
	struct stat st;

	snprintf(p1, sizeof(p1), "%s.1", f->path);
	snprintf(pnew, sizeof(pnew), "%s.new", f->path);
	append_ok(a, "open");
	audit_free(a);
	/* a crash between link(PATH, PATH.1) and the rename of the new file ... */
	assert_int_equal(link(f->path, p1), 0);
	/* ... that had left its new file behind too */
	test_write_file(pnew, "", 0, 0600);
	a = open_ok(f, &o);
	assert_int_equal(stat(p1, &st), -1);
	assert_int_equal(errno, ENOENT);
	for (int i = 0; i < 4; i++)
		append_ok(a, "open"); /* rotates */
	audit_free(a);
	assert_int_equal(stat(p1, &st), 0);
	assert_int_equal(stat(pnew, &st), -1);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
}

static void load_anchor(struct fixture *f, struct audit_anchor *an, int expect)
{
	struct store *s = NULL;

	assert_int_equal(store_open(f->store, 0, &s), 0);
	assert_int_equal(audit_anchor_load(s, f->key, an), expect);
	store_free(s);
}

static void test_anchor(void **state)
{
	struct fixture *f = *state;
	struct audit_options o = { .sync = AUDIT_SYNC_ALWAYS, .store_path = f->store };
	struct audit *a = NULL;
	struct audit_anchor an;
	struct audit_verify v;
	struct store *s = NULL;
	struct lines ls;
	struct stat st;

	load_anchor(f, &an, -ENOENT);
	a = open_ok(f, &o);
	for (int i = 0; i < 5; i++)
		append_ok(a, "set");
	/* always: anchored at each sync, before the producer returns or right after */
	assert_int_equal(audit_flush(a), 0);
	load_anchor(f, &an, 0);
	assert_int_equal(an.seq, 5);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(an.ino, st.st_ino);
	audit_free(a);
	assert_int_equal(verify(f, NULL, 0, &an, &v), 0);
	assert_int_equal(v.anchor, 1);
	/* cut the last record off: found by verify, refused by the writer */
	lines_read(f->path, &ls);
	free(ls.l[--ls.n]);
	lines_write(f->path, &ls);
	assert_int_equal(verify(f, NULL, 0, &an, &v), 5);
	assert_non_null(strstr(v.why, "anchor is at seq 5"));
	assert_int_equal(audit_open(f->path, &o, f->key, &a), -EBADMSG);
	/* an empty file in its place too */
	assert_int_equal(truncate(f->path, 0), 0);
	assert_int_equal(verify(f, NULL, 0, &an, &v), 1);
	assert_int_equal(audit_open(f->path, &o, f->key, &a), -EBADMSG);
	/* without the anchor (another store) the same file is accepted */
	o.store_path = NULL;
	a = open_ok(f, &o);
	audit_free(a);
	lines_free(&ls);
	/* a forged anchor is refused */
	assert_int_equal(store_open(f->store, 0, &s), 0);
	assert_int_equal(store_meta_set(s, AUDIT_ANCHOR_KEY, "v1 1 00 0 0 00", 14), 0);
	assert_int_equal(audit_anchor_load(s, f->key, &an), -EBADMSG);
	store_free(s);
	o.store_path = f->store;
	assert_int_equal(audit_open(f->path, &o, f->key, &a), -EBADMSG);
}

static void test_anchor_modes(void **state)
{
	struct fixture *f = *state;
	struct audit_options o = { .sync = AUDIT_SYNC_NONE, .store_path = f->store };
	struct audit *a = open_ok(f, &o);
	struct audit_anchor an;

	for (int i = 0; i < 3; i++)
		append_ok(a, "set");
	audit_free(a); /* none: anchored on close */
	load_anchor(f, &an, 0);
	assert_int_equal(an.seq, 3);
	o.sync = AUDIT_SYNC_BATCH;
	a = open_ok(f, &o);
	append_ok(a, "set");
	usleep(400 * 1000); /* the flusher syncs and anchors within 100 ms */
	load_anchor(f, &an, 0);
	assert_int_equal(an.seq, 4);
	append_ok(a, "set");
	assert_int_equal(audit_flush(a), 0);
	load_anchor(f, &an, 0);
	assert_int_equal(an.seq, 5);
	audit_free(a);
	/* batch under steady load (the writer never idle): still synced and anchored */
	{
		struct thread_arg t[4] = {};
		pthread_t th[4];
		int r = 0;

		a = open_ok(f, &o);
		for (int i = 0; i < 4; i++) {
			t[i] = (struct thread_arg){ .a = a, .n = 400 };
			assert_int_equal(pthread_create(&th[i], NULL, appender, &t[i]), 0);
		}
		for (int i = 0; i < 50 && r == 0; i++) {
			usleep(10 * 1000);
			load_anchor(f, &an, 0);
			r = an.seq > 5 ? 1 : 0;
		}
		for (int i = 0; i < 4; i++)
			assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(r, 1);
		audit_free(a);
		load_anchor(f, &an, 0);
		assert_int_equal(an.seq, 5 + 4 * 400);
	}
	/* none: every VAULTFS_AUDIT_ANCHOR_EVERY records */
	o.sync = AUDIT_SYNC_NONE;
	a = open_ok(f, &o);
	for (unsigned i = 0; i < VAULTFS_AUDIT_ANCHOR_EVERY; i++)
		append_event(a, "open");
	/* the anchor is written right after the producer is let go: wait for it */
	for (int i = 0; i < 100; i++) {
		load_anchor(f, &an, 0);
		if (an.seq == 5 + 4 * 400 + VAULTFS_AUDIT_ANCHOR_EVERY)
			break;
		usleep(20 * 1000);
	}
	assert_int_equal(an.seq, 5 + 4 * 400 + VAULTFS_AUDIT_ANCHOR_EVERY);
	audit_free(a);
}

/* What the durability callback was told: every call, in order. */
struct told {
	pthread_mutex_t lock;
	uint64_t ticket[64];
	int r[64];
	size_t n;
};

static void on_durable(void *ud, uint64_t ticket, int r)
{
	struct told *t = ud;

	pthread_mutex_lock(&t->lock);
	if (t->n < ELEMENTSOF(t->ticket)) {
		t->ticket[t->n] = ticket;
		t->r[t->n] = r;
		t->n++;
	}
	pthread_mutex_unlock(&t->lock);
}

static int nowait_event(struct audit *a, const char *event, uint64_t *ret_ticket)
{
	struct audit_record r = AUDIT_RECORD_INIT;

	r.event = event;
	r.vault = "app";
	r.object = "db";
	r.uid = 1000;
	return audit_append_nowait(a, &r, ret_ticket);
}

/* audit_append_nowait (group commit for sync = always): tickets in order, every one told
 * durable once in ticket order (before a later blocking append or a flush returns), the records
 * in the file in that order; batch and none: written at once, ticket 0; a sticky failure tells
 * every ticket given with it, and later ones are refused; the anchor follows within a period. */
static void test_nowait(void **state)
{
	struct fixture *f = *state;
	struct audit_options o = { .sync = AUDIT_SYNC_ALWAYS, .store_path = f->store };
	struct told t = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct audit *a = open_ok(f, &o);
	struct audit_anchor an;
	struct lines ls;
	uint64_t tk = 0, last = 0;
	int err = 1;

	assert_int_equal(audit_append_nowait(NULL, NULL, &tk), -EINVAL);
	assert_int_equal(nowait_event(a, "Bad", &tk), -EINVAL);
	audit_set_durable(a, on_durable, &t);
	for (uint64_t i = 1; i <= 20; i++) {
		assert_int_equal(nowait_event(a, "open", &tk), 0);
		assert_int_equal(tk, i);
	}
	/* a blocking append returns after every ticket queued before it was told */
	append_ok(a, "set");
	assert_int_equal(audit_durable(a, &err), 20);
	assert_int_equal(err, 0);
	pthread_mutex_lock(&t.lock);
	assert_true(t.n >= 1);
	for (size_t i = 0; i < t.n; i++) {
		assert_int_equal(t.r[i], 0);
		assert_true(t.ticket[i] > last); /* in order, never twice */
		last = t.ticket[i];
	}
	assert_int_equal(last, 20);
	pthread_mutex_unlock(&t.lock);
	lines_read(f->path, &ls);
	assert_int_equal(ls.n, 21);
	for (size_t i = 0; i < 20; i++) {
		char want[32];

		snprintf(want, sizeof(want), "{\"seq\":%zu,", i + 1);
		assert_true(strncmp(ls.l[i], want, strlen(want)) == 0);
		assert_non_null(strstr(ls.l[i], "\"event\":\"open\""));
	}
	assert_non_null(strstr(ls.l[20], "\"event\":\"set\""));
	lines_free(&ls);
	/* always: the anchor is not written at every group, but follows within a period */
	an.seq = 0;
	for (int i = 0; i < 100 && an.seq != 21; i++) {
		struct store *s = NULL;

		usleep(20 * 1000);
		assert_int_equal(store_open(f->store, 0, &s), 0);
		if (audit_anchor_load(s, f->key, &an) < 0)
			an.seq = 0; /* none yet */
		store_free(s);
	}
	assert_int_equal(an.seq, 21);
	/* flush: told too */
	assert_int_equal(nowait_event(a, "open", &tk), 0);
	assert_int_equal(tk, 21);
	assert_int_equal(audit_flush(a), 0);
	assert_int_equal(audit_durable(a, NULL), 21);
	load_anchor(f, &an, 0);
	assert_int_equal(an.seq, 22);
	/* the file removed under the writer: sticky -ESTALE, told for every ticket given */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(nowait_event(a, "open", &tk), 0);
	assert_int_equal(tk, 22);
	assert_int_equal(append_event(a, "open"), -ESTALE);
	assert_int_equal(audit_durable(a, &err), 22);
	assert_int_equal(err, -ESTALE);
	pthread_mutex_lock(&t.lock);
	assert_int_equal(t.ticket[t.n - 1], 22);
	assert_int_equal(t.r[t.n - 1], -ESTALE);
	pthread_mutex_unlock(&t.lock);
	assert_int_equal(nowait_event(a, "open", &tk), -ESTALE);
	audit_set_durable(a, NULL, NULL);
	audit_free(a);
	/* batch: nothing to wait for, the record is written when it returns */
	o.sync = AUDIT_SYNC_BATCH;
	o.store_path = NULL;
	a = open_ok(f, &o);
	tk = 7;
	assert_int_equal(nowait_event(a, "open", &tk), 0);
	assert_int_equal(tk, 0);
	lines_read(f->path, &ls);
	assert_int_equal(ls.n, 1);
	lines_free(&ls);
	audit_free(a);
}

static void test_verify_tamper(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_none);
	struct audit_verify v;
	struct lines ls;
	char *saved, buf[2048];

	for (int i = 0; i < 6; i++)
		append_ok(a, i % 2 ? "open" : "set");
	audit_free(a);
	lines_read(f->path, &ls);
	assert_int_equal(verify(f, NULL, 0, NULL, &v), 0);
	assert_int_equal(v.records, 6);

	/* one field edited, still canonical */
	saved = ls.l[2];
	subst(saved, "\"uid\":1000", "\"uid\":1001", buf, sizeof(buf));
	ls.l[2] = buf;
	lines_write(f->path, &ls);
	assert_int_equal(verify(f, NULL, 0, NULL, &v), 3);
	assert_non_null(strstr(v.why, "MAC"));
	/* a line dropped */
	ls.l[2] = saved;
	memmove(&ls.l[2], &ls.l[3], 3 * sizeof(char *));
	ls.n = 5;
	lines_write(f->path, &ls);
	assert_int_equal(verify(f, NULL, 0, NULL, &v), 3);
	assert_non_null(strstr(v.why, "missing"));
	/* the first line dropped */
	lines_write(f->path, &(struct lines){ .l = { ls.l[1], ls.l[2] }, .n = 2 });
	assert_int_equal(verify(f, NULL, 0, NULL, &v), 1);
	/* two swapped */
	memmove(&ls.l[3], &ls.l[2], 3 * sizeof(char *));
	ls.l[2] = saved;
	ls.n = 6;
	ls.l[2] = ls.l[3];
	ls.l[3] = saved;
	lines_write(f->path, &ls);
	assert_int_equal(verify(f, NULL, 0, NULL, &v), 3);
	/* a forged line inserted: a copy of seq 3 renumbered */
	ls.l[3] = ls.l[2];
	ls.l[2] = saved;
	subst(ls.l[2], "{\"seq\":3,", "{\"seq\":4,", buf, sizeof(buf));
	memmove(&ls.l[4], &ls.l[3], 3 * sizeof(char *));
	ls.l[3] = buf;
	ls.n = 7;
	lines_write(f->path, &ls);
	assert_int_equal(verify(f, NULL, 0, NULL, &v), 4);
	/* a line that is not a record */
	ls.l[3] = "garbage";
	lines_write(f->path, &ls);
	assert_int_equal(verify(f, NULL, 0, NULL, &v), 4);
	assert_non_null(strstr(v.why, "well-formed"));
	memmove(&ls.l[3], &ls.l[4], 3 * sizeof(char *));
	ls.n = 6;
	lines_write(f->path, &ls);
	assert_int_equal(verify(f, NULL, 0, NULL, &v), 0);
	/* a missing file is an error, not a verdict */
	{
		const char *nope[] = { "/nonexistent/audit" };

		assert_int_equal(audit_verify_files(nope, 1, f->key, NULL, &v), -ENOENT);
	}
	lines_free(&ls);
}

struct blocker {
	struct audit *a;
	int result;
};

static void *blocked_append(void *p)
{
	struct blocker *b = p;

	b->result = append_event(b->a, "open");
	return NULL;
}

static void test_backpressure(void **state)
{
	struct fixture *f = *state;
	const size_t n = 1 + VAULTFS_AUDIT_QUEUE_MAX;
	struct audit *a = open_ok(f, &opt_none);
	struct blocker *b = calloc(n, sizeof(*b));
	pthread_t *th = calloc(n, sizeof(*th));
	pthread_attr_t attr;
	int fd;

	assert_non_null(b);
	assert_non_null(th);
	/* another open file description holds the lock, as another process would */
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(pthread_attr_init(&attr), 0);
	assert_int_equal(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
	for (size_t i = 0; i < n; i++) {
		b[i].a = a;
		b[i].result = 1;
		assert_int_equal(pthread_create(&th[i], &attr, blocked_append, &b[i]), 0);
		if (i == 0) /* the writer takes this one alone and waits for the lock */
			usleep(200 * 1000);
	}
	usleep(300 * 1000); /* the others fill the queue */
	assert_int_equal(append_event(a, "open"), -ETIMEDOUT);
	assert_int_equal(flock(fd, LOCK_UN), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(b[i].result, 0);
	}
	close(fd);
	pthread_attr_destroy(&attr);
	assert_int_equal(append_event(a, "open"), 0);
	audit_free(a);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
	free(b);
	free(th);
}

/* A peer that holds the journal's lock past VAULTFS_AUDIT_LOCK_TIMEOUT_MS fails the appends
 * waiting on it with -ETIMEDOUT, nothing written; once it lets go, appends work again. */
static void test_lock_timeout(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_none);
	struct timespec t0, t1;
	int64_t ms;
	int fd;

	assert_int_equal(append_event(a, "open"), 0);
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(append_event(a, "open"), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= (int64_t)VAULTFS_AUDIT_LOCK_TIMEOUT_MS - 50);
	assert_int_equal(flock(fd, LOCK_UN), 0);
	close(fd);
	/* not sticky */
	assert_int_equal(append_event(a, "open"), 0);
	audit_free(a);
	/* two records: the one that timed out left nothing */
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
	{
		struct lines ls;

		lines_read(f->path, &ls);
		assert_int_equal(ls.n, 2);
		lines_free(&ls);
	}
}

/* --- the batch mode's lease --- */

static const struct audit_options opt_batch = { .sync = AUDIT_SYNC_BATCH, .lease = true };

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Another open file description on the journal, as another process would have. */
static int peer_fd(struct fixture *f)
{
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

/* flock(LOCK_EX | LOCK_NB) on fd: true when taken, false when busy (EWOULDBLOCK). */
static bool try_lock(int fd)
{
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return true;
	assert_int_equal(errno, EWOULDBLOCK);
	return false;
}

/* Poll for the lock on fd, up to 5 s (far past any lease): true when taken. */
static bool poll_lock(int fd)
{
	for (int i = 0; i < 500; i++) {
		if (try_lock(fd))
			return true;
		usleep(10 * 1000);
	}
	return false;
}

/* Knock (or take the knock back) as a waiting peer does: an OFD read lock on the knock byte. */
static void peer_knock(int fd, short type)
{
	struct flock fl = {
		.l_type = type, .l_whence = SEEK_SET, .l_start = AUDIT_KNOCK_BYTE, .l_len = 1
	};

	assert_int_equal(fcntl(fd, F_OFD_SETLK, &fl), 0);
}

/* The journal as vaultfsd opens it: sync = batch with the lease, anchored in the store. */
static struct audit *open_leased(struct fixture *f)
{
	struct audit_options o = { .sync = AUDIT_SYNC_BATCH,
				   .lease = true,
				   .store_path = f->store };

	return open_ok(f, &o);
}

/* sync = batch keeps the lock from a write until the next sync; a flush lets it go, and so does
 * the timed sync by itself. */
static void test_lease_held(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_leased(f);
	struct audit_anchor an;
	bool held = false;
	uint64_t s = 0;
	int fd = peer_fd(f);

	/* a flush syncs; the next write starts a lease that lasts until the next sync, 100 ms
	 * later: a machine that stalls that long between the two lines tries again */
	for (int i = 0; i < 20 && !held; i++) {
		assert_int_equal(audit_flush(a), 0);
		s = append_ok(a, "open");
		held = !try_lock(fd);
		if (!held)
			assert_int_equal(flock(fd, LOCK_UN), 0);
	}
	assert_true(held);
	/* a flush syncs, anchors and lets go */
	assert_int_equal(audit_flush(a), 0);
	assert_true(try_lock(fd));
	load_anchor(f, &an, 0);
	assert_int_equal(an.seq, s);
	assert_int_equal(flock(fd, LOCK_UN), 0);
	/* the group after it takes the lock again; the timed sync lets it go by itself */
	assert_int_equal(append_ok(a, "open"), s + 1);
	assert_true(poll_lock(fd));
	load_anchor(f, &an, 0);
	assert_int_equal(an.seq, s + 1);
	assert_int_equal(flock(fd, LOCK_UN), 0);
	close(fd);
	audit_free(a);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
}

/* Without audit_options.lease (vaultctl) a batch writer lets the lock go after each group: a
 * stopped one cannot hold the others out. */
static void test_no_lease_unasked(void **state)
{
	struct fixture *f = *state;
	struct audit_options o = { .sync = AUDIT_SYNC_BATCH, .store_path = f->store };
	struct audit *a = open_ok(f, &o);
	int fd = peer_fd(f);

	for (uint64_t i = 1; i <= 5; i++) {
		assert_int_equal(append_ok(a, "open"), i);
		assert_true(try_lock(fd));
		assert_int_equal(flock(fd, LOCK_UN), 0);
	}
	close(fd);
	audit_free(a);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
}

/* A knock ends a lease before its sync: the writer thread looks for one while no group comes.
 * Seen in the anchor: had the lease run to its timed sync, the head would be anchored by the
 * time we hold the lock; let go at the knock, the sync waits for us. */
static void test_lease_knock(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_leased(f);
	struct audit_anchor an = {};
	bool early = false;
	uint64_t s = 0;
	int fd = peer_fd(f);

	append_ok(a, "open"); /* something to anchor at the first flush */
	for (int i = 0; i < 20 && !early; i++) {
		assert_int_equal(audit_flush(a), 0);
		s = append_ok(a, "open");
		peer_knock(fd, F_RDLCK);
		assert_true(poll_lock(fd));
		peer_knock(fd, F_UNLCK);
		load_anchor(f, &an, 0);
		early = an.seq == s - 1;
		assert_int_equal(flock(fd, LOCK_UN), 0);
	}
	assert_true(early);
	/* the writer's sync went on once we let go */
	assert_int_equal(audit_flush(a), 0);
	load_anchor(f, &an, 0);
	assert_int_equal(an.seq, s);
	close(fd);
	audit_free(a);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
}

/* A knock that stays (its process stopped while it waited) does not stall the writer: it lets
 * the knocker go first for a bounded time only, far below the lock timeout, and once: not again
 * at every lease while the same knock stays. */
static void test_lease_stale_knock(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_batch);
	int64_t t0, worst = 0, total = 0;
	int fd = peer_fd(f);

	peer_knock(fd, F_RDLCK);
	for (uint64_t i = 1; i <= 30; i++) {
		t0 = mono_ms();
		assert_int_equal(append_ok(a, "open"), i);
		t0 = mono_ms() - t0;
		total += t0;
		if (t0 > worst)
			worst = t0;
		usleep(20 * 1000); /* some appends start a new lease: 6 or more in all */
	}
	assert_true(worst < (int64_t)VAULTFS_AUDIT_LOCK_TIMEOUT_MS / 4);
	/* waited for once (50 ms), not at every lease (300 ms and more) */
	assert_true(total < 200);
	assert_int_equal(audit_flush(a), 0);
	peer_knock(fd, F_UNLCK);
	close(fd);
	audit_free(a);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
}

/* An error lets the lease go (seen in the anchor, as above) and the next group checks the file
 * again: it reads the record a peer appended meanwhile. */
static void test_lease_error(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_leased(f);
	struct audit *b = open_ok(f, &opt_none);
	struct audit_anchor an = {};
	struct rlimit old, lim;
	struct stat st;
	bool early = false;
	uint64_t s = 0;
	int fd = peer_fd(f);

	append_ok(a, "open"); /* something to anchor at the first flush */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	for (int i = 0; i < 20 && !early; i++) {
		assert_int_equal(audit_flush(a), 0);
		s = append_ok(a, "open");
		assert_int_equal(fstat(fd, &st), 0);
		lim = (struct rlimit){ .rlim_cur = (rlim_t)st.st_size + 100,
				       .rlim_max = old.rlim_max };
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
		assert_int_equal(append_event(a, "open"), -EFBIG);
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
		assert_true(poll_lock(fd));
		load_anchor(f, &an, 0);
		early = an.seq == s - 1;
		assert_int_equal(flock(fd, LOCK_UN), 0);
	}
	signal(SIGXFSZ, SIG_DFL);
	assert_true(early);
	/* nothing of the failed record is left; a peer appends, then the chain goes on */
	{
		struct stat st2;

		assert_int_equal(fstat(fd, &st2), 0);
		assert_int_equal(st2.st_size, st.st_size);
	}
	assert_int_equal(append_ok(b, "set"), s + 1);
	assert_int_equal(append_ok(a, "open"), s + 2);
	close(fd);
	audit_free(a);
	audit_free(b);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
}

/* Two handles, one with leases: the other gets its turn (it knocks), each group that follows a
 * lease reads the other's records, and rotations by either are followed. */
static void test_lease_rotation(void **state)
{
	struct fixture *f = *state;
	struct audit_options ob = { .sync = AUDIT_SYNC_BATCH, .lease = true, .rotate_size = 1500 };
	struct audit_options on = { .sync = AUDIT_SYNC_NONE, .rotate_size = 1500 };
	struct audit *a = open_ok(f, &ob);
	struct audit *b = open_ok(f, &on);
	struct audit_verify v;
	uint64_t last = 0;
	char **list = NULL;
	size_t n = 0;

	for (int i = 0; i < 40; i++) {
		uint64_t s = append_ok(i % 3 ? a : b, "open");

		assert_true(s > last);
		last = s;
	}
	audit_free(a);
	audit_free(b);
	assert_int_equal(verify(f, NULL, 0, NULL, &v), 0);
	assert_int_equal(v.first_seq, 1);
	assert_int_equal(v.last_seq, last);
	assert_int_equal(audit_list_files(f->path, &list, &n), 0);
	assert_true(n >= 4);
	audit_paths_free(list);
}

#define PEER_APPENDS 20

struct peer_result {
	int err;	  /* the first failed append's, 0 none */
	int done;	  /* appends that succeeded */
	int64_t worst_ms; /* the longest append */
	uint64_t seqs[PEER_APPENDS];
};

/* The forked peer process: its own handle on the journal, PEER_APPENDS appends 2 ms apart (so
 * that the lock changes hands between them: its own lease is cut short by our knocks), stopping
 * at the first failure; the result written to out. Never returns. */
static _Noreturn void peer_process(struct fixture *f, int go, int out)
{
	struct peer_result res = {};
	struct audit *b = NULL;
	char c;

	if (read(go, &c, 1) != 1)
		_exit(2);
	res.err = audit_open(f->path, &opt_batch, f->key, &b);
	for (int i = 0; res.err == 0 && i < PEER_APPENDS; i++) {
		struct audit_record r = AUDIT_RECORD_INIT;
		int64_t t0 = mono_ms();

		r.event = "set";
		r.pid = i;
		res.err = audit_append(b, &r, &res.seqs[i]);
		t0 = mono_ms() - t0;
		if (t0 > res.worst_ms)
			res.worst_ms = t0;
		if (res.err == 0)
			res.done++;
		usleep(2000);
	}
	audit_free(b);
	_exit(write(out, &res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 3);
}

struct steady {
	struct audit *a;
	bool *stop; /* under lock */
	pthread_mutex_t *lock;
	uint64_t *seqs;
	size_t n, cap;
	int errors;
};

static bool steady_stopped(struct steady *t)
{
	bool stop;

	pthread_mutex_lock(t->lock);
	stop = *t->stop;
	pthread_mutex_unlock(t->lock);
	return stop;
}

static void *steady_appender(void *p)
{
	struct steady *t = p;

	while (!steady_stopped(t)) {
		struct audit_record r = AUDIT_RECORD_INIT;
		uint64_t seq;

		r.event = "open";
		if (audit_append(t->a, &r, &seq) < 0) {
			t->errors++;
			continue;
		}
		if (t->n == t->cap) {
			uint64_t *q = realloc(t->seqs, (t->cap ? 2 * t->cap : 4096) * sizeof(*q));

			if (!q) {
				t->errors++;
				break;
			}
			t->seqs = q;
			t->cap = t->cap ? 2 * t->cap : 4096;
		}
		t->seqs[t->n++] = seq;
	}
	return NULL;
}

/* Fairness: while this process appends without a pause (its writer holds one lease after the
 * other), a peer process opens the journal and appends too. Without the knock it would find the
 * lock free only for microseconds each period and time out (-ETIMEDOUT); with it each of its
 * appends waits about one knock check. Both chains interleave into one that verifies. */
static void test_lease_peer_process(void **state)
{
	struct fixture *f = *state;
	struct peer_result res = {};
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct steady t[2] = {};
	pthread_t th[2];
	struct audit_verify v;
	struct audit *a;
	bool stop = false;
	uint64_t total = 0;
	uint8_t *seen;
	int go[2], out[2], st;
	pid_t pid;

	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(out), 0);
	pid = fork(); /* before this process has a handle or threads */
	assert_true(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		close(out[0]);
		peer_process(f, go[0], out[1]);
	}
	close(go[0]);
	close(out[1]);
	a = open_ok(f, &opt_batch);
	for (int i = 0; i < 2; i++) {
		t[i] = (struct steady){ .a = a, .stop = &stop, .lock = &lock };
		assert_int_equal(pthread_create(&th[i], NULL, steady_appender, &t[i]), 0);
	}
	usleep(50 * 1000); /* the appenders hold a lease by now */
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(read(out[0], &res, sizeof(res)), (ssize_t)sizeof(res));
	pthread_mutex_lock(&lock);
	stop = true;
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(go[1]);
	close(out[0]);
	audit_free(a);
	/* every peer append went through, each far within the lock timeout */
	assert_int_equal(res.err, 0);
	assert_int_equal(res.done, PEER_APPENDS);
	assert_true(res.worst_ms < (int64_t)VAULTFS_AUDIT_LOCK_TIMEOUT_MS / 4);
	/* while ours went on: they were appended before, between and after the peer's */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(t[i].errors, 0);
		assert_true(t[i].n > 0);
		total += t[i].n;
	}
	assert_int_equal(verify(f, NULL, 0, NULL, &v), 0);
	assert_int_equal(v.first_seq, 1);
	assert_int_equal(v.last_seq, total + PEER_APPENDS);
	seen = calloc(v.last_seq + 1, 1);
	assert_non_null(seen);
	for (int k = 0; k < PEER_APPENDS; k++) {
		assert_true(res.seqs[k] >= 1 && res.seqs[k] <= v.last_seq);
		assert_int_equal(seen[res.seqs[k]]++, 0);
		if (k > 0)
			assert_true(res.seqs[k] > res.seqs[k - 1]);
	}
	for (int i = 0; i < 2; i++) {
		for (size_t k = 0; k < t[i].n; k++) {
			assert_true(t[i].seqs[k] >= 1 && t[i].seqs[k] <= v.last_seq);
			assert_int_equal(seen[t[i].seqs[k]]++, 0);
			if (k > 0)
				assert_true(t[i].seqs[k] > t[i].seqs[k - 1]);
		}
		free(t[i].seqs);
	}
	/* interleaved: some of ours came between the peer's records */
	assert_true(res.seqs[PEER_APPENDS - 1] - res.seqs[0] > PEER_APPENDS - 1);
	free(seen);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Does a systemd journal run (something bound at its socket)? A socket file nobody holds, left
 * by a test that was killed, is none. */
static bool journal_live(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX,
				  .sun_path = "/run/systemd/journal/socket" };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool live;

	assert_true(fd >= 0);
	live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return live;
}

/* A systemd journal of our own at its fixed socket (none may run: the caller skips where one
 * does): a datagram socket bound there, reads waiting 2 s at most. Its fd; *made says whether
 * /run/systemd was made for it. */
static int fake_journal_start(bool *made)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX,
				  .sun_path = "/run/systemd/journal/socket" };
	struct timeval tv = { .tv_sec = 2 };
	int fd;

	*made = false;
	if (access("/run/systemd", F_OK) != 0) {
		assert_int_equal(mkdir("/run/systemd", 0755), 0);
		*made = true;
	}
	if (mkdir("/run/systemd/journal", 0755) < 0)
		assert_int_equal(errno, EEXIST);
	(void)unlink(sa.sun_path); /* one nobody holds (journal_live said so) */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

static void fake_journal_stop(int fd, bool made)
{
	close(fd);
	unlink("/run/systemd/journal/socket");
	rmdir("/run/systemd/journal");
	if (made)
		rmdir("/run/systemd");
}

static void test_journal_message(void **state)
{
	struct fixture *f = *state;
	struct audit *a = NULL;
	char buf[8192];
	bool made;
	ssize_t n;
	int fd;

	if (journal_live()) {
		skip(); /* a real journal: leave it alone */
		return;
	}
	fd = fake_journal_start(&made);
	a = open_ok(f, &opt_none);
	append_ok(a, "open");
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	audit_free(a);
	fake_journal_stop(fd, made);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "MESSAGE_ID=08ed9c847c194ea5aa2aca0abbe022c2\n"));
	assert_non_null(strstr(buf, "MESSAGE=vaultfs audit: open allow app/db\n"));
	assert_non_null(strstr(buf, "VAULTFS_EVENT=open\n"));
	assert_non_null(strstr(buf, "VAULTFS_SEQ=1\n"));
	assert_non_null(strstr(buf, "VAULTFS_VAULT=app\n"));
	assert_non_null(strstr(buf, "VAULTFS_UID=1000\n"));
	assert_non_null(strstr(buf, "VAULTFS_DECISION=allow\n"));
	assert_null(strstr(buf, "VAULTFS_RULE="));
	/* and with no socket at all an append still succeeds */
	a = open_ok(f, &opt_none);
	assert_int_equal(append_ok(a, "open"), 2);
	audit_free(a);
}

/* A journal that does not read holds no append: the records it has no room for are counted
 * (audit_health) and the appends go on at once (sd_journal_sendv waited for room for ever, and
 * the FUSE thread with it); once it reads again, the next record reaches it. A value with a
 * newline (a file name may hold one) goes in the protocol's binary form. */
static void test_journal_stalled(void **state)
{
	struct fixture *f = *state;
	struct audit_record r = AUDIT_RECORD_INIT;
	const char exe[] = "/tmp/a\nb";
	struct audit_health h, h2;
	struct audit *a;
	char buf[8192], want[64], *p;
	uint64_t seq = 0;
	double secs;
	bool made;
	ssize_t n;
	int fd, taken = 0, rr;

	if (journal_live()) {
		skip(); /* a real journal: leave it alone */
		return;
	}
	fd = fake_journal_start(&made);
	a = open_ok(f, &opt_none);
	alarm(20); /* the old sender never came back */
	secs = mono_s();
	for (int i = 0; i < 500; i++)
		append_event(a, "open");
	secs = mono_s() - secs;
	alarm(0);
	rr = audit_health(a, &h);
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		taken++;
	/* read again: the next record is sent at once, with its exe in the binary form */
	r.event = "open";
	r.exe = exe;
	if (audit_append(a, &r, &seq) < 0)
		seq = 0;
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	(void)audit_health(a, &h2);
	audit_free(a);
	fake_journal_stop(fd, made); /* before any check: a failed one leaves nothing behind */
	/* at most one wait of JOURNAL_WAIT_MS (10 ms) for the whole stall */
	assert_true(secs < 2.0);
	assert_int_equal(rr, 0);
	assert_true(taken > 0 && taken < 500);
	assert_int_equal(h.journal_dropped, 500 - taken);
	assert_true(h.journal_stalled);
	assert_int_equal(h2.journal_dropped, 500 - taken);
	assert_false(h2.journal_stalled);
	assert_true(seq > 0);
	assert_true(n > 0);
	buf[n] = '\0';
	snprintf(want, sizeof(want), "VAULTFS_SEQ=%" PRIu64 "\n", seq);
	assert_non_null(memmem(buf, (size_t)n, want, strlen(want))); /* past the binary field */
	p = memmem(buf, (size_t)n, "VAULTFS_EXE\n", 12);
	assert_non_null(p);
	assert_true(p + 12 + 8 + sizeof(exe) <= buf + n);
	assert_int_equal(p[12], (char)(sizeof(exe) - 1));
	for (int i = 1; i < 8; i++)
		assert_int_equal(p[12 + i], 0);
	assert_memory_equal(p + 20, exe, sizeof(exe) - 1);
	assert_int_equal(p[20 + sizeof(exe) - 1], '\n');
}

/* --- refusals: the per-uid limit, the disk reserve, health --- */

static int append_deny(struct audit *a, int64_t uid, uint64_t *ret_seq)
{
	struct audit_record r = AUDIT_RECORD_INIT;

	r.event = "open";
	r.decision = AUDIT_DENY;
	r.err = EACCES;
	r.vault = "app";
	r.object = "db";
	r.uid = uid;
	r.gid = uid;
	r.pid = 42;
	return audit_append(a, &r, ret_seq);
}

static uint64_t append_allow(struct audit *a, int64_t uid)
{
	struct audit_record r = AUDIT_RECORD_INIT;
	uint64_t seq = 0;

	r.event = "open";
	r.uid = uid;
	assert_int_equal(audit_append(a, &r, &seq), 0);
	assert_true(seq > 0);
	return seq;
}

/* What the journal holds of uid: its "open" refusals and the counts of its summaries (and
 * where the first summary stands, 0 none). */
struct refusals {
	uint64_t written, summarized, summaries, first_summary_seq;
	char reason[32];
};

static void refusals_of(struct fixture *f, int64_t uid, struct refusals *ret)
{
	struct lines ls;

	*ret = (struct refusals){};
	lines_read(f->path, &ls);
	for (size_t i = 0; i < ls.n; i++) {
		struct audit_entry e;
		uint64_t n;

		entry_of(ls.l[i], &e);
		if (e.rec.uid == uid && e.rec.decision == AUDIT_DENY && streq(e.rec.event, "open"))
			ret->written++;
		if (e.rec.uid == uid && streq(e.rec.event, AUDIT_SUMMARY_EVENT)) {
			assert_int_equal(e.rec.decision, AUDIT_DENY);
			assert_int_equal(sscanf(e.rec.rule,
						"count=%" SCNu64 " since=%*s reason=%31s", &n,
						ret->reason),
					 2);
			ret->summarized += n;
			if (ret->summaries++ == 0)
				ret->first_summary_seq = e.seq;
		}
		audit_entry_done(&e);
	}
	lines_free(&ls);
}

/* A flood of refusals from one uid writes its burst (and what the rate adds meanwhile), then
 * counts: one summary gives the exact count. Another uid's refusals and allowed records of the
 * flooding uid are written all along. */
static void test_refusal_flood(void **state)
{
	struct fixture *f = *state;
	struct audit_options o = { .sync = AUDIT_SYNC_NONE, .deny_rate = 1, .deny_burst = 5 };
	struct audit *a = open_ok(f, &o);
	struct audit_health h;
	struct refusals rf;
	uint64_t acked = 0, seq;
	double t0 = mono_s(), secs;

	for (int i = 0; i < 2000; i++) {
		assert_int_equal(append_deny(a, 1000, &seq), 0);
		acked += seq > 0;
		if (i % 500 == 0) {
			assert_int_equal(append_deny(a, 1001, &seq), 0);
			assert_true(seq > 0);  /* another uid has a bucket of its own */
			append_allow(a, 1000); /* allowed records are never limited */
		}
	}
	secs = mono_s() - t0;
	assert_true(acked >= 5);
	assert_true((double)acked <= 5 + secs * 1 + 1);
	assert_int_equal(audit_health(a, &h), 0);
	assert_int_equal(h.suppressed_rate, 2000 - acked);
	assert_int_equal(h.suppressed_reserve, 0);
	assert_int_equal(audit_flush(a), 0); /* a flush writes every count */
	assert_int_equal(audit_health(a, &h), 0);
	assert_int_equal(h.suppressed_pending, 0);
	audit_free(a);
	refusals_of(f, 1000, &rf);
	assert_int_equal(rf.written, acked);
	assert_int_equal(rf.summarized, 2000 - acked);
	assert_true(rf.summaries >= 1);
	assert_string_equal(rf.reason, "rate");
	refusals_of(f, 1001, &rf);
	assert_int_equal(rf.written, 4);
	assert_int_equal(rf.summaries, 0);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
}

/* A count is written by the next append once it is a second old, without a flush. */
static void test_refusal_summary_due(void **state)
{
	struct fixture *f = *state;
	struct audit_options o = { .sync = AUDIT_SYNC_NONE, .deny_rate = 1, .deny_burst = 2 };
	struct audit *a = open_ok(f, &o);
	struct refusals rf;
	uint64_t seq, allow_seq;

	for (int i = 0; i < 10; i++)
		assert_int_equal(append_deny(a, 1000, &seq), 0);
	refusals_of(f, 1000, &rf);
	assert_int_equal(rf.summaries, 0); /* not yet: it is not a second old */
	usleep(1100 * 1000);
	allow_seq = append_allow(a, 2000);
	refusals_of(f, 1000, &rf);
	assert_int_equal(rf.summaries, 1);
	assert_true(rf.first_summary_seq < allow_seq);
	assert_int_equal(rf.written + rf.summarized, 10);
	audit_free(a);
}

static uint64_t fake_free;

static int fake_statvfs(const char *path, struct statvfs *ret)
{
	(void)path;
	*ret = (struct statvfs){ .f_frsize = 4096,
				 .f_bsize = 4096,
				 .f_blocks = (100u << 20) / 4096,
				 .f_bavail = fake_free / 4096,
				 .f_bfree = fake_free / 4096 };
	return 0;
}

/* Below the reserve (default: 5% of 100 MiB) refusals are only counted, from the first one,
 * while allowed records are written; once room is back the counts are written. */
static void test_reserve(void **state)
{
	struct fixture *f = *state;
	struct audit_options o = { .sync = AUDIT_SYNC_NONE, .statvfs = fake_statvfs };
	struct audit *a;
	struct audit_health h;
	struct refusals rf;
	uint64_t seq, allow_seq;

	fake_free = 1u << 20;
	a = open_ok(f, &o);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(append_deny(a, 1000, &seq), 0);
		assert_int_equal(seq, 0);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(append_deny(a, 1001, &seq), 0);
	append_allow(a, 1000);
	assert_int_equal(audit_health(a, &h), 0);
	assert_true(h.below_reserve);
	assert_int_equal(h.free_bytes, 1u << 20);
	assert_int_equal(h.reserve_bytes, 5u << 20);
	assert_int_equal(h.suppressed_reserve, 13);
	assert_int_equal(h.suppressed_rate, 0);
	assert_int_equal(h.suppressed_pending, 13);
	refusals_of(f, 1000, &rf);
	assert_int_equal(rf.written + rf.summaries, 0);
	/* room again: the next record writes the counts before it */
	fake_free = 50u << 20;
	assert_int_equal(audit_health(a, &h), 0);
	assert_false(h.below_reserve);
	allow_seq = append_allow(a, 1000);
	assert_int_equal(audit_health(a, &h), 0);
	assert_int_equal(h.suppressed_pending, 0);
	refusals_of(f, 1000, &rf);
	assert_int_equal(rf.summarized, 10);
	assert_string_equal(rf.reason, "reserve");
	assert_true(rf.first_summary_seq < allow_seq);
	refusals_of(f, 1001, &rf);
	assert_int_equal(rf.summarized, 3);
	/* and refusals are written again */
	assert_int_equal(append_deny(a, 1000, &seq), 0);
	assert_true(seq > 0);
	audit_free(a);
	assert_int_equal(verify(f, NULL, 0, NULL, NULL), 0);
}

/* audit_health says when appends fail, since when, and that a success ends it. */
static void test_health_failure(void **state)
{
	struct fixture *f = *state;
	struct audit *a = open_ok(f, &opt_none); /* always allocates ahead: the limit bites late */
	struct audit_health h;
	struct rlimit old;

	append_ok(a, "open");
	assert_int_equal(audit_health(a, &h), 0);
	assert_int_equal(h.error, 0);
	assert_int_equal(h.last_error, 0);
	assert_int_equal(h.failing_since_us, 0);
	assert_true(h.free_bytes > 0);
	fsize_limit(f, &old);
	assert_int_equal(append_event(a, "open"), -EFBIG);
	fsize_unlimit(&old);
	assert_int_equal(audit_health(a, &h), 0);
	assert_int_equal(h.error, 0); /* not sticky */
	assert_int_equal(h.last_error, -EFBIG);
	assert_true(h.failing_since_us > 0);
	append_ok(a, "open");
	assert_int_equal(audit_health(a, &h), 0);
	assert_int_equal(h.last_error, -EFBIG); /* the last one there was */
	assert_int_equal(h.failing_since_us, 0);
	assert_int_equal(audit_health(NULL, &h), -EINVAL);
	audit_free(a);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_observer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_strict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_across_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_last_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shortened, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_size_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_always, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_storm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prealloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_epoch_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_two_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_interrupted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anchor_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nowait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_tamper, setup, teardown),
		/* before the tests that leave threads behind when they fail: the peer test forks */
		cmocka_unit_test_setup_teardown(test_lease_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_knock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_stale_knock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_lease_unasked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_peer_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_stalled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusal_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusal_summary_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_failure, setup, teardown),
	};

	if (argc == 3 && strcmp(argv[1], "--storm") == 0)
		return storm(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
