/* audit.c: the audit journal. Records are serialized in one canonical form (audit.h), chained
 * by HMAC-SHA256 and appended to a JSON-lines file by one writer thread per handle, fed by a
 * bounded queue: a producer serializes its record's fields, queues it and sleeps until the
 * writer has written it (and, with sync = always, fdatasync'd it: every record taken in one
 * group shares one write and one sync). The writer holds flock(LOCK_EX) on the file around each
 * group (with sync = batch, as a lease over the groups of one sync period, let go early when a
 * waiting process knocks), re-reads the tail when another process moved it, follows a peer's
 * rotation only when the new file's first record links to our last one, and refuses (-ESTALE)
 * to write into a file that was removed, replaced or shortened. After each sync it anchors the
 * chain head (seq, mac, file identity, MACed) in the store through a store handle of its own. A
 * torn last line (a crash mid-write) is cut off and a "journal-recovered" record says so. This
 * module must never record a value (its API takes none), never write a line it has not MACed,
 * never let an append return success for a record that is not in the file, and never log above
 * debug or print. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/io.h"
#include "core/secbuf.h"
#include "core/util.h"

/* The MESSAGE_ID of every audit record sent to the systemd journal. */
#define AUDIT_MESSAGE_ID "08ed9c847c194ea5aa2aca0abbe022c2"
#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define EVENT_MAX 32u
#define HEX_MAC_LEN (2u * CRYPTO_MAC_LEN)
/* ,"mac":"<64 hex>"} */
#define MAC_MEMBER_LEN (8u + HEX_MAC_LEN + 2u)
/* Bytes a line adds to its body: {"seq":<20>, ,"prev":"<64>" and the mac member, newline. */
#define LINE_OVERHEAD (8u + 20u + 1u + 9u + HEX_MAC_LEN + 1u + MAC_MEMBER_LEN + 1u)
#define TIME_LEN 27u
#define ANCHOR_TEXT_MAX 256u
#define TAIL_WINDOW 8192u
/* sync = batch: a lease holder looks for a knock at most this often (ms); a writer about to
 * take the lock after its lease lets a knocker go first for at most this long (ms). */
#define KNOCK_CHECK_MS 10
#define KNOCK_DEFER_MS 50
/* A knock that outlived KNOCK_DEFER_MS (its process stopped) is not waited for again for this
 * long: it must not cost every lease the wait. */
#define KNOCK_STALE_MS 10000

/* --- a growable byte buffer with a cap --- */

struct sbuf {
	char *p;
	size_t len, cap, max;
};

static void sb_done(struct sbuf *b)
{
	free(b->p);
	*b = (struct sbuf){ .max = b->max };
}

static int sb_reserve(struct sbuf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (n > b->max - b->len)
		return -EMSGSIZE;
	need = b->len + n;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 512;
	while (cap < need)
		cap *= 2;
	if (cap > b->max)
		cap = b->max;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int sb_put(struct sbuf *b, const void *p, size_t n)
{
	int r = sb_reserve(b, n);

	if (r < 0)
		return r;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int sb_puts(struct sbuf *b, const char *s)
{
	return sb_put(b, s, strlen(s));
}

static int sb_putc(struct sbuf *b, char c)
{
	return sb_put(b, &c, 1);
}

static int sb_put_u64(struct sbuf *b, uint64_t v)
{
	char t[20];
	size_t i = sizeof(t);

	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return sb_put(b, t + i, sizeof(t) - i);
}

static const char hexdigits[] = "0123456789abcdef";

static int sb_put_hex(struct sbuf *b, const uint8_t *p, size_t n)
{
	int r = sb_reserve(b, 2 * n);
	char *o;

	if (r < 0)
		return r;
	o = b->p + b->len;
	for (size_t i = 0; i < n; i++) {
		o[2 * i] = hexdigits[p[i] >> 4];
		o[2 * i + 1] = hexdigits[p[i] & 15];
	}
	b->len += 2 * n;
	return 0;
}

/* --- serialization --- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when there is none. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
	uint32_t cp, min;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1fu, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0fu, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07u, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string, or null for NULL. Never trusts s: every byte is escaped or checked. Bytes that
 * stand for themselves (printable ASCII but '"' and '\\', valid UTF-8) go in runs, one copy a
 * run, not one a character. */
static int sb_put_str(struct sbuf *b, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n, i = 0;
	int r;

	if (!s)
		return sb_put(b, "null", 4);
	n = strlen(s);
	r = sb_putc(b, '"');
	while (r >= 0 && i < n) {
		size_t start = i, l = 0;
		uint8_t c;

		for (; i < n; i += l) {
			c = p[i];
			if (c < 0x80)
				l = c >= 0x20 && c != 0x7f && c != '"' && c != '\\';
			else
				l = utf8_len(p + i, n - i);
			if (l == 0)
				break;
		}
		if (i > start)
			r = sb_put(b, p + start, i - start);
		if (r < 0 || i == n)
			break;
		c = p[i++];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };

			r = sb_put(b, esc, 2);
		} else { /* a control byte, or not part of valid UTF-8 */
			char esc[6] = { '\\', 'u', '0', '0', hexdigits[c >> 4], hexdigits[c & 15] };

			r = sb_put(b, esc, 6);
		}
	}
	return r < 0 ? r : sb_putc(b, '"');
}

static void put_digits(char *p, int v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
}

/* 10000-01-01T00:00:00Z: the first second that does not fit in four digits of year. */
#define YEAR_10000_SECS INT64_C(253402300800)

/* The proleptic Gregorian date of a day count since 1970-01-01 (days >= 0): pure arithmetic
 * (H. Hinnant's civil_from_days), not gmtime_r, which takes the time zone lock per call. */
static void civil_from_days(int64_t days, int *ret_y, int *ret_m, int *ret_d)
{
	int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;

	*ret_y = (int)(yoe + era * 400 + (m <= 2));
	*ret_m = (int)m;
	*ret_d = (int)(doy - (153 * mp + 2) / 5 + 1);
}

const char *audit_format_time(int64_t time_us, char buf[32])
{
	int64_t secs = time_us / 1000000, sod = secs % 86400;
	int y, m, d;

	memcpy(buf, "0000-00-00T00:00:00.000000Z", TIME_LEN + 1);
	if (time_us < 0 || secs >= YEAR_10000_SECS)
		return buf;
	civil_from_days(secs / 86400, &y, &m, &d);
	put_digits(buf, y, 4);
	put_digits(buf + 5, m, 2);
	put_digits(buf + 8, d, 2);
	put_digits(buf + 11, (int)(sod / 3600), 2);
	put_digits(buf + 14, (int)(sod / 60 % 60), 2);
	put_digits(buf + 17, (int)(sod % 60), 2);
	put_digits(buf + 20, (int)(time_us % 1000000), 6);
	return buf;
}

static bool event_valid(const char *e)
{
	size_t n;

	if (!e || !(e[0] >= 'a' && e[0] <= 'z'))
		return false;
	n = strnlen(e, EVENT_MAX + 1);
	if (n > EVENT_MAX)
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((e[i] >= 'a' && e[i] <= 'z') || (e[i] >= '0' && e[i] <= '9') || e[i] == '-'))
			return false;
	return true;
}

static int record_check(const struct audit_record *r)
{
	const char *const strs[] = { r->rule, r->exe,	 r->vault,  r->object,
				     r->path, r->cgroup, r->unit, r->container };
	int e = r->err < 0 ? -r->err : r->err;

	if (!event_valid(r->event))
		return -EINVAL;
	if (r->decision != AUDIT_ALLOW && r->decision != AUDIT_DENY)
		return -EINVAL;
	if (r->err == INT_MIN || e > 4095)
		return -EINVAL;
	if (r->uid < -1 || r->gid < -1 || r->pid < -1)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(strs); i++)
		if (strs[i] &&
		    strnlen(strs[i], VAULTFS_AUDIT_FIELD_MAX + 1) > VAULTFS_AUDIT_FIELD_MAX)
			return -EMSGSIZE;
	return 0;
}

static int sb_put_id(struct sbuf *b, int64_t v)
{
	return v < 0 ? sb_put(b, "null", 4) : sb_put_u64(b, (uint64_t)v);
}

/* "time":...,"container":... : everything between seq and prev. */
static int serialize_body(const struct audit_record *rec, int64_t time_us, struct sbuf *b)
{
	int e = rec->err < 0 ? -rec->err : rec->err;
	const char *name = e ? strerrorname_np(e) : NULL;
	char tbuf[32];
	int r = 0;

	r = sb_puts(b, "\"time\":\"");
	if (r >= 0)
		r = sb_puts(b, audit_format_time(time_us, tbuf));
	if (r >= 0)
		r = sb_puts(b, "\",\"event\":");
	if (r >= 0)
		r = sb_put_str(b, rec->event);
	if (r >= 0)
		r = sb_puts(b, rec->decision == AUDIT_DENY ? ",\"decision\":\"deny\",\"errno\":" :
							     ",\"decision\":\"allow\",\"errno\":");
	if (r >= 0)
		r = !e	  ? sb_puts(b, "null") :
		    name ? sb_put_str(b, name) :
			   sb_put_u64(b, (uint64_t)e);
	if (r >= 0)
		r = sb_puts(b, ",\"rule\":");
	if (r >= 0)
		r = sb_put_str(b, rec->rule);
	if (r >= 0)
		r = sb_puts(b, ",\"vault\":");
	if (r >= 0)
		r = sb_put_str(b, rec->vault);
	if (r >= 0)
		r = sb_puts(b, ",\"object\":");
	if (r >= 0)
		r = sb_put_str(b, rec->object);
	if (r >= 0)
		r = sb_puts(b, ",\"version\":");
	if (r >= 0)
		r = rec->version ? sb_put_u64(b, rec->version) : sb_puts(b, "null");
	if (r >= 0)
		r = sb_puts(b, ",\"path\":");
	if (r >= 0)
		r = sb_put_str(b, rec->path);
	if (r >= 0)
		r = sb_puts(b, ",\"uid\":");
	if (r >= 0)
		r = sb_put_id(b, rec->uid);
	if (r >= 0)
		r = sb_puts(b, ",\"gid\":");
	if (r >= 0)
		r = sb_put_id(b, rec->gid);
	if (r >= 0)
		r = sb_puts(b, ",\"pid\":");
	if (r >= 0)
		r = sb_put_id(b, rec->pid);
	if (r >= 0)
		r = sb_puts(b, ",\"exe\":");
	if (r >= 0)
		r = sb_put_str(b, rec->exe);
	if (r >= 0)
		r = sb_puts(b, ",\"cgroup\":");
	if (r >= 0)
		r = sb_put_str(b, rec->cgroup);
	if (r >= 0)
		r = sb_puts(b, ",\"unit\":");
	if (r >= 0)
		r = sb_put_str(b, rec->unit);
	if (r >= 0)
		r = sb_puts(b, ",\"container\":");
	if (r >= 0)
		r = sb_put_str(b, rec->container);
	return r;
}

/* HMAC(key, prev || p[0..n) || "}" when close), with the keyed context m when given (the
 * writer's: the key schedule once, not per record), else one-shot under key. scratch is reused
 * between calls. */
static int line_mac(const uint8_t *key, struct crypto_mac *m, const uint8_t prev[CRYPTO_MAC_LEN],
		    const char *p, size_t n, bool close, struct sbuf *scratch,
		    uint8_t ret[CRYPTO_MAC_LEN])
{
	int r;

	scratch->len = 0;
	r = sb_put(scratch, prev, CRYPTO_MAC_LEN);
	if (r >= 0)
		r = sb_put(scratch, p, n);
	if (r >= 0 && close)
		r = sb_putc(scratch, '}');
	if (r >= 0)
		r = m ? crypto_mac_compute(m, scratch->p, scratch->len, ret) :
			crypto_hmac(key, scratch->p, scratch->len, ret);
	return r;
}

/* Append the whole line of one record (body from serialize_body) to b, MACed, with its
 * newline; ret_mac gets its mac. */
static int append_line(struct sbuf *b, struct crypto_mac *m, uint64_t seq, const char *body,
		       size_t body_len, const uint8_t prev[CRYPTO_MAC_LEN], struct sbuf *scratch,
		       uint8_t ret_mac[CRYPTO_MAC_LEN])
{
	size_t start = b->len;
	uint8_t mac[CRYPTO_MAC_LEN];
	int r;

	r = sb_puts(b, "{\"seq\":");
	if (r >= 0)
		r = sb_put_u64(b, seq);
	if (r >= 0)
		r = sb_putc(b, ',');
	if (r >= 0)
		r = sb_put(b, body, body_len);
	if (r >= 0)
		r = sb_puts(b, ",\"prev\":\"");
	if (r >= 0)
		r = sb_put_hex(b, prev, CRYPTO_MAC_LEN);
	if (r >= 0)
		r = sb_puts(b, "\"}");
	if (r >= 0)
		r = line_mac(NULL, m, prev, b->p + start, b->len - start, false, scratch, mac);
	if (r >= 0) {
		b->len--; /* the closing brace: the mac member goes before it */
		r = sb_puts(b, ",\"mac\":\"");
	}
	if (r >= 0)
		r = sb_put_hex(b, mac, CRYPTO_MAC_LEN);
	if (r >= 0)
		r = sb_puts(b, "\"}\n");
	if (r >= 0 && b->len - start > VAULTFS_AUDIT_LINE_MAX)
		r = -EMSGSIZE;
	if (r < 0) {
		b->len = start;
		return r;
	}
	memcpy(ret_mac, mac, CRYPTO_MAC_LEN);
	return 0;
}

/* --- parsing --- */

struct cursor {
	const char *p, *end;
};

static bool lit(struct cursor *c, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return false;
	c->p += n;
	return true;
}

static int parse_u64(struct cursor *c, uint64_t *ret)
{
	uint64_t v = 0;
	const char *s = c->p;

	if (s >= c->end || *s < '0' || *s > '9')
		return -EBADMSG;
	if (*s == '0' && s + 1 < c->end && s[1] >= '0' && s[1] <= '9')
		return -EBADMSG;
	for (; s < c->end && *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EBADMSG;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	c->p = s;
	*ret = v;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_hex(struct cursor *c, uint8_t *out, size_t n)
{
	if ((size_t)(c->end - c->p) < 2 * n)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(c->p[2 * i]), lo = hexval(c->p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EBADMSG;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	c->p += 2 * n;
	return 0;
}

/* A string (decoded, NUL-terminated, into out; *ret_off its offset) or null (*ret_off
 * SIZE_MAX). Only the escapes the serializer writes are accepted. */
static int parse_str(struct cursor *c, struct sbuf *out, size_t *ret_off)
{
	size_t off = out->len;
	int r;

	if (lit(c, "null")) {
		*ret_off = SIZE_MAX;
		return 0;
	}
	if (!lit(c, "\""))
		return -EBADMSG;
	for (;;) {
		char ch;

		if (c->p >= c->end)
			return -EBADMSG;
		ch = *c->p++;
		if (ch == '"')
			break;
		if ((unsigned char)ch < 0x20)
			return -EBADMSG;
		if (ch == '\\') {
			int hi, lo;

			if (c->p >= c->end)
				return -EBADMSG;
			ch = *c->p++;
			if (ch == 'u') {
				if (c->end - c->p < 4 || c->p[0] != '0' || c->p[1] != '0')
					return -EBADMSG;
				hi = hexval(c->p[2]);
				lo = hexval(c->p[3]);
				if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
					return -EBADMSG;
				ch = (char)(hi << 4 | lo);
				c->p += 4;
			} else if (ch != '"' && ch != '\\') {
				return -EBADMSG;
			}
		}
		r = sb_putc(out, ch);
		if (r < 0)
			return r;
	}
	r = sb_putc(out, '\0');
	if (r < 0)
		return r;
	*ret_off = off;
	return 0;
}

static int parse_time(struct cursor *c, int64_t *ret)
{
	const char *s = c->p;
	struct tm tm = {};
	int v[7] = {};
	static const int at[7] = { 0, 5, 8, 11, 14, 17, 20 }, len[7] = { 4, 2, 2, 2, 2, 2, 6 };
	time_t t;

	if ((size_t)(c->end - s) < TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != '.' || s[26] != 'Z')
		return -EBADMSG;
	for (int i = 0; i < 7; i++)
		for (int k = 0; k < len[i]; k++) {
			char d = s[at[i] + k];

			if (d < '0' || d > '9')
				return -EBADMSG;
			v[i] = v[i] * 10 + (d - '0');
		}
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	t = timegm(&tm);
	if (t == (time_t)-1 || t < 0)
		return -EBADMSG;
	c->p += TIME_LEN;
	*ret = (int64_t)t * 1000000 + v[6];
	return 0;
}

static int errno_from_name(const char *name)
{
	for (int e = 1; e <= 4095; e++) {
		const char *n = strerrorname_np(e);

		if (n && streq(n, name))
			return e;
	}
	return -1;
}

static int parse_id(struct cursor *c, int64_t *ret)
{
	uint64_t v;

	if (lit(c, "null")) {
		*ret = -1;
		return 0;
	}
	if (parse_u64(c, &v) < 0 || v > INT64_MAX)
		return -EBADMSG;
	*ret = (int64_t)v;
	return 0;
}

enum { F_EVENT, F_ERRNO, F_RULE, F_VAULT, F_OBJECT, F_PATH, F_EXE, F_CGROUP, F_UNIT, F_CONT,
       F_N };

static int parse_fields(struct cursor *c, struct audit_entry *e, struct sbuf *sb, size_t *off)
{
	static const char *const keys[] = {
		[F_RULE] = ",\"rule\":",
		[F_VAULT] = ",\"vault\":",
		[F_OBJECT] = ",\"object\":",
		[F_EXE] = ",\"exe\":",
		[F_CGROUP] = ",\"cgroup\":",
		[F_UNIT] = ",\"unit\":",
		[F_CONT] = ",\"container\":",
	};
	uint64_t v;

	if (!lit(c, "{\"seq\":") || parse_u64(c, &e->seq) < 0 || e->seq == 0 ||
	    !lit(c, ",\"time\":\"") ||
	    parse_time(c, &e->time_us) < 0 || !lit(c, "\",\"event\":") ||
	    parse_str(c, sb, &off[F_EVENT]) < 0 || off[F_EVENT] == SIZE_MAX)
		return -EBADMSG;
	if (lit(c, ",\"decision\":\"allow\""))
		e->rec.decision = AUDIT_ALLOW;
	else if (lit(c, ",\"decision\":\"deny\""))
		e->rec.decision = AUDIT_DENY;
	else
		return -EBADMSG;
	if (!lit(c, ",\"errno\":"))
		return -EBADMSG;
	off[F_ERRNO] = SIZE_MAX;
	if (c->p < c->end && *c->p == '"') {
		if (parse_str(c, sb, &off[F_ERRNO]) < 0)
			return -EBADMSG;
	} else if (!lit(c, "null")) {
		if (parse_u64(c, &v) < 0 || v == 0 || v > 4095)
			return -EBADMSG;
		e->rec.err = (int)v;
	}
	for (int f = F_RULE; f <= F_OBJECT; f++)
		if (!lit(c, keys[f]) || parse_str(c, sb, &off[f]) < 0)
			return -EBADMSG;
	if (!lit(c, ",\"version\":"))
		return -EBADMSG;
	if (!lit(c, "null")) {
		if (parse_u64(c, &v) < 0 || v == 0 || v > UINT32_MAX)
			return -EBADMSG;
		e->rec.version = (uint32_t)v;
	}
	if (!lit(c, ",\"path\":") || parse_str(c, sb, &off[F_PATH]) < 0 || !lit(c, ",\"uid\":") ||
	    parse_id(c, &e->rec.uid) < 0 || !lit(c, ",\"gid\":") || parse_id(c, &e->rec.gid) < 0 ||
	    !lit(c, ",\"pid\":") || parse_id(c, &e->rec.pid) < 0)
		return -EBADMSG;
	for (int f = F_EXE; f <= F_CONT; f++)
		if (!lit(c, keys[f]) || parse_str(c, sb, &off[f]) < 0)
			return -EBADMSG;
	if (!lit(c, ",\"prev\":\"") || parse_hex(c, e->prev, CRYPTO_MAC_LEN) < 0 ||
	    !lit(c, "\",\"mac\":\"") || parse_hex(c, e->mac, CRYPTO_MAC_LEN) < 0 ||
	    !lit(c, "\"}") || c->p != c->end)
		return -EBADMSG;
	return 0;
}

/* Serialize e as the writer would have (with its own mac) and compare with the line. */
static int entry_is_canonical(const struct audit_entry *e, const char *line, size_t len)
{
	struct sbuf b = { .max = VAULTFS_AUDIT_LINE_MAX + 1 };
	int r;

	r = record_check(&e->rec);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	r = sb_puts(&b, "{\"seq\":");
	if (r >= 0)
		r = sb_put_u64(&b, e->seq);
	if (r >= 0)
		r = sb_putc(&b, ',');
	if (r >= 0)
		r = serialize_body(&e->rec, e->time_us, &b);
	if (r >= 0)
		r = sb_puts(&b, ",\"prev\":\"");
	if (r >= 0)
		r = sb_put_hex(&b, e->prev, CRYPTO_MAC_LEN);
	if (r >= 0)
		r = sb_puts(&b, "\",\"mac\":\"");
	if (r >= 0)
		r = sb_put_hex(&b, e->mac, CRYPTO_MAC_LEN);
	if (r >= 0)
		r = sb_puts(&b, "\"}");
	if (r >= 0)
		r = b.len == len && memcmp(b.p, line, len) == 0 ? 0 : -EBADMSG;
	sb_done(&b);
	return r == -EMSGSIZE ? -EBADMSG : r;
}

int audit_parse_line(const char *line, size_t len, struct audit_entry *ret)
{
	struct audit_entry e = { .rec = AUDIT_RECORD_INIT };
	struct sbuf sb = { .max = VAULTFS_AUDIT_LINE_MAX };
	struct cursor c = { line, line + len };
	size_t off[F_N];
	const char **dst[F_N] = {
		[F_EVENT] = &e.rec.event, [F_RULE] = &e.rec.rule,     [F_VAULT] = &e.rec.vault,
		[F_OBJECT] = &e.rec.object, [F_PATH] = &e.rec.path,   [F_EXE] = &e.rec.exe,
		[F_CGROUP] = &e.rec.cgroup, [F_UNIT] = &e.rec.unit,   [F_CONT] = &e.rec.container,
	};
	int r;

	if (!line || len > VAULTFS_AUDIT_LINE_MAX)
		return -EBADMSG;
	r = parse_fields(&c, &e, &sb, off);
	if (r >= 0 && off[F_ERRNO] != SIZE_MAX) {
		int v = errno_from_name(sb.p + off[F_ERRNO]);

		if (v < 0)
			r = -EBADMSG;
		else
			e.rec.err = v;
	}
	if (r < 0) {
		sb_done(&sb);
		return r == -ENOMEM ? r : -EBADMSG;
	}
	for (int f = 0; f < F_N; f++)
		if (dst[f])
			*dst[f] = off[f] == SIZE_MAX ? NULL : sb.p + off[f];
	e.buf = sb.p;
	r = entry_is_canonical(&e, line, len);
	if (r < 0) {
		free(e.buf);
		return r;
	}
	*ret = e;
	return 0;
}

void audit_entry_done(struct audit_entry *e)
{
	if (!e)
		return;
	free(e->buf);
	*e = (struct audit_entry){ .rec = AUDIT_RECORD_INIT };
}

static int mac_ok(const struct audit_entry *e, const char *line, size_t len, const uint8_t *key,
		  struct sbuf *scratch)
{
	uint8_t mac[CRYPTO_MAC_LEN];
	int r;

	if (len < MAC_MEMBER_LEN + 1)
		return 0;
	/* the line without its mac member, closed again */
	r = line_mac(key, NULL, e->prev, line, len - MAC_MEMBER_LEN, true, scratch, mac);
	if (r < 0)
		return r;
	return crypto_memeq(mac, e->mac, CRYPTO_MAC_LEN);
}

int audit_entry_mac_ok(const struct audit_entry *e, const char *line, size_t len,
		       const uint8_t key[CRYPTO_KEY_LEN])
{
	struct sbuf scratch = { .max = VAULTFS_AUDIT_LINE_MAX + CRYPTO_MAC_LEN + 1 };
	int r = mac_ok(e, line, len, key, &scratch);

	sb_done(&scratch);
	return r;
}

/* --- reading lines --- */

struct audit_reader {
	int fd;
	char *buf;
	size_t off, len, cap;
};

int audit_reader_open(const char *path, struct audit_reader **ret)
{
	struct audit_reader *rd;
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0) {
		int r = negative_errno();

		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	rd = calloc(1, sizeof(*rd));
	if (rd)
		rd->buf = malloc(VAULTFS_AUDIT_LINE_MAX + 1);
	if (!rd || !rd->buf) {
		if (rd)
			free(rd);
		close(fd);
		return -ENOMEM;
	}
	rd->fd = fd;
	rd->cap = VAULTFS_AUDIT_LINE_MAX + 1;
	*ret = rd;
	return 0;
}

int audit_reader_next(struct audit_reader *rd, const char **ret_line, size_t *ret_len)
{
	for (;;) {
		char *nl = memchr(rd->buf + rd->off, '\n', rd->len - rd->off);
		ssize_t n;

		if (nl) {
			*ret_line = rd->buf + rd->off;
			*ret_len = (size_t)(nl - (rd->buf + rd->off));
			rd->off += *ret_len + 1;
			return 1;
		}
		if (rd->off > 0) {
			memmove(rd->buf, rd->buf + rd->off, rd->len - rd->off);
			rd->len -= rd->off;
			rd->off = 0;
		}
		if (rd->len >= rd->cap)
			return -EBADMSG;
		n = read(rd->fd, rd->buf + rd->len, rd->cap - rd->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			return 0;
		rd->len += (size_t)n;
	}
}

size_t audit_reader_pending(const struct audit_reader *rd)
{
	return rd->len - rd->off;
}

int audit_reader_stat(const struct audit_reader *rd, uint64_t *ret_dev, uint64_t *ret_ino)
{
	struct stat st;

	if (fstat(rd->fd, &st) < 0)
		return negative_errno();
	*ret_dev = st.st_dev;
	*ret_ino = st.st_ino;
	return 0;
}

void audit_reader_free(struct audit_reader *rd)
{
	if (!rd)
		return;
	close(rd->fd);
	free(rd->buf);
	free(rd);
}

static void readerp(struct audit_reader **rd)
{
	audit_reader_free(*rd);
}

/* --- the tail and the head of a file --- */

struct tail {
	uint64_t seq; /* last good record, 0 when none */
	uint8_t mac[CRYPTO_MAC_LEN];
	uint64_t end;  /* bytes up to and with its newline */
	uint64_t torn; /* bytes after it */
};

static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t k = pread(fd, p, n, (off_t)off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			return -ESTALE; /* the file got shorter while we read it */
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* Parse a line and check its MAC: 0, -EBADMSG. */
static int check_line(const char *line, size_t len, const uint8_t *key, struct sbuf *scratch,
		      struct audit_entry *ret)
{
	struct audit_entry e;
	int r;

	r = audit_parse_line(line, len, &e);
	if (r < 0)
		return r;
	r = mac_ok(&e, line, len, key, scratch);
	if (r <= 0) {
		audit_entry_done(&e);
		return r < 0 ? r : -EBADMSG;
	}
	*ret = e;
	return 0;
}

/* Find the last complete line of the first size bytes of fd and check it. Bytes after it are
 * a torn line. -EBADMSG when that line does not verify or lines are over the cap. */
static int read_tail(int fd, uint64_t size, const uint8_t *key, struct sbuf *scratch,
		     struct tail *ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t window = TAIL_WINDOW;

	if (size == 0) {
		*ret = (struct tail){};
		return 0;
	}
	for (;;) {
		size_t w = size < window ? (size_t)size : window, last, start;
		uint64_t off = size - w;
		struct audit_entry e;
		char *p;
		int r;

		free(buf);
		buf = malloc(w);
		if (!buf)
			return -ENOMEM;
		r = pread_all(fd, buf, w, off);
		if (r < 0)
			return r;
		p = memrchr(buf, '\n', w);
		if (!p && off == 0) { /* not one complete line: all of it is torn */
			*ret = (struct tail){ .torn = size };
			return 0;
		}
		if (p) {
			last = (size_t)(p - buf);
			p = last > 0 ? memrchr(buf, '\n', last) : NULL;
			if (p || off == 0) {
				start = p ? (size_t)(p - buf) + 1 : 0;
				r = check_line(buf + start, last - start, key, scratch, &e);
				if (r < 0)
					return r;
				*ret = (struct tail){ .seq = e.seq, .end = off + last + 1,
						      .torn = size - (off + last + 1) };
				memcpy(ret->mac, e.mac, CRYPTO_MAC_LEN);
				audit_entry_done(&e);
				return 0;
			}
		}
		if (window > 2 * (size_t)VAULTFS_AUDIT_LINE_MAX + 2)
			return -EBADMSG;
		window *= 4;
	}
}

/* The first record of fd, checked. -ENODATA when there is no complete line. */
static int read_first(int fd, const uint8_t *key, struct sbuf *scratch, struct audit_entry *ret)
{
	_cleanup_free_ char *buf = malloc(VAULTFS_AUDIT_LINE_MAX + 1);
	struct stat st;
	size_t n;
	char *nl;
	int r;

	if (!buf)
		return -ENOMEM;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	n = (uint64_t)st.st_size < VAULTFS_AUDIT_LINE_MAX + 1 ? (size_t)st.st_size :
								VAULTFS_AUDIT_LINE_MAX + 1;
	r = pread_all(fd, buf, n, 0);
	if (r < 0)
		return r;
	nl = memchr(buf, '\n', n);
	if (!nl)
		return n > VAULTFS_AUDIT_LINE_MAX ? -EBADMSG : -ENODATA;
	return check_line(buf, (size_t)(nl - buf), key, scratch, ret);
}

/* --- the anchor --- */

static const char anchor_domain[] = "vaultfs audit anchor v1\n";

static int anchor_text(const struct audit_anchor *an, const uint8_t *key, char *buf, size_t size)
{
	char hex[HEX_MAC_LEN + 1], msg[ANCHOR_TEXT_MAX];
	uint8_t tag[CRYPTO_MAC_LEN];
	int n, r;

	for (size_t i = 0; i < CRYPTO_MAC_LEN; i++) {
		hex[2 * i] = hexdigits[an->mac[i] >> 4];
		hex[2 * i + 1] = hexdigits[an->mac[i] & 15];
	}
	hex[HEX_MAC_LEN] = '\0';
	n = snprintf(msg, sizeof(msg), "%sv1 %" PRIu64 " %s %" PRIu64 " %" PRIu64, anchor_domain,
		     an->seq, hex, an->dev, an->ino);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -EINVAL;
	r = crypto_hmac(key, msg, (size_t)n, tag);
	if (r < 0)
		return r;
	for (size_t i = 0; i < CRYPTO_MAC_LEN; i++) {
		hex[2 * i] = hexdigits[tag[i] >> 4];
		hex[2 * i + 1] = hexdigits[tag[i] & 15];
	}
	n = snprintf(buf, size, "%s %s", msg + strlen(anchor_domain), hex);
	if (n < 0 || (size_t)n >= size)
		return -EINVAL;
	return n;
}

int audit_anchor_load(struct store *s, const uint8_t key[CRYPTO_KEY_LEN],
		      struct audit_anchor *ret)
{
	_cleanup_free_ uint8_t *val = NULL;
	struct audit_anchor an = {};
	char text[ANCHOR_TEXT_MAX], again[ANCHOR_TEXT_MAX], machex[HEX_MAC_LEN + 1];
	struct cursor c;
	size_t n;
	int r;

	r = store_meta_get(s, AUDIT_ANCHOR_KEY, &val, &n);
	if (r < 0)
		return r;
	if (n == 0 || n >= sizeof(text))
		return -EBADMSG;
	memcpy(text, val, n);
	text[n] = '\0';
	if (sscanf(text, "v1 %" SCNu64 " %64s %" SCNu64 " %" SCNu64, &an.seq, machex, &an.dev,
		   &an.ino) != 4)
		return -EBADMSG;
	c = (struct cursor){ machex, machex + strlen(machex) };
	if (parse_hex(&c, an.mac, CRYPTO_MAC_LEN) < 0 || c.p != c.end)
		return -EBADMSG;
	r = anchor_text(&an, key, again, sizeof(again));
	if (r < 0)
		return r;
	/* the text must be exactly what we would write, its tag included (constant time) */
	if ((size_t)r != n || !crypto_memeq(again, text, n))
		return -EBADMSG;
	*ret = an;
	return 0;
}

/* --- the writer --- */

/* One queued record (on its producer's stack), or a flush request (body NULL). */
struct pending {
	struct pending *next;
	char *body;
	size_t len;
	uint64_t seq;
	int result;
	bool done;
};

struct audit {
	/* fixed after audit_open */
	char *path;
	char *dir;
	int sync;
	uint64_t rotate_size;
	struct secbuf *key;
	struct crypto_mac *mac_ctx; /* keyed with key: for the lines we write */
	bool journal;
	/* the writer's: whoever holds `writing` (an appender that found the journal idle, or
	 * the writer thread), audit_open's before the thread starts, audit_free's after */
	struct store *store;
	int fd;
	uint64_t dev, ino;
	uint64_t seq, end;
	uint8_t mac[CRYPTO_MAC_LEN];
	bool dirty;		/* written since the last fdatasync */
	uint64_t unanchored;	/* records written since the last anchor */
	uint64_t anchored_seq;
	int anchor_error;
	int64_t last_sync_ns;	/* CLOCK_MONOTONIC */
	bool lease;		/* sync = batch and audit_options.lease: leases are taken */
	bool leased;		/* the lock is kept past the group (the lease) */
	bool knock_ignore;	/* this lease does not end at a knock (one outlived the defer) */
	int64_t knock_stale_ns;	/* until then a knock is not waited for (it outlived one) */
	int64_t knock_next_ns;	/* when the lease holder looks for a knock again */
	struct sbuf out, scratch;
	/* shared, under lock */
	pthread_mutex_t lock;
	pthread_cond_t work, space, done;
	struct pending *head, *tail;
	size_t queued;
	bool stop;
	bool writing; /* someone holds the writer's part (the fields above) */
	bool timer;   /* the writer thread waits for the batch mode's sync to be due */
	bool timer_looks; /* ... and to look for a knock on the lease it holds */
	int error; /* sticky: every later append fails with it */
	bool thread_started;
	pthread_t thread;
};

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec ns_to_ts(int64_t ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
}

static void set_error(struct audit *a, int r)
{
	pthread_mutex_lock(&a->lock);
	if (!a->error)
		a->error = r;
	pthread_mutex_unlock(&a->lock);
}

static int fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return negative_errno();
	return 0;
}

/* The lock, the lease and the knock. Every group is written under flock(LOCK_EX), taken by
 * journal_lock, which also checks that the file is still the one at path (following a peer's
 * rotation) and reads the records a peer appended: 4 system calls a group. With sync = batch
 * and audit_options.lease (vaultfsd) the writer keeps the lock past the group, a lease, from
 * its first write after a sync until the next sync (the timed one, at most
 * VAULTFS_AUDIT_BATCH_MS later, a flush's, audit_free's) or an error, and writes the groups in
 * between with no lock call and no stat: no peer can append or rotate without the lock.
 * (sync = always pays an fdatasync a group, beside which the lock calls are noise; sync = none
 * has no timed point at which a lease would end: both keep the lock per group.) A waiting peer
 * polls flock(LOCK_NB) with a backoff, so a lease that is let go for microseconds a period
 * would starve it; it knocks instead: while it polls it holds an OFD read lock on
 * AUDIT_KNOCK_BYTE, and a lease holder looks for one (F_OFD_GETLK) at most every
 * KNOCK_CHECK_MS, after a group or from the idle writer thread, and lets go when it finds one.
 * Before it takes the lock again it lets the knocker go first (knock_defer); a knock that
 * outlives that wait (its process is stopped) is not waited for again for KNOCK_STALE_MS. */

/* F_RDLCK to knock, F_UNLCK to take the knock back. An open-file-description lock: it stays
 * when another fd of the file is closed (threads, other handles), goes when the process dies,
 * and does not interact with flock. */
static int knock(int fd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = AUDIT_KNOCK_BYTE,
			    .l_len = 1 };

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? negative_errno() : 0;
}

/* Does another open file description knock on fd's file? (An error reads as no.) */
static bool knocked(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = AUDIT_KNOCK_BYTE,
			    .l_len = 1 };

	return fcntl(fd, F_OFD_GETLK, &fl) >= 0 && fl.l_type != F_UNLCK;
}

/* Before taking the lock after a lease: let a knocking peer go first. It takes the lock within
 * its poll interval (at most 20 ms) once the lock is free, and lets its knock go then; wait at
 * most KNOCK_DEFER_MS for that. True when the knock is still there (a knocker that does not
 * poll: stopped, or waiting for a third process): it must not stall us any longer. */
static bool knock_defer(int fd)
{
	int64_t end = now_ns(CLOCK_MONOTONIC) + (int64_t)KNOCK_DEFER_MS * 1000000;
	long wait_us = 100;

	while (knocked(fd)) {
		if (now_ns(CLOCK_MONOTONIC) >= end)
			return true;
		(void)usleep((useconds_t)wait_us);
		wait_us = MIN(wait_us * 2, 2000L);
	}
	return false;
}

/* flock(LOCK_EX), waiting at most VAULTFS_AUDIT_LOCK_TIMEOUT_MS for a peer that holds it:
 * -ETIMEDOUT then (a stuck peer must not stall every writer for ever). While it waits it
 * knocks, so that a peer holding a lease lets go (best effort: a file system without OFD locks
 * leaves us polling, as before knocks). */
static int flock_ex(int fd)
{
	int64_t deadline = now_ns(CLOCK_MONOTONIC) +
			   (int64_t)VAULTFS_AUDIT_LOCK_TIMEOUT_MS * 1000000;
	long wait_us = 100;
	bool knocking = false;
	int r = 0;

	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			r = negative_errno();
			break;
		}
		if (now_ns(CLOCK_MONOTONIC) >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		if (!knocking)
			knocking = knock(fd, F_RDLCK) >= 0;
		(void)usleep((useconds_t)wait_us);
		wait_us = MIN(wait_us * 2, 20000L);
	}
	if (knocking)
		(void)knock(fd, F_UNLCK);
	return r;
}

static char *path_n(const char *path, size_t n)
{
	char *s;

	if (asprintf(&s, "%s.%zu", path, n) < 0)
		return NULL;
	return s;
}

/* The body of a record the writer makes itself (rotate, journal-recovered), into b. */
static int own_body(struct sbuf *b, const char *event, const char *rule, const char *path)
{
	struct audit_record rec = AUDIT_RECORD_INIT;

	rec.event = event;
	rec.rule = rule;
	rec.path = path;
	rec.uid = (int64_t)getuid();
	rec.gid = (int64_t)getgid();
	rec.pid = (int64_t)getpid();
	b->len = 0;
	return serialize_body(&rec, now_ns(CLOCK_REALTIME) / 1000, b);
}

static int write_records(struct audit *a, struct pending *list);

/* Rotate: the old file becomes PATH.1 (older ones shift up), the new PATH starts with a rotate
 * record linked to the old file's last mac. Called with the lock held; on success the lock is
 * held on the new file. */
static int rotate(struct audit *a)
{
	_cleanup_free_ char *tmp = NULL, *first = NULL;
	_cleanup_close_ int nfd = -1;
	struct sbuf line = { .max = VAULTFS_AUDIT_LINE_MAX };
	struct sbuf body = { .max = VAULTFS_AUDIT_LINE_MAX };
	uint8_t mac[CRYPTO_MAC_LEN];
	struct stat st;
	size_t n = 0;
	int r;

	if (asprintf(&tmp, "%s.new", a->path) < 0 || !(first = path_n(a->path, 1)))
		return -ENOMEM;
	for (; n < VAULTFS_AUDIT_ROTATED_MAX; n++) {
		_cleanup_free_ char *p = path_n(a->path, n + 1);

		if (!p)
			return -ENOMEM;
		if (fstatat(AT_FDCWD, p, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				return negative_errno();
			break;
		}
	}
	for (size_t k = n; k >= 1; k--) {
		_cleanup_free_ char *from = path_n(a->path, k), *to = path_n(a->path, k + 1);

		if (!from || !to)
			return -ENOMEM;
		if (rename(from, to) < 0)
			return negative_errno();
	}
	if (unlink(tmp) < 0 && errno != ENOENT)
		return negative_errno();
	nfd = open(tmp, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		   0600);
	if (nfd < 0)
		return negative_errno();
	r = flock_ex(nfd);
	if (r >= 0)
		r = own_body(&body, "rotate", NULL, first);
	if (r >= 0)
		r = append_line(&line, a->mac_ctx, a->seq + 1, body.p, body.len, a->mac,
				&a->scratch, mac);
	sb_done(&body);
	if (r >= 0)
		r = io_write_all(nfd, line.p, line.len);
	if (r >= 0 && fdatasync(nfd) < 0)
		r = negative_errno();
	if (r >= 0 && a->dirty && fdatasync(a->fd) < 0)
		r = negative_errno();
	if (r >= 0 && fstat(nfd, &st) < 0)
		r = negative_errno();
	if (r >= 0 && link(a->path, first) < 0)
		r = negative_errno();
	if (r >= 0 && rename(tmp, a->path) < 0) {
		r = negative_errno();
		(void)unlink(first);
	}
	if (r < 0) {
		(void)unlink(tmp);
		sb_done(&line);
		return r;
	}
	/* PATH is the new file now: switch to it whatever the directory sync says */
	(void)flock(a->fd, LOCK_UN);
	close(a->fd);
	a->fd = TAKE_FD(nfd);
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	a->seq++;
	memcpy(a->mac, mac, CRYPTO_MAC_LEN);
	a->end = line.len;
	a->dirty = false;
	a->unanchored++;
	sb_done(&line);
	return fsync_dir(a->dir);
}

/* Write the records of list (in order) as one write, rotating first when the file would
 * grow past rotate_size. On failure nothing stays in the file and the head is unchanged. */
static int write_records(struct audit *a, struct pending *list)
{
	uint8_t prev[CRYPTO_MAC_LEN];
	uint64_t seq = a->seq, est = 0;
	int r;

	for (struct pending *p = list; p; p = p->next)
		est += p->len + LINE_OVERHEAD;
	if (a->rotate_size > 0 && a->end > 0 && a->end + est > a->rotate_size) {
		r = rotate(a);
		if (r < 0)
			return r;
		seq = a->seq;
	}
	memcpy(prev, a->mac, CRYPTO_MAC_LEN);
	a->out.len = 0;
	for (struct pending *p = list; p; p = p->next) {
		r = append_line(&a->out, a->mac_ctx, ++seq, p->body, p->len, prev, &a->scratch,
				prev);
		if (r < 0)
			return r;
		p->seq = seq;
	}
	r = io_write_all(a->fd, a->out.p, a->out.len);
	if (r < 0) {
		/* a short write leaves part of a line: cut it off, or nothing is trustworthy */
		if (ftruncate(a->fd, (off_t)a->end) < 0) {
			int k = negative_errno();

			set_error(a, k);
			return k;
		}
		return r;
	}
	a->unanchored += seq - a->seq;
	a->seq = seq;
	memcpy(a->mac, prev, CRYPTO_MAC_LEN);
	a->end += a->out.len;
	a->dirty = true;
	return 0;
}

/* Cut a torn last line and record that we did. The lock is held. */
static int recover_torn(struct audit *a, uint64_t torn)
{
	struct sbuf body = { .max = VAULTFS_AUDIT_LINE_MAX };
	struct pending p = {};
	char rule[64];
	int r;

	if (ftruncate(a->fd, (off_t)a->end) < 0)
		return negative_errno();
	snprintf(rule, sizeof(rule), "torn tail: %" PRIu64 " bytes cut", torn);
	r = own_body(&body, "journal-recovered", rule, a->path);
	if (r >= 0) {
		p.body = body.p;
		p.len = body.len;
		r = write_records(a, &p);
	}
	if (r >= 0 && fdatasync(a->fd) < 0)
		r = negative_errno();
	if (r >= 0)
		a->dirty = false;
	sb_done(&body);
	return r;
}

/* Does the first record of fd continue the chain whose last record is (seq, mac)? */
static bool links_to(struct audit *a, int fd, uint64_t seq, const uint8_t *mac)
{
	struct audit_entry e;
	bool ok;

	if (read_first(fd, a->key->data, &a->scratch, &e) < 0)
		return false;
	ok = e.seq == seq + 1 && streq(e.rec.event, "rotate") &&
	     crypto_memeq(e.prev, mac, CRYPTO_MAC_LEN);
	audit_entry_done(&e);
	return ok;
}

/* Our path names another file. A peer that rotated left ours as PATH.1 and put a file at PATH
 * whose first record links to our last one (or PATH.1 or PATH.2 does, after more rotations):
 * move to PATH (1: lock again). Anything else is a removal or a replacement: -ESTALE. */
static int follow_rotation(struct audit *a, const struct stat *fst)
{
	_cleanup_close_ int nfd = -1;
	struct tail t;
	struct stat st;
	bool ok;
	int r;

	if ((uint64_t)fst->st_size < a->end)
		return -ESTALE;
	r = read_tail(a->fd, (uint64_t)fst->st_size, a->key->data, &a->scratch, &t);
	if (r < 0)
		return r == -EBADMSG ? r : -ESTALE;
	nfd = open(a->path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (nfd < 0)
		return -ESTALE;
	if (fstat(nfd, &st) < 0 || !S_ISREG(st.st_mode))
		return -ESTALE;
	ok = links_to(a, nfd, t.seq, t.mac);
	for (size_t k = 1; !ok && k <= 2; k++) {
		_cleanup_free_ char *p = path_n(a->path, k);
		_cleanup_close_ int fd = p ? open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;

		ok = fd >= 0 && links_to(a, fd, t.seq, t.mac);
	}
	if (!ok)
		return -ESTALE;
	(void)flock(a->fd, LOCK_UN);
	close(a->fd);
	a->fd = TAKE_FD(nfd);
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	a->end = 0; /* unknown: the tail is read again */
	a->dirty = false;
	return 1;
}

/* Take the lock and make sure we write where the chain is: the file at path is still ours
 * (or the one a peer rotated to), and the head is the file's last record. With sync = batch
 * this starts a lease (the caller keeps the lock): a knocking peer goes first. */
static int journal_lock(struct audit *a)
{
	struct stat fst, pst;
	struct tail t;
	int r;

	if (a->lease) {
		int64_t now = now_ns(CLOCK_MONOTONIC);

		a->knock_ignore = now < a->knock_stale_ns || knock_defer(a->fd);
		if (a->knock_ignore && now >= a->knock_stale_ns)
			a->knock_stale_ns = now + (int64_t)KNOCK_STALE_MS * 1000000;
	}
	for (int tries = 0;; tries++) {
		r = flock_ex(a->fd);
		if (r < 0)
			return r;
		if (fstat(a->fd, &fst) < 0) {
			r = negative_errno();
			goto fail;
		}
		if (fst.st_nlink == 0) {
			r = -ESTALE;
			goto fail;
		}
		if (fstatat(AT_FDCWD, a->path, &pst, AT_SYMLINK_NOFOLLOW) < 0) {
			r = errno == ENOENT ? -ESTALE : negative_errno();
			goto fail;
		}
		if (pst.st_dev == fst.st_dev && pst.st_ino == fst.st_ino)
			break;
		r = tries < 8 ? follow_rotation(a, &fst) : -ESTALE;
		if (r < 0)
			goto fail;
	}
	if ((uint64_t)fst.st_size == a->end)
		return 0;
	if ((uint64_t)fst.st_size < a->end) {
		r = -ESTALE;
		goto fail;
	}
	/* another process appended (or crashed while appending): read its head */
	r = read_tail(a->fd, (uint64_t)fst.st_size, a->key->data, &a->scratch, &t);
	if (r >= 0 && t.end < a->end)
		r = -ESTALE;
	if (r < 0)
		goto fail;
	a->seq = t.seq;
	memcpy(a->mac, t.mac, CRYPTO_MAC_LEN);
	a->end = t.end;
	if (t.torn > 0) {
		r = recover_torn(a, t.torn);
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	(void)flock(a->fd, LOCK_UN);
	return r;
}

/* Let the lock go, and with it the lease. */
static void journal_unlock(struct audit *a)
{
	(void)flock(a->fd, LOCK_UN);
	a->leased = false;
	a->knock_ignore = false;
}

/* A lease holder's look for a knock, at most every KNOCK_CHECK_MS: true when a peer knocks. */
static bool lease_knocked(struct audit *a, int64_t now)
{
	if (a->knock_ignore || now < a->knock_next_ns)
		return false;
	a->knock_next_ns = now + (int64_t)KNOCK_CHECK_MS * 1000000;
	return knocked(a->fd);
}

/* After a group that holds the lock: may the writer keep it (start or go on with its lease)?
 * Only with sync = batch, not after an error (the next group checks everything again), not
 * after a sync (the lease ends there), and not when a peer knocks. now: CLOCK_MONOTONIC. */
static bool lease_keep(struct audit *a, int r, bool synced, int64_t now)
{
	if (!a->lease || r < 0 || synced)
		return false;
	if (!a->leased) { /* journal_lock looked for a knock just before */
		a->knock_next_ns = now + (int64_t)KNOCK_CHECK_MS * 1000000;
		return true;
	}
	return !lease_knocked(a, now);
}

/* sync = batch: when the next fdatasync is due (CLOCK_MONOTONIC ns). */
static int64_t batch_due(const struct audit *a)
{
	return a->last_sync_ns + (int64_t)VAULTFS_AUDIT_BATCH_MS * 1000000;
}

static int sync_file(struct audit *a)
{
	if (a->dirty && fdatasync(a->fd) < 0)
		return negative_errno();
	a->dirty = false;
	a->last_sync_ns = now_ns(CLOCK_MONOTONIC);
	return 0;
}

/* Anchor the head (after a sync, with the lock held). */
static int anchor_write(struct audit *a)
{
	struct audit_anchor an = { .seq = a->seq, .dev = a->dev, .ino = a->ino };
	char text[ANCHOR_TEXT_MAX];
	int r;

	if (!a->store) { /* nothing to anchor in; the count of sync = none starts again */
		a->unanchored = 0;
		return 0;
	}
	if (a->seq == a->anchored_seq && !a->anchor_error)
		return 0;
	memcpy(an.mac, a->mac, CRYPTO_MAC_LEN);
	r = anchor_text(&an, a->key->data, text, sizeof(text));
	if (r >= 0)
		r = store_meta_set(a->store, AUDIT_ANCHOR_KEY, text, (size_t)r);
	a->anchor_error = r < 0 ? r : 0;
	if (r < 0)
		return r;
	a->anchored_seq = a->seq;
	a->unanchored = 0;
	return 0;
}

static void publish(struct audit *a, struct pending *list, int r)
{
	pthread_mutex_lock(&a->lock);
	while (list) {
		struct pending *next = list->next; /* list may be gone once done is set */

		list->result = r;
		list->done = true;
		list = next;
	}
	pthread_cond_broadcast(&a->done);
	pthread_mutex_unlock(&a->lock);
}

static bool space_error(int r)
{
	return r == -ENOSPC || r == -EDQUOT || r == -EFBIG;
}

/* One group: lock (unless a lease holds it), write every record, sync when the mode or a flush
 * asks for it, let the producers go, anchor, unlock (or keep the lock as a lease). */
static void writer_batch(struct audit *a, struct pending *list)
{
	struct pending *recs = NULL, **rt = &recs, *flushes = NULL, **ft = &flushes;
	int64_t now = 0;
	bool sync;
	int r, ra = 0;

	while (list) {
		struct pending *next = list->next;

		list->next = NULL;
		if (list->body)
			*rt = list, rt = &list->next;
		else
			*ft = list, ft = &list->next;
		list = next;
	}
	pthread_mutex_lock(&a->lock);
	r = a->error;
	pthread_mutex_unlock(&a->lock);
	if (r < 0) {
		if (a->leased)
			journal_unlock(a);
		publish(a, recs, r);
		publish(a, flushes, r);
		return;
	}
	/* under a lease, what journal_lock saw still holds: no peer appended or rotated */
	r = a->leased ? 0 : journal_lock(a);
	if (r < 0) {
		if (r != -ETIMEDOUT) /* a stuck peer fails this group only */
			set_error(a, r);
		publish(a, recs, r);
		publish(a, flushes, r);
		return;
	}
	if (recs) {
		r = write_records(a, recs);
		if (r < 0 && !space_error(r))
			set_error(a, r);
	}
	sync = r >= 0 && (a->sync == AUDIT_SYNC_ALWAYS || flushes ||
			  (a->sync == AUDIT_SYNC_NONE &&
			   a->unanchored >= VAULTFS_AUDIT_ANCHOR_EVERY));
	if (sync) {
		r = sync_file(a);
		if (r < 0)
			set_error(a, r);
	}
	publish(a, recs, r);
	/* batch under steady load: the writer is never idle, so the period is kept here (after
	 * the producers are gone: they wait for the write, not for this sync) */
	if (r >= 0 && !sync && a->sync == AUDIT_SYNC_BATCH) {
		now = now_ns(CLOCK_MONOTONIC);
		if (a->dirty && now >= batch_due(a)) {
			r = sync_file(a);
			if (r < 0)
				set_error(a, r);
			sync = r >= 0;
		}
	}
	if (sync && r >= 0)
		ra = anchor_write(a);
	if (lease_keep(a, r, sync, now))
		a->leased = true;
	else
		journal_unlock(a);
	publish(a, flushes, r < 0 ? r : ra);
}

/* The batch flusher's and the final sync: lock (unless a lease holds it), sync, anchor,
 * unlock: the lease ends here. */
static int writer_sync(struct audit *a)
{
	int r;

	pthread_mutex_lock(&a->lock);
	r = a->error;
	pthread_mutex_unlock(&a->lock);
	if (r < 0) {
		if (a->leased)
			journal_unlock(a);
		return r;
	}
	r = a->leased ? 0 : journal_lock(a);
	if (r >= 0) {
		r = sync_file(a);
		if (r >= 0)
			r = anchor_write(a);
		else
			set_error(a, r);
		journal_unlock(a);
	} else if (r != -ETIMEDOUT) {
		set_error(a, r);
	}
	return r;
}

/* Take the next group off the queue (lock held, queue not empty). */
static struct pending *take_group(struct audit *a)
{
	struct pending *list = a->head, *last = list;
	size_t n = 1;

	while (last->next && n < VAULTFS_AUDIT_GROUP_MAX)
		last = last->next, n++;
	a->head = last->next;
	if (!a->head)
		a->tail = NULL;
	last->next = NULL;
	a->queued -= n;
	pthread_cond_broadcast(&a->space);
	return list;
}

/* Write the next group as the writer (lock held, queue not empty, nobody writing): the lock
 * is let go while it is written. */
static void write_group(struct audit *a)
{
	struct pending *list = take_group(a);

	a->writing = true;
	pthread_mutex_unlock(&a->lock);
	writer_batch(a, list);
	pthread_mutex_lock(&a->lock);
	a->writing = false;
}

/* The writer thread: groups that queued while an appender was writing (see submit), the batch
 * mode's timed sync (which ends a lease), and a lease holder's look for a knock while no group
 * comes to look. */
static void *writer_main(void *arg)
{
	struct audit *a = arg;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		if (a->writing) {
			pthread_cond_wait(&a->work, &a->lock);
			continue;
		}
		if (a->head) {
			write_group(a);
			continue;
		}
		if (a->stop)
			break;
		if (a->sync == AUDIT_SYNC_BATCH && (a->dirty || a->leased) && !a->error) {
			int64_t now = now_ns(CLOCK_MONOTONIC), due = batch_due(a);
			bool look = a->leased && !a->knock_ignore;
			struct timespec ts;

			a->timer = false;
			if (now >= due || (look && now >= a->knock_next_ns)) {
				a->writing = true;
				pthread_mutex_unlock(&a->lock);
				if (now >= due)
					(void)writer_sync(a);
				else if (lease_knocked(a, now))
					journal_unlock(a);
				pthread_mutex_lock(&a->lock);
				a->writing = false;
				continue;
			}
			ts = ns_to_ts(look ? MIN(due, a->knock_next_ns) : due);
			a->timer = true;
			a->timer_looks = look;
			pthread_cond_timedwait(&a->work, &a->lock, &ts);
			a->timer = false;
		} else {
			pthread_cond_wait(&a->work, &a->lock);
		}
	}
	pthread_mutex_unlock(&a->lock);
	if (a->dirty || a->seq != a->anchored_seq || a->leased)
		(void)writer_sync(a);
	return NULL;
}

/* --- the systemd journal --- */

/* Decimal digits of v at the end of t; returns where they start. */
static const char *u64_str(uint64_t v, char t[21])
{
	size_t i = 20;

	t[i] = '\0';
	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return t + i;
}

/* KEY=val into b, and where it ends into ends[(*n)++]. */
static int journal_field(struct sbuf *b, const char *key, const char *val, size_t *ends,
			 size_t *n)
{
	int r = sb_puts(b, key);

	if (r >= 0)
		r = sb_putc(b, '=');
	if (r >= 0)
		r = sb_puts(b, val);
	if (r >= 0)
		ends[(*n)++] = b->len;
	return r;
}

/* The record as a systemd journal entry: every field into one buffer (no printf: this runs
 * once per append), then one sd_journal_sendv. Never fails the append. */
static void journal_send(const struct audit_record *rec, uint64_t seq, int64_t time_us)
{
	struct sbuf b = { .max = VAULTFS_AUDIT_LINE_MAX };
	size_t ends[24], n = 0;
	struct iovec iov[24];
	char tbuf[32], num[21];
	int e = rec->err < 0 ? -rec->err : rec->err;
	const char *decision = rec->decision == AUDIT_DENY ? "deny" : "allow";
	const struct {
		const char *key, *val;
	} strs[] = {
		{ "VAULTFS_EVENT", rec->event },
		{ "VAULTFS_RULE", rec->rule },
		{ "VAULTFS_VAULT", rec->vault },
		{ "VAULTFS_OBJECT", rec->object },
		{ "VAULTFS_PATH", rec->path },
		{ "VAULTFS_EXE", rec->exe },
		{ "VAULTFS_CGROUP", rec->cgroup },
		{ "VAULTFS_UNIT", rec->unit },
		{ "VAULTFS_CONTAINER", rec->container },
		{ "VAULTFS_ERRNO", e ? strerrorname_np(e) : NULL },
	};
	const struct {
		const char *key;
		int64_t val;
	} nums[] = { { "VAULTFS_UID", rec->uid },
		     { "VAULTFS_GID", rec->gid },
		     { "VAULTFS_PID", rec->pid },
		     { "VAULTFS_VERSION", rec->version ? (int64_t)rec->version : -1 } };
	int r;

	r = sb_puts(&b, "MESSAGE=vaultfs audit: ");
	if (r >= 0)
		r = sb_puts(&b, rec->event);
	if (r >= 0)
		r = sb_putc(&b, ' ');
	if (r >= 0)
		r = sb_puts(&b, decision);
	if (r >= 0)
		r = sb_putc(&b, ' ');
	if (r >= 0 && rec->vault)
		r = sb_puts(&b, rec->vault);
	if (r >= 0 && rec->object)
		r = sb_putc(&b, '/');
	if (r >= 0 && rec->object)
		r = sb_puts(&b, rec->object);
	if (r >= 0)
		ends[n++] = b.len;
	if (r >= 0)
		r = journal_field(&b, "MESSAGE_ID", AUDIT_MESSAGE_ID, ends, &n);
	if (r >= 0)
		r = journal_field(&b, "PRIORITY", rec->decision == AUDIT_DENY ? "4" : "5", ends,
				  &n);
	if (r >= 0)
		r = journal_field(&b, "SYSLOG_IDENTIFIER", "vaultfs-audit", ends, &n);
	if (r >= 0)
		r = journal_field(&b, "VAULTFS_SEQ", u64_str(seq, num), ends, &n);
	if (r >= 0)
		r = journal_field(&b, "VAULTFS_TIME", audit_format_time(time_us, tbuf), ends, &n);
	if (r >= 0)
		r = journal_field(&b, "VAULTFS_DECISION", decision, ends, &n);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(strs); i++)
		if (strs[i].val)
			r = journal_field(&b, strs[i].key, strs[i].val, ends, &n);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(nums); i++)
		if (nums[i].val >= 0)
			r = journal_field(&b, nums[i].key, u64_str((uint64_t)nums[i].val, num),
					  ends, &n);
	if (r >= 0) {
		for (size_t i = 0; i < n; i++) {
			size_t start = i ? ends[i - 1] : 0;

			iov[i] = (struct iovec){ .iov_base = b.p + start,
						 .iov_len = ends[i] - start };
		}
		(void)sd_journal_sendv(iov, (int)n);
	}
	sb_done(&b);
}

/* --- open, append, flush, free --- */

/* Open the file, lock it, find the head, hold it against the anchor, cut a torn tail. */
static int journal_open_file(struct audit *a)
{
	_cleanup_free_ char *first = NULL;
	struct audit_anchor an;
	struct stat st, st1;
	struct tail t;
	int r;

	a->fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
				      O_NONBLOCK, 0600);
	if (a->fd < 0)
		return negative_errno();
	if (fstat(a->fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	r = flock_ex(a->fd);
	if (r < 0)
		return r;
	if (fstat(a->fd, &st) < 0) {
		r = negative_errno();
		goto out;
	}
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	/* a rotation cut short between link(PATH, PATH.1) and the rename of the new file */
	first = path_n(a->path, 1);
	if (!first) {
		r = -ENOMEM;
		goto out;
	}
	if (fstatat(AT_FDCWD, first, &st1, AT_SYMLINK_NOFOLLOW) >= 0 && st1.st_dev == st.st_dev &&
	    st1.st_ino == st.st_ino && unlink(first) < 0) {
		r = negative_errno();
		goto out;
	}
	r = read_tail(a->fd, (uint64_t)st.st_size, a->key->data, &a->scratch, &t);
	if (r < 0)
		goto out;
	a->seq = t.seq;
	memcpy(a->mac, t.mac, CRYPTO_MAC_LEN);
	a->end = t.end;
	if (a->store) {
		r = audit_anchor_load(a->store, a->key->data, &an);
		if (r == -ENOENT) {
			r = 0;
		} else if (r >= 0) {
			if (an.seq > t.seq ||
			    (an.seq == t.seq && !crypto_memeq(an.mac, t.mac, CRYPTO_MAC_LEN)))
				r = -EBADMSG; /* truncated, rolled back or replaced */
			else if (an.seq == t.seq)
				a->anchored_seq = t.seq;
		}
		if (r < 0)
			goto out;
	}
	if (t.torn > 0)
		r = recover_torn(a, t.torn);
	else if (st.st_size == 0)
		r = fsync_dir(a->dir);
out:
	(void)flock(a->fd, LOCK_UN);
	return r;
}

static void audit_destroy(struct audit *a)
{
	if (a->fd >= 0 && a->leased) /* a forked child may share the file description */
		(void)flock(a->fd, LOCK_UN);
	if (a->fd >= 0)
		close(a->fd);
	store_free(a->store);
	crypto_mac_free(a->mac_ctx);
	secbuf_free(a->key);
	sb_done(&a->out);
	sb_done(&a->scratch);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->work);
	pthread_cond_destroy(&a->space);
	pthread_cond_destroy(&a->done);
	free(a->path);
	free(a->dir);
	free(a);
}

int audit_open(const char *path, const struct audit_options *o,
	       const uint8_t key[CRYPTO_KEY_LEN], struct audit **ret)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	struct audit *a;
	char *d;
	int r;

	if (!path || !*path || strlen(path) >= VAULTFS_PATH_MAX || !o || !key || !ret)
		return -EINVAL;
	if (o->sync != AUDIT_SYNC_ALWAYS && o->sync != AUDIT_SYNC_BATCH &&
	    o->sync != AUDIT_SYNC_NONE)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->fd = -1;
	a->sync = o->sync;
	a->lease = o->lease && o->sync == AUDIT_SYNC_BATCH;
	a->rotate_size = o->rotate_size;
	a->out.max = (size_t)VAULTFS_AUDIT_GROUP_MAX * VAULTFS_AUDIT_LINE_MAX;
	a->scratch.max = VAULTFS_AUDIT_LINE_MAX + CRYPTO_MAC_LEN + 1;
	pthread_mutex_init(&a->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->work, &ca);
	pthread_cond_init(&a->space, &ca);
	pthread_cond_init(&a->done, &ca);
	pthread_condattr_destroy(&ca);
	a->path = strdup(path);
	d = a->path ? strdup(path) : NULL;
	a->dir = d ? strdup(dirname(d)) : NULL;
	free(d);
	if (!a->path || !a->dir) {
		audit_destroy(a);
		return -ENOMEM;
	}
	r = secbuf_dup(key, CRYPTO_KEY_LEN, &a->key);
	if (r >= 0)
		r = crypto_mac_new(key, &a->mac_ctx);
	if (r >= 0 && o->store_path)
		r = store_open(o->store_path, 0, &a->store);
	if (r >= 0)
		r = journal_open_file(a);
	if (r < 0) {
		audit_destroy(a);
		return r;
	}
	a->journal = access(JOURNAL_SOCKET, F_OK) == 0;
	a->last_sync_ns = now_ns(CLOCK_MONOTONIC);
	/* the writer takes no signals: they stay with the program's threads */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&a->thread, NULL, writer_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		audit_destroy(a);
		return r;
	}
	a->thread_started = true;
	*ret = a;
	return 0;
}

/* Queue p and wait until it is written. When nobody is writing, the caller writes the group
 * itself (p and whatever queued before it): an append to an idle journal costs no thread
 * switch. Groups that queue meanwhile go to the writer thread, so no caller writes others'
 * records for longer than one group. */
static int submit(struct audit *a, struct pending *p)
{
	struct timespec ts = {};
	bool lease_begun = false;
	int r = 0;

	pthread_mutex_lock(&a->lock);
	if (a->queued >= VAULTFS_AUDIT_QUEUE_MAX) /* the clock is read only when we must wait */
		ts = ns_to_ts(now_ns(CLOCK_MONOTONIC) +
			      (int64_t)VAULTFS_AUDIT_QUEUE_TIMEOUT_MS * 1000000);
	while (!a->error && !a->stop && a->queued >= VAULTFS_AUDIT_QUEUE_MAX && r == 0)
		r = pthread_cond_timedwait(&a->space, &a->lock, &ts);
	if (a->error || a->stop || r != 0) {
		r = a->error ? a->error : a->stop ? -ESHUTDOWN : -ETIMEDOUT;
		pthread_mutex_unlock(&a->lock);
		return r;
	}
	if (a->tail)
		a->tail->next = p;
	else
		a->head = p;
	a->tail = p;
	a->queued++;
	if (!a->writing) {
		write_group(a);
		/* nobody writes now (the lock is held): the lease fields are safe to read. A
		 * lease just begun must be looked after for knocks by a writer thread that went to
		 * sleep without one */
		lease_begun = a->leased && !a->knock_ignore && a->timer && !a->timer_looks;
	}
	/* the writer thread takes what queued meanwhile, and keeps the batch mode's timer (woken
	 * once a period, not per record) */
	if (a->head || (a->sync == AUDIT_SYNC_BATCH && !a->timer) || lease_begun)
		pthread_cond_signal(&a->work);
	while (!p->done)
		pthread_cond_wait(&a->done, &a->lock);
	r = p->result;
	pthread_mutex_unlock(&a->lock);
	return r;
}

int audit_append(struct audit *a, const struct audit_record *rec, uint64_t *ret_seq)
{
	struct sbuf body = { .max = VAULTFS_AUDIT_LINE_MAX - LINE_OVERHEAD };
	struct pending p = {};
	int64_t time_us = now_ns(CLOCK_REALTIME) / 1000;
	int r;

	if (!a || !rec)
		return -EINVAL;
	r = record_check(rec);
	if (r < 0)
		return r;
	r = serialize_body(rec, time_us, &body);
	if (r < 0) {
		sb_done(&body);
		return r;
	}
	p.body = body.p;
	p.len = body.len;
	r = submit(a, &p);
	sb_done(&body);
	if (r < 0)
		return r;
	if (a->journal)
		journal_send(rec, p.seq, time_us);
	if (ret_seq)
		*ret_seq = p.seq;
	return 0;
}

int audit_flush(struct audit *a)
{
	struct pending p = {};

	if (!a)
		return -EINVAL;
	return submit(a, &p);
}

void audit_free(struct audit *a)
{
	if (!a)
		return;
	if (a->thread_started) {
		pthread_mutex_lock(&a->lock);
		a->stop = true;
		pthread_cond_signal(&a->work);
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->thread, NULL);
	}
	audit_destroy(a);
}

/* --- verify --- */

static _printf_(4, 5) void bad(struct audit_verify *v, uint64_t seq, size_t file,
			       const char *fmt, ...)
{
	va_list ap;

	if (v->bad_seq)
		return;
	v->bad_seq = seq ? seq : 1;
	v->bad_file = file;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* One record in chain position: checks everything but what only the anchor can tell. */
static void verify_one(struct audit_verify *v, const struct audit_entry *e, size_t file,
		       bool file_start, uint8_t prev[CRYPTO_MAC_LEN])
{
	uint64_t want = v->last_seq + 1;

	if (v->records == 0 && file == 0 && file_start) {
		if (e->seq == 1 && !all_zero(e->prev, CRYPTO_MAC_LEN))
			bad(v, 1, file, "the first record does not start a chain");
		else if (e->seq > 1 && !streq(e->rec.event, "rotate"))
			bad(v, 1, file, "the journal starts at seq %" PRIu64 ": records before it "
				       "are missing", e->seq);
		else if (e->seq > 1)
			v->mid_chain = true;
		want = e->seq;
		memcpy(prev, e->prev, CRYPTO_MAC_LEN);
	}
	if (e->seq != want)
		bad(v, want, file, e->seq > want ? "record missing (found seq %" PRIu64 " next)" :
						   "out of order (found seq %" PRIu64 ")", e->seq);
	else if (!crypto_memeq(e->prev, prev, CRYPTO_MAC_LEN))
		bad(v, e->seq, file, "prev is not the mac of the record before it");
	else if (file_start && file > 0 && !streq(e->rec.event, "rotate"))
		bad(v, e->seq, file, "a rotated file must start with a rotate record");
}

int audit_verify_files(const char *const *paths, size_t n, const uint8_t key[CRYPTO_KEY_LEN],
		       const struct audit_anchor *anchor, struct audit_verify *ret)
{
	struct sbuf scratch = { .max = VAULTFS_AUDIT_LINE_MAX + CRYPTO_MAC_LEN + 1 };
	struct audit_verify v = {};
	uint8_t prev[CRYPTO_MAC_LEN] = {};
	bool anchor_seen = false;
	int r = 0;

	if (!paths || !key || !ret)
		return -EINVAL;
	for (size_t i = 0; i < n && !v.bad_seq; i++) {
		_cleanup_(readerp) struct audit_reader *rd = NULL;
		bool file_start = true;
		const char *line;
		size_t len;

		r = audit_reader_open(paths[i], &rd);
		if (r < 0)
			goto out;
		while (!v.bad_seq && (r = audit_reader_next(rd, &line, &len)) > 0) {
			struct audit_entry e;
			int k;

			k = audit_parse_line(line, len, &e);
			if (k == -ENOMEM) {
				r = k;
				goto out;
			}
			if (k < 0) {
				bad(&v, v.last_seq + 1, i, "not a well-formed record");
				break;
			}
			verify_one(&v, &e, i, file_start, prev);
			k = v.bad_seq ? 1 : mac_ok(&e, line, len, key, &scratch);
			if (k < 0) {
				audit_entry_done(&e);
				r = k;
				goto out;
			}
			if (k == 0)
				bad(&v, e.seq, i, "the MAC does not verify: the record was changed "
						  "or forged");
			if (!v.bad_seq && anchor && e.seq == anchor->seq) {
				anchor_seen = true;
				if (!crypto_memeq(e.mac, anchor->mac, CRYPTO_MAC_LEN))
					bad(&v, e.seq, i, "differs from the head anchored in "
							  "the store (replaced)");
			}
			if (!v.bad_seq) {
				if (v.records++ == 0)
					v.first_seq = e.seq;
				v.last_seq = e.seq;
				memcpy(prev, e.mac, CRYPTO_MAC_LEN);
			}
			file_start = false;
			audit_entry_done(&e);
		}
		if (r == -EBADMSG)
			bad(&v, v.last_seq + 1, i, "a line longer than %u bytes",
			    VAULTFS_AUDIT_LINE_MAX);
		else if (r < 0)
			goto out;
		else if (!v.bad_seq && audit_reader_pending(rd) > 0)
			bad(&v, v.last_seq + 1, i, "torn last line (a crash: the writer cuts it "
						   "off when it next opens the journal)");
		r = 0;
	}
	if (!v.bad_seq && anchor) {
		if (v.last_seq < anchor->seq)
			bad(&v, v.last_seq + 1, n ? n - 1 : 0,
			    "the journal ends at seq %" PRIu64 " but the store's anchor is at seq %"
			    PRIu64 ": records were cut off or an older copy put back", v.last_seq,
			    anchor->seq);
		else if (anchor_seen)
			v.anchor = v.last_seq == anchor->seq ? 1 : 2;
	}
	*ret = v;
out:
	sb_done(&scratch);
	return r;
}

static int cmp_desc(const void *x, const void *y)
{
	size_t a = *(const size_t *)x, b = *(const size_t *)y;

	return a < b ? 1 : a > b ? -1 : 0;
}

/* The N of a directory entry named BASE.N (N a number without leading zeros), 0 if none. */
static size_t rotated_index(const char *name, const char *base)
{
	size_t n = strlen(base), k = 0;
	const char *p = name + n + 1;

	if (strncmp(name, base, n) != 0 || name[n] != '.' || *p < '1' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		k = k * 10 + (size_t)(*p - '0');
		if (k > VAULTFS_AUDIT_ROTATED_MAX)
			return 0;
	}
	return *p ? 0 : k;
}

int audit_list_files(const char *path, char ***ret, size_t *ret_n)
{
	_cleanup_free_ char *d1 = strdup(path), *d2 = strdup(path);
	_cleanup_free_ size_t *idx = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	char **v;
	DIR *dir;

	if (!d1 || !d2)
		return -ENOMEM;
	/* every PATH.N there is, gaps included: a file missing in the middle breaks the chain */
	dir = opendir(dirname(d1));
	if (!dir)
		return negative_errno();
	while ((de = readdir(dir))) {
		size_t k = rotated_index(de->d_name, basename(d2));

		if (!k)
			continue;
		if (n == cap) {
			size_t *p = reallocarray(idx, cap ? 2 * cap : 16, sizeof(*idx));

			if (!p) {
				closedir(dir);
				return -ENOMEM;
			}
			idx = p;
			cap = cap ? 2 * cap : 16;
		}
		idx[n++] = k;
	}
	closedir(dir);
	if (n > 0)
		qsort(idx, n, sizeof(*idx), cmp_desc);
	v = calloc(n + 2, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		v[k] = path_n(path, idx[k]);
		if (!v[k]) {
			audit_paths_free(v);
			return -ENOMEM;
		}
	}
	v[n] = strdup(path);
	if (!v[n]) {
		audit_paths_free(v);
		return -ENOMEM;
	}
	*ret = v;
	*ret_n = n + 1;
	return 0;
}

void audit_paths_free(char **paths)
{
	if (!paths)
		return;
	for (char **p = paths; *p; p++)
		free(*p);
	free(paths);
}
