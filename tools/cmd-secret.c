/* cmd-secret.c: `vaultctl vault ...` and `vaultctl secret ...`: each verb becomes one request
 * of core/request.h (ctl_call carries it to the daemon, or runs it here with --offline) and
 * its reply is printed. Values come from stdin or --file, never argv; `get` writes the raw
 * bytes to stdout and nothing else; a backup blob goes to a new file of mode 0600. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>

#include "core/io.h"
#include "core/timeutil.h"
#include "tools/vaultctl.h"

/* --- vault --- */

static void print_names(struct json_object *arr)
{
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
		printf("%s\n", cli_str_of(json_object_array_get_idx(arr, i), "name"));
}

int cmd_vault(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "retention-days", required_argument, NULL, 'r' },
					      { "purge-protection", required_argument, NULL, 'p' },
					      { "max-versions", required_argument, NULL, 'm' },
					      {} };
	struct json_object *req, *reply = NULL;
	uint32_t days = 0;
	int64_t max_versions = -1; /* not given; 0: none */
	bool json = false, protect = false;
	const char *verb, *op;
	char what[160];
	int c, r;

	if (argc < 2)
		return usage_error("vault: create, list, update, delete or rekey");
	if (streq(argv[1], "rekey")) /* a fleet vault's new key: `fleet rekey` */
		return cmd_fleet(ctl, argc, argv);
	verb = argv[1];
	argc--, argv++; /* argv[0] is the verb now */
	optind = 0;	/* 0: glibc re-initialises its scanning state for the new argv */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c == 'j' && streq(verb, "list"))
			json = true;
		else if (c == 'r' && streq(verb, "create")) {
			if (parse_u32("--retention-days", optarg, &days))
				return EXIT_USAGE;
			if (days < VAULTFS_RETENTION_MIN || days > VAULTFS_RETENTION_MAX)
				return usage_error("--retention-days: %u to %u",
						   VAULTFS_RETENTION_MIN, VAULTFS_RETENTION_MAX);
		} else if (c == 'p' && streq(verb, "update")) {
			if (!streq(optarg, "on"))
				return usage_error("--purge-protection: only 'on' (it can never be "
						   "turned off)");
			protect = true;
		} else if (c == 'm' && (streq(verb, "create") || streq(verb, "update"))) {
			uint32_t n = 0;

			if (streq(optarg, "none") && streq(verb, "update"))
				n = 0;
			else if (parse_u32("--max-versions", optarg, &n))
				return EXIT_USAGE;
			else if (n < 1 || n > VAULTFS_VERSIONS_MAX)
				return usage_error("--max-versions: 1 to %u%s",
						   VAULTFS_VERSIONS_MAX,
						   streq(verb, "update") ? ", or none" : "");
			max_versions = n;
		} else
			return usage_error("vault %s: unknown or unexpected option", verb);
	}
	if (streq(verb, "list")) {
		if (optind != argc)
			return usage_error("vault list takes no arguments");
		r = cli_call(ctl, request_new("vault-list"), NULL, "vault list", NULL, &reply,
			     NULL);
		if (r != 0)
			return r;
		cli_print_array(reply, "vaults", json, print_names);
		json_object_put(reply);
		return EXIT_OK;
	}
	if (!streq(verb, "create") && !streq(verb, "delete") && !streq(verb, "update"))
		return usage_error("vault: unknown verb '%.32s'", verb);
	if (optind + 1 != argc)
		return usage_error("vault %s NAME", verb);
	if (!kv_name_valid(argv[optind]))
		return usage_error("invalid vault name: use [A-Za-z0-9][A-Za-z0-9._-]{0,126}");
	if (streq(verb, "update") && !protect && max_versions < 0)
		return usage_error("vault update NAME [--purge-protection on] "
				   "[--max-versions N|none]");
	op = streq(verb, "create") ? "vault-create" :
	     streq(verb, "delete") ? "vault-delete" :
				     "vault-update";
	req = request_new(op);
	if (req) {
		cli_add_str(req, "vault", argv[optind]);
		if (days)
			json_object_object_add(req, "retention_days", json_object_new_int64(days));
		if (protect)
			json_object_object_add(req, "purge_protection", json_object_new_boolean(1));
		if (max_versions >= 0)
			json_object_object_add(req, "max_versions",
					       json_object_new_int64(max_versions));
	}
	snprintf(what, sizeof(what), "vault '%s'", argv[optind]);
	r = cli_call(ctl, req, NULL, what, NULL, &reply, NULL);
	json_object_put(reply);
	if (r == 0)
		say_done(argv[optind], verb);
	return r;
}

/* --- secret --- */

struct secret_opts {
	const char *file;
	bool json, deleted;
	uint32_t version;
	uint32_t to;		   /* rollback */
	int64_t expiring;	   /* -1: not asked */
	struct json_object *attrs; /* the attribute members given */
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
	OPT_EXPIRING,
	OPT_TO,
};

/* Which options each verb takes (letters of OPT_*, in order: f c t n e d E v j D x T), what it
 * names (VAULT or VAULT/NAME) and its request. */
static const struct cli_verb secret_verbs[] = {
	{ "set", "fctned", false, "secret-set" },
	{ "get", "v", false, "secret-get" },
	{ "list", "jDx", true, "secret-list" },
	{ "versions", "j", false, "secret-versions" },
	{ "update", "vtneE", false, "secret-update" },
	{ "delete", "", false, "secret-delete" },
	{ "recover", "", false, "secret-recover" },
	{ "purge", "", false, "secret-purge" },
	{ "backup", "f", false, "secret-backup" },
	{ "restore", "f", true, "secret-restore" },
	{ "rollback", "T", false, "secret-rollback" },
};

static int parse_secret_opts(const struct cli_verb *sv, int argc, char **argv,
			     struct secret_opts *o)
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
		{ "expiring", required_argument, NULL, OPT_EXPIRING },
		{ "to", required_argument, NULL, OPT_TO },
		{}
	};
	static const char letters[] = "fctnedEvjDxT";
	bool is_update = streq(sv->verb, "update");
	struct json_object *tags = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c < OPT_FILE || c > OPT_TO || !strchr(sv->opts, letters[c - OPT_FILE]))
			return usage_error("secret %s: unknown or unexpected option", sv->verb);
		switch (c) {
		case OPT_FILE:
			o->file = optarg;
			break;
		case OPT_CONTENT_TYPE:
			cli_add_str(o->attrs, "content_type", optarg);
			break;
		case OPT_TAG:
			if (cli_add_tag(o->attrs, &tags, optarg))
				return EXIT_USAGE;
			break;
		case OPT_NOT_BEFORE:
		case OPT_EXPIRES:
			if (cli_add_time(o->attrs, c == OPT_EXPIRES ? "expires" : "not_before",
					 c == OPT_EXPIRES ? "--expires" : "--not-before", optarg,
					 is_update))
				return EXIT_USAGE;
			break;
		case OPT_DISABLED:
			json_object_object_add(o->attrs, "enabled", json_object_new_boolean(0));
			break;
		case OPT_ENABLED:
			if (cli_add_enabled(o->attrs, optarg))
				return EXIT_USAGE;
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
		case OPT_EXPIRING:
			if (duration_parse(optarg, &o->expiring) < 0)
				return usage_error("--expiring: a span such as 30d, 12h or 90m");
			break;
		case OPT_TO:
			if (parse_u32("--to", optarg, &o->to))
				return EXIT_USAGE;
			if (o->to == 0)
				return usage_error("--to: a version number, 1 or more");
			break;
		}
	}
	return 0;
}

static void print_secrets(struct json_object *arr)
{
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);
		const char *expires = cli_str_of(s, "expires");

		if (cli_print_deleted(s))
			continue;
		if (expires)
			printf("%s\texpires %s\n", cli_str_of(s, "name"), expires);
		else
			printf("%s\n", cli_str_of(s, "name"));
	}
}

static void print_versions(struct json_object *arr)
{
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);
		const char *nbf = cli_str_of(v, "not_before"), *exp = cli_str_of(v, "expires");

		printf("%s\t%s\tcreated %s\tnot-before %s\texpires %s\t%s bytes\n",
		       cli_str_of(v, "version"), cli_enabled_word(v), cli_str_of(v, "created"),
		       nbf ? nbf : "-", exp ? exp : "-", cli_str_of(v, "size"));
	}
}

/* The value of set, from stdin or --file, into a secure buffer. */
static int read_value_arg(const struct secret_opts *o, struct secbuf **ret)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (o->file) {
		fd = open(o->file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			fprintf(stderr, "vaultctl: cannot read '%s': %m\n", o->file);
			return EXIT_REFUSED;
		}
	}
	r = read_value(o->file ? fd : STDIN_FILENO, ret);
	if (r == -EMSGSIZE) {
		fprintf(stderr, "vaultctl: value larger than %u bytes; nothing written\n",
			VAULTFS_VALUE_MAX);
		return EXIT_USAGE;
	}
	return r < 0 ? fail(r, "reading the value") : 0;
}

static int secret_run(struct ctl *ctl, const struct cli_verb *sv, struct secret_opts *o,
		      const char *ref, const char *vault, const char *name)
{
	_cleanup_secbuf_ struct secbuf *in = NULL, *out = NULL;
	_cleanup_free_ uint8_t *blob = NULL;
	struct secbuf blob_view = { 0 };
	struct json_object *req, *reply = NULL;
	char what[2 * VAULTFS_NAME_MAX + 32];
	int r;

	if (streq(sv->verb, "set")) {
		r = read_value_arg(o, &in);
		if (r != 0)
			return r;
	} else {
		r = cli_backup_input("secret", sv->verb, o->file, &blob, &blob_view);
		if (r != 0)
			return r;
	}
	if (streq(sv->verb, "rollback") && !o->to)
		return usage_error("secret rollback VAULT/NAME --to N");

	if (o->to)
		cli_add_int(o->attrs, "to", o->to);
	if (o->expiring >= 0)
		cli_add_int(o->attrs, "expiring", o->expiring);
	req = cli_object_request(sv->op, vault, name, o->version, o->deleted, o->attrs);
	snprintf(what, sizeof(what), "%s '%s'", name ? "secret" : "vault", ref);
	r = cli_call(ctl, req, blob ? &blob_view : in, what, NULL, &reply, &out);
	if (r != 0)
		return r;

	if (streq(sv->verb, "get")) {
		r = out ? io_write_all(STDOUT_FILENO, out->data, out->len) : -EPROTO;
		r = r < 0 ? fail(r, "writing the value") : EXIT_OK;
	} else if (streq(sv->verb, "backup")) {
		r = cli_write_backup(o->file, out);
	} else if (streq(sv->verb, "list")) {
		cli_print_array(reply, "secrets", o->json, print_secrets);
		r = EXIT_OK;
	} else if (streq(sv->verb, "versions")) {
		cli_print_array(reply, "versions", o->json, print_versions);
		r = EXIT_OK;
	} else {
		if (streq(sv->verb, "set"))
			fprintf(stderr, "%s: version %s\n", ref, cli_str_of(reply, "version"));
		else if (streq(sv->verb, "rollback")) /* the bytes never come here */
			fprintf(stderr, "%s: version %s (the bytes of version %s)\n", ref,
				cli_str_of(reply, "version"), cli_str_of(reply, "from"));
		else if (streq(sv->verb, "restore"))
			fprintf(stderr, "%s/%s: restored\n", ref, cli_str_of(reply, "name"));
		else
			say_done(ref, sv->verb);
		r = EXIT_OK;
	}
	json_object_put(reply);
	return r;
}

int cmd_secret(struct ctl *ctl, int argc, char **argv)
{
	struct secret_opts o = { .expiring = -1 };
	const struct cli_verb *sv;
	char buf[2 * VAULTFS_NAME_MAX + 4];
	char *vault = NULL, *name = NULL;
	const char *ref;
	int r;

	if (argc < 2)
		return usage_error("secret: set, get, list, versions, update, delete, recover, "
				   "purge, backup, restore or rollback");
	sv = cli_verb_find(secret_verbs, ELEMENTSOF(secret_verbs), argv[1]);
	if (!sv)
		return usage_error("secret: unknown verb '%.32s'", argv[1]);
	argc--, argv++; /* argv[0] is the verb now */
	optind = 0;	/* 0: glibc re-initialises its scanning state for the new argv */
	o.attrs = json_object_new_object();
	if (!o.attrs)
		return fail(-ENOMEM, "options");
	r = parse_secret_opts(sv, argc, argv, &o);
	if (r == 0)
		r = cli_object_ref("secret", sv, argc, argv, buf, sizeof(buf), &ref, &vault, &name);
	if (r == 0)
		r = secret_run(ctl, sv, &o, ref, vault, name);
	json_object_put(o.attrs);
	return r;
}
