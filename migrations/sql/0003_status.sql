-- 0003_status: the status read model (what each cluster reports now), its history (what
-- each cluster reported when), and the status projector's Kafka offsets.
--
-- The projector writes rows and offsets in one transaction, so a redelivered message
-- is either already counted (offset past it) or written again with the same key
-- (status_history's primary key is the Kafka position: ON CONFLICT DO NOTHING).

CREATE TABLE status_offsets (
  topic           text NOT NULL,
  kafka_partition integer NOT NULL,
  next_offset     bigint NOT NULL,
  PRIMARY KEY (topic, kafka_partition)
);

-- Newest status of each resource in each cluster (senren.v1.ResourceStatus).
CREATE TABLE resource_status (
  region     text NOT NULL,
  cluster    text NOT NULL,
  kind       smallint NOT NULL,  -- senren.v1.ResourceKind
  name       text NOT NULL,
  status     bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (region, cluster, kind, name)
);

-- Newest report of each cluster (senren.v1.ClusterReport).
CREATE TABLE cluster_status (
  region          text NOT NULL,
  cluster         text NOT NULL,
  applied_version bigint NOT NULL,
  heartbeat_at    timestamptz NOT NULL,
  report          bytea NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (region, cluster)
);

-- Every status change and every cluster report that changed more than its heartbeat,
-- in the order they were reported. payload NULL = the resource is gone (tombstone).
-- Append-only (UPDATE refused); rows older than the retention (default 30 days) are
-- deleted by the projector.
CREATE TABLE status_history (
  topic           text NOT NULL,
  kafka_partition integer NOT NULL,
  kafka_offset    bigint NOT NULL,
  region          text NOT NULL,
  cluster         text NOT NULL,
  kind            smallint NOT NULL,  -- 0 = a ClusterReport
  name            text NOT NULL,      -- '' for a ClusterReport
  recorded_at     timestamptz NOT NULL,
  payload         bytea,
  PRIMARY KEY (topic, kafka_partition, kafka_offset)
);
CREATE INDEX status_history_by_time ON status_history (region, recorded_at);

CREATE FUNCTION status_history_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'status history is append-only: % on %.% is refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER status_history_append_only BEFORE UPDATE ON status_history
  FOR EACH STATEMENT EXECUTE FUNCTION status_history_refuse_update();

-- Versions by time, for GetStatus(at): the desired version at a moment.
CREATE INDEX IF NOT EXISTS versions_by_time ON versions (region, created_at);
