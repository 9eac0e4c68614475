/*
 * The cache's locks against a real memcached, started by the test on a free
 * loopback port (skipped when memcached is not installed): a lock is held
 * by one process at a time, and a holder frees only its own lock, never the
 * one another process took after its own had expired.
 */
#include <arpa/inet.h>
#include <libmemcached/memcached.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cache.h"
#include "config.h"

#define NS "profile"
#define ID "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01"

static pid_t server;
static char servers[64];
static struct config cfg;
static struct cache *cache;
static memcached_st *raw; /* a client of its own, to look and to meddle */

/* A port nothing listens on now. */
static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd, port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int
setup(void **state)
{
	struct timespec step = { 0, 20 * 1000 * 1000 };
	char port[16], err[PC_ERRLEN];
	int p, i;

	(void)state;
	if ((p = free_port()) < 0)
		return -1;
	(void)snprintf(port, sizeof(port), "%d", p);
	(void)snprintf(servers, sizeof(servers), "127.0.0.1:%d", p);
	if ((server = fork()) == 0) {
		execlp("memcached", "memcached", "-l", "127.0.0.1", "-p", port,
		    "-U", "0", "-u", "nobody", (char *)NULL);
		_exit(127);
	}
	if (server < 0)
		return -1;
	raw = memcached_create(NULL);
	(void)memcached_server_add(raw, "127.0.0.1", (in_port_t)p);
	for (i = 0; i < 250; i++) {
		if (memcached_set(raw, "probe", 5, "1", 1, 0, 0) ==
		    MEMCACHED_SUCCESS)
			break;
		nanosleep(&step, NULL);
	}
	if (i == 250)
		return -1;
	cfg.cache_servers = servers;
	cfg.cache_prefix = (char *)"t:";
	cfg.cache_timeout_ms = 1000;
	return cache_open(&cfg, &cache, err) == PC_OK ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	cache_close(cache);
	memcached_free(raw);
	if (server > 0) {
		(void)kill(server, SIGTERM);
		(void)waitpid(server, NULL, 0);
	}
	return 0;
}

/* The lock's value in memcached now, or "" when there is none. */
static const char *
lock_value(void)
{
	static char v[64];
	memcached_return_t rc;
	uint32_t flags;
	size_t len;
	char *s;

	v[0] = '\0';
	s = memcached_get(raw, "t:lock:" NS ":" ID, strlen("t:lock:" NS ":" ID),
	    &len, &flags, &rc);
	if (s != NULL) {
		(void)snprintf(v, sizeof(v), "%.*s", (int)len, s);
		free(s);
	}
	return v;
}

static void
test_one_holder(void **state)
{
	(void)state;
	assert_int_equal(cache_lock(cache, NS, ID, 30), PC_OK);
	assert_string_not_equal(lock_value(), "");
	assert_int_equal(cache_lock(cache, NS, ID, 30), PC_CONFLICT);
	cache_unlock(cache, NS, ID);
	assert_string_equal(lock_value(), "");
	assert_int_equal(cache_lock(cache, NS, ID, 30), PC_OK);
	cache_unlock(cache, NS, ID);
}

/*
 * Our lock expired while we worked and another process took it: our unlock
 * must leave theirs, or a third could take it while they still hold it.
 */
static void
test_unlock_leaves_another_holders_lock(void **state)
{
	const char *key = "t:lock:" NS ":" ID;

	(void)state;
	assert_int_equal(cache_lock(cache, NS, ID, 30), PC_OK);
	assert_int_equal(memcached_delete(raw, key, strlen(key), 0),
	    MEMCACHED_SUCCESS);
	assert_int_equal(memcached_add(raw, key, strlen(key), "4242-another",
	                     12, 30, 0),
	    MEMCACHED_SUCCESS);
	cache_unlock(cache, NS, ID);
	assert_string_equal(lock_value(), "4242-another");
	assert_int_equal(cache_lock(cache, NS, ID, 30), PC_CONFLICT);
	assert_int_equal(memcached_delete(raw, key, strlen(key), 0),
	    MEMCACHED_SUCCESS);
}

/* Another process (a fork: the same client, another pid) frees only its own. */
static void
test_another_process_cannot_free_ours(void **state)
{
	pid_t child;
	int status;

	(void)state;
	assert_int_equal(cache_lock(cache, NS, ID, 30), PC_OK);
	if ((child = fork()) == 0) {
		cache_unlock(cache, NS, ID);
		_exit(cache_lock(cache, NS, ID, 30) == PC_CONFLICT ? 0 : 1);
	}
	assert_true(child > 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_not_equal(lock_value(), "");
	cache_unlock(cache, NS, ID);
	assert_string_equal(lock_value(), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_holder),
		cmocka_unit_test(test_unlock_leaves_another_holders_lock),
		cmocka_unit_test(test_another_process_cannot_free_ours),
	};

	if (system("command -v memcached >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP memcached is not installed\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
