#pragma once

#include <string>
#include <vector>

namespace senren::testing {

// One Kubernetes cluster of the lab.
struct LabCluster {
  std::string region;      // "aws:us-east-1"
  std::string cluster;     // "prod"
  std::string kubeconfig;  // path
  std::string etcd;        // client URL of the cluster's etcd, "http://127.0.0.1:52379"
  // --kafka-config of the cluster's senren-regional: its principal on the SASL_SSL
  // listener, held to the planes' ACLs (SENREN_KAFKA_PLANE_CONFIGS).
  std::string kafka_config;
};

// Coordinates of the running lab (docs/design.md §10), as `tools/lab env` prints them.
struct LabEnv {
  std::string lab_dir;
  std::string addr;          // senren-ledger gRPC
  std::string postgres_uri;  // the service role's (SENREN_POSTGRES_URI)
  // The schema owner's, for migrations (SENREN_POSTGRES_OWNER_URI); postgres_uri when the
  // lab has no separate owner.
  std::string postgres_owner_uri;
  std::string kafka_brokers;  // PLAINTEXT; its principal is a super user
  // --kafka-config of senren-ledger: the control plane's principal on the SASL_SSL
  // listener, held to its ACLs (SENREN_KAFKA_LEDGER_CONFIG).
  std::string kafka_ledger_config;
  std::string topic_prefix;
  std::string token;        // writer
  std::string admin_token;  // admin
  std::string reader_token;
  std::string kube_bin;  // folder with the lab's kubectl
  std::vector<LabCluster> clusters;
};

// The lab, brought up on first use: when SENREN_POSTGRES_URI is not in the environment
// (tools/test sets it), runs `tools/lab up --no-quickstart` (a no-op on a running lab) and
// reads `tools/lab env`. A lab that cannot come up aborts the test binary with the reason:
// a test that needs the lab never skips.
const LabEnv& Lab();

// A name unique to this process and call, for per-test topics, schemas and namespaces:
// "<prefix>-<pid>-<counter>-<random>" in lower case.
std::string UniqueName(const std::string& prefix);

}  // namespace senren::testing
