#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "ledger/chain.h"
#include "pg/options.h"
#include "pg/session.h"

namespace senren::ledger {
namespace {

std::string Hex(const std::string& bytes) {
  return bytes.empty() ? "''" : absl::BytesToHexString(bytes);
}

}  // namespace

absl::StatusOr<ChainReport> VerifyChain(const std::string& uri, const std::string& schema,
                                        const std::string& region) {
  pg::ConnectionOptions options;
  options.uri = uri;
  options.schema = schema;
  auto session = pg::Session::Open(options);
  if (!session.ok()) return session.status();
  ChainReport report;
  absl::Status verdict;
  absl::Status s = (*session)->Run(
      "verify the ledger's chain", region, pg::TxKind::kReadOnly,
      [&](pg::Transaction& tx) -> absl::Status {
        // The recomputed hash comes from ledger_version_hash, the function the insert
        // trigger used: the hash is defined in one place.
        if (tx.Exec("SELECT to_regproc('ledger_version_hash') IS NULL")[0][0].as<bool>()) {
          return verdict = absl::FailedPreconditionError(absl::StrCat(
                     "schema ", schema,
                     " has no hash chain yet (migration 0005); run senren-ledger migrate"));
        }
        const std::string filter = region.empty() ? "" : " WHERE v.region = " + tx.Quote(region);
        const pg::Result rows = tx.Exec(
            "SELECT v.region, v.version, v.prev_hash, v.hash, ledger_version_hash(v, v.prev_hash), "
            "r.current_version FROM versions v JOIN regions r USING (region)" +
            filter + " ORDER BY v.region, v.version");
        std::string current;
        std::string prev_hash;
        uint64_t expected_version = 0;
        uint64_t head = 0;
        auto close_region = [&]() -> absl::Status {
          if (!current.empty() && head != expected_version) {
            return absl::DataLossError(absl::StrCat("region ", current, ": the head is at version ",
                                                    head, " but the last version is ",
                                                    expected_version));
          }
          return absl::OkStatus();
        };
        for (const pg::Row row : rows) {
          const std::string r = row[0].as<std::string>();
          const uint64_t v = row[1].as<uint64_t>();
          if (r != current) {
            if (absl::Status c = close_region(); !c.ok()) return verdict = c;
            current = r;
            prev_hash.clear();
            expected_version = 0;
            ++report.regions;
          }
          head = row[5].as<uint64_t>();
          ++report.versions;
          const std::string stored_prev = row[2].Bytes();
          const std::string stored = row[3].Bytes();
          if (v != expected_version + 1) {
            return verdict = absl::DataLossError(
                       absl::StrCat("region ", r, " version ", expected_version + 1,
                                    ": missing (the next stored is ", v, ")"));
          }
          if (stored_prev != prev_hash) {
            return verdict = absl::DataLossError(absl::StrCat(
                       "region ", r, " version ", v, ": its link does not match: prev_hash ",
                       Hex(stored_prev), ", but version ", v - 1, " hashes to ", Hex(prev_hash)));
          }
          if (stored != row[4].Bytes()) {
            return verdict = absl::DataLossError(absl::StrCat(
                       "region ", r, " version ", v, ": its content does not match its hash ",
                       Hex(stored), " (it hashes to ", Hex(row[4].Bytes()), ")"));
          }
          prev_hash = stored;
          expected_version = v;
        }
        if (absl::Status c = close_region(); !c.ok()) return verdict = c;
        if (!region.empty() && report.regions == 0) {
          return verdict = absl::NotFoundError(absl::StrCat("region ", region, " has no versions"));
        }
        return absl::OkStatus();
      });
  if (!verdict.ok()) return verdict;
  if (!s.ok()) return s;
  return report;
}

}  // namespace senren::ledger
