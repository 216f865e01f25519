#include "projections/status_read_model.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <pqxx/pqxx>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/resources.h"
#include "projections/status_keys.h"
#include "senren/v1/status.pb.h"

namespace senren::projections {
namespace {

using google::protobuf::util::TimeUtil;

double EpochSeconds(const google::protobuf::Timestamp& t) {
  return static_cast<double>(t.seconds()) + static_cast<double>(t.nanos()) / 1e9;
}

// A few connections for queries; a broken one is dropped and reopened on next use.
class Pool {
 public:
  Pool(std::string uri, std::string schema, int size) : uri_(std::move(uri)), schema_(std::move(schema)), size_(size) {}

  template <typename F>
  auto With(const std::string& what, F&& f) -> decltype(f(std::declval<pqxx::connection&>())) {
    std::unique_ptr<pqxx::connection> conn;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return !idle_.empty() || open_ < size_; });
      if (!idle_.empty()) {
        conn = std::move(idle_.back());
        idle_.pop_back();
      } else {
        ++open_;
      }
    }
    bool healthy = true;
    try {
      if (!conn || !conn->is_open()) {
        conn = std::make_unique<pqxx::connection>(uri_);
        pqxx::nontransaction(*conn).exec0("SET search_path TO " + conn->quote_name(schema_));
      }
      auto result = f(*conn);
      Release(std::move(conn), true);
      return result;
    } catch (const pqxx::broken_connection& e) {
      healthy = false;
      Release(nullptr, false);
      return absl::UnavailableError(absl::StrCat(what, ": PostgreSQL is unreachable: ", e.what()));
    } catch (const pqxx::sql_error& e) {
      Release(std::move(conn), healthy);
      return absl::InternalError(absl::StrCat(what, ": ", e.what(), " (SQLSTATE ", e.sqlstate(), ")"));
    } catch (const std::exception& e) {
      Release(nullptr, false);
      return absl::InternalError(absl::StrCat(what, ": ", e.what()));
    }
  }

 private:
  void Release(std::unique_ptr<pqxx::connection> conn, bool keep) {
    {
      std::lock_guard lock(mu_);
      if (keep && conn) {
        idle_.push_back(std::move(conn));
      } else {
        --open_;
      }
    }
    cv_.notify_one();
  }

  const std::string uri_;
  const std::string schema_;
  const int size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // guarded by mu_
  int open_ = 0;                                          // guarded by mu_
};

v1::ClusterStatus ToClusterStatus(const v1::ClusterReport& r, double now_seconds) {
  v1::ClusterStatus c;
  c.set_cluster(r.cluster());
  c.set_applied_version(r.applied_version());
  c.set_result(r.result());
  c.set_reason(r.reason());
  c.set_resources_total(r.resources_total());
  c.set_resources_ready(r.resources_ready());
  *c.mutable_heartbeat_at() = r.heartbeat_at();
  c.set_drift_corrections(r.drift_corrections());
  double age = r.has_heartbeat_at() ? now_seconds - EpochSeconds(r.heartbeat_at()) : 0;
  c.set_heartbeat_age_seconds(age < 0 ? 0 : age);
  const double period = r.heartbeat_interval_seconds() > 0 ? r.heartbeat_interval_seconds() : 10;
  c.set_stale(age > 3 * period);
  return c;
}

// "Kind/name" or "name".
bool Matches(const std::string& filter, const v1::ResourceStatus& s) {
  if (filter.empty()) return true;
  auto slash = filter.find('/');
  if (slash == std::string::npos) return s.name() == filter;
  return filter.substr(0, slash) == common::KindName(s.kind()) && filter.substr(slash + 1) == s.name();
}

class PgStatusReadModel final : public StatusReadModel {
 public:
  PgStatusReadModel(PgStatusReadModelOptions options, StatusHub* hub)
      : pool_(options.uri, options.schema, options.pool_size), hub_(hub) {}

  absl::StatusOr<v1::GetStatusResponse> GetStatus(const v1::GetStatusRequest& request) override {
    if (!request.resource().empty()) {
      auto slash = request.resource().find('/');
      if (slash != std::string::npos && common::KindFromName(request.resource().substr(0, slash)) == v1::RESOURCE_KIND_UNSPECIFIED) {
        return absl::InvalidArgumentError(absl::StrCat("resource: unknown kind in '", request.resource(),
                                                       "' (RedisDatabase or AerospikeCluster)"));
      }
    }
    return pool_.With("reading status of " + request.region(),
                      [&](pqxx::connection& conn) -> absl::StatusOr<v1::GetStatusResponse> {
      pqxx::read_transaction tx(conn);
      auto head = tx.exec_params("SELECT current_version, extract(epoch FROM clock_timestamp()) FROM regions "
                                 "WHERE region = $1",
                                 request.region());
      if (head.empty()) return absl::NotFoundError(absl::StrCat("region ", request.region(), " has no version"));
      const double now = head[0][1].as<double>();
      v1::GetStatusResponse resp;
      resp.set_region(request.region());
      if (!request.has_at()) {
        resp.set_desired_version(head[0][0].as<uint64_t>());
        for (const auto& row : tx.exec_params("SELECT report FROM cluster_status WHERE region = $1 ORDER BY cluster",
                                              request.region())) {
          v1::ClusterReport r;
          r.ParseFromString(pqxx::binarystring(row[0]).str());
          *resp.add_clusters() = ToClusterStatus(r, now);
        }
        for (const auto& row : tx.exec_params(
                 "SELECT status FROM resource_status WHERE region = $1 ORDER BY kind, name, cluster", request.region())) {
          v1::ResourceStatus s;
          s.ParseFromString(pqxx::binarystring(row[0]).str());
          if (Matches(request.resource(), s)) *resp.add_resources() = s;
        }
        return resp;
      }
      const double at = EpochSeconds(request.at());
      *resp.mutable_at() = request.at();
      auto desired = tx.exec_params(
          "SELECT COALESCE(max(version), 0) FROM versions WHERE region = $1 AND created_at <= to_timestamp($2)",
          request.region(), at);
      resp.set_desired_version(desired[0][0].as<uint64_t>());
      for (const auto& row : tx.exec_params(
               "SELECT DISTINCT ON (cluster, kind, name) kind, payload FROM status_history "
               "WHERE region = $1 AND recorded_at <= to_timestamp($2) "
               "ORDER BY cluster, kind, name, recorded_at DESC, kafka_offset DESC",
               request.region(), at)) {
        if (row[1].is_null()) continue;  // gone by then
        const std::string payload = pqxx::binarystring(row[1]).str();
        if (row[0].as<int>() == 0) {
          v1::ClusterReport r;
          r.ParseFromString(payload);
          *resp.add_clusters() = ToClusterStatus(r, at);
        } else {
          v1::ResourceStatus s;
          s.ParseFromString(payload);
          if (Matches(request.resource(), s)) *resp.add_resources() = s;
        }
      }
      return resp;
    });
  }

  absl::StatusOr<std::map<std::string, RegionConvergence>> Convergence() override {
    return pool_.With("reading convergence",
                      [&](pqxx::connection& conn) -> absl::StatusOr<std::map<std::string, RegionConvergence>> {
      pqxx::read_transaction tx(conn);
      std::map<std::string, RegionConvergence> out;
      for (const auto& row : tx.exec(
               "SELECT c.region, c.cluster, c.applied_version >= r.current_version FROM cluster_status c "
               "JOIN regions r ON r.region = c.region ORDER BY c.region, c.cluster")) {
        auto& conv = out[row[0].as<std::string>()];
        conv.clusters.push_back(row[1].as<std::string>());
        if (row[2].as<bool>()) ++conv.converged;
      }
      return out;
    });
  }

  absl::StatusOr<std::shared_ptr<StatusHub::Subscription>> Watch(const std::string& region,
                                                                 uint64_t from_version) override {
    if (hub_ == nullptr) return absl::FailedPreconditionError("WatchStatus needs the status projector in this process");
    // Subscribe first, so nothing reported between the replay and the live events is lost
    // (an event may then come twice; events are states, so that is harmless).
    auto sub = hub_->Subscribe(region);
    auto replay = pool_.With("replaying status of " + region,
                             [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<v1::StatusEvent>> {
      pqxx::read_transaction tx(conn);
      auto head = tx.exec_params("SELECT current_version FROM regions WHERE region = $1", region);
      if (head.empty()) return absl::NotFoundError(absl::StrCat("region ", region, " has no version"));
      std::vector<v1::StatusEvent> events;
      if (from_version == 0) return events;
      const uint64_t desired = head[0][0].as<uint64_t>();
      for (const auto& row : tx.exec_params("SELECT report FROM cluster_status WHERE region = $1 AND applied_version >= $2",
                                            region, static_cast<int64_t>(from_version))) {
        v1::StatusEvent e;
        e.mutable_cluster()->ParseFromString(pqxx::binarystring(row[0]).str());
        e.set_desired_version(desired);
        events.push_back(std::move(e));
      }
      for (const auto& row : tx.exec_params("SELECT status FROM resource_status WHERE region = $1", region)) {
        v1::StatusEvent e;
        e.mutable_resource()->ParseFromString(pqxx::binarystring(row[0]).str());
        if (e.resource().state_version() < from_version) continue;
        e.set_desired_version(desired);
        events.push_back(std::move(e));
      }
      return events;
    });
    if (!replay.ok()) {
      sub->Close();
      return replay.status();
    }
    sub->Prepend(*replay);
    return sub;
  }

 private:
  Pool pool_;
  StatusHub* const hub_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<StatusReadModel>> NewPgStatusReadModel(PgStatusReadModelOptions options,
                                                                      StatusHub* hub) {
  if (options.uri.empty()) return absl::InvalidArgumentError("status read model: uri is required");
  return std::unique_ptr<StatusReadModel>(new PgStatusReadModel(std::move(options), hub));
}

}  // namespace senren::projections
