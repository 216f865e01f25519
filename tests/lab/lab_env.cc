#include "lab/lab_env.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <sstream>

namespace senren::testing {
namespace {

[[noreturn]] void Fail(const std::string& why) {
  std::cerr << "lab: " << why << "\n";
  std::abort();
}

std::string Run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) Fail("cannot run " + cmd);
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  if (int rc = pclose(p); rc != 0) Fail("`" + cmd + "` failed with status " + std::to_string(rc));
  return out;
}

// Parses lines of the form: export NAME='value'
std::map<std::string, std::string> ParseExports(const std::string& text) {
  std::map<std::string, std::string> vars;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const std::string kPrefix = "export ";
    if (line.rfind(kPrefix, 0) != 0) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string name = line.substr(kPrefix.size(), eq - kPrefix.size());
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      value = value.substr(1, value.size() - 2);
    }
    vars[name] = value;
  }
  return vars;
}

std::string Get(const std::map<std::string, std::string>& vars, const std::string& name) {
  if (const char* v = std::getenv(name.c_str()); v != nullptr && *v != '\0') return v;
  auto it = vars.find(name);
  return it == vars.end() ? std::string() : it->second;
}

LabEnv Load() {
  std::map<std::string, std::string> vars;
  if (std::getenv("SENREN_POSTGRES_URI") == nullptr) {
    const std::string tools = std::string(SENREN_SOURCE_DIR) + "/tools/lab";
    std::cerr << "lab: SENREN_POSTGRES_URI is not set; bringing the lab up with " << tools << "\n";
    if (std::system((tools + " up --no-quickstart --no-build >&2").c_str()) != 0) {
      Fail("`tools/lab up` failed; see its output above");
    }
    vars = ParseExports(Run(tools + " env"));
  }
  LabEnv env;
  env.lab_dir = Get(vars, "SENREN_LAB_DIR");
  env.addr = Get(vars, "SENREN_ADDR");
  env.postgres_uri = Get(vars, "SENREN_POSTGRES_URI");
  env.postgres_owner_uri = Get(vars, "SENREN_POSTGRES_OWNER_URI");
  if (env.postgres_owner_uri.empty()) env.postgres_owner_uri = env.postgres_uri;
  env.kafka_brokers = Get(vars, "SENREN_KAFKA_BROKERS");
  env.kafka_ledger_config = Get(vars, "SENREN_KAFKA_LEDGER_CONFIG");
  env.topic_prefix = Get(vars, "SENREN_TOPIC_PREFIX");
  env.token = Get(vars, "SENREN_TOKEN");
  env.admin_token = Get(vars, "SENREN_ADMIN_TOKEN");
  env.reader_token = Get(vars, "SENREN_READER_TOKEN");
  env.kube_bin = Get(vars, "SENREN_KUBE_BIN");
  std::istringstream kcs(Get(vars, "SENREN_KUBECONFIGS"));
  std::istringstream etcds(Get(vars, "SENREN_ETCD_ENDPOINTS"));
  std::istringstream kafka_configs(Get(vars, "SENREN_KAFKA_PLANE_CONFIGS"));
  std::string path;
  while (kcs >> path) {
    // .../kube/<cloud>-<region>-<cluster>/kubeconfig: the cluster is the last dash part,
    // the cloud the first.
    auto dir_end = path.rfind('/');
    auto dir_begin = path.rfind('/', dir_end - 1);
    std::string slug = path.substr(dir_begin + 1, dir_end - dir_begin - 1);
    LabCluster c;
    c.kubeconfig = path;
    auto last = slug.rfind('-');
    auto first = slug.find('-');
    c.cluster = slug.substr(last + 1);
    c.region = slug.substr(0, first) + ":" + slug.substr(first + 1, last - first - 1);
    etcds >> c.etcd;  // the same order as the kubeconfigs
    kafka_configs >> c.kafka_config;
    env.clusters.push_back(c);
  }
  if (env.postgres_uri.empty() || env.kafka_brokers.empty() || env.clusters.empty()) {
    Fail("the lab's environment is incomplete (SENREN_POSTGRES_URI, SENREN_KAFKA_BROKERS, "
         "SENREN_KUBECONFIGS); run `eval \"$(tools/lab env)\"`");
  }
  return env;
}

}  // namespace

const LabEnv& Lab() {
  static const LabEnv env = Load();
  return env;
}

std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed + static_cast<unsigned>(counter.load()));
  std::ostringstream out;
  out << prefix << "-" << getpid() << "-" << counter++ << "-" << std::hex << (rng() & 0xffff);
  return out.str();
}

}  // namespace senren::testing
