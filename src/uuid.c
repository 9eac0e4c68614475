/* Canonical UUID checks. */
#include "autoconf.h"

#include "uuid.h"

bool
uuid_is_canonical(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len != UUID_LEN)
		return false;
	for (i = 0; i < UUID_LEN; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}
