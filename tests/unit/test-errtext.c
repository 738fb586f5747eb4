/* test-errtext.c: unit tests for core/errtext.c. The same errno says what its topic means
 * (EBADMSG of a row, a store file, a sealed key, a journal), a negative and a positive errno give
 * the same sentence, and an errno without a sentence of its own is strerror's. Pure: no
 * fixture. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/errtext.h"

static void test_topics(void **state)
{
	(void)state;
	assert_string_equal(errtext(ERRTEXT_OBJECT, -EBADMSG),
			    "integrity check failed: the store was changed outside vaultfs");
	assert_string_equal(errtext(ERRTEXT_STORE, -EBADMSG), "not a vaultfs store, or corrupt");
	assert_string_equal(errtext(ERRTEXT_SEAL, -EBADMSG),
			    "sealed key does not open (another TPM, wrong host key, or changed "
			    "data)");
	assert_string_equal(errtext(ERRTEXT_JOURNAL, -EBADMSG),
			    "the journal does not verify or does not match the head anchored in "
			    "the store (run 'vaultctl --offline audit verify')");
	assert_string_equal(errtext(ERRTEXT_OBJECT, -EKEYREVOKED), "disabled");
	assert_string_equal(errtext(ERRTEXT_SEAL, -ENOMEDIUM),
			    "store not initialised (run 'vaultctl init')");
	assert_string_equal(errtext(ERRTEXT_JOURNAL, -EDQUOT), "no space left for the journal");
	/* a fleet change while the center is away says so, and that nothing changed */
	assert_non_null(strstr(errtext(ERRTEXT_OBJECT, -EHOSTDOWN), "center"));
	assert_non_null(strstr(errtext(ERRTEXT_OBJECT, -EHOSTDOWN), "nothing changed"));
}

static void test_sign_and_fallback(void **state)
{
	(void)state;
	assert_string_equal(errtext(ERRTEXT_OBJECT, ENOENT), errtext(ERRTEXT_OBJECT, -ENOENT));
	assert_string_equal(errtext(ERRTEXT_OBJECT, -ENOENT), "not found");
	/* no sentence of its own in that topic: strerror's */
	assert_string_equal(errtext(ERRTEXT_SEAL, -ENOENT), strerror(ENOENT));
	assert_string_equal(errtext(ERRTEXT_OBJECT, -ENODEV), strerror(ENODEV));
	assert_string_equal(errtext(ERRTEXT_JOURNAL, -EACCES), strerror(EACCES));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topics),
		cmocka_unit_test(test_sign_and_fallback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
