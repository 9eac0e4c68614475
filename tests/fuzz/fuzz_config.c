/* libFuzzer: the INI configuration file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/pc-fuzz-config-XXXXXX", err[PC_ERRLEN];
	struct config cfg;
	int fd;

	if ((fd = mkstemp(path)) == -1)
		return 0;
	if (write(fd, data, size) == (ssize_t)size &&
	    config_load(path, &cfg, err) == PC_OK)
		config_free(&cfg);
	close(fd);
	unlink(path);
	return 0;
}
