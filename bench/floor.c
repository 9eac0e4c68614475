/*
 * floor: the least a cache-first FastCGI responder can do per request, as a
 * reference for bench/run. Each request is answered with one memcached get
 * of a fixed key: no routing, no parsing, no validation, no headers beyond
 * what HTTP needs. Whatever profilecache does above this is its own cost.
 *
 *   floor SERVERS KEY SKIP
 *
 * SERVERS is a libmemcached server list ("127.0.0.1:11211"), KEY the key to
 * get and SKIP how many bytes of the value to leave out in front (the cache
 * entry's header); the versions trailer the header's bytes 5-7 give the
 * length of is left out at the end, so that the body is byte for byte the
 * one the responder sends. The web server spawns it with the listening socket as fd 0, as it
 * does the responder; the memcached behaviours and the way a connection is
 * closed are the responder's.
 */
#include <fcgiapp.h>
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char *argv[])
{
	memcached_server_list_st servers;
	memcached_return_t rc;
	memcached_st *mc;
	FCGX_Request req;
	const char *key;
	size_t klen, skip, vlen, tail;
	uint32_t flags;
	char head[256], *v;
	int n;

	if (argc != 4) {
		fprintf(stderr, "usage: floor SERVERS KEY SKIP\n");
		return 64;
	}
	key = argv[2];
	klen = strlen(key);
	skip = strtoul(argv[3], NULL, 10);
	if ((mc = memcached_create(NULL)) == NULL ||
	    (servers = memcached_servers_parse(argv[1])) == NULL ||
	    memcached_server_push(mc, servers) != MEMCACHED_SUCCESS) {
		fprintf(stderr, "floor: cannot use memcached at %s\n", argv[1]);
		return 78;
	}
	memcached_server_list_free(servers);
	(void)memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_DISTRIBUTION,
	    MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA);
	(void)memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
	(void)memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 71;
	/* libfcgi's own printf knows no %zu: format with snprintf. */
	while (FCGX_Accept_r(&req) >= 0) {
		v = memcached_get(mc, key, klen, &vlen, &flags, &rc);
		tail = v != NULL && vlen >= 8 ?
		    (size_t)(unsigned char)v[5] |
		        (size_t)(unsigned char)v[6] << 8 |
		        (size_t)(unsigned char)v[7] << 16 :
		    0;
		if (v != NULL && vlen >= skip + tail) {
			n = snprintf(head, sizeof(head),
			    "Status: 200 OK\r\n"
			    "Content-Type: application/json; charset=utf-8\r\n"
			    "Content-Length: %zu\r\n\r\n",
			    vlen - skip - tail);
			FCGX_PutStr(head, n, req.out);
			FCGX_PutStr(v + skip, (int)(vlen - skip - tail),
			    req.out);
		} else {
			n = snprintf(head, sizeof(head),
			    "Status: 502 Bad Gateway\r\n"
			    "Content-Type: text/plain\r\n\r\nmemcached: %s\n",
			    memcached_strerror(mc, rc));
			FCGX_PutStr(head, n, req.out);
		}
		free(v);
		/* Close as the responder does: at once, the input being read. */
		while (FCGX_GetStr(head, sizeof(head), req.in) > 0)
			;
		if (FCGX_HasSeenEOF(req.in) == EOF)
			(void)FCGX_Detach(&req);
		FCGX_Finish_r(&req);
	}
	memcached_free(mc);
	return 0;
}
