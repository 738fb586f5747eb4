/* cmd-init.c: `vaultctl init` and `vaultctl recover`: create a store and seal its master key,
 * and re-seal it with the recovery key. Prints the recovery key once (or writes it to a 0600
 * file); never anything else secret. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/errtext.h"
#include "core/audit.h"
#include "core/seal.h"
#include "core/store.h"
#include "core/tpm.h"
#include "core/io.h"
#include "tools/vaultctl.h"

static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	char *dir;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return negative_errno();
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	return 0;
}

/* An error that has been explained to the user already. */
#define EXPLAINED 10000

/* Write the recovery key to a new 0600 file (synced), or to stdout. write(2), not stdio: the
 * key must not linger in a libc buffer. */
static int emit_recovery_key(const char *file, const char *text)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (!file) {
		r = io_write_all(STDOUT_FILENO, text, strlen(text));
		if (r >= 0)
			r = io_write_all(STDOUT_FILENO, "\n", 1);
		if (r < 0) {
			fprintf(stderr, "vaultctl: cannot print the recovery key: %s\n",
				strerror(-r));
			return -EXPLAINED;
		}
		return 0;
	}
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "vaultctl: cannot create recovery key file '%s': %m\n", file);
		return -EXPLAINED;
	}
	r = io_write_all(fd, text, strlen(text));
	if (r >= 0)
		r = io_write_all(fd, "\n", 1);
	if (r >= 0 && fsync(fd) < 0)
		r = negative_errno();
	if (r < 0) {
		fprintf(stderr, "vaultctl: writing the recovery key to '%s' failed: %s\n", file,
			strerror(-r));
		unlink(file);
		return -EXPLAINED;
	}
	return 0;
}

/* Remove a store file (and its WAL and shared-memory files) that a failed init created. */
static void remove_store(const char *path)
{
	char aux[VAULTFS_PATH_MAX + 8];

	unlink(path);
	snprintf(aux, sizeof(aux), "%s-wal", path);
	unlink(aux);
	snprintf(aux, sizeof(aux), "%s-shm", path);
	unlink(aux);
}

/* Record event with the key just sealed: init and recover happen before there is a key to
 * record them with, so they are recorded right after. */
static int record_sealed(struct ctl *ctl, const char *event)
{
	_cleanup_(kv_freep) struct kv *kv = NULL;
	_cleanup_audit_ struct audit *au = NULL;
	bool offline = ctl->offline;
	int r;

	ctl->offline = true; /* the store itself, whatever the command line said */
	r = open_kv(ctl, &kv);
	ctl->offline = offline;
	if (r == 0)
		r = ctl_audit_open(ctl, kv, &au);
	if (r == 0)
		r = ctl_audit(ctl, au, event, NULL, NULL, 0, 0);
	return r;
}

/* init found no TPM: what the operator can do instead, and what each choice gives up. */
static void no_tpm_choices(const struct config *c)
{
	fprintf(stderr,
		"vaultctl: no TPM answered at tcti '%s'. The choices:\n"
		"  - a TPM: /dev/tpmrm0 comes with the kernel's TPM driver (tpm_crb, tpm_tis) on "
		"hardware that has one, or a vTPM for a virtual machine;\n"
		"  - --sealer host: the master key is sealed by a root-only key file (%s) instead: "
		"whoever reads that file, or a copy of the disk with it, unseals the store, and "
		"there is no TPM counter to refuse a store rolled back to an older copy;\n"
		"  - for tests, a software TPM: swtpm socket --tpm2 --server type=tcp,port=2321 "
		"--ctrl type=tcp,port=2322 --flags startup-clear --tpmstate dir=DIR, and "
		"tcti = swtpm:host=127.0.0.1,port=2321 in [seal] of the config (make run does all this).\n",
		c->tcti ? c->tcti : "(default)", c->host_key);
}

int cmd_init(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "sealer", required_argument, NULL, 's' },
					      { "tpm-pcrs", required_argument, NULL, 'p' },
					      { "recovery-key-file", required_argument, NULL, 'r' },
					      {} };
	_cleanup_secbuf_ struct secbuf *rk = NULL;
	const char *rkfile = NULL;
	char text[SEAL_RECOVERY_TEXT_LEN];
	struct store *s = NULL;
	struct stat st;
	bool created;
	int c, r, emitted = -1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 's':
			if (!seal_sealer_valid(optarg))
				return usage_error("--sealer: tpm2, host or tpm2+host");
			free(ctl->config->sealer);
			ctl->config->sealer = strdup(optarg);
			if (!ctl->config->sealer)
				return fail(-ENOMEM, "init");
			break;
		case 'p':
			if (tpm_parse_pcrs(optarg, &ctl->config->pcr_mask) < 0)
				return usage_error("--tpm-pcrs: a list of PCR numbers 0-23");
			break;
		case 'r':
			rkfile = optarg;
			break;
		default:
			return usage_error("init: unknown option");
		}
	}
	if (optind != argc)
		return usage_error("init takes no arguments");

	r = seal_recovery_new(&rk);
	if (r < 0)
		return fail(r, "init");
	seal_recovery_format(rk, text);
	r = mkdir_parents(ctl->config->store_path);
	if (r < 0) {
		fprintf(stderr, "vaultctl: cannot create the directory of '%s': %s\n",
			ctl->config->store_path, strerror(-r));
		return EXIT_REFUSED;
	}
	created = access(ctl->config->store_path, F_OK) < 0 && errno == ENOENT;
	r = store_open(ctl->config->store_path, STORE_CREATE, &s);
	if (r < 0) {
		log_error_errno(r, "cannot create store '%s': %s", ctl->config->store_path,
				errtext(ERRTEXT_STORE, r));
		return r == -EBADMSG ? EXIT_INTEGRITY : EXIT_REFUSED;
	}
	/* The recovery key goes to its place before the store depends on it: a key that cannot be
	 * written leaves no initialised store behind. */
	r = seal_is_initialised(s);
	if (r > 0)
		r = -EEXIST;
	/* A new store starts a new journal: records of another store's key would never verify. */
	if (r >= 0 && stat(ctl->config->audit_path, &st) == 0 && st.st_size > 0) {
		fprintf(stderr,
			"vaultctl: the audit journal '%s' already holds records (of another "
			"store?): move it aside first\n",
			ctl->config->audit_path);
		r = -EXPLAINED;
	}
	if (r >= 0)
		r = emitted = emit_recovery_key(rkfile, text);
	if (r >= 0)
		r = seal_init(s, ctl->config, rk);
	store_free(s);
	secure_wipe(text, sizeof(text));
	if (r < 0) {
		if (rkfile && emitted == 0)
			unlink(rkfile); /* ours, and useless now */
		if (created)
			remove_store(ctl->config->store_path);
		if (r == -EEXIST) {
			fprintf(stderr, "vaultctl: store '%s' is already initialised\n",
				ctl->config->store_path);
			return EXIT_REFUSED;
		}
		if (r == -EXPLAINED)
			return EXIT_REFUSED;
		fprintf(stderr, "vaultctl: cannot seal the master key with '%s': %s\n",
			ctl->config->sealer, seal_why(r));
		if (r == -ENODEV)
			no_tpm_choices(ctl->config);
		return EXIT_INTEGRITY;
	}
	if (streq(ctl->config->sealer, "host"))
		fprintf(stderr,
			"WARNING: sealer 'host': the master key is protected only by the "
			"root-only file %s, not by a TPM.\n",
			ctl->config->host_key);
	r = record_sealed(ctl, "init");
	if (r != 0)
		return r;
	if (rkfile)
		fprintf(stderr,
			"Store initialised (sealer %s). Recovery key written to %s: keep it "
			"offline; it can unlock this store without the TPM.\n",
			ctl->config->sealer, rkfile);
	else
		fprintf(stderr,
			"Store initialised (sealer %s). The recovery key above is shown "
			"once: keep it offline; it can unlock this store without the TPM.\n",
			ctl->config->sealer);
	return EXIT_OK;
}

/* After a re-seal: a store sealed to a TPM that has no counter of it (a new or cleared TPM) is
 * bound to one there, with the same recovery key (its epoch had to be left behind). */
static int bind_new_tpm(struct ctl *ctl, struct store *s, const struct secbuf *rk)
{
	_cleanup_secbuf_ struct secbuf *m = NULL;
	struct seal_epoch ev;
	int r;

	r = seal_unseal(s, ctl->config, &m);
	if (r < 0)
		return r;
	r = seal_epoch_open(s, ctl->config, m, &ev);
	if (r != -ENXIO)
		return r == -EOPNOTSUPP ? 0 : r; /* a refusal is the next open's to say */
	r = seal_epoch_accept(s, ctl->config, rk, &ev);
	if (r >= 0)
		fprintf(stderr,
			"The store is bound to this TPM's counter (NV index 0x%08" PRIx32
			") at %" PRIu64 ".\n",
			ev.nv_index, ev.tpm_value);
	return r;
}

/* recover --accept-rollback: bind the store as it is to its TPM counter, on purpose (takes s). */
static int accept_rollback(struct ctl *ctl, struct store *s, const struct secbuf *rk)
{
	struct seal_epoch ev;
	int r;

	r = seal_epoch_accept(s, ctl->config, rk, &ev);
	store_free(s);
	if (r == -EBADMSG) {
		fprintf(stderr, "vaultctl: recovery key refused: it does not unlock this store\n");
		return EXIT_INTEGRITY;
	}
	if (r == -EOPNOTSUPP) {
		fprintf(stderr, "vaultctl: this store's sealer uses no TPM: it has no epoch to "
				"accept\n");
		return EXIT_REFUSED;
	}
	if (r < 0) {
		fprintf(stderr, "vaultctl: cannot accept the store: %s\n", seal_why(r));
		return EXIT_INTEGRITY;
	}
	fprintf(stderr,
		"Accepted the store as it is: it was at epoch %" PRIu64 ", its TPM counter (NV "
		"index 0x%08" PRIx32 ") is at %" PRIu64 "; its rows are taken as they are now.\n",
		ev.store_epoch, ev.nv_index, ev.tpm_value);
	return record_sealed(ctl, "rollback-accepted");
}

int cmd_recover(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "recovery-key-file", required_argument, NULL, 'r' },
					      { "accept-rollback", no_argument, NULL, 'a' },
					      {} };
	_cleanup_secbuf_ struct secbuf *text = NULL, *rk = NULL;
	const char *rkfile = NULL;
	struct store *s = NULL;
	_cleanup_close_ int fd = -1;
	bool accept = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c == 'a')
			accept = true;
		else if (c == 'r')
			rkfile = optarg;
		else
			return usage_error("recover: unknown option");
	}
	if (!rkfile || optind != argc)
		return usage_error("recover needs --recovery-key-file FILE");
	fd = open(rkfile, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "vaultctl: cannot read '%s': %m\n", rkfile);
		return EXIT_REFUSED;
	}
	r = read_value(fd, &text);
	if (r >= 0 && text->len >= text->cap)
		r = -EMSGSIZE;
	if (r >= 0) {
		text->data[text->len] = '\0';
		r = seal_recovery_parse((const char *)text->data, &rk);
	}
	if (r < 0)
		return usage_error("'%s' does not hold a recovery key", rkfile);
	r = store_open(ctl->config->store_path, 0, &s);
	if (r < 0) {
		log_error_errno(r, "cannot open store '%s': %s", ctl->config->store_path,
				errtext(ERRTEXT_STORE, r));
		return EXIT_INTEGRITY;
	}
	if (accept)
		return accept_rollback(ctl, s, rk);
	r = seal_recover(s, ctl->config, rk);
	if (r >= 0)
		r = bind_new_tpm(ctl, s, rk);
	store_free(s);
	if (r == -EBADMSG) {
		fprintf(stderr, "vaultctl: recovery key refused: it does not unlock this store\n");
		return EXIT_INTEGRITY;
	}
	if (r < 0) {
		fprintf(stderr, "vaultctl: cannot re-seal the master key with '%s': %s\n",
			ctl->config->sealer, seal_why(r));
		return EXIT_INTEGRITY;
	}
	r = record_sealed(ctl, "reseal");
	if (r != 0)
		return r;
	fprintf(stderr, "Master key re-sealed with sealer %s.\n", ctl->config->sealer);
	return EXIT_OK;
}
