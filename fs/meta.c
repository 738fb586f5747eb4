/* meta.c: the document behind /vault/V/.meta/S. It holds what `vaultctl secret versions --json`
 * shows (attributes, tags, sizes of every version) and never a value: it is built from
 * kv_secret_versions(), which does not decrypt. */
#include <json-c/json.h>
#include <stdio.h>

#include "core/kvjson.h"
#include "core/util.h"
#include "fs/vaultfs.h"

static int add_version(const struct kv_version_info *v, void *userdata)
{
	struct json_object *o = kvjson_version(v);

	if (!o || json_object_array_add(userdata, o) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
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
		struct json_object *last =
			json_object_array_get_idx(arr, json_object_array_length(arr) - 1);

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
