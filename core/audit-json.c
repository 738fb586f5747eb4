/* audit-json.c: a record and its line, both ways: the canonical serializer (audit.h says the
 * form), the MAC of a line, the strict parser that takes back only what the serializer writes,
 * and the record's time format. Pure functions: no file, no lock, no clock. It must never
 * accept a line that is not byte for byte what it would write, nor trust a field's bytes. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "core/audit-int.h"
#include "core/timeutil.h"

#define EVENT_MAX 32u

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
static int put_json_str(struct buf *b, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n, i = 0;

	if (!s)
		return buf_put(b, "null", 4);
	n = strlen(s);
	buf_putc(b, '"');
	while (!b->err && i < n) {
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
			buf_put(b, p + start, i - start);
		if (i == n)
			break;
		c = p[i++];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };

			buf_put(b, esc, 2);
		} else { /* a control byte, or not part of valid UTF-8 */
			char esc[6] = { '\\', 'u', '0', '0' };

			hex_encode(&c, 1, esc + 4);
			buf_put(b, esc, 6);
		}
	}
	return buf_putc(b, '"');
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

int audit_record_check(const struct audit_record *r)
{
	const char *const strs[] = { r->rule, r->exe,	 r->vault, r->object,
				     r->path, r->cgroup, r->unit,  r->container };
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

/* ,"key":value for a string (NULL: null) and for an id (-1: null). */
static void put_str_member(struct buf *b, const char *key, const char *s)
{
	buf_puts(b, key);
	put_json_str(b, s);
}

static void put_id_member(struct buf *b, const char *key, int64_t v)
{
	buf_puts(b, key);
	if (v < 0)
		buf_put(b, "null", 4);
	else
		buf_put_u64(b, (uint64_t)v);
}

int audit_serialize_body(const struct audit_record *rec, int64_t time_us, struct buf *b)
{
	int e = rec->err < 0 ? -rec->err : rec->err;
	const char *name = e ? strerrorname_np(e) : NULL;
	char tbuf[32];

	buf_puts(b, "\"time\":\"");
	buf_puts(b, time_format_us(time_us, tbuf));
	put_str_member(b, "\",\"event\":", rec->event);
	buf_puts(b, rec->decision == AUDIT_DENY ? ",\"decision\":\"deny\",\"errno\":" :
						  ",\"decision\":\"allow\",\"errno\":");
	if (!e)
		buf_puts(b, "null");
	else if (name)
		put_json_str(b, name);
	else
		buf_put_u64(b, (uint64_t)e);
	put_str_member(b, ",\"rule\":", rec->rule);
	put_str_member(b, ",\"vault\":", rec->vault);
	put_str_member(b, ",\"object\":", rec->object);
	put_id_member(b, ",\"version\":", rec->version ? (int64_t)rec->version : -1);
	put_str_member(b, ",\"path\":", rec->path);
	put_id_member(b, ",\"uid\":", rec->uid);
	put_id_member(b, ",\"gid\":", rec->gid);
	put_id_member(b, ",\"pid\":", rec->pid);
	put_str_member(b, ",\"exe\":", rec->exe);
	put_str_member(b, ",\"cgroup\":", rec->cgroup);
	put_str_member(b, ",\"unit\":", rec->unit);
	put_str_member(b, ",\"container\":", rec->container);
	return b->err;
}

/* HMAC(key, prev || p[0..n) || "}" when close), with the keyed context m when given (the
 * writer's: the key schedule once, not per record), else one-shot under key. scratch is reused
 * between calls. */
static int line_mac(const uint8_t *key, struct crypto_mac *m, const uint8_t prev[CRYPTO_MAC_LEN],
		    const char *p, size_t n, bool close, struct buf *scratch,
		    uint8_t ret[CRYPTO_MAC_LEN])
{
	buf_clear(scratch);
	buf_put(scratch, prev, CRYPTO_MAC_LEN);
	buf_put(scratch, p, n);
	if (close)
		buf_putc(scratch, '}');
	if (scratch->err)
		return scratch->err;
	return m ? crypto_mac_compute(m, scratch->p, scratch->len, ret) :
		   crypto_hmac(key, scratch->p, scratch->len, ret);
}

/* {"seq":N, and ,"prev":"<hex>": what stands around the body of every line. */
static void put_seq(struct buf *b, uint64_t seq)
{
	buf_puts(b, "{\"seq\":");
	buf_put_u64(b, seq);
	buf_putc(b, ',');
}

static void put_prev(struct buf *b, const uint8_t prev[CRYPTO_MAC_LEN])
{
	buf_puts(b, ",\"prev\":\"");
	buf_put_hex(b, prev, CRYPTO_MAC_LEN);
}

int audit_append_line(struct buf *b, struct crypto_mac *m, uint64_t seq, const char *body,
		      size_t body_len, const uint8_t prev[CRYPTO_MAC_LEN], struct buf *scratch,
		      uint8_t ret_mac[CRYPTO_MAC_LEN])
{
	size_t start = b->len;
	uint8_t mac[CRYPTO_MAC_LEN];
	int r;

	put_seq(b, seq);
	buf_put(b, body, body_len);
	put_prev(b, prev);
	r = buf_puts(b, "\"}");
	if (r >= 0)
		r = line_mac(NULL, m, prev, b->p + start, b->len - start, false, scratch, mac);
	if (r >= 0) {
		b->len--; /* the closing brace: the mac member goes before it */
		buf_puts(b, ",\"mac\":\"");
		buf_put_hex(b, mac, CRYPTO_MAC_LEN);
		r = buf_puts(b, "\"}\n");
	}
	if (r >= 0 && b->len - start > VAULTFS_AUDIT_LINE_MAX)
		r = -EMSGSIZE;
	if (r < 0) {
		b->len = start;
		b->err = 0;
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

static int parse_hex(struct cursor *c, uint8_t *out, size_t n)
{
	if ((size_t)(c->end - c->p) < 2 * n || hex_decode(c->p, n, out) < 0)
		return -EBADMSG;
	c->p += 2 * n;
	return 0;
}

/* A string (decoded, NUL-terminated, into out; *ret_off its offset) or null (*ret_off
 * SIZE_MAX). Only the escapes the serializer writes are accepted. */
static int parse_str(struct cursor *c, struct buf *out, size_t *ret_off)
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
				hi = hex_digit(c->p[2]);
				lo = hex_digit(c->p[3]);
				if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
					return -EBADMSG;
				ch = (char)(hi << 4 | lo);
				c->p += 4;
			} else if (ch != '"' && ch != '\\') {
				return -EBADMSG;
			}
		}
		r = buf_putc(out, ch);
		if (r < 0)
			return r;
	}
	r = buf_putc(out, '\0');
	if (r < 0)
		return r;
	*ret_off = off;
	return 0;
}

static int parse_time(struct cursor *c, int64_t *ret)
{
	if (time_parse_us(c->p, (size_t)(c->end - c->p), ret) < 0)
		return -EBADMSG;
	c->p += TIME_FORMAT_US_LEN;
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

enum { F_EVENT, F_ERRNO, F_RULE, F_VAULT, F_OBJECT, F_PATH, F_EXE, F_CGROUP, F_UNIT, F_CONT, F_N };

static int parse_fields(struct cursor *c, struct audit_entry *e, struct buf *sb, size_t *off)
{
	static const char *const keys[] = {
		[F_RULE] = ",\"rule\":",      [F_VAULT] = ",\"vault\":",
		[F_OBJECT] = ",\"object\":",  [F_EXE] = ",\"exe\":",
		[F_CGROUP] = ",\"cgroup\":",  [F_UNIT] = ",\"unit\":",
		[F_CONT] = ",\"container\":",
	};
	uint64_t v;

	if (!lit(c, "{\"seq\":") || parse_u64(c, &e->seq) < 0 || e->seq == 0 ||
	    !lit(c, ",\"time\":\"") || parse_time(c, &e->time_us) < 0 || !lit(c, "\",\"event\":") ||
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
	struct buf b = { .max = VAULTFS_AUDIT_LINE_MAX + 1 };
	int r;

	r = audit_record_check(&e->rec);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	put_seq(&b, e->seq);
	audit_serialize_body(&e->rec, e->time_us, &b);
	put_prev(&b, e->prev);
	buf_puts(&b, "\",\"mac\":\"");
	buf_put_hex(&b, e->mac, CRYPTO_MAC_LEN);
	r = buf_puts(&b, "\"}");
	if (r >= 0)
		r = b.len == len && memcmp(b.p, line, len) == 0 ? 0 : -EBADMSG;
	buf_done(&b);
	return r == -EMSGSIZE ? -EBADMSG : r;
}

int audit_parse_line(const char *line, size_t len, struct audit_entry *ret)
{
	struct audit_entry e = { .rec = AUDIT_RECORD_INIT };
	struct buf sb = { .max = VAULTFS_AUDIT_LINE_MAX };
	struct cursor c = { line, line + len };
	size_t off[F_N];
	const char **dst[F_N] = {
		[F_EVENT] = &e.rec.event,   [F_RULE] = &e.rec.rule, [F_VAULT] = &e.rec.vault,
		[F_OBJECT] = &e.rec.object, [F_PATH] = &e.rec.path, [F_EXE] = &e.rec.exe,
		[F_CGROUP] = &e.rec.cgroup, [F_UNIT] = &e.rec.unit, [F_CONT] = &e.rec.container,
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
		buf_done(&sb);
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

int audit_mac_ok(const struct audit_entry *e, const char *line, size_t len, const uint8_t *key,
		 struct buf *scratch)
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
	struct buf scratch = { .max = MAC_SCRATCH_MAX };
	int r = audit_mac_ok(e, line, len, key, &scratch);

	buf_done(&scratch);
	return r;
}
