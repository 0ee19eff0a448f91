/* SQL migrations compiled into the binary (see embed_migrations.cmake),
 * applied in version order at start and recorded in schema_migrations. */
#ifndef MIGRATIONS_H
#define MIGRATIONS_H

typedef struct {
    int version;
    const char *name;
    const char *sql;
} migration_t;

/* Terminated by an entry with name == NULL. */
extern const migration_t migrations[];

#endif
