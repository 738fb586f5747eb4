/* audit-journald.c: each record also goes to the systemd journal, with structured fields
 * (VAULTFS_*) and one MESSAGE_ID, where a journal runs. Best effort: it never fails an append
 * and is never the record of truth (the chained file is). Nor does it hold an append for long:
 * the journal's native protocol is spoken here on a socket of our own, sent without blocking.
 * sd_journal_sendv blocks while the journal's queue is full, so a journal that stopped reading
 * (stopped, stuck, or a socket whose reader never reads: a container's bind mount) held the
 * FUSE thread, and every open of /vault with it, for ever. A full queue is waited for
 * JOURNAL_WAIT_MS once a stall; until the journal takes a record at once again, later ones are
 * not waited for. What it did not take is counted (audit_health; vaultfsd says so). */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "core/audit-int.h"

/* The MESSAGE_ID of every audit record sent to the systemd journal. */
#define AUDIT_MESSAGE_ID "08ed9c847c194ea5aa2aca0abbe022c2"

/* One field in the journal's native form: KEY=val and a newline, or, where val holds a newline
 * (a file name may), KEY, a newline, val's length (64 bits, little endian), val and a newline. */
static void journal_field_n(struct buf *b, const char *key, const char *val, size_t n)
{
	buf_puts(b, key);
	if (memchr(val, '\n', n)) {
		uint8_t le[8];

		for (int i = 0; i < 8; i++)
			le[i] = (uint8_t)((uint64_t)n >> (8 * i));
		buf_putc(b, '\n');
		buf_put(b, le, sizeof(le));
	} else {
		buf_putc(b, '=');
	}
	buf_put(b, val, n);
	buf_putc(b, '\n');
}

/* KEY and a string, or the decimal of num when val is NULL. */
static void journal_field(struct buf *b, const char *key, const char *val, uint64_t num)
{
	if (val) {
		journal_field_n(b, key, val, strlen(val));
		return;
	}
	buf_puts(b, key);
	buf_putc(b, '=');
	buf_put_u64(b, num);
	buf_putc(b, '\n');
}

/* Send the entry (journal_lock held): connected once, then never blocking. A full queue is
 * waited for once, JOURNAL_WAIT_MS at most, by the first record of a stall; the stall lasts
 * until a record is taken at once. 0 when taken. */
static int journal_put(struct audit *a, const void *p, size_t n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
	struct pollfd pfd = { .events = POLLOUT };
	bool waited = false;
	int r;

	if (a->journal_fd < 0) {
		a->journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (a->journal_fd < 0)
			return -errno;
		/* connected: a poll for POLLOUT then waits for room in the journal's queue */
		if (connect(a->journal_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			r = -errno;
			audit_journal_close(a);
			return r;
		}
	}
	for (;;) {
		if (send(a->journal_fd, p, n, MSG_NOSIGNAL) >= 0) {
			if (!waited)
				a->journal_stalled = false;
			return 0;
		}
		r = -errno;
		if (r == -EINTR)
			continue;
		if (r != -EAGAIN) { /* the journal went away: connect again next time */
			audit_journal_close(a);
			return r;
		}
		if (a->journal_stalled || waited)
			return -EAGAIN;
		a->journal_stalled = waited = true;
		pfd.fd = a->journal_fd;
		if (poll(&pfd, 1, JOURNAL_WAIT_MS) <= 0)
			return -EAGAIN;
	}
}

void audit_journal_close(struct audit *a)
{
	if (a->journal_fd >= 0)
		close(a->journal_fd);
	a->journal_fd = -1;
}

/* The record as a systemd journal entry: every field into one buffer (no printf: this runs
 * once per append), then one send. Never fails the append. */
void audit_journal_send(struct audit *a, const struct audit_record *rec, uint64_t seq,
			int64_t time_us)
{
	struct buf b = { .max = 2 * VAULTFS_AUDIT_LINE_MAX }, m = { .max = VAULTFS_AUDIT_LINE_MAX };
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

	buf_puts(&m, "vaultfs audit: ");
	buf_puts(&m, rec->event);
	buf_putc(&m, ' ');
	buf_puts(&m, decision);
	buf_putc(&m, ' ');
	if (rec->vault)
		buf_puts(&m, rec->vault);
	if (rec->object) {
		buf_putc(&m, '/');
		buf_puts(&m, rec->object);
	}
	if (!m.err)
		journal_field_n(&b, "MESSAGE", m.p, m.len);
	for (size_t i = 0; i < ELEMENTSOF(strs); i++)
		if (strs[i].val)
			journal_field(&b, strs[i].key, strs[i].val, 0);
	for (size_t i = 0; i < ELEMENTSOF(nums); i++)
		if (nums[i].val >= 0)
			journal_field(&b, nums[i].key, NULL, (uint64_t)nums[i].val);
	if (!b.err && !m.err) {
		pthread_mutex_lock(&a->journal_lock);
		if (journal_put(a, b.p, b.len) < 0)
			a->journal_dropped++;
		pthread_mutex_unlock(&a->journal_lock);
	}
	buf_done(&m);
	buf_done(&b);
}
