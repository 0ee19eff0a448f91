/* The coordinator's prepared statements. Every value travels as a
 * parameter; batches travel as arrays (PostgreSQL's binary array format,
 * store_write.c) unnested in SQL, so one statement writes a whole loop
 * turn. Timestamps are wall-clock
 * microseconds since the epoch. */
#ifndef STORE_SQL_H
#define STORE_SQL_H

#define STORE_US_TO_TS(col) "(timestamptz 'epoch' + (" col ") * interval '1 microsecond')"

/* The batch write: new jobs (20 columns), changed jobs (13) and their
 * audit events (8), each its own statement in the commit's pipeline (the
 * pipeline is one transaction, and its statements cost no round trip of
 * their own). A single row goes as plain parameters (..._1); several as
 * arrays unnested in SQL. Measured on one lone submission: one
 * data-modifying WITH over unnested arrays for the job and its event took
 * about 0.07 ms more per commit than two single-row INSERTs.
 *
 * The arrays are unnested in a subquery's select list, one unnest per
 * array (they advance in lockstep, as ROWS FROM's do), not in FROM: a
 * function scan in FROM first copies each array's elements into a
 * tuplestore of its own, one palloc'd tuple per element, which was a fifth
 * of the backend's time in a batch enqueue (perf: tuplestore_putvalues and
 * heap_form_minimal_tuple); the select list hands them on one row at a
 * time (ProjectSet). The plans are otherwise the same (the UPDATE joins by
 * jobs_pkey). docs/benchmarks.md, "Unnesting in the select list". */
#define STORE_SQL_JOB_COLUMNS                                                                      \
    "id, queue, type, priority, state, attempt, attempt_base, max_attempts, timeout_ms, payload,"   \
    " result, error, worker, progress, idempotency_key, run_at, created_at, started_at,"           \
    " finished_at, tenant"
#define STORE_SQL_INS_HEAD                                                                         \
    "INSERT INTO jobs (" STORE_SQL_JOB_COLUMNS ")"                                                 \
    " SELECT u.id, u.queue, u.type, u.priority, u.state, u.attempt, u.attempt_base,"               \
    "  u.max_attempts, u.timeout_ms, u.payload::json, u.result::json, u.error, u.worker,"          \
    "  u.progress, u.ikey, " STORE_US_TO_TS("u.run_at") ", " STORE_US_TO_TS("u.created_at") ","    \
    "  " STORE_US_TO_TS("u.started_at") ", " STORE_US_TO_TS("u.finished_at") ", u.tenant FROM "
#define STORE_SQL_INS_UNNEST                                                                       \
    "(SELECT unnest($1::bigint[]) AS id, unnest($2::text[]) AS queue, unnest($3::text[]) AS type," \
    "  unnest($4::int[]) AS priority, unnest($5::text[]) AS state, unnest($6::int[]) AS attempt,"  \
    "  unnest($7::int[]) AS attempt_base, unnest($8::int[]) AS max_attempts,"                      \
    "  unnest($9::bigint[]) AS timeout_ms, unnest($10::text[]) AS payload,"                        \
    "  unnest($11::text[]) AS result, unnest($12::text[]) AS error, unnest($13::text[]) AS worker," \
    "  unnest($14::int[]) AS progress, unnest($15::text[]) AS ikey, unnest($16::bigint[]) AS run_at," \
    "  unnest($17::bigint[]) AS created_at, unnest($18::bigint[]) AS started_at,"                  \
    "  unnest($19::bigint[]) AS finished_at, unnest($20::text[]) AS tenant) AS u"
#define STORE_SQL_INS STORE_SQL_INS_HEAD STORE_SQL_INS_UNNEST
#define STORE_SQL_INS_1_VALUES                                                                     \
    "$1::bigint, $2, $3, $4::int, $5, $6::int, $7::int, $8::int, $9::bigint, $10::json,"           \
    "  $11::json, $12, $13, $14::int, $15, " STORE_US_TO_TS("$16::bigint") ","                     \
    "  " STORE_US_TO_TS("$17::bigint") ", " STORE_US_TO_TS("$18::bigint") ","                       \
    "  " STORE_US_TO_TS("$19::bigint") ", $20"
#define STORE_SQL_INS_1                                                                            \
    "INSERT INTO jobs (" STORE_SQL_JOB_COLUMNS ") VALUES (" STORE_SQL_INS_1_VALUES ")"
/* With the pipeline's lease check folded in ($21: the epoch), see
 * STORE_SQL_EV_CHK. */
#define STORE_SQL_INS_CHK STORE_SQL_INS_HEAD "orch_lease_check($21::bigint), " STORE_SQL_INS_UNNEST
#define STORE_SQL_INS_1_CHK                                                                        \
    "INSERT INTO jobs (" STORE_SQL_JOB_COLUMNS ") SELECT " STORE_SQL_INS_1_VALUES                   \
    " FROM orch_lease_check($21::bigint)"

#define STORE_SQL_UPD                                                                              \
    "UPDATE jobs j SET state = u.state, attempt = u.attempt, attempt_base = u.attempt_base,"       \
    "  max_attempts = u.max_attempts, result = u.result::json, error = u.error,"                  \
    "  worker = u.worker, progress = u.progress, run_at = " STORE_US_TO_TS("u.run_at") ","         \
    "  started_at = " STORE_US_TO_TS("u.started_at") ","                                           \
    "  finished_at = " STORE_US_TO_TS("u.finished_at") ", priority = u.priority,"                  \
    "  updated_at = now()"                                                                         \
    " FROM (SELECT unnest($1::bigint[]) AS id, unnest($2::text[]) AS state,"                      \
    "  unnest($3::int[]) AS attempt, unnest($4::int[]) AS attempt_base,"                           \
    "  unnest($5::int[]) AS max_attempts, unnest($6::text[]) AS result, unnest($7::text[]) AS error," \
    "  unnest($8::text[]) AS worker, unnest($9::int[]) AS progress, unnest($10::bigint[]) AS run_at," \
    "  unnest($11::bigint[]) AS started_at, unnest($12::bigint[]) AS finished_at,"                 \
    "  unnest($13::int[]) AS priority) AS u"                                                       \
    " WHERE j.id = u.id"
#define STORE_SQL_UPD_1                                                                            \
    "UPDATE jobs SET state = $2, attempt = $3::int, attempt_base = $4::int,"                       \
    "  max_attempts = $5::int, result = $6::json, error = $7, worker = $8, progress = $9::int,"    \
    "  run_at = " STORE_US_TO_TS("$10::bigint") ", started_at = " STORE_US_TO_TS("$11::bigint") "," \
    "  finished_at = " STORE_US_TO_TS("$12::bigint") ", priority = $13::int, updated_at = now()"   \
    " WHERE id = $1::bigint"

#define STORE_SQL_EV_HEAD                                                                          \
    "INSERT INTO job_events (job_id, at, event, attempt, worker, detail, id, state)"               \
    " SELECT e.job_id, " STORE_US_TO_TS("e.at") ", e.event, e.attempt, e.worker, e.detail::json,"  \
    "  e.id, e.state FROM "
#define STORE_SQL_EV_UNNEST                                                                        \
    "(SELECT unnest($1::bigint[]) AS job_id, unnest($2::bigint[]) AS at, unnest($3::text[]) AS event," \
    "  unnest($4::int[]) AS attempt, unnest($5::text[]) AS worker, unnest($6::text[]) AS detail,"  \
    "  unnest($7::bigint[]) AS id, unnest($8::text[]) AS state) AS e"
#define STORE_SQL_EV STORE_SQL_EV_HEAD STORE_SQL_EV_UNNEST
#define STORE_SQL_EV_1                                                                             \
    "INSERT INTO job_events (job_id, at, event, attempt, worker, detail, id, state)"               \
    " VALUES ($1::bigint, " STORE_US_TO_TS("$2::bigint") ", $3, $4::int, $5, $6::json,"            \
    "  $7::bigint, $8)"

/* A batch write whose pipeline sent nothing before it carries the
 * pipeline's lease check in its first statement, one statement less per
 * commit: the new jobs' rows when there are any (STORE_SQL_INS_CHK), else
 * the audit rows ($9: the epoch), which go before the updates of existing
 * rows. So the check runs before anything that could meet another leader's
 * rows (a deposed leader is refused with OR001 before it locks any), and
 * sets orch.epoch before any audit row's default reads it. The rows are
 * selected from the check, with at least one row beside it, so it runs
 * (once: a function scan keeps its result). Its advisory lock is held to
 * the commit (migration 016). */
#define STORE_SQL_EV_CHK STORE_SQL_EV_HEAD "orch_lease_check($9::bigint), " STORE_SQL_EV_UNNEST
#define STORE_SQL_EV_1_CHK                                                                         \
    "INSERT INTO job_events (job_id, at, event, attempt, worker, detail, id, state)"               \
    " SELECT $1::bigint, " STORE_US_TO_TS("$2::bigint") ", $3, $4::int, $5, $6::json,"             \
    "  $7::bigint, $8 FROM orch_lease_check($9::bigint)"

/* A lone submission (a commit of one new job and its audit row, nothing
 * else) with the pipeline's lease check folded in: one statement where
 * the fence, STORE_SQL_INS_1 and STORE_SQL_EV_1 are three. The check runs
 * first (the job's row is selected from it; it fails the statement and the
 * transaction when the lease is gone) and sets orch.epoch before the audit
 * row's default reads it. pgbench, one client, interleaved: 165-198 us a
 * commit against 191-212 us for the three (docs/benchmarks.md). Parameters:
 * STORE_SQL_INS_1's, then STORE_SQL_EV_1's as $21..$28, then the epoch. */
#define STORE_SQL_SUBMIT_1                                                                         \
    "WITH j AS (INSERT INTO jobs (" STORE_SQL_JOB_COLUMNS ") SELECT " STORE_SQL_INS_1_VALUES        \
    " FROM orch_lease_check($29::bigint) RETURNING id)"                                            \
    " INSERT INTO job_events (job_id, at, event, attempt, worker, detail, id, state)"               \
    " SELECT $21::bigint, " STORE_US_TO_TS("$22::bigint") ", $23, $24::int, $25, $26::json,"       \
    "  $27::bigint, $28 FROM j"
#define STORE_SUBMIT_1_NPARAMS (STORE_WRITE_NINS + STORE_WRITE_NEVPARAMS + 1)

/* Parameters of the three: store_write_params lays their arrays out in
 * one array of parameters, jobs inserted first, then changed, then
 * events. */
#define STORE_WRITE_NINS 20
#define STORE_WRITE_NUPD 13
#define STORE_WRITE_NEVPARAMS 8
#define STORE_WRITE_NPARAMS (STORE_WRITE_NINS + STORE_WRITE_NUPD + STORE_WRITE_NEVPARAMS)

/* Reserves audit row ids up to $1 (they are the coordinator's to assign):
 * a later session's nextval starts above them. */
#define STORE_SQL_EVENT_IDS "SELECT setval('job_events_id_seq', $1::bigint)"

/* The leader lease (migration 008 holds the functions and why the row
 * lock makes a renewal and an acquire exclude each other). */
#define STORE_SQL_LEASE_ACQUIRE                                                                    \
    "SELECT held, coalesce(holder, ''), coalesce(advertise, ''), epoch, expires_in_ms"             \
    " FROM orch_lease_acquire($1, $2, $3::bigint)"
#define STORE_SQL_LEASE_FENCE "SELECT orch_lease_renew($1::bigint, $2::bigint)"
#define STORE_SQL_LEASE_CHECK "SELECT orch_lease_check($1::bigint)"
/* A chained pipeline's first statement: the pipeline before it committed
 * (its last audit row is there: job id, row id, time in µs; migration 021). */
#define STORE_SQL_CHAIN_CHECK "SELECT orch_chain_check($1::bigint, $2::bigint, $3::bigint)"
#define STORE_SQL_LEASE_RELEASE                                                                    \
    "UPDATE leader_lease SET expires_at = now() WHERE id = 1 AND epoch = $1::bigint"
/* SQLSTATE orch_lease_renew raises when the lease is not ours any more. */
#define STORE_LEASE_LOST_SQLSTATE "OR001"

#define STORE_JOB_COLUMNS                                                                          \
    "id, queue, type, priority, state, attempt, attempt_base, max_attempts, timeout_ms,"          \
    " payload::text, idempotency_key,"                                                             \
    " (extract(epoch from created_at) * 1000000)::bigint,"                                         \
    " (extract(epoch from run_at) * 1000000)::bigint, worker,"                                     \
    " (extract(epoch from started_at) * 1000000)::bigint, tenant"

/* Next page of queued jobs of a lane (queue, type, tenant) after the
 * window bound (index jobs_ready, migration 017). */
#define STORE_SQL_REFILL                                                                           \
    "SELECT " STORE_JOB_COLUMNS " FROM jobs"                                                       \
    " WHERE queue = $1 AND type = $2 AND tenant = $6 AND state = 'queued'"                         \
    "  AND (priority, id) > ($3::int, $4::bigint)"                                                 \
    " ORDER BY priority, id LIMIT $5"

/* The audit rows a statement's data-modifying WITH query `cte` inserted
 * (RETURNING *), as the audit chain hashes them (coord_seal.c): JSON
 * [[id, job_id, at_us, event, attempt, worker, state, detail, epoch], ...]
 * in id order, NULL when none. */
#define STORE_SQL_AUDIT_ROWS(cte)                                                                  \
    "(SELECT json_agg(json_build_array(id, job_id, (extract(epoch from at) * 1000000)::bigint,"   \
    "  event, attempt, worker, state, detail::text, epoch) ORDER BY id)::text FROM " cte ")"

/* Cancel of a job that is not in memory. Answers (cancelled, prior state,
 * queue, type, attempt, tenant). $5: the tenant a scoped key acts for
 * (NULL: any): another tenant's job is "no such job".
 * $3: the operator's key name (the event's actor; NULL: left out). */
#define STORE_SQL_CANCEL                                                                           \
    "WITH v AS (SELECT id, state, queue, type, attempt, tenant FROM jobs"                          \
    "  WHERE id = $1 AND ($5::text IS NULL OR tenant = $5)),"                                      \
    " c AS (UPDATE jobs SET state = 'cancelled', finished_at = now(), updated_at = now(),"         \
    "  error = $2 WHERE id = (SELECT id FROM v) AND state IN ('waiting', 'scheduled', 'queued')"   \
    "  RETURNING id, attempt, queue, state),"                                                      \
    " e AS (INSERT INTO job_events (id, job_id, at, event, attempt, state, detail)"                \
    "  SELECT $4::bigint, id, now(), 'cancelled', attempt, 'cancelled',"                           \
    "   json_strip_nulls(json_build_object('reason', $2::text, 'actor', $3::text)) FROM c"         \
    "  RETURNING *)"                                                                               \
    " SELECT (SELECT count(*) FROM c), (SELECT state FROM v), (SELECT queue FROM v),"              \
    "  (SELECT type FROM v), (SELECT attempt FROM v), (SELECT tenant FROM v), "                    \
    STORE_SQL_AUDIT_ROWS("e")

/* Operator retry of a dead or cancelled job not in memory: back to queued
 * with a fresh attempt budget. Answers the job row (empty when not allowed)
 * and, separately, the prior state. $2: the operator's key name (actor);
 * $4: the tenant a scoped key acts for (NULL: any). */
#define STORE_SQL_RETRY                                                                            \
    "WITH prior AS (SELECT state FROM jobs WHERE id = $1 AND ($4::text IS NULL OR tenant = $4)),"  \
    " r AS (UPDATE jobs SET state = 'queued', attempt_base = attempt, result = NULL, error = NULL," \
    "  finished_at = NULL, worker = NULL, progress = NULL, updated_at = now()"                    \
    "  WHERE id = $1 AND ($4::text IS NULL OR tenant = $4) AND state IN ('dead', 'cancelled')"    \
    "  RETURNING " STORE_JOB_COLUMNS "),"                                                          \
    " e AS (INSERT INTO job_events (id, job_id, at, event, attempt, state, detail)"                \
    "  SELECT $3::bigint, id, now(), 'retried', attempt, 'queued',"                                \
    "   json_strip_nulls(json_build_object('from', (SELECT state FROM prior), 'actor', $2::text))"\
    "  FROM r RETURNING *)"                                                                        \
    " SELECT r.*, " STORE_SQL_AUDIT_ROWS("e") ", (SELECT state FROM prior)"                        \
    " FROM (SELECT 1) one LEFT JOIN r ON true"

#define STORE_SQL_QUEUE_SET                                                                        \
    "INSERT INTO queues (name, concurrency, rate_limit, rate_burst, priority, updated_at)"        \
    " VALUES ($1, $2::int, $3::float8, $4::int, $5::int, now())"                                   \
    " ON CONFLICT (name) DO UPDATE SET concurrency = EXCLUDED.concurrency,"                        \
    "  rate_limit = EXCLUDED.rate_limit, rate_burst = EXCLUDED.rate_burst,"                        \
    "  priority = EXCLUDED.priority, updated_at = now()"

/* Deletes the queue's row only while no job names the queue; answers the
 * queue's job count and whether the row went. */
#define STORE_SQL_QUEUE_DELETE                                                                     \
    "WITH j AS (SELECT count(*) AS n FROM jobs WHERE queue = $1),"                                 \
    " d AS (DELETE FROM queues WHERE name = $1 AND (SELECT n FROM j) = 0 RETURNING 1)"             \
    " SELECT (SELECT n FROM j), (SELECT count(*) FROM d)"

#define STORE_SQL_PAUSE                                                                            \
    "INSERT INTO queues (name, paused, updated_at) VALUES ($1, $2::boolean, now())"                \
    " ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused, updated_at = now()"

#define STORE_SQL_WORKER                                                                           \
    "INSERT INTO workers (name, version, queues, types, slots, state, connected_at, last_seen_at)" \
    " VALUES ($1, $2, $3::text[], $4::text[], $5::int, $6, now(), now())"                          \
    " ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, queues = EXCLUDED.queues,"      \
    "  types = EXCLUDED.types, slots = EXCLUDED.slots, state = EXCLUDED.state,"                    \
    "  connected_at = CASE WHEN EXCLUDED.state = 'connected' THEN now()"                           \
    "  ELSE workers.connected_at END, last_seen_at = now()"

/* Deferred SUBMIT: states and tenants of dependencies ($1) and idempotency hits for
 * (queue $2[i], key $3[i], tenant $8[i]) live or finished within $4 ms;
 * result reuse hits for (type $5[i], key $6[i], ttl $7[i], tenant $9[i]). */
#define STORE_SQL_LOOKUP                                                                           \
    "SELECT 'd', id, state, tenant, NULL::text, NULL::text FROM jobs"                              \
    "  WHERE id = ANY($1::bigint[])"                                                               \
    " UNION ALL"                                                                                   \
    " SELECT 'k', h.id, h.state, k.q, k.k, k.t FROM unnest($2::text[], $3::text[], $8::text[])"    \
    "  AS k(q, k, t)"                                                                              \
    " LEFT JOIN LATERAL (SELECT j.id, j.state FROM jobs j"                                         \
    "  WHERE j.tenant = k.t AND j.queue = k.q AND j.idempotency_key = k.k"                        \
    "  AND (j.state IN ('waiting', 'scheduled', 'queued', 'running')"                             \
    "   OR j.finished_at > now() - $4::bigint * interval '1 millisecond')"                        \
    "  ORDER BY j.id DESC LIMIT 1) h ON true"                                                      \
    " UNION ALL"                                                                                   \
    " SELECT 'r', h.id, h.result, u.t, u.k, u.tn"                                                  \
    "  FROM unnest($5::text[], $6::text[], $7::bigint[], $9::text[]) AS u(t, k, ttl, tn)"          \
    "  LEFT JOIN LATERAL (SELECT j.id, coalesce(j.result::text, 'null') AS result"                 \
    "  FROM job_reuse r JOIN jobs j ON j.id = r.job_id"                                            \
    "  WHERE r.tenant = u.tn AND r.type = u.t AND r.key = u.k"                                     \
    "  AND j.state = 'succeeded' AND j.finished_at > now() - u.ttl * interval '1 millisecond'"     \
    "  ORDER BY j.finished_at DESC LIMIT 1) h ON true"

#define STORE_SQL_REUSE                                                                            \
    "INSERT INTO job_reuse (type, key, job_id, tenant)"                                            \
    " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])"                      \
    " ON CONFLICT DO NOTHING"

/* Compensation (migration 015): a submission's on_failure lists; the
 * open compensations of the succeeded jobs that the failed jobs $1 depend
 * on, transitively (root: the failed job); the failed jobs below open
 * compensations (after a recovery); and marking them run, which the batch
 * write does with the jobs it inserts for them. */
#define STORE_SQL_COMP_ADD                                                                         \
    "INSERT INTO job_compensations (job_id, spec)"                                                 \
    " SELECT j, s::json FROM unnest($1::bigint[], $2::text[]) AS u(j, s) ON CONFLICT DO NOTHING"
#define STORE_SQL_COMP_FIND                                                                        \
    "WITH RECURSIVE up(root, id) AS ("                                                             \
    "  SELECT f.f, d.depends_on FROM unnest($1::bigint[]) AS f(f) JOIN job_deps d ON d.job_id = f.f" \
    "  UNION SELECT up.root, d.depends_on FROM up JOIN job_deps d ON d.job_id = up.id)"           \
    " SELECT DISTINCT ON (c.job_id) up.root, c.job_id, c.spec::text, j.queue,"                     \
    "  (extract(epoch from j.finished_at) * 1000000)::bigint,"                                     \
    "  (SELECT f.state FROM jobs f WHERE f.id = up.root), j.tenant"                                \
    " FROM up JOIN job_compensations c ON c.job_id = up.id AND c.triggered_at IS NULL"            \
    " JOIN jobs j ON j.id = c.job_id AND j.state = 'succeeded'"                                    \
    " ORDER BY c.job_id, up.root"
#define STORE_SQL_COMP_FAILED                                                                      \
    "WITH RECURSIVE down(id) AS ("                                                                 \
    "  SELECT d.job_id FROM job_compensations c JOIN job_deps d ON d.depends_on = c.job_id"       \
    "  WHERE c.triggered_at IS NULL"                                                               \
    "  UNION SELECT d.job_id FROM down JOIN job_deps d ON d.depends_on = down.id)"                \
    " SELECT down.id FROM down JOIN jobs j ON j.id = down.id"                                      \
    " WHERE j.state IN ('dead', 'cancelled') LIMIT 10000"
#define STORE_SQL_COMP_MARK                                                                        \
    "UPDATE job_compensations c SET triggered_at = now(), triggered_by = u.r"                     \
    " FROM unnest($1::bigint[], $2::bigint[]) AS u(j, r)"                                          \
    " WHERE c.job_id = u.j AND c.triggered_at IS NULL"

#define STORE_SQL_DEPS                                                                             \
    "INSERT INTO job_deps (job_id, depends_on)"                                                    \
    " SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING"

/* Waiting jobs that are not in the coordinator's memory (beyond
 * scheduler.waiting_window) and depend on one of $1 (jobs that just
 * finished), after id $2, a page of $3. Each row: the job, then how many of
 * its dependencies have not succeeded yet, then one dependency that ended
 * dead or cancelled (NULL when none) and its state. A dependency that is
 * gone (retention) finished long ago; had it failed, the job would have
 * been cancelled then: it counts as succeeded. */
#define STORE_SQL_WAKE_COLUMNS                                                                     \
    "SELECT " STORE_JOB_COLUMNS ","                                                                \
    " (SELECT count(*) FROM job_deps d JOIN jobs j ON j.id = d.depends_on"                         \
    "  WHERE d.job_id = w.id AND j.state <> 'succeeded'),"                                         \
    " f.failed_dep, f.failed_state FROM jobs w LEFT JOIN LATERAL"                                  \
    " (SELECT d.depends_on AS failed_dep, j.state AS failed_state FROM job_deps d"                 \
    "  JOIN jobs j ON j.id = d.depends_on"                                                         \
    "  WHERE d.job_id = w.id AND j.state IN ('dead', 'cancelled') LIMIT 1) f ON true"
#define STORE_SQL_WAKE                                                                             \
    STORE_SQL_WAKE_COLUMNS                                                                         \
    " WHERE w.id IN (SELECT job_id FROM job_deps WHERE depends_on = ANY($1::bigint[]))"            \
    " AND w.state = 'waiting' AND w.id > $2::bigint ORDER BY w.id LIMIT $3"
/* The same over every waiting job after $2 ($1 is not used): after a recovery
 * that left some in PostgreSQL, those whose dependencies all finished
 * while nobody watched. */
#define STORE_SQL_WAKE_ALL                                                                         \
    STORE_SQL_WAKE_COLUMNS                                                                         \
    " WHERE w.state = 'waiting' AND w.id > $2::bigint AND cardinality($1::bigint[]) >= 0"         \
    " ORDER BY w.id LIMIT $3"

/* Transactional enqueue (migration 012): a page of the inbox, and the
 * deletion of the rows whose jobs the same transaction creates. */
#define STORE_SQL_INBOX                                                                            \
    "SELECT id, queue, type, payload::text, coalesce(priority, -1), coalesce(max_attempts, 0),"   \
    " coalesce((extract(epoch from run_at) * 1000000)::bigint, 0), idempotency_key, created_by,"   \
    " tenant FROM orch.inbox ORDER BY id LIMIT $1"
#define STORE_SQL_INBOX_DEL "DELETE FROM orch.inbox WHERE id = ANY($1::bigint[])"

/* A schedule fires: advance it only if nobody else did ($2 = the slot we
 * saw), and insert the job in the same statement, with its follow-up jobs
 * ($13..$20, arrays, possibly empty: the schedule's "then") waiting on it
 * through job_deps, each with its own audit row. Answers one row: the new
 * job's id (NULL: it did not fire) and the schedule as it stood before the
 * statement (next run, paused; NULLs when it is gone), so a coordinator
 * that lost the compare-and-set can follow the stored slot. */
#define STORE_SQL_FIRE                                                                             \
    "WITH s AS (UPDATE schedules SET next_run_at = " STORE_US_TO_TS("$3::bigint") ","              \
    "  last_run_at = now(), last_job_id = $4::bigint, updated_at = now()"                          \
    "  WHERE name = $1 AND NOT paused"                                                             \
    "  AND next_run_at IS NOT DISTINCT FROM " STORE_US_TO_TS("$2::bigint") " RETURNING name),"     \
    " j AS (INSERT INTO jobs (id, queue, type, priority, state, attempt, attempt_base,"            \
    "  max_attempts, timeout_ms, payload, created_at, tenant)"                                     \
    "  SELECT $4::bigint, $5, $6, $7::int, 'queued', 0, 0, $8::int, $9::bigint, $10::json,"        \
    "  " STORE_US_TO_TS("$11::bigint") ", $21 FROM s RETURNING id),"                                    \
    " e AS (INSERT INTO job_events (id, job_id, at, event, attempt, state, detail)"                \
    "  SELECT $12::bigint, id, now(), 'submitted', 0, 'queued',"                                   \
    "   json_build_object('schedule', $1::text) FROM j RETURNING *),"                                          \
    " t AS (SELECT * FROM unnest($13::bigint[], $14::text[], $15::text[], $16::int[],"            \
    "  $17::int[], $18::bigint[], $19::text[], $20::bigint[])"                                     \
    "  AS u(id, queue, type, priority, max_attempts, timeout_ms, payload, event_id)"              \
    "  WHERE EXISTS (SELECT 1 FROM j)),"                                                           \
    " tj AS (INSERT INTO jobs (id, queue, type, priority, state, attempt, attempt_base,"           \
    "  max_attempts, timeout_ms, payload, created_at, tenant)"                                     \
    "  SELECT id, queue, type, priority, 'waiting', 0, 0, max_attempts, timeout_ms,"              \
    "  payload::json, " STORE_US_TO_TS("$11::bigint") ", $21 FROM t RETURNING id),"                     \
    " td AS (INSERT INTO job_deps (job_id, depends_on) SELECT id, $4::bigint FROM tj),"            \
    " te AS (INSERT INTO job_events (id, job_id, at, event, attempt, state, detail)"               \
    "  SELECT t.event_id, t.id, now(), 'submitted', 0, 'waiting',"                                 \
    "   json_build_object('schedule', $1::text, 'after', $4::bigint) FROM t JOIN tj USING (id)"    \
    "  RETURNING *)"  \
    " SELECT (SELECT id FROM j),"                                                                  \
    "  (SELECT (extract(epoch from next_run_at) * 1000000)::bigint FROM schedules WHERE name = $1)," \
    "  (SELECT paused FROM schedules WHERE name = $1), "                                          \
    STORE_SQL_AUDIT_ROWS("(SELECT * FROM e UNION ALL SELECT * FROM te) a")

#define STORE_SCHEDULE_COLUMNS                                                                     \
    "name, cron, queue, type, payload::text, coalesce(priority, -1), coalesce(max_attempts, 0),"   \
    " paused, source, (extract(epoch from next_run_at) * 1000000)::bigint,"                         \
    " (extract(epoch from last_run_at) * 1000000)::bigint, last_job_id, then_jobs::text, tenant"

#define STORE_SQL_SCHED_ADD                                                                        \
    "INSERT INTO schedules (name, cron, queue, type, payload, priority, max_attempts, paused,"      \
    "  source, next_run_at, then_jobs, tenant)"                                                    \
    " VALUES ($1, $2, $3, $4, $5::json, nullif($6::int, -1), nullif($7::int, 0), $8::boolean, $9,"  \
    "  " STORE_US_TO_TS("$10::bigint") ", $11::json, $12)"                                         \
    " ON CONFLICT (name) DO NOTHING RETURNING name"

/* Config-declared schedules: the file wins (its then: too), but a runtime
 * pause and the next slot survive a restart unless the cron expression
 * changed. */
#define STORE_SQL_SCHED_UPSERT                                                                     \
    "INSERT INTO schedules (name, cron, queue, type, payload, priority, max_attempts, paused,"      \
    "  source, next_run_at, then_jobs, tenant)"                                                    \
    " VALUES ($1, $2, $3, $4, $5::json, nullif($6::int, -1), nullif($7::int, 0), $8::boolean,"      \
    "  'config', " STORE_US_TO_TS("$9::bigint") ", $10::json, $11)"                                \
    " ON CONFLICT (name) DO UPDATE SET cron = EXCLUDED.cron, queue = EXCLUDED.queue,"              \
    "  tenant = EXCLUDED.tenant,"                                                                  \
    "  type = EXCLUDED.type, payload = EXCLUDED.payload, priority = EXCLUDED.priority,"            \
    "  then_jobs = EXCLUDED.then_jobs,"                                                            \
    "  max_attempts = EXCLUDED.max_attempts, source = 'config', updated_at = now(),"               \
    "  next_run_at = CASE WHEN schedules.cron = EXCLUDED.cron AND schedules.next_run_at IS NOT NULL" \
    "  THEN schedules.next_run_at ELSE EXCLUDED.next_run_at END"

#define STORE_SQL_SCHED_DEL "DELETE FROM schedules WHERE name = $1 RETURNING name"
#define STORE_SQL_SCHED_PAUSE                                                                      \
    "UPDATE schedules SET paused = $2::boolean, updated_at = now() WHERE name = $1 RETURNING name"

/* Scheduled jobs that come due within the timer horizon ($1 ms). */
#define STORE_SQL_SCHED_LOAD                                                                       \
    "SELECT " STORE_JOB_COLUMNS " FROM jobs WHERE state = 'scheduled'"                             \
    " AND run_at < now() + $1::bigint * interval '1 millisecond' ORDER BY run_at LIMIT 10000"

#endif
