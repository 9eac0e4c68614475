/* The avatar store: normalised images as content-addressed files. */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "avatar_store.h"

#define HASH_HEX 64

/* True when s is exactly a name this store makes: ab/<64 hex>.webp. */
static bool
relpath_valid(const char *s)
{
	size_t i;

	if (strlen(s) != 3 + HASH_HEX + 5 || s[2] != '/' ||
	    strcmp(s + 3 + HASH_HEX, ".webp") != 0 || strncmp(s, s + 3, 2) != 0)
		return false;
	for (i = 3; i < 3 + HASH_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		        (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static enum pc_result
write_all(int fd, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return PC_UNAVAILABLE;
		p += n;
		len -= (size_t)n;
	}
	return PC_OK;
}

static enum pc_result
fsync_dir(const char *path)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return PC_UNAVAILABLE;
	rc = fsync(fd);
	(void)close(fd);
	return rc == 0 ? PC_OK : PC_UNAVAILABLE;
}

enum pc_result
avatar_store_name(const void *data, size_t len,
    char relpath[AVATAR_RELPATH_LEN], char *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32) {
		pc_err(err, "avatar store: SHA-256 failed");
		return PC_ERROR;
	}
	for (i = 0; i < 32; i++)
		(void)snprintf(relpath + 3 + 2 * i, 3, "%02x", md[i]);
	relpath[0] = relpath[3];
	relpath[1] = relpath[4];
	relpath[2] = '/';
	memcpy(relpath + 3 + HASH_HEX, ".webp", 6);
	return PC_OK;
}

enum pc_result
avatar_store_put(const char *dir, const void *data, size_t len,
    char relpath[AVATAR_RELPATH_LEN], char *err)
{
	char sub[4096], final[4096], tmp[4096];
	enum pc_result r = PC_UNAVAILABLE;
	struct stat st;
	int fd = -1;

	if ((r = avatar_store_name(data, len, relpath, err)) != PC_OK)
		return r;
	r = PC_UNAVAILABLE;
	if ((size_t)snprintf(sub, sizeof(sub), "%s/%.2s", dir, relpath) >=
	        sizeof(sub) ||
	    (size_t)snprintf(final, sizeof(final), "%s/%s", dir, relpath) >=
	        sizeof(final) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", sub,
	        relpath + 3) >= sizeof(tmp)) {
		pc_err(err, "avatar store: path too long");
		return PC_ERROR;
	}
	if (stat(final, &st) == 0 && S_ISREG(st.st_mode) &&
	    (size_t)st.st_size == len) {
		/* The same bytes are already there; its age restarts, so a
		 * removal of its previous user's copy waits its grace period. */
		(void)utimensat(AT_FDCWD, final, NULL, 0);
		return PC_OK;
	}
	if (mkdir(sub, 0755) == -1 && errno != EEXIST) {
		pc_err(err, "avatar store: %s: %s", sub, strerror(errno));
		return PC_UNAVAILABLE;
	}
	/*
	 * A file of its own, even for the same bytes stored at once by another
	 * thread or process: a shared name would let one empty the other's
	 * file after it was renamed into place.
	 */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		pc_err(err, "avatar store: %s: %s", tmp, strerror(errno));
		return PC_UNAVAILABLE;
	}
	if (fchmod(fd, 0644) != 0) { /* served by the web server */
		pc_err(err, "avatar store: %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, data, len) != PC_OK || fsync(fd) != 0) {
		pc_err(err, "avatar store: writing %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		pc_err(err, "avatar store: closing %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, final) != 0 || fsync_dir(sub) != PC_OK) {
		pc_err(err, "avatar store: %s: %s", final, strerror(errno));
		goto out;
	}
	r = PC_OK;
out:
	if (fd != -1)
		(void)close(fd);
	if (r != PC_OK)
		(void)unlink(tmp);
	return r;
}

enum pc_result
avatar_store_relpath(const char *public_url, const char *url,
    char relpath[AVATAR_RELPATH_LEN])
{
	size_t n = strlen(public_url);

	if (url == NULL || strncmp(url, public_url, n) != 0 || url[n] != '/' ||
	    !relpath_valid(url + n + 1))
		return PC_INVALID;
	memcpy(relpath, url + n + 1, AVATAR_RELPATH_LEN - 1);
	relpath[AVATAR_RELPATH_LEN - 1] = '\0';
	return PC_OK;
}

enum pc_result
avatar_store_age(const char *dir, const char *relpath, long *age_s)
{
	char path[4096];
	struct stat st;

	*age_s = 0;
	if (!relpath_valid(relpath) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, relpath) >=
	        sizeof(path))
		return PC_INVALID;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? PC_NOTFOUND : PC_UNAVAILABLE;
	*age_s = (long)(time(NULL) - st.st_mtime);
	return PC_OK;
}

enum pc_result
avatar_store_remove(const char *dir, const char *relpath, char *err)
{
	char path[4096];

	if (!relpath_valid(relpath) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, relpath) >=
	        sizeof(path))
		return PC_INVALID;
	if (unlink(path) != 0 && errno != ENOENT) {
		pc_err(err, "avatar store: %s: %s", path, strerror(errno));
		return PC_UNAVAILABLE;
	}
	return PC_OK;
}
