/* cmd-audit.c: `vaultctl audit verify` and `vaultctl audit show`, and the journal of vaultctl's
 * own offline operations (ctl_audit_open, ctl_audit), so that no change to the store goes
 * unrecorded whoever makes it. verify needs the audit key (it unseals through open_kv) and
 * holds the files against the head anchored in the store; show only reads and filters (it
 * does not verify, and says so when a line is not a record). Output quotes a value that is not
 * plain printable ASCII (put_value), so a hostile path can neither drive the terminal nor read
 * as another field or record. `audit show --fleet` reads every host's journal from the fleet's
 * center instead (core/fleet-audit.h): it believes a batch only when its signature verifies
 * under its host's key and that host counts up to the anchor this host pinned, says a gap or a
 * batch that does not follow, withholds what does not verify, and prints the host beside each
 * record. The journal holds no secret, and nothing here prints one. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "core/timeutil.h"
#include "core/audit.h"
#include "core/io.h"
#include "core/fleet-audit.h"
#include "core/fleet-pg.h"
#include "core/kv-fleet.h"
#include "core/fleet-sync.h"
#include "core/log.h"
#include "core/store.h"
#include "tools/vaultctl.h"

#define FOLLOW_POLL_US (200 * 1000)

static const char *audit_why(int r)
{
	switch (-r) {
	case ESTALE:
		return "the journal file was removed, replaced or shortened";
	case EBADMSG:
		return "the journal does not verify or does not match the head anchored in the "
		       "store (run 'vaultctl --offline audit verify')";
	case ENOSPC:
	case EDQUOT:
		return "no space left for the journal";
	case ETIMEDOUT:
		return "the journal writer is stuck";
	case ELOOP:
		return "the journal path is a symbolic link";
	default:
		return strerror(-r);
	}
}

static int ctl_audit_open_epoch(struct ctl *ctl, const uint8_t key[CRYPTO_KEY_LEN], uint64_t epoch,
				uint64_t epoch_min, struct audit **ret)
{
	const struct config *c = ctl->config;
	struct audit_options o = { .sync = c->audit_sync,
				   .rotate_size = c->audit_rotate_size,
				   .store_path = c->store_path,
				   .epoch = epoch,
				   .epoch_min = epoch_min };
	int r;

	r = audit_open(c->audit_path, &o, key, ret);
	if (r == -ENOENT) { /* the journal's directory, the first time */
		_cleanup_free_ char *dir = strdup(c->audit_path);

		if (!dir)
			r = -ENOMEM;
		else if (mkdir(dirname(dir), 0700) < 0 && errno != EEXIST)
			r = negative_errno();
		else
			r = audit_open(c->audit_path, &o, key, ret);
	}
	if (r < 0) {
		fprintf(stderr, "vaultctl: cannot open the audit journal '%s': %s; nothing done\n",
			c->audit_path, audit_why(r));
		return r == -EBADMSG || r == -ESTALE ? EXIT_INTEGRITY : EXIT_REFUSED;
	}
	return 0;
}

int ctl_audit_open(struct ctl *ctl, struct kv *kv, struct audit **ret)
{
	_cleanup_secbuf_ struct secbuf *key = NULL;
	uint64_t epoch, min;
	int r;

	r = kv_derive_key(kv, AUDIT_KEY_LABEL, &key);
	if (r < 0)
		return fail(r, "audit key");
	kv_epoch(kv, &epoch, &min); /* the anchors we write name the store's epoch */
	return ctl_audit_open_epoch(ctl, key->data, epoch, min, ret);
}

/* The "0::" line of /proc/self/cgroup, into buf. */
static const char *self_cgroup(char *buf, size_t size)
{
	_cleanup_close_ int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	char tmp[8192];
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, tmp, sizeof(tmp) - 1);
	if (n <= 0)
		return NULL;
	tmp[n] = '\0';
	for (char *line = tmp, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(line, "0::", 3) == 0 && strlen(line + 3) < size) {
			snprintf(buf, size, "%s", line + 3);
			return buf;
		}
	}
	return NULL;
}

void ctl_identify(struct ctl_self *self, struct audit_record *rec)
{
	ssize_t n;

	rec->uid = (int64_t)getuid();
	rec->gid = (int64_t)getgid();
	rec->pid = (int64_t)getpid();
	n = readlink("/proc/self/exe", self->exe, sizeof(self->exe) - 1);
	if (n > 0) {
		self->exe[n] = '\0';
		rec->exe = self->exe;
	}
	rec->cgroup = self_cgroup(self->cgroup, sizeof(self->cgroup));
}

int ctl_audit_failed(struct ctl *ctl, int r, bool before)
{
	fprintf(stderr, "vaultctl: cannot write to the audit journal '%s': %s%s\n",
		ctl->config->audit_path, audit_why(r), before ? "; nothing done" : "");
	return r == -EBADMSG ? EXIT_INTEGRITY : EXIT_REFUSED;
}

int ctl_audit(struct ctl *ctl, struct audit *a, const char *event, const char *vault,
	      const char *object, uint32_t version, int err)
{
	struct audit_record rec = AUDIT_RECORD_INIT;
	struct ctl_self self;
	int r;

	ctl_identify(&self, &rec);
	rec.event = event;
	rec.decision = err ? AUDIT_DENY : AUDIT_ALLOW;
	rec.err = err;
	rec.rule = CTL_OFFLINE_RULE;
	rec.vault = vault;
	rec.object = object;
	rec.version = version;
	r = audit_append(a, &rec, NULL);
	return r < 0 ? ctl_audit_failed(ctl, r, !err) : 0;
}

/* --- verify --- */

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* The anchor: 1 loaded, 0 none yet, or minus an exit status after saying why. */
static int load_anchor(struct ctl *ctl, const uint8_t *key, struct audit_anchor *ret)
{
	struct store *s = NULL;
	int r;

	r = store_open(ctl->config->store_path, STORE_READONLY, &s);
	if (r < 0) {
		fprintf(stderr, "vaultctl: cannot open store '%s': %s\n", ctl->config->store_path,
			strerror(-r));
		return -EXIT_INTEGRITY;
	}
	r = audit_anchor_load(s, key, ret);
	store_free(s);
	if (r == -ENOENT)
		return 0;
	if (r == -EBADMSG) {
		fprintf(stderr, "vaultctl: audit verify: the journal head anchored in the store "
				"fails its MAC (forged or damaged)\n");
		return -EXIT_INTEGRITY;
	}
	if (r < 0) {
		fprintf(stderr, "vaultctl: audit verify: cannot read the anchor: %s\n",
			strerror(-r));
		return -EXIT_REFUSED;
	}
	return 1;
}

static int verify_cmd(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { {} };
	_cleanup_(kv_freep) struct kv *kv = NULL;
	_cleanup_secbuf_ struct secbuf *key = NULL;
	char **list = NULL;
	const char *const *files;
	struct audit_anchor an;
	struct audit_verify v;
	bool live;
	size_t n;
	int c, r, have;

	c = getopt_long(argc, argv, "", opts, NULL);
	if (c >= 0)
		return usage_error("audit verify: unknown option");
	if (optind < argc) {
		files = (const char *const *)argv + optind;
		n = (size_t)(argc - optind);
		/* the anchor speaks of the live journal: hold it only against that */
		live = same_file(files[n - 1], ctl->config->audit_path);
	} else {
		r = audit_list_files(ctl->config->audit_path, &list, &n);
		if (r < 0)
			return fail(r, "audit verify");
		files = (const char *const *)list;
		live = true;
	}
	for (size_t i = 0; i < n; i++)
		if (access(files[i], R_OK) < 0) {
			fprintf(stderr, "vaultctl: audit verify: cannot read '%s': %m\n", files[i]);
			audit_paths_free(list);
			return EXIT_REFUSED;
		}
	if (!ctl->offline) {
		/* the daemon does not give out the audit key; the store's owner derives it */
		fprintf(stderr, "vaultctl: audit verify needs the audit key, which only the store "
				"gives: run it as root with --offline\n");
		audit_paths_free(list);
		return EXIT_REFUSED;
	}
	r = open_kv(ctl, &kv);
	if (r == 0) {
		r = kv_derive_key(kv, AUDIT_KEY_LABEL, &key);
		r = r < 0 ? fail(r, "audit key") : 0;
	}
	have = r == 0 && live ? load_anchor(ctl, key->data, &an) : 0;
	if (have < 0)
		r = -have;
	if (r == 0 && have > 0) {
		uint64_t epoch, min;

		kv_epoch(kv, &epoch, &min);
		if (an.epoch < min) {
			fprintf(stderr,
				"vaultctl: audit verify: the head anchored in the store names epoch "
				"%" PRIu64 ", older than the store's %" PRIu64
				": an older anchor was written back (the journal may have been cut)\n",
				an.epoch, min);
			r = EXIT_INTEGRITY;
		}
	}
	if (r == 0) {
		r = audit_verify_files(files, n, key->data, have > 0 ? &an : NULL, &v);
		if (r < 0) {
			fprintf(stderr, "vaultctl: audit verify: %s\n", strerror(-r));
			r = EXIT_REFUSED;
		} else if (v.bad_seq) {
			fprintf(stderr,
				"vaultctl: audit verify: %s: first bad seq %" PRIu64 ": %s\n",
				files[v.bad_file], v.bad_seq, v.why);
			r = EXIT_INTEGRITY;
		} else {
			printf("audit: intact: %zu file%s, %" PRIu64 " records", n,
			       n == 1 ? "" : "s", v.records);
			if (v.records)
				printf(", seq %" PRIu64 "..%" PRIu64, v.first_seq, v.last_seq);
			if (v.mid_chain)
				printf("; starts after a rotation (older files not checked)");
			if (!live)
				printf("; anchor not checked (the last file is not the live "
				       "journal)");
			else if (have == 0)
				printf("; no anchor in the store yet");
			else if (v.anchor == 1)
				printf("; the anchored head (seq %" PRIu64 ") is the last record",
				       an.seq);
			else if (v.anchor == 2)
				printf("; anchored at seq %" PRIu64 ", %" PRIu64
				       " later records not anchored yet",
				       an.seq, v.last_seq - an.seq);
			else
				printf("; the anchored head (seq %" PRIu64 ") is in an older file "
				       "not checked",
				       an.seq);
			printf("\n");
		}
	}
	audit_paths_free(list);
	return r;
}

int ctl_audit_verify(struct ctl *ctl)
{
	char *argv[] = { "verify", NULL };

	optind = 0;
	return verify_cmd(ctl, 1, argv);
}

/* --- show --- */

struct filter {
	bool has_since, has_until, has_uid, json;
	bool none;	      /* print nothing: --follow's way to the end of what is written */
	int64_t since, until; /* unix seconds */
	int64_t uid;
	const char *vault, *event;
	int decision; /* -1 any */
};

static bool matches(const struct filter *f, const struct audit_entry *e)
{
	int64_t secs = e->time_us / 1000000;

	if (f->none)
		return false;
	if ((f->has_since && secs < f->since) || (f->has_until && secs > f->until))
		return false;
	if (f->has_uid && e->rec.uid != f->uid)
		return false;
	if (f->vault && !streq_ptr(e->rec.vault, f->vault))
		return false;
	if (f->event && !streq(e->rec.event, f->event))
		return false;
	return f->decision < 0 || e->rec.decision == f->decision;
}

/* A journal string as one word of the text form: as it is when every byte is printable ASCII
 * and none is a space, '"', '\\' or '=', else double-quoted, with \" \\ and \xHH for any other
 * byte that is not printable ASCII. So a value cannot drive the terminal, nor pass for another
 * field or record: a crafted "a exe=/x event=open" is one quoted word. */
static void put_value(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '=')
			break;
	if (!*p && p != (const unsigned char *)s) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (p = (const unsigned char *)s; *p; p++)
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p >= 0x20 && *p < 0x7f)
			putchar(*p);
		else
			printf("\\x%02x", *p);
	putchar('"');
}

/* The rule, last on the line: the daemon's own words (a policy file:line, a reason), kept with
 * their spaces as the rest of the line; any byte but printable ASCII, and '\\', as \xHH. */
static void put_rule(const char *s)
{
	if (!s)
		return;
	fputs(" rule=", stdout);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			putchar(*p);
		else
			printf("\\x%02x", *p);
}

static void put_field(const char *key, const char *val)
{
	if (!val)
		return;
	printf(" %s=", key);
	put_value(val);
}

/* One record; host (NULL: this host's journal): its name beside it, in JSON as a first member
 * "host" (a host name needs no escaping: fleet_host_name_valid). */
static void print_entry(const struct audit_entry *e, const char *line, size_t len, bool json,
			const char *host)
{
	const struct audit_record *r = &e->rec;
	char tbuf[32];

	if (json) {
		if (host) {
			printf("{\"host\":\"%s\",", host);
			fwrite(line + 1, 1, len - 1, stdout);
		} else
			fwrite(line, 1, len, stdout);
		putchar('\n');
		return;
	}
	printf("%s ", time_format_us(e->time_us, tbuf));
	if (host)
		printf("%s ", host);
	printf("%" PRIu64 " ", e->seq);
	put_value(r->event);
	printf(" %s", r->decision == AUDIT_DENY ? "deny" : "allow");
	if (r->err) {
		const char *name = strerrorname_np(r->err);

		if (name)
			printf(" %s", name);
		else
			printf(" errno %d", r->err);
	}
	if (r->vault || r->object) {
		_cleanup_free_ char *vo = NULL;

		if (asprintf(&vo, "%s%s%s", r->vault ? r->vault : "-", r->object ? "/" : "",
			     r->object ? r->object : "") < 0)
			vo = NULL;
		putchar(' ');
		put_value(vo ? vo : "-");
	}
	if (r->version)
		printf(" v%u", r->version);
	if (r->uid >= 0)
		printf(" uid=%" PRId64, r->uid);
	if (r->gid >= 0)
		printf(" gid=%" PRId64, r->gid);
	if (r->pid >= 0)
		printf(" pid=%" PRId64, r->pid);
	put_field("exe", r->exe);
	put_field("unit", r->unit);
	put_field("container", r->container);
	put_field("cgroup", r->cgroup);
	put_field("path", r->path);
	put_rule(r->rule);
	putchar('\n');
}

/* Print the matching records of rd's lines up to its current end. Returns lines that were
 * not records, or <0. */
static int show_lines(struct audit_reader *rd, const char *file, const struct filter *f)
{
	const char *line;
	size_t len;
	int r, bad = 0;

	while ((r = audit_reader_next(rd, &line, &len)) > 0) {
		struct audit_entry e;
		int k = audit_parse_line(line, len, &e);

		if (k < 0) {
			if (bad++ == 0)
				fprintf(stderr,
					"vaultctl: %s: a line that is not an audit "
					"record (run 'vaultctl --offline audit verify')\n",
					file);
			continue;
		}
		if (matches(f, &e))
			print_entry(&e, line, len, f->json, NULL);
		audit_entry_done(&e);
	}
	if (r < 0) {
		fprintf(stderr, "vaultctl: %s: %s\n", file,
			r == -EBADMSG ? "a line longer than the cap" : strerror(-r));
		return r;
	}
	return bad;
}

static int parse_id_arg(const char *opt, const char *s, int64_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || *s == '-' || v > UINT32_MAX)
		return usage_error("%s: not a number: '%.32s'", opt, s);
	*ret = (int64_t)v;
	return 0;
}

/* Show the whole file path. */
static int show_file(const char *path, const struct filter *f)
{
	struct audit_reader *rd = NULL;
	int r;

	r = audit_reader_open(path, &rd);
	if (r < 0) {
		fprintf(stderr, "vaultctl: cannot open '%s': %s\n", path, strerror(-r));
		return r;
	}
	r = show_lines(rd, path, f);
	audit_reader_free(rd);
	return r;
}

/* After a rotation: the files between the one we read (dev, ino) and the new live file. */
static void show_rotated_since(const char *path, uint64_t dev, uint64_t ino, const struct filter *f)
{
	char **list = NULL;
	size_t n, at;
	struct stat st;

	if (audit_list_files(path, &list, &n) < 0)
		return;
	for (at = 0; at + 1 < n; at++)
		if (stat(list[at], &st) == 0 && st.st_dev == dev && st.st_ino == ino)
			break;
	for (size_t k = at + 1; k + 1 < n; k++)
		(void)show_file(list[k], f);
	audit_paths_free(list);
}

/* --follow: keep reading the live file; when rotation puts a new file at the path, finish
 * the old one, show any file rotated in between, and go on with the new one from its start.
 * Ends only on a signal or an error. */
static int follow(const char *path, struct audit_reader *rd, const struct filter *f)
{
	for (;;) {
		uint64_t dev, ino;
		struct stat st;
		int r;

		r = show_lines(rd, path, f);
		if (r < 0) {
			audit_reader_free(rd);
			return EXIT_REFUSED;
		}
		fflush(stdout);
		usleep(FOLLOW_POLL_US);
		if (io_stat_notime(AT_FDCWD, path, 0, &st) < 0 || /* the times: see there */
		    audit_reader_stat(rd, &dev, &ino) < 0)
			continue;
		if (st.st_dev == dev && st.st_ino == ino)
			continue;
		(void)show_lines(rd, path, f); /* what was written before the rotation */
		audit_reader_free(rd);
		rd = NULL;
		show_rotated_since(path, dev, ino, f);
		r = audit_reader_open(path, &rd);
		if (r < 0) {
			fprintf(stderr, "vaultctl: cannot open '%s': %s\n", path, strerror(-r));
			return EXIT_REFUSED;
		}
	}
}

/* --- show --fleet: every host's records from the center, checked --- */

/* One record of a batch that verified, for the merge by time (host: its batch's, the same
 * pointer for all the records of a host). */
struct fleet_line {
	int64_t time_us;
	const char *host;
	uint64_t seq;
	const char *line;
	size_t len;
};

/* The next record to print of the hosts' lists (v[at[h]..end[h]) each in seq order): the
 * oldest at the head of a list, by time, then host name; -1 when all are printed. A host's
 * records stay in its seq order whatever its clock did. */
static ssize_t next_oldest(const struct fleet_line *v, const size_t *at, const size_t *end,
			   size_t nh)
{
	ssize_t best = -1;

	for (size_t h = 0; h < nh; h++) {
		const struct fleet_line *c = &v[at[h]];

		if (at[h] == end[h])
			continue;
		if (best < 0 || c->time_us < v[at[best]].time_us ||
		    (c->time_us == v[at[best]].time_us && strcmp(c->host, v[at[best]].host) < 0))
			best = (ssize_t)h;
	}
	return best;
}

static const char *trust_words(int r)
{
	switch (-r) {
	case ENOENT:
		return "it is not in the center's hosts table";
	case EACCES:
		return "it is not approved";
	case ENOKEY:
		return "its key does not verify up to the anchor (its key or an approval changed "
		       "in the center?)";
	default:
		return strerror(-r);
	}
}

/* Say what is wrong with batch b of its host (st not OK): 1 when its records are withheld. */
static int say_batch(const struct fleet_audit_batch *b, enum fleet_audit_state st)
{
	switch (st) {
	case FLEET_AUDIT_OK:
	case FLEET_AUDIT_UNTRUSTED: /* said once for the host */
		return st != FLEET_AUDIT_OK;
	case FLEET_AUDIT_GAP:
		fprintf(stderr,
			"vaultctl: audit --fleet: host %s: records before seq %" PRId64
			" are missing at the center (a batch dropped or withheld)\n",
			b->host, b->first_seq);
		return 0;
	case FLEET_AUDIT_UNLINKED:
		fprintf(stderr,
			"vaultctl: audit --fleet: host %s: the batch of seq %" PRId64 "..%" PRId64
			" does not follow the one before it (batches replaced or reordered)\n",
			b->host, b->first_seq, b->last_seq);
		return 0;
	case FLEET_AUDIT_BAD:
		fprintf(stderr,
			"vaultctl: audit --fleet: host %s: the batch of seq %" PRId64 "..%" PRId64
			" does not verify under the host's key (changed in the center): its "
			"records withheld\n",
			b->host, b->first_seq, b->last_seq);
		return 1;
	}
	return 1;
}

/* The records of b that match f, added to *v as host's (one pointer per host). */
static int collect(const struct fleet_audit_batch *b, const char *host, const struct filter *f,
		   struct fleet_line **v, size_t *n, size_t *cap)
{
	const char *p = (const char *)b->lines, *end = p + b->lines_len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct audit_entry e;

		if (!nl) /* fleet_audit_batch_verify saw to it */
			return -EBADMSG;
		if (audit_parse_line(p, (size_t)(nl - p), &e) < 0)
			return -EBADMSG;
		if (matches(f, &e)) {
			if (*n == *cap) {
				size_t c = *cap ? 2 * *cap : 256;
				struct fleet_line *w = reallocarray(*v, c, sizeof(**v));

				if (!w) {
					audit_entry_done(&e);
					return -ENOMEM;
				}
				*v = w;
				*cap = c;
			}
			(*v)[(*n)++] = (struct fleet_line){ .time_us = e.time_us,
							    .host = host,
							    .seq = e.seq,
							    .line = p,
							    .len = (size_t)(nl - p) };
		}
		audit_entry_done(&e);
		p = nl + 1;
	}
	return 0;
}

/* The anchor this host pinned when it joined (fleet-sync.h's meta key): 0, or an exit status
 * after saying why. */
static int fleet_anchor(struct ctl *ctl, char anchor[FLEET_FPR_LEN])
{
	struct store *s = NULL;
	int r;

	r = store_open(ctl->config->store_path, STORE_READONLY, &s);
	if (r >= 0) {
		r = store_meta_text(s, FLEET_META_ANCHOR, anchor, FLEET_FPR_LEN);
		store_free(s);
	}
	if (r == -ENOENT) {
		fprintf(stderr,
			"vaultctl: audit --fleet: this host has not joined the fleet (vaultctl "
			"fleet join): no anchor to check the center's hosts against\n");
		return EXIT_REFUSED;
	}
	return r < 0 ? fail(r, "store") : 0;
}

/* The removals this host learned (kv-fleet.h) marked on the center's hosts: they count
 * whatever the center says now. */
static int fleet_removed_here(struct ctl *ctl, struct fleet_host *hosts, size_t n)
{
	struct store *s = NULL;
	int r;

	r = store_open(ctl->config->store_path, STORE_READONLY, &s);
	if (r >= 0) {
		r = fleet_removed_mark(s, hosts, n);
		store_free(s);
	}
	return r;
}

static int show_fleet(struct ctl *ctl, const struct filter *f, const char *host)
{
	struct fleet_audit_batch *b = NULL;
	struct fleet_host *hosts = NULL;
	enum fleet_audit_state *st = NULL;
	struct fleet_line *v = NULL;
	struct fleet_pg *p = NULL;
	char anchor[FLEET_FPR_LEN], words[LOG_FOREIGN_SUFFIX_MAX];
	size_t n = 0, nh = 0, nv = 0, cap = 0, nhl = 0, *at = NULL, *end = NULL;
	int r, ret = EXIT_OK;

	if (!ctl->config->fleet_conninfo) {
		fprintf(stderr,
			"vaultctl: audit --fleet: no [fleet] conninfo in %s: this host is in "
			"no fleet\n",
			ctl->config->path);
		return EXIT_USAGE;
	}
	r = fleet_anchor(ctl, anchor);
	if (r)
		return r;
	r = ctl_center_connect(ctl, &p);
	if (r >= 0)
		r = fleet_pg_migrate(p);
	if (r >= 0)
		r = fleet_pg_audit_migrate(p);
	if (r >= 0)
		r = fleet_pg_hosts(p, &hosts, &nh);
	if (r >= 0)
		r = fleet_removed_here(ctl, hosts, nh);
	if (r >= 0)
		r = fleet_pg_audit_batches(p, host, &b, &n);
	fleet_pg_free(p);
	if (r < 0) {
		log_foreign_take(words);
		fprintf(stderr, "vaultctl: audit --fleet: %s%s\n",
			r == -EHOSTDOWN ? "the fleet's center (PostgreSQL) is away" :
			r == -EBADMSG	? "a row of the center's audit table is not of its form" :
					  strerror(-r),
			words);
		free(hosts);
		return r == -EBADMSG ? EXIT_INTEGRITY : EXIT_REFUSED;
	}
	st = calloc(n + 1, sizeof(*st));
	if (!st) {
		r = -ENOMEM;
		goto out;
	}
	/* host by host (the batches come in host, first_seq order) */
	for (size_t i = 0, j; i < n; i = j) {
		int trust;

		for (j = i; j < n && streq(b[j].host, b[i].host); j++)
			;
		nhl++;
		trust = fleet_audit_verify_host(hosts, nh, anchor, b[i].host, b + i, j - i, st + i);
		if (trust == -ENOMEM) {
			r = trust;
			goto out;
		}
		if (trust == -EKEYREVOKED)
			fprintf(stderr,
				"vaultctl: audit --fleet: host %s was removed from the fleet: its "
				"records are shown as its key signed them\n",
				b[i].host);
		else if (trust < 0) {
			fprintf(stderr,
				"vaultctl: audit --fleet: host %s does not count (%s): its records "
				"(seq %" PRId64 "..%" PRId64 ") withheld\n",
				b[i].host, trust_words(trust), b[i].first_seq, b[j - 1].last_seq);
			ret = EXIT_INTEGRITY;
		}
		for (size_t k = i; k < j; k++) {
			if (st[k] != FLEET_AUDIT_OK)
				ret = EXIT_INTEGRITY;
			if (say_batch(&b[k], st[k]))
				continue;
			r = collect(&b[k], b[i].host, f, &v, &nv, &cap);
			if (r < 0)
				goto out;
		}
	}
	/* each host's records are together in v, in seq order: merged by time */
	at = calloc(nhl + 1, sizeof(*at));
	end = calloc(nhl + 1, sizeof(*end));
	if (!at || !end) {
		r = -ENOMEM;
		goto out;
	}
	nhl = 0;
	for (size_t i = 0; i < nv; i++) {
		if (i == 0 || v[i].host != v[i - 1].host)
			at[nhl++] = i;
		end[nhl - 1] = i + 1;
	}
	for (ssize_t h; (h = next_oldest(v, at, end, nhl)) >= 0; at[h]++) {
		const struct fleet_line *l = &v[at[h]];
		struct audit_entry e;

		if (audit_parse_line(l->line, l->len, &e) < 0)
			continue;
		print_entry(&e, l->line, l->len, f->json, l->host);
		audit_entry_done(&e);
	}
	r = 0;
out:
	free(at);
	free(end);
	free(v);
	free(st);
	free(hosts);
	fleet_audit_batches_free(b, n);
	if (r < 0)
		return fail(r, "audit --fleet");
	return ret;
}

static int show_cmd(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "since", required_argument, NULL, 's' },
					      { "until", required_argument, NULL, 'u' },
					      { "uid", required_argument, NULL, 'U' },
					      { "vault", required_argument, NULL, 'v' },
					      { "decision", required_argument, NULL, 'd' },
					      { "event", required_argument, NULL, 'e' },
					      { "json", no_argument, NULL, 'j' },
					      { "follow", no_argument, NULL, 'f' },
					      { "fleet", no_argument, NULL, 'F' },
					      { "host", required_argument, NULL, 'H' },
					      {} };
	struct filter f = { .decision = -1 };
	bool follow_on = false, fleet = false;
	const char *host = NULL;
	char **list = NULL;
	size_t n;
	int c, r, bad = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 's':
			if (parse_time_arg("--since", optarg, false, &f.since))
				return EXIT_USAGE;
			f.has_since = true;
			break;
		case 'u':
			if (parse_time_arg("--until", optarg, false, &f.until))
				return EXIT_USAGE;
			f.has_until = true;
			break;
		case 'U':
			if (parse_id_arg("--uid", optarg, &f.uid))
				return EXIT_USAGE;
			f.has_uid = true;
			break;
		case 'v':
			f.vault = optarg;
			break;
		case 'd':
			if (streq(optarg, "allow"))
				f.decision = AUDIT_ALLOW;
			else if (streq(optarg, "deny"))
				f.decision = AUDIT_DENY;
			else
				return usage_error("--decision: allow or deny");
			break;
		case 'e':
			f.event = optarg;
			break;
		case 'j':
			f.json = true;
			break;
		case 'f':
			follow_on = true;
			break;
		case 'F':
			fleet = true;
			break;
		case 'H':
			if (!fleet_host_name_valid(optarg))
				return usage_error("--host: not a host name: '%.64s'", optarg);
			host = optarg;
			break;
		default:
			return usage_error("audit show: unknown option");
		}
	}
	if (optind != argc)
		return usage_error("audit show takes no arguments");
	if (host && !fleet)
		return usage_error("audit show: --host is for --fleet");
	if (fleet && follow_on)
		return usage_error("audit show: --fleet does not --follow");
	if (fleet)
		return show_fleet(ctl, &f, host);
	r = audit_list_files(ctl->config->audit_path, &list, &n);
	if (r < 0)
		return fail(r, "audit show");
	/* --follow without --since starts at the end, as tail -f does with no lines: the
	 * history is what audit show without --follow is for. */
	bool from_end = follow_on && !f.has_since;
	for (size_t i = from_end && n ? n - 1 : 0; i < n && r >= 0; i++) {
		struct audit_reader *rd = NULL;
		struct filter skip = f;

		r = audit_reader_open(list[i], &rd);
		if (r < 0) {
			fprintf(stderr, "vaultctl: cannot open '%s': %s\n", list[i], strerror(-r));
			break;
		}
		skip.none = from_end;
		r = show_lines(rd, list[i], &skip);
		if (r > 0)
			bad += r;
		if (r >= 0 && follow_on && i == n - 1) {
			audit_paths_free(list);
			return follow(ctl->config->audit_path, rd, &f);
		}
		audit_reader_free(rd);
	}
	audit_paths_free(list);
	if (r < 0)
		return EXIT_REFUSED;
	return bad ? EXIT_INTEGRITY : EXIT_OK;
}

int cmd_audit(struct ctl *ctl, int argc, char **argv)
{
	const char *verb;

	if (argc < 2)
		return usage_error("audit: verify or show");
	verb = argv[1];
	argc--, argv++; /* argv[0] is the verb now */
	optind = 0;	/* 0: glibc re-initialises its scanning state for the new argv */
	if (streq(verb, "verify"))
		return verify_cmd(ctl, argc, argv);
	if (streq(verb, "show"))
		return show_cmd(ctl, argc, argv);
	return usage_error("audit: unknown verb '%.32s'", verb);
}
