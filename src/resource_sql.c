/* The SQL that makes a database ready for the declared resources. */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "resource_sql.h"

static const char *
column_type(const struct field *f)
{
	switch (f->type) {
	case FT_BOOLEAN:
		return "boolean";
	case FT_INTEGER:
		return "bigint";
	case FT_NUMBER:
		return "double precision";
	case FT_UUID:
		return "uuid";
	case FT_TIMESTAMP:
		return "timestamptz";
	case FT_JSON:
		return "jsonb";
	case FT_TEXT:
	case FT_ENUM:
	case FT_IMAGE:
		break;
	}
	return "text";
}

/* The JSON type a change's value of f has (or null). */
static const char *
json_type(const struct field *f)
{
	switch (f->type) {
	case FT_BOOLEAN:
		return "boolean";
	case FT_INTEGER:
	case FT_NUMBER:
		return "number";
	case FT_JSON:
		return "object";
	case FT_TEXT:
	case FT_UUID:
	case FT_TIMESTAMP:
	case FT_ENUM:
	case FT_IMAGE:
		break;
	}
	return "string";
}

/* A string literal: quotes doubled, so any value is data. */
static void
print_literal(const char *s, FILE *out)
{
	fputc('\'', out);
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			fputc('\'', out);
		fputc(*s, out);
	}
	fputc('\'', out);
}

/* The checks the database makes of what profilecache checks already. */
static void
print_checks(const struct resource *res, const struct field *f, FILE *out)
{
	size_t i;

	if (f->type == FT_TEXT && f->max_length >= 0)
		fprintf(out,
		    "alter table public.\"%s\" drop constraint if exists %s_%s_length;\n"
		    "alter table public.\"%s\" add constraint %s_%s_length check "
		    "(pg_catalog.char_length(\"%s\") <= %ld) not valid;\n",
		    res->table, res->table, f->name, res->table, res->table,
		    f->name, f->name, f->max_length);
	if (f->type == FT_ENUM) {
		fprintf(out,
		    "alter table public.\"%s\" drop constraint if exists %s_%s_values;\n"
		    "alter table public.\"%s\" add constraint %s_%s_values check (\"%s\" in (",
		    res->table, res->table, f->name, res->table, res->table,
		    f->name, f->name);
		for (i = 0; i < f->nvalues; i++) {
			fputs(i > 0 ? ", " : "", out);
			print_literal(f->values[i], out);
		}
		fprintf(out, ")) not valid;\n");
	}
	if (f->policy == FP_COUNTER && (f->has_min || f->has_max)) {
		fprintf(out,
		    "alter table public.\"%s\" drop constraint if exists %s_%s_bounds;\n"
		    "alter table public.\"%s\" add constraint %s_%s_bounds check (",
		    res->table, res->table, f->name, res->table, res->table,
		    f->name);
		if (f->has_min)
			fprintf(out, "\"%s\" >= %.0f", f->name, f->min);
		if (f->has_max)
			fprintf(out, "%s\"%s\" <= %.0f",
			    f->has_min ? " and " : "", f->name, f->max);
		fprintf(out, ") not valid;\n");
	}
}

/* The registry's counters: {"field": {"min": n|null, "max": n|null}}. */
static void
print_counters(const struct resource *res, FILE *out)
{
	const struct field *f;
	const char *sep = "";
	size_t i;

	fputs("'{", out);
	for (i = 0; i < res->nfields; i++) {
		f = &res->fields[i];
		if (f->policy != FP_COUNTER)
			continue;
		fprintf(out, "%s\"%s\": {\"min\": ", sep, f->name);
		if (f->has_min)
			fprintf(out, "%.0f", f->min);
		else
			fputs("null", out);
		fputs(", \"max\": ", out);
		if (f->has_max)
			fprintf(out, "%.0f", f->max);
		else
			fputs("null", out);
		fputs("}", out);
		sep = ", ";
	}
	fputs("}'", out);
}

/* The table, its columns and checks, row-level security and grants. */
static void
print_table(const struct resource *res, FILE *out)
{
	const struct field *f;
	size_t i;

	fprintf(out,
	    "create table if not exists public.\"%s\" (\n"
	    "    \"%s\" uuid primary key default gen_random_uuid()\n);\n",
	    res->table, res->key->name);
	for (i = 0; i < res->nfields; i++) {
		f = &res->fields[i];
		if (f == res->key)
			continue;
		fprintf(out,
		    "alter table public.\"%s\" add column if not exists \"%s\" %s%s;\n",
		    res->table, f->name, column_type(f),
		    strcmp(f->name, "updated_at") == 0 ||
		            strcmp(f->name, "created_at") == 0 ?
		        " not null default pg_catalog.now()" :
		        f->type == FT_BOOLEAN   ? " not null default false" :
		        f->policy == FP_COUNTER ? " not null default 0" :
		                                  "");
		print_checks(res, f, out);
	}
	fprintf(out,
	    "alter table public.\"%s\" add column if not exists field_versions jsonb "
	    "not null default '{}';\n",
	    res->table);
	if (res->owner != NULL && res->owner != res->key)
		fprintf(out,
		    "create index if not exists %s_%s on public.\"%s\" (\"%s\");\n",
		    res->table, res->owner->name, res->table, res->owner->name);

	/* Row-level security: the API roles read what profilecache would show
	 * them, and write nothing: writes go through profilecache. */
	fprintf(out, "alter table public.\"%s\" enable row level security;\n",
	    res->table);
	fprintf(out, "drop policy if exists %s_read on public.\"%s\";\n",
	    res->table, res->table);
	if (res->owner_reads)
		fprintf(out,
		    "create policy %s_read on public.\"%s\" for select to authenticated\n"
		    "    using ((select auth.uid()) = \"%s\");\n",
		    res->table, res->table, res->owner->name);
	else if (res->visibility != NULL && res->owner != NULL)
		fprintf(out,
		    "create policy %s_read on public.\"%s\" for select to anon, authenticated\n"
		    "    using (\"%s\" = false or (select auth.uid()) = \"%s\");\n",
		    res->table, res->table, res->visibility->name,
		    res->owner->name);
	else if (res->visibility != NULL)
		fprintf(out,
		    "create policy %s_read on public.\"%s\" for select to anon, authenticated\n"
		    "    using (\"%s\" = false);\n",
		    res->table, res->table, res->visibility->name);
	else
		fprintf(out,
		    "create policy %s_read on public.\"%s\" for select to anon, authenticated\n"
		    "    using (true);\n",
		    res->table, res->table);
	fprintf(out,
	    "grant select on table public.\"%s\" to anon, authenticated;\n",
	    res->table);
	fprintf(out,
	    "grant select, insert, update, delete on table public.\"%s\" to service_role;\n",
	    res->table);
}

/*
 * The table's row in the registry, which lets the functions of
 * 30_apply.sql reach it, and the triggers that version writes and
 * tombstone deletes made outside profilecache.
 */
static void
print_registration(const struct resource *res, FILE *out)
{
	const struct field *f;
	const char *sep = "";
	size_t i;

	fprintf(out,
	    "insert into profilecache.resources (name, tbl, key, owner, columns, types%s)\n"
	    "    values ('%s', 'public.\"%s\"', '%s', ",
	    res->counters ? ", counters" : "", res->item, res->table,
	    res->key->name);
	if (res->owner != NULL && res->owner != res->key)
		fprintf(out, "'%s', '{", res->owner->name);
	else
		fprintf(out, "null, '{");
	for (i = 0; i < res->nfields; i++) {
		f = &res->fields[i];
		if (!resource_change_writes(res, f))
			continue;
		fprintf(out, "%s\"%s\"", sep, f->name);
		sep = ",";
	}
	fputs("}', '{", out);
	sep = "";
	for (i = 0; i < res->nfields; i++) {
		f = &res->fields[i];
		if (!resource_change_writes(res, f))
			continue;
		fprintf(out, "%s\"%s\": \"%s\"", sep, f->name, json_type(f));
		sep = ", ";
	}
	fputs("}'", out);
	if (res->counters) {
		fputs(", ", out);
		print_counters(res, out);
	}
	fprintf(out,
	    ")\n    on conflict (name) do update\n"
	    "        set tbl = excluded.tbl, key = excluded.key, owner = excluded.owner,\n"
	    "            columns = excluded.columns, types = excluded.types%s;\n",
	    res->counters ? ", counters = excluded.counters" : "");
	/* Writes and deletes made outside profilecache are versioned too. */
	fprintf(out,
	    "drop trigger if exists %s_version_outside_write on public.\"%s\";\n"
	    "create trigger %s_version_outside_write before insert or update on "
	    "public.\"%s\"\n    for each row execute function "
	    "profilecache.version_outside_write();\n",
	    res->table, res->table, res->table, res->table);
	fprintf(out,
	    "drop trigger if exists %s_tombstone_outside_delete on public.\"%s\";\n"
	    "create trigger %s_tombstone_outside_delete after delete on "
	    "public.\"%s\"\n    for each row execute function "
	    "profilecache.tombstone_outside_delete();\n",
	    res->table, res->table, res->table, res->table);
}

static void
print_header(const struct resource *res, FILE *out)
{
	fprintf(out,
	    "\n-- [resource %s]: GET /v1/%s/{%s}, answers {\"%s\": ...}\n",
	    res->name, res->name, res->key->name, res->item);
}

/* Profiles' part: the registration (30_apply.sql holds it as printed). */
static void
print_builtin(const struct resource *res, FILE *out)
{
	print_header(res, out);
	fprintf(out,
	    "-- (the table is 10_profiles.sql's, which adopts an existing one)\n");
	print_registration(res, out);
}

enum pc_result
resources_sql(const struct resource *builtin, const struct resources *set,
    FILE *out)
{
	size_t i;

	fprintf(out,
	    "-- The declared resources' tables, printed by profilecache-admin sql\n"
	    "-- from the configuration. Load schema/postgres/30_apply.sql first\n"
	    "-- (and 60_increments.sql for a table with a counter).\n"
	    "-- Idempotent: a table that exists gets only the columns it lacks (an\n"
	    "-- existing column of another type is left as it is: check it).\n"
	    "begin;\n");
	print_builtin(builtin, out);
	for (i = 0; i < set->n; i++) {
		print_header(&set->v[i], out);
		print_table(&set->v[i], out);
		print_registration(&set->v[i], out);
	}
	fprintf(out, "\nnotify pgrst, 'reload schema';\ncommit;\n");
	return fflush(out) == 0 && !ferror(out) ? PC_OK : PC_ERROR;
}
