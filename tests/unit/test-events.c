/* test-events.c: unit tests for core/events.c, the change bus. A cursor sees what is published
 * after it was made, in order, once; a cursor that falls behind past the ring gets EV_LOST once
 * and then the oldest kept event, never an overwritten one; a cursor made lost starts with
 * EV_LOST; ev_wait wakes on a publish from another thread and times out without one; the
 * eventfd is readable after a publish and drained; the JSON line is exact. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/events.h"
#include "core/util.h"

static void publish(struct ev_bus *b, const char *name, uint32_t version)
{
	struct ev_event e = { .version = version };

	snprintf(e.vault, sizeof(e.vault), "app");
	snprintf(e.name, sizeof(e.name), "%s", name);
	snprintf(e.kind, sizeof(e.kind), "secret");
	snprintf(e.event, sizeof(e.event), "set");
	ev_publish(b, &e, NULL);
}

static void test_order(void **state)
{
	struct ev_bus *b = NULL;
	struct ev_cursor *c = NULL, *late = NULL;
	struct ev_event e;

	(void)state;
	assert_int_equal(ev_bus_new(1, &b), -EINVAL);
	assert_int_equal(ev_bus_new(8, &b), 0);
	publish(b, "before", 1);
	assert_int_equal(ev_cursor_new(b, &c), 0);
	assert_false(ev_ready(c));
	assert_int_equal(ev_read(c, &e), EV_NONE);
	publish(b, "a", 1);
	publish(b, "b", 2);
	assert_int_equal(ev_cursor_new(b, &late), 0);
	assert_true(ev_ready(c));
	assert_int_equal(ev_read(c, &e), EV_ONE);
	assert_string_equal(e.name, "a");
	assert_int_equal(e.seq, 2);
	assert_int_equal(ev_read(c, &e), EV_ONE);
	assert_string_equal(e.name, "b");
	assert_int_equal(e.version, 2);
	assert_int_equal(ev_read(c, &e), EV_NONE);
	assert_int_equal(ev_read(late, &e), EV_NONE);
	ev_cursor_free(c);
	ev_cursor_free(late);
	ev_bus_free(b);
}

static void test_lost(void **state)
{
	struct ev_bus *b = NULL;
	struct ev_cursor *c = NULL, *r = NULL;
	struct ev_event e;
	char name[16];

	(void)state;
	assert_int_equal(ev_bus_new(4, &b), 0);
	assert_int_equal(ev_cursor_new(b, &c), 0);
	/* exactly the capacity: nothing lost */
	for (int i = 1; i <= 4; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		publish(b, name, (uint32_t)i);
	}
	assert_int_equal(ev_read(c, &e), EV_ONE);
	assert_string_equal(e.name, "n1");
	/* three more: n2 .. n4 overwritten by n5 .. n7, the cursor stood at n2 */
	for (int i = 5; i <= 7; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		publish(b, name, (uint32_t)i);
	}
	assert_int_equal(ev_read(c, &e), EV_LOST);
	for (int i = 4; i <= 7; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(ev_read(c, &e), EV_ONE);
		assert_string_equal(e.name, name);
		assert_int_equal(e.seq, (uint64_t)i);
	}
	assert_int_equal(ev_read(c, &e), EV_NONE);
	/* far behind: still one EV_LOST */
	for (int i = 0; i < 100; i++)
		publish(b, "x", 1);
	assert_int_equal(ev_read(c, &e), EV_LOST);
	assert_int_equal(ev_read(c, &e), EV_ONE);
	assert_int_equal(e.seq, 104);
	/* a revived reader starts lost, then reads what comes */
	assert_int_equal(ev_cursor_new_lost(b, &r), 0);
	assert_true(ev_ready(r));
	assert_int_equal(ev_read(r, &e), EV_LOST);
	assert_int_equal(ev_read(r, &e), EV_NONE);
	ev_cursor_free(r);
	ev_cursor_free(c);
	ev_bus_free(b);
}

static void *later(void *arg)
{
	struct timespec ts = { .tv_nsec = 50 * 1000000 };

	nanosleep(&ts, NULL);
	publish(arg, "late", 9);
	return NULL;
}

static void test_wait(void **state)
{
	struct ev_bus *b = NULL;
	struct pollfd pfd;
	pthread_t t;
	uint64_t next;

	(void)state;
	assert_int_equal(ev_bus_new(4, &b), 0);
	next = ev_bus_next(b);
	assert_int_equal(next, 1);
	assert_int_equal(ev_wait(b, next, 10), -ETIMEDOUT);
	pfd = (struct pollfd){ .fd = ev_bus_fd(b), .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(pthread_create(&t, NULL, later, b), 0);
	assert_int_equal(ev_wait(b, next, -1), 0);
	pthread_join(t, NULL);
	assert_int_equal(poll(&pfd, 1, 0), 1);
	ev_bus_drain_fd(b);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	ev_bus_stop(b);
	assert_int_equal(ev_wait(b, ev_bus_next(b), -1), -ESHUTDOWN);
	ev_bus_free(b);
}

static void test_format(void **state)
{
	struct ev_event e = { .seq = 7, .time_us = INT64_C(1767323045123456), .version = 3 };
	char line[EV_LINE_MAX];
	size_t n;

	(void)state;
	snprintf(e.vault, sizeof(e.vault), "app");
	snprintf(e.name, sizeof(e.name), "db");
	snprintf(e.kind, sizeof(e.kind), "secret");
	snprintf(e.event, sizeof(e.event), "set");
	n = ev_format(&e, line, sizeof(line));
	assert_string_equal(line, "{\"seq\":7,\"time\":\"2026-01-02T03:04:05.123456Z\",\"vault\":"
				  "\"app\",\"name\":\"db\",\"kind\":\"secret\",\"event\":\"set\","
				  "\"version\":3}\n");
	assert_int_equal(n, strlen(line));
	e.name[0] = '\0';
	e.version = 0;
	snprintf(e.kind, sizeof(e.kind), "vault");
	snprintf(e.event, sizeof(e.event), "vault-create");
	snprintf(e.vault, sizeof(e.vault), "a\"b");
	ev_format(&e, line, sizeof(line));
	assert_string_equal(line, "{\"seq\":7,\"time\":\"2026-01-02T03:04:05.123456Z\",\"vault\":"
				  "\"a\\u0022b\",\"name\":null,\"kind\":\"vault\",\"event\":"
				  "\"vault-create\",\"version\":null}\n");
	/* the longest names fit a line */
	memset(e.vault, 'v', VAULTFS_NAME_MAX);
	e.vault[VAULTFS_NAME_MAX] = '\0';
	memset(e.name, 'n', VAULTFS_NAME_MAX);
	e.name[VAULTFS_NAME_MAX] = '\0';
	e.version = UINT32_MAX;
	n = ev_format(&e, line, sizeof(line));
	assert_true(n < EV_LINE_MAX - 1);
	assert_int_equal(line[n - 1], '\n');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
