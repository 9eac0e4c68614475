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

/* Write a config with origin url and the fixture's key, plus extra. */
static void
write_conf_url(struct fixture *f, const char *url, const char *extra)
{
	FILE *fp = fopen(f->conf, "w");

	assert_non_null(fp);
	fprintf(fp, "[origin]\nurl = %s\nservice_key_file = %s\n%s", url,
	    f->key, extra);
	fclose(fp);
}

/* Write a config whose [origin] section names the fixture's key, plus extra. */
static void
write_conf(struct fixture *f, const char *extra)
{
	write_conf_url(f, "http://127.0.0.1:3000/", extra);
}

/* Replace the contents of a secret file (mode 0600). */
static void
write_secret(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(path, 0600);
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

	assert_int_equal(load(f,
	                     "[cache]\nservers = a:1,b:2\nfresh_ttl = 5\n"
	                     "[log]\nlevel = debug\n",
	                     &cfg, err),
	    PC_OK);
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

	expect_error(f, "[cache]\nfresh_tll = 5\n",
	    "unknown key [cache] fresh_tll");
	expect_error(f, "[cache]\nfresh_ttl = 5s\n", "[cache] fresh_ttl");
	expect_error(f, "[cache]\nfresh_ttl = 0\n", "[cache] fresh_ttl");
	expect_error(f, "[cache]\nfresh_ttl = 99999999999999999999\n",
	    "fresh_ttl");
	expect_error(f, "[cache]\nlock_wait_ms = -1\n", "lock_wait_ms");
	expect_error(f, "[log]\nlevel = loud\n", "[log] level");
	expect_error(f, "[auth]\nmax_token_lifetime = 0\n",
	    "[auth] max_token_lifetime");
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

	assert_int_equal(config_load("/nonexistent/pc.conf", &cfg, err),
	    PC_INVALID);
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

/* http:// only to this machine: the key would travel in the clear. */
static void
test_plain_http_loopback_only(void **state)
{
	static const char *const ok[] = {
		"http://127.0.0.1:3000",
		"http://127.9.8.7/rest/v1",
		"http://localhost:3000/",
		"http://LocalHost",
		"http://[::1]:3000/x",
		"http://u:p@127.0.0.1:3000",
		"https://db.example.com/rest/v1",
		"https://10.0.0.5:3000",
	};
	static const char *const refused[] = {
		"http://10.0.0.5:3000",
		"http://db.example.com/rest/v1",
		"http://abc.supabase.co/rest/v1",
		"http://127.0.0.1.example.com/",
		"http://128.0.0.1",
		"http://127.0.0.1@evil.example/",
		"http://127.0.0.1:80@evil.example/",
		"http://[::2]:3000",
		"http://[::ffff:127.0.0.1]/",
		"http://[::1",
		"http://127.1/",
		"http://localhost.example.com",
		"http://:3000",
	};
	struct fixture *f = *state;
	char err[PC_ERRLEN];
	struct config cfg;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		write_conf_url(f, ok[i], "");
		if (config_load(f->conf, &cfg, err) != PC_OK)
			fail_msg("%s refused: %s", ok[i], err);
		config_free(&cfg);
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		write_conf_url(f, refused[i], "");
		if (config_load(f->conf, &cfg, err) != PC_INVALID ||
		    strstr(err, "[origin] url") == NULL ||
		    strstr(err, "loopback") == NULL)
			fail_msg("%s: \"%s\"", refused[i], err);
		assert_null(cfg.origin_url);
	}
	write_conf_url(f, "http://", "");
	assert_int_equal(config_load(f->conf, &cfg, err), PC_INVALID);
	assert_non_null(strstr(err, "[origin] url has no host"));
	write_conf_url(f, "https:///rest/v1", "");
	assert_int_equal(config_load(f->conf, &cfg, err), PC_INVALID);
	assert_non_null(strstr(err, "[origin] url has no host"));
}

/* iss defaults to the project's auth URL for a Supabase REST URL only. */
static void
test_issuer_default(void **state)
{
	struct fixture *f = *state;
	char err[PC_ERRLEN];
	struct config cfg;

	write_conf_url(f, "https://abcdefghijklmnopqrst.supabase.co/rest/v1/",
	    "");
	assert_int_equal(config_load(f->conf, &cfg, err), PC_OK);
	assert_string_equal(cfg.auth_issuer,
	    "https://abcdefghijklmnopqrst.supabase.co/auth/v1");
	config_free(&cfg);

	write_conf_url(f, "https://abcdefghijklmnopqrst.supabase.co/rest/v1",
	    "[auth]\nissuer = https://auth.example.com\n");
	assert_int_equal(config_load(f->conf, &cfg, err), PC_OK);
	assert_string_equal(cfg.auth_issuer, "https://auth.example.com");
	config_free(&cfg);

	write_conf_url(f, "https://db.example.com/rest/v1", "");
	assert_int_equal(config_load(f->conf, &cfg, err), PC_OK);
	assert_null(cfg.auth_issuer);
	config_free(&cfg);

	/* Only a bare project ref, and only Supabase's domain. */
	write_conf_url(f, "https://evil.example/x.supabase.co/rest/v1", "");
	assert_int_equal(config_load(f->conf, &cfg, err), PC_OK);
	assert_null(cfg.auth_issuer);
	config_free(&cfg);
	write_conf_url(f, "https://a.b.supabase.co/rest/v1", "");
	assert_int_equal(config_load(f->conf, &cfg, err), PC_OK);
	assert_null(cfg.auth_issuer);
	config_free(&cfg);
	write_conf_url(f, "https://abc.supabase.co/rest/v2", "");
	assert_int_equal(config_load(f->conf, &cfg, err), PC_OK);
	assert_null(cfg.auth_issuer);
	config_free(&cfg);
}

static void
test_avatar_backend(void **state)
{
	struct fixture *f = *state;
	char err[PC_ERRLEN];
	struct config cfg;

	/* The default: local, avatars off until dir and public_url are set. */
	write_conf_url(f, "https://abcdefghijklmnopqrst.supabase.co/rest/v1",
	    "");
	assert_int_equal(config_load(f->conf, &cfg, err), PC_OK);
	assert_string_equal(cfg.avatar_backend, "local");
	assert_null(cfg.avatar_public_url);
	config_free(&cfg);

	/* supabase: Storage beside the origin, the bucket's public URL. */
	write_conf_url(f, "https://abcdefghijklmnopqrst.supabase.co/rest/v1/",
	    "[avatar]\nbackend = supabase\n");
	assert_int_equal(config_load(f->conf, &cfg, err), PC_OK);
	assert_string_equal(cfg.avatar_storage_url,
	    "https://abcdefghijklmnopqrst.supabase.co/storage/v1");
	assert_string_equal(cfg.avatar_bucket, "avatars");
	assert_string_equal(cfg.avatar_public_url,
	    "https://abcdefghijklmnopqrst.supabase.co/storage/v1/object/public/avatars");
	config_free(&cfg);

	write_conf_url(f, "https://abcdefghijklmnopqrst.supabase.co/rest/v1",
	    "[avatar]\nbackend = supabase\nbucket = pics\n"
	    "public_url = https://cdn.example.com/pics/\n");
	assert_int_equal(config_load(f->conf, &cfg, err), PC_OK);
	assert_string_equal(cfg.avatar_public_url,
	    "https://cdn.example.com/pics");
	config_free(&cfg);

	/* Another origin needs storage_url; plain http only to loopback. */
	expect_error(f, "[avatar]\nbackend = supabase\n",
	    "storage_url is required");
	expect_error(f,
	    "[avatar]\nbackend = supabase\n"
	    "storage_url = http://storage.example.com/storage/v1\n",
	    "loopback");
	expect_error(f,
	    "[avatar]\nbackend = supabase\n"
	    "storage_url = http://127.0.0.1:1/storage/v1\nbucket = a/b\n",
	    "bucket");
	expect_error(f, "[avatar]\nbackend = s3\n", "backend");
	assert_int_equal(load(f,
	                     "[avatar]\nbackend = supabase\n"
	                     "storage_url = http://127.0.0.1:1/storage/v1/\n",
	                     &cfg, err),
	    PC_OK);
	assert_string_equal(cfg.avatar_public_url,
	    "http://127.0.0.1:1/storage/v1/object/public/avatars");
	config_free(&cfg);
}

static void
test_auth_switches(void **state)
{
	struct fixture *f = *state;
	char err[PC_ERRLEN];
	struct config cfg;

	assert_int_equal(load(f, "", &cfg, err), PC_OK);
	assert_false(cfg.auth_allow_anonymous);
	assert_false(cfg.auth_accept_legacy_service_role);
	config_free(&cfg);
	assert_int_equal(load(f,
	                     "[auth]\nallow_anonymous = true\n"
	                     "accept_legacy_service_role = yes\n",
	                     &cfg, err),
	    PC_OK);
	assert_true(cfg.auth_allow_anonymous);
	assert_true(cfg.auth_accept_legacy_service_role);
	config_free(&cfg);
	assert_int_equal(load(f,
	                     "[auth]\nallow_anonymous = Off\n"
	                     "accept_legacy_service_role = 0\n",
	                     &cfg, err),
	    PC_OK);
	assert_false(cfg.auth_allow_anonymous);
	assert_false(cfg.auth_accept_legacy_service_role);
	config_free(&cfg);
	expect_error(f, "[auth]\nallow_anonymous = maybe\n",
	    "[auth] allow_anonymous must be true or false");
	expect_error(f, "[auth]\naccept_legacy_service_role =\n",
	    "[auth] accept_legacy_service_role");
}

/* [auth] jwks_url: https, or http:// to this machine; not with jwks_file. */
static void
test_jwks_url(void **state)
{
	struct fixture *f = *state;
	char err[PC_ERRLEN];
	struct config cfg;

	assert_int_equal(load(f, "", &cfg, err), PC_OK);
	assert_null(cfg.auth_jwks_url);
	assert_int_equal(cfg.auth_jwks_max_age, 600);
	assert_int_equal(cfg.auth_jwks_refetch_interval, 30);
	config_free(&cfg);
	assert_int_equal(
	    load(f,
	        "[auth]\njwks_url = https://abc.supabase.co/"
	        "auth/v1/.well-known/jwks.json\njwks_max_age = 60\n"
	        "jwks_refetch_interval = 5\n",
	        &cfg, err),
	    PC_OK);
	assert_string_equal(cfg.auth_jwks_url,
	    "https://abc.supabase.co/auth/v1/.well-known/jwks.json");
	assert_int_equal(cfg.auth_jwks_max_age, 60);
	assert_int_equal(cfg.auth_jwks_refetch_interval, 5);
	config_free(&cfg);
	assert_int_equal(load(f, "[auth]\njwks_url = http://127.0.0.1:9/j\n",
	                     &cfg, err),
	    PC_OK);
	config_free(&cfg);

	expect_error(f,
	    "[auth]\njwks_url = http://abc.supabase.co/auth/v1/"
	    ".well-known/jwks.json\n",
	    "[auth] jwks_url: http:// is allowed "
	    "only to a loopback address");
	expect_error(f, "[auth]\njwks_url = http://127.0.0.1@evil.example/\n",
	    "forged key set");
	expect_error(f, "[auth]\njwks_url = file:///etc/jwks.json\n",
	    "[auth] jwks_url must start with http:// or https://");
	expect_error(f, "[auth]\njwks_url = https://\n",
	    "[auth] jwks_url has no host");
	expect_error(f, "[auth]\njwks_url = https://x/j\njwks_file = /j\n",
	    "jwks_url and jwks_file exclude each other");
	expect_error(f, "[auth]\njwks_max_age = 0\n", "[auth] jwks_max_age");
	expect_error(f, "[auth]\njwks_max_age = 86401\n",
	    "[auth] jwks_max_age");
	expect_error(f, "[auth]\njwks_refetch_interval = 0\n",
	    "[auth] jwks_refetch_interval must be a whole number from 1 to "
	    "3600");
}

/* The admin credential: a secret key from its own file or the service key. */
static void
test_secret_key(void **state)
{
	struct fixture *f = *state;
	char err[PC_ERRLEN], extra[256], other[128];
	struct config cfg;

	/* A service key that is no secret key gives no admin credential. */
	assert_int_equal(load(f, "", &cfg, err), PC_OK);
	assert_null(cfg.auth_secret_key);
	config_free(&cfg);

	write_secret(f->key, "sb_secret_service0123456789\n");
	assert_int_equal(load(f, "", &cfg, err), PC_OK);
	assert_string_equal(cfg.auth_secret_key, "sb_secret_service0123456789");
	config_free(&cfg);

	snprintf(other, sizeof(other), "%s/secret.key", f->dir);
	snprintf(extra, sizeof(extra), "[auth]\nsecret_key_file = %s\n", other);
	write_secret(other, "sb_secret_admin0123456789\n");
	assert_int_equal(load(f, extra, &cfg, err), PC_OK);
	assert_string_equal(cfg.auth_secret_key, "sb_secret_admin0123456789");
	config_free(&cfg);

	/* That file must hold a secret key, and the rules of secrets apply. */
	write_secret(other, "sb_publishable_admin0123456789\n");
	expect_error(f, extra, "[auth] secret_key_file must hold a secret key");
	assert_null(strstr(err, "admin0123456789"));
	write_secret(other, "sb_secret_admin0123456789\n");
	chmod(other, 0644);
	expect_error(f, extra, "world-readable");
	unlink(other);
	expect_error(f, extra, "cannot open");
}

/* [http] cors_origins: off by default, checked entry by entry at load. */
static void
test_cors_origins(void **state)
{
	struct fixture *f = *state;
	char err[PC_ERRLEN];
	struct config cfg;

	assert_int_equal(load(f, "", &cfg, err), PC_OK);
	assert_null(cfg.http_cors_origins);
	assert_int_equal(cfg.http_cors_max_age, 600);
	config_free(&cfg);
	assert_int_equal(
	    load(f,
	        "[http]\ncors_origins = https://app.example.com, *\n"
	        "cors_max_age = 7200\n",
	        &cfg, err),
	    PC_OK);
	assert_string_equal(cfg.http_cors_origins,
	    "https://app.example.com, *");
	assert_int_equal(cfg.http_cors_max_age, 7200);
	config_free(&cfg);
	expect_error(f, "[http]\ncors_origins = https://app.example.com/\n",
	    "[http] cors_origins: \"https://app.example.com/\" is not an origin");
	expect_error(f, "[http]\ncors_origins = https://a.test, null\n",
	    "[http] cors_origins: \"null\" cannot be allowed");
	expect_error(f, "[http]\ncors_origins = https://a.test:443\n",
	    "default port");
	expect_error(f, "[http]\ncors_origins =\n",
	    "[http] cors_origins is empty");
	expect_error(f, "[http]\ncors_max_age = 86401\n",
	    "[http] cors_max_age must be a whole number from 0 to 86400");
}

#define DECL(name) \
	"[resource " name "]\n[field " name ".id]\ntype = uuid\n" \
	"policy = readonly\n[field " name ".updated_at]\ntype = timestamp\n" \
	"policy = server\n"

static void
test_resources(void **state)
{
	struct fixture *f = *state;
	char err[PC_ERRLEN];
	struct config cfg;

	assert_int_equal(
	    load(f,
	        "[cache]\nfresh_ttl = 5\n" DECL(
	            "challenges") "[field challenges.title]\ntype = text\n" DECL("playlists"),
	        &cfg, err),
	    PC_OK);
	assert_int_equal(cfg.resources.n, 2);
	assert_string_equal(cfg.resources.v[0].select,
	    "id,updated_at,title,field_versions");
	assert_string_equal(cfg.resources.v[1].item, "playlists");
	config_free(&cfg);
	assert_int_equal(cfg.resources.n, 0);
	expect_error(f, DECL("profiles"),
	    "[resource profiles]: profiles is "
	    "profilecache's own name");
	expect_error(f, DECL("metrics"), "metrics is profilecache's own name");
	expect_error(f, DECL("things") "[resource things]\nitem = profile\n",
	    "profile is profilecache's own name");
	expect_error(f, "[resource things]\nitem = thing\n",
	    "[resource things] "
	    "declares no field");
	expect_error(f,
	    DECL("things") "[field things.n]\ntype = integer\nmin = x\n",
	    "[field things.n] min must be a number");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults_and_values, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_errors_name_the_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_required_and_url, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_secret_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_plain_http_loopback_only,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_issuer_default, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_avatar_backend, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_switches, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_secret_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_jwks_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cors_origins, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_resources, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
