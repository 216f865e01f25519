// The --kafka-config parser: kcat -F's format, errors that name the file and the line, and
// the brokers flag over the file's bootstrap.servers.
#include "kafka/connection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "kafka/kafka.h"

namespace senren::kafka {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

TEST(ParseProperties, ReadsNameValueLinesAndSkipsCommentsAndBlanks) {
  auto c = ParseProperties("# a managed Kafka\n"
                           "\n"
                           "security.protocol=SASL_SSL\n"
                           "  sasl.mechanisms = SCRAM-SHA-512  \n"
                           "\t# indented comment\n"
                           "sasl.username=plane\r\n"
                           "sasl.password=p=a#ss\n"
                           "client.id=first\n"
                           "client.id=second",
                           "f.properties");
  ASSERT_TRUE(c.ok()) << c.status();
  // Split at the first '=', a '#' inside a value is the value's, CR of CRLF files is
  // trimmed, a later line wins.
  EXPECT_THAT(*c, ElementsAre(Pair("client.id", "second"), Pair("sasl.mechanisms", "SCRAM-SHA-512"),
                              Pair("sasl.password", "p=a#ss"), Pair("sasl.username", "plane"),
                              Pair("security.protocol", "SASL_SSL")));
}

TEST(ParseProperties, EmptyTextIsNoProperties) {
  auto c = ParseProperties("\n# nothing\n", "f");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->empty());
}

TEST(ParseProperties, LineWithoutEqualsNamesFileAndLine) {
  auto c = ParseProperties("# x\nsecurity.protocol=SSL\nsasl.username plane\n", "/etc/k.conf");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("/etc/k.conf:3:"));
  EXPECT_THAT(c.status().message(), HasSubstr("without '='"));
}

TEST(ParseProperties, EmptyNameIsRefused) {
  auto c = ParseProperties("=value\n", "k.conf");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("k.conf:1: expected name=value, got an empty name"));
}

TEST(ParseProperties, PropertyLibrdkafkaDoesNotKnowIsRefusedWithItsLine) {
  auto c = ParseProperties("security.protocol=SASL_SSL\nsasl.mechanism.typo=PLAIN\n", "k.conf");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("k.conf:2: librdkafka rejects property "
                                              "sasl.mechanism.typo"));
}

TEST(ParseProperties, ValueLibrdkafkaRefusesIsRefusedWithItsLine) {
  auto c = ParseProperties("security.protocol=SASL_TLS\n", "k.conf");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("k.conf:1: librdkafka rejects property "
                                              "security.protocol"));
}

TEST(ParseProperties, AcceptsSaslSslWithScramOrOauthbearer) {
  for (const char* mechanism : {"SCRAM-SHA-512", "SCRAM-SHA-256", "OAUTHBEARER", "PLAIN"}) {
    auto c = ParseProperties(std::string("security.protocol=SASL_SSL\nsasl.mechanisms=") +
                                 mechanism + "\nssl.ca.location=/etc/ssl/certs/ca.pem\n",
                             "k.conf");
    ASSERT_TRUE(c.ok()) << mechanism << ": " << c.status();
    EXPECT_EQ(c->at("sasl.mechanisms"), mechanism);
  }
}

TEST(Connection, ItsPropertiesReachEveryClient) {
  // Made in code, so not checked by ParseProperties: the client refuses the value itself.
  const Connection c{"127.0.0.1:1", {{"security.protocol", "no-such-protocol"}}};
  auto producer = Producer::Create(c);
  EXPECT_EQ(producer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(producer.status().message(), HasSubstr("security.protocol"));
  auto consumer = Consumer::Create(c);
  EXPECT_EQ(consumer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EnsureTopic(c, {"t", 1, TopicSpec::kBrokerDefault, {}}).code(),
            absl::StatusCode::kInvalidArgument);
  // What a caller sets for one client wins over the connection's properties.
  auto fixed = Producer::Create(c, {{"security.protocol", "plaintext"}});
  EXPECT_TRUE(fixed.ok()) << fixed.status();
}

class LoadConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/senren-kafka-config-XXXXXX";
    const int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = tmpl;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void Write(const std::string& text) { std::ofstream(path_) << text; }

  std::string path_;
};

TEST_F(LoadConnectionTest, BootstrapServersComeFromTheFileWhenNoFlagGiven) {
  Write("bootstrap.servers=k1:9093,k2:9093\nsecurity.protocol=SASL_SSL\n");
  auto c = LoadConnection(path_, "", "127.0.0.1:59092");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->brokers, "k1:9093,k2:9093");
  // bootstrap.servers lives in `brokers` only, so the two cannot disagree.
  EXPECT_THAT(c->properties, ElementsAre(Pair("security.protocol", "SASL_SSL")));
}

TEST_F(LoadConnectionTest, TheBrokersFlagWinsOverTheFile) {
  Write("bootstrap.servers=k1:9093\n");
  auto c = LoadConnection(path_, "other:9092");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->brokers, "other:9092");
  EXPECT_TRUE(c->properties.empty());
}

TEST_F(LoadConnectionTest, DefaultBrokersWhenNeitherNamesThem) {
  Write("client.id=x\n");
  auto c = LoadConnection(path_, "", "127.0.0.1:59092");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->brokers, "127.0.0.1:59092");
  auto none = LoadConnection("", "");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  auto file_without = LoadConnection(path_, "");
  EXPECT_EQ(file_without.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(file_without.status().message(), HasSubstr(path_));
}

TEST_F(LoadConnectionTest, NoFileIsJustTheBrokers) {
  auto c = LoadConnection("", "b:1");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->brokers, "b:1");
  EXPECT_TRUE(c->properties.empty());
}

TEST_F(LoadConnectionTest, MissingFileIsNotFoundAndBadLineNamesThePath) {
  auto missing = LoadConnection(path_ + ".absent", "b:1");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(path_ + ".absent"));
  Write("sasl.password=hunter2\nnot a property\n");
  auto bad = LoadConnection(path_, "b:1");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr(path_ + ":2:"));
  EXPECT_THAT(bad.status().message(), Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace senren::kafka
