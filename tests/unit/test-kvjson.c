/* test-kvjson.c: the JSON shape of version attributes, exactly. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "core/kvjson.h"

static void test_version(void **state)
{
	struct kv_version_info v = {
		.version = 3,
		.enabled = true,
		.created = 86400,
		.updated = 86401,
		.expires = 4102444800,
		.size = 42,
	};
	struct json_object *o;

	(void)state;
	strcpy(v.content_type, "text/plain");
	strcpy(v.tags, "a=1\nenv=prod x\n");
	o = kvjson_version(&v);
	assert_non_null(o);
	assert_string_equal(
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		"{\"version\":3,\"enabled\":true,\"created\":\"1970-01-02T00:00:00Z\","
		"\"updated\":\"1970-01-02T00:00:01Z\",\"not_before\":null,"
		"\"expires\":\"2100-01-01T00:00:00Z\",\"content_type\":\"text\\/plain\","
		"\"tags\":{\"a\":\"1\",\"env\":\"prod x\"},\"size\":42}");
	json_object_put(o);
}

static void test_bad_tags_stop(void **state)
{
	struct kv_version_info v = { .version = 1 };
	struct json_object *o, *t;

	(void)state;
	strcpy(v.tags, "a=1\nno-equals-sign\nb=2\n"); /* never written by kv: parsing stops */
	o = kvjson_version(&v);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "tags", &t));
	assert_int_equal(json_object_object_length(t), 1);
	assert_null(kvjson_time(0));
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_bad_tags_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
