/* kvjson.h: the JSON form of what kv.h describes, one shape for `vaultctl --json` and the
 * daemon's .meta files. Attributes only: kv_version_info holds no value. */
#pragma once

#include <json-c/json.h>

#include "kv.h"

/* RFC 3339 string, or NULL (JSON null) for 0. */
struct json_object *kvjson_time(int64_t t);
/* {"version", "enabled", "created", "updated", "not_before", "expires", "content_type",
 * "tags": {k: v}, "size"}; NULL when out of memory. */
struct json_object *kvjson_version(const struct kv_version_info *v);
