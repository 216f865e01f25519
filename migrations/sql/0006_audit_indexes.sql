-- 0006_audit_indexes: the indexes behind the audit questions (GetHistory's filters,
-- Blame; docs/ledger.md "Audit"). Every filter is served by a range scan of one index
-- that ends after a page, never by a scan of a region's versions:
--
-- changes_by_resource       the versions that touched one resource, newest first (history
--                           --resource); the primary key (region, version, kind, name)
--                           cannot serve it.
-- changes_by_resource_spec  the same with the spec (INCLUDE), for blame: a resource's
--                           changes lie about one per heap page across the region's
--                           history but side by side here, so reading 2,000 of them is an
--                           index-only scan of a few dozen pages instead of 2,000 heap
--                           pages (changes are insert-only: autovacuum keeps the
--                           visibility map current). A B-tree entry holds at most ~2.7 kB,
--                           so only specs up to 2,000 bytes are in it (every usual one;
--                           the largest valid AerospikeCluster serializes to ~2.8 kB);
-- changes_large_specs       the others, so blame knows when to read the table instead.
-- changes_deletes           the deletes of a resource (few): where its latest life began.
-- versions_by_author        one author's versions of a region, newest first.
-- versions_rollbacks        the rollbacks of a region (few, so a partial index).
-- versions_by_time (0003) already serves --since/--until and show --at.
--
-- No new tables: the service role's grants (senren_grant_service, 0004) are unchanged.
CREATE INDEX changes_by_resource ON changes (region, kind, name, version);
CREATE INDEX changes_by_resource_spec ON changes (region, kind, name, version) INCLUDE (spec)
  WHERE octet_length(spec) <= 2000;
CREATE INDEX changes_large_specs ON changes (region, kind, name, version)
  WHERE octet_length(spec) > 2000;
CREATE INDEX changes_deletes ON changes (region, kind, name, version) WHERE spec IS NULL;
CREATE INDEX versions_by_author ON versions (region, author, version);
CREATE INDEX versions_rollbacks ON versions (region, version) WHERE origin = 2;
