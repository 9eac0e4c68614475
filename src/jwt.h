/* Supabase JWT verification: HS256, and ES256/RS256 from a JWKS. */
#ifndef PC_JWT_H
#define PC_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

#define JWT_TOKEN_MAX 8192 /* bytes of the compact token */
#define JWT_SECRET_MIN 32  /* RFC 7518 3.2: an HS256 key has >= 256 bits */
#define JWT_JWKS_MAX (256 * 1024)            /* bytes of a JWKS document */
#define JWT_LEEWAY_MAX 3600                  /* seconds; more is refused */
#define JWT_LIFETIME_MAX (10L * 366 * 86400) /* seconds of max_lifetime_s */

/* The verification keys; read-only once loaded. */
struct jwt_keys;

/*
 * Load the keys tokens may be signed with. hs256_secret_file (may be NULL)
 * holds Supabase's legacy JWT secret, used as is (not base64-decoded), at
 * least 32 bytes, read with config_read_secret() so a world-readable file is
 * refused. jwks_file (may be NULL) is a JSON Web Key Set as Supabase publishes
 * it at /auth/v1/.well-known/jwks.json: a regular file of at most
 * JWT_JWKS_MAX bytes. Only public EC P-256 (ES256) and RSA 2048 to 4096 bit
 * (RS256) keys are used, each bound to exactly one algorithm: its "alg", or
 * ES256/RS256 when absent. Keys of another type, curve or algorithm, or with a
 * "use" other than "sig" or "key_ops" without "verify", are skipped with a
 * warning; private members ("d", ...) are never read. A JWKS can never supply
 * an HMAC key.
 *
 * At least one usable key must result: a JWKS without one is refused unless
 * the secret is given too (Supabase serves {"keys":[]} to projects that still
 * sign with the legacy secret). On success *out is owned by the caller
 * (release it with jwt_keys_free()); otherwise it is NULL, the result is
 * PC_INVALID (bad file, bad key, duplicate kid, no usable key), PC_NOMEM or
 * PC_ERROR (OpenSSL failed), and err names the file and key index but never
 * holds key material.
 */
enum pc_result jwt_keys_load(const char *hs256_secret_file,
    const char *jwks_file, struct jwt_keys **out, char *err);

/*
 * New keys: the HS256 secret of base (NULL, or keys without a secret: none)
 * and the usable keys of the JWKS document jwks[0..len), by the rules of
 * jwt_keys_load(): without a usable key it is refused unless base holds the
 * secret. what and name say where the document came from ("url" and a URL,
 * "file" and a path) in err and in logs. base is left as it was; *out and
 * the results are as for jwt_keys_load().
 */
enum pc_result jwt_keys_with_jwks(const struct jwt_keys *base, const char *jwks,
    size_t len, const char *what, const char *name, struct jwt_keys **out,
    char *err);
/* How many JWKS keys k holds (the secret not counted); 0 for NULL. */
size_t jwt_keys_count(const struct jwt_keys *k);
/* Release k, wiping the secret; NULL is allowed. */
void jwt_keys_free(struct jwt_keys *k);

struct jwt_policy {
	const char *audience; /* required in "aud" (a string or an array)
				   unless role is service_role; NULL: any */
	const char *issuer;   /* NULL: any; else "iss" must equal it */
	long leeway_s;        /* clock skew allowed on exp/nbf/iat, 0 to
				   JWT_LEEWAY_MAX */
	long max_lifetime_s;  /* longest exp - iat (exp - now, beyond the
				   leeway, without iat) unless role is
				   service_role; 0: any, at most
				   JWT_LIFETIME_MAX */
};

/*
 * Why jwt_verify() refused a token, for the caller to tell the client: one
 * value per thing the client can fix. Each err reason of jwt_verify() maps
 * to exactly one of them.
 */
enum jwt_refusal {
	JWT_REFUSAL_NONE = 0,        /* accepted, or not refused for the token's
				   sake (a bad argument, OpenSSL failed) */
	JWT_REFUSAL_MALFORMED,       /* not three base64url parts, a header or
				   payload that is not a JSON object, or a
				   claim of the wrong type or shape */
	JWT_REFUSAL_UNSUPPORTED_ALG, /* an alg no loaded key is bound to
				   ("none", HS512, HS256 without the secret) */
	JWT_REFUSAL_UNKNOWN_KEY, /* a kid no key has, or one bound to another
				   algorithm */
	JWT_REFUSAL_BAD_SIGNATURE,
	JWT_REFUSAL_EXPIRED,
	JWT_REFUSAL_NOT_YET_VALID, /* nbf or iat in the future */
	JWT_REFUSAL_LIFETIME_TOO_LONG,
	JWT_REFUSAL_WRONG_AUDIENCE,
	JWT_REFUSAL_WRONG_ISSUER
};

struct jwt_claims {
	char sub[64];  /* the user id (for Supabase a UUID); empty if absent */
	char role[32]; /* "authenticated", "anon", "service_role", ... */
	int64_t exp;
	bool is_anonymous; /* Supabase's claim for anonymous sign-ins */
	bool hs256; /* verified with the legacy JWT secret, not a JWKS key */
};

/*
 * Verify token[0..len), the part after "Bearer ", at time now_s (seconds
 * since the epoch). The algorithm is HS256, ES256 or RS256 and is accepted only
 * when a loaded key is bound to it; a token naming a "kid" is checked only
 * against the JWKS key with that kid (HS256 ignores kid), one without is
 * tried against each key of its algorithm. Then: "exp" present and not passed
 * by more than the leeway, "nbf" and "iat" not in the future by more than the
 * leeway, a lifetime within policy->max_lifetime_s unless "role" is
 * "service_role", "aud" holding policy->audience unless "role" is "service_role",
 * "iss" equal to policy->issuer when set, "sub" and "role" (when present)
 * strings that fit, without white space or control characters,
 * "is_anonymous" (when present) a boolean.
 *
 * PC_OK: *claims is filled. PC_INVALID: the token is refused and err holds a
 * short reason ("expired", "bad signature", "algorithm not allowed", ...) that
 * never includes the token or key material; *claims is zeroed. PC_NOTFOUND:
 * refused the same way ("unknown key") because the token names a kid that
 * no key of k has, for an asymmetric algorithm: a newer key set may have it.
 * PC_ERROR: a bad argument or policy, or OpenSSL failed. *why (why may be
 * NULL) says what was wrong with a refused token, JWT_REFUSAL_NONE on PC_OK
 * and PC_ERROR. The checks run in the order above and the first that fails
 * is the one reported: no claim is judged before the signature verified.
 * Nothing is retained.
 */
enum pc_result jwt_verify(const struct jwt_keys *k, const char *token,
    size_t len, const struct jwt_policy *policy, int64_t now_s,
    struct jwt_claims *claims, enum jwt_refusal *why, char *err);

#endif
