/* audit-verify.c: the anchor (the chain head kept, MACed, in the store, so that a journal cut
 * short, rolled back or replaced is found) and verify (a chain of files checked record by
 * record, against the anchor). Verify only reads; it must never call a chain intact that it
 * has not read to its end, nor stop at the first file when a later one breaks. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/audit-int.h"

/* --- the anchor --- */

static const char anchor_domain[] = "vaultfs audit anchor v1\n";

static int anchor_text(const struct audit_anchor *an, const uint8_t *key, char *buf, size_t size)
{
	char hex[HEX_MAC_LEN + 1], msg[ANCHOR_TEXT_MAX];
	uint8_t tag[CRYPTO_MAC_LEN];
	int n, r;

	hex_encode(an->mac, CRYPTO_MAC_LEN, hex);
	hex[HEX_MAC_LEN] = '\0';
	if (an->epoch == 0)
		n = snprintf(msg, sizeof(msg), "%sv1 %" PRIu64 " %s %" PRIu64 " %" PRIu64,
			     anchor_domain, an->seq, hex, an->dev, an->ino);
	else /* v2 names the store's epoch: an anchor from before an advance is stale */
		n = snprintf(msg, sizeof(msg),
			     "%sv2 %" PRIu64 " %s %" PRIu64 " %" PRIu64 " %" PRIu64, anchor_domain,
			     an->seq, hex, an->dev, an->ino, an->epoch);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -EINVAL;
	r = crypto_hmac(key, msg, (size_t)n, tag);
	if (r < 0)
		return r;
	hex_encode(tag, CRYPTO_MAC_LEN, hex);
	n = snprintf(buf, size, "%s %s", msg + strlen(anchor_domain), hex);
	if (n < 0 || (size_t)n >= size)
		return -EINVAL;
	return n;
}

int audit_anchor_load(struct store *s, const uint8_t key[CRYPTO_KEY_LEN], struct audit_anchor *ret)
{
	_cleanup_free_ uint8_t *val = NULL;
	struct audit_anchor an = {};
	char text[ANCHOR_TEXT_MAX], again[ANCHOR_TEXT_MAX], machex[HEX_MAC_LEN + 1];
	size_t n;
	int r;

	r = store_meta_get(s, AUDIT_ANCHOR_KEY, &val, &n);
	if (r < 0)
		return r;
	if (n == 0 || n >= sizeof(text))
		return -EBADMSG;
	memcpy(text, val, n);
	text[n] = '\0';
	if (sscanf(text, "v2 %" SCNu64 " %64s %" SCNu64 " %" SCNu64 " %" SCNu64, &an.seq, machex,
		   &an.dev, &an.ino, &an.epoch) == 5) {
		if (an.epoch == 0)
			return -EBADMSG; /* v2 always names one */
	} else if (sscanf(text, "v1 %" SCNu64 " %64s %" SCNu64 " %" SCNu64, &an.seq, machex,
			  &an.dev, &an.ino) != 4) {
		return -EBADMSG;
	}
	if (strlen(machex) != HEX_MAC_LEN || hex_decode(machex, CRYPTO_MAC_LEN, an.mac) < 0)
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

/* Anchor h (a record a sync covered). The check of the anchor already there and the write of
 * ours are one write transaction (BEGIN IMMEDIATE), so no peer's anchor comes in between: an
 * anchor that names a later record than h stays (the sync behind the writers, audit.c, anchors
 * a head taken before it synced, and a peer may have anchored a later one meanwhile), and
 * ours never names an older epoch than it: a vaultfsd that took the session over advanced the
 * store's epoch while the one it took it from still anchors with the epoch it knew. Naming the
 * older one would read as a store rolled back, and the next start would refuse the journal
 * (-ESTALE). */
int audit_anchor_write(struct audit *a, const struct audit_head *h)
{
	struct audit_anchor an = { .seq = h->seq,
				   .dev = h->dev,
				   .ino = h->ino,
				   .epoch = atomic_load(&a->epoch) },
			    old;
	char text[ANCHOR_TEXT_MAX];
	int r;

	if (!a->store)
		return 0;
	an.epoch = MAX(an.epoch, a->anchored_epoch);
	if (h->seq == a->anchored_seq && an.epoch == a->anchored_epoch && !a->anchor_error)
		return 0;
	r = store_begin(a->store);
	if (r < 0)
		goto done;
	if (audit_anchor_load(a->store, a->key->data, &old) >= 0) {
		if (old.seq > an.seq) {
			r = store_commit(a->store);
			goto done;
		}
		an.epoch = MAX(an.epoch, old.epoch);
	}
	memcpy(an.mac, h->mac, CRYPTO_MAC_LEN);
	r = anchor_text(&an, a->key->data, text, sizeof(text));
	if (r >= 0)
		r = store_meta_set(a->store, AUDIT_ANCHOR_KEY, text, (size_t)r);
	if (r >= 0)
		r = store_commit(a->store);
	else
		store_rollback(a->store);
	if (r >= 0) {
		a->anchored_seq = h->seq;
		a->anchored_epoch = an.epoch;
	}
done:
	a->anchor_error = r < 0 ? r : 0;
	return r;
}

/* --- verify --- */

static void readerp(struct audit_reader **rd)
{
	audit_reader_free(*rd);
}

static _printf_(4, 5) void bad(struct audit_verify *v, uint64_t seq, size_t file, const char *fmt,
			       ...)
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
			bad(v, 1, file,
			    "the journal starts at seq %" PRIu64 ": records before it "
			    "are missing",
			    e->seq);
		else if (e->seq > 1)
			v->mid_chain = true;
		want = e->seq;
		memcpy(prev, e->prev, CRYPTO_MAC_LEN);
	}
	if (e->seq != want)
		bad(v, want, file,
		    e->seq > want ? "record missing (found seq %" PRIu64 " next)" :
				    "out of order (found seq %" PRIu64 ")",
		    e->seq);
	else if (!crypto_memeq(e->prev, prev, CRYPTO_MAC_LEN))
		bad(v, e->seq, file, "prev is not the mac of the record before it");
	else if (file_start && file > 0 && !streq(e->rec.event, "rotate"))
		bad(v, e->seq, file, "a rotated file must start with a rotate record");
}

int audit_verify_files(const char *const *paths, size_t n, const uint8_t key[CRYPTO_KEY_LEN],
		       const struct audit_anchor *anchor, struct audit_verify *ret)
{
	struct buf scratch = { .max = MAC_SCRATCH_MAX };
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
			k = v.bad_seq ? 1 : audit_mac_ok(&e, line, len, key, &scratch);
			if (k < 0) {
				audit_entry_done(&e);
				r = k;
				goto out;
			}
			if (k == 0)
				bad(&v, e.seq, i,
				    "the MAC does not verify: the record was changed "
				    "or forged");
			if (!v.bad_seq && anchor && e.seq == anchor->seq) {
				anchor_seen = true;
				if (!crypto_memeq(e.mac, anchor->mac, CRYPTO_MAC_LEN))
					bad(&v, e.seq, i,
					    "differs from the head anchored in "
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
			bad(&v, v.last_seq + 1, i,
			    "torn last line (a crash: the writer cuts it "
			    "off when it next opens the journal)");
		r = 0;
	}
	if (!v.bad_seq && anchor) {
		if (v.last_seq < anchor->seq)
			bad(&v, v.last_seq + 1, n ? n - 1 : 0,
			    "the journal ends at seq %" PRIu64
			    " but the store's anchor is at seq %" PRIu64
			    ": records were cut off or an older copy put back",
			    v.last_seq, anchor->seq);
		else if (anchor_seen)
			v.anchor = v.last_seq == anchor->seq ? 1 : 2;
	}
	*ret = v;
out:
	buf_done(&scratch);
	return r;
}
