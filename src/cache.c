/* The cache store: memcached entries of header + exact response body, and locks. */
#include "autoconf.h"

#include <sys/random.h>

#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "clock.h"
#include "config.h"
#include "log.h"

#define CACHE_KEY_MAX 250 /* memcached's limit */

struct cache {
	memcached_st *mc;
	char prefix[72];
	char token[40];  /* what this process's locks hold */
	pid_t token_pid; /* the process the token was made for */
};

/* Map libmemcached's return codes onto the project's vocabulary. */
static enum pc_result
cache_map(memcached_return_t rc)
{
	switch (rc) {
	case MEMCACHED_SUCCESS:
	case MEMCACHED_STORED:
	case MEMCACHED_DELETED:
	case MEMCACHED_END:
		return PC_OK;
	case MEMCACHED_NOTFOUND:
		return PC_NOTFOUND;
	case MEMCACHED_NOTSTORED:
	case MEMCACHED_DATA_EXISTS:
		return PC_CONFLICT;
	case MEMCACHED_E2BIG:
		return PC_TOOBIG;
	default:
		return PC_UNAVAILABLE;
	}
}

static enum pc_result
cache_result(struct cache *c, memcached_return_t rc, const char *op)
{
	enum pc_result r = cache_map(rc);

	if (r == PC_UNAVAILABLE || r == PC_TOOBIG)
		log_warn("cache_error", "op=%s error=\"%s\"", op,
		    memcached_strerror(c->mc, rc));
	return r;
}

static size_t
cache_key(const struct cache *c, const char *kind, const char *ns,
    const char *id, char key[CACHE_KEY_MAX + 1])
{
	int n = snprintf(key, CACHE_KEY_MAX + 1, "%s%s%s:%s", c->prefix, kind,
	    ns, id);

	return n > 0 && n <= CACHE_KEY_MAX ? (size_t)n : 0;
}

enum pc_result
cache_open(const struct config *cfg, struct cache **out, char *err)
{
	memcached_server_list_st servers = NULL;
	enum pc_result r = PC_INVALID;
	struct cache *c;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return PC_NOMEM;
	(void)snprintf(c->prefix, sizeof(c->prefix), "%s", cfg->cache_prefix);
	if ((c->mc = memcached_create(NULL)) == NULL) {
		r = PC_NOMEM;
		goto out;
	}
	servers = memcached_servers_parse(cfg->cache_servers);
	if (servers == NULL ||
	    memcached_server_push(c->mc, servers) != MEMCACHED_SUCCESS) {
		pc_err(err, "[cache] servers: cannot parse \"%s\"",
		    cfg->cache_servers);
		goto out;
	}
	(void)memcached_behavior_set(c->mc, MEMCACHED_BEHAVIOR_DISTRIBUTION,
	    MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA);
	(void)memcached_behavior_set(c->mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
	(void)memcached_behavior_set(c->mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT,
	    (uint64_t)cfg->cache_timeout_ms);
	(void)memcached_behavior_set(c->mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT,
	    (uint64_t)cfg->cache_timeout_ms);
	/* A dead server is retried after a second, not on every request. */
	(void)memcached_behavior_set(c->mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT,
	    1);
	(void)memcached_behavior_set(c->mc, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
	*out = c;
	c = NULL;
	r = PC_OK;
out:
	if (servers != NULL)
		memcached_server_list_free(servers);
	cache_close(c);
	return r;
}

void
cache_close(struct cache *c)
{
	if (c == NULL)
		return;
	if (c->mc != NULL)
		memcached_free(c->mc);
	free(c);
}

enum pc_result
cache_get(struct cache *c, const char *ns, const char *id,
    struct cache_entry *e)
{
	char key[CACHE_KEY_MAX + 1];
	const char *keys[1];
	memcached_result_st *res;
	memcached_return_t rc;
	size_t klen, vlen;
	uint64_t cas;
	char *v;

	memset(e, 0, sizeof(*e));
	if ((klen = cache_key(c, "", ns, id, key)) == 0)
		return PC_INVALID;
	keys[0] = key;
	/* mget + fetch_result ("gets") so the CAS value comes along. */
	if ((rc = memcached_mget(c->mc, keys, &klen, 1)) != MEMCACHED_SUCCESS)
		return cache_result(c, rc, "get");
	res = memcached_fetch_result(c->mc, NULL, &rc);
	if (res == NULL) {
		if (rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND ||
		    rc == MEMCACHED_SUCCESS)
			return PC_NOTFOUND;
		return cache_result(c, rc, "get");
	}
	vlen = memcached_result_length(res);
	cas = memcached_result_cas(res);
	/* Take the value over rather than copy it. */
	v = memcached_result_take_value(res);
	memcached_result_free(res);
	/* Drain the END so the connection is ready for the next command. */
	while ((res = memcached_fetch_result(c->mc, NULL, &rc)) != NULL)
		memcached_result_free(res);
	if (v == NULL) /* an empty value is not one of ours */
		return PC_NOTFOUND;
	if (cache_entry_decode(v, vlen, e) != PC_OK) {
		log_warn("cache_bad_entry", "key=%s len=%zu", key, vlen);
		free(v);
		return PC_NOTFOUND;
	}
	e->raw = v;
	e->cas = cas;
	return PC_OK;
}

enum pc_result
cache_get_many(struct cache *c, const char *ns, const char *const *ids,
    size_t n, cache_found_fn fn, void *arg)
{
	char(*keys)[CACHE_KEY_MAX + 1] = NULL;
	const char **kp = NULL;
	size_t *klen = NULL, i, kl, vlen;
	memcached_result_st *res;
	memcached_return_t rc;
	enum pc_result r = PC_NOMEM;
	struct cache_entry e;
	const char *k;
	uint64_t cas;
	char *v;

	if (n == 0)
		return PC_OK;
	if ((keys = calloc(n, sizeof(*keys))) == NULL ||
	    (kp = calloc(n, sizeof(*kp))) == NULL ||
	    (klen = calloc(n, sizeof(*klen))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if ((klen[i] = cache_key(c, "", ns, ids[i], keys[i])) == 0) {
			r = PC_INVALID;
			goto out;
		}
		kp[i] = keys[i];
	}
	if ((rc = memcached_mget(c->mc, kp, klen, n)) != MEMCACHED_SUCCESS) {
		r = cache_result(c, rc, "mget");
		goto out;
	}
	while ((res = memcached_fetch_result(c->mc, NULL, &rc)) != NULL) {
		k = memcached_result_key_value(res);
		kl = memcached_result_key_length(res);
		for (i = 0; i < n; i++)
			if (kl == klen[i] && memcmp(k, keys[i], kl) == 0)
				break;
		vlen = memcached_result_length(res);
		cas = memcached_result_cas(res);
		v = memcached_result_take_value(res);
		memcached_result_free(res);
		if (v == NULL || i == n ||
		    cache_entry_decode(v, vlen, &e) != PC_OK) {
			free(v);
			continue;
		}
		e.raw = v;
		e.cas = cas;
		fn(arg, i, &e);
		cache_entry_release(&e);
	}
	r = PC_OK;
out:
	free(keys);
	free(kp);
	free(klen);
	return r;
}

enum store_op { STORE_SET, STORE_ADD, STORE_CAS };

/* Store a built entry: set, add (only if absent) or cas (only if unchanged). */
static enum pc_result
cache_store(struct cache *c, enum store_op op, const char *ns, const char *id,
    const struct cache_entry *e, long expire_s, uint64_t cas)
{
	static const char *const names[] = { "set", "add", "cas" };
	char key[CACHE_KEY_MAX + 1];
	memcached_return_t rc;
	size_t klen, len;

	if (e->raw == NULL || (klen = cache_key(c, "", ns, id, key)) == 0)
		return PC_INVALID;
	len = CACHE_HDR_LEN + e->body_len + e->versions_len;
	switch (op) {
	case STORE_ADD:
		rc = memcached_add(c->mc, key, klen, e->raw, len,
		    (time_t)expire_s, 0);
		break;
	case STORE_CAS:
		rc = memcached_cas(c->mc, key, klen, e->raw, len,
		    (time_t)expire_s, 0, cas);
		break;
	case STORE_SET:
	default:
		rc = memcached_set(c->mc, key, klen, e->raw, len,
		    (time_t)expire_s, 0);
		break;
	}
	return cache_result(c, rc, names[op]);
}

enum pc_result
cache_put(struct cache *c, const char *ns, const char *id,
    const struct cache_entry *e, long expire_s)
{
	return cache_store(c, STORE_SET, ns, id, e, expire_s, 0);
}

enum pc_result
cache_add(struct cache *c, const char *ns, const char *id,
    const struct cache_entry *e, long expire_s)
{
	return cache_store(c, STORE_ADD, ns, id, e, expire_s, 0);
}

enum pc_result
cache_cas(struct cache *c, const char *ns, const char *id,
    const struct cache_entry *e, long expire_s, uint64_t cas)
{
	return cache_store(c, STORE_CAS, ns, id, e, expire_s, cas);
}

enum pc_result
cache_delete(struct cache *c, const char *ns, const char *id)
{
	char key[CACHE_KEY_MAX + 1];
	size_t klen;
	enum pc_result r;

	if ((klen = cache_key(c, "", ns, id, key)) == 0)
		return PC_INVALID;
	r = cache_result(c, memcached_delete(c->mc, key, klen, 0), "delete");
	return r == PC_NOTFOUND ? PC_OK : r;
}

enum pc_result
cache_count(struct cache *c, const char *ns, const char *name, long window_s,
    uint64_t *count)
{
	char key[CACHE_KEY_MAX + 1];
	memcached_return_t rc;
	enum pc_result r;
	size_t klen;
	int tries;

	if ((klen = cache_key(c, "count:", ns, name, key)) == 0)
		return PC_INVALID;
	/* incr, or create the counter at 1; a racing creator makes us incr again. */
	for (tries = 0; tries < 3; tries++) {
		rc = memcached_increment(c->mc, key, klen, 1, count);
		if (rc == MEMCACHED_SUCCESS)
			return PC_OK;
		if (rc != MEMCACHED_NOTFOUND)
			return cache_result(c, rc, "incr");
		r = cache_result(c,
		    memcached_add(c->mc, key, klen, "1", 1, (time_t)window_s,
		        0),
		    "add");
		if (r == PC_OK) {
			*count = 1;
			return PC_OK;
		}
		if (r != PC_CONFLICT)
			return r;
	}
	return PC_UNAVAILABLE;
}

enum pc_result
cache_gen(struct cache *c, const char *ns, bool bump, uint64_t *gen)
{
	char key[CACHE_KEY_MAX + 1], start[24], *v;
	memcached_return_t rc;
	enum pc_result r;
	uint32_t flags;
	size_t klen, vlen;
	int tries, n;

	if ((klen = cache_key(c, "gen:", ns, "", key)) == 0)
		return PC_INVALID;
	for (tries = 0; tries < 3; tries++) {
		if (bump) {
			rc = memcached_increment(c->mc, key, klen, 1, gen);
			if (rc == MEMCACHED_SUCCESS)
				return PC_OK;
		} else {
			v = memcached_get(c->mc, key, klen, &vlen, &flags, &rc);
			if (rc == MEMCACHED_SUCCESS) {
				r = v != NULL && vlen > 0 && vlen < 21 ?
				    PC_OK :
				    PC_NOTFOUND;
				if (r == PC_OK) {
					char num[21];

					memcpy(num, v, vlen);
					num[vlen] = '\0';
					*gen = strtoull(num, NULL, 10);
				}
				free(v);
				if (r == PC_OK)
					return PC_OK;
				rc = MEMCACHED_NOTFOUND;
			}
		}
		if (rc != MEMCACHED_NOTFOUND)
			return cache_result(c, rc, bump ? "incr" : "get");
		n = snprintf(start, sizeof(start), "%llu",
		    (unsigned long long)clock_now_us());
		r = cache_result(c,
		    memcached_add(c->mc, key, klen, start, (size_t)n, 0, 0),
		    "add");
		if (r == PC_OK) {
			*gen = strtoull(start, NULL, 10);
			return PC_OK;
		}
		if (r != PC_CONFLICT)
			return r;
	}
	return PC_UNAVAILABLE;
}

enum pc_result
cache_touch(struct cache *c, const char *ns, const char *id, long expire_s)
{
	char key[CACHE_KEY_MAX + 1];
	size_t klen;

	if ((klen = cache_key(c, "", ns, id, key)) == 0)
		return PC_INVALID;
	return cache_result(c,
	    memcached_touch(c->mc, key, klen, (time_t)expire_s), "touch");
}

/*
 * A lock holds its holder's token, so that a holder whose lock outlived
 * its TTL cannot free the next holder's: one process holds at most one
 * lock of a key at a time, so the process's token names the holder. Made
 * afresh after a fork.
 */
static const char *
lock_token(struct cache *c)
{
	unsigned char r[8];
	pid_t pid = getpid();

	if (c->token_pid != pid) {
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			memset(r, 0, sizeof(r)); /* the pid still tells */
		(void)snprintf(c->token, sizeof(c->token),
		    "%ld-%02x%02x%02x%02x%02x%02x%02x%02x", (long)pid, r[0],
		    r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
		c->token_pid = pid;
	}
	return c->token;
}

enum pc_result
cache_lock(struct cache *c, const char *ns, const char *id, long ttl_s)
{
	char key[CACHE_KEY_MAX + 1];
	const char *token = lock_token(c);
	size_t klen;

	if ((klen = cache_key(c, "lock:", ns, id, key)) == 0)
		return PC_INVALID;
	return cache_result(c,
	    memcached_add(c->mc, key, klen, token, strlen(token), (time_t)ttl_s,
	        0),
	    "add");
}

/*
 * Free the lock only while it holds this process's token: read it with its
 * CAS, then expire it with a CAS of its own (memcached expires an item
 * with a negative expiration at once), which fails if anyone took the
 * lock in between. A lock that is gone, or another's, is left alone.
 */
void
cache_unlock(struct cache *c, const char *ns, const char *id)
{
	char key[CACHE_KEY_MAX + 1];
	const char *keys[1], *token = lock_token(c);
	size_t klen, tlen = strlen(token);
	memcached_result_st *res;
	memcached_return_t rc;
	uint64_t cas = 0;
	bool mine = false;

	if ((klen = cache_key(c, "lock:", ns, id, key)) == 0)
		return;
	keys[0] = key;
	if ((rc = memcached_mget(c->mc, keys, &klen, 1)) != MEMCACHED_SUCCESS) {
		(void)cache_result(c, rc, "mget");
		return;
	}
	while ((res = memcached_fetch_result(c->mc, NULL, &rc)) != NULL) {
		mine = memcached_result_length(res) == tlen &&
		    memcmp(memcached_result_value(res), token, tlen) == 0;
		cas = memcached_result_cas(res);
		memcached_result_free(res);
	}
	if (!mine)
		return;
	(void)cache_result(c,
	    memcached_cas(c->mc, key, klen, token, tlen, (time_t)-1, 0, cas),
	    "cas");
}

enum pc_result
cache_ping(struct cache *c)
{
	char key[CACHE_KEY_MAX + 1];
	memcached_return_t rc;
	size_t klen;

	if ((klen = cache_key(c, "", "healthz", "probe", key)) == 0)
		return PC_INVALID;
	rc = memcached_exist(c->mc, key, klen);
	return rc == MEMCACHED_NOTFOUND || rc == MEMCACHED_SUCCESS ?
	    PC_OK :
	    cache_result(c, rc, "exist");
}

/* Candidate group keys tried to reach one server through consistent hashing. */
#define CACHE_GROUP_TRIES 4096

unsigned
cache_ping_each(struct cache *c, cache_server_fn fn, void *arg)
{
	const memcached_instance_st *want, *got;
	char key[CACHE_KEY_MAX + 1], group[16];
	memcached_return_t rc;
	uint32_t i, g, n = memcached_server_count(c->mc);
	unsigned up_count = 0;
	size_t klen, glen = 0;
	bool up;

	if ((klen = cache_key(c, "", "healthz", "probe", key)) == 0)
		return 0;
	for (i = 0; i < n; i++) {
		want = memcached_server_instance_by_position(c->mc, i);
		for (g = 0; g < CACHE_GROUP_TRIES; g++) {
			glen = (size_t)snprintf(group, sizeof(group), "s%u", g);
			got = memcached_server_by_key(c->mc, group, glen, &rc);
			if (got == want)
				break;
		}
		up = false;
		if (g < CACHE_GROUP_TRIES) {
			rc = memcached_exist_by_key(c->mc, group, glen, key,
			    klen);
			up =
			    rc == MEMCACHED_NOTFOUND || rc == MEMCACHED_SUCCESS;
		}
		up_count += up;
		fn(arg, memcached_server_name(want),
		    memcached_server_port(want), up);
	}
	return up_count;
}
