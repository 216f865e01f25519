-- 0002_snapshot_progress: how far the snapshot projector has published each region.
--
-- Progress is per region, not a global position: a version that commits late (sequence
-- numbers are assigned before commit) still shows as regions.current_version >
-- published_version, so nothing is ever skipped. A row moves only after Kafka confirmed
-- the delivery of that version.
CREATE TABLE snapshot_progress (
  topic             text NOT NULL,
  region            text NOT NULL REFERENCES regions (region),
  published_version bigint NOT NULL CHECK (published_version >= 1),
  kafka_partition   integer NOT NULL,
  kafka_offset      bigint NOT NULL,
  published_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, region)
);
