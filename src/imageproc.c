/* The image helper: profilecache-image run as a child process per upload. */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "imageproc.h"
#include "log.h"

extern char **environ;

/*
 * Feed the input and collect the output, both non-blocking, until the
 * child closes its output or the deadline passes. The child reads all its
 * input before it writes, but polling both ends keeps this free of any
 * such assumption.
 */
static enum pc_result
exchange(int *in_fd, int out_fd, const char *in, size_t len, struct buf *out,
    int64_t deadline)
{
	struct pollfd p[2];
	char chunk[65536];
	size_t sent = 0;
	int64_t left;
	ssize_t n;

	(void)fcntl(*in_fd, F_SETFL, O_NONBLOCK);
	(void)fcntl(out_fd, F_SETFL, O_NONBLOCK);
	for (;;) {
		if (sent == len && *in_fd != -1) {
			(void)close(*in_fd); /* end of input for the child */
			*in_fd = -1;
		}
		p[0].fd = *in_fd;
		p[0].events = POLLOUT;
		p[1].fd = out_fd;
		p[1].events = POLLIN;
		left = (deadline - clock_mono_us()) / 1000;
		if (left <= 0)
			return PC_UNAVAILABLE;
		if (poll(p, 2, (int)left) == -1) {
			if (errno == EINTR)
				continue;
			return PC_ERROR;
		}
		if (*in_fd != -1 &&
		    (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = write(*in_fd, in + sent, len - sent);
			if (n > 0)
				sent += (size_t)n;
			else if (n == -1 && errno != EAGAIN && errno != EINTR)
				sent =
				    len; /* the child stopped reading: it decided */
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(out_fd, chunk, sizeof(chunk));
			if (n == 0)
				return PC_OK;
			if (n > 0 && buf_add(out, chunk, (size_t)n) != PC_OK)
				return PC_ERROR;
			if (n == -1 && errno != EAGAIN && errno != EINTR)
				return PC_ERROR;
		}
	}
}

enum pc_result
imageproc_run(const struct imageproc_opts *o, const char *declared,
    const void *in, size_t len, char **out, size_t *out_len, char *err)
{
	char size[24], pixels[24], quality[24], max_bytes[24];
	char *argv[16];
	int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 }, status = 0,
	    argc = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t mask, defaults;
	enum pc_result r = PC_ERROR, x;
	struct buf b;
	pid_t pid = -1;

	*out = NULL;
	buf_init(&b, IMAGEPROC_OUT_MAX);
	(void)snprintf(size, sizeof(size), "%ld", o->size);
	(void)snprintf(pixels, sizeof(pixels), "%ld", o->max_pixels);
	(void)snprintf(quality, sizeof(quality), "%ld", o->quality);
	(void)snprintf(max_bytes, sizeof(max_bytes), "%zu", len > 0 ? len : 1);
	argv[argc++] = (char *)"profilecache-image";
	argv[argc++] = (char *)"--size";
	argv[argc++] = size;
	argv[argc++] = (char *)"--max-pixels";
	argv[argc++] = pixels;
	argv[argc++] = (char *)"--quality";
	argv[argc++] = quality;
	argv[argc++] = (char *)"--max-bytes";
	argv[argc++] = max_bytes;
	if (declared != NULL && *declared != '\0') {
		argv[argc++] = (char *)"--type";
		argv[argc++] = (char *)declared;
	}
	argv[argc] = NULL;

	if (pipe2(in_pipe, O_CLOEXEC) == -1 ||
	    pipe2(out_pipe, O_CLOEXEC) == -1) {
		pc_err(err, "image helper: pipe: %s", strerror(errno));
		goto out;
	}
	(void)posix_spawn_file_actions_init(&fa);
	(void)posix_spawn_file_actions_adddup2(&fa, in_pipe[0], STDIN_FILENO);
	(void)posix_spawn_file_actions_adddup2(&fa, out_pipe[1], STDOUT_FILENO);
	/* Nothing else: not the connections other threads serve (libfcgi
	 * does not mark them close-on-exec), which would stay open as long as
	 * the helper runs. */
	(void)posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	/* The responder blocks its stop signals while it serves a request; the
	 * helper starts with none blocked and default handlers. */
	(void)posix_spawnattr_init(&attr);
	(void)sigemptyset(&mask);
	(void)sigfillset(&defaults);
	(void)posix_spawnattr_setsigmask(&attr, &mask);
	(void)posix_spawnattr_setsigdefault(&attr, &defaults);
	(void)posix_spawnattr_setflags(&attr,
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	errno = posix_spawn(&pid, o->helper, &fa, &attr, argv, environ);
	(void)posix_spawnattr_destroy(&attr);
	(void)posix_spawn_file_actions_destroy(&fa);
	if (errno != 0) {
		pc_err(err, "image helper %s: %s", o->helper, strerror(errno));
		pid = -1;
		goto out;
	}
	(void)close(in_pipe[0]);
	(void)close(out_pipe[1]);
	in_pipe[0] = out_pipe[1] = -1;
	x = exchange(&in_pipe[1], out_pipe[0], in, len, &b,
	    clock_mono_us() + o->timeout_ms * 1000);
	if (x != PC_OK) {
		(void)kill(pid, SIGKILL);
		pc_err(err,
		    x == PC_UNAVAILABLE ?
		        "image helper: took longer than %ld ms" :
		        "image helper: i/o failed",
		    o->timeout_ms);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (x != PC_OK) {
		r = x;
		goto out;
	}
	if (!WIFEXITED(status)) {
		pc_err(err, "image helper died of signal %d", WTERMSIG(status));
		goto out;
	}
	switch (WEXITSTATUS(status)) {
	case 0:
		if (b.len == 0) {
			pc_err(err, "image helper wrote nothing");
			goto out;
		}
		*out = buf_steal(&b, out_len);
		r = PC_OK;
		break;
	case 65:
		r = PC_INVALID;
		break;
	case 66:
		r = PC_TOOBIG;
		break;
	default:
		pc_err(err, "image helper failed (exit %d)",
		    WEXITSTATUS(status));
		break;
	}
out:
	if (in_pipe[0] != -1)
		(void)close(in_pipe[0]);
	if (in_pipe[1] != -1)
		(void)close(in_pipe[1]);
	if (out_pipe[0] != -1)
		(void)close(out_pipe[0]);
	if (out_pipe[1] != -1)
		(void)close(out_pipe[1]);
	buf_free(&b);
	return r;
}

int
imageproc_slot_take(const char *path, long slots)
{
	struct flock fl;
	long i;
	int fd;

	if (slots <= 0)
		return -2; /* no limit */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return -2; /* cannot count: let it through, the timeout bounds it */
	for (i = 0; i < slots; i++) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = i;
		fl.l_len = 1;
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return fd; /* the lock is ours while fd is open */
	}
	(void)close(fd);
	return -1;
}

void
imageproc_slot_give(int fd)
{
	if (fd >= 0)
		(void)close(fd); /* releases the byte lock */
}
