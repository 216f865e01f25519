#pragma once

// Helpers of the regional plane's lab tests: a lab cluster's client, a unique namespace,
// the test playing the snapshot projector, and a reader of {prefix}-status.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/testing/resources.h"
#include "kafka/kafka.h"
#include "lab/lab_env.h"
#include "regional/kube/curl_kube_client.h"
#include "senren/v1/state.pb.h"
#include "senren/v1/status.pb.h"

namespace senren::regional::plane::lab {

using Json = nlohmann::json;

// Polls `f` every 20 ms until it is true or `timeout` passes.
bool Eventually(const std::function<bool()>& f,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A client of lab cluster `index` (0: aws-us-east-1-prod).
std::unique_ptr<kube::KubeClient> LabClient(size_t index = 0);

// Creates a namespace; deletes it when destroyed.
class ScopedNamespace {
 public:
  ScopedNamespace(kube::KubeClient* client, std::string name);
  ~ScopedNamespace();
  const std::string& name() const { return name_; }

 private:
  kube::KubeClient* client_;
  std::string name_;
};

// Plays the snapshot projector: creates {prefix}-state (compacted, 12 partitions) and
// produces RegionalStates (headers senren-version, senren-region, traceparent) or raw bytes.
class StateProducer {
 public:
  explicit StateProducer(const std::string& prefix);
  void Publish(const v1::RegionalState& state);
  void PublishRaw(const std::string& key, const std::optional<std::string>& value);

 private:
  std::string topic_;
  std::unique_ptr<kafka::Producer> producer_;
};

// Reads every partition of {prefix}-status from the beginning, keeping the latest value of
// each key (nullopt: a tombstone).
class StatusReader {
 public:
  explicit StatusReader(const std::string& prefix);
  // Polls until `done(latest)` holds; false after `timeout`.
  bool WaitFor(
      const std::function<bool(const std::map<std::string, std::optional<std::string>>&)>& done,
      std::chrono::milliseconds timeout = std::chrono::seconds(30));
  const std::map<std::string, std::optional<std::string>>& latest() const { return latest_; }

 private:
  std::string topic_;
  std::unique_ptr<kafka::Consumer> consumer_;
  bool assigned_ = false;
  std::map<std::string, std::optional<std::string>> latest_;
};

using common::testing::Aerospike;
using common::testing::Redis;
v1::RegionalState State(const std::string& region, uint64_t version,
                        std::vector<v1::Resource> resources);

// Starts `args` (args[0]: a program's path) with stdout and stderr appended to `log`;
// returns its pid, or -1.
pid_t Spawn(const std::vector<std::string>& args, const std::string& log);
// The standard output of a shell command.
std::string RunOutput(const std::string& cmd);
// A file's contents ("" when it cannot be read).
std::string ReadFile(const std::string& path);

}  // namespace senren::regional::plane::lab
