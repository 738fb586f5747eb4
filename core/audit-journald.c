/* audit-journald.c: each record also goes to the systemd journal, with structured fields
 * (VAULTFS_*) and one MESSAGE_ID, where a journal runs. Best effort: it never fails an append
 * and is never the record of truth (the chained file is). */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "core/timeutil.h"
#include "core/audit-int.h"

/* The MESSAGE_ID of every audit record sent to the systemd journal. */
#define AUDIT_MESSAGE_ID "08ed9c847c194ea5aa2aca0abbe022c2"

/* KEY=val (val a string, or the decimal of num when val is NULL) into b, and where it ends
 * into ends[(*n)++]. */
static void journal_field(struct buf *b, const char *key, const char *val, uint64_t num,
			  size_t *ends, size_t *n)
{
	buf_puts(b, key);
	buf_putc(b, '=');
	if (val)
		buf_puts(b, val);
	else
		buf_put_u64(b, num);
	ends[(*n)++] = b->len;
}

/* The record as a systemd journal entry: every field into one buffer (no printf: this runs
 * once per append), then one sd_journal_sendv. Never fails the append. */
void audit_journal_send(const struct audit_record *rec, uint64_t seq, int64_t time_us)
{
	struct buf b = { .max = VAULTFS_AUDIT_LINE_MAX };
	size_t ends[24], n = 0;
	struct iovec iov[24];
	char tbuf[32];
	int e = rec->err < 0 ? -rec->err : rec->err;
	const char *decision = rec->decision == AUDIT_DENY ? "deny" : "allow";
	const struct {
		const char *key, *val;
	} strs[] = {
		{ "MESSAGE_ID", AUDIT_MESSAGE_ID },
		{ "PRIORITY", rec->decision == AUDIT_DENY ? "4" : "5" },
		{ "SYSLOG_IDENTIFIER", "vaultfs-audit" },
		{ "VAULTFS_TIME", time_format_us(time_us, tbuf) },
		{ "VAULTFS_DECISION", decision },
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
	} nums[] = { { "VAULTFS_SEQ", (int64_t)seq },
		     { "VAULTFS_UID", rec->uid },
		     { "VAULTFS_GID", rec->gid },
		     { "VAULTFS_PID", rec->pid },
		     { "VAULTFS_VERSION", rec->version ? (int64_t)rec->version : -1 } };

	buf_puts(&b, "MESSAGE=vaultfs audit: ");
	buf_puts(&b, rec->event);
	buf_putc(&b, ' ');
	buf_puts(&b, decision);
	buf_putc(&b, ' ');
	if (rec->vault)
		buf_puts(&b, rec->vault);
	if (rec->object) {
		buf_putc(&b, '/');
		buf_puts(&b, rec->object);
	}
	ends[n++] = b.len;
	for (size_t i = 0; i < ELEMENTSOF(strs); i++)
		if (strs[i].val)
			journal_field(&b, strs[i].key, strs[i].val, 0, ends, &n);
	for (size_t i = 0; i < ELEMENTSOF(nums); i++)
		if (nums[i].val >= 0)
			journal_field(&b, nums[i].key, NULL, (uint64_t)nums[i].val, ends, &n);
	if (!b.err) {
		for (size_t i = 0; i < n; i++) {
			size_t start = i ? ends[i - 1] : 0;

			iov[i] = (struct iovec){ .iov_base = b.p + start,
						 .iov_len = ends[i] - start };
		}
		(void)sd_journal_sendv(iov, (int)n);
	}
	buf_done(&b);
}
