-- 0004_service_role: a ledger the service cannot rewrite.
--
-- Migrations run as the schema's owner; senren-ledger serves as a role with only the
-- grants of senren_grant_service below (pg::Migrate calls it with the service role):
-- INSERT and SELECT on the ledger's tables, UPDATE of the head row's columns (the
-- triggers decide how a head may move), and what the projectors write. Never UPDATE,
-- DELETE, TRUNCATE, ALTER or DROP on the ledger.
--
-- The trigger functions resolve tables in this schema only (search_path fixed at
-- creation, pg_temp last), never through the caller's search_path.

-- A new head row starts at version 0: only ledger_check_head_move moves it, one recorded
-- version at a time, so `INSERT INTO regions VALUES ('x:y', 5)` cannot skip the history.
CREATE FUNCTION ledger_check_new_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.current_version <> 0 OR NEW.resource_count <> 0 THEN
    RAISE EXCEPTION 'a ledger head row starts at version 0 with no resources, not at version % (region %)',
        NEW.current_version, NEW.region
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'the head moves only by appending versions';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER regions_start_at_zero BEFORE INSERT ON regions
  FOR EACH ROW EXECUTE FUNCTION ledger_check_new_head();

-- FROM CURRENT: the schema and pg_temp that pg::Migrate set for this transaction.
ALTER FUNCTION ledger_refuse_rewrite() SET search_path FROM CURRENT;
ALTER FUNCTION ledger_check_next_version() SET search_path FROM CURRENT;
ALTER FUNCTION ledger_check_head_move() SET search_path FROM CURRENT;
ALTER FUNCTION ledger_notify_version() SET search_path FROM CURRENT;
ALTER FUNCTION ledger_check_new_head() SET search_path FROM CURRENT;
ALTER FUNCTION status_history_refuse_update() SET search_path FROM CURRENT;

-- The grants of the service role `role` on this schema. Later migrations that add
-- tables replace this function; pg::Migrate runs it after every migration.
CREATE FUNCTION senren_grant_service(role name) RETURNS void LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), role);
  EXECUTE format('GRANT SELECT ON schema_migrations TO %I', role);
  EXECUTE format('GRANT SELECT, INSERT ON versions, changes, checkpoints, idempotency_keys TO %I', role);
  -- The head row: created by the first apply, locked and moved by each (the region
  -- column only by ON CONFLICT ... SET region = EXCLUDED.region, which changes nothing).
  EXECUTE format('GRANT SELECT, INSERT ON regions TO %I', role);
  EXECUTE format('GRANT UPDATE (region, current_version, resource_count, updated_at) ON regions TO %I', role);
  -- The projectors' own tables (projections/): progress, the status read model, its
  -- history (retention deletes old rows) and offsets.
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON snapshot_progress, status_offsets, '
                 'resource_status, cluster_status TO %I', role);
  EXECUTE format('GRANT SELECT, INSERT, DELETE ON status_history TO %I', role);
END
$$;
