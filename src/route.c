/* The route table: method and path pattern to handler, 404, 405 and OPTIONS. */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "cors.h"
#include "metrics.h"
#include "resource.h"
#include "route.h"
#include "route_admin.h"
#include "route_avatar.h"
#include "route_health.h"
#include "route_metrics.h"
#include "route_profile.h"
#include "route_resource.h"

static const struct route routes[] = {
	{ .method = "GET",
	    .pattern = "/v1/profiles/*",
	    .handler = route_profile_get,
	    .metric = MR_PROFILE_GET },
	{ .method = "PUT",
	    .pattern = "/v1/profiles/*",
	    .handler = route_profile_put,
	    .metric = MR_PROFILE_PUT },
	{ .method = "PATCH",
	    .pattern = "/v1/profiles/*",
	    .handler = route_profile_patch,
	    .metric = MR_PROFILE_PATCH },
	{ .method = "DELETE",
	    .pattern = "/v1/profiles/*",
	    .handler = route_profile_delete,
	    .metric = MR_PROFILE_DELETE },
	{ .method = "POST",
	    .pattern = "/v1/profiles/*/avatar",
	    .handler = route_avatar_post,
	    .metric = MR_AVATAR_POST },
	{ .method = "POST",
	    .pattern = "/v1/admin/invalidate",
	    .handler = route_admin_invalidate,
	    .metric = MR_OTHER },
	{ .method = "GET",
	    .pattern = "/v1/healthz",
	    .handler = route_health_get,
	    .metric = MR_HEALTHZ },
	{ .method = "GET",
	    .pattern = "/v1/metrics",
	    .handler = route_metrics_get,
	    .metric = MR_METRICS },
};

/* The routes of a declared resource's path, /v1/{resource}/... */
static const struct route resource_routes[] = {
	{ .method = "POST",
	    .pattern = "/v1/*/*/increments",
	    .handler = route_resource_increment,
	    .metric = MR_RESOURCE_INCREMENT },
	{ .method = "POST",
	    .pattern = "/v1/*/*/*",
	    .handler = route_resource_image,
	    .metric = MR_RESOURCE_IMAGE },
	{ .method = "GET",
	    .pattern = "/v1/*/*",
	    .handler = route_resource_get,
	    .metric = MR_RESOURCE_GET },
	{ .method = "PUT",
	    .pattern = "/v1/*/*",
	    .handler = route_resource_put,
	    .metric = MR_RESOURCE_PUT },
	{ .method = "PATCH",
	    .pattern = "/v1/*/*",
	    .handler = route_resource_patch,
	    .metric = MR_RESOURCE_PATCH },
	{ .method = "DELETE",
	    .pattern = "/v1/*/*",
	    .handler = route_resource_delete,
	    .metric = MR_RESOURCE_DELETE },
	{ .method = "POST",
	    .pattern = "/v1/*",
	    .handler = route_resource_post,
	    .metric = MR_RESOURCE_POST },
	{ .method = "GET",
	    .pattern = "/v1/*",
	    .handler = route_resource_list,
	    .metric = MR_RESOURCE_LIST },
};

bool
route_match(const char *pattern, const char *path, struct http_request *req)
{
	const char *p = pattern, *s = path;
	size_t n, np = 0;

	while (*p != '\0') {
		if (*p == '*') {
			n = strcspn(s, "/");
			if (n == 0 || np >= HTTP_PARAMS_MAX)
				return false;
			req->param[np] = s;
			req->param_len[np++] = n;
			s += n;
			p++;
			continue;
		}
		if (*p++ != *s++)
			return false;
	}
	if (*s != '\0')
		return false;
	for (; np < HTTP_PARAMS_MAX; np++) {
		req->param[np] = NULL;
		req->param_len[np] = 0;
	}
	return true;
}

static void
allow_add(char *allow, size_t len, const char *method)
{
	size_t used = strlen(allow);

	/* Listed once each, comma separated. */
	if (strstr(allow, method) != NULL)
		return;
	(void)snprintf(allow + used, len - used, "%s%s", used ? ", " : "",
	    method);
}

const struct route *
route_find(const struct route *table, size_t n, struct http_request *req,
    int *status, char *allow, size_t allow_len)
{
	const char *method = req->method;
	bool path_known = false;
	size_t i;

	allow[0] = '\0';
	req->head = strcmp(method, "HEAD") == 0;
	if (req->head)
		method = "GET";
	for (i = 0; i < n; i++) {
		if (!route_match(table[i].pattern, req->path, req))
			continue;
		if (strcmp(table[i].method, method) == 0)
			return &table[i];
		path_known = true;
	}
	if (!path_known) {
		*status = 404;
		return NULL;
	}
	/* Collect every method this path answers to. */
	for (i = 0; i < n; i++) {
		struct http_request scratch = *req;

		if (!route_match(table[i].pattern, req->path, &scratch))
			continue;
		allow_add(allow, allow_len, table[i].method);
		if (strcmp(table[i].method, "GET") == 0)
			allow_add(allow, allow_len, "HEAD");
	}
	*status = 405;
	return NULL;
}

/*
 * Whether a path under a declared resource names something it has: the
 * resource, a row, a row's increments (with a counter) or one of its image
 * fields. Anything else is 404, whatever the method.
 */
static bool
subpath_known(const struct resource *res, const char *path)
{
	const char *p = path + 4 + strlen(res->name), *sub;
	const struct field *f;
	char name[64];
	size_t n;

	if (*p++ != '/' || (sub = strchr(p, '/')) == NULL)
		return true; /* the resource, or a row */
	sub++;
	if (strchr(sub, '/') != NULL || (n = strlen(sub)) == 0 ||
	    n >= sizeof(name))
		return false;
	if (strcmp(sub, "increments") == 0)
		return res->counters;
	memcpy(name, sub, n + 1);
	return (f = resource_field(res, name)) != NULL && f->type == FT_IMAGE;
}

void
route_dispatch(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	const struct resource *res;
	const struct route *rt;
	char allow[128];
	int status;

	if ((res = route_resource_of(app, req->path)) != NULL) {
		if (!subpath_known(res, req->path)) {
			http_error(resp, 404, "not_found",
			    "no such path under this resource");
			return;
		}
		rt = route_find(resource_routes,
		    sizeof(resource_routes) / sizeof(resource_routes[0]), req,
		    &status, allow, sizeof(allow));
		resp->resource = (int)(res - app->cfg.resources.v);
	} else
		rt = route_find(routes, sizeof(routes) / sizeof(routes[0]), req,
		    &status, allow, sizeof(allow));
	if (rt != NULL) {
		resp->route = rt->metric;
		rt->handler(app, req, resp);
		return;
	}
	/*
	 * OPTIONS is answered on every known path: 204 with the methods, and
	 * for a CORS preflight what the origin may do there.
	 */
	if (status == 405 && strcmp(req->method, "OPTIONS") == 0) {
		http_header_add(resp, "Allow", "%s, OPTIONS", allow);
		if (cors_is_preflight(req))
			cors_preflight(&app->cfg, req, resp, allow);
		http_body(resp, 204, NULL, NULL, 0, NULL);
		return;
	}
	if (status == 405) {
		http_header_add(resp, "Allow", "%s, OPTIONS", allow);
		http_error(resp, 405, "method_not_allowed",
		    "method not allowed for this resource");
		return;
	}
	http_error(resp, 404, "not_found", "no such resource");
}
