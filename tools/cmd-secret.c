/* cmd-secret.c: `vaultctl vault ...` and `vaultctl secret ...`: the vault operations of kv.h
 * from the command line. Values come from stdin or --file, never argv; `get` writes the raw
 * bytes to stdout and nothing else. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>

#include "core/audit.h"
#include "core/timeutil.h"
#include "core/io.h"
#include "core/kvjson.h"
#include "tools/vaultctl.h"

/* Record event (err 0: about to happen; else how it failed) in the audit journal, opening it on
 * first use. 0, or an exit status: then the change must not happen. */
static int record(struct ctl *ctl, struct kv *kv, struct audit **au, const char *event,
		  const char *vault, const char *name, uint32_t version, int err)
{
	int r;

	if (!*au) {
		r = ctl_audit_open(ctl, kv, au);
		if (r != 0)
			return r;
	}
	return ctl_audit(ctl, *au, event, vault, name, version, err);
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

int cmd_vault(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, {} };
	_cleanup_(kv_freep) struct kv *kv = NULL;
	_cleanup_audit_ struct audit *au = NULL;
	const char *event;
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
	event = streq(verb, "create") ? "vault-create" : "vault-delete";
	r = record(ctl, kv, &au, event, argv[optind], NULL, 0, 0);
	if (r != 0)
		return r;
	r = streq(verb, "create") ? kv_vault_create(kv, argv[optind]) :
				    kv_vault_delete(kv, argv[optind]);
	if (r < 0) {
		char what[160];

		(void)record(ctl, kv, &au, event, argv[optind], NULL, 0, r);
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

/* Which options each verb takes, and the audit event of the verbs that change the store
 * (recorded before the change) or read a value (recorded with the outcome, before the value is
 * written out). Listings of names and attributes are not recorded. */
static const struct secret_verb {
	const char *verb;
	const char *opts; /* letters: f c t n e d E v j D */
	const char *event;
} secret_verbs[] = {
	{ "set", "fctned", "set" },	   { "get", "v", "open" },
	{ "list", "jD", NULL },		   { "versions", "j", NULL },
	{ "update", "vtneE", "update" },  { "delete", "", "delete" },
	{ "recover", "", "recover" },	   { "purge", "", "purge" },
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
	json_object_object_add(o, "created", kvjson_time(s->created));
	if (s->deleted_at) {
		json_object_object_add(o, "deleted", kvjson_time(s->deleted_at));
		json_object_object_add(o, "purge_after", kvjson_time(s->purge_after));
	}
	json_object_array_add(arr, o);
	return 0;
}

static int print_version(const struct kv_version_info *v, void *ud)
{
	struct json_object *arr = ud;
	char b[3][TIME_FORMAT_MAX];

	if (!arr) {
		printf("%u\t%s\tcreated %s\tnot-before %s\texpires %s\t%zu bytes\n", v->version,
		       v->enabled ? "enabled" : "disabled", time_format(v->created, b[0]),
		       v->not_before ? time_format(v->not_before, b[1]) : "-",
		       v->expires ? time_format(v->expires, b[2]) : "-", v->size);
		return 0;
	}
	struct json_object *o = kvjson_version(v);

	if (!o || json_object_array_add(arr, o) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
}

int cmd_secret(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_(kv_freep) struct kv *kv = NULL;
	_cleanup_secbuf_ struct secbuf *value = NULL;
	struct secret_opts o = { .attrs = KV_ATTRS_KEEP };
	const struct secret_verb *sv = NULL;
	const char *verb, *ref;
	char buf[2 * VAULTFS_NAME_MAX + 4], what[2 * VAULTFS_NAME_MAX + 32];
	char *vault = NULL, *name = NULL;
	_cleanup_audit_ struct audit *au = NULL;
	uint32_t version = 0;
	int r, k;

	if (argc < 2)
		return usage_error("secret: set, get, list, versions, update, delete, recover or "
				   "purge");
	verb = argv[1];
	for (size_t i = 0; i < ELEMENTSOF(secret_verbs); i++)
		if (streq(verb, secret_verbs[i].verb))
			sv = &secret_verbs[i];
	if (!sv)
		return usage_error("secret: unknown verb '%.32s'", verb);
	if (streq(verb, "set"))
		o.attrs = (struct kv_attrs){ .enabled = 1, .content_type = "" };
	argc--, argv++; /* argv[0] is the verb now */
	optind = 0;     /* 0: glibc re-initialises its scanning state for the new argv */
	r = parse_secret_opts(verb, sv->opts, argc, argv, streq(verb, "update"), &o);
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

	if (streq(verb, "get")) {
		struct kv_version_info info = { 0 };

		r = kv_secret_get(kv, vault, name, o.version, &value, &info);
		k = record(ctl, kv, &au, sv->event, vault, name, r < 0 ? o.version : info.version, r);
		if (k != 0)
			return k; /* unrecorded: not given out */
		if (r < 0)
			return fail(r, what);
		r = io_write_all(STDOUT_FILENO, value->data, value->len);
		return r < 0 ? fail(r, "writing the value") : EXIT_OK;
	}
	if (!sv->event) {
		struct json_object *arr = o.json ? json_object_new_array() : NULL;

		r = streq(verb, "list") ? kv_secret_list(kv, vault, o.deleted, print_secret, arr) :
					  kv_secret_versions(kv, vault, name, print_version, arr);
		if (r >= 0 && arr)
			print_json(arr);
		json_object_put(arr);
		return r < 0 ? fail(r, streq(verb, "list") ? "vault" : what) : EXIT_OK;
	}

	k = record(ctl, kv, &au, sv->event, vault, name, o.version, 0);
	if (k != 0)
		return k;
	if (streq(verb, "set"))
		r = kv_secret_set(kv, vault, name, value->data, value->len, &o.attrs, &version);
	else if (streq(verb, "update"))
		r = kv_secret_update(kv, vault, name, o.version, &o.attrs);
	else if (streq(verb, "delete"))
		r = kv_secret_delete(kv, vault, name);
	else if (streq(verb, "recover"))
		r = kv_secret_recover(kv, vault, name);
	else
		r = kv_secret_purge(kv, vault, name);
	if (r < 0) {
		(void)record(ctl, kv, &au, sv->event, vault, name, o.version, r);
		return fail(r, what);
	}
	if (streq(verb, "set"))
		fprintf(stderr, "%s: version %u\n", ref, version);
	return EXIT_OK;
}
