#include "regional/kube/leader_election.h"

#include <spdlog/spdlog.h>

#include <ctime>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "regional/kube/errors.h"

namespace senren::regional::kube {

std::string NowMicroTime() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
}

LeaderElector::LeaderElector(KubeClient* client, LeaderElectionOptions options)
    : client_(client), options_(std::move(options)) {}

bool LeaderElector::TryAcquireOrRenew() {
  const int duration_s = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(options_.lease_duration).count());
  const std::string now = NowMicroTime();
  absl::StatusOr<Json> lease = client_->Get(resources::Leases(), options_.ns, options_.name);
  if (absl::IsNotFound(lease.status())) {
    Json fresh = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", options_.name}, {"namespace", options_.ns}}},
                  {"spec",
                   {{"holderIdentity", options_.identity},
                    {"leaseDurationSeconds", duration_s},
                    {"acquireTime", now},
                    {"renewTime", now},
                    {"leaseTransitions", 0}}}};
    absl::StatusOr<Json> created = client_->Create(resources::Leases(), options_.ns, fresh);
    if (!created.ok()) return false;
    observed_holder_ = options_.identity;
    observed_renew_time_ = now;
    observed_at_ = std::chrono::steady_clock::now();
    return true;
  }
  if (!lease.ok()) {
    spdlog::warn("leader election: {}", lease.status().ToString());
    return false;
  }
  Json spec = (*lease)["spec"].is_object() ? (*lease)["spec"] : Json::object();
  const std::string holder = spec.value("holderIdentity", "");
  const std::string renew = spec.value("renewTime", "");
  if (holder != observed_holder_ || renew != observed_renew_time_) {
    observed_holder_ = holder;
    observed_renew_time_ = renew;
    observed_at_ = std::chrono::steady_clock::now();
  }
  const int held_for_s = spec.value("leaseDurationSeconds", duration_s);
  const bool expired =
      std::chrono::steady_clock::now() > observed_at_ + std::chrono::seconds(held_for_s);
  if (!holder.empty() && holder != options_.identity && !expired) return false;

  Json updated = *lease;
  if (holder != options_.identity) {
    spec["acquireTime"] = now;
    spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + (holder.empty() ? 0 : 1);
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = duration_s;
  spec["renewTime"] = now;
  updated["spec"] = spec;
  absl::StatusOr<Json> written = client_->Update(resources::Leases(), options_.ns, updated);
  if (!written.ok()) {
    if (!IsConflict(written.status())) {
      spdlog::warn("leader election: {}", written.status().ToString());
    }
    return false;
  }
  observed_holder_ = options_.identity;
  observed_renew_time_ = now;
  observed_at_ = std::chrono::steady_clock::now();
  return true;
}

void LeaderElector::Release() {
  absl::StatusOr<Json> lease = client_->Get(resources::Leases(), options_.ns, options_.name);
  if (!lease.ok() || (*lease)["spec"].value("holderIdentity", "") != options_.identity) return;
  Json updated = *lease;
  updated["spec"]["holderIdentity"] = "";
  updated["spec"]["leaseDurationSeconds"] = 1;
  updated["spec"]["renewTime"] = NowMicroTime();
  client_->Update(resources::Leases(), options_.ns, updated).status().IgnoreError();
}

bool LeaderElector::Run(const std::function<void()>& on_started_leading,
                        const std::function<void()>& on_stopped_leading) {
  const absl::Duration retry = absl::FromChrono(options_.retry_period);
  while (!TryAcquireOrRenew()) {
    if (stop_.WaitForNotificationWithTimeout(retry)) return true;
  }
  spdlog::info("leader election: {} leads {}/{}", options_.identity, options_.ns, options_.name);
  leader_.store(true);
  on_started_leading();
  auto last_renew = std::chrono::steady_clock::now();
  bool stopped = false;
  while (true) {
    if (stop_.WaitForNotificationWithTimeout(retry)) {
      stopped = true;
      break;
    }
    if (TryAcquireOrRenew()) {
      last_renew = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_renew > options_.renew_deadline) {
      spdlog::error("leader election: {} could not renew {}/{} for {} ms; stepping down",
                    options_.identity, options_.ns, options_.name,
                    options_.renew_deadline.count());
      break;
    }
  }
  leader_.store(false);
  if (stopped) Release();
  on_stopped_leading();
  return stopped;
}

void LeaderElector::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
}

}  // namespace senren::regional::kube
