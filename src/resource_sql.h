/* The SQL that makes a database ready for the declared resources. */
#ifndef PC_RESOURCE_SQL_H
#define PC_RESOURCE_SQL_H

#include <stdio.h>

#include "resource.h"
#include "result.h"

/*
 * Print a reviewable migration for every resource of set: each table
 * created if missing, every declared column and field_versions added if
 * missing, row-level security with owner policies for the API roles,
 * grants to service_role, and the table's row in profilecache.resources,
 * which lets profilecache_apply and profilecache_delete
 * (schema/postgres/50_resources.sql, loaded first) reach it. One
 * transaction; idempotent. PC_ERROR when out cannot be written.
 */
enum pc_result resources_sql(const struct resources *set, FILE *out);

#endif
