/* test-config.c: unit tests for core/config.c. Each test writes its files into a temp dir of
 * its own: the defaults, every key of every section parsed to its exact value, relative paths
 * made absolute against the config file's directory, whitespace, comments and later keys, and
 * every refusal with its exact -errno, the out-parameter untouched and, for most, the exact
 * "FILE:LINE: what" message: unknown section or key, key outside a section, malformed header,
 * bad sealer/tcti/pcrs/keyring_timeout/sync/path values, control characters, a line over
 * VAULTFS_CONFIG_LINE_MAX, a NUL byte, a file over VAULTFS_CONFIG_MAX, a missing file, a
 * directory and a FIFO (which must be refused, not waited on). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "core/limits.h"
#include "core/util.h"
#include "tests/unit/testlib.h"

struct fixture {
	char *dir;	     /* as made by test_tmpdir */
	char real[PATH_MAX]; /* realpath of dir */
	char path[PATH_MAX]; /* dir/vaultfs.conf */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || test_tmpdir(&f->dir) < 0) {
		free(f);
		return -1;
	}
	if (!realpath(f->dir, f->real) ||
	    snprintf(f->path, sizeof(f->path), "%s/vaultfs.conf", f->dir) >= (int)sizeof(f->path)) {
		test_rmtree(f->dir);
		free(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void write_text(const char *path, const char *text)
{
	test_write_file(path, text, strlen(text), 0600);
}

/* "a/b" into buf, which must hold it. */
static const char *join(char *buf, size_t n, const char *a, const char *b)
{
	assert_in_range(snprintf(buf, n, "%s/%s", a, b), 1, n - 1);
	return buf;
}

/* "<real dir>/rel" */
static const char *in_dir(const struct fixture *f, const char *rel, char *buf, size_t n)
{
	return join(buf, n, f->real, rel);
}

static struct config *load_ok(const char *path)
{
	struct config *c = NULL;
	char err[512] = "untouched";

	if (config_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("config_load('%s') failed: %s", path, err);
	assert_non_null(c);
	assert_string_equal(err, "");
	return c;
}

/* config_load must fail with r, leave *ret alone and, when msg is given, say exactly msg after
 * "PATH:" (PATH as passed). */
static void load_fails(const char *path, int r, const char *msg)
{
	struct config sentinel;
	struct config *c = &sentinel;
	char err[512], want[PATH_MAX + 600];
	int got;

	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	got = config_load(path, &c, err, sizeof(err));
	if (got != r)
		fail_msg("'%s': got %d (%s), expected %d", path, got, err, r);
	assert_ptr_equal(c, &sentinel);
	if (msg) {
		snprintf(want, sizeof(want), "%s:%s", path, msg);
		assert_string_equal(err, want);
	} else {
		/* Always some "PATH:..." message. */
		assert_int_equal(strncmp(err, path, strlen(path)), 0);
		assert_int_equal(err[strlen(path)], ':');
	}
	/* Without a message buffer the result is the same. */
	assert_int_equal(config_load(path, &c, NULL, 0), r);
	assert_ptr_equal(c, &sentinel);
}

/* Write text as the config and expect the failure. */
static void text_fails(const struct fixture *f, const char *text, int r, const char *msg)
{
	write_text(f->path, text);
	load_fails(f->path, r, msg);
}

static void assert_defaults(const struct config *c)
{
	assert_string_equal(c->store_path, "/var/lib/vaultfs/vault.db");
	assert_string_equal(c->sealer, "tpm2");
	assert_string_equal(c->tcti, "device:/dev/tpmrm0");
	assert_int_equal(c->pcr_mask, 0);
	assert_string_equal(c->host_key, "/var/lib/vaultfs/host.key");
	assert_int_equal(c->keyring_timeout, 0);
	assert_string_equal(c->mountpoint, "/vault");
	assert_string_equal(c->policy_dir, "/etc/vaultfs/policy.d");
	assert_string_equal(c->audit_path, "/var/log/vaultfs/audit.jsonl");
	assert_int_equal(c->audit_sync, AUDIT_SYNC_BATCH);
	assert_string_equal(c->control_socket, "/run/vaultfs/control.sock");
	assert_null(c->agent_socket); /* the ssh-agent socket is off by default */
	assert_null(c->stamp_dir);    /* stamp files too */
	assert_int_equal(c->fleet_pull, 30);
	assert_int_equal(c->fleet_audit_check, 30);
	assert_int_equal(c->fleet_answer, 30);
}

static void test_defaults(void **state)
{
	const struct fixture *f = *state;
	struct config *c = NULL;

	assert_int_equal(config_new_default(&c), 0);
	assert_non_null(c);
	assert_string_equal(c->path, CONFIG_DEFAULT_PATH);
	assert_defaults(c);
	config_free(c);
	config_free(NULL);

	/* An empty file, and one of comments and blank lines only, give the defaults. */
	write_text(f->path, "");
	c = load_ok(f->path);
	assert_defaults(c);
	config_free(c);
	write_text(f->path, "# vaultfs\n\n; nothing here\n   \n\t# indented comment\n[store]\n");
	c = load_ok(f->path);
	assert_defaults(c);
	config_free(c);
}

static void test_every_key(void **state)
{
	const struct fixture *f = *state;
	struct config *c;
	char buf[PATH_MAX];

	write_text(f->path, "[store]\n"
			    "path = /srv/vault/vault.db\n"
			    "[seal]\n"
			    "sealer = tpm2+host\n"
			    "tcti = swtpm:host=127.0.0.1,port=2321\n"
			    "pcrs = 0,7\n"
			    "host_key = /srv/vault/host.key\n"
			    "keyring_timeout = 300\n"
			    "[fs]\n"
			    "mountpoint = /mnt/secrets\n"
			    "[policy]\n"
			    "dir = /srv/vault/policy.d\n"
			    "[audit]\n"
			    "path = /srv/log/audit.jsonl\n"
			    "sync = always\n"
			    "[control]\n"
			    "socket = /srv/run/control.sock\n"
			    "[agent]\n"
			    "socket = /srv/run/agent.sock\n");
	c = load_ok(f->path);
	assert_string_equal(c->path, in_dir(f, "vaultfs.conf", buf, sizeof(buf)));
	assert_string_equal(c->store_path, "/srv/vault/vault.db");
	assert_string_equal(c->sealer, "tpm2+host");
	assert_string_equal(c->tcti, "swtpm:host=127.0.0.1,port=2321");
	assert_int_equal(c->pcr_mask, (1u << 0) | (1u << 7));
	assert_string_equal(c->host_key, "/srv/vault/host.key");
	assert_int_equal(c->keyring_timeout, 300);
	assert_string_equal(c->mountpoint, "/mnt/secrets");
	assert_string_equal(c->policy_dir, "/srv/vault/policy.d");
	assert_string_equal(c->audit_path, "/srv/log/audit.jsonl");
	assert_int_equal(c->audit_sync, AUDIT_SYNC_ALWAYS);
	assert_string_equal(c->control_socket, "/srv/run/control.sock");
	assert_string_equal(c->agent_socket, "/srv/run/agent.sock");
	config_free(c);
	/* an empty value turns it off again */
	write_text(f->path, "[agent]\nsocket = a.sock\nsocket =\n");
	c = load_ok(f->path);
	assert_null(c->agent_socket);
	config_free(c);
	/* [events] stamp_dir: off by default, a path, empty turns it off */
	write_text(f->path, "[events]\nstamp_dir = /run/vaultfs/changed\n");
	c = load_ok(f->path);
	assert_string_equal(c->stamp_dir, "/run/vaultfs/changed");
	config_free(c);
	write_text(f->path, "[events]\nstamp_dir = /x\nstamp_dir =\n");
	c = load_ok(f->path);
	assert_null(c->stamp_dir);
	config_free(c);
	/* [fleet]'s intervals: a span from 1 s to 1 d */
	write_text(f->path, "[fleet]\npull_interval = 2s\naudit_check_interval = 5m\n");
	c = load_ok(f->path);
	assert_int_equal(c->fleet_pull, 2);
	assert_int_equal(c->fleet_audit_check, 300);
	config_free(c);
	write_text(f->path, "[fleet]\npull_interval = 1s\naudit_check_interval = 1d\n");
	c = load_ok(f->path);
	assert_int_equal(c->fleet_pull, 1);
	assert_int_equal(c->fleet_audit_check, 86400);
	config_free(c);
	/* [fleet] answer_timeout: a span from 1 s to 1 h */
	write_text(f->path, "[fleet]\nanswer_timeout = 5s\n");
	c = load_ok(f->path);
	assert_int_equal(c->fleet_answer, 5);
	assert_int_equal(c->fleet_pull, 30);
	config_free(c);
	write_text(f->path, "[fleet]\nanswer_timeout = 1s\nanswer_timeout = 1h\n");
	c = load_ok(f->path);
	assert_int_equal(c->fleet_answer, 3600);
	config_free(c);
}

static void test_values(void **state)
{
	static const struct {
		const char *text;
		int sync;
		const char *sealer;
		unsigned timeout;
		uint32_t pcrs;
	} cases[] = {
		{ "[audit]\nsync = none\n", AUDIT_SYNC_NONE, "tpm2", 0, 0 },
		{ "[audit]\nsync = batch\n", AUDIT_SYNC_BATCH, "tpm2", 0, 0 },
		{ "[seal]\nsealer = host\n", AUDIT_SYNC_BATCH, "host", 0, 0 },
		{ "[seal]\nsealer = tpm2\n", AUDIT_SYNC_BATCH, "tpm2", 0, 0 },
		{ "[seal]\nkeyring_timeout = 0\n", AUDIT_SYNC_BATCH, "tpm2", 0, 0 },
		{ "[seal]\nkeyring_timeout = 2592000\n", AUDIT_SYNC_BATCH, "tpm2", 2592000, 0 },
		{ "[seal]\npcrs = 23\n", AUDIT_SYNC_BATCH, "tpm2", 0, 1u << 23 },
		{ "[seal]\npcrs = 7\npcrs =\n", AUDIT_SYNC_BATCH, "tpm2", 0, 0 },
		/* the later of two keys wins */
		{ "[seal]\nsealer = host\n[seal]\nsealer = tpm2+host\n", AUDIT_SYNC_BATCH,
		  "tpm2+host", 0, 0 },
	};
	const struct fixture *f = *state;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct config *c;

		write_text(f->path, cases[i].text);
		c = load_ok(f->path);
		assert_int_equal(c->audit_sync, cases[i].sync);
		assert_string_equal(c->sealer, cases[i].sealer);
		assert_int_equal(c->keyring_timeout, cases[i].timeout);
		assert_int_equal(c->pcr_mask, cases[i].pcrs);
		config_free(c);
	}
}

static void test_syntax_accepted(void **state)
{
	const struct fixture *f = *state;
	struct config *c;

	/* Whitespace around everything, CRLF line ends, a section header with inner blanks, no
	 * final newline, a '#' inside a value (not a comment), '=' inside a value. */
	write_text(f->path, "\t[ seal ]  \r\n"
			    "   tcti\t=\t swtpm:host=::1,port=2321 # not a comment \r\n"
			    "sealer=host\n"
			    "[control]\n"
			    "socket = /run/a=b#c");
	c = load_ok(f->path);
	assert_string_equal(c->tcti, "swtpm:host=::1,port=2321 # not a comment");
	assert_string_equal(c->sealer, "host");
	assert_string_equal(c->control_socket, "/run/a=b#c");
	config_free(c);
}

static void test_relative_paths(void **state)
{
	const struct fixture *f = *state;
	struct config *c;
	char buf[PATH_MAX], sub[PATH_MAX], cfg[PATH_MAX], rel[PATH_MAX];

	write_text(f->path, "[store]\npath = vault.db\n"
			    "[seal]\nhost_key = keys/host.key\n"
			    "[fs]\nmountpoint = ../mnt\n"
			    "[policy]\ndir = ./policy.d\n"
			    "[audit]\npath = log/audit.jsonl\n"
			    "[control]\nsocket = control.sock\n"
			    "[agent]\nsocket = agent.sock\n");
	c = load_ok(f->path);
	assert_string_equal(c->store_path, in_dir(f, "vault.db", buf, sizeof(buf)));
	assert_string_equal(c->host_key, in_dir(f, "keys/host.key", buf, sizeof(buf)));
	assert_string_equal(c->mountpoint, in_dir(f, "../mnt", buf, sizeof(buf)));
	assert_string_equal(c->policy_dir, in_dir(f, "./policy.d", buf, sizeof(buf)));
	assert_string_equal(c->audit_path, in_dir(f, "log/audit.jsonl", buf, sizeof(buf)));
	assert_string_equal(c->control_socket, in_dir(f, "control.sock", buf, sizeof(buf)));
	assert_string_equal(c->agent_socket, in_dir(f, "agent.sock", buf, sizeof(buf)));
	/* tcti is not a path and stays as written. */
	assert_string_equal(c->tcti, "device:/dev/tpmrm0");
	config_free(c);

	/* Against the config file's directory, not the working directory: load it through a
	 * relative path from elsewhere and through a symlink in another directory. */
	in_dir(f, "etc", sub, sizeof(sub));
	assert_int_equal(mkdir(sub, 0700), 0);
	join(cfg, sizeof(cfg), sub, "vaultfs.conf");
	write_text(cfg, "[store]\npath = data/vault.db\n");
	assert_int_equal(chdir(f->real), 0);
	snprintf(rel, sizeof(rel), "etc/vaultfs.conf");
	c = load_ok(rel);
	assert_string_equal(c->path, cfg);
	assert_string_equal(c->store_path, in_dir(f, "etc/data/vault.db", buf, sizeof(buf)));
	config_free(c);

	assert_int_equal(symlink(cfg, in_dir(f, "link.conf", buf, sizeof(buf))), 0);
	c = load_ok(buf);
	assert_string_equal(c->path, cfg);
	assert_string_equal(c->store_path, in_dir(f, "etc/data/vault.db", buf, sizeof(buf)));
	config_free(c);
	assert_int_equal(chdir("/"), 0);
}

static void test_unknown(void **state)
{
	const struct fixture *f = *state;

	text_fails(f, "[nope]\n", -EINVAL, "1: unknown section [nope]");
	text_fails(f, "[Store]\n", -EINVAL, "1: unknown section [Store]");
	text_fails(f, "[]\n", -EINVAL, "1: unknown section []");
	text_fails(f, "# c\n[store]\npath = /x\nbogus = 1\n", -EINVAL,
		   "4: unknown key 'bogus' in [store]");
	text_fails(f, "[store]\nPath = /x\n", -EINVAL, "2: unknown key 'Path' in [store]");
	/* a key of another section */
	text_fails(f, "[fs]\nsealer = host\n", -EINVAL, "2: unknown key 'sealer' in [fs]");
	text_fails(f, "[seal]\n= host\n", -EINVAL, "2: unknown key '' in [seal]");
	text_fails(f, "[audit]\nsync_mode = always\n", -EINVAL,
		   "2: unknown key 'sync_mode' in [audit]");
}

static void test_structure(void **state)
{
	const struct fixture *f = *state;

	text_fails(f, "path = /x\n[store]\n", -EINVAL, "1: key outside a section");
	text_fails(f, "\n\nsealer = host\n", -EINVAL, "3: key outside a section");
	text_fails(f, "[store\n", -EINVAL, "1: malformed section header");
	text_fails(f, "[store] path = /x\n", -EINVAL, "1: malformed section header");
	text_fails(f, "[store]]\n", -EINVAL, "1: malformed section header");
	text_fails(f, "[store]\npath /x\n", -EINVAL, "2: expected key = value");
	text_fails(f, "[store]\n[seal]\nsealer\n", -EINVAL, "3: expected key = value");
	/* control characters, but a tab is fine (see test_syntax_accepted) */
	text_fails(f, "[seal]\ntcti = a\x01z\n", -EINVAL, "2: control character");
	text_fails(f, "[seal]\ntcti = a\x1b[0mz\n", -EINVAL, "2: control character");
	text_fails(f, "[seal]\ntcti = a\x7fz\n", -EINVAL, "2: control character");
	text_fails(f, "[seal]\ntcti = a\rz\n", -EINVAL, "2: control character");
}

static void test_bad_values(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "[seal]\nsealer = tpm\n", "2: bad value for 'sealer'" },
		{ "[seal]\nsealer = TPM2\n", "2: bad value for 'sealer'" },
		{ "[seal]\nsealer = host+tpm2\n", "2: bad value for 'sealer'" },
		{ "[seal]\nsealer =\n", "2: bad value for 'sealer'" },
		{ "[seal]\ntcti =\n", "2: bad value for 'tcti'" },
		{ "[seal]\npcrs = 24\n", "2: bad value for 'pcrs'" },
		{ "[seal]\npcrs = 7,\n", "2: bad value for 'pcrs'" },
		{ "[seal]\npcrs = seven\n", "2: bad value for 'pcrs'" },
		{ "[seal]\nkeyring_timeout = -1\n", "2: bad value for 'keyring_timeout'" },
		{ "[seal]\nkeyring_timeout = +5\n", "2: bad value for 'keyring_timeout'" },
		{ "[seal]\nkeyring_timeout = 5s\n", "2: bad value for 'keyring_timeout'" },
		{ "[seal]\nkeyring_timeout =\n", "2: bad value for 'keyring_timeout'" },
		{ "[seal]\nkeyring_timeout = 2592001\n", "2: bad value for 'keyring_timeout'" },
		{ "[seal]\nkeyring_timeout = 18446744073709551617\n",
		  "2: bad value for 'keyring_timeout'" },
		{ "[audit]\nsync = sometimes\n", "2: bad value for 'sync'" },
		{ "[audit]\nsync = Always\n", "2: bad value for 'sync'" },
		{ "[audit]\nsync =\n", "2: bad value for 'sync'" },
		{ "[store]\npath =\n", "2: bad value for 'path'" },
		{ "[seal]\nhost_key = \n", "2: bad value for 'host_key'" },
		{ "[fs]\nmountpoint =\n", "2: bad value for 'mountpoint'" },
		{ "[policy]\ndir =\n", "2: bad value for 'dir'" },
		{ "[audit]\npath =\n", "2: bad value for 'path'" },
		{ "[control]\nsocket =\n", "2: bad value for 'socket'" },
		{ "[fleet]\npull_interval = 0s\n", "2: bad value for 'pull_interval'" },
		{ "[fleet]\npull_interval = 30\n", "2: bad value for 'pull_interval'" },
		{ "[fleet]\npull_interval = 86401s\n", "2: bad value for 'pull_interval'" },
		{ "[fleet]\npull_interval = 2d\n", "2: bad value for 'pull_interval'" },
		{ "[fleet]\npull_interval = -5s\n", "2: bad value for 'pull_interval'" },
		{ "[fleet]\npull_interval =\n", "2: bad value for 'pull_interval'" },
		{ "[fleet]\naudit_check_interval = 0m\n",
		  "2: bad value for 'audit_check_interval'" },
		{ "[fleet]\naudit_check_interval = 1x\n",
		  "2: bad value for 'audit_check_interval'" },
		{ "[fleet]\naudit_check_interval = 500ms\n",
		  "2: bad value for 'audit_check_interval'" },
		{ "[fleet]\nanswer_timeout = 0s\n", "2: bad value for 'answer_timeout'" },
		{ "[fleet]\nanswer_timeout = 3601s\n", "2: bad value for 'answer_timeout'" },
		{ "[fleet]\nanswer_timeout = 1d\n", "2: bad value for 'answer_timeout'" },
		{ "[fleet]\nanswer_timeout = 30\n", "2: bad value for 'answer_timeout'" },
		{ "[fleet]\nanswer_timeout = -5s\n", "2: bad value for 'answer_timeout'" },
		{ "[fleet]\nanswer_timeout =\n", "2: bad value for 'answer_timeout'" },
	};
	const struct fixture *f = *state;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		text_fails(f, cases[i].text, -EINVAL, cases[i].msg);
}

static void test_line_length(void **state)
{
	const struct fixture *f = *state;
	const size_t max = VAULTFS_CONFIG_LINE_MAX;
	char *text = malloc(max + 64);
	struct config *c;

	assert_non_null(text);
	/* A comment line of exactly the cap is fine, one byte more is not. */
	text[0] = '#';
	memset(text + 1, 'c', max - 1);
	strcpy(text + max, "\n[store]\npath = /x\n");
	write_text(f->path, text);
	c = load_ok(f->path);
	assert_string_equal(c->store_path, "/x");
	config_free(c);

	strcpy(text, "[store]\n#");
	memset(text + 9, 'c', max);
	text[9 + max] = '\0';
	text_fails(f, text, -EINVAL, "2: line too long");

	/* A value that makes the relative path reach VAULTFS_PATH_MAX is a bad value. */
	strcpy(text, "[store]\npath = ");
	memset(text + 15, 'p', max - 7);
	text[15 + max - 7] = '\0';
	text_fails(f, text, -EINVAL, "2: bad value for 'path'");
	free(text);
}

static void test_nul_byte(void **state)
{
	const struct fixture *f = *state;
	static const char text[] = "[store]\npath = /x\0y\n";
	char msg[64];

	test_write_file(f->path, text, sizeof(text) - 1, 0600);
	snprintf(msg, sizeof(msg), " not a text file");
	load_fails(f->path, -EINVAL, msg);
	test_write_file(f->path, "\0", 1, 0600);
	load_fails(f->path, -EINVAL, msg);
}

static void test_size(void **state)
{
	const struct fixture *f = *state;
	const size_t max = VAULTFS_CONFIG_MAX;
	char *text = malloc(max + 2);
	char msg[64];
	struct config *c;

	assert_non_null(text);
	/* Exactly the cap, in comment lines of 64 bytes and a last real key. */
	for (size_t i = 0; i < max; i += 64) {
		memset(text + i, 'c', 63);
		text[i] = '#';
		text[i + 63] = '\n';
	}
	memcpy(text + max - 64, "[store]\npath = /cap\n", 20);
	memset(text + max - 44, ' ', 43);
	text[max - 1] = '\n';
	test_write_file(f->path, text, max, 0600);
	c = load_ok(f->path);
	assert_string_equal(c->store_path, "/cap");
	config_free(c);

	snprintf(msg, sizeof(msg), " larger than %u bytes", VAULTFS_CONFIG_MAX);
	text[max] = '\n';
	test_write_file(f->path, text, max + 1, 0600);
	load_fails(f->path, -EFBIG, msg);
	free(text);
}

static void test_not_a_file(void **state)
{
	const struct fixture *f = *state;
	char path[PATH_MAX], msg[128];

	snprintf(msg, sizeof(msg), " cannot read: %s", strerror(ENOENT));
	load_fails(f->path, -ENOENT, msg);
	join(path, sizeof(path), f->dir, "no/such/dir.conf");
	load_fails(path, -ENOENT, msg);
	load_fails(f->dir, -EINVAL, " not a text file");
	load_fails("/dev/null", -EINVAL, " not a text file");
	/* A dangling symlink is a missing file. */
	join(path, sizeof(path), f->dir, "dangling.conf");
	assert_int_equal(symlink("/nonexistent/vaultfs.conf", path), 0);
	load_fails(path, -ENOENT, msg);
}

/* A FIFO is not a regular file: refused at once, never waited on. The load runs in a child with
 * an alarm, so a config_load that blocks in open() fails this test instead of hanging it. */
static void test_fifo(void **state)
{
	const struct fixture *f = *state;
	char path[PATH_MAX];
	int status;
	pid_t pid;

	join(path, sizeof(path), f->dir, "fifo.conf");
	assert_int_equal(mkfifo(path, 0600), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct config *c = NULL;

		alarm(5);
		_exit(config_load(path, &c, NULL, 0) == -EINVAL && !c ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("config_load on a FIFO blocked (killed by signal %d)", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_err_buffer(void **state)
{
	const struct fixture *f = *state;
	struct config *c = NULL;
	char err[12];

	/* A short buffer gets a truncated, terminated message. */
	write_text(f->path, "[nope]\n");
	memset(err, 'x', sizeof(err));
	assert_int_equal(config_load(f->path, &c, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_memory_equal(err, f->path, sizeof(err) - 1);
	assert_null(c);
	/* errlen 0 leaves the buffer alone. */
	memset(err, 'x', sizeof(err));
	assert_int_equal(config_load(f->path, &c, err, 0), -EINVAL);
	assert_int_equal(err[0], 'x');
	/* A success clears an old message. */
	write_text(f->path, "[store]\n");
	strcpy(err, "old");
	assert_int_equal(config_load(f->path, &c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_structure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_err_buffer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
