#include "regional/kube/leader_election.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "regional/kube/errors.h"

namespace senren::regional::kube {
namespace {

int64_t ToNanos(Clock::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string NowMicroTime() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
}

absl::Status ValidateLeaderElectionOptions(const LeaderElectionOptions& o) {
  if (o.retry_period.count() <= 0) {
    return absl::InvalidArgumentError("leader election: the retry period must be positive");
  }
  if (o.lease_duration < std::chrono::seconds(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("leader election: the lease duration (", o.lease_duration.count(),
                     " ms) must be at least 1 s: a Lease holds whole seconds"));
  }
  if (o.renew_deadline >= o.lease_duration) {
    return absl::InvalidArgumentError(absl::StrCat(
        "leader election: the renew deadline (", o.renew_deadline.count(),
        " ms) must be shorter than the lease duration (", o.lease_duration.count(),
        " ms): the difference is the margin in which a stepped-down leader's last writes land"));
  }
  if (o.retry_period >= o.renew_deadline) {
    return absl::InvalidArgumentError(
        absl::StrCat("leader election: the retry period (", o.retry_period.count(),
                     " ms) must be shorter than the renew deadline (", o.renew_deadline.count(),
                     " ms), or a single failed renewal loses the Lease"));
  }
  return absl::OkStatus();
}

LeaderElector::LeaderElector(KubeClient* client, LeaderElectionOptions options)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()) {}

LeaderElector::~LeaderElector() {
  Stop();
  if (request_thread_.joinable()) request_thread_.join();
}

bool LeaderElector::IsLeader() const {
  return leader_.load() && ToNanos(clock_->Now()) < leading_until_ns_.load();
}

void LeaderElector::Stop() {
  absl::MutexLock lock(&mu_);
  stop_ = true;
}

bool LeaderElector::WaitStop(TimePoint deadline) {
  absl::MutexLock lock(&mu_);
  if (clock_->Now() < deadline) clock_->AwaitWithDeadline(&mu_, absl::Condition(&stop_), deadline);
  return stop_;
}

absl::StatusOr<Json> LeaderElector::CallBefore(TimePoint deadline,
                                               std::function<absl::StatusOr<Json>()> call,
                                               bool interruptible) {
  {
    absl::MutexLock lock(&mu_);
    if (pending_ != nullptr && !pending_->done) {
      // A new request could only queue behind it in a sick client; the attempt fails.
      return absl::DeadlineExceededError(
          absl::StrCat("Lease ", options_.ns, "/", options_.name,
                       ": an earlier request has not answered yet; not sending another"));
    }
    if (interruptible && stop_) return absl::CancelledError("leader election stopped");
  }
  if (request_thread_.joinable()) request_thread_.join();
  if (clock_->Now() >= deadline) {
    return absl::DeadlineExceededError(absl::StrCat("Lease ", options_.ns, "/", options_.name,
                                                    ": no time left before the deadline"));
  }
  auto pending = std::make_shared<Pending>();
  {
    absl::MutexLock lock(&mu_);
    pending_ = pending;
  }
  // The helper thread outlives an abandoned wait; it only touches `pending` and mu_,
  // and the destructor joins it before either goes away.
  request_thread_ = std::thread([this, pending, call = std::move(call)] {
    absl::StatusOr<Json> result = call();
    absl::MutexLock lock(&mu_);
    pending->result = std::move(result);
    pending->done = true;
  });
  absl::MutexLock lock(&mu_);
  auto ready = [this, &pending, interruptible]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return pending->done || (interruptible && stop_);
  };
  if (clock_->Now() < deadline) clock_->AwaitWithDeadline(&mu_, absl::Condition(&ready), deadline);
  if (pending->done) return std::move(pending->result);
  if (interruptible && stop_) return absl::CancelledError("leader election stopped");
  return absl::DeadlineExceededError(absl::StrCat("Lease ", options_.ns, "/", options_.name,
                                                  ": the apiserver did not answer in time"));
}

LeaderElector::Attempt LeaderElector::TryAcquireOrRenewBefore(TimePoint deadline) {
  // Whole seconds, rounded up: a Lease never claims less than we wait for.
  const int duration_s = static_cast<int>((options_.lease_duration.count() + 999) / 1000);
  const std::string now = NowMicroTime();
  KubeClient* const client = client_;
  const std::string ns = options_.ns;
  const std::string name = options_.name;
  absl::StatusOr<Json> lease = CallBefore(
      deadline, [client, ns, name] { return client->Get(resources::Leases(), ns, name); },
      /*interruptible=*/true);
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
    absl::StatusOr<Json> created = CallBefore(
        deadline, [client, ns, fresh] { return client->Create(resources::Leases(), ns, fresh); },
        /*interruptible=*/true);
    if (!created.ok()) {
      if (!absl::IsAlreadyExists(created.status()) && !absl::IsCancelled(created.status())) {
        spdlog::warn("leader election: {}", created.status().ToString());
      }
      return Attempt::kFailed;
    }
    observed_holder_ = options_.identity;
    observed_renew_time_ = now;
    observed_at_ = clock_->Now();
    return Attempt::kHeld;
  }
  if (!lease.ok()) {
    if (!absl::IsCancelled(lease.status())) {
      spdlog::warn("leader election: {}", lease.status().ToString());
    }
    return Attempt::kFailed;
  }
  Json spec = (*lease)["spec"].is_object() ? (*lease)["spec"] : Json::object();
  const std::string holder = spec.value("holderIdentity", "");
  const std::string renew = spec.value("renewTime", "");
  if (holder != observed_holder_ || renew != observed_renew_time_) {
    observed_holder_ = holder;
    observed_renew_time_ = renew;
    observed_at_ = clock_->Now();
  }
  const int held_for_s = spec.value("leaseDurationSeconds", duration_s);
  const bool expired = clock_->Now() > observed_at_ + std::chrono::seconds(held_for_s);
  if (!holder.empty() && holder != options_.identity && !expired) {
    if (holder != logged_holder_) {
      logged_holder_ = holder;
      spdlog::info("leader election: {}/{} is held by {}; {} waits", options_.ns, options_.name,
                   holder, options_.identity);
    }
    return Attempt::kHeldByOther;
  }

  Json updated = *lease;
  if (holder != options_.identity) {
    spec["acquireTime"] = now;
    spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + (holder.empty() ? 0 : 1);
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = duration_s;
  spec["renewTime"] = now;
  updated["spec"] = spec;
  absl::StatusOr<Json> written = CallBefore(
      deadline, [client, ns, updated] { return client->Update(resources::Leases(), ns, updated); },
      /*interruptible=*/true);
  if (!written.ok()) {
    if (!IsConflict(written.status()) && !absl::IsCancelled(written.status())) {
      spdlog::warn("leader election: {}", written.status().ToString());
    }
    return Attempt::kFailed;
  }
  observed_holder_ = options_.identity;
  observed_renew_time_ = now;
  observed_at_ = clock_->Now();
  return Attempt::kHeld;
}

bool LeaderElector::TryAcquireOrRenew() {
  return TryAcquireOrRenewBefore(clock_->Now() + options_.renew_deadline) == Attempt::kHeld;
}

void LeaderElector::Release() {
  KubeClient* const client = client_;
  const std::string ns = options_.ns;
  const std::string name = options_.name;
  const TimePoint deadline = clock_->Now() + options_.renew_deadline;
  absl::StatusOr<Json> lease = CallBefore(
      deadline, [client, ns, name] { return client->Get(resources::Leases(), ns, name); },
      /*interruptible=*/false);
  if (!lease.ok() || (*lease)["spec"].value("holderIdentity", "") != options_.identity) return;
  Json updated = *lease;
  updated["spec"]["holderIdentity"] = "";
  updated["spec"]["leaseDurationSeconds"] = 1;
  updated["spec"]["renewTime"] = NowMicroTime();
  CallBefore(
      deadline, [client, ns, updated] { return client->Update(resources::Leases(), ns, updated); },
      /*interruptible=*/false)
      .status()
      .IgnoreError();
}

bool LeaderElector::Run(const std::function<void()>& on_started_leading,
                        const std::function<void()>& on_stopped_leading) {
  // A renewal counts from when its attempt began: the apiserver stamped the Lease after
  // that, so nobody can see it expire before begin + lease_duration.
  TimePoint leading_until;
  for (;;) {
    const TimePoint begin = clock_->Now();
    leading_until = begin + options_.renew_deadline;
    if (TryAcquireOrRenewBefore(leading_until) == Attempt::kHeld && clock_->Now() < leading_until) {
      break;
    }
    if (WaitStop(clock_->Now() + options_.retry_period)) return true;
  }
  leading_until_ns_.store(ToNanos(leading_until));
  leader_.store(true);
  spdlog::info("leader election: {} leads {}/{}", options_.identity, options_.ns, options_.name);
  on_started_leading();
  bool stopped = false;
  for (;;) {
    // Never sleep past the deadline: at the deadline, leadership ends.
    if (WaitStop(std::min(clock_->Now() + options_.retry_period, leading_until))) {
      stopped = true;
      break;
    }
    const TimePoint begin = clock_->Now();
    if (begin >= leading_until) {
      spdlog::error("leader election: {} could not renew {}/{} within the renew deadline "
                    "({} ms); stepping down",
                    options_.identity, options_.ns, options_.name, options_.renew_deadline.count());
      break;
    }
    const Attempt attempt = TryAcquireOrRenewBefore(leading_until);
    if (attempt == Attempt::kHeld) {
      leading_until = begin + options_.renew_deadline;
      leading_until_ns_.store(ToNanos(leading_until));
      continue;
    }
    if (attempt == Attempt::kHeldByOther) {
      spdlog::error("leader election: {}/{} is held by {}; {} steps down", options_.ns,
                    options_.name, observed_holder_, options_.identity);
      break;
    }
  }
  leader_.store(false);
  leading_until_ns_.store(0);
  spdlog::info("leader election: {} stopped leading {}/{}", options_.identity, options_.ns,
               options_.name);
  on_stopped_leading();
  // Only now that the caller's writers have stopped may a successor take over at once.
  if (stopped) Release();
  return stopped;
}

void ExitOnLostLease(const LeaderElectionOptions& options) {
  spdlog::error("lost the Lease {}/{}; exiting now so that no write follows", options.ns,
                options.name);
  spdlog::default_logger()->flush();
  std::fflush(stdout);
  std::_Exit(1);
}

}  // namespace senren::regional::kube
