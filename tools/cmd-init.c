/* cmd-init.c: `vaultctl init` and `vaultctl recover`: create a store and seal its master key,
 * and re-seal it with the recovery key. Prints the recovery key once (or writes it to a 0600
 * file); never anything else secret. */
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/seal.h"
#include "core/store.h"
#include "core/tpm.h"
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

int cmd_init(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sealer", required_argument, NULL, 's' },
		{ "tpm-pcrs", required_argument, NULL, 'p' },
		{ "recovery-key-file", required_argument, NULL, 'r' },
		{}
	};
	_cleanup_secbuf_ struct secbuf *m = NULL, *rk = NULL;
	const char *rkfile = NULL;
	char text[SEAL_RECOVERY_TEXT_LEN];
	struct store *s = NULL;
	_cleanup_close_ int fd = -1;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 's':
			if (!streq(optarg, "tpm2") && !streq(optarg, "host") &&
			    !streq(optarg, "tpm2+host"))
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

	if (rkfile) {
		fd = open(rkfile, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			fprintf(stderr, "vaultctl: cannot create recovery key file '%s': %m\n",
				rkfile);
			return EXIT_REFUSED;
		}
	}
	r = mkdir_parents(ctl->config->store_path);
	if (r >= 0)
		r = store_open(ctl->config->store_path, STORE_CREATE, &s);
	if (r < 0) {
		if (rkfile)
			unlink(rkfile);
		fprintf(stderr, "vaultctl: cannot create store '%s': %s\n",
			ctl->config->store_path, strerror(-r));
		return exit_status(r) == EXIT_USAGE ? EXIT_REFUSED : exit_status(r);
	}
	r = seal_init(s, ctl->config, &m, &rk);
	store_free(s);
	if (r < 0) {
		if (rkfile)
			unlink(rkfile);
		if (r == -EEXIST) {
			fprintf(stderr, "vaultctl: store '%s' is already initialised\n",
				ctl->config->store_path);
			return EXIT_REFUSED;
		}
		fprintf(stderr, "vaultctl: cannot seal the master key with '%s': %s\n",
			ctl->config->sealer, seal_why(r));
		return EXIT_INTEGRITY;
	}
	seal_recovery_format(rk, text);
	if (rkfile) {
		r = write_all(fd, text, strlen(text));
		if (r >= 0)
			r = write_all(fd, "\n", 1);
		if (r >= 0 && fsync(fd) < 0)
			r = negative_errno();
		secure_wipe(text, sizeof(text));
		if (r < 0) {
			fprintf(stderr, "vaultctl: writing the recovery key to '%s' failed: %s\n",
				rkfile, strerror(-r));
			return EXIT_REFUSED;
		}
		fprintf(stderr, "Store initialised (sealer %s). Recovery key written to %s: keep it "
				"offline; it can unlock this store without the TPM.\n",
			ctl->config->sealer, rkfile);
		return EXIT_OK;
	}
	if (streq(ctl->config->sealer, "host"))
		fprintf(stderr, "WARNING: sealer 'host': the master key is protected only by the "
				"root-only file %s, not by a TPM.\n",
			ctl->config->host_key);
	fprintf(stderr, "Store initialised (sealer %s). Recovery key (shown once; keep it offline, "
			"it can unlock this store without the TPM):\n",
		ctl->config->sealer);
	printf("%s\n", text);
	secure_wipe(text, sizeof(text));
	return EXIT_OK;
}

int cmd_recover(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "recovery-key-file", required_argument, NULL, 'r' },
		{}
	};
	_cleanup_secbuf_ struct secbuf *text = NULL, *rk = NULL;
	const char *rkfile = NULL;
	struct store *s = NULL;
	_cleanup_close_ int fd = -1;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c != 'r')
			return usage_error("recover: unknown option");
		rkfile = optarg;
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
		fprintf(stderr, "vaultctl: cannot open store '%s': %s\n", ctl->config->store_path,
			strerror(-r));
		return EXIT_INTEGRITY;
	}
	r = seal_recover(s, ctl->config, rk);
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
	fprintf(stderr, "Master key re-sealed with sealer %s.\n", ctl->config->sealer);
	return EXIT_OK;
}

/* --- vault --- */
