#include "projections/status_read_model.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/resources.h"
#include "pg/pool.h"
#include "projections/status_keys.h"
#include "projections/status_ports.h"
#include "senren/v1/status.pb.h"

namespace senren::projections {
namespace {

using google::protobuf::util::TimeUtil;

double EpochSeconds(const google::protobuf::Timestamp& t) {
  return static_cast<double>(t.seconds()) + static_cast<double>(t.nanos()) / 1e9;
}

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
  c.set_rejected_snapshots(r.rejected_snapshots());
  c.set_last_rejected_snapshot(r.last_rejected_snapshot());
  double age = r.has_heartbeat_at() ? now_seconds - EpochSeconds(r.heartbeat_at()) : 0;
  c.set_heartbeat_age_seconds(age < 0 ? 0 : age);
  c.set_stale(age > StaleAfterSeconds(r));
  return c;
}

// "Kind/name" or "name".
bool Matches(const std::string& filter, const v1::ResourceStatus& s) {
  if (filter.empty()) return true;
  auto slash = filter.find('/');
  if (slash == std::string::npos) return s.name() == filter;
  return filter.substr(0, slash) == common::KindName(s.kind()) &&
         filter.substr(slash + 1) == s.name();
}

class PgStatusReadModel final : public StatusReadModel {
 public:
  PgStatusReadModel(std::unique_ptr<pg::Pool> pool, StatusHub* hub)
      : pool_(std::move(pool)), hub_(hub) {}

  absl::StatusOr<v1::GetStatusResponse> GetStatus(const v1::GetStatusRequest& request) override {
    if (!request.resource().empty()) {
      auto slash = request.resource().find('/');
      if (slash != std::string::npos && common::KindFromName(request.resource().substr(0, slash)) ==
                                            v1::RESOURCE_KIND_UNSPECIFIED) {
        return absl::InvalidArgumentError(absl::StrCat("resource: unknown kind in '",
                                                       request.resource(),
                                                       "' (RedisDatabase or AerospikeCluster)"));
      }
    }
    return pool_->Run<v1::GetStatusResponse>(
        "read the status", request.region(), pg::TxKind::kReadOnly,
        [&](pg::Transaction& tx) -> absl::StatusOr<v1::GetStatusResponse> {
          auto head = tx.ExecParams(
              "SELECT current_version, extract(epoch FROM clock_timestamp()) FROM regions "
              "WHERE region = $1",
              request.region());
          if (head.empty())
            return absl::NotFoundError(
                absl::StrCat("region ", request.region(), " has no version"));
          const double now = head[0][1].as<double>();
          v1::GetStatusResponse resp;
          resp.set_region(request.region());
          if (!request.has_at()) {
            resp.set_desired_version(head[0][0].as<uint64_t>());
            for (const auto& row : tx.ExecParams(
                     "SELECT report FROM cluster_status WHERE region = $1 ORDER BY cluster",
                     request.region())) {
              v1::ClusterReport r;
              r.ParseFromString(row[0].Bytes());
              *resp.add_clusters() = ToClusterStatus(r, now);
            }
            for (const auto& row : tx.ExecParams("SELECT status FROM resource_status WHERE region "
                                                 "= $1 ORDER BY kind, name, cluster",
                                                 request.region())) {
              v1::ResourceStatus s;
              s.ParseFromString(row[0].Bytes());
              if (Matches(request.resource(), s)) *resp.add_resources() = s;
            }
            return resp;
          }
          const double at = EpochSeconds(request.at());
          *resp.mutable_at() = request.at();
          auto desired = tx.ExecParams("SELECT COALESCE(max(version), 0) FROM versions WHERE "
                                       "region = $1 AND created_at <= to_timestamp($2)",
                                       request.region(), at);
          resp.set_desired_version(desired[0][0].as<uint64_t>());
          // A cluster's row stands for its report from recorded_at and for every
          // heartbeat up to seen_until (migration 0007; a silence longer than the stale
          // limit starts a new row). Within that run history keeps its bounds, not each
          // beat, so the last heartbeat at `at` is `at` itself, up to seen_until; after
          // it, the cluster grows stale.
          for (const auto& row :
               tx.ExecParams("SELECT DISTINCT ON (cluster, kind, name) kind, payload, "
                             "(extract(epoch FROM least(coalesce(seen_until, recorded_at), "
                             "to_timestamp($2))) * 1000000)::bigint FROM status_history "
                             "WHERE region = $1 AND recorded_at <= to_timestamp($2) "
                             "ORDER BY cluster, kind, name, recorded_at DESC, kafka_offset DESC",
                             request.region(), at)) {
            if (row[1].is_null()) continue;  // gone by then
            const std::string payload = row[1].Bytes();
            if (row[0].as<int>() == 0) {
              v1::ClusterReport r;
              r.ParseFromString(payload);
              // Later than the report's own heartbeat (by more than PostgreSQL's
              // rounding to microseconds) when heartbeats kept coming after it.
              const int64_t beat_us = row[2].as<int64_t>();
              if (!r.has_heartbeat_at() ||
                  beat_us > TimeUtil::TimestampToMicroseconds(r.heartbeat_at()) + 1) {
                *r.mutable_heartbeat_at() = TimeUtil::MicrosecondsToTimestamp(beat_us);
              }
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
    return pool_->Run<std::map<std::string, RegionConvergence>>(
        "read the convergence", "", pg::TxKind::kReadOnly,
        [&](pg::Transaction& tx) -> absl::StatusOr<std::map<std::string, RegionConvergence>> {
          std::map<std::string, RegionConvergence> out;
          for (const auto& row :
               tx.Exec("SELECT c.region, c.cluster, c.applied_version >= r.current_version FROM "
                       "cluster_status c "
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
    if (hub_ == nullptr)
      return absl::FailedPreconditionError(
          "WatchStatus needs the status projector in this process");
    // Subscribe first, so nothing reported between the replay and the live events is lost
    // (an event may then come twice; events are states, so that is harmless).
    auto sub = hub_->Subscribe(region);
    auto replay = pool_->Run<std::vector<v1::StatusEvent>>(
        "replay the status", region, pg::TxKind::kReadOnly,
        [&](pg::Transaction& tx) -> absl::StatusOr<std::vector<v1::StatusEvent>> {
          auto head =
              tx.ExecParams("SELECT current_version FROM regions WHERE region = $1", region);
          if (head.empty())
            return absl::NotFoundError(absl::StrCat("region ", region, " has no version"));
          std::vector<v1::StatusEvent> events;
          if (from_version == 0) return events;
          const uint64_t desired = head[0][0].as<uint64_t>();
          for (const auto& row : tx.ExecParams(
                   "SELECT report FROM cluster_status WHERE region = $1 AND applied_version >= $2",
                   region, static_cast<int64_t>(from_version))) {
            v1::StatusEvent e;
            e.mutable_cluster()->ParseFromString(row[0].Bytes());
            e.set_desired_version(desired);
            events.push_back(std::move(e));
          }
          for (const auto& row :
               tx.ExecParams("SELECT status FROM resource_status WHERE region = $1", region)) {
            v1::StatusEvent e;
            e.mutable_resource()->ParseFromString(row[0].Bytes());
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
  const std::unique_ptr<pg::Pool> pool_;
  StatusHub* const hub_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<StatusReadModel>> NewPgStatusReadModel(
    PgStatusReadModelOptions options, StatusHub* hub) {
  if (options.uri.empty()) return absl::InvalidArgumentError("status read model: uri is required");
  pg::PoolOptions po;
  po.connection.uri = options.uri;
  po.connection.schema = options.schema;
  po.size = options.pool_size;
  auto pool = pg::Pool::Create(std::move(po));
  if (!pool.ok()) return pool.status();
  return std::unique_ptr<StatusReadModel>(new PgStatusReadModel(std::move(*pool), hub));
}

}  // namespace senren::projections
