/* Supabase API keys: what kind a key is, and the check of the secret key. */
#include "autoconf.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "apikey.h"

enum apikey_kind
apikey_kind(const char *key)
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                             "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, n;

	if (strncmp(key, "sb_secret_", 10) == 0)
		return APIKEY_SECRET;
	if (strncmp(key, "sb_publishable_", 15) == 0)
		return APIKEY_PUBLISHABLE;
	/* header.payload.signature */
	for (i = 0; i < 3; i++) {
		if ((n = strspn(key, b64url)) == 0)
			return APIKEY_OTHER;
		key += n;
		if (*key != (i < 2 ? '.' : '\0'))
			return APIKEY_OTHER;
		key++;
	}
	return APIKEY_JWT;
}

bool
apikey_secret_matches(const char *secret, const char *given, size_t len)
{
	if (secret == NULL || given == NULL || strlen(secret) != len ||
	    len == 0)
		return false;
	return CRYPTO_memcmp(secret, given, len) == 0;
}

struct curl_slist *
apikey_headers(struct curl_slist *l, const char *key)
{
	const char *names[] = { "apikey: ", "Authorization: Bearer " };
	size_t i, n = apikey_kind(key) == APIKEY_JWT ? 2 : 1;
	struct curl_slist *t;
	char line[4200];

	for (i = 0; i < n; i++) {
		(void)snprintf(line, sizeof(line), "%s%s", names[i], key);
		if ((t = curl_slist_append(l, line)) == NULL) {
			curl_slist_free_all(l);
			l = NULL;
			break;
		}
		l = t;
	}
	explicit_bzero(line, sizeof(line));
	return l;
}
