/*
 * The key store of [auth] jwks_url: the project's published signing keys,
 * fetched with libcurl and shared by the node's processes through a cache
 * file beside the journal.
 */
#ifndef PC_JWKS_H
#define PC_JWKS_H

#include <stdbool.h>

#include "jwt.h"
#include "result.h"

struct config;
struct jwks;

/*
 * The largest answer taken from the URL: half the JWKS cap, so that the
 * cache file, the same document with a few members added, always fits
 * under it. 32 RSA-4096 keys take about 30 KB.
 */
#define JWKS_BODY_MAX (JWT_JWKS_MAX / 2)

/*
 * Prepare the keys of cfg's [auth] jwks_url (cfg must outlive the store).
 * [auth] jwt_secret_file is read now, as jwt_keys_load() reads it (a bad file
 * is an error here, at start); its secret is part of every key set handed
 * out. The cache file, [journal] path + "-jwks.json", is loaded when it holds
 * a set fetched from this URL, however old. Nothing is fetched yet: a URL
 * that does not answer shows up per request. On PC_OK *out is the caller's
 * (jwks_close()); otherwise err says why.
 */
enum pc_result jwks_open(const struct config *cfg, struct jwks **out,
    char *err);
void jwks_close(struct jwks *j);

/*
 * The keys to verify a token with now: the secret and the newest set the
 * node holds. The cache file is read again when another process replaced
 * it. An expired set, or none, is fetched first, by one process of the node
 * and at most once per [auth] jwks_refetch_interval: while one process
 * fetches, the others use the set they hold, or wait for it when they hold
 * none. A fetch that fails (no answer, not 200, not a usable key set) is
 * logged and the last good set is kept. NULL when there is neither a secret
 * nor a set. The keys stay j's and valid until the next call.
 */
const struct jwt_keys *jwks_keys(struct jwks *j);

/*
 * A token names a kid that the keys lack: fetch the set now (waiting for a
 * fetch under way in another process rather than starting one), unless the
 * node fetched within [auth] jwks_refetch_interval, so that tokens with
 * made-up kids cost at most one fetch per interval. True when the keys
 * changed, so that the token is worth verifying again with jwks_keys().
 */
bool jwks_refetch(struct jwks *j);

/* Whether j holds a key set at all (fetched or from the cache file). */
bool jwks_has_set(const struct jwks *j);

#ifdef UNITTESTS
/*
 * How many seconds an answer with these Cache-Control and Age header values
 * (each NULL when absent; several Cache-Control headers joined with ", ")
 * may be used: its max-age, or 0 for no-store or no-cache, less its Age, at
 * most max; max when it gives no max-age. Pure; for jwks.c and its tests.
 */
long jwks_lifetime(const char *cache_control, const char *age, long max);
#endif

#endif
