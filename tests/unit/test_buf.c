/* Unit tests for the capped buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"

static void
test_cap(void **state)
{
	struct buf b;
	char *p;
	size_t len;
	int i;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_adds(&b, "hello"), PC_OK);
	assert_int_equal(buf_printf(&b, "%d", 1234), PC_OK);
	assert_string_equal(b.data, "hello1234");
	/* One byte over the cap fails and leaves the contents as they were. */
	assert_int_equal(buf_adds(&b, "xy"), PC_TOOBIG);
	assert_string_equal(b.data, "hello1234");
	assert_int_equal(buf_printf(&b, "%s", "xy"), PC_TOOBIG);
	assert_int_equal(buf_add(&b, "x", 1), PC_OK);
	assert_int_equal(b.len, 10);
	assert_int_equal(buf_add(&b, "", 0), PC_OK);
	assert_int_equal(buf_add(&b, "x", SIZE_MAX), PC_TOOBIG);

	p = buf_steal(&b, &len);
	assert_int_equal(len, 10);
	assert_string_equal(p, "hello1234x");
	free(p);
	assert_null(b.data);
	assert_null(buf_steal(&b, &len));

	buf_init(&b, 1 << 20);
	for (i = 0; i < 100000; i++)
		assert_int_equal(buf_add(&b, "0123456789", 10), PC_OK);
	assert_int_equal(b.len, 1000000);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void
test_read_file(void **state)
{
	char dir[] = "/tmp/pc-test-buf-XXXXXX", path[64], err[PC_ERRLEN];
	struct stat st;
	struct buf b;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_non_null(fp = fopen(path, "w"));
	assert_true(fputs("0123456789", fp) >= 0);
	assert_int_equal(fclose(fp), 0);

	buf_init(&b, 10);
	memset(&st, 0, sizeof(st));
	assert_int_equal(buf_read_file(&b, path, "test file", &st, err), PC_OK);
	assert_string_equal(b.data, "0123456789");
	assert_int_equal(st.st_size, 10);
	assert_true(S_ISREG(st.st_mode));
	/* Appended, and refused past the cap, naming the file. */
	buf_reset(&b);
	assert_int_equal(buf_adds(&b, "x"), PC_OK);
	assert_int_equal(buf_read_file(&b, path, "test file", NULL, err),
	    PC_INVALID);
	assert_non_null(strstr(err, "test file /tmp/pc-test-buf-"));
	assert_non_null(strstr(err, "is larger than 10 bytes"));
	assert_int_equal(buf_read_file(&b, dir, "test file", NULL, err),
	    PC_INVALID);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(buf_read_file(&b, path, "test file", NULL, err),
	    PC_INVALID);
	assert_non_null(strstr(err, "cannot open"));
	buf_free(&b);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_read_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
