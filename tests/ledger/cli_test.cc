// The senren-ledger binary's client commands against an in-process server: the admin walk
// of docs/ledger.md (apply, unchanged, edit, history, diff, rollback, show), bad files and
// wrong tokens giving clear errors and writing nothing, and the output formats.
#include "cli/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"
#include "server_fixture.h"

namespace senren::ledger {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ServerFixture;

struct CliRun {
  int rc = -1;
  std::string out;
  std::string err;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class CliTest : public ::testing::Test {
 protected:
  CliRun Cli(const std::string& args, const std::string& token = "writer-token-1") {
    const std::string out = dir_ + "/out";
    const std::string err = dir_ + "/err";
    const std::string cmd = "SENREN_ADDR=" + f_.addr() + " SENREN_TOKEN=" + token + " " +
                            SENREN_LEDGER_BIN + " " + args + " >" + out + " 2>" + err;
    CliRun r;
    int status = std::system(cmd.c_str());
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = Slurp(out);
    r.err = Slurp(err);
    return r;
  }

  std::string Example(const std::string& name) {
    return std::string(SENREN_SOURCE_DIR) + "/examples/states/" + name;
  }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  ServerFixture f_;
  std::string dir_ = [] {
    char tmpl[] = "/tmp/senren-cli-test-XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
};

TEST_F(CliTest, TheDoneWhenWalk) {
  CliRun r = Cli("apply -f " + Example("aws-us-east-1.yaml"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("aws:us-east-1: version 1"));

  r = Cli("apply -f " + Example("aws-us-east-1.yaml"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("unchanged at version 1"));

  r = Cli("plan -f " + Example("aws-us-east-1-v2.yaml"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("plan against version 1"));
  EXPECT_THAT(r.out, HasSubstr("~ RedisDatabase/sessions  memory_mb 512 -> 1024"));

  r = Cli("apply -f " + Example("aws-us-east-1-v2.yaml") + " --expected-version 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("version 2 (created 1, updated 1, deleted 0)"));

  r = Cli("history aws:us-east-1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("grow sessions cache"));
  EXPECT_THAT(r.out, HasSubstr("initial caches and profile store"));
  EXPECT_THAT(r.out, HasSubstr("test-writer"));
  EXPECT_LT(r.out.find("\n2 "), r.out.find("\n1 "));  // newest first

  r = Cli("history aws:us-east-1 -o json", "reader-token-1");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto history = nlohmann::json::parse(r.out);
  ASSERT_EQ(history["versions"].size(), 2u);
  EXPECT_EQ(history["versions"][0]["created"], 1);
  EXPECT_EQ(history["versions"][0]["updated"], 1);
  EXPECT_EQ(history["versions"][1]["created"], 3);
  EXPECT_EQ(history["versions"][0]["author"], "test-writer");

  r = Cli("diff aws:us-east-1 1 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("+ RedisDatabase/feature-flags"));
  EXPECT_THAT(r.out, HasSubstr("~ RedisDatabase/sessions  memory_mb 512 -> 1024"));

  r = Cli("rollback aws:us-east-1 --to 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("version 3"));

  CliRun v1 = Cli("show aws:us-east-1 --version 1 -o json");
  CliRun v3 = Cli("show aws:us-east-1 -o json");
  ASSERT_EQ(v1.rc, 0) << v1.err;
  ASSERT_EQ(v3.rc, 0) << v3.err;
  auto j1 = nlohmann::json::parse(v1.out);
  auto j3 = nlohmann::json::parse(v3.out);
  EXPECT_EQ(j3["version"], 3);
  EXPECT_EQ(j1["resources"], j3["resources"]);
  EXPECT_EQ(j1["resources"].size(), 3u);

  // `show -o yaml` is a state file: applying it again changes nothing.
  CliRun yaml = Cli("show aws:us-east-1 -o yaml");
  ASSERT_EQ(yaml.rc, 0);
  r = Cli("apply -f " + Write("again.yaml", yaml.out));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("unchanged at version 3"));

  r = Cli("history aws:us-east-1 -o yaml");
  ASSERT_EQ(r.rc, 0);
  EXPECT_THAT(r.out, HasSubstr("origin: rollback"));
  EXPECT_THAT(r.out, HasSubstr("rollback_of: 1"));

  r = Cli("regions");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("aws:us-east-1"));
}

// The audit questions of docs/ledger.md, each answered by one command.
TEST_F(CliTest, AuditCommandsAnswerWhoChangedWhatAndWhen) {
  ASSERT_EQ(Cli("apply -f " + Example("aws-us-east-1.yaml") + " --author alice").rc, 0);
  ASSERT_EQ(Cli("apply -f " + Example("gcp-europe-west1.yaml") + " --author alice").rc, 0);
  ASSERT_EQ(Cli("apply -f " + Example("aws-us-east-1-v2.yaml") + " --author bob").rc, 0);
  ASSERT_EQ(Cli("rollback aws:us-east-1 --to 1 --author carol -m 'undo the growth'").rc, 0);

  // Who changed RedisDatabase/sessions, and how?
  CliRun r = Cli("history aws:us-east-1 --resource RedisDatabase/sessions");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("memory_mb 512 -> 1024"));
  EXPECT_THAT(r.out, HasSubstr("memory_mb 1024 -> 512"));
  EXPECT_THAT(r.out, HasSubstr("created"));
  r = Cli("history aws:us-east-1 --resource RedisDatabase/sessions -o json", "reader-token-1");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["versions"].size(), 3u);
  EXPECT_EQ(j["versions"][0]["version"], 3);  // a number, as in state files
  EXPECT_EQ(j["versions"][0]["origin"], "rollback");
  EXPECT_EQ(j["versions"][0]["author"], "carol");
  EXPECT_EQ(j["versions"][1]["change"], "updated");
  EXPECT_EQ(j["versions"][1]["resource"], "RedisDatabase/sessions");
  EXPECT_EQ(j["versions"][1]["changed_fields"]["memory_mb"]["from"], 512);
  EXPECT_EQ(j["versions"][1]["changed_fields"]["memory_mb"]["to"], 1024);
  EXPECT_EQ(j["versions"][2]["change"], "created");
  EXPECT_EQ(j["versions"][2]["spec"]["persistence"], "rdb");
  const std::string t1 = j["versions"][2]["time"];
  const std::string t2 = j["versions"][1]["time"];

  // Who set each field of it?
  r = Cli("blame aws:us-east-1 RedisDatabase/feature-flags", "reader-token-1");
  EXPECT_EQ(r.rc, 1);  // the rollback removed it
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
  r = Cli("blame aws:us-east-1 RedisDatabase/sessions --version 2 -o json", "reader-token-1");
  ASSERT_EQ(r.rc, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["resource"]["kind"], "RedisDatabase");
  EXPECT_EQ(j["created"]["version"], 1);
  std::map<std::string, nlohmann::json> fields;
  for (const auto& f : j["fields"]) fields[f["field"]] = f;
  EXPECT_EQ(fields["memory_mb"]["value"], 1024);
  EXPECT_EQ(fields["memory_mb"]["version"], 2);
  EXPECT_EQ(fields["memory_mb"]["author"], "bob");
  EXPECT_EQ(fields["replicas"]["version"], 1);
  EXPECT_EQ(fields["replicas"]["author"], "alice");
  r = Cli("blame aws:us-east-1 RedisDatabase/sessions");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("memory_mb"));
  EXPECT_THAT(r.out, HasSubstr("carol"));  // the rollback set memory_mb back
  r = Cli("blame aws:us-east-1 RedisDatabase/sessions -o csv");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("field,value,version,author,time,message\n"));
  EXPECT_THAT(r.out, HasSubstr("memory_mb,512,3,carol,"));

  // What did the region look like at a time?
  r = Cli("show aws:us-east-1 --at " + t1 + " -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["version"], 1);
  r = Cli("show aws:us-east-1 --at " + t2);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("aws:us-east-1 version 2 by bob"));
  r = Cli("show aws:us-east-1 --at 2001-01-01T00:00:00Z");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("had no version at"));
  r = Cli("show aws:us-east-1 --at yesterday");
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, HasSubstr("RFC 3339"));

  // What did one person do, everywhere? What were the rollbacks?
  r = Cli("history --all-regions --author alice --since " + t1 + " -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["versions"].size(), 2u);
  EXPECT_EQ(j["versions"][0]["region"], "gcp:europe-west1");  // newest first across regions
  EXPECT_EQ(j["versions"][1]["region"], "aws:us-east-1");
  r = Cli("history aws:us-east-1 --origin rollback -o csv");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("region,version,time,author,origin,rollback_of,"));
  EXPECT_THAT(r.out, HasSubstr("aws:us-east-1,3,"));
  EXPECT_THAT(r.out, HasSubstr(",carol,rollback,1,"));
  EXPECT_THAT(r.out, Not(HasSubstr(",alice,")));
  r = Cli("history aws:us-east-1 --author bob --until " + t1);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("no versions match"));
  r = Cli("history aws:us-east-1 --all --since " + t2 + " -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["versions"].size(), 2u);
  r = Cli("history aws:us-east-1 --resource sessions");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("Kind/name"));
  r = Cli("regions -o csv");
  EXPECT_EQ(r.rc, 2);
}

TEST_F(CliTest, ABadFileNamesFileResourceFieldAndWritesNothing) {
  CliRun r = Cli("apply -f " + Example("invalid.yaml"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, HasSubstr("invalid.yaml:4"));
  EXPECT_THAT(r.err, HasSubstr("RedisDatabase/sessions"));
  EXPECT_THAT(r.err, HasSubstr("spec.memory_mb"));
  r = Cli("apply -f /nonexistent/state.yaml");
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/state.yaml"));
  r = Cli("regions -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("aws:us-east-1")));
}

TEST_F(CliTest, AWrongTokenIsAClearErrorAndWritesNothing) {
  CliRun r = Cli("apply -f " + Example("aws-us-east-1.yaml"), "wrong");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("UNAUTHENTICATED"));
  r = Cli("apply -f " + Example("aws-us-east-1.yaml"), "reader-token-1");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("PERMISSION_DENIED"));
  r = Cli("show aws:us-east-1 -o json", "reader-token-1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["version"], 0);
}

TEST_F(CliTest, ServerRefusalsExitNonZeroWithTheServerMessage) {
  ASSERT_EQ(Cli("apply -f " + Example("aws-us-east-1.yaml")).rc, 0);
  CliRun r = Cli("apply -f " + Example("aws-us-east-1-v2.yaml") + " --expected-version 7");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("ABORTED"));
  EXPECT_THAT(r.err, HasSubstr("at version 1"));
  r = Cli("apply -f " + Write("empty.yaml", "region: aws:us-east-1\nresources: []\n"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(r.err, HasSubstr("allow_empty"));
  r = Cli("rollback aws:us-east-1 --to 9");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
  r = Cli("show aws:us-east-1 --version 5");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("no version 5"));
  r = Cli("apply -f " + Write("e2.yaml", "region: aws:us-east-1\nresources: []\n") +
          " --allow-empty -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["version"], 2);
}

// True when `text` is an RFC 3339 time in UTC as the CLI prints them.
bool IsRfc3339(const nlohmann::json& text) {
  google::protobuf::Timestamp ts;
  return text.is_string() && text.get<std::string>().ends_with("Z") &&
         google::protobuf::util::TimeUtil::FromString(text.get<std::string>(), &ts);
}

// -o json|yaml of every command is the stable output for scripts (docs/ledger.md): the
// state files' vocabulary, the SDK's field names, numbers as numbers, times RFC 3339.
TEST_F(CliTest, JsonOfEveryCommandSpeaksTheStateFilesVocabulary) {
  CliRun r = Cli("apply -f " + Example("aws-us-east-1.yaml") + " -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["region"], "aws:us-east-1");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["changed"], true);
  EXPECT_EQ(j["dry_run"], false);
  // The order of a region's state: by kind, then name.
  EXPECT_EQ(j["created"], nlohmann::json({"RedisDatabase/rate-limits", "RedisDatabase/sessions",
                                          "AerospikeCluster/profiles"}));
  EXPECT_EQ(j["deleted"], nlohmann::json::array());

  r = Cli("plan -f " + Example("aws-us-east-1-v2.yaml") + " -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["base_version"], 1);
  EXPECT_EQ(j["created"], nlohmann::json({"RedisDatabase/feature-flags"}));
  std::map<std::string, nlohmann::json> changes;
  for (const auto& c : j["changes"]) changes[c["resource"]] = c;
  ASSERT_EQ(changes.size(), 2u) << j.dump();
  EXPECT_EQ(changes["RedisDatabase/feature-flags"]["change"], "created");
  EXPECT_EQ(changes["RedisDatabase/feature-flags"]["spec"]["persistence"], "none");
  EXPECT_EQ(changes["RedisDatabase/sessions"]["change"], "updated");
  EXPECT_EQ(changes["RedisDatabase/sessions"]["spec"]["memory_mb"], 1024);
  EXPECT_EQ(changes["RedisDatabase/sessions"]["changed_fields"],
            nlohmann::json::parse(R"({"memory_mb": {"from": 512, "to": 1024}})"));

  r = Cli("apply -f " + Example("aws-us-east-1-v2.yaml") + " --dry-run -o yaml");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("dry_run: true"));
  EXPECT_THAT(r.out, HasSubstr("version: 1\n"));  // a YAML number, not "1"
  ASSERT_EQ(Cli("apply -f " + Example("aws-us-east-1-v2.yaml")).rc, 0);

  r = Cli("diff aws:us-east-1 2 1 -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["from_version"], 2);
  EXPECT_EQ(j["to_version"], 1);
  changes.clear();
  for (const auto& c : j["changes"]) changes[c["resource"]] = c;
  EXPECT_EQ(changes["RedisDatabase/feature-flags"]["change"], "deleted");
  EXPECT_FALSE(changes["RedisDatabase/feature-flags"].contains("spec"));
  EXPECT_EQ(changes["RedisDatabase/sessions"]["changed_fields"]["memory_mb"]["to"], 512);

  r = Cli("rollback aws:us-east-1 --to 1 -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["version"], 3);
  EXPECT_EQ(j["deleted"], nlohmann::json({"RedisDatabase/feature-flags"}));
  EXPECT_FALSE(j.contains("dry_run"));

  r = Cli("regions -o json", "reader-token-1");
  ASSERT_EQ(r.rc, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["regions"].size(), 1u);
  EXPECT_EQ(j["regions"][0]["region"], "aws:us-east-1");
  EXPECT_EQ(j["regions"][0]["current_version"], 3);
  EXPECT_EQ(j["regions"][0]["resource_count"], 3);
  EXPECT_EQ(j["regions"][0]["clusters"], nlohmann::json::array());
  EXPECT_TRUE(IsRfc3339(j["regions"][0]["updated_at"])) << j.dump();

  r = Cli("history aws:us-east-1 -o json", "reader-token-1");
  ASSERT_EQ(r.rc, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["versions"][0]["origin"], "rollback");
  EXPECT_EQ(j["versions"][0]["rollback_of"], 1);
  EXPECT_TRUE(IsRfc3339(j["versions"][0]["time"])) << j.dump();

  r = Cli("blame aws:us-east-1 AerospikeCluster/profiles -o json", "reader-token-1");
  ASSERT_EQ(r.rc, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["resource"]["kind"], "AerospikeCluster");
  EXPECT_EQ(j["resource"]["spec"]["namespaces"][0]["storage"], "memory");
  EXPECT_TRUE(IsRfc3339(j["fields"][0]["time"])) << j.dump();

  // No protobuf spelling anywhere. (status needs the status projector, which this server
  // runs without: its JSON is checked in tests/projections/status_api_test.cc.)
  for (const char* cmd : {"show aws:us-east-1 -o yaml", "history aws:us-east-1 -o yaml",
                          "diff aws:us-east-1 1 2 -o yaml", "regions -o yaml"}) {
    r = Cli(cmd, "reader-token-1");
    ASSERT_EQ(r.rc, 0) << cmd << ": " << r.err;
    EXPECT_THAT(r.out, Not(HasSubstr("RESOURCE_KIND"))) << cmd;
    EXPECT_THAT(r.out, Not(HasSubstr("PHASE_"))) << cmd;
    EXPECT_THAT(r.out, Not(HasSubstr("ORIGIN_"))) << cmd;
    EXPECT_THAT(r.out, Not(HasSubstr("TYPE_"))) << cmd;
    EXPECT_THAT(r.out, Not(HasSubstr("\"3\""))) << cmd;  // versions are not strings
  }
}

// A state file from `show -o yaml` (any version, any region) applies as is: the same
// resources come back, and the ledger says nothing changed.
TEST_F(CliTest, ShowYamlIsInputToApply) {
  ASSERT_EQ(Cli("apply -f " + Example("aws-us-east-1.yaml")).rc, 0);
  ASSERT_EQ(Cli("apply -f " + Example("aws-us-east-1-v2.yaml")).rc, 0);
  ASSERT_EQ(Cli("apply -f " + Example("gcp-europe-west1.yaml")).rc, 0);
  for (const std::string region : {"aws:us-east-1", "gcp:europe-west1"}) {
    CliRun yaml = Cli("show " + region + " -o yaml");
    ASSERT_EQ(yaml.rc, 0) << yaml.err;
    CliRun r = Cli("plan -f " + Write("plan.yaml", yaml.out));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("no changes")) << region;
  }
  // Version 1 of aws:us-east-1, applied: the region goes back to it.
  CliRun v1 = Cli("show aws:us-east-1 --version 1 -o yaml");
  ASSERT_EQ(v1.rc, 0) << v1.err;
  CliRun r = Cli("apply -f " + Write("v1.yaml", v1.out) + " -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["version"], 3);
  EXPECT_EQ(j["deleted"], nlohmann::json({"RedisDatabase/feature-flags"}));
  CliRun a = Cli("show aws:us-east-1 --version 1 -o json");
  CliRun b = Cli("show aws:us-east-1 -o json");
  EXPECT_EQ(nlohmann::json::parse(a.out)["resources"], nlohmann::json::parse(b.out)["resources"]);
}

// A token goes in plain text only to this machine: a remote address without TLS is a local
// error (exit 2) saying how to pass a CA, unless --insecure says to send it anyway.
TEST_F(CliTest, ATokenIsNeverSentInPlainTextToARemoteAddressUnlessInsecure) {
  for (const char* addr : {"192.0.2.1:57070", "ledger.example.com:443", "[2001:db8::1]:57070",
                           "dns:///ledger.example.com:443"}) {
    CliRun r = Cli(std::string("regions --addr ") + addr);
    EXPECT_EQ(r.rc, 2) << addr << ": " << r.out << r.err;
    EXPECT_THAT(
        r.err, HasSubstr(std::string("refusing to send the bearer token in plain text to ") + addr))
        << addr;
    EXPECT_THAT(r.err, HasSubstr("--tls-ca FILE")) << addr;
    EXPECT_THAT(r.err, HasSubstr("--insecure")) << addr;
  }
  // Told to: the call goes out (to TEST-NET-1, where nobody answers: the server's side).
  CliRun r = Cli("regions --addr 192.0.2.1:57070 --insecure --timeout 1");
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("refusing")));
  // No token: nothing to protect.
  r = Cli("regions --addr 192.0.2.1:57070 --timeout 1", "");
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  // TLS asked for: allowed (and fails on the handshake, not on the refusal).
  r = Cli("regions --addr 192.0.2.1:57070 --timeout 1 --tls-ca " +
          Write("ca.crt", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"));
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  // Loopback in any spelling stays plain without the flag.
  const std::string port = f_.addr().substr(f_.addr().rfind(':') + 1);
  for (const std::string& addr : {f_.addr(), "localhost:" + port, "ipv4:127.0.0.1:" + port}) {
    r = Cli("regions --addr " + addr);
    EXPECT_EQ(r.rc, 0) << addr << ": " << r.err;
  }
}

TEST(IsLoopbackTarget, NamesThisMachineOnly) {
  for (const char* t :
       {"127.0.0.1:57070", "127.8.9.10:1", "localhost:57070", "LOCALHOST.:1", "localhost",
        "[::1]:57070", "::1", "[::ffff:127.0.0.1]:1", "dns:///localhost:1",
        "dns://8.8.8.8/127.0.0.1:1", "ipv4:127.0.0.1:1,127.0.0.2:2", "ipv6:[::1]:1",
        "unix:/run/senren.sock", "unix:///run/senren.sock"}) {
    EXPECT_TRUE(cli::IsLoopbackTarget(t)) << t;
  }
  for (const char* t : {"192.0.2.1:57070", "10.0.0.1:1", "ledger.example.com:443",
                        "ledger.example.com", "localhost.example.com:1", "127.0.0.1.nip.io:1",
                        "[2001:db8::1]:1", "2001:db8::1", "[::ffff:10.0.0.1]:1",
                        "dns:///ledger.example.com:443", "dns://127.0.0.1/ledger.example.com:1",
                        "ipv4:127.0.0.1:1,10.0.0.1:2", "0.0.0.0:57070", ":57070", ""}) {
    EXPECT_FALSE(cli::IsLoopbackTarget(t)) << t;
  }
}

// The in-process server speaks plaintext: a client asked for TLS must fail rather than
// quietly talk plaintext to it, and TLS files that are missing or incomplete are local
// errors (exit 2) naming the flag.
TEST_F(CliTest, TlsFlagsNeverFallBackToPlaintext) {
  const std::string key =
      Write("client.key", "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n");
  CliRun r =
      Cli("regions --tls-cert " +
          Write("client.crt", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"));
  EXPECT_EQ(r.rc, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("--tls-cert and --tls-key go together"));
  r = Cli("regions --tls-ca " + dir_ + "/missing-ca.crt");
  EXPECT_EQ(r.rc, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("--tls-ca " + dir_ + "/missing-ca.crt: cannot read the file"));
  r = Cli("regions --tls-ca " + Write("notpem.crt", "hello\n"));
  EXPECT_EQ(r.rc, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("not a PEM file"));
  // Asked for TLS with the system's roots against a plaintext server: the call fails.
  r = Cli("regions --tls-cert " + dir_ + "/client.crt --tls-key " + key + " --timeout 5");
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("UNAVAILABLE"));
  // Without TLS flags the same command works.
  r = Cli("regions");
  EXPECT_EQ(r.rc, 0) << r.err;
}

// `senren-ledger verify` reads PostgreSQL directly (as the service role): intact, it says
// so and exits 0; after an edit by the owner with the triggers off, it names the version.
TEST_F(CliTest, VerifySaysTheChainIsIntactOrNamesTheTamperedVersion) {
  for (uint32_t i = 0; i < 2; ++i) {
    v1::ApplyStateResponse resp;
    ASSERT_TRUE(f_.stub()
                    .ApplyState(ServerFixture::Ctx("writer-token-1").get(),
                                testing::Apply("aws:us-east-1", {testing::Redis("a", 16 + i)}),
                                &resp)
                    .ok());
  }
  const std::string args =
      "verify --postgres '" + f_.schema().uri() + "' --schema " + f_.schema().name();
  CliRun r = Cli(args);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "verify: 1 regions, 2 versions, chain intact\n");

  ASSERT_TRUE(
      f_.schema()
          .Exec("ALTER TABLE versions DISABLE TRIGGER USER; UPDATE versions SET author = 'mallory' "
                "WHERE version = 1; ALTER TABLE versions ENABLE TRIGGER USER")
          .ok());
  r = Cli(args + " aws:us-east-1");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("region aws:us-east-1 version 1: its content does not match"));
}

}  // namespace
}  // namespace senren::ledger
