/* Supabase API keys: what kind a key is, and the check of the secret key. */
#ifndef PC_APIKEY_H
#define PC_APIKEY_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Supabase's keys (https://supabase.com/docs/guides/api/api-keys): the
 * publishable and secret keys are not JWTs and go in the apikey header only;
 * the legacy anon and service_role keys are JWTs, accepted in apikey and as
 * "Authorization: Bearer".
 */
enum apikey_kind {
	APIKEY_SECRET,      /* sb_secret_... */
	APIKEY_PUBLISHABLE, /* sb_publishable_... */
	APIKEY_JWT,         /* three non-empty base64url parts */
	APIKEY_OTHER
};

/* The kind of the NUL-terminated key, by its shape alone. */
enum apikey_kind apikey_kind(const char *key);

/*
 * Whether given[0..len) is the secret key (NUL-terminated; NULL: there is
 * none, and nothing matches). The bytes are compared in constant time
 * (CRYPTO_memcmp); only a difference in length is told apart sooner, and
 * the length of a secret key is no secret.
 */
bool apikey_secret_matches(const char *secret, const char *given, size_t len);

struct curl_slist;

/*
 * Append the headers that present key to a Supabase API (PostgREST,
 * Storage) to l: key in apikey, and as "Authorization: Bearer" too only
 * when it is a legacy JWT; Supabase refuses a publishable or secret key
 * there, since neither is a JWT
 * (https://supabase.com/docs/guides/functions/auth-headers). Returns the
 * list, or NULL (with l freed) when out of memory.
 */
struct curl_slist *apikey_headers(struct curl_slist *l, const char *key);

#endif
