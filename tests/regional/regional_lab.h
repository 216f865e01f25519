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

#include "common/snapshot_signature.h"
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
// produces RegionalStates (headers senren-version, senren-region, traceparent) or raw bytes,
// signed as the projector signs them with a key pair of its own (made per producer).
// A plane under test trusts it through verifier() (in process) or verify_key_path()
// (senren-regional --snapshot-verify-key).
class StateProducer {
 public:
  explicit StateProducer(const std::string& prefix);
  ~StateProducer();
  void Publish(const v1::RegionalState& state);
  // Raw bytes under `key`, signed when there is a value (a tombstone carries no signature).
  void PublishRaw(const std::string& key, const std::optional<std::string>& value);
  // As the projector without a signing key would, or anyone else who can write the topic.
  void PublishUnsigned(const v1::RegionalState& state);
  // Signed with `signer` instead of this producer's key.
  void PublishSignedBy(const common::SnapshotSigner& signer, const v1::RegionalState& state);
  // Unsigned, with `headers` added (e.g. a signature header made up by the test).
  void PublishWithHeaders(const v1::RegionalState& state, std::vector<kafka::Header> headers);

  const common::SnapshotSigner& signer() const { return *signer_; }
  std::shared_ptr<const common::SnapshotVerifier> verifier() const { return verifier_; }
  // A PEM file of the public key, removed with the producer.
  const std::string& verify_key_path() const { return verify_key_path_; }

 private:
  void Produce(kafka::Record record);

  std::string topic_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<common::SnapshotSigner> signer_;
  std::shared_ptr<const common::SnapshotVerifier> verifier_;
  std::string verify_key_path_;
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
