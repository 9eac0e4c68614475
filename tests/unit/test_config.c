/* Unit tests for configuration loading: defaults, range checks, secrets. */
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

#include "config.h"

struct fixture {
	char dir[64];
	char conf[96];
	char key[96];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	FILE *fp;

	if (f == NULL)
		return -1;
	strcpy(f->dir, "/tmp/pc-test-config-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->conf, sizeof(f->conf), "%s/pc.conf", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/service.key", f->dir);
	if ((fp = fopen(f->key, "w")) == NULL)
		return -1;
	fputs("s3cr3t-service-key\n", fp);
	fclose(fp);
	chmod(f->key, 0600);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->conf);
	unlink(f->key);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Write a config whose [origin] section names the fixture's key, plus extra. */
static void
write_conf(struct fixture *f, const char *extra)
{
	FILE *fp = fopen(f->conf, "w");

	assert_non_null(fp);
	fprintf(fp, "[origin]\nurl = http://127.0.0.1:3000/\nservice_key_file = %s\n%s",
	    f->key, extra);
	fclose(fp);
}

static enum pc_result
load(struct fixture *f, const char *extra, struct config *cfg, char *err)
{
	write_conf(f, extra);
	err[0] = '\0';
	return config_load(f->conf, cfg, err);
}

static void
test_defaults_and_values(void **state)
{
	struct fixture *f = *state;
	char err[PC_ERRLEN];
	struct config cfg;

	assert_int_equal(load(f, "[cache]\nservers = a:1,b:2\nfresh_ttl = 5\n"
	    "[log]\nlevel = debug\n", &cfg, err), PC_OK);
	assert_string_equal(cfg.origin_url, "http://127.0.0.1:3000");
	assert_string_equal(cfg.service_key, "s3cr3t-service-key");
	assert_string_equal(cfg.cache_servers, "a:1,b:2");
	assert_string_equal(cfg.cache_prefix, "pc1:");
	assert_int_equal(cfg.cache_fresh_ttl, 5);
	assert_int_equal(cfg.cache_stale_ttl, 60);
	assert_int_equal(cfg.cache_negative_ttl, 30);
	assert_int_equal(cfg.log_level, 3);
	assert_int_equal(cfg.auth_max_token_lifetime, 86400);
	assert_int_equal(cfg.limits_max_pending_bytes, 1024 * 1024);
	config_free(&cfg);
	assert_null(cfg.origin_url);
}

static void
expect_error(struct fixture *f, const char *extra, const char *needle)
{
	char err[PC_ERRLEN];
	struct config cfg;

	assert_int_not_equal(load(f, extra, &cfg, err), PC_OK);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" does not name \"%s\"", err, needle);
	/* Nothing is left allocated on failure. */
	assert_null(cfg.origin_url);
	assert_null(cfg.service_key);
}

static void
test_errors_name_the_key(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "[cache]\nfresh_tll = 5\n", "unknown key [cache] fresh_tll");
	expect_error(f, "[cache]\nfresh_ttl = 5s\n", "[cache] fresh_ttl");
	expect_error(f, "[cache]\nfresh_ttl = 0\n", "[cache] fresh_ttl");
	expect_error(f, "[cache]\nfresh_ttl = 99999999999999999999\n", "fresh_ttl");
	expect_error(f, "[cache]\nlock_wait_ms = -1\n", "lock_wait_ms");
	expect_error(f, "[log]\nlevel = loud\n", "[log] level");
	expect_error(f, "[auth]\nmax_token_lifetime = 0\n", "[auth] max_token_lifetime");
	expect_error(f, "[limits]\nmax_pending_bytes = 65535\n",
	    "[limits] max_pending_bytes must be 0 or at least max_body");
	expect_error(f, "[cache]\nprefix = a b\n", "[cache] prefix");
	expect_error(f, "[cache]\nservers = 1\nservers = 2\n", "set twice");
	expect_error(f, "[journal]\npath =\n", "[journal] path is empty");
	expect_error(f, "this is not ini\n", "syntax error");
}

static void
test_required_and_url(void **state)
{
	struct fixture *f = *state;
	char err[PC_ERRLEN];
	struct config cfg;
	FILE *fp;

	fp = fopen(f->conf, "w");
	fputs("[cache]\nservers = a:1\n", fp);
	fclose(fp);
	assert_int_equal(config_load(f->conf, &cfg, err), PC_INVALID);
	assert_non_null(strstr(err, "[origin] url is required"));

	fp = fopen(f->conf, "w");
	fprintf(fp, "[origin]\nurl = ftp://x\nservice_key_file = %s\n", f->key);
	fclose(fp);
	assert_int_equal(config_load(f->conf, &cfg, err), PC_INVALID);
	assert_non_null(strstr(err, "http://"));

	assert_int_equal(config_load("/nonexistent/pc.conf", &cfg, err), PC_INVALID);
	assert_non_null(strstr(err, "cannot open"));
}

static void
test_secret_files(void **state)
{
	struct fixture *f = *state;
	char err[PC_ERRLEN], *s;
	FILE *fp;

	chmod(f->key, 0644);
	expect_error(f, "", "world-readable");
	chmod(f->key, 0640);
	assert_int_equal(config_read_secret(f->key, &s, err), PC_OK);
	free(s);

	fp = fopen(f->key, "w");
	fputs("\n\n", fp);
	fclose(fp);
	expect_error(f, "", "empty");

	fp = fopen(f->key, "w");
	fputs("two\nlines\n", fp);
	fclose(fp);
	expect_error(f, "", "one line");

	assert_int_equal(config_read_secret(f->dir, &s, err), PC_INVALID);
	assert_null(s);
	/* The secret never appears in an error message. */
	assert_null(strstr(err, "s3cr3t"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults_and_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_name_the_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_required_and_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_files, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
