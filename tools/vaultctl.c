/* vaultctl: administer a vaultfs store. Parses the command line, reads values from stdin or a
 * file (never argv), calls the core API and prints results; all policy of what may happen lives
 * in core/. Exit status: 0 ok, 1 refused or not found, 2 usage or bad input, 3 integrity or
 * seal failure. Never prints or logs a secret value except the raw bytes `secret get` was asked
 * for, and the recovery key at init. */
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "core/config.h"
#include "core/kv.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/store.h"
#include "core/timeutil.h"
#include "core/tpm.h"
#include "core/util.h"

enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE = 2,
	EXIT_INTEGRITY = 3,
};

struct ctl {
	const char *config_path;
	bool offline;
	struct config *config;
};

static void freep_config(struct config **c)
{
	config_free(*c);
}

static int usage_error(const char *fmt, ...) _printf_(1, 2);
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("vaultctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'vaultctl --help'.\n", stderr);
	return EXIT_USAGE;
}

/* Map an error to an exit status. */
static int exit_status(int r)
{
	switch (-r) {
	case 0:
		return EXIT_OK;
	case EINVAL:
	case EMSGSIZE:
	case ENAMETOOLONG:
		return EXIT_USAGE;
	case EBADMSG:
	case ENODEV:
	case ENOKEY:
	case EPROTONOSUPPORT:
	case ENOMEDIUM:
		return EXIT_INTEGRITY;
	default:
		return EXIT_REFUSED;
	}
}

/* A sentence for the errors of kv.h, about object `what`. */
static const char *why(int r)
{
	switch (-r) {
	case ENOENT:
		return "not found";
	case EEXIST:
		return "already exists (a deleted secret keeps its name until it is purged)";
	case EKEYREVOKED:
		return "disabled";
	case EKEYEXPIRED:
		return "expired";
	case EKEYREJECTED:
		return "not yet valid";
	case EBADMSG:
		return "integrity check failed: the store was changed outside vaultfs";
	case ENOTEMPTY:
		return "vault is not empty";
	case EPERM:
		return "refused: purge protection is on and the retention period has not passed";
	case EMSGSIZE:
		return "value too large";
	case EINVAL:
		return "invalid name or attribute";
	case ENOSPC:
		return "no space (disk full or too many versions)";
	case EBUSY:
		return "store is busy (locked by another writer)";
	default:
		return strerror(-r);
	}
}

static int fail(int r, const char *what)
{
	fprintf(stderr, "vaultctl: %s: %s\n", what, why(r));
	return exit_status(r);
}

static int load_config(struct ctl *ctl)
{
	char err[512];
	int r;

	r = config_load(ctl->config_path, &ctl->config, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "vaultctl: config: %s\n", err);
		return EXIT_USAGE;
	}
	return 0;
}

static const char *seal_why(int r)
{
	switch (-r) {
	case ENODEV:
		return "TPM not reachable";
	case EBADMSG:
		return "sealed key does not open (another TPM, wrong host key, or changed data)";
	case EPERM:
		return "refused (TPM PCR policy not satisfied, or host key file not root-only)";
	case ENOKEY:
		return "host key file missing";
	case ENOMEDIUM:
		return "store not initialised (run 'vaultctl init')";
	default:
		return strerror(-r);
	}
}

/* Open the store and unseal its master key: the offline path. */
static int open_kv(struct ctl *ctl, struct kv **ret)
{
	struct store *s = NULL;
	_cleanup_secbuf_ struct secbuf *m = NULL;
	int r;

	if (!ctl->offline) {
		fprintf(stderr, "vaultctl: cannot reach vaultfsd at %s (this version talks to the "
				"store only); use --offline\n",
			ctl->config->control_socket);
		return EXIT_REFUSED;
	}
	r = store_open(ctl->config->store_path, 0, &s);
	if (r < 0) {
		fprintf(stderr, "vaultctl: cannot open store '%s': %s\n", ctl->config->store_path,
			r == -EBADMSG ? "not a vaultfs store, or corrupt" :
			r == -EPROTONOSUPPORT ? "made by a newer vaultfs" : strerror(-r));
		return r == -ENOENT || r == -EACCES ? EXIT_REFUSED : EXIT_INTEGRITY;
	}
	r = seal_unseal(s, ctl->config, &m);
	if (r < 0) {
		store_free(s);
		fprintf(stderr, "vaultctl: cannot unseal the master key: %s\n", seal_why(r));
		return EXIT_INTEGRITY;
	}
	r = kv_new(s, TAKE_PTR(m), ret);
	if (r < 0)
		return fail(r, "store");
	return 0;
}

static void kv_freep(struct kv **kv)
{
	kv_free(*kv);
}

/* "vault/name" into its parts (pointers into buf). */
static int split_ref(const char *ref, char *buf, size_t size, char **ret_vault,
		     char **ret_name)
{
	char *slash;

	if (strlen(ref) >= size)
		return -EINVAL;
	strcpy(buf, ref);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	if (!kv_name_valid(buf) || !kv_name_valid(slash + 1))
		return -EINVAL;
	*ret_vault = buf;
	*ret_name = slash + 1;
	return 0;
}

/* Read the whole value from fd into a secure buffer, refusing more than the cap. */
static int read_value(int fd, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;
	int r;

	r = secbuf_new(VAULTFS_VALUE_MAX + 1, &b);
	if (r < 0)
		return r;
	for (;;) {
		ssize_t n = read(fd, b->data + b->len, b->cap - b->len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		if (b->len > VAULTFS_VALUE_MAX)
			return -EMSGSIZE;
	}
	*ret = TAKE_PTR(b);
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = write(fd, b, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int parse_time_arg(const char *opt, const char *s, bool allow_none, int64_t *ret)
{
	if (allow_none && (streq(s, "never") || streq(s, "none"))) {
		*ret = 0;
		return 0;
	}
	if (time_parse(s, (int64_t)time(NULL), ret) < 0)
		return usage_error("%s: not a time: '%.64s' (RFC 3339 or +30d)", opt, s);
	return 0;
}

static int parse_u32(const char *opt, const char *s, uint32_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || s[0] == '\0' || s[0] == '-' || v == 0 || v > UINT32_MAX)
		return usage_error("%s: not a positive number: '%.32s'", opt, s);
	*ret = (uint32_t)v;
	return 0;
}

static void print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
}

static struct json_object *json_time(int64_t t)
{
	char buf[TIME_FORMAT_MAX];

	return t ? json_object_new_string(time_format(t, buf)) : NULL;
}

/* --- init, recover --- */

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

static int cmd_init(struct ctl *ctl, int argc, char **argv)
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

static int cmd_recover(struct ctl *ctl, int argc, char **argv)
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

static int print_vault(const struct kv_vault_info *v, void *ud)
{
	struct json_object *arr = ud;
	char buf[TIME_FORMAT_MAX];

	if (!arr) {
		printf("%s\n", v->name);
		return 0;
	}
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(v->name));
	json_object_object_add(o, "created", json_object_new_string(time_format(v->created, buf)));
	json_object_object_add(o, "retention_days", json_object_new_int(v->retention_days));
	json_object_object_add(o, "purge_protection",
			       json_object_new_boolean(v->purge_protection));
	json_object_array_add(arr, o);
	return 0;
}

static int cmd_vault(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, {} };
	_cleanup_(kv_freep) struct kv *kv = NULL;
	bool json = false;
	const char *verb;
	int c, r;

	if (argc < 2)
		return usage_error("vault: create, list or delete");
	verb = argv[1];
	argc--, argv++; /* argv[0] is the verb now */
	optind = 0;     /* 0: glibc re-initialises its scanning state for the new argv */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c != 'j')
			return usage_error("vault %s: unknown option", verb);
		json = true;
	}
	if (streq(verb, "list")) {
		if (optind != argc)
			return usage_error("vault list takes no arguments");
	} else if (streq(verb, "create") || streq(verb, "delete")) {
		if (optind + 1 != argc)
			return usage_error("vault %s NAME", verb);
		if (!kv_name_valid(argv[optind]))
			return usage_error("invalid vault name: use [A-Za-z0-9][A-Za-z0-9._-]{0,126}");
	} else {
		return usage_error("vault: unknown verb '%.32s'", verb);
	}
	r = open_kv(ctl, &kv);
	if (r != 0)
		return r;

	if (streq(verb, "list")) {
		struct json_object *arr = json ? json_object_new_array() : NULL;

		r = kv_vault_list(kv, print_vault, arr);
		if (r >= 0 && arr)
			print_json(arr);
		json_object_put(arr);
		return r < 0 ? fail(r, "vault list") : EXIT_OK;
	}
	r = streq(verb, "create") ? kv_vault_create(kv, argv[optind]) :
				    kv_vault_delete(kv, argv[optind]);
	if (r < 0) {
		char what[160];

		snprintf(what, sizeof(what), "vault '%s'", argv[optind]);
		return fail(r, what);
	}
	return EXIT_OK;
}

/* --- secret --- */

struct secret_opts {
	const char *file;
	bool json, deleted;
	uint32_t version;
	struct kv_attrs attrs;
	const char *tags[VAULTFS_TAGS_MAX + 1];
	size_t n_tags;
};

enum {
	OPT_FILE = 0x100,
	OPT_CONTENT_TYPE,
	OPT_TAG,
	OPT_NOT_BEFORE,
	OPT_EXPIRES,
	OPT_DISABLED,
	OPT_ENABLED,
	OPT_VERSION,
	OPT_JSON,
	OPT_DELETED,
};

/* Which options each verb takes. */
static const struct {
	const char *verb;
	const char *opts; /* letters: f c t n e d E v j D */
} secret_verbs[] = {
	{ "set", "fctned" }, { "get", "v" },	 { "list", "jD" },    { "versions", "j" },
	{ "update", "vtneE" }, { "delete", "" }, { "recover", "" }, { "purge", "" },
};

static int parse_secret_opts(const char *verb, const char *allowed, int argc, char **argv,
			     bool is_update, struct secret_opts *o)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, OPT_FILE },
		{ "content-type", required_argument, NULL, OPT_CONTENT_TYPE },
		{ "tag", required_argument, NULL, OPT_TAG },
		{ "not-before", required_argument, NULL, OPT_NOT_BEFORE },
		{ "expires", required_argument, NULL, OPT_EXPIRES },
		{ "disabled", no_argument, NULL, OPT_DISABLED },
		{ "enabled", required_argument, NULL, OPT_ENABLED },
		{ "version", required_argument, NULL, OPT_VERSION },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "deleted", no_argument, NULL, OPT_DELETED },
		{}
	};
	static const char letters[] = "fctnedEvjD";
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c < OPT_FILE || c > OPT_DELETED || !strchr(allowed, letters[c - OPT_FILE]))
			return usage_error("secret %s: unknown or unexpected option", verb);
		switch (c) {
		case OPT_FILE:
			o->file = optarg;
			break;
		case OPT_CONTENT_TYPE:
			o->attrs.content_type = optarg;
			break;
		case OPT_TAG:
			if (o->n_tags >= VAULTFS_TAGS_MAX)
				return usage_error("at most %u tags", VAULTFS_TAGS_MAX);
			o->tags[o->n_tags++] = optarg;
			o->attrs.tags = o->tags;
			o->attrs.n_tags = o->n_tags;
			break;
		case OPT_NOT_BEFORE:
			if (parse_time_arg("--not-before", optarg, is_update, &o->attrs.not_before))
				return EXIT_USAGE;
			break;
		case OPT_EXPIRES:
			if (parse_time_arg("--expires", optarg, is_update, &o->attrs.expires))
				return EXIT_USAGE;
			break;
		case OPT_DISABLED:
			o->attrs.enabled = 0;
			break;
		case OPT_ENABLED:
			if (streq(optarg, "yes") || streq(optarg, "true"))
				o->attrs.enabled = 1;
			else if (streq(optarg, "no") || streq(optarg, "false"))
				o->attrs.enabled = 0;
			else
				return usage_error("--enabled: yes or no");
			break;
		case OPT_VERSION:
			if (parse_u32("--version", optarg, &o->version))
				return EXIT_USAGE;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_DELETED:
			o->deleted = true;
			break;
		}
	}
	return 0;
}

static int print_secret(const struct kv_secret_info *s, void *ud)
{
	struct json_object *arr = ud;
	char b1[TIME_FORMAT_MAX], b2[TIME_FORMAT_MAX];

	if (!arr) {
		if (s->deleted_at)
			printf("%s\tversion %u\tdeleted %s\tpurge after %s\n", s->name,
			       s->current_version, time_format(s->deleted_at, b1),
			       time_format(s->purge_after, b2));
		else
			printf("%s\n", s->name);
		return 0;
	}
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "current_version", json_object_new_int64(s->current_version));
	json_object_object_add(o, "created", json_time(s->created));
	if (s->deleted_at) {
		json_object_object_add(o, "deleted", json_time(s->deleted_at));
		json_object_object_add(o, "purge_after", json_time(s->purge_after));
	}
	json_object_array_add(arr, o);
	return 0;
}

static struct json_object *tags_json(const char *tags)
{
	struct json_object *o = json_object_new_object();

	for (const char *p = tags; *p;) {
		const char *nl = strchr(p, '\n'), *eq = strchr(p, '=');
		char key[VAULTFS_TAG_KEY_MAX + 1];

		if (!nl || !eq || eq > nl)
			break;
		snprintf(key, sizeof(key), "%.*s", (int)(eq - p), p);
		json_object_object_add(o, key, json_object_new_string_len(eq + 1,
									   (int)(nl - eq - 1)));
		p = nl + 1;
	}
	return o;
}

static int print_version(const struct kv_version_info *v, void *ud)
{
	struct json_object *arr = ud;
	char b[4][TIME_FORMAT_MAX];

	if (!arr) {
		printf("%u\t%s\tcreated %s\tnot-before %s\texpires %s\t%zu bytes\n", v->version,
		       v->enabled ? "enabled" : "disabled", time_format(v->created, b[0]),
		       v->not_before ? time_format(v->not_before, b[1]) : "-",
		       v->expires ? time_format(v->expires, b[2]) : "-", v->size);
		return 0;
	}
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "version", json_object_new_int64(v->version));
	json_object_object_add(o, "enabled", json_object_new_boolean(v->enabled));
	json_object_object_add(o, "created", json_time(v->created));
	json_object_object_add(o, "updated", json_time(v->updated));
	json_object_object_add(o, "not_before", json_time(v->not_before));
	json_object_object_add(o, "expires", json_time(v->expires));
	json_object_object_add(o, "content_type", json_object_new_string(v->content_type));
	json_object_object_add(o, "tags", tags_json(v->tags));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)v->size));
	(void)b[3];
	json_object_array_add(arr, o);
	return 0;
}

static int cmd_secret(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_(kv_freep) struct kv *kv = NULL;
	_cleanup_secbuf_ struct secbuf *value = NULL;
	struct secret_opts o = { .attrs = KV_ATTRS_KEEP };
	const char *verb, *allowed = NULL, *ref;
	char buf[2 * VAULTFS_NAME_MAX + 4], what[2 * VAULTFS_NAME_MAX + 32];
	char *vault = NULL, *name = NULL;
	int r;

	if (argc < 2)
		return usage_error("secret: set, get, list, versions, update, delete, recover or "
				   "purge");
	verb = argv[1];
	for (size_t i = 0; i < ELEMENTSOF(secret_verbs); i++)
		if (streq(verb, secret_verbs[i].verb))
			allowed = secret_verbs[i].opts;
	if (!allowed)
		return usage_error("secret: unknown verb '%.32s'", verb);
	if (streq(verb, "set"))
		o.attrs = (struct kv_attrs){ .enabled = 1, .content_type = "" };
	argc--, argv++; /* argv[0] is the verb now */
	optind = 0;     /* 0: glibc re-initialises its scanning state for the new argv */
	r = parse_secret_opts(verb, allowed, argc, argv, streq(verb, "update"), &o);
	if (r)
		return r;
	if (optind + 1 != argc)
		return usage_error("secret %s takes one %s", verb,
				   streq(verb, "list") ? "VAULT" : "VAULT/NAME");
	ref = argv[optind];
	if (streq(verb, "list")) {
		if (!kv_name_valid(ref))
			return usage_error("invalid vault name '%.160s'", ref);
		vault = (char *)ref;
	} else if (split_ref(ref, buf, sizeof(buf), &vault, &name) < 0) {
		return usage_error("'%.300s' is not VAULT/NAME (names: [A-Za-z0-9][A-Za-z0-9._-]"
				   "{0,126})",
				   ref);
	}
	snprintf(what, sizeof(what), "secret '%s'", ref);

	if (streq(verb, "set")) {
		_cleanup_close_ int fd = -1;

		if (o.file) {
			fd = open(o.file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
			if (fd < 0) {
				fprintf(stderr, "vaultctl: cannot read '%s': %m\n", o.file);
				return EXIT_REFUSED;
			}
		}
		r = read_value(o.file ? fd : STDIN_FILENO, &value);
		if (r == -EMSGSIZE) {
			fprintf(stderr, "vaultctl: value larger than %u bytes; nothing written\n",
				VAULTFS_VALUE_MAX);
			return EXIT_USAGE;
		}
		if (r < 0)
			return fail(r, "reading the value");
	}

	r = open_kv(ctl, &kv);
	if (r != 0)
		return r;

	if (streq(verb, "set")) {
		uint32_t version;

		r = kv_secret_set(kv, vault, name, value->data, value->len, &o.attrs, &version);
		if (r < 0)
			return fail(r, what);
		fprintf(stderr, "%s: version %u\n", ref, version);
	} else if (streq(verb, "get")) {
		r = kv_secret_get(kv, vault, name, o.version, &value, NULL);
		if (r < 0)
			return fail(r, what);
		r = write_all(STDOUT_FILENO, value->data, value->len);
		if (r < 0)
			return fail(r, "writing the value");
	} else if (streq(verb, "list") || streq(verb, "versions")) {
		struct json_object *arr = o.json ? json_object_new_array() : NULL;

		r = streq(verb, "list") ? kv_secret_list(kv, vault, o.deleted, print_secret, arr) :
					  kv_secret_versions(kv, vault, name, print_version, arr);
		if (r >= 0 && arr)
			print_json(arr);
		json_object_put(arr);
		if (r < 0)
			return fail(r, streq(verb, "list") ? "vault" : what);
	} else if (streq(verb, "update")) {
		r = kv_secret_update(kv, vault, name, o.version, &o.attrs);
	} else if (streq(verb, "delete")) {
		r = kv_secret_delete(kv, vault, name);
	} else if (streq(verb, "recover")) {
		r = kv_secret_recover(kv, vault, name);
	} else {
		r = kv_secret_purge(kv, vault, name);
	}
	return r < 0 ? fail(r, what) : EXIT_OK;
}

static void help(void)
{
	fputs("Usage: vaultctl [-c CONF] [--offline] COMMAND ...\n"
	      "\n"
	      "  init [--sealer tpm2|host|tpm2+host] [--tpm-pcrs 7] [--recovery-key-file F]\n"
	      "  recover --recovery-key-file F\n"
	      "  vault create|delete NAME\n"
	      "  vault list [--json]\n"
	      "  secret set VAULT/NAME [--file F] [--content-type T] [--tag K=V]...\n"
	      "             [--not-before T] [--expires T] [--disabled]   (value from stdin or F)\n"
	      "  secret get VAULT/NAME [--version N]\n"
	      "  secret list VAULT [--deleted] [--json]\n"
	      "  secret versions VAULT/NAME [--json]\n"
	      "  secret update VAULT/NAME [--version N] [--enabled yes|no] [--expires T|never]\n"
	      "             [--not-before T|none] [--tag K=V]...   (any --tag replaces all tags)\n"
	      "  secret delete|recover|purge VAULT/NAME\n"
	      "\n"
	      "Times are RFC 3339 (2027-01-01T00:00:00Z) or relative (+30d, +12h, -1d).\n"
	      "Default config: " CONFIG_DEFAULT_PATH "\n"
	      "Exit status: 0 ok, 1 refused or not found, 2 usage or bad input,\n"
	      "             3 integrity or seal failure.\n",
	      stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "offline", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_(freep_config) struct config *config = NULL;
	struct ctl ctl = { .config_path = CONFIG_DEFAULT_PATH };
	const char *cmd;
	int c, r;

	log_set_ident("vaultctl");
	umask(077);
	/* the TSS library logs warnings to stderr by default; ours are enough */
	setenv("TSS2_LOG", "all+NONE", 0);

	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) >= 0) {
		switch (c) {
		case 'c':
			ctl.config_path = optarg;
			break;
		case 'o':
			ctl.offline = true;
			break;
		case 'h':
			help();
			return EXIT_OK;
		default:
			return usage_error("unknown option");
		}
	}
	if (optind >= argc)
		return usage_error("no command given");
	cmd = argv[optind];
	r = load_config(&ctl);
	if (r)
		return r;
	config = ctl.config;
	argc -= optind;
	argv += optind;
	optind = 0; /* 0: glibc re-initialises its scanning state for the new argv */
	if (streq(cmd, "init"))
		return cmd_init(&ctl, argc, argv);
	if (streq(cmd, "recover"))
		return cmd_recover(&ctl, argc, argv);
	if (streq(cmd, "vault"))
		return cmd_vault(&ctl, argc, argv);
	if (streq(cmd, "secret"))
		return cmd_secret(&ctl, argc, argv);
	return usage_error("unknown command '%.32s'", cmd);
}
