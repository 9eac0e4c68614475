/* profilecache.fcgi: the responder, as a FastCGI server or a plain CGI program. */
#include "autoconf.h"

#include <errno.h>
#include <fcgiapp.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "cors.h"
#include "http.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "route.h"

#define EXIT_CONFIG 78 /* EX_CONFIG: the configuration is wrong */

/* Where a response goes: a FastCGI stream or stdout. */
struct out {
	FCGX_Stream *fcgi;
};

static const char *
env_fcgi(void *ctx, const char *name)
{
	return FCGX_GetParam(name, ctx);
}

static const char *
env_cgi(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

static long
read_fcgi(void *ctx, char *buf, size_t n)
{
	return FCGX_GetStr(buf, n > INT_MAX ? INT_MAX : (int)n, ctx);
}

static long
read_cgi(void *ctx, char *buf, size_t n)
{
	ssize_t r;

	(void)ctx;
	do
		r = read(STDIN_FILENO, buf, n);
	while (r == -1 && errno == EINTR);
	return (long)r;
}

static void
out_write(struct out *o, const char *p, size_t n)
{
	size_t done = 0;
	ssize_t w;

	if (n == 0)
		return;
	if (o->fcgi != NULL) {
		(void)FCGX_PutStr(p, (int)n, o->fcgi);
		return;
	}
	while (done < n) {
		w = write(STDOUT_FILENO, p + done, n - done);
		if (w <= 0)
			return; /* the client is gone; nothing to do */
		done += (size_t)w;
	}
}

/* Send status line, headers and body as CGI/FastCGI expects them. */
static void
send_response(struct out *o, const struct http_request *req,
    struct http_response *resp)
{
	char head[HTTP_HEADERS_MAX + 512];
	int n;

	if (resp->headers_full) {
		log_error("response_headers_overflow", "status=%d",
		    resp->status);
		http_response_free(resp);
		http_error(resp, 500, "internal", "response headers too large");
	}
	n = snprintf(head, sizeof(head),
	    "Status: %d %s\r\nX-Content-Type-Options: nosniff\r\n"
	    "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n%s",
	    resp->status, http_status_text(resp->status), resp->headers);
	if (resp->vary[0] != '\0' && n > 0 && (size_t)n < sizeof(head))
		n += snprintf(head + n, sizeof(head) - (size_t)n,
		    "Vary: %s\r\n", resp->vary);
	if (resp->content_type != NULL && n > 0 && (size_t)n < sizeof(head))
		n += snprintf(head + n, sizeof(head) - (size_t)n,
		    "Content-Type: %s; charset=utf-8\r\nContent-Length: %zu\r\n",
		    resp->content_type, resp->body_len);
	if (n < 0 || (size_t)n + 2 >= sizeof(head))
		return;
	memcpy(head + n, "\r\n", 2);
	out_write(o, head, (size_t)n + 2);
	if (resp->content_type != NULL && !req->head)
		out_write(o, resp->body, resp->body_len);
}

/*
 * Whether req is a POST without a body length. lighttpd answers those 411
 * itself, before a responder sees them; answering them the same here makes
 * the same mistake get the same status behind every web server. nginx
 * passes an empty CONTENT_LENGTH and mod_cgi none; a chunked body, which
 * has no length either, is left to the route (http_read_body()). mod_fcgid
 * passes "0" (etc/apache/profilecache-fcgid.conf.in refuses these itself).
 */
static bool
post_without_length(const struct http_request *req)
{
	const char *cl = http_request_header(req, "CONTENT_LENGTH");

	return strcmp(req->method, "POST") == 0 &&
	    (cl == NULL || *cl == '\0') &&
	    http_request_header(req, "HTTP_TRANSFER_ENCODING") == NULL;
}

/* Build the request from the CGI variables and route it. */
static void
handle_request(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	enum pc_result r;

	req->method = req->getenv(req->env_ctx, "REQUEST_METHOD");
	req->query = req->getenv(req->env_ctx, "QUERY_STRING");
	if (req->method == NULL) {
		http_error(resp, 400, "bad_request", "no request method");
		return;
	}
	if (post_without_length(req)) {
		http_error(resp, 411, "length_required",
		    "Content-Length is required");
		return;
	}
	r = http_request_path(req->getenv(req->env_ctx, "REQUEST_URI"),
	    req->getenv(req->env_ctx, "SCRIPT_NAME"),
	    req->getenv(req->env_ctx, "PATH_INFO"), req->path,
	    sizeof(req->path));
	if (r == PC_TOOBIG) {
		http_error(resp, 414, "uri_too_long", "request path too long");
		return;
	}
	if (r != PC_OK) {
		http_error(resp, 404, "not_found", "no such resource");
		return;
	}
	route_dispatch(app, req, resp);
	/* An answer to a request with credentials is nobody else's: no shared
	 * cache may keep it, whatever the route said. */
	if ((http_request_header(req, "HTTP_AUTHORIZATION") != NULL ||
	        http_request_header(req, "HTTP_APIKEY") != NULL) &&
	    strstr(resp->headers, "Cache-Control:") == NULL)
		http_header_add(resp, "Cache-Control", "no-store");
}

/*
 * Answer one request. Every answer passes here, errors included, so this is
 * where the CORS headers are added (a preflight's were added by its route).
 */
static void
handle(struct app *app, struct http_request *req, struct http_response *resp)
{
	handle_request(app, req, resp);
	cors_response(&app->cfg, req, resp);
}

/* Work that waited for the response to be finished. */
static void
run_after(struct app *app, struct http_response *resp)
{
	metrics_request((enum metrics_route)resp->route, resp->resource,
	    resp->status);
	if (resp->after != NULL)
		resp->after(app, resp->after_arg);
	journal_maintain(app->journal);
}

/*
 * Stopping. mod_fcgid and lighttpd stop a responder with SIGTERM, libfcgi's
 * convention is SIGUSR1, an operator may send SIGHUP or SIGINT: each means
 * "finish the request in progress, then exit 0".
 *
 * The signals are blocked while a request is handled, so none of them can
 * cut a system call short there with EINTR: libfcgi does not retry its
 * reads and writes, and the journal would answer a write waiting for its
 * lock with 503 (tests/e2e/t_lifecycle.sh). They are let through only
 * around FCGX_Accept_r(), and the handler has no SA_RESTART, so a process
 * idle in accept() is woken. Which libfcgi returns then depends on its
 * version: 2.4.2 gives up its accept loop once FCGX_ShutdownPending() was
 * called; with FCGI_FAIL_ACCEPT_ON_INTR older ones return on EINTR too.
 * A signal that was blocked during a request is delivered the moment it is
 * unblocked, and the flag is checked right after that, so it is never lost.
 *
 * XXX A signal that lands between libfcgi's last look at its flag and the
 * accept() system call is not noticed until the next connection, which is
 * then served before the process exits; one that lands after accept()
 * returned, while libfcgi waits for the request's first bytes, makes it drop
 * that connection. Both windows are a few instructions or microseconds
 * wide, and a web server does not send new requests to a process it is
 * stopping; closing them would take an accept loop of our own.
 */
static const struct {
	int sig;
	const char *name;
} stop_signals[] = {
	{ SIGTERM, "TERM" },
	{ SIGUSR1, "USR1" },
	{ SIGHUP, "HUP" },
	{ SIGINT, "INT" },
};
#define NSTOP_SIGNALS (sizeof(stop_signals) / sizeof(stop_signals[0]))
static volatile sig_atomic_t stop_signal;

static void
stop_handler(int sig)
{
	stop_signal = sig;
	/* Only sets libfcgi's flag: safe in a signal handler. */
	FCGX_ShutdownPending();
}

static const char *
stop_signal_name(int sig)
{
	size_t i;

	for (i = 0; i < NSTOP_SIGNALS; i++)
		if (stop_signals[i].sig == sig)
			return stop_signals[i].name;
	return "?";
}

/*
 * Install the stop handler for stop_signals and fill *set with them, blocked
 * from now on. Runs after FCGX_Init(): libfcgi 2.4.2 installs its own
 * handlers there, over whatever was set before.
 */
static void
stop_signals_init(sigset_t *set)
{
	struct sigaction sa;
	size_t i;

	(void)sigemptyset(set);
	for (i = 0; i < NSTOP_SIGNALS; i++)
		(void)sigaddset(set, stop_signals[i].sig);
	(void)sigprocmask(SIG_BLOCK, set, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stop_handler;
	sa.sa_mask = *set; /* one handler at a time */
	sa.sa_flags = 0;   /* no SA_RESTART: accept() must return */
	for (i = 0; i < NSTOP_SIGNALS; i++)
		(void)sigaction(stop_signals[i].sig, &sa, NULL);
	/* libfcgi replaced main()'s SIG_IGN with a handler of its own. */
	(void)signal(SIGPIPE, SIG_IGN);
}

/*
 * Wait for the next request with the stop signals let through. Returns what
 * FCGX_Accept_r() returned, or -1 when a stop signal came first.
 */
static int
accept_request(FCGX_Request *fr, const sigset_t *stop)
{
	int rc;

	for (;;) {
		(void)sigprocmask(SIG_UNBLOCK, stop, NULL);
		rc = stop_signal != 0 ? -1 : FCGX_Accept_r(fr);
		(void)sigprocmask(SIG_BLOCK, stop, NULL);
		/* A request that was accepted is served, signal or not. */
		if (rc >= 0 || stop_signal != 0)
			return rc;
		/* Another signal woke accept() (FCGI_FAIL_ACCEPT_ON_INTR). */
		if (rc != -EINTR)
			return rc;
	}
}

/*
 * End the request's connection. libfcgi shuts its side down and then waits
 * (up to 2 s) for the web server to close first, so that input still
 * unread cannot turn the close into a reset that loses the answer; the
 * responder can take no other request meanwhile (measured: a quarter to a
 * third of a cache hit's time behind lighttpd). With all input read there
 * is nothing to reset: close at once. The rest of a body that was not read
 * is read here when short; a long one keeps libfcgi's way.
 */
static void
finish_request(FCGX_Request *fr)
{
	char sink[1024];
	int chunks = 8;

	while (chunks-- > 0 && FCGX_GetStr(sink, sizeof(sink), fr->in) > 0)
		;
	if (FCGX_HasSeenEOF(fr->in) == EOF)
		(void)FCGX_Detach(fr);
	FCGX_Finish_r(fr);
}

/* Serve the request fr accepted, then the work that waited for its end. */
static void
serve_request(struct app *app, FCGX_Request *fr, struct http_response *resp)
{
	struct http_request req;
	struct out o;

	memset(&req, 0, sizeof(req));
	req.getenv = env_fcgi;
	req.env_ctx = fr->envp;
	req.read = read_fcgi;
	req.read_ctx = fr->in;
	o.fcgi = fr->out;
	handle(app, &req, resp);
	send_response(&o, &req, resp);
	/* The client has its answer before any refresh work starts. */
	finish_request(fr);
	run_after(app, resp);
	http_response_free(resp);
}

static int
serve_fcgi(struct app *app)
{
	struct http_response resp;
	FCGX_Request fr;
	sigset_t stop;
	int rc;

	if (FCGX_Init() != 0 ||
	    FCGX_InitRequest(&fr, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_error("fcgi_init_failed", "%s", "");
		return 1;
	}
	stop_signals_init(&stop);
	http_response_init(&resp);
	while ((rc = accept_request(&fr, &stop)) >= 0)
		serve_request(app, &fr, &resp);
	if (stop_signal != 0) {
		log_info("fcgi_stop", "signal=%s",
		    stop_signal_name(stop_signal));
		return 0;
	}
	/* libfcgi returns -errno, or below -9000 for its own failures. */
	log_error("fcgi_accept_failed", "error=\"%s\"",
	    rc < 0 && rc > -9000 ? strerror(-rc) : "libfcgi failure");
	return 1;
}

/*
 * A responder with threads ([http] threads > 1). Each thread accepts and
 * serves connections of its own with an app of its own (its own memcached,
 * origin and journal handles); the threads share only the listening
 * socket, the metrics file and the log. With several threads a responder
 * can keep FastCGI connections open between requests (nginx's
 * fastcgi_keep_conn): a kept connection holds one thread while it waits
 * for its next request, not the whole process.
 *
 * Stopping: every thread blocks the stop signals, and the main thread,
 * which serves nothing, takes them with sigwait(). It then sets libfcgi's
 * flag and wakes each thread with WAKE_SIGNAL until the thread has ended.
 * As in serve_fcgi(), a thread lets that signal through only while it
 * waits in FCGX_Accept_r(), so a request being served is finished first;
 * a thread waiting for the next request of a kept connection drops that
 * connection, which the web server then opens anew to another responder.
 * Waking again every WAKE_EVERY_NS closes the window in which a signal
 * lands just before accept() or read() blocks.
 */
#define WAKE_SIGNAL SIGUSR2
#define WAKE_EVERY_NS 100000000L

struct worker {
	pthread_t tid;
	struct app *app;
	bool running;
	bool failed; /* ended on an accept error, not a stop */
};

static int stopping; /* read and written with __atomic */

static void
wake_handler(int sig)
{
	(void)sig; /* only here to interrupt accept() or read() */
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct http_response resp;
	FCGX_Request fr;
	sigset_t wake;
	int rc;

	(void)sigemptyset(&wake);
	(void)sigaddset(&wake, WAKE_SIGNAL);
	if (FCGX_InitRequest(&fr, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		w->failed = true;
		return NULL;
	}
	http_response_init(&resp);
	for (;;) {
		(void)pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
		rc = __atomic_load_n(&stopping, __ATOMIC_SEQ_CST) ?
		    -1 :
		    FCGX_Accept_r(&fr);
		(void)pthread_sigmask(SIG_BLOCK, &wake, NULL);
		if (rc >= 0) {
			serve_request(w->app, &fr, &resp);
			continue;
		}
		if (__atomic_load_n(&stopping, __ATOMIC_SEQ_CST))
			break;
		if (rc == -EINTR)
			continue; /* a WAKE_SIGNAL from elsewhere */
		log_error("fcgi_accept_failed", "error=\"%s\"",
		    rc > -9000 ? strerror(-rc) : "libfcgi failure");
		w->failed = true;
		/* The process ends, as a responder without threads does. */
		(void)kill(getpid(), SIGTERM);
		break;
	}
	FCGX_Free(&fr, 1);
	return NULL;
}

/* Wait up to WAKE_EVERY_NS for w's thread to end; whether it has. */
static bool
worker_join(struct worker *w)
{
	struct timespec until;

	(void)clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += WAKE_EVERY_NS;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	if (pthread_timedjoin_np(w->tid, NULL, &until) != 0)
		return false;
	w->running = false;
	return true;
}

static int
serve_fcgi_threads(struct app *first, const char *path)
{
	long i, n = first->cfg.http_threads, left;
	struct app *apps = NULL;
	struct worker *w = NULL;
	char err[PC_ERRLEN] = "";
	struct sigaction sa;
	struct config cfg;
	sigset_t stop;
	bool failed = false;
	int sig = 0, rc = 1;

	if (FCGX_Init() != 0) {
		log_error("fcgi_init_failed", "%s", "");
		return 1;
	}
	/* Blocked from here on in this thread and every thread it starts. */
	stop_signals_init(&stop);
	(void)sigaddset(&stop, WAKE_SIGNAL);
	(void)pthread_sigmask(SIG_BLOCK, &stop, NULL);
	(void)sigdelset(&stop, WAKE_SIGNAL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wake_handler;
	(void)sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: accept() and read() must return */
	(void)sigaction(WAKE_SIGNAL, &sa, NULL);
	if ((w = calloc((size_t)n, sizeof(*w))) == NULL ||
	    (apps = calloc((size_t)n, sizeof(*apps))) == NULL)
		goto out;
	/* Each thread's app, made before any thread runs. */
	w[0].app = first;
	for (i = 1; i < n; i++) {
		if (config_load(path, &cfg, err) != PC_OK ||
		    app_open(&apps[i], &cfg, err) != PC_OK) {
			log_error("startup_failed", "thread=%ld error=\"%s\"",
			    i, err);
			goto out;
		}
		w[i].app = &apps[i];
	}
	for (i = 0; i < n; i++) {
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
			log_error("startup_failed",
			    "error=\"cannot start "
			    "thread %ld\"",
			    i);
			break;
		}
		w[i].running = true;
	}
	if (i == n)
		(void)sigwait(&stop, &sig);
	__atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
	FCGX_ShutdownPending();
	do {
		left = 0;
		for (i = 0; i < n; i++)
			if (w[i].running) {
				(void)pthread_kill(w[i].tid, WAKE_SIGNAL);
				if (!worker_join(&w[i]))
					left++;
			}
	} while (left > 0);
	for (i = 0; i < n; i++)
		failed = failed || w[i].failed;
	if (sig != 0 && !failed) {
		log_info("fcgi_stop", "signal=%s", stop_signal_name(sig));
		rc = 0;
	}
out:
	for (i = 1; apps != NULL && i < n; i++)
		app_close(&apps[i]);
	free(apps);
	free(w);
	return rc;
}

static int
serve_cgi(struct app *app)
{
	struct http_response resp;
	struct http_request req;
	struct out o = { .fcgi = NULL };

	memset(&req, 0, sizeof(req));
	req.getenv = env_cgi;
	req.read = read_cgi;
	http_response_init(&resp);
	handle(app, &req, &resp);
	send_response(&o, &req, &resp);
	/* Closing stdout ends the response for the web server. */
	(void)close(STDOUT_FILENO);
	run_after(app, &resp);
	http_response_free(&resp);
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: profilecache.fcgi [--config FILE]\n"
	    "Runs as a FastCGI responder when started by a FastCGI server, or\n"
	    "answers one request as a CGI program otherwise. Without --config the\n"
	    "configuration file is $" CONFIG_ENV ".\n");
}

/*
 * Run as a CGI program, a request's query without '=' comes as the last
 * arguments too (RFC 3875 4.4, an indexed query: one per word between
 * '+'; Apache also escapes shell characters in them): a web client's words,
 * never options. GET /v1/x?--config+PATH must not choose the
 * configuration. So the last arguments, as many as the query has words,
 * are dropped (a wrapper's own --config before them stays); the number of
 * arguments left.
 */
static int
cgi_own_args(int argc)
{
	const char *q = getenv("QUERY_STRING");
	int words = 1;

	if (getenv("GATEWAY_INTERFACE") == NULL || q == NULL || *q == '\0' ||
	    strchr(q, '=') != NULL)
		return argc;
	for (; *q != '\0'; q++)
		if (*q == '+')
			words++;
	return words < argc ? argc - words : 1;
}

int
main(int argc, char **argv)
{
	const char *path = getenv(CONFIG_ENV);
	char err[PC_ERRLEN] = "";
	struct config cfg;
	struct app app;
	int i, rc;

	log_set_ident("profilecache.fcgi");
	argc = cgi_own_args(argc);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("profilecache.fcgi %s\n", PACKAGE_VERSION);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (config_load_logged(path, &cfg) != PC_OK)
		return EXIT_CONFIG;
	if (app_open(&app, &cfg, err) != PC_OK) {
		log_error("startup_failed", "error=\"%s\"", err);
		return EXIT_CONFIG;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	if (FCGX_IsCGI())
		rc = serve_cgi(&app);
	else if (app.cfg.http_threads > 1)
		rc = serve_fcgi_threads(&app, path);
	else
		rc = serve_fcgi(&app);
	app_close(&app);
	return rc;
}
