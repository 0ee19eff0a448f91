-- Schedules belong to a tenant too (docs/operations.md, "Tenants"): the jobs
-- a schedule fires (and its then: follow-ups) are that tenant's. Names stay
-- unique across tenants.
ALTER TABLE schedules ADD COLUMN tenant text NOT NULL DEFAULT 'default';
