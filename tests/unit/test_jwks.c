/*
 * Unit tests for the jwks_url key store: answer lifetimes, and the cache file
 * the node's processes share. Fetches go to a port where nothing listens
 * (tests/e2e/t_jwks.sh fetches for real).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "jwks.h"
#include "jwt.h"
#include "log.h"

#define URL "http://127.0.0.1:1/jwks.json"
/* RFC 7515 A.3's P-256 public key, under two kids. */
#define JWK(kid) \
	"{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"" kid "\"," \
	"\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\"," \
	"\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"

struct fixture {
	char dir[64];
	char journal[96];
	char cache[112];
	char lock[112];
	char secret[96];
	struct config cfg;
};

static void
test_lifetime(void **state)
{
	(void)state;
	assert_int_equal(jwks_lifetime(NULL, NULL, 600), 600);
	assert_int_equal(jwks_lifetime("", NULL, 600), 600);
	assert_int_equal(jwks_lifetime("public, max-age=300", NULL, 600), 300);
	assert_int_equal(jwks_lifetime("max-age=3000", NULL, 600), 600);
	assert_int_equal(jwks_lifetime("MAX-AGE=60", NULL, 600), 60);
	assert_int_equal(jwks_lifetime("max-age=\"60\"", NULL, 600), 60);
	assert_int_equal(jwks_lifetime("  max-age=60 ,private", NULL, 600), 60);
	assert_int_equal(jwks_lifetime("max-age=0", NULL, 600), 0);
	/* Several: the shortest. */
	assert_int_equal(jwks_lifetime("max-age=60, max-age=30", NULL, 600),
	    30);
	/* Age, from a cache on the way, is taken off. */
	assert_int_equal(jwks_lifetime("max-age=300", "100", 600), 200);
	assert_int_equal(jwks_lifetime("max-age=300", "300", 600), 0);
	assert_int_equal(jwks_lifetime("max-age=300", "99999999999999999999",
	                     600),
	    0);
	assert_int_equal(jwks_lifetime("max-age=300", "soon", 600), 300);
	assert_int_equal(jwks_lifetime(NULL, "100", 600), 600);
	/* Not to be kept. */
	assert_int_equal(jwks_lifetime("no-store", NULL, 600), 0);
	assert_int_equal(jwks_lifetime("max-age=60, No-Cache", NULL, 600), 0);
	assert_int_equal(jwks_lifetime("no-cache=\"Set-Cookie\", max-age=60",
	                     NULL, 600),
	    60);
	/* Malformed max-ages are no max-age. */
	assert_int_equal(jwks_lifetime("max-age=-1", NULL, 600), 600);
	assert_int_equal(jwks_lifetime("max-age=", NULL, 600), 600);
	assert_int_equal(jwks_lifetime("max-age=1e3", NULL, 600), 600);
	assert_int_equal(jwks_lifetime("max-age = 60", NULL, 600), 600);
	assert_int_equal(jwks_lifetime("s-maxage=10", NULL, 600), 600);
	assert_int_equal(jwks_lifetime("max-age=99999999999999999999", NULL,
	                     600),
	    600);
	assert_int_equal(jwks_lifetime("max-age=99999999999999999999", NULL,
	                     86400),
	    86400);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/pc-test-jwks-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->journal, sizeof(f->journal), "%s/journal.db", f->dir);
	snprintf(f->cache, sizeof(f->cache), "%s-jwks.json", f->journal);
	snprintf(f->lock, sizeof(f->lock), "%s-jwks.lock", f->journal);
	snprintf(f->secret, sizeof(f->secret), "%s/jwt.secret", f->dir);
	f->cfg.journal_path = f->journal;
	f->cfg.auth_jwks_url = URL;
	f->cfg.auth_jwks_max_age = 600;
	f->cfg.auth_jwks_refetch_interval = 30;
	f->cfg.origin_connect_timeout_ms = 1000;
	f->cfg.origin_timeout_ms = 1000;
	log_set_level(LOG_LVL_ERROR);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->cache);
	unlink(f->lock);
	unlink(f->secret);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Replace the cache file as a fetch does: a new file renamed over it. */
static void
write_cache(struct fixture *f, const char *url, long long fetched_at,
    long max_age, const char *keys)
{
	char tmp[128];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.tmp", f->cache);
	assert_non_null(fp = fopen(tmp, "w"));
	fprintf(fp,
	    "{\"keys\":[%s],\"profilecache\":{\"url\":\"%s\","
	    "\"fetched_at\":%lld,\"max_age\":%ld}}",
	    keys, url, fetched_at, max_age);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, f->cache), 0);
}

/* Set the node's last fetch attempt to when (the lock file's mtime). */
static void
attempted_at(struct fixture *f, time_t when)
{
	struct timespec ts[2] = { { when, 0 }, { when, 0 } };

	assert_int_equal(utimensat(AT_FDCWD, f->lock, ts, 0), 0);
}

static void
test_cache_file(void **state)
{
	struct fixture *f = *state;
	struct jwks *j = NULL;
	char err[PC_ERRLEN] = "";
	struct stat st;
	time_t now = time(NULL);

	/* No cache file: the fetch fails, there is no key at all. */
	assert_int_equal(jwks_open(&f->cfg, &j, err), PC_OK);
	assert_false(jwks_has_set(j));
	assert_null(jwks_keys(j));
	assert_false(jwks_has_set(j));
	/* The attempt is the node's: the lock file holds its byte. */
	assert_int_equal(stat(f->lock, &st), 0);
	assert_int_equal(st.st_size, 1);
	/* Within the interval, nothing is asked again. */
	assert_false(jwks_refetch(j));

	/* Another process fetched: the file is read again when it changed. */
	write_cache(f, URL, now, 600, JWK("a"));
	assert_int_equal(jwt_keys_count(jwks_keys(j)), 1);
	assert_true(jwks_has_set(j));
	write_cache(f, URL, now, 600, JWK("a") "," JWK("b"));
	assert_int_equal(jwt_keys_count(jwks_keys(j)), 2);
	/* One from another URL, or malformed, is passed over. */
	write_cache(f, "https://other.example/jwks.json", now, 600, JWK("c"));
	assert_int_equal(jwt_keys_count(jwks_keys(j)), 2);
	write_cache(f, URL, now, 600, "{\"kty\":\"EC\"}");
	assert_int_equal(jwt_keys_count(jwks_keys(j)), 2);
	/* An unknown kid when the interval has passed: fetched, failed, kept. */
	attempted_at(f, now - 100);
	assert_false(jwks_refetch(j));
	assert_int_equal(jwt_keys_count(jwks_keys(j)), 2);
	assert_int_equal(stat(f->lock, &st), 0);
	assert_true(st.st_mtime >= now);
	jwks_close(j);

	/* A new process takes a set from this URL however old, not another. */
	write_cache(f, "https://other.example/jwks.json", now, 600, JWK("c"));
	assert_int_equal(jwks_open(&f->cfg, &j, err), PC_OK);
	assert_false(jwks_has_set(j));
	jwks_close(j);
	write_cache(f, URL, now - 7200, 600, JWK("a"));
	assert_int_equal(jwks_open(&f->cfg, &j, err), PC_OK);
	assert_true(jwks_has_set(j));
	/* Expired, but the node tried a moment ago: used as it is. */
	attempted_at(f, now);
	assert_int_equal(jwt_keys_count(jwks_keys(j)), 1);
	/* Expired and due: the fetch fails, the last good set stays. */
	attempted_at(f, now - 100);
	assert_int_equal(jwt_keys_count(jwks_keys(j)), 1);
	assert_true(jwks_has_set(j));
	assert_int_equal(stat(f->lock, &st), 0);
	assert_true(st.st_mtime >= now);
	jwks_close(j);
	jwks_close(NULL);
}

static void
test_secret(void **state)
{
	struct fixture *f = *state;
	struct jwks *j = NULL;
	char err[PC_ERRLEN] = "";
	FILE *fp;

	assert_non_null(fp = fopen(f->secret, "w"));
	fputs("test-hs256-secret-0123456789abcdefghijklmnop\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(f->secret, 0600), 0);
	f->cfg.auth_jwt_secret_file = f->secret;
	/* Without any set, the secret still verifies HS256 tokens. */
	assert_int_equal(jwks_open(&f->cfg, &j, err), PC_OK);
	assert_non_null(jwks_keys(j));
	assert_false(jwks_has_set(j));
	assert_int_equal(jwt_keys_count(jwks_keys(j)), 0);
	jwks_close(j);
	/* A world-readable secret stops the start, as without a URL. */
	assert_int_equal(chmod(f->secret, 0644), 0);
	assert_int_equal(jwks_open(&f->cfg, &j, err), PC_INVALID);
	assert_null(j);
	assert_non_null(strstr(err, "world-readable"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifetime),
		cmocka_unit_test_setup_teardown(test_cache_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_secret, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
