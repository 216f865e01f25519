-- 0007_status_heartbeats: heartbeats in status history, and a retention that keeps what
-- GetStatus(at) needs.
--
-- A cluster report enters status_history only when more than its heartbeat changed, so
-- the history alone could not tell a cluster that kept beating for a week from one that
-- went silent after its last change. `seen_until` on a cluster report's row is the
-- newest heartbeat of the run of heartbeats that row stands for: the status projector
-- moves it forward on each heartbeat-only report (one UPDATE of the cluster's newest row,
-- no new row) and starts a new row when the heartbeat comes more than the stale limit
-- (3 heartbeat periods) after `seen_until`, so a silence stays in history. Resource rows
-- and tombstones leave it NULL; rows written before this migration too (read as
-- recorded_at, so the first heartbeat after it starts a new row rather than claim the
-- time before it).
--
-- Retention (the projector's hourly trim) keeps, per cluster and resource, the newest
-- row older than the cutoff unless it is a tombstone: GetStatus(at) for any `at` within
-- the retention needs the row in force at the cutoff, however old.

ALTER TABLE status_history ADD COLUMN seen_until timestamptz;

-- The newest row of one cluster or resource at a time (heartbeats, GetStatus(at), trim).
CREATE INDEX status_history_by_key
  ON status_history (region, cluster, kind, name, recorded_at DESC, kafka_offset DESC);

-- History stays append-only but for seen_until, which only a cluster report's row has and
-- which only moves forward.
DROP TRIGGER status_history_append_only ON status_history;
DROP FUNCTION status_history_refuse_update();
CREATE FUNCTION status_history_check_update() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
BEGIN
  IF OLD.kind <> 0 OR OLD.payload IS NULL
     OR (NEW.topic, NEW.kafka_partition, NEW.kafka_offset, NEW.region, NEW.cluster, NEW.kind,
         NEW.name, NEW.recorded_at, NEW.payload)
        IS DISTINCT FROM
        (OLD.topic, OLD.kafka_partition, OLD.kafka_offset, OLD.region, OLD.cluster, OLD.kind,
         OLD.name, OLD.recorded_at, OLD.payload)
     OR NEW.seen_until IS NULL
     OR NEW.seen_until < coalesce(OLD.seen_until, OLD.recorded_at) THEN
    RAISE EXCEPTION 'status history is append-only: only a cluster report''s seen_until may move forward (% on %.%)',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER status_history_append_only BEFORE UPDATE ON status_history
  FOR EACH ROW EXECUTE FUNCTION status_history_check_update();

-- 0004's grants plus UPDATE of status_history.seen_until.
CREATE OR REPLACE FUNCTION senren_grant_service(role name) RETURNS void LANGUAGE plpgsql
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
  -- history (retention deletes old rows; heartbeats move seen_until) and offsets.
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON snapshot_progress, status_offsets, '
                 'resource_status, cluster_status TO %I', role);
  EXECUTE format('GRANT SELECT, INSERT, DELETE ON status_history TO %I', role);
  EXECUTE format('GRANT UPDATE (seen_until) ON status_history TO %I', role);
END
$$;
