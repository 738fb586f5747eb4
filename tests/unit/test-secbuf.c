/* test-secbuf.c: unit tests for core/secbuf.c: allocation limits, set/dup semantics, and that the
 * mapping really is locked, excluded from core dumps and wiped in a forked child, read back from
 * /proc/self/smaps; that a freed small mapping is pooled wiped and reused still locked, a large
 * one unmapped, and a forked child never gets a pooled page. The mlock refusal path is
 * exercised in a child that drops CAP_IPC_LOCK. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/secbuf.h"
#include "core/util.h"

#define MIB (1024u * 1024u)

struct smaps_entry {
	long locked_kb;
	char vmflags[512];
};

/* Find the mapping that contains addr in /proc/self/smaps and read its Locked: and VmFlags:
 * lines. Returns 0 when found. */
static int smaps_lookup(const void *addr, struct smaps_entry *ret)
{
	uintptr_t a = (uintptr_t)addr;
	char line[512];
	bool in = false;
	struct smaps_entry e = { .locked_kb = -1 };
	FILE *f;
	int r = -ENOENT;

	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		uintmax_t lo, hi;

		/* A mapping header: "lo-hi perms ..."; field lines never parse as two numbers. */
		if (sscanf(line, "%jx-%jx ", &lo, &hi) == 2) {
			if (in)
				break;
			in = a >= lo && a < hi;
			continue;
		}
		if (!in)
			continue;
		if (strncmp(line, "Locked:", 7) == 0)
			e.locked_kb = strtol(line + 7, NULL, 10);
		else if (strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(e.vmflags, sizeof(e.vmflags), "%s", line + 8);
			r = 0;
		}
	}
	fclose(f);
	if (r == 0)
		*ret = e;
	return r;
}

static bool has_flag(const char *vmflags, const char *flag)
{
	char padded[520];
	char want[8];

	snprintf(padded, sizeof(padded), " %s ", vmflags);
	padded[strcspn(padded, "\n")] = ' ';
	snprintf(want, sizeof(want), " %s ", flag);
	return strstr(padded, want) != NULL;
}

static void test_new_basic(void **state)
{
	(void)state;
	struct secbuf *b = NULL;
	long ps = sysconf(_SC_PAGESIZE);

	assert_int_equal(secbuf_new(100, &b), 0);
	assert_non_null(b);
	assert_non_null(b->data);
	assert_int_equal(b->len, 0);
	assert_int_equal(b->cap, 100);
	assert_int_equal((uintptr_t)b->data % (uintptr_t)ps, 0);
	/* Fresh anonymous memory is zero; the whole page is usable memory of ours. */
	for (long i = 0; i < ps; i++)
		assert_int_equal(b->data[i], 0);
	secbuf_free(b);
}

static void test_new_refusals(void **state)
{
	(void)state;
	struct secbuf *b = (struct secbuf *)0x1;

	assert_int_equal(secbuf_new(0, &b), -EINVAL);
	assert_int_equal(secbuf_new(64 * MIB + 1, &b), -EINVAL);
	assert_int_equal(secbuf_new(SIZE_MAX, &b), -EINVAL);
	assert_int_equal(secbuf_new(SIZE_MAX - 100, &b), -EINVAL);
	/* ret untouched on failure */
	assert_ptr_equal(b, (struct secbuf *)0x1);
	assert_int_equal(secbuf_new(16, NULL), -EINVAL);
}

static void test_new_max(void **state)
{
	(void)state;
	struct secbuf *b = NULL;

	/* 64 MiB is the largest accepted size; we run as root (CAP_IPC_LOCK) so it locks. */
	if (geteuid() != 0)
		skip();
	assert_int_equal(secbuf_new(64 * MIB, &b), 0);
	assert_int_equal(b->cap, 64 * MIB);
	b->data[64 * MIB - 1] = 0xaa;
	secbuf_free(b);
}

static void test_mapping_locked_dontdump(void **state)
{
	(void)state;
	_cleanup_secbuf_ struct secbuf *b = NULL;
	struct smaps_entry e;
	long ps = sysconf(_SC_PAGESIZE);

	/* no pooled mapping of the same flags for the kernel to merge this one with */
	secbuf_pool_drain();
	assert_int_equal(secbuf_new(3 * (size_t)ps + 1, &b), 0);
	assert_int_equal(smaps_lookup(b->data, &e), 0);
	/* 4 pages rounded up, all locked. */
	assert_int_equal(e.locked_kb, 4 * ps / 1024);
	assert_true(has_flag(e.vmflags, "lo"));
	assert_true(has_flag(e.vmflags, "dd"));
	assert_true(has_flag(e.vmflags, "wf"));
}

static void test_free_unmaps(void **state)
{
	(void)state;
	struct secbuf *b = NULL;
	struct smaps_entry e;
	uint8_t *data;

	/* 1 MiB: far above what the pool keeps */
	assert_int_equal(secbuf_new(MIB, &b), 0);
	data = b->data;
	assert_int_equal(smaps_lookup(data, &e), 0);
	secbuf_free(b);
	/* The address is no longer mapped (nothing else in this test maps memory meanwhile). */
	assert_int_equal(smaps_lookup(data, &e), -ENOENT);
	secbuf_free(NULL);
}

static void test_pool_reuse(void **state)
{
	(void)state;
	struct secbuf *b = NULL, *c = NULL, *d = NULL;
	struct smaps_entry e;
	long ps = sysconf(_SC_PAGESIZE);
	uint8_t *data;

	secbuf_pool_drain();
	assert_int_equal(secbuf_dup("secret!!", 8, &b), 0);
	memset(b->data, 0x5a, (size_t)ps); /* dirty the whole page, past len */
	data = b->data;
	secbuf_free(b);
	/* pooled: still mapped and locked (the kernel may merge it with a neighbouring mapping
	 * of the same flags: at least its page), and wiped whole */
	assert_int_equal(smaps_lookup(data, &e), 0);
	assert_true(has_flag(e.vmflags, "lo"));
	assert_true(e.locked_kb >= ps / 1024);
	for (long i = 0; i < ps; i++)
		assert_int_equal(data[i], 0);
	/* a buffer of another page count does not take it */
	assert_int_equal(secbuf_new(2 * (size_t)ps, &c), 0);
	assert_ptr_not_equal(c->data, data);
	/* one of the same page count does, zeroed, locked, not dumped, wiped on fork */
	assert_int_equal(secbuf_new(100, &d), 0);
	assert_ptr_equal(d->data, data);
	assert_int_equal(d->len, 0);
	assert_int_equal(d->cap, 100);
	for (long i = 0; i < ps; i++)
		assert_int_equal(d->data[i], 0);
	assert_int_equal(smaps_lookup(d->data, &e), 0);
	assert_true(e.locked_kb >= ps / 1024);
	assert_true(has_flag(e.vmflags, "lo"));
	assert_true(has_flag(e.vmflags, "dd"));
	assert_true(has_flag(e.vmflags, "wf"));
	secbuf_free(c);
	secbuf_free(d);
	/* drained: unmapped */
	secbuf_pool_drain();
	assert_int_equal(smaps_lookup(data, &e), -ENOENT);
}

static void test_pool_bounded(void **state)
{
	(void)state;
	struct secbuf *b[64];
	struct smaps_entry e;
	size_t kept = 0;

	secbuf_pool_drain();
	for (size_t i = 0; i < 64; i++)
		assert_int_equal(secbuf_new(1, &b[i]), 0);
	for (size_t i = 0; i < 64; i++) {
		uint8_t *data = b[i]->data;

		secbuf_free(b[i]);
		kept += smaps_lookup(data, &e) == 0;
	}
	/* 32 slots: the rest were unmapped */
	assert_int_equal(kept, 32);
	secbuf_pool_drain();
}

static void test_pool_not_in_child(void **state)
{
	(void)state;
	struct secbuf *b = NULL;
	uint8_t *data;
	int status;
	pid_t pid;

	secbuf_pool_drain();
	assert_int_equal(secbuf_new(100, &b), 0);
	data = b->data;
	secbuf_free(b);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct secbuf *c = NULL;
		struct smaps_entry ce;

		/* the parent's pooled page is gone here; a new one is locked */
		if (smaps_lookup(data, &ce) != -ENOENT)
			_exit(1);
		if (secbuf_new(100, &c) < 0 || smaps_lookup(c->data, &ce) < 0)
			_exit(2);
		if (ce.locked_kb <= 0)
			_exit(3);
		secbuf_free(c);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* still ours in the parent */
	assert_int_equal(secbuf_new(100, &b), 0);
	assert_ptr_equal(b->data, data);
	secbuf_free(b);
	secbuf_pool_drain();
}

static void test_wipe_on_fork(void **state)
{
	(void)state;
	_cleanup_secbuf_ struct secbuf *b = NULL;
	int status;
	pid_t pid;

	assert_int_equal(secbuf_dup("secret!!", 8, &b), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The child sees zeroes where the parent has the secret. */
		for (size_t i = 0; i < 8; i++)
			if (b->data[i] != 0)
				_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_memory_equal(b->data, "secret!!", 8);
}

static void test_set(void **state)
{
	(void)state;
	_cleanup_secbuf_ struct secbuf *b = NULL;

	assert_int_equal(secbuf_new(8, &b), 0);
	assert_int_equal(secbuf_set(b, "abcdefgh", 8), 0);
	assert_int_equal(b->len, 8);
	assert_memory_equal(b->data, "abcdefgh", 8);
	/* Shorter contents replace and the tail is wiped. */
	assert_int_equal(secbuf_set(b, "xy", 2), 0);
	assert_int_equal(b->len, 2);
	assert_memory_equal(b->data, "xy\0\0\0\0\0\0", 8);
	/* Too long: refused, contents untouched. */
	assert_int_equal(secbuf_set(b, "123456789", 9), -EMSGSIZE);
	assert_int_equal(b->len, 2);
	assert_memory_equal(b->data, "xy", 2);
	/* Empty. */
	assert_int_equal(secbuf_set(b, NULL, 0), 0);
	assert_int_equal(b->len, 0);
	assert_int_equal(b->data[0], 0);
	assert_int_equal(secbuf_set(b, NULL, 1), -EINVAL);
	assert_int_equal(secbuf_set(NULL, "a", 1), -EINVAL);
}

static void test_dup(void **state)
{
	(void)state;
	_cleanup_secbuf_ struct secbuf *b = NULL;
	struct secbuf *c = (struct secbuf *)0x1;
	uint8_t src[5000];

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7);
	assert_int_equal(secbuf_dup(src, sizeof(src), &b), 0);
	assert_int_equal(b->len, sizeof(src));
	assert_int_equal(b->cap, sizeof(src));
	assert_memory_equal(b->data, src, sizeof(src));
	assert_ptr_not_equal(b->data, src);
	/* Zero bytes cannot be allocated (cap 0 is -EINVAL). */
	assert_int_equal(secbuf_dup(src, 0, &c), -EINVAL);
	assert_int_equal(secbuf_dup(NULL, 4, &c), -EINVAL);
	assert_int_equal(secbuf_dup(src, 64 * MIB + 1, &c), -EINVAL);
	assert_ptr_equal(c, (struct secbuf *)0x1);
}

static void test_secure_wipe(void **state)
{
	(void)state;
	uint8_t buf[32];

	memset(buf, 0x5a, sizeof(buf));
	secure_wipe(buf, 16);
	for (size_t i = 0; i < 16; i++)
		assert_int_equal(buf[i], 0);
	for (size_t i = 16; i < 32; i++)
		assert_int_equal(buf[i], 0x5a);
	secure_wipe(NULL, 0);
}

/* Drop CAP_IPC_LOCK from the effective set so RLIMIT_MEMLOCK applies to us. */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	d[CAP_TO_INDEX(CAP_IPC_LOCK)].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}

static void test_mlock_failure(void **state)
{
	(void)state;
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { .rlim_cur = 0, .rlim_max = 0 };
		struct secbuf *b = NULL;

		if (drop_ipc_lock() < 0 || setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
			_exit(2);
		if (secbuf_new(4096, &b) != -ENOMEM)
			_exit(3);
		if (b)
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_basic),
		cmocka_unit_test(test_new_refusals),
		cmocka_unit_test(test_new_max),
		cmocka_unit_test(test_mapping_locked_dontdump),
		cmocka_unit_test(test_free_unmaps),
		cmocka_unit_test(test_pool_reuse),
		cmocka_unit_test(test_pool_bounded),
		cmocka_unit_test(test_pool_not_in_child),
		cmocka_unit_test(test_wipe_on_fork),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_dup),
		cmocka_unit_test(test_secure_wipe),
		cmocka_unit_test(test_mlock_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
