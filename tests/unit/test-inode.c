/* test-inode.c: unit tests for fs/inode.c, the inode numbers of /vault. Every kind round-trips
 * (its id, version and view), the certificates' kinds (which share the top value 15) at the
 * edges of their fields; numbers of different kinds, views and versions of one object never
 * collide; -EOVERFLOW for an id or version that does not fit, -EINVAL for a bad kind or view;
 * -ENOENT when decoding numbers never handed out. Pure arithmetic: fs/inode.c is compiled in
 * (the fs/ objects are not an archive the unit tests link). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include "core/limits.h"
#include "core/util.h"
#include "fs/inode.c"

static void round_trip(const struct ino *n)
{
	struct ino back = { .kind = -1 };
	uint64_t ino = 0;

	assert_int_equal(ino_encode(n, &ino), 0);
	assert_int_equal(ino_decode(ino, &back), 0);
	assert_int_equal(back.kind, n->kind);
	assert_int_equal(back.id, n->id);
	assert_int_equal(back.version, ino_has_version(n->kind) ? n->version : 0);
	assert_int_equal(back.view, ino_is_cert_file(n->kind) ? n->view : 0);
}

static void test_round_trip(void **state)
{
	const int64_t ids[] = { 1, 2, 77, 0xffffff, (INT64_C(1) << INO_CERT_OBJECT_BITS) - 1 };
	const uint32_t versions[] = { 1, 2, 4096, VAULTFS_VERSIONS_MAX };

	(void)state;
	for (int kind = INO_VAULT; kind < _INO_KIND_MAX; kind++)
		for (size_t i = 0; i < ELEMENTSOF(ids) && kind != INO_EVENTS; i++)
			for (size_t j = 0; j < ELEMENTSOF(versions); j++)
				for (unsigned view = 1; view <= INO_VIEW_MAX; view++)
					round_trip(&(struct ino){ .kind = kind,
								  .id = ids[i],
								  .version = versions[j],
								  .view = view });
	/* the unversioned certificate kinds take a 55-bit id */
	round_trip(&(struct ino){
		.kind = INO_CERTFILE, .id = (INT64_C(1) << 55) - 1, .view = INO_VIEW_MAX });
	round_trip(&(struct ino){ .kind = INO_CERTVERDIR, .id = (INT64_C(1) << 55) - 1 });
}

/* .events: a vault's (view 0) and the root's (view INO_EVENTS_ALL), apart from every other
 * number of the same id; no other view. */
static void test_events(void **state)
{
	struct ino back = { .kind = -1 };
	uint64_t a = 0, b = 0, other = 0;

	(void)state;
	assert_int_equal(ino_encode(&(struct ino){ .kind = INO_EVENTS, .id = 5 }, &a), 0);
	assert_int_equal(
		ino_encode(&(struct ino){ .kind = INO_EVENTS, .id = 1, .view = INO_EVENTS_ALL },
			   &b),
		0);
	assert_int_not_equal(a, b);
	assert_int_equal(ino_decode(a, &back), 0);
	assert_int_equal(back.kind, INO_EVENTS);
	assert_int_equal(back.id, 5);
	assert_int_equal(back.view, 0);
	assert_int_equal(ino_decode(b, &back), 0);
	assert_int_equal(back.kind, INO_EVENTS);
	assert_int_equal(back.view, INO_EVENTS_ALL);
	for (int kind = INO_VAULT; kind < INO_EVENTS; kind++) {
		assert_int_equal(
			ino_encode(&(struct ino){ .kind = kind, .id = 5, .version = 1, .view = 1 },
				   &other),
			0);
		assert_int_not_equal(other, a);
	}
	assert_int_equal(ino_encode(&(struct ino){ .kind = INO_EVENTS, .id = 5, .view = 2 }, &a),
			 -EINVAL);
	assert_false(ino_is_dir(INO_EVENTS));
	assert_false(ino_is_cert_file(INO_EVENTS));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every number of a few objects, every kind, version and view: all different. */
static void test_unique(void **state)
{
	size_t n = 0, cap = 16 * 3 * 3 * INO_VIEW_MAX + 1;
	uint64_t *all = calloc(cap, sizeof(*all));

	(void)state;
	assert_non_null(all);
	for (int kind = INO_VAULT; kind < _INO_KIND_MAX; kind++)
		for (int64_t id = 1; id <= 3; id++)
			for (uint32_t ver = 1; ver <= 3; ver++)
				for (unsigned view = 1; view <= INO_VIEW_MAX; view++) {
					struct ino k = { .kind = kind, .id = id };

					if (!ino_has_version(kind) && ver > 1)
						continue;
					if (!ino_is_cert_file(kind) && view > 1)
						continue;
					if (kind == INO_EVENTS) /* test_events */
						continue;
					k.version = ver;
					k.view = view;
					assert_true(n < cap);
					assert_int_equal(ino_encode(&k, &all[n]), 0);
					assert_int_not_equal(all[n], 1); /* the root's */
					n++;
				}
	qsort(all, n, sizeof(*all), cmp_u64);
	for (size_t i = 1; i < n; i++)
		assert_true(all[i - 1] != all[i]);
	free(all);
}

static void test_refused(void **state)
{
	uint64_t ino = 7;

	(void)state;
	/* ids and versions that do not fit */
	assert_int_equal(ino_encode(&(struct ino){ .kind = INO_CERTVERFILE,
						   .id = INT64_C(1) << INO_CERT_OBJECT_BITS,
						   .version = 1,
						   .view = 1 },
				    &ino),
			 -EOVERFLOW);
	assert_int_equal(ino_encode(&(struct ino){ .kind = INO_CERTVERFILE,
						   .id = 1,
						   .version = 1u << INO_CERT_VERSION_BITS,
						   .view = 1 },
				    &ino),
			 -EOVERFLOW);
	assert_int_equal(
		ino_encode(&(struct ino){ .kind = INO_CERTFILE, .id = INT64_C(1) << 55, .view = 1 },
			   &ino),
		-EOVERFLOW);
	assert_int_equal(
		ino_encode(&(struct ino){ .kind = INO_CERTVERFILE, .id = 1, .view = 1 }, &ino),
		-EOVERFLOW); /* version 0 */
	/* a certificate file without a view, or past the last */
	assert_int_equal(ino_encode(&(struct ino){ .kind = INO_CERTFILE, .id = 1 }, &ino), -EINVAL);
	assert_int_equal(
		ino_encode(&(struct ino){ .kind = INO_CERTFILE, .id = 1, .view = 6 }, &ino),
		-EINVAL);
	assert_int_equal(ino_encode(&(struct ino){ .kind = _INO_KIND_MAX, .id = 1 }, &ino),
			 -EINVAL);
	assert_int_equal(ino_encode(&(struct ino){ .kind = INO_SECRET, .id = 0 }, &ino), -EINVAL);
	assert_int_equal(ino, 7);
}

static void test_decode_unknown(void **state)
{
	struct ino k = { .kind = -1 };
	const uint64_t top = UINT64_C(15) << 60;

	(void)state;
	assert_int_equal(ino_decode(2, &k), -ENOENT); /* a pending number */
	/* the 4th kind of the top value is .events (test_events): views 0 and 1 only */
	assert_int_equal(ino_decode(top | UINT64_C(3) << 58 | UINT64_C(2) << 55 | 1, &k), -ENOENT);
	assert_int_equal(ino_decode(top | UINT64_C(1) << 58 | 1, &k), -ENOENT); /* view 0 */
	assert_int_equal(ino_decode(top | UINT64_C(1) << 58 | UINT64_C(6) << 55 | 1, &k), -ENOENT);
	assert_int_equal(ino_decode(top | UINT64_C(1) << 55 | 1, &k), -ENOENT); /* dir + view */
	assert_int_equal(ino_decode(top | UINT64_C(2) << 58 | UINT64_C(1) << 55 | 1 << 17, &k),
			 -ENOENT); /* version 0 */
	assert_int_equal(ino_decode(top | UINT64_C(1) << 58 | UINT64_C(1) << 55, &k), -ENOENT);
	assert_int_equal(k.kind, -1);
	assert_true(ino_is_dir(INO_CERTVERDIR));
	assert_false(ino_is_dir(INO_CERTFILE));
	assert_true(ino_has_version(INO_CERTVERFILE));
	assert_false(ino_is_key_file(INO_CERTFILE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_events),
		cmocka_unit_test(test_unique),	       cmocka_unit_test(test_refused),
		cmocka_unit_test(test_decode_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
