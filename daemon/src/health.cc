#include "daemon/health.h"

#include "absl/strings/str_cat.h"

namespace senren::daemon {
namespace {

// "42s", "3m", "2h": enough for a reason a person reads.
std::string Ago(absl::Duration d) {
  if (d < absl::Minutes(2)) return absl::StrCat(absl::ToInt64Seconds(d), "s");
  if (d < absl::Hours(2)) return absl::StrCat(absl::ToInt64Minutes(d), "m");
  return absl::StrCat(absl::ToInt64Hours(d), "h");
}

}  // namespace

std::string ReconcilerNotReady(const ReconcilerState& state) {
  switch (state.role) {
    case ReconcilerState::Role::kStopping:
      return "stopping";
    case ReconcilerState::Role::kStandby:
      return "";
    case ReconcilerState::Role::kLeading:
      break;
  }
  if (!state.caches_synced) return "leading, caches not synced";
  if (state.idle) return "";
  if (state.last_reconcile == absl::InfinitePast()) return "leading, no reconcile yet";
  const absl::Duration age = state.now - state.last_reconcile;
  if (age > state.max_reconcile_age) {
    return absl::StrCat("leading, last reconcile ", Ago(age), " ago (limit ",
                        Ago(state.max_reconcile_age), ")");
  }
  return "";
}

ReconcilerHealth::ReconcilerHealth(Health* health, absl::Duration max_reconcile_age,
                                   std::function<absl::Time()> now)
    : health_(health), max_reconcile_age_(max_reconcile_age), now_(std::move(now)) {}

void ReconcilerHealth::Update(ReconcilerState::Role role, bool caches_synced, int64_t reconciles,
                              bool idle) {
  const absl::Time t = now_();
  bool progress = false;
  {
    absl::MutexLock lock(&mu_);
    if (reconciles != reconciles_) {
      // The first count seen is no reconcile of this run's: it only sets the baseline.
      if (reconciles_ >= 0 || reconciles > 0) state_.last_reconcile = t;
      reconciles_ = reconciles;
      progress = true;
    }
    state_.role = role;
    state_.caches_synced = caches_synced;
    state_.idle = idle;
  }
  if (progress || idle || role != ReconcilerState::Role::kLeading) {
    health_->Beat("reconcile", 5 * max_reconcile_age_);
  }
}

std::string ReconcilerHealth::NotReady() const {
  ReconcilerState s;
  {
    absl::MutexLock lock(&mu_);
    s = state_;
  }
  s.now = now_();
  s.max_reconcile_age = max_reconcile_age_;
  return ReconcilerNotReady(s);
}

Health::Health(std::function<absl::Time()> now) : now_(std::move(now)) {}

void Health::Beat(const std::string& loop, absl::Duration max_silence) {
  const absl::Time t = now_();
  absl::MutexLock lock(&mu_);
  loops_[loop] = {t, max_silence};
}

void Health::Forget(const std::string& loop) {
  absl::MutexLock lock(&mu_);
  loops_.erase(loop);
}

void Health::AddReadinessCheck(const std::string& name, std::function<std::string()> not_ready) {
  absl::MutexLock lock(&mu_);
  checks_.emplace_back(name, std::move(not_ready));
}

void Health::SetStopping() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

std::string Health::NotLive() const {
  const absl::Time t = now_();
  absl::MutexLock lock(&mu_);
  for (const auto& [name, loop] : loops_) {
    const absl::Duration silent = t - loop.last;
    if (silent > loop.max_silence) return absl::StrCat(name, " silent for ", Ago(silent));
  }
  return "";
}

std::string Health::NotReady() const {
  std::vector<std::pair<std::string, std::function<std::string()>>> checks;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return "stopping";
    checks = checks_;
  }
  // Outside the lock: a check may read other components' state under their own locks.
  for (const auto& [name, check] : checks) {
    std::string reason = check();
    if (!reason.empty()) return absl::StrCat(name, ": ", reason);
  }
  return "";
}

}  // namespace senren::daemon
