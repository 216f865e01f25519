-- 0001_ledger: the append-only event store of docs/design.md §3.
--
-- regions        one mutable head row per region (current version); the row appliers
--                lock FOR UPDATE, so appliers of one region serialize and different
--                regions never wait for each other.
-- versions       one immutable row per version (who, why, when, how, counts).
-- changes        per version the resources upserted (spec = senren.v1.Resource) and
--                deleted (spec IS NULL).
-- checkpoints    the full resource set (senren.v1.RegionalState, resources only) every K
--                versions, so any version materializes from one checkpoint + < K change sets.
-- idempotency_keys  the first answer (senren.v1.ApplyStateResponse) per (region, key).
--
-- Everything but the head row is append-only, enforced below by triggers.

CREATE TABLE regions (
  region          text PRIMARY KEY,
  current_version bigint NOT NULL DEFAULT 0 CHECK (current_version >= 0),
  resource_count  integer NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE versions (
  region          text NOT NULL REFERENCES regions (region),
  version         bigint NOT NULL CHECK (version >= 1),
  author          text NOT NULL,
  message         text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  origin          smallint NOT NULL CHECK (origin IN (1, 2)),  -- senren.v1.Origin
  rollback_of     bigint NOT NULL DEFAULT 0,
  idempotency_key text NOT NULL DEFAULT '',
  traceparent     text NOT NULL DEFAULT '',
  created_count   integer NOT NULL,
  updated_count   integer NOT NULL,
  deleted_count   integer NOT NULL,
  resource_count  integer NOT NULL,
  PRIMARY KEY (region, version)
);

CREATE TABLE changes (
  region  text NOT NULL,
  version bigint NOT NULL,
  kind    smallint NOT NULL,  -- senren.v1.ResourceKind
  name    text NOT NULL,
  spec    bytea,              -- senren.v1.Resource; NULL = deleted in this version
  PRIMARY KEY (region, version, kind, name),
  FOREIGN KEY (region, version) REFERENCES versions (region, version)
);

CREATE TABLE checkpoints (
  region    text NOT NULL,
  version   bigint NOT NULL,
  resources bytea NOT NULL,
  PRIMARY KEY (region, version),
  FOREIGN KEY (region, version) REFERENCES versions (region, version)
);

CREATE TABLE idempotency_keys (
  region       text NOT NULL REFERENCES regions (region),
  key          text NOT NULL,
  request_hash text NOT NULL,
  response     bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (region, key)
);

-- Append-only: statement-level, so even an UPDATE or DELETE matching no row is refused.
CREATE FUNCTION ledger_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the Senren ledger is append-only: % on table %.% is refused',
      TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'history is never rewritten; to undo a change append a new version '
                 '(senren-ledger rollback REGION --to N)';
END
$$;

CREATE TRIGGER versions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON versions
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_rewrite();
CREATE TRIGGER changes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON changes
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_rewrite();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_rewrite();
CREATE TRIGGER idempotency_keys_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON idempotency_keys
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_rewrite();
-- A region, once known, stays: its head row is never deleted.
CREATE TRIGGER regions_never_deleted BEFORE DELETE OR TRUNCATE ON regions
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_rewrite();

-- Gapless: a new version is exactly the head's current version + 1.
CREATE FUNCTION ledger_check_next_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  head bigint;
BEGIN
  SELECT current_version INTO head FROM regions WHERE region = NEW.region;
  IF head IS NULL OR NEW.version <> head + 1 THEN
    RAISE EXCEPTION 'ledger versions are gapless: region % is at version %, refusing version %',
        NEW.region, head, NEW.version
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER versions_gapless BEFORE INSERT ON versions
  FOR EACH ROW EXECUTE FUNCTION ledger_check_next_version();

-- The head moves forward one recorded version at a time, and never changes region.
CREATE FUNCTION ledger_check_head_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.region <> OLD.region THEN
    RAISE EXCEPTION 'the region key of a ledger head row never changes'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.current_version <> OLD.current_version THEN
    IF NEW.current_version <> OLD.current_version + 1 OR NOT EXISTS (
        SELECT 1 FROM versions WHERE region = NEW.region AND version = NEW.current_version) THEN
      RAISE EXCEPTION 'the ledger head of region % moves from % only to the next recorded version, not to %',
          NEW.region, OLD.current_version, NEW.current_version
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER regions_head_moves_forward BEFORE UPDATE ON regions
  FOR EACH ROW EXECUTE FUNCTION ledger_check_head_move();

-- Wakes the snapshot projector (LISTEN senren_ledger); delivered at commit.
CREATE FUNCTION ledger_notify_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('senren_ledger', NEW.region);
  RETURN NULL;
END
$$;
CREATE TRIGGER versions_notify AFTER INSERT ON versions
  FOR EACH ROW EXECUTE FUNCTION ledger_notify_version();
