/* kvjson.c: kv.h's attribute structs as json-c objects. Never sees a value. */
#include <stdio.h>
#include <string.h>

#include "kvjson.h"
#include "timeutil.h"

struct json_object *kvjson_time(int64_t t)
{
	char buf[TIME_FORMAT_MAX];

	return t ? json_object_new_string(time_format(t, buf)) : NULL;
}

/* The canonical "k=v\n" tag lines as an object. */
static struct json_object *tags(const char *text)
{
	struct json_object *o = json_object_new_object();

	for (const char *p = text; o && *p;) {
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

struct json_object *kvjson_version(const struct kv_version_info *v)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "version", json_object_new_int64(v->version));
	json_object_object_add(o, "enabled", json_object_new_boolean(v->enabled));
	json_object_object_add(o, "created", kvjson_time(v->created));
	json_object_object_add(o, "updated", kvjson_time(v->updated));
	json_object_object_add(o, "not_before", kvjson_time(v->not_before));
	json_object_object_add(o, "expires", kvjson_time(v->expires));
	json_object_object_add(o, "content_type", json_object_new_string(v->content_type));
	json_object_object_add(o, "tags", tags(v->tags));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)v->size));
	return o;
}
