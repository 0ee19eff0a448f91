/* One step of the audit chain (store migration 013; docs/operations.md,
 * "Audit chain"), shared by the loop that hashes the rows it commits
 * (coord_seal.c) and the code that reads rows back and verifies
 * (store_audit.c): both must hash a row's content byte for byte alike. */
#ifndef AUDIT_HASH_H
#define AUDIT_HASH_H

/* The columns of one job_events row the chain hashes, in this order, as
 * PostgreSQL prints them: id, job_id, at (microseconds since the epoch),
 * event, attempt, worker, state, detail, epoch. NULL: a NULL column. */
#define AUDIT_NFIELDS 9

/* out = SHA-256(prev || content): each field a 0 byte when NULL, else a
 * 1 byte, its length (4 bytes, big endian) and its bytes. out may be prev. */
void audit_hash(const unsigned char prev[32], const char *const f[AUDIT_NFIELDS],
                unsigned char out[32]);

#endif
