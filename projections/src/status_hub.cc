#include "projections/status_hub.h"

namespace senren::projections {

std::optional<v1::StatusEvent> StatusHub::Subscription::Next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return !queue_.empty() || closed_; });
  if (queue_.empty()) return std::nullopt;
  v1::StatusEvent e = std::move(queue_.front());
  queue_.pop_front();
  return e;
}

void StatusHub::Subscription::Push(const v1::StatusEvent& event) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    if (queue_.size() >= capacity_) {
      overflowed_ = true;
      closed_ = true;
    } else {
      queue_.push_back(event);
    }
  }
  cv_.notify_all();
}

void StatusHub::Subscription::Prepend(const std::vector<v1::StatusEvent>& events) {
  {
    std::lock_guard lock(mu_);
    queue_.insert(queue_.begin(), events.begin(), events.end());
  }
  cv_.notify_all();
}

void StatusHub::Subscription::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool StatusHub::Subscription::Closed() const {
  std::lock_guard lock(mu_);
  return closed_ && queue_.empty();
}

bool StatusHub::Subscription::Overflowed() const {
  std::lock_guard lock(mu_);
  return overflowed_;
}

std::shared_ptr<StatusHub::Subscription> StatusHub::Subscribe(const std::string& region,
                                                              size_t capacity) {
  auto sub = std::make_shared<Subscription>(capacity);
  std::lock_guard lock(mu_);
  subs_[region].push_back(sub);
  return sub;
}

void StatusHub::Publish(const std::string& region, const v1::StatusEvent& event) {
  std::vector<std::shared_ptr<Subscription>> live;
  {
    std::lock_guard lock(mu_);
    auto it = subs_.find(region);
    if (it == subs_.end()) return;
    auto& list = it->second;
    for (auto w = list.begin(); w != list.end();) {
      if (auto s = w->lock(); s && !s->Closed()) {
        live.push_back(std::move(s));
        ++w;
      } else {
        w = list.erase(w);
      }
    }
    if (list.empty()) subs_.erase(it);
  }
  for (const auto& s : live) s->Push(event);
}

size_t StatusHub::Watchers() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [region, list] : subs_) n += list.size();
  return n;
}

}  // namespace senren::projections
