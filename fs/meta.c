/* meta.c: the document behind /vault/V/.meta/S. It holds what `vaultctl secret versions --json`
 * shows (attributes, tags, sizes of every version) and never a value: it is built from
 * kv_secret_versions(), which does not decrypt. */
#include <json-c/json.h>
#include <stdio.h>

#include "core/timeutil.h"
#include "core/util.h"
#include "fs/vaultfs.h"

static struct json_object *json_time(int64_t t)
{
	char buf[TIME_FORMAT_MAX];

	return t ? json_object_new_string(time_format(t, buf)) : NULL;
}

static struct json_object *json_tags(const char *tags)
{
	struct json_object *o = json_object_new_object();

	for (const char *p = tags; *p;) {
		const char *nl = strchr(p, '\n'), *eq = strchr(p, '=');
		char key[VAULTFS_TAG_KEY_MAX + 1];

		if (!nl || !eq || eq > nl)
			break;
		snprintf(key, sizeof(key), "%.*s", (int)(eq - p), p);
		json_object_object_add(o, key,
				       json_object_new_string_len(eq + 1, (int)(nl - eq - 1)));
		p = nl + 1;
	}
	return o;
}

static int add_version(const struct kv_version_info *v, void *userdata)
{
	struct json_object *arr = userdata, *o = json_object_new_object();

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "version", json_object_new_int64(v->version));
	json_object_object_add(o, "enabled", json_object_new_boolean(v->enabled));
	json_object_object_add(o, "created", json_time(v->created));
	json_object_object_add(o, "updated", json_time(v->updated));
	json_object_object_add(o, "not_before", json_time(v->not_before));
	json_object_object_add(o, "expires", json_time(v->expires));
	json_object_object_add(o, "content_type", json_object_new_string(v->content_type));
	json_object_object_add(o, "tags", json_tags(v->tags));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)v->size));
	return json_object_array_add(arr, o) < 0 ? -ENOMEM : 0;
}

int meta_json(struct kv *kv, const char *vault, const char *name, char **ret, size_t *ret_len)
{
	struct json_object *doc = json_object_new_object(), *arr = json_object_new_array();
	const char *text;
	size_t len;
	int r;

	if (!doc || !arr) {
		json_object_put(doc);
		json_object_put(arr);
		return -ENOMEM;
	}
	json_object_object_add(doc, "vault", json_object_new_string(vault));
	json_object_object_add(doc, "name", json_object_new_string(name));
	json_object_object_add(doc, "versions", arr);
	r = kv_secret_versions(kv, vault, name, add_version, arr);
	if (r >= 0) {
		struct json_object *last = json_object_array_get_idx(arr,
			json_object_array_length(arr) - 1);

		json_object_object_add(doc, "current_version",
				       json_object_get(json_object_object_get(last, "version")));
		text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
							   JSON_C_TO_STRING_SPACED |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
		char *buf;

		len = strlen(text);
		buf = malloc(len + 2);
		if (!buf) {
			r = -ENOMEM;
		} else {
			memcpy(buf, text, len);
			buf[len++] = '\n';
			buf[len] = '\0';
			*ret = buf;
			*ret_len = len;
		}
	}
	json_object_put(doc);
	return r;
}
