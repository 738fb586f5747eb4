/* cli-object.c: what the vaultctl nouns of vault objects (key, cert; secret can take it up)
 * share: the verb table and the VAULT or VAULT/NAME argument, the options that become request
 * members, reading an input into a secure buffer, building a request and sending it, and the
 * lines of list, versions and show. It never decides anything itself: every check is the
 * daemon's (or core's, offline), and it never puts secret bytes anywhere but a secbuf. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>

#include "core/io.h"
#include "tools/vaultctl.h"

const struct cli_verb *cli_verb_find(const struct cli_verb *verbs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(name, verbs[i].verb))
			return &verbs[i];
	return NULL;
}

int cli_object_ref(const char *noun, const struct cli_verb *v, int argc, char **argv, char *buf,
		   size_t size, const char **ret_ref, char **ret_vault, char **ret_name)
{
	const char *ref;

	if (optind + 1 != argc)
		return usage_error("%s %s takes one %s", noun, v->verb,
				   v->vault_only ? "VAULT" : "VAULT/NAME");
	ref = argv[optind];
	if (v->vault_only) {
		if (!kv_name_valid(ref))
			return usage_error("invalid vault name '%.160s'", ref);
		*ret_vault = (char *)ref;
		*ret_name = NULL;
	} else if (split_ref(ref, buf, size, ret_vault, ret_name) < 0) {
		return usage_error("'%.300s' is not VAULT/NAME (names: [A-Za-z0-9]"
				   "[A-Za-z0-9._-]{0,126})",
				   ref);
	}
	*ret_ref = ref;
	return 0;
}

void cli_add_str(struct json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, json_object_new_string(s));
}

void cli_add_int(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

const char *cli_str_of(struct json_object *o, const char *key)
{
	struct json_object *m;

	if (!json_object_object_get_ex(o, key, &m) || json_object_is_type(m, json_type_null))
		return NULL;
	return json_object_get_string(m);
}

int64_t cli_int_of(struct json_object *o, const char *key)
{
	struct json_object *m;

	return json_object_object_get_ex(o, key, &m) ? json_object_get_int64(m) : 0;
}

int cli_add_time(struct json_object *m, const char *key, const char *opt, const char *s,
		 bool allow_none)
{
	int64_t t;

	if (parse_time_arg(opt, s, allow_none, &t))
		return EXIT_USAGE;
	cli_add_int(m, key, t);
	return 0;
}

int cli_add_enabled(struct json_object *m, const char *arg)
{
	if (!streq(arg, "yes") && !streq(arg, "true") && !streq(arg, "no") && !streq(arg, "false"))
		return usage_error("--enabled: yes or no");
	json_object_object_add(m, "enabled",
			       json_object_new_boolean(streq(arg, "yes") || streq(arg, "true")));
	return 0;
}

int cli_add_tag(struct json_object *m, struct json_object **tags, const char *arg)
{
	if (!*tags) {
		*tags = json_object_new_array();
		json_object_object_add(m, "tags", *tags);
	}
	if (json_object_array_length(*tags) >= VAULTFS_TAGS_MAX)
		return usage_error("at most %u tags", VAULTFS_TAGS_MAX);
	json_object_array_add(*tags, json_object_new_string(arg));
	return 0;
}

int cli_read_input(const char *path, size_t max, const char *what, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (path) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			fprintf(stderr, "vaultctl: cannot read '%s': %m\n", path);
			return EXIT_REFUSED;
		}
	}
	r = secbuf_new(max + 1, &b);
	if (r >= 0)
		r = io_read_all(path ? fd : STDIN_FILENO, b->data, b->cap, &b->len);
	if (r == -EFBIG) {
		fprintf(stderr, "vaultctl: %s larger than %zu bytes\n", what, max);
		return EXIT_USAGE;
	}
	if (r < 0)
		return fail(r, what);
	*ret = TAKE_PTR(b);
	return 0;
}

struct json_object *cli_object_request(const char *op, const char *vault, const char *name,
				       uint32_t version, bool deleted, struct json_object *members)
{
	struct json_object *req = request_new(op);

	if (!req)
		return NULL;
	cli_add_str(req, "vault", vault);
	if (name)
		cli_add_str(req, "name", name);
	if (version)
		cli_add_int(req, "version", version);
	if (deleted)
		json_object_object_add(req, "deleted", json_object_new_boolean(1));
	json_object_object_foreach(members, key, val)
		json_object_object_add(req, key, json_object_get(val));
	return req;
}

int cli_backup_input(const char *noun, const char *verb, const char *file, uint8_t **ret_blob,
		     struct secbuf *view)
{
	int r;

	if (streq(verb, "backup") && !file)
		return usage_error("%s backup VAULT/NAME --file F", noun);
	if (!streq(verb, "restore"))
		return 0;
	if (!file)
		return usage_error("%s restore VAULT --file F", noun);
	r = backup_read(file, ret_blob, &view->len);
	view->data = *ret_blob;
	view->cap = view->len;
	return r;
}

int cli_call(struct ctl *ctl, struct json_object *req, const struct secbuf *value, const char *what,
	     const struct cli_errno_status *map, struct json_object **ret_reply,
	     struct secbuf **ret_value)
{
	struct json_object *reply = NULL, *m;
	struct secbuf *out = NULL;
	int r;

	if (!req)
		return fail(-ENOMEM, what);
	r = ctl_call(ctl, req, value, &reply, &out);
	json_object_put(req);
	if (r != 0)
		return r;
	r = reply_status(reply, what);
	if (r != 0 && map && json_object_object_get_ex(reply, "errno", &m))
		for (size_t i = 0; map[i].err; i++)
			if (json_object_get_int(m) == map[i].err)
				r = map[i].status;
	if (r != 0) {
		json_object_put(reply);
		secbuf_free(out);
		return r;
	}
	*ret_reply = reply;
	if (ret_value)
		*ret_value = out;
	else
		secbuf_free(out);
	return 0;
}

int cli_write_backup(const char *file, const struct secbuf *out)
{
	return out ? backup_write(file, out) : fail(-EPROTO, "backup");
}

void cli_print_array(struct json_object *reply, const char *member, bool json,
		     void (*print)(struct json_object *arr))
{
	struct json_object *arr = NULL;

	json_object_object_get_ex(reply, member, &arr);
	if (json)
		print_json(arr);
	else
		print(arr);
}

bool cli_print_deleted(struct json_object *s)
{
	const char *deleted = cli_str_of(s, "deleted");

	if (!deleted)
		return false;
	printf("%s\tversion %s\tdeleted %s\tpurge after %s\n", cli_str_of(s, "name"),
	       cli_str_of(s, "current_version"), deleted, cli_str_of(s, "purge_after"));
	return true;
}

const char *cli_enabled_word(struct json_object *v)
{
	struct json_object *m;

	return json_object_object_get_ex(v, "enabled", &m) && json_object_get_boolean(m) ?
		       "enabled" :
		       "disabled";
}

void cli_print_fields(struct json_object *reply, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *s = cli_str_of(reply, keys[i]);

		printf("%-16s%s\n", keys[i], s ? s : "-");
	}
}
