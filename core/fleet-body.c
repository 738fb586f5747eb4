/* fleet-body.c: the body of a change row (fleet.h has the form): a new version's material
 * sealed under a data key wrapped by the fleet vault key, its name and attributes beside, and
 * the bodies of the other ops. It must never let material out of a secbuf, and never accept a
 * body with a byte it did not read (nothing may follow, every length is checked against its
 * cap before it is used). */
#include "buf.h"
#include "crypto.h"
#include "fleet-int.h"
#include "fleet.h"
#include "util.h"

#define BODY_MAGIC "VFB1"

/* The AAD of a version's data key and material. */
static int version_aad(const char *vault, const struct fleet_body *b, uint32_t epoch,
		       struct buf *aad)
{
	uint8_t n[12];

	fleet_put_be32(n, (uint32_t)b->kind);
	fleet_put_be32(n + 4, b->version);
	fleet_put_be32(n + 8, epoch);
	buf_puts(aad, "vaultfs fleet version v1");
	buf_putc(aad, '\0');
	buf_put(aad, vault, strlen(vault) + 1);
	buf_put(aad, b->name, strlen(b->name) + 1);
	buf_put(aad, n, sizeof(n));
	return aad->err;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > VAULTFS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum =
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

static bool shape_ok(const struct fleet_body *b, bool material)
{
	switch (b->op) {
	case FLEET_OP_SET:
		return material && b->kind > 0 && b->version > 0 && name_ok(b->name);
	case FLEET_OP_UPDATE:
		return !material && b->kind > 0 && b->version > 0 && name_ok(b->name);
	case FLEET_OP_DELETE:
	case FLEET_OP_RECOVER:
	case FLEET_OP_PURGE:
		return !material && b->kind > 0 && name_ok(b->name);
	case FLEET_OP_REKEY:
		return !material && b->name[0] == '\0';
	case FLEET_OP_REVOKE:
		return !material && b->name[0] == '\0' && fleet_host_name_valid(b->host);
	default:
		return false;
	}
}

static void put_str16(struct buf *out, const char *s)
{
	uint8_t n[2];
	size_t len = strlen(s);

	n[0] = (uint8_t)(len >> 8);
	n[1] = (uint8_t)len;
	buf_put(out, n, 2);
	buf_put(out, s, len);
}

int fleet_body_seal(const struct secbuf *vkey, const char *vault, uint32_t epoch,
		    const struct fleet_body *b, const struct secbuf *material, uint8_t **ret,
		    size_t *ret_len)
{
	_cleanup_secbuf_ struct secbuf *dek = NULL;
	struct buf out = BUF_INIT(FLEET_BODY_MAX), aad = BUF_INIT(0);
	uint8_t head[2] = { (uint8_t)b->op, (uint8_t)b->kind }, n[8];
	int r;

	if (vkey->len != CRYPTO_KEY_LEN || !name_ok(vault) || epoch == 0 ||
	    !shape_ok(b, material != NULL) || b->kind < 0 || b->kind > 255 ||
	    strlen(b->content_type) > VAULTFS_CONTENT_TYPE_MAX ||
	    strlen(b->tags) > VAULTFS_TAGS_LEN_MAX)
		return -EINVAL;
	if (material && material->len > VAULTFS_VALUE_MAX)
		return -EMSGSIZE;
	buf_put(&out, BODY_MAGIC, 4);
	buf_put(&out, head, 2);
	fleet_put_be32(n, b->version);
	buf_put(&out, n, 4);
	put_str16(&out, b->name);
	buf_putc(&out, b->enabled ? 1 : 0);
	fleet_put_be64(n, (uint64_t)b->not_before);
	buf_put(&out, n, 8);
	fleet_put_be64(n, (uint64_t)b->expires);
	buf_put(&out, n, 8);
	put_str16(&out, b->content_type);
	fleet_put_be32(n, (uint32_t)strlen(b->tags));
	buf_put(&out, n, 4);
	buf_puts(&out, b->tags);
	put_str16(&out, b->op == FLEET_OP_REVOKE ? b->host : "");
	r = out.err;
	if (r >= 0 && material) {
		uint8_t wrapped[CRYPTO_WRAPPED_KEY_LEN];
		size_t at;

		r = version_aad(vault, b, epoch, &aad);
		if (r >= 0)
			r = secbuf_new(CRYPTO_KEY_LEN, &dek);
		if (r >= 0)
			r = crypto_random(dek->data, CRYPTO_KEY_LEN);
		if (r >= 0)
			r = crypto_wrap_key(vkey->data, aad.p, aad.len, dek->data, wrapped);
		if (r >= 0) {
			buf_put(&out, wrapped, sizeof(wrapped));
			fleet_put_be32(n, (uint32_t)(material->len + CRYPTO_AEAD_OVERHEAD));
			buf_put(&out, n, 4);
			at = out.len;
			r = buf_reserve(&out, material->len + CRYPTO_AEAD_OVERHEAD);
			if (r >= 0)
				r = crypto_aead_seal(dek->data, aad.p, aad.len, material->data,
						     material->len, (uint8_t *)out.p + at);
			if (r >= 0)
				out.len = at + material->len + CRYPTO_AEAD_OVERHEAD;
		}
	}
	buf_done(&aad);
	if (r >= 0)
		r = buf_steal(&out, (char **)ret, ret_len);
	buf_done(&out);
	return r;
}

/* A reader of the body's bytes: every take checks the bytes are there. */
struct rd {
	const uint8_t *p, *end;
};

static const uint8_t *take(struct rd *d, size_t n)
{
	const uint8_t *p = d->p;

	if ((size_t)(d->end - d->p) < n)
		return NULL;
	d->p += n;
	return p;
}

static int take_str(struct rd *d, size_t lenbytes, char *buf, size_t size)
{
	const uint8_t *p = take(d, lenbytes), *s;
	size_t n;

	if (!p)
		return -EBADMSG;
	n = lenbytes == 2 ? (size_t)(p[0] << 8 | p[1]) : fleet_get_be32(p);
	if (n >= size || !(s = take(d, n)) || memchr(s, '\0', n))
		return -EBADMSG;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

int fleet_body_open(const struct secbuf *vkey, const char *vault, uint32_t epoch, const uint8_t *in,
		    size_t len, struct fleet_body *ret, struct secbuf **ret_material)
{
	_cleanup_secbuf_ struct secbuf *dek = NULL, *m = NULL;
	struct fleet_body b = { 0 };
	struct rd d = { in, in + len };
	struct buf aad = BUF_INIT(0);
	const uint8_t *p;
	int r;

	if (vkey->len != CRYPTO_KEY_LEN)
		return -EINVAL;
	p = take(&d, 10);
	if (!p || memcmp(p, BODY_MAGIC, 4) != 0)
		return -EBADMSG;
	b.op = (enum fleet_op)p[4];
	b.kind = p[5];
	b.version = fleet_get_be32(p + 6);
	if (take_str(&d, 2, b.name, sizeof(b.name)) < 0 || !(p = take(&d, 17)) || p[0] > 1)
		return -EBADMSG;
	b.enabled = p[0];
	b.not_before = (int64_t)fleet_get_be64(p + 1);
	b.expires = (int64_t)fleet_get_be64(p + 9);
	if (take_str(&d, 2, b.content_type, sizeof(b.content_type)) < 0 ||
	    take_str(&d, 4, b.tags, sizeof(b.tags)) < 0 ||
	    take_str(&d, 2, b.host, sizeof(b.host)) < 0)
		return -EBADMSG;
	if (b.op != FLEET_OP_REVOKE && b.host[0])
		return -EBADMSG;
	if (!shape_ok(&b, b.op == FLEET_OP_SET))
		return -EBADMSG;
	if (b.op == FLEET_OP_SET) {
		const uint8_t *wrapped = take(&d, CRYPTO_WRAPPED_KEY_LEN), *n = take(&d, 4), *ct;
		uint32_t ctlen = n ? fleet_get_be32(n) : 0;

		if (!wrapped || !n || ctlen < CRYPTO_AEAD_OVERHEAD ||
		    ctlen - CRYPTO_AEAD_OVERHEAD > VAULTFS_VALUE_MAX || !(ct = take(&d, ctlen)))
			return -EBADMSG;
		r = version_aad(vault, &b, epoch, &aad);
		if (r >= 0)
			r = crypto_unwrap_key(vkey->data, aad.p, aad.len, wrapped,
					      CRYPTO_WRAPPED_KEY_LEN, &dek);
		if (r >= 0)
			r = secbuf_new(MAX(ctlen - CRYPTO_AEAD_OVERHEAD, 1u), &m);
		if (r >= 0)
			r = crypto_aead_open(dek->data, aad.p, aad.len, ct, ctlen, m->data);
		buf_done(&aad);
		if (r < 0)
			return r == -ENOMEM ? r : -EBADMSG;
		m->len = ctlen - CRYPTO_AEAD_OVERHEAD;
	}
	if (d.p != d.end)
		return -EBADMSG;
	*ret = b;
	if (ret_material)
		*ret_material = TAKE_PTR(m);
	return 0;
}
