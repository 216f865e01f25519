-- 0005_version_chain: a tamper-evident chain of versions.
--
-- Each version row carries `hash`, SHA-256 over its canonical content, and `prev_hash`,
-- the hash of the region's previous version ('' for version 1). The content is every
-- stored column (region, version, author, message, created_at, origin, rollback_of,
-- idempotency_key, traceparent, the counts) and the version's change set (kind, name,
-- spec of each changed resource, in (kind, name) order) - and through prev_hash all of
-- the history before it, so the state of any version is covered. `senren-ledger verify`
-- recomputes the chain and names the first version that does not match.
--
-- The hash is computed in one place, ledger_version_hash below: by the BEFORE INSERT
-- trigger (whatever a writer sends is overwritten), by this migration's backfill of
-- existing rows, and by verify. PostgreSQL's own sha256() makes it a function of what is
-- stored, after defaults (created_at), in the transaction that stores it.
--
-- A version's changes are inserted before its row (the foreign key is checked at
-- commit), so the trigger sees them.

ALTER TABLE versions ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;
ALTER TABLE changes ALTER CONSTRAINT changes_region_version_fkey DEFERRABLE INITIALLY DEFERRED;

-- A text field as length-prefixed UTF-8, so no two contents share bytes.
CREATE FUNCTION ledger_hash_text(t text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT int4send(octet_length(t)) || convert_to(t, 'UTF8')
$$;

-- PL/pgSQL, not SQL: its statements' plans are cached for the session, where an SQL
-- function with a SET clause is planned again at every call.
CREATE FUNCTION ledger_version_hash(v versions, prev bytea) RETURNS bytea LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT AS $$
DECLARE
  change_set bytea;
BEGIN
  SELECT coalesce(string_agg(int2send(c.kind) || ledger_hash_text(c.name)
                             || CASE WHEN c.spec IS NULL THEN '\x00'::bytea
                                     ELSE '\x01'::bytea || int4send(length(c.spec)) || c.spec END,
                             ''::bytea ORDER BY c.kind, c.name), ''::bytea)
    INTO change_set
    FROM changes c WHERE c.region = v.region AND c.version = v.version;
  RETURN sha256(
    convert_to('senren-version-v1', 'UTF8')
    || ledger_hash_text(v.region) || int8send(v.version)
    || ledger_hash_text(v.author) || ledger_hash_text(v.message)
    || int8send((extract(epoch FROM v.created_at) * 1000000)::bigint)
    || int2send(v.origin) || int8send(v.rollback_of)
    || ledger_hash_text(v.idempotency_key) || ledger_hash_text(v.traceparent)
    || int4send(v.created_count) || int4send(v.updated_count) || int4send(v.deleted_count)
    || int4send(v.resource_count)
    || change_set
    || int4send(length(prev)) || prev);
END
$$;

CREATE FUNCTION ledger_chain_version() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
BEGIN
  NEW.prev_hash := coalesce((SELECT hash FROM versions
                             WHERE region = NEW.region AND version = NEW.version - 1), ''::bytea);
  NEW.hash := ledger_version_hash(NEW, NEW.prev_hash);
  RETURN NEW;
END
$$;
-- After versions_gapless (triggers fire in name order), so only a version in sequence is
-- hashed.
CREATE TRIGGER versions_hash_chain BEFORE INSERT ON versions
  FOR EACH ROW EXECUTE FUNCTION ledger_chain_version();

-- Backfill the versions stored before this migration, oldest first per region.
ALTER TABLE versions DISABLE TRIGGER versions_append_only;
DO $$
DECLARE
  r versions;
  prev bytea;
  last_region text;
BEGIN
  FOR r IN SELECT * FROM versions ORDER BY region, version LOOP
    IF last_region IS DISTINCT FROM r.region THEN
      prev := ''::bytea;
      last_region := r.region;
    END IF;
    UPDATE versions SET prev_hash = prev, hash = ledger_version_hash(r, prev)
      WHERE region = r.region AND version = r.version
      RETURNING hash INTO prev;
  END LOOP;
END
$$;
ALTER TABLE versions ENABLE TRIGGER versions_append_only;
ALTER TABLE versions ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
