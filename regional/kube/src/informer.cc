#include "regional/kube/informer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "absl/time/time.h"
#include "regional/kube/errors.h"

namespace senren::regional::kube {
namespace {

void Trim(Json* object, bool drop_managed_fields) {
  if (drop_managed_fields && object->contains("metadata")) {
    (*object)["metadata"].erase("managedFields");
  }
}

std::string ResourceVersionOf(const Json& object) {
  const Json& meta = object.contains("metadata") ? object["metadata"] : Json::object();
  return meta.value("resourceVersion", "");
}

}  // namespace

Informer::Informer(KubeClient* client, InformerOptions options)
    : client_(client), options_(std::move(options)) {}

Informer::~Informer() { Stop(); }

void Informer::AddEventHandlers(EventHandlers handlers) {
  handlers_.push_back(std::move(handlers));
}

void Informer::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void Informer::Stop() {
  stop_.store(true);
  if (!stopped_.HasBeenNotified()) stopped_.Notify();
  if (thread_.joinable()) thread_.join();
}

bool Informer::WaitForSync(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!synced_.load()) {
    if (std::chrono::steady_clock::now() >= deadline || stop_.load()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

ObjectPtr Informer::Get(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = store_.find(key);
  return it == store_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Informer::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<ObjectPtr> out;
  out.reserve(store_.size());
  for (const auto& [key, obj] : store_) out.push_back(obj);
  return out;
}

std::vector<std::string> Informer::Keys() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  out.reserve(store_.size());
  for (const auto& [key, obj] : store_) out.push_back(key);
  return out;
}

std::string Informer::LastResourceVersion() const {
  absl::MutexLock lock(&mu_);
  return resource_version_;
}

bool Informer::SleepBackoff(std::chrono::milliseconds* backoff) {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> jitter(backoff->count() / 2, backoff->count());
  const auto delay = std::chrono::milliseconds(jitter(rng));
  *backoff = std::min(*backoff * 2, options_.max_backoff);
  return !stopped_.WaitForNotificationWithTimeout(absl::FromChrono(delay));
}

bool Informer::ListAndReplace() {
  std::chrono::milliseconds backoff = options_.min_backoff;
  while (!stop_.load()) {
    ListOptions list_options;
    list_options.label_selector = options_.label_selector;
    list_options.limit = options_.page_size;
    absl::StatusOr<ObjectList> list =
        client_->ListAll(options_.resource, options_.ns, list_options);
    if (!list.ok()) {
      spdlog::warn("informer {}: {}; retrying", options_.resource.plural, list.status().ToString());
      if (!SleepBackoff(&backoff)) return false;
      continue;
    }
    std::map<std::string, ObjectPtr> fresh;
    for (auto& item : list->items) {
      Trim(&item, options_.drop_managed_fields);
      auto obj = std::make_shared<const Json>(std::move(item));
      fresh.emplace(ObjectKey(*obj), std::move(obj));
    }
    std::map<std::string, ObjectPtr> old;
    {
      absl::MutexLock lock(&mu_);
      old.swap(store_);
      store_ = fresh;
      resource_version_ = list->resource_version;
    }
    lists_.fetch_add(1);
    for (const auto& [key, obj] : fresh) {
      auto it = old.find(key);
      for (const auto& h : handlers_) {
        if (it == old.end()) {
          if (h.on_add) h.on_add(obj);
        } else if (h.on_update) {
          h.on_update(it->second, obj);
        }
      }
    }
    for (const auto& [key, obj] : old) {
      if (fresh.contains(key)) continue;
      for (const auto& h : handlers_) {
        if (h.on_delete) h.on_delete(obj);
      }
    }
    synced_.store(true);
    return true;
  }
  return false;
}

void Informer::HandleEvent(const WatchEvent& event) {
  const std::string rv = ResourceVersionOf(event.object);
  if (event.type == WatchEventType::kBookmark) {
    absl::MutexLock lock(&mu_);
    if (!rv.empty()) resource_version_ = rv;
    return;
  }
  Json copy = event.object;
  Trim(&copy, options_.drop_managed_fields);
  auto obj = std::make_shared<const Json>(std::move(copy));
  const std::string key = ObjectKey(*obj);
  ObjectPtr old;
  {
    absl::MutexLock lock(&mu_);
    auto it = store_.find(key);
    if (it != store_.end()) old = it->second;
    if (event.type == WatchEventType::kDeleted) {
      store_.erase(key);
    } else {
      store_[key] = obj;
    }
    if (!rv.empty()) resource_version_ = rv;
  }
  for (const auto& h : handlers_) {
    if (event.type == WatchEventType::kDeleted) {
      if (h.on_delete) h.on_delete(obj);
    } else if (old == nullptr) {
      if (h.on_add) h.on_add(obj);
    } else if (h.on_update) {
      h.on_update(old, obj);
    }
  }
}

absl::Status Informer::WatchOnce() {
  WatchOptions watch_options;
  watch_options.label_selector = options_.label_selector;
  watch_options.resource_version = LastResourceVersion();
  watch_options.allow_bookmarks = true;
  // Spread the re-watches of many informers, as client-go's reflector does.
  thread_local std::mt19937 rng{std::random_device{}()};
  const int64_t base = options_.watch_timeout.count();
  std::uniform_int_distribution<int64_t> spread(base, base + base / 5);
  watch_options.timeout = std::chrono::seconds(spread(rng));
  watches_.fetch_add(1);
  return client_->Watch(
      options_.resource, options_.ns, watch_options,
      [this](const WatchEvent& event) {
        HandleEvent(event);
        return !stop_.load();
      },
      &stop_);
}

void Informer::Run() {
  std::chrono::milliseconds backoff = options_.min_backoff;
  while (!stop_.load()) {
    if (!ListAndReplace()) return;
    while (!stop_.load()) {
      absl::Status status = WatchOnce();
      if (stop_.load()) return;
      if (status.ok()) {
        backoff = options_.min_backoff;
        continue;  // the server ended the stream: resume from the last version
      }
      if (IsGone(status)) {
        spdlog::info("informer {}: {}; relisting", options_.resource.plural, status.ToString());
        break;
      }
      // Dropped stream, refused connection, 5xx: resume from the last version after a
      // pause; if that version is too old by then, the next watch answers 410.
      spdlog::warn("informer {}: {}; resuming watch", options_.resource.plural, status.ToString());
      if (!SleepBackoff(&backoff)) return;
    }
  }
}

}  // namespace senren::regional::kube
