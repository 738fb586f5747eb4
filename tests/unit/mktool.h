/* mktool.h: what the test programs mkkey.c and mkcert.c share: opening the store of a config
 * as `vaultctl --offline` does, and reading a PEM from stdin into a secure buffer. They link no
 * shared test object (the Makefile builds each from its one .c), so the code is here, static,
 * used by both. Test-only: never installed. Errors go to stderr prefixed with the program's
 * name; a private key read is held in a secbuf only. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/key.h"
#include "core/kv.h"
#include "core/seal.h"
#include "core/secbuf.h"
#include "core/store.h"
#include "core/util.h"

/* The config of argv[2] (after "-c") loaded and its store unsealed into a new *ret_kv: 0, or 2
 * (usage: say it) or 1 (said why) for main to return. */
static int mktool_open(const char *prog, const char *usage, int argc, char **argv,
		       struct config **ret_config, struct kv **ret_kv)
{
	struct secbuf *m = NULL;
	struct store *s = NULL;
	char err[512];
	int r;

	if (argc < 6 || strcmp(argv[1], "-c") != 0) {
		fprintf(stderr, "usage: %s -c CONF %s\n", prog, usage);
		return 2;
	}
	r = config_load(argv[2], ret_config, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	r = store_open((*ret_config)->store_path, 0, &s);
	if (r < 0) {
		fprintf(stderr, "%s: store '%s': %s\n", prog, (*ret_config)->store_path,
			strerror(-r));
		return 1;
	}
	r = seal_unseal(s, *ret_config, &m);
	if (r < 0) {
		fprintf(stderr, "%s: unseal: %s\n", prog, strerror(-r));
		store_free(s);
		return 1;
	}
	return kv_new(s, m, ret_kv) < 0 ? 1 : 0;
}

/* All of stdin, at most KEY_IMPORT_MAX bytes, into a new secure buffer. */
static int mktool_read_stdin(struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;
	ssize_t n;
	int r;

	r = secbuf_new(KEY_IMPORT_MAX, &b);
	if (r < 0)
		return r;
	while (b->len < KEY_IMPORT_MAX) {
		n = read(STDIN_FILENO, b->data + b->len, KEY_IMPORT_MAX - b->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		b->len += (size_t)n;
	}
	*ret = TAKE_PTR(b);
	return 0;
}
