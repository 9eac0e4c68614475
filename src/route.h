/* The route table: method and path pattern to handler, 404 and 405. */
#ifndef PC_ROUTE_H
#define PC_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

struct app;

typedef void (*route_fn)(struct app *app, struct http_request *req,
    struct http_response *resp);

struct route {
	const char *method;
	/* Literal segments and "*", which captures one non-empty segment. */
	const char *pattern;
	route_fn handler;
	int metric; /* enum metrics_route */
};

/*
 * Match path against pattern, capturing each "*" segment into
 * req->param[] (pointers into path). False when it does not match.
 */
bool route_match(const char *pattern, const char *path,
    struct http_request *req);

/*
 * Find the route for req in table. Returns it, or NULL with *status 404
 * (no pattern matches) or 405 (a pattern matches, not the method) and the
 * allowed methods listed in allow ("GET, HEAD, PUT"). HEAD is served by a
 * GET route, with req->head set.
 */
const struct route *route_find(const struct route *table, size_t n,
    struct http_request *req, int *status, char *allow, size_t allow_len);

/* Answer req through the application's route table. */
void route_dispatch(struct app *app, struct http_request *req,
    struct http_response *resp);

#endif
