/* The audit chain (store migration 013, store_audit.c): sealing, run by
 * the coordinator's query thread, and verifying, run by orchctl. */
#ifndef STORE_AUDIT_H
#define STORE_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The query thread's view of the chain's end: set by a hand-over round,
 * advanced by each block of rows it hashes, forgotten on any doubt. */
typedef struct {
    bool known;
    int64_t id;             /* the last sealed row (or the anchor's) */
    unsigned char hash[32]; /* its hash */
} store_audit_head_t;

/* The loop's request to the query thread: one sealing round that reads
 * the rows back. body: {"budget_ms": N} (rows as far as the budget goes;
 * forgets head), or {"upto": ID} (every row below ID, whatever it takes:
 * the hand-over to the loop's rows, coord_seal.c; sets head).
 * Returns the reply body (caller frees): {"status":200,"sealed":N,
 * "last_id":ID,"more":bool,"head_id":ID} (head_id: the chain's end after
 * the round) or {"status":503,"error":"..."}. */
#define QUERY_CMD_SEAL 1001
char *store_audit_seal(void *pgconn, store_audit_head_t *head, const json_t *body);

/* The rows the loop committed since its last block, in id order, each as
 * AUDIT_NFIELDS fields (a 0 byte for NULL, else a 1 byte, the length as a
 * native uint32_t and the bytes): hashed onto head into one audit_seals
 * block, written only while the stored chain still ends at head (else
 * nothing, and head is forgotten: the reply is 409 and the loop goes back
 * to reading rows). No rows: only that check. Reply {"status":200,
 * "sealed":N,"last_id":ID} or an error. */
#define QUERY_CMD_SEAL_ROWS 1002
char *store_audit_seal_rows(void *pgconn, store_audit_head_t *head, const void *rows,
                            size_t len);

/* After retention dropped days of job_events: moves the anchor past them
 * and deletes their hashes (*trimmed). 0, or ORCH_EDB with err. */
int store_audit_trim(void *pgconn, long *trimmed, char *err, size_t errlen);

typedef struct {
    int64_t from_id;        /* the chain was checked from after this id */
    int64_t rows;           /* sealed rows checked */
    int64_t unsealed;       /* the newest rows, not sealed yet */
    int64_t bad;            /* rows (or hashes) that do not match */
    int64_t first_bad_id;   /* 0: none */
    int64_t first_bad_job;  /* 0: unknown (the row is gone) */
    char first_bad_event[32];
    char first_bad_what[160];
    int64_t head_id;        /* the chain's last sealed row checked, and its hash (hex): */
    char head_hash[65];     /* a checkpoint to record elsewhere */
} store_audit_report_t;

/* A checkpoint recorded earlier (head_id, head_hash of a past verify):
 * the chain must still pass through it. id 0: none. */
typedef struct {
    int64_t id;
    unsigned char hash[32];
} store_audit_checkpoint_t;

/* Recomputes the chain in conninfo's database, in one snapshot, from the
 * anchor, or from the first row at or after since_us (wall-clock
 * microseconds; 0: all). 0 (rep says whether it is intact), or an
 * ORCH_E... code with the reason in err. */
int store_audit_verify(const char *conninfo, int64_t since_us,
                       const store_audit_checkpoint_t *expect, store_audit_report_t *rep,
                       char *err, size_t errlen);
/* Parses "ID:HEX" (64 hex digits) into cp: 0 or ORCH_EINVAL. */
int store_audit_checkpoint_parse(const char *text, store_audit_checkpoint_t *cp);

#endif
