-- A schedule's follow-up jobs ("then"): each firing also creates them,
-- waiting on the fired job (job_deps), in the same statement. A JSON array
-- of {type, queue?, payload?, priority?, max_attempts?} as proto_then_encode
-- writes it; NULL: none. Named then_jobs because THEN is a reserved word.
ALTER TABLE schedules ADD COLUMN then_jobs json;
