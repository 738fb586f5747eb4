/* ssh-wire.c: OpenSSH's wire forms (ssh-wire.h): strings, uint32 and mpints read and written
 * within bounds; key blobs to and from SubjectPublicKeyInfo DER (a small strict DER reader and
 * writer of our own, so the bytes are canonical and the hot path of an agent's sign request does
 * no allocation); signature blobs to and from JWS; the authorized_keys line. It never trusts a
 * length it has not checked against what remains, and never speaks SHA-1 RSA. The parts that
 * need OpenSSL (digests, verification) are in ssh-wire-crypto.c.
 */
#include <errno.h>
#include <string.h>

#include "ssh-wire.h"
#include "util.h"

/* --- reader --- */

int ssh_get_bytes(struct ssh_reader *r, size_t n, const uint8_t **ret)
{
	if (n > r->n)
		return -EBADMSG;
	if (ret)
		*ret = r->p;
	r->p += n;
	r->n -= n;
	return 0;
}

int ssh_get_u8(struct ssh_reader *r, uint8_t *ret)
{
	const uint8_t *p;
	int k = ssh_get_bytes(r, 1, &p);

	if (k < 0)
		return k;
	*ret = p[0];
	return 0;
}

int ssh_get_bool(struct ssh_reader *r, bool *ret)
{
	uint8_t v;
	int k = ssh_get_u8(r, &v);

	if (k < 0)
		return k;
	*ret = v != 0;
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int ssh_get_u32(struct ssh_reader *r, uint32_t *ret)
{
	const uint8_t *p;
	int k = ssh_get_bytes(r, 4, &p);

	if (k < 0)
		return k;
	*ret = be32(p);
	return 0;
}

int ssh_get_string(struct ssh_reader *r, const uint8_t **ret, size_t *ret_len)
{
	struct ssh_reader save = *r;
	const uint8_t *p;
	uint32_t len;
	int k;

	k = ssh_get_u32(r, &len);
	if (k < 0)
		return k;
	k = ssh_get_bytes(r, len, &p);
	if (k < 0) {
		*r = save;
		return k;
	}
	if (ret)
		*ret = p;
	if (ret_len)
		*ret_len = len;
	return 0;
}

static bool bytes_eq(const uint8_t *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

int ssh_get_string_eq(struct ssh_reader *r, const char *s)
{
	const uint8_t *p;
	size_t n;
	int k = ssh_get_string(r, &p, &n);

	if (k < 0)
		return k;
	return bytes_eq(p, n, s) ? 0 : -ENOENT;
}

int ssh_get_mpint(struct ssh_reader *r, const uint8_t **ret, size_t *ret_len)
{
	const uint8_t *p;
	size_t n;
	int k = ssh_get_string(r, &p, &n);

	if (k < 0)
		return k;
	if (n > 0 && (p[0] & 0x80))
		return -EBADMSG; /* negative */
	/* leading zeros: OpenSSH reads them (some writers pad), so do we */
	while (n > 0 && p[0] == 0) {
		p++;
		n--;
	}
	*ret = p;
	*ret_len = n;
	return 0;
}

/* --- writer --- */

static int ssh_fail(struct ssh_writer *w, int err)
{
	if (!w->err)
		w->err = err;
	return w->err;
}

int ssh_put_bytes(struct ssh_writer *w, const void *p, size_t n)
{
	if (w->err)
		return w->err;
	if (n > w->cap - w->len)
		return ssh_fail(w, -EMSGSIZE);
	if (n > 0)
		memcpy(w->p + w->len, p, n);
	w->len += n;
	return 0;
}

int ssh_put_u8(struct ssh_writer *w, uint8_t v)
{
	return ssh_put_bytes(w, &v, 1);
}

int ssh_put_u32(struct ssh_writer *w, uint32_t v)
{
	uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };

	return ssh_put_bytes(w, b, 4);
}

void ssh_patch_u32(struct ssh_writer *w, size_t off, uint32_t v)
{
	if (w->err || off > w->len || w->len - off < 4)
		return;
	w->p[off] = v >> 24;
	w->p[off + 1] = v >> 16;
	w->p[off + 2] = v >> 8;
	w->p[off + 3] = v;
}

int ssh_put_string(struct ssh_writer *w, const void *p, size_t n)
{
	if (n > UINT32_MAX)
		return ssh_fail(w, -EMSGSIZE);
	ssh_put_u32(w, (uint32_t)n);
	return ssh_put_bytes(w, p, n);
}

int ssh_put_cstring(struct ssh_writer *w, const char *s)
{
	return ssh_put_string(w, s, strlen(s));
}

int ssh_put_mpint(struct ssh_writer *w, const uint8_t *p, size_t n)
{
	bool pad;

	while (n > 0 && p[0] == 0) {
		p++;
		n--;
	}
	pad = n > 0 && (p[0] & 0x80);
	ssh_put_u32(w, (uint32_t)(n + pad));
	if (pad)
		ssh_put_u8(w, 0);
	return ssh_put_bytes(w, p, n);
}

/* --- key kinds --- */

static const struct {
	enum ssh_key_kind kind;
	const char *name;
	const char *curve; /* the curve string of ECDSA blobs */
	size_t field;	   /* ECDSA: bytes of a coordinate; Ed25519: of the key */
	enum key_alg alg;
	const uint8_t *spki_prefix;
	size_t spki_prefix_len;
} kinds[] = {
#define PFX(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })
	{ SSH_KEY_ED25519, "ssh-ed25519", NULL, 32, KEY_ALG_EDDSA,
	  PFX(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00) },
	{ SSH_KEY_ECDSA_P256, "ecdsa-sha2-nistp256", "nistp256", 32, KEY_ALG_ES256,
	  PFX(0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
	      0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04) },
	{ SSH_KEY_ECDSA_P384, "ecdsa-sha2-nistp384", "nistp384", 48, KEY_ALG_ES384,
	  PFX(0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
	      0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00, 0x04) },
	{ SSH_KEY_ECDSA_P521, "ecdsa-sha2-nistp521", "nistp521", 66, KEY_ALG_ES512,
	  PFX(0x30, 0x81, 0x9b, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	      0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23, 0x03, 0x81, 0x86, 0x00, 0x04) },
	{ SSH_KEY_RSA, "ssh-rsa", NULL, 0, KEY_ALG_INVALID, NULL, 0 },
#undef PFX
};

static int kind_index(enum ssh_key_kind k)
{
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
		if (kinds[i].kind == k)
			return (int)i;
	return -1;
}

const char *ssh_key_kind_name(enum ssh_key_kind k)
{
	int i = kind_index(k);

	return i < 0 ? NULL : kinds[i].name;
}

int ssh_key_blob_kind(const uint8_t *blob, size_t n)
{
	struct ssh_reader r = ssh_reader_make(blob, n);
	const uint8_t *name;
	size_t len;
	int k = ssh_get_string(&r, &name, &len);

	if (k < 0)
		return k;
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
		if (bytes_eq(name, len, kinds[i].name))
			return kinds[i].kind;
	return -EOPNOTSUPP;
}

/* --- DER: the little of it SubjectPublicKeyInfo needs --- */

static const uint8_t rsa_algid[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
				     0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00 };

/* One TLV of tag at r: its contents. Definite, minimal lengths only (DER). */
static int der_get(struct ssh_reader *r, uint8_t tag, struct ssh_reader *ret)
{
	const uint8_t *p;
	uint8_t t, l;
	size_t len;
	int k;

	if ((k = ssh_get_u8(r, &t)) < 0 || (k = ssh_get_u8(r, &l)) < 0)
		return k;
	if (t != tag)
		return -EBADMSG;
	if (l < 0x80)
		len = l;
	else if (l == 0x81) {
		if ((k = ssh_get_bytes(r, 1, &p)) < 0)
			return k;
		len = p[0];
		if (len < 0x80)
			return -EBADMSG;
	} else if (l == 0x82) {
		if ((k = ssh_get_bytes(r, 2, &p)) < 0)
			return k;
		len = (size_t)p[0] << 8 | p[1];
		if (len < 0x100)
			return -EBADMSG;
	} else
		return -EBADMSG; /* indefinite, or more than we ever need */
	if ((k = ssh_get_bytes(r, len, &p)) < 0)
		return k;
	*ret = ssh_reader_make(p, len);
	return 0;
}

/* A positive DER INTEGER's magnitude (no sign byte). */
static int der_get_uint(struct ssh_reader *r, const uint8_t **ret, size_t *ret_len)
{
	struct ssh_reader v;
	int k = der_get(r, 0x02, &v);

	if (k < 0)
		return k;
	if (v.n == 0 || (v.p[0] & 0x80))
		return -EBADMSG; /* empty or negative */
	if (v.n > 1 && v.p[0] == 0 && !(v.p[1] & 0x80))
		return -EBADMSG; /* not minimal */
	if (v.p[0] == 0) {
		v.p++;
		v.n--;
	}
	*ret = v.p;
	*ret_len = v.n;
	return 0;
}

static size_t der_hdr_len(size_t len)
{
	return len < 0x80 ? 2 : len < 0x100 ? 3 : 4;
}

static void der_put_hdr(struct ssh_writer *w, uint8_t tag, size_t len)
{
	ssh_put_u8(w, tag);
	if (len >= 0x100) {
		ssh_put_u8(w, 0x82);
		ssh_put_u8(w, (uint8_t)(len >> 8));
	} else if (len >= 0x80)
		ssh_put_u8(w, 0x81);
	ssh_put_u8(w, (uint8_t)len);
}

/* Contents length of a DER INTEGER holding a magnitude of n bytes (no leading zeros). */
static size_t der_uint_len(const uint8_t *p, size_t n)
{
	return n == 0 ? 1 : n + ((p[0] & 0x80) != 0);
}

static void der_put_uint(struct ssh_writer *w, const uint8_t *p, size_t n)
{
	der_put_hdr(w, 0x02, der_uint_len(p, n));
	if (n == 0 || (p[0] & 0x80))
		ssh_put_u8(w, 0);
	ssh_put_bytes(w, p, n);
}

static int rsa_check(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen)
{
	size_t bits;

	if (nlen == 0 || elen == 0 || elen > 8 || !(n[nlen - 1] & 1) || !(e[elen - 1] & 1))
		return -EBADMSG;
	bits = nlen * 8;
	for (uint8_t top = n[0]; !(top & 0x80); top <<= 1)
		bits--;
	if (bits < SSH_RSA_BITS_MIN || bits > SSH_RSA_BITS_MAX)
		return -EOPNOTSUPP;
	return 0;
}

static int rsa_to_spki(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen, uint8_t *der,
		       size_t size, size_t *ret_len)
{
	struct ssh_writer w = ssh_writer_make(der, size);
	size_t ilen, seq, bits, all;

	ilen = der_uint_len(n, nlen);
	seq = der_hdr_len(ilen) + ilen;
	ilen = der_uint_len(e, elen);
	seq += der_hdr_len(ilen) + ilen;
	bits = 1 + der_hdr_len(seq) + seq;
	all = sizeof(rsa_algid) + der_hdr_len(bits) + bits;
	if (all > 0xffff)
		return -EMSGSIZE;
	der_put_hdr(&w, 0x30, all);
	ssh_put_bytes(&w, rsa_algid, sizeof(rsa_algid));
	der_put_hdr(&w, 0x03, bits);
	ssh_put_u8(&w, 0);
	der_put_hdr(&w, 0x30, seq);
	der_put_uint(&w, n, nlen);
	der_put_uint(&w, e, elen);
	if (w.err)
		return w.err;
	*ret_len = w.len;
	return 0;
}

int ssh_key_to_spki(const uint8_t *blob, size_t n, uint8_t *der, size_t size, size_t *ret_len)
{
	struct ssh_reader r = ssh_reader_make(blob, n);
	const uint8_t *q, *e, *m;
	size_t qlen, elen, mlen;
	int kind, i, k;

	kind = ssh_key_blob_kind(blob, n);
	if (kind < 0)
		return kind;
	i = kind_index(kind);
	(void)ssh_get_string(&r, NULL, NULL); /* the name, read above */
	if (kind == SSH_KEY_RSA) {
		if ((k = ssh_get_mpint(&r, &e, &elen)) < 0 ||
		    (k = ssh_get_mpint(&r, &m, &mlen)) < 0)
			return k;
		if (r.n != 0)
			return -EBADMSG;
		if ((k = rsa_check(m, mlen, e, elen)) < 0)
			return k;
		return rsa_to_spki(m, mlen, e, elen, der, size, ret_len);
	}
	if (kinds[i].curve) {
		k = ssh_get_string_eq(&r, kinds[i].curve);
		if (k < 0)
			return -EBADMSG;
		if ((k = ssh_get_string(&r, &q, &qlen)) < 0)
			return k;
		/* the point: 0x04 || X || Y; the 0x04 is the last byte of the prefix */
		if (qlen != 1 + 2 * kinds[i].field || q[0] != 0x04)
			return -EBADMSG;
		q++;
		qlen--;
	} else {
		if ((k = ssh_get_string(&r, &q, &qlen)) < 0)
			return k;
		if (qlen != kinds[i].field)
			return -EBADMSG;
	}
	if (r.n != 0)
		return -EBADMSG;
	if (kinds[i].spki_prefix_len + qlen > size)
		return -EMSGSIZE;
	memcpy(der, kinds[i].spki_prefix, kinds[i].spki_prefix_len);
	memcpy(der + kinds[i].spki_prefix_len, q, qlen);
	*ret_len = kinds[i].spki_prefix_len + qlen;
	return 0;
}

static int rsa_from_spki(const uint8_t *der, size_t n, uint8_t *blob, size_t size, size_t *ret_len)
{
	struct ssh_reader r = ssh_reader_make(der, n), spki, bits, seq;
	struct ssh_writer w = ssh_writer_make(blob, size);
	const uint8_t *m, *e, *algid;
	size_t mlen, elen;
	int k;

	if ((k = der_get(&r, 0x30, &spki)) < 0)
		return k;
	if (r.n != 0)
		return -EBADMSG;
	if ((k = ssh_get_bytes(&spki, sizeof(rsa_algid), &algid)) < 0)
		return k;
	if (memcmp(algid, rsa_algid, sizeof(rsa_algid)) != 0)
		return -EOPNOTSUPP;
	if ((k = der_get(&spki, 0x03, &bits)) < 0)
		return k;
	if (spki.n != 0)
		return -EBADMSG;
	if (bits.n < 1 || bits.p[0] != 0)
		return -EBADMSG; /* unused bits */
	bits.p++;
	bits.n--;
	if ((k = der_get(&bits, 0x30, &seq)) < 0)
		return k;
	if (bits.n != 0)
		return -EBADMSG;
	if ((k = der_get_uint(&seq, &m, &mlen)) < 0 || (k = der_get_uint(&seq, &e, &elen)) < 0)
		return k;
	if (seq.n != 0)
		return -EBADMSG;
	if ((k = rsa_check(m, mlen, e, elen)) < 0)
		return k;
	ssh_put_cstring(&w, "ssh-rsa");
	ssh_put_mpint(&w, e, elen);
	ssh_put_mpint(&w, m, mlen);
	if (w.err)
		return w.err;
	*ret_len = w.len;
	return 0;
}

int ssh_key_from_spki(const uint8_t *der, size_t n, uint8_t *blob, size_t size, size_t *ret_len)
{
	struct ssh_writer w = ssh_writer_make(blob, size);

	if (n > SSH_SPKI_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
		size_t plen = kinds[i].spki_prefix_len, klen;

		if (!kinds[i].spki_prefix || n < plen || memcmp(der, kinds[i].spki_prefix, plen))
			continue;
		klen = kinds[i].curve ? 2 * kinds[i].field : kinds[i].field;
		if (n != plen + klen)
			return -EBADMSG;
		ssh_put_cstring(&w, kinds[i].name);
		if (kinds[i].curve) {
			ssh_put_cstring(&w, kinds[i].curve);
			ssh_put_u32(&w, (uint32_t)(1 + klen));
			ssh_put_u8(&w, 0x04);
			ssh_put_bytes(&w, der + plen, klen);
		} else
			ssh_put_string(&w, der + plen, klen);
		if (w.err)
			return w.err;
		*ret_len = w.len;
		return 0;
	}
	return rsa_from_spki(der, n, blob, size, ret_len);
}

/* --- text --- */

static size_t base64_encode(const uint8_t *p, size_t n, char *out, bool pad)
{
	static const char digits[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = digits[v >> 18];
		out[o++] = digits[(v >> 12) & 63];
		out[o++] = digits[(v >> 6) & 63];
		out[o++] = digits[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);

		out[o++] = digits[v >> 18];
		out[o++] = digits[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = digits[(v >> 6) & 63];
		else if (pad)
			out[o++] = '=';
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

size_t ssh_base64(const uint8_t *p, size_t n, char *out, bool pad)
{
	return base64_encode(p, n, out, pad);
}

int ssh_pubkey_line(const uint8_t *der, size_t n, const char *comment, char *buf, size_t size)
{
	uint8_t blob[SSH_KEY_BLOB_MAX];
	size_t blen, clen = comment ? strlen(comment) : 0, need, o;
	const char *name;
	int k;

	if (clen > SSH_COMMENT_MAX)
		return -EINVAL;
	for (size_t i = 0; i < clen; i++)
		if ((unsigned char)comment[i] < 0x20 || comment[i] == 0x7f)
			return -EINVAL;
	k = ssh_key_from_spki(der, n, blob, sizeof(blob), &blen);
	if (k < 0)
		return k;
	name = ssh_key_kind_name(ssh_key_blob_kind(blob, blen));
	need = strlen(name) + 1 + (blen + 2) / 3 * 4 + (clen ? 1 + clen : 0) + 1;
	if (need > size)
		return -EMSGSIZE;
	o = str_copy(buf, size, name);
	buf[o++] = ' ';
	o += base64_encode(blob, blen, buf + o, true);
	if (clen) {
		buf[o++] = ' ';
		memcpy(buf + o, comment, clen + 1);
	}
	return 0;
}

/* --- signatures --- */

enum key_alg ssh_agent_sign_alg(enum ssh_key_kind k, uint32_t flags)
{
	int i;

	if (k == SSH_KEY_RSA) {
		if (flags & SSH_AGENT_RSA_SHA2_256)
			return KEY_ALG_RS256;
		return KEY_ALG_RS512;
	}
	i = kind_index(k);
	return i < 0 ? KEY_ALG_INVALID : kinds[i].alg;
}

const char *ssh_sig_name(enum key_alg alg)
{
	switch (alg) {
	case KEY_ALG_RS256:
		return "rsa-sha2-256";
	case KEY_ALG_RS512:
		return "rsa-sha2-512";
	default:
		for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
			if (kinds[i].alg == alg && alg != KEY_ALG_INVALID)
				return kinds[i].name;
		return NULL;
	}
}

/* The coordinate size of an ECDSA alg, 0 for others. */
static size_t ec_field(enum key_alg alg)
{
	switch (alg) {
	case KEY_ALG_ES256:
		return 32;
	case KEY_ALG_ES384:
		return 48;
	case KEY_ALG_ES512:
		return 66;
	default:
		return 0;
	}
}

int ssh_sig_from_jws(enum key_alg alg, const uint8_t *sig, size_t n, uint8_t *out, size_t size,
		     size_t *ret_len)
{
	struct ssh_writer w = ssh_writer_make(out, size);
	const char *name = ssh_sig_name(alg);
	size_t f = ec_field(alg), off;

	if (!name)
		return -EOPNOTSUPP;
	if (alg == KEY_ALG_EDDSA) {
		if (n != 64)
			return -EINVAL;
	} else if (f) {
		if (n != 2 * f)
			return -EINVAL;
	} else if (n < SSH_RSA_BITS_MIN / 8 || n > SSH_RSA_BITS_MAX / 8)
		return -EINVAL;
	ssh_put_cstring(&w, name);
	if (!f)
		ssh_put_string(&w, sig, n);
	else {
		off = w.len;
		ssh_put_u32(&w, 0);
		ssh_put_mpint(&w, sig, f);
		ssh_put_mpint(&w, sig + f, f);
		ssh_patch_u32(&w, off, (uint32_t)(w.len - off - 4));
	}
	if (w.err)
		return w.err;
	*ret_len = w.len;
	return 0;
}

static int sig_alg_from_name(const uint8_t *p, size_t n, enum key_alg *ret)
{
	static const enum key_alg algs[] = { KEY_ALG_EDDSA, KEY_ALG_ES256, KEY_ALG_ES384,
					     KEY_ALG_ES512, KEY_ALG_RS256, KEY_ALG_RS512 };

	for (size_t i = 0; i < ELEMENTSOF(algs); i++)
		if (bytes_eq(p, n, ssh_sig_name(algs[i]))) {
			*ret = algs[i];
			return 0;
		}
	return -EOPNOTSUPP; /* "ssh-rsa" (SHA-1) among them */
}

int ssh_sig_to_jws(const uint8_t *blob, size_t n, enum key_alg *ret_alg, uint8_t *out, size_t size,
		   size_t *ret_len)
{
	struct ssh_reader r = ssh_reader_make(blob, n), in;
	const uint8_t *name, *s, *v[2];
	size_t nlen, slen, vlen[2], f;
	enum key_alg alg;
	int k;

	if ((k = ssh_get_string(&r, &name, &nlen)) < 0)
		return k;
	if ((k = sig_alg_from_name(name, nlen, &alg)) < 0)
		return k;
	if ((k = ssh_get_string(&r, &s, &slen)) < 0)
		return k;
	if (r.n != 0)
		return -EBADMSG;
	f = ec_field(alg);
	if (alg == KEY_ALG_EDDSA && slen != 64)
		return -EBADMSG;
	if (!f) {
		if (slen == 0 || slen > SSH_RSA_BITS_MAX / 8)
			return -EBADMSG;
		if (slen > size)
			return -EMSGSIZE;
		memcpy(out, s, slen);
		*ret_alg = alg;
		*ret_len = slen;
		return 0;
	}
	in = ssh_reader_make(s, slen);
	for (int i = 0; i < 2; i++) {
		if ((k = ssh_get_mpint(&in, &v[i], &vlen[i])) < 0)
			return k;
		if (vlen[i] == 0 || vlen[i] > f)
			return -EBADMSG;
	}
	if (in.n != 0)
		return -EBADMSG;
	if (2 * f > size)
		return -EMSGSIZE;
	memset(out, 0, 2 * f);
	memcpy(out + f - vlen[0], v[0], vlen[0]);
	memcpy(out + 2 * f - vlen[1], v[1], vlen[1]);
	*ret_alg = alg;
	*ret_len = 2 * f;
	return 0;
}
