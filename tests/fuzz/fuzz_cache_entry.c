/* libFuzzer: cache values (whatever memcached hands back) and timestamps. */
#include <stdint.h>

#include "cache.h"
#include "strnum.h"
#include "timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache_entry e;
	char s[64], out[TIMEFMT_LEN];
	long long n;
	int64_t us;
	size_t i;

	if (cache_entry_decode((const char *)data, size, &e) == PC_OK) {
		volatile char sink = 0;

		for (i = 0; i < e.body_len; i++)
			sink ^= e.body[i];
		(void)sink;
	}
	if (timefmt_parse((const char *)data, size, &us) == PC_OK)
		(void)timefmt_format(us, out);
	for (i = 0; i < size && i < sizeof(s) - 1; i++)
		s[i] = (char)data[i];
	s[i] = '\0';
	(void)strnum_parse(s, -1000, 1000, &n);
	return 0;
}
