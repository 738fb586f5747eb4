/* cmd-status.c: `vaultctl status` (what runs and where: daemon, mount, store, sealer, TPM,
 * journal, policy) and `vaultctl doctor` (checks, each with advice when it fails). Status asks
 * the daemon and looks at the files it may read; doctor also unseals the store and verifies
 * the journal, so it wants root; with [fleet] conninfo set it runs the fleet's checks too
 * (tools/doctor-fleet.c). Neither prints or holds a secret beyond the master key doctor
 * unseals to prove it can (in a secbuf, freed at once). */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "core/errtext.h"
#include "core/audit.h"
#include "core/io.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/store.h"
#include "core/timeutil.h"
#include "core/tpm.h"
#include "policy/policy.h"
#include "tools/doctor.h"
#include "tools/vaultctl.h"

/* The daemon's status reply, or NULL when it cannot be reached (quietly). */
static struct json_object *daemon_status(struct ctl *ctl)
{
	struct json_object *req = request_new("status"), *reply = NULL, *ok;
	struct secbuf *none = NULL;
	int r;

	if (!req)
		return NULL;
	/* quietly: a daemon that does not answer is a finding, not an error message */
	r = ctl_call_daemon(ctl, req, NULL, &reply, &none);
	json_object_put(req);
	secbuf_free(none);
	if (r != 0)
		return NULL;
	if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		json_object_put(reply);
		return NULL;
	}
	return reply;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *m;

	return json_object_object_get_ex(o, key, &m) ? json_object_get_string(m) : "?";
}

/* Is path the mount point of a vaultfs FUSE mount (from /proc/self/mountinfo)? */
static bool mounted(const char *path)
{
	_cleanup_free_ char *buf = malloc(1 << 20);
	_cleanup_close_ int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	if (!buf || fd < 0 || io_read_all(fd, buf, (1 << 20) - 1, &len) < 0)
		return false;
	buf[len] = '\0';
	for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		char mnt[4096], fstype[64];

		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		char *dash = strstr(line, " - ");

		if (dash && sscanf(dash + 3, "%63s", fstype) == 1 && streq(mnt, path) &&
		    streq(fstype, "fuse.vaultfs"))
			return true;
	}
	return false;
}

/* The last record of the journal: its seq and time, into buf. */
static const char *journal_head(const char *path, char *buf, size_t size)
{
	struct audit_reader *rd = NULL;
	struct audit_entry e;
	const char *line, *last = NULL;
	char *copy = NULL;
	size_t len;
	int r;

	if (audit_reader_open(path, &rd) < 0)
		return NULL;
	while ((r = audit_reader_next(rd, &line, &len)) > 0) {
		free(copy);
		copy = strndup(line, len);
	}
	audit_reader_free(rd);
	if (copy && audit_parse_line(copy, strlen(copy), &e) >= 0) {
		char t[32];

		snprintf(buf, size, "seq %" PRIu64 " at %s", e.seq, time_format_us(e.time_us, t));
		last = buf;
		audit_entry_done(&e);
	}
	free(copy);
	return last;
}

/* The PCRs the store's TPM-sealed key is bound to: 1 and the mask, 0 not TPM-sealed, < 0. */
static int store_pcrs(struct store *s, uint32_t *ret)
{
	_cleanup_free_ uint8_t *blob = NULL;
	size_t len;
	int r;

	r = store_meta_get(s, "seal.tpm", &blob, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = tpm_blob_pcrs(blob, len, ret);
	return r < 0 ? r : 1;
}

static void print_pcrs(uint32_t mask)
{
	const char *sep = "";

	for (unsigned i = 0; i < 24; i++)
		if (mask & (1u << i)) {
			printf("%s%u", sep, i);
			sep = ",";
		}
}

/* What status says of the TPM's dictionary-attack state, after "tpm: ...". */
static void print_da_status(const char *tcti)
{
	struct tpm_da_status da;
	int r = tpm_da_status(tcti, &da);

	log_foreign_clear(); /* the reason is said here */
	if (r < 0)
		printf("; dictionary-attack state unknown (%s)", strerror(-r));
	else if (da.in_lockout)
		printf("; IN DICTIONARY-ATTACK LOCKOUT (%" PRIu32 " of %" PRIu32 " failed tries): "
		       "stores sealed before noDA do not unseal; clear it with "
		       "`tpm2_dictionarylockout --clear-lockout -T %s` (or wait)",
		       da.failed_tries, da.max_tries, tcti);
	else
		printf("; no dictionary-attack lockout (%" PRIu32 " of %" PRIu32 " failed tries)",
		       da.failed_tries, da.max_tries);
}

static int64_t jint(struct json_object *o, const char *key)
{
	return json_object_get_int64(json_object_object_get(o, key));
}

/* What the daemon says of its journal: failing (since when, why), free space, refusals. */
static void print_journal_health(struct json_object *st)
{
	int64_t err = jint(st, "audit_error");

	if (err > 0 && err < 4096) {
		char t[TIME_FORMAT_MAX];

		printf("journal: FAILING since %s: %s; opens are refused (EIO)\n",
		       time_format(jint(st, "audit_failing_since"), t),
		       errtext(ERRTEXT_JOURNAL, (int)err));
	}
	printf("journal: %" PRId64 " MiB free on its file system (%" PRId64 " MiB kept for allowed "
	       "records); %" PRId64 " refusals counted, not written\n",
	       jint(st, "audit_free_bytes") >> 20, jint(st, "audit_reserve_bytes") >> 20,
	       jint(st, "audit_refusals_counted"));
	if (jint(st, "audit_journald_dropped") > 0)
		printf("journal: %" PRId64 " records not taken by the systemd journal (it did not "
		       "read; the audit file has them all)\n",
		       jint(st, "audit_journald_dropped"));
}

/* The certificates whose renewals fail (those the caller may see), from the daemon or, with
 * --offline, from the store here. */
static void print_cert_failures(struct ctl *ctl, bool daemon)
{
	struct json_object *req = request_new("cert-failing"), *reply = NULL, *arr = NULL, *ok;
	struct secbuf *none = NULL;
	size_t n;
	int r;

	if (!req)
		return;
	if (daemon)
		r = ctl_call_daemon(ctl, req, NULL, &reply, &none);
	else if (ctl->offline)
		r = ctl_call(ctl, req, NULL, &reply, &none);
	else
		r = -ENOTCONN;
	json_object_put(req);
	secbuf_free(none);
	if (r != 0 || !json_object_object_get_ex(reply, "ok", &ok) ||
	    !json_object_get_boolean(ok) ||
	    !json_object_object_get_ex(reply, "certificates", &arr)) {
		printf("certs:   renewals not known here (%s)\n",
		       r != 0 || !reply ? "ask the daemon, or root with --offline" :
					  jstr(reply, "error"));
		json_object_put(reply);
		return;
	}
	n = json_object_array_length(arr);
	if (n == 0)
		printf("certs:   no failing renewal\n");
	else
		printf("certs:   %zu certificate%s whose renewal FAILED:\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		struct json_object *c = json_object_array_get_idx(arr, i);

		printf("         %s/%s: %s failed attempt%s, last %s, next try %s: %s\n",
		       jstr(c, "vault"), jstr(c, "name"), jstr(c, "failures"),
		       jint(c, "failures") == 1 ? "" : "s", jstr(c, "last_attempt"),
		       jstr(c, "next_try"), jstr(c, "last_error"));
	}
	json_object_put(reply);
}

int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	const struct config *c = ctl->config;
	struct json_object *st;
	struct policy *p = NULL;
	struct policy_diag diag = { 0 };
	struct store *s = NULL;
	struct stat sb;
	char head[96];
	int r;

	(void)argv;
	if (argc != 1)
		return usage_error("status takes no arguments");
	st = daemon_status(ctl);
	if (st) {
		char t[TIME_FORMAT_MAX];

		printf("daemon:  running, pid %s, since %s; %s policy rules in %s files; "
		       "%s connections\n",
		       jstr(st, "pid"),
		       time_format(json_object_get_int64(json_object_object_get(st, "started")), t),
		       jstr(st, "policy_rules"), jstr(st, "policy_files"), jstr(st, "connections"));
	} else {
		printf("daemon:  not reachable at %s\n", c->control_socket);
	}
	printf("mount:   %s %s\n", c->mountpoint,
	       mounted(c->mountpoint) ? "(vaultfs, mounted)" : "(not mounted)");
	if (stat(c->store_path, &sb) < 0) {
		printf("store:   %s: %m\n", c->store_path);
	} else {
		r = store_open(c->store_path, STORE_READONLY, &s);
		if (r < 0) {
			char words[LOG_FOREIGN_SUFFIX_MAX];

			printf("store:   %s (%jd bytes; cannot open: %s%s)\n", c->store_path,
			       (intmax_t)sb.st_size, errtext(ERRTEXT_STORE, r),
			       log_foreign_take(words));
		} else {
			uint8_t *sealer = NULL;
			uint32_t mask = 0;
			size_t len = 0;

			r = store_meta_get(s, "sealer", &sealer, &len);
			printf("store:   %s (%jd bytes, schema %d, %s)\n", c->store_path,
			       (intmax_t)sb.st_size, store_schema_version(s),
			       r >= 0 ? "initialised" : "not initialised");
			if (r >= 0) {
				printf("sealer:  %.*s", (int)len, (const char *)sealer);
				if (store_pcrs(s, &mask) > 0) {
					printf(", PCRs ");
					if (mask)
						print_pcrs(mask);
					else
						printf("none");
				}
				printf("\n");
			}
			free(sealer);
			store_free(s);
		}
	}
	printf("tpm:     tcti %s; /dev/tpmrm0 %s", c->tcti,
	       access("/dev/tpmrm0", F_OK) == 0 ? "present" : "absent");
	if (strstr(c->sealer, "tpm2"))
		print_da_status(c->tcti);
	printf("\n");
	printf("audit:   %s, %s\n", c->audit_path,
	       journal_head(c->audit_path, head, sizeof(head)) ?: "no record readable here");
	if (st)
		print_journal_health(st);
	r = policy_load_dir(c->policy_dir, &p, &diag);
	if ((r == -EACCES || r == -EPERM) && geteuid() != 0 && st) {
		struct json_object *rules = NULL, *files = NULL;

		/* not ours to read: what the daemon has loaded is what counts */
		json_object_object_get_ex(st, "policy_rules", &rules);
		json_object_object_get_ex(st, "policy_files", &files);
		printf("policy:  %s: %" PRId64 " rules in %" PRId64 " files loaded by vaultfsd "
		       "(the directory is root's: not read here)\n",
		       c->policy_dir, json_object_get_int64(rules), json_object_get_int64(files));
	} else if (r == -EACCES || r == -EPERM) {
		printf("policy:  %s: not readable by uid %u (root's); run status as root\n",
		       c->policy_dir, (unsigned)geteuid());
	} else if (r < 0)
		printf("policy:  %s: does not load: %.*s\n", c->policy_dir,
		       (int)strcspn(diag.text ? diag.text : strerror(-r), "\n"),
		       diag.text ? diag.text : strerror(-r));
	else
		printf("policy:  %s: %zu rules in %zu files\n", c->policy_dir, policy_n_rules(p),
		       policy_n_files(p));
	policy_free(p);
	policy_diag_done(&diag);
	print_cert_failures(ctl, st != NULL);
	json_object_put(st);
	return EXIT_OK;
}

/* --- doctor --- */

void doctor_check(struct doctor *d, int level, const char *what, const char *advice)
{
	static const char *const mark[] = { "ok  ", "WARN", "FAIL" };

	printf("[%s] %s\n", mark[level], what);
	if (level && advice)
		printf("       -> %s\n", advice);
	if (level == 1)
		d->warned++;
	if (level == 2)
		d->failed++;
}

/* 1 when a swap area is active. */
static bool swap_on(void)
{
	char buf[4096];
	_cleanup_close_ int fd = open("/proc/swaps", O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	if (fd < 0 || io_read_all(fd, buf, sizeof(buf) - 1, &len) < 0)
		return false;
	buf[len] = '\0';
	return strchr(buf, '\n') &&
	       strchr(strchr(buf, '\n') + 1, '\n'); /* a line past the header */
}

/* The doctor's check of the TPM's dictionary-attack state. */
static void check_da(struct doctor *d, const char *tcti)
{
	struct tpm_da_status da;
	char what[256];

	if (tpm_da_status(tcti, &da) < 0) {
		log_foreign_clear(); /* the unseal check says what is wrong */
		return;
	}
	snprintf(what, sizeof(what),
		 "TPM not in dictionary-attack lockout (%" PRIu32 " of %" PRIu32 " failed tries)",
		 da.failed_tries, da.max_tries);
	doctor_check(
		d, da.in_lockout ? 1 : 0, what,
		"clear it with `tpm2_dictionarylockout --clear-lockout` (with -T TCTI for a "
		"software TPM), or wait out its recovery time; stores sealed with noDA (all since "
		"this version, and older ones after one unseal) are not affected");
}

/* Whether the daemon writes its journal, as it says; every open is refused while it cannot. */
static void journal_check(struct doctor *d, struct json_object *st)
{
	int64_t err = jint(st, "audit_error");
	char what[256];

	if (err > 0 && err < 4096)
		snprintf(what, sizeof(what), "vaultfsd writes its audit journal (failing: %s)",
			 errtext(ERRTEXT_JOURNAL, (int)err));
	else
		snprintf(what, sizeof(what), "vaultfsd writes its audit journal");
	doctor_check(
		d, err > 0 ? 2 : 0, what,
		"opens are refused (EIO) until it can: free space on the journal's file system, or "
		"fix what its log names");
}

int cmd_doctor(struct ctl *ctl, int argc, char **argv)
{
	const struct config *c = ctl->config;
	struct doctor d = { 0 };
	struct json_object *st;
	struct store *s = NULL;
	struct rlimit rl;
	char what[512];
	bool tpm_sealer = strstr(c->sealer, "tpm2") != NULL, store_exists;
	int r;

	(void)argv;
	if (argc != 1)
		return usage_error("doctor takes no arguments");

	st = daemon_status(ctl);
	snprintf(what, sizeof(what), "vaultfsd answers at %s", c->control_socket);
	doctor_check(&d, st ? 0 : 2, what,
		     "start it: systemctl start vaultfsd (or vaultfsd -c CONF)");
	snprintf(what, sizeof(what), "%s is a vaultfs mount", c->mountpoint);
	doctor_check(&d, mounted(c->mountpoint) ? 0 : 2, what,
		     "vaultfsd mounts it at start; see its log (journalctl -u vaultfsd)");
	if (st) {
		struct json_object *m;
		bool dio = json_object_object_get_ex(st, "direct_io", &m) &&
			   json_object_get_boolean(m);

		doctor_check(&d, dio ? 0 : 2,
			     "direct_io on every open (no value in the page cache)",
			     "this vaultfsd does not say so: upgrade it");
		journal_check(&d, st);
	}

	snprintf(what, sizeof(what), "TPM reachable (%s)", c->tcti);
	if (tpm_sealer)
		doctor_check(&d,
			     access("/dev/tpmrm0", F_OK) == 0 || !strstr(c->tcti, "tpmrm0") ? 0 : 2,
			     what,
			     "no /dev/tpmrm0: enable the TPM in firmware, or load tpm_crb/tpm_tis");
	if (tpm_sealer)
		check_da(&d, c->tcti);
	r = store_open(c->store_path, STORE_READONLY, &s);
	store_exists = r != -ENOENT;
	if (r < 0) {
		char words[LOG_FOREIGN_SUFFIX_MAX];

		snprintf(what, sizeof(what), "store %s opens (%s%s)", c->store_path,
			 errtext(ERRTEXT_STORE, r), log_foreign_take(words));
		doctor_check(&d, 2, what,
			     geteuid() ? "run doctor as root" :
					 "vaultctl init creates it; check [store] path");
	} else {
		_cleanup_secbuf_ struct secbuf *m = NULL;
		char words[LOG_FOREIGN_SUFFIX_MAX];
		uint8_t *sealer = NULL;
		size_t len = 0;

		if (store_meta_get(s, "sealer", &sealer, &len) >= 0) {
			bool tpm = memmem(sealer, len, "tpm2", 4) != NULL;

			snprintf(what, sizeof(what), "master key %s a TPM (sealer %.*s)",
				 tpm ? "sealed to" : "not sealed to", (int)len,
				 (const char *)sealer);
			doctor_check(
				&d, tpm ? 0 : 1, what,
				"sealed by a host key file only: re-seal to the TPM with [seal] sealer "
				"= tpm2 and 'vaultctl recover --recovery-key-file F'");
		}
		free(sealer);
		{
			uint32_t mask = 0;
			int k = store_pcrs(s, &mask);

			if (k > 0)
				doctor_check(
					&d, mask ? 0 : 1,
					mask ? "sealed key bound to PCRs (the boot state)" :
					       "sealed key not bound to any PCR (it unseals whatever "
					       "booted)",
					"to bind it: [seal] pcrs = 7 (Secure Boot state), then "
					"'vaultctl recover' re-seals");
		}
		r = seal_unseal(s, c, &m);
		/* the TPM's own words, after ours */
		snprintf(what, sizeof(what), "master key unseals here%s%s%s", r < 0 ? ": " : "",
			 r == -TPM_ELOCKOUT ? "the TPM is in dictionary-attack lockout" :
			 r < 0		    ? strerror(-r) :
					      "",
			 r < 0 ? log_foreign_take(words) : "");
		doctor_check(
			&d, r < 0 ? 2 : 0, what,
			r == -TPM_ELOCKOUT ?
				"the store was sealed before noDA: clear the lockout with "
				"`tpm2_dictionarylockout --clear-lockout` (or wait); the next unseal "
				"by vaultfsd or vaultctl re-seals it with noDA" :
			r == -ENODEV  ? "the TPM does not answer: check the tcti and the device" :
			r == -EBADMSG ? "sealed to another TPM or host key: 'vaultctl recover'" :
			r == -EPERM   ? "PCR policy not met (firmware or boot changed?): 'vaultctl "
					"recover' re-seals to the current state" :
					"see 'vaultctl status'");
		store_free(s);
	}

	{
		void *page = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				  -1, 0);
		bool ok = page != MAP_FAILED && mlock(page, 65536) == 0;

		if (page != MAP_FAILED)
			munmap(page, 65536);
		(void)getrlimit(RLIMIT_MEMLOCK, &rl);
		doctor_check(&d, ok ? 0 : 2, "memory can be locked (mlock)",
			     "raise the memlock limit (LimitMEMLOCK= in the unit, or ulimit -l)");
	}
	doctor_check(
		&d, swap_on() ? 1 : 0, "no swap (or only encrypted swap)",
		"swap is on: vaultfsd locks its memory, but encrypt the swap (cryptsetup) or turn "
		"it off so nothing of a process that does not can reach the disk");

	if (!store_exists) {
		doctor_check(&d, 1, "audit journal not checked: there is no store yet",
			     "vaultctl init makes the store; vaultfsd starts the journal");
	} else if (geteuid() == 0) {
		bool offline = ctl->offline;

		ctl->offline = true; /* the key comes from the store itself */
		r = ctl_audit_verify(ctl);
		ctl->offline = offline;
		doctor_check(
			&d, r == 0 ? 0 : 2, "audit journal verifies (chain and anchor)",
			"see 'vaultctl --offline audit verify': a changed journal is a security "
			"incident");
	} else {
		doctor_check(&d, 1, "audit journal not checked", "run doctor as root");
	}
	if (c->fleet_conninfo)
		doctor_fleet(&d, ctl, st);
	json_object_put(st);
	printf("%u failed, %u warnings\n", d.failed, d.warned);
	return d.failed ? EXIT_REFUSED : EXIT_OK;
}
