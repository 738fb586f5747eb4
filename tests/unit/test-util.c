/* test-util.c: the small shared things (core/util.h, core/buf.h, core/harden.h, core/log.h's
 * foreign words): exact results, exact -errnos, and the buffer's sticky error. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/harden.h"
#include "core/log.h"
#include "core/util.h"

static void test_hex(void **state)
{
	const uint8_t in[] = { 0x00, 0x01, 0xab, 0xff, 0x7e };
	uint8_t back[5];
	char out[11] = { 0 };

	(void)state;
	hex_encode(in, sizeof(in), out);
	assert_string_equal(out, "0001abff7e");
	assert_int_equal(hex_decode(out, sizeof(back), back), 0);
	assert_memory_equal(back, in, sizeof(in));
	assert_int_equal(hex_decode("0G", 1, back), -EINVAL);
	assert_int_equal(hex_decode("AB", 1, back), -EINVAL); /* lowercase only */
	assert_int_equal(hex_digit('f'), 15);
	assert_int_equal(hex_digit('g'), -1);
}

static void test_clock(void **state)
{
	int64_t a, b;

	(void)state;
	a = clock_ns(CLOCK_MONOTONIC);
	b = clock_ns(CLOCK_MONOTONIC);
	assert_true(a > 0);
	assert_true(b >= a);
	assert_true(clock_ms(CLOCK_REALTIME) > 1700000000000LL);
}

static void test_buf_builds(void **state)
{
	struct buf b = BUF_INIT(0);
	char *s = NULL;
	size_t len = 0;

	(void)state;
	assert_string_equal(buf_cstr(&b), "");
	buf_puts(&b, "seq=");
	buf_put_u64(&b, 18446744073709551615ULL);
	buf_putc(&b, ' ');
	buf_put_i64(&b, INT64_MIN);
	buf_putc(&b, ' ');
	buf_put_hex(&b, "\x01\xfe", 2);
	buf_printf(&b, " %s=%d", "n", 42);
	assert_int_equal(b.err, 0);
	assert_string_equal(buf_cstr(&b),
			    "seq=18446744073709551615 -9223372036854775808 01fe n=42");
	assert_int_equal(buf_steal(&b, &s, &len), 0);
	assert_int_equal(len, strlen(s));
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	free(s);
}

static void test_buf_sticky_error(void **state)
{
	struct buf b = BUF_INIT(8);
	char *s = (char *)1;

	(void)state;
	assert_int_equal(buf_puts(&b, "12345678"), 0); /* exactly max */
	assert_int_equal(buf_putc(&b, '9'), -EMSGSIZE);
	/* sticky: a later append that would fit fails the same way, and nothing changed */
	assert_int_equal(buf_puts(&b, ""), -EMSGSIZE);
	assert_int_equal(buf_printf(&b, "%d", 1), -EMSGSIZE);
	assert_int_equal(b.len, 8);
	assert_null(buf_cstr(&b));
	assert_int_equal(buf_steal(&b, &s, NULL), -EMSGSIZE);
	assert_ptr_equal(s, (char *)1); /* not written on failure */
	assert_null(b.p);
	/* cleared, it builds again */
	assert_int_equal(buf_puts(&b, "ok"), 0);
	buf_clear(&b);
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(buf_printf(&b, "%s", "123456789"), -EMSGSIZE);
	buf_done(&b);
	assert_int_equal(b.max, 8);
}

static void test_harden(void **state)
{
	const char *failed = "x";
	struct rlimit rl;

	(void)state;
	assert_int_equal(harden_process(0, &failed), 0);
	assert_null(failed);
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
	assert_int_equal(prctl(PR_GET_DUMPABLE), 0);
	assert_int_equal(umask(077), 077);
	/* OpenSSL's heap is wiped on free from now on: its allocator is not its own */
	{
		CRYPTO_malloc_fn m;
		CRYPTO_realloc_fn re;
		CRYPTO_free_fn fr;
		uint8_t *p = OPENSSL_malloc(100);

		CRYPTO_get_mem_functions(&m, &re, &fr);
		assert_true(fr != CRYPTO_free && m != CRYPTO_malloc && re != CRYPTO_realloc);
		assert_non_null(p);
		memset(p, 0xa5, 100);
		p = OPENSSL_realloc(p, 5000); /* moved: the bytes come along */
		assert_non_null(p);
		for (int i = 0; i < 100; i++)
			assert_int_equal(p[i], 0xa5);
		p = OPENSSL_realloc(p, 10);
		assert_int_equal(p[9], 0xa5);
		OPENSSL_free(p);
		/* again: OpenSSL has allocated only through ours, so it still may be set */
		assert_int_equal(crypto_wipe_heap(), 0);
	}
}

static void test_foreign_words(void **state)
{
	char line[512] = "";
	FILE *f;
	int saved;

	(void)state;
	assert_string_equal(log_foreign_last(), "");
	assert_int_equal(log_foreign(-EIO, "sqlite", "disk I/O error (%d)", 10), -EIO);
	assert_string_equal(log_foreign_last(), "sqlite: disk I/O error (10)");
	/* the next error line with an errno ends with them, and they are gone after */
	f = tmpfile();
	assert_non_null(f);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fileno(f), STDERR_FILENO);
	log_set_ident("t");
	log_error_errno(-EIO, "Failed to open the store: %m");
	log_error_errno(-EIO, "again: %m");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "t: Failed to open the store: Input/output error "
				  "[sqlite: disk I/O error (10)]\n");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "t: again: Input/output error\n");
	fclose(f);
	assert_string_equal(log_foreign_last(), "");
	log_foreign(-EIO, "tss2", "x");
	log_foreign_clear();
	assert_string_equal(log_foreign_last(), "");
	{
		char words[LOG_FOREIGN_SUFFIX_MAX];

		assert_string_equal(log_foreign_take(words), "");
		log_foreign(-EIO, "openssl", "bad decrypt");
		assert_string_equal(log_foreign_take(words), " [openssl: bad decrypt]");
		assert_string_equal(log_foreign_last(), "");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex),	   cmocka_unit_test(test_clock),
		cmocka_unit_test(test_buf_builds), cmocka_unit_test(test_buf_sticky_error),
		cmocka_unit_test(test_harden),	   cmocka_unit_test(test_foreign_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
