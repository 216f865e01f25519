#include "regional_lab.h"

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "regional/kube/kubeconfig.h"

extern char** environ;

namespace senren::regional::plane::lab {

bool Eventually(const std::function<bool()>& f, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

std::unique_ptr<kube::KubeClient> LabClient(size_t index) {
  const auto& lab = senren::testing::Lab();
  if (index >= lab.clusters.size()) std::abort();
  auto config = kube::LoadKubeConfig(lab.clusters[index].kubeconfig);
  if (!config.ok()) std::abort();
  auto client = kube::CurlKubeClient::Create(*config);
  if (!client.ok()) std::abort();
  return std::move(*client);
}

ScopedNamespace::ScopedNamespace(kube::KubeClient* client, std::string name)
    : client_(client), name_(std::move(name)) {
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name_}}}};
  auto created = client_->Create(kube::resources::Namespaces(), "", ns);
  if (!created.ok() && !absl::IsAlreadyExists(created.status())) std::abort();
}

ScopedNamespace::~ScopedNamespace() {
  client_->Delete(kube::resources::Namespaces(), "", name_, {}).IgnoreError();
}

StateProducer::StateProducer(const std::string& prefix) : topic_(prefix + "-state") {
  const auto& lab = senren::testing::Lab();
  kafka::TopicSpec spec{topic_, 12, 1, {{"cleanup.policy", "compact"}}};
  if (!kafka::EnsureTopic({lab.kafka_brokers}, spec).ok()) std::abort();
  auto p = kafka::Producer::Create({lab.kafka_brokers});
  if (!p.ok()) std::abort();
  producer_ = std::move(*p);
  auto signer = common::SnapshotSigner::Generate();
  if (!signer.ok()) std::abort();
  signer_ = std::move(*signer);
  auto verifier = common::SnapshotVerifier::FromPems({signer_->PublicKeyPem()});
  if (!verifier.ok()) std::abort();
  verifier_ = std::move(*verifier);
  verify_key_path_ = (std::filesystem::temp_directory_path() /
                      (senren::testing::UniqueName("snapshot-key") + ".pub"))
                         .string();
  std::ofstream(verify_key_path_) << signer_->PublicKeyPem();
}

StateProducer::~StateProducer() {
  std::error_code ec;
  std::filesystem::remove(verify_key_path_, ec);
}

namespace {
kafka::Record StateRecord(const std::string& topic, const v1::RegionalState& state) {
  return {topic,
          state.region(),
          state.SerializeAsString(),
          {{"senren-version", std::to_string(state.version())},
           {"senren-region", state.region()},
           {"traceparent", state.traceparent()}}};
}

void Sign(const common::SnapshotSigner& signer, kafka::Record* r) {
  auto sig = signer.Sign(*r->value);
  if (!sig.ok()) std::abort();
  r->headers.push_back({common::kSnapshotKeyIdHeader, sig->key_id});
  r->headers.push_back({common::kSnapshotSignatureHeader, sig->signature});
}
}  // namespace

void StateProducer::Produce(kafka::Record record) {
  if (!producer_->Produce(record, [](const kafka::Delivery&) {}).ok()) std::abort();
  if (!producer_->Flush(std::chrono::seconds(10)).ok()) std::abort();
}

void StateProducer::Publish(const v1::RegionalState& state) { PublishSignedBy(*signer_, state); }

void StateProducer::PublishSignedBy(const common::SnapshotSigner& signer,
                                    const v1::RegionalState& state) {
  kafka::Record r = StateRecord(topic_, state);
  Sign(signer, &r);
  Produce(std::move(r));
}

void StateProducer::PublishUnsigned(const v1::RegionalState& state) {
  Produce(StateRecord(topic_, state));
}

void StateProducer::PublishWithHeaders(const v1::RegionalState& state,
                                       std::vector<kafka::Header> headers) {
  kafka::Record r = StateRecord(topic_, state);
  for (auto& h : headers) r.headers.push_back(std::move(h));
  Produce(std::move(r));
}

void StateProducer::PublishRaw(const std::string& key, const std::optional<std::string>& value) {
  kafka::Record r{topic_, key, value, {}};
  if (value.has_value()) Sign(*signer_, &r);
  Produce(std::move(r));
}

StatusReader::StatusReader(const std::string& prefix) : topic_(prefix + "-status") {
  auto c = kafka::Consumer::Create({senren::testing::Lab().kafka_brokers});
  if (!c.ok()) std::abort();
  consumer_ = std::move(*c);
}

bool StatusReader::WaitFor(
    const std::function<bool(const std::map<std::string, std::optional<std::string>>&)>& done,
    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!assigned_) {
      auto n = kafka::PartitionCount({senren::testing::Lab().kafka_brokers}, topic_);
      if (!n.ok()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      std::vector<kafka::PartitionOffset> parts;
      for (int p = 0; p < *n; ++p) parts.push_back({topic_, p, kafka::PartitionOffset::kBeginning});
      if (!consumer_->Assign(parts).ok()) std::abort();
      assigned_ = true;
    }
    auto m = consumer_->Poll(std::chrono::milliseconds(100));
    if (m.ok() && m->has_value()) latest_[(*m)->key] = (*m)->value;
    if (done(latest_)) return true;
  }
  return done(latest_);
}

v1::RegionalState State(const std::string& region, uint64_t version,
                        std::vector<v1::Resource> resources) {
  v1::RegionalState s;
  s.set_region(region);
  s.set_version(version);
  for (auto& r : resources) *s.add_resources() = std::move(r);
  s.set_author("regional-lab-test");
  s.set_message("version " + std::to_string(version));
  s.set_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  return s;
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

std::string RunOutput(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  pclose(p);
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace senren::regional::plane::lab
