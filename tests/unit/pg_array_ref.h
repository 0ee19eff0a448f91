/* Reference parser of PostgreSQL array literals, shared by the unit tests
 * that check what the coordinator sends as array parameters (test_strbuf,
 * test_batch). Test code only: static functions, included once per test. */
#ifndef PG_ARRAY_REF_H
#define PG_ARRAY_REF_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Parses a one-dimensional array literal the way PostgreSQL's array_in
 * does: elements separated by commas; a quoted element may hold anything,
 * backslash escaping the next character; an unquoted element ends at a
 * comma or brace, trailing whitespace is dropped, backslashes escape, and
 * an unquoted NULL (any case) is the null value. Returns the number of
 * elements or -1 when the literal is malformed. elems[i] is malloc'd
 * (NULL for a null). */
static int s_pg_fail(char **elems, int n, char *cur)
{
    free(cur);
    for (int i = 0; i < n; i++)
        free(elems[i]);
    return -1;
}

static bool s_pg_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int s_pg_parse(const char *lit, char **elems, int max)
{
    const char *p = lit;
    int n = 0;
    while (s_pg_space(*p))
        p++;
    if (*p++ != '{')
        return -1;
    while (s_pg_space(*p))
        p++;
    if (*p == '}')
        return p[1] == '\0' ? 0 : -1;
    for (;;) {
        if (n == max)
            return s_pg_fail(elems, n, NULL);
        while (s_pg_space(*p))
            p++;
        char *e = malloc(strlen(p) + 1);
        size_t len = 0;
        bool quoted = false, escaped_any = false;
        if (*p == '"') {
            quoted = true;
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && !*++p)
                    return s_pg_fail(elems, n, e);
                e[len++] = *p++;
            }
            if (*p++ != '"')
                return s_pg_fail(elems, n, e);
        } else {
            size_t keep = 0; /* length without trailing whitespace */
            while (*p && *p != ',' && *p != '}' && *p != '{' && *p != '"') {
                if (*p == '\\') {
                    escaped_any = true;
                    if (!*++p)
                        return s_pg_fail(elems, n, e);
                    e[len++] = *p++;
                    keep = len;
                    continue;
                }
                e[len++] = *p;
                if (!s_pg_space(*p))
                    keep = len;
                p++;
            }
            len = keep;
            if (len == 0)
                return s_pg_fail(elems, n, e); /* empty unquoted element */
        }
        e[len] = '\0';
        if (!quoted && !escaped_any && strcasecmp(e, "NULL") == 0) {
            free(e);
            e = NULL;
        }
        elems[n++] = e;
        while (s_pg_space(*p))
            p++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}' && p[1] == '\0')
            return n;
        return s_pg_fail(elems, n, NULL);
    }
}

#endif
