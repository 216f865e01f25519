// The lab's PostgreSQL over TLS (tools/lab.d/lib/pg.sh, docs/deploy.md): pg/ connects as the
// service role with sslmode=verify-full against the lab CA and the session is encrypted
// (pg_stat_ssl); verify-full refuses a server it cannot verify with the CA it was given,
// even one with the lab CA's name; plain sessions stay possible for whoever asks for them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "lab/lab_env.h"
#include "pg/options.h"
#include "pg/session.h"

namespace senren {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The service role's URI (SENREN_POSTGRES_URI) with `params` added to its query.
std::string WithParams(const std::string& uri, const std::string& params) {
  return uri + (uri.find('?') == std::string::npos ? "?" : "&") + params;
}

std::string LabCa() { return testing::Lab().lab_dir + "/pki/ca.crt"; }

struct SslState {
  bool ssl = false;
  std::string version;
  std::string user;
};

// What pg_stat_ssl says of the session opened with `uri`, and who it runs as.
absl::StatusOr<SslState> Ssl(const std::string& uri) {
  pg::ConnectionOptions options;
  options.uri = uri;
  auto session = pg::Session::Open(options);
  if (!session.ok()) return session.status();
  pg::Transaction tx = (*session)->Begin(pg::TxKind::kReadOnly);
  auto rows = tx.Exec("select ssl, coalesce(version, ''), current_user from pg_stat_ssl "
                      "where pid = pg_backend_pid()");
  SslState out;
  out.ssl = rows[0][0].as<bool>();
  out.version = rows[0][1].as<std::string>();
  out.user = rows[0][2].as<std::string>();
  tx.Commit();
  return out;
}

TEST(PostgresTls, VerifyFullSessionOfTheServiceRoleIsEncrypted) {
  const auto& lab = testing::Lab();
  const std::string uri =
      WithParams(lab.postgres_uri, "sslmode=verify-full&sslrootcert=" + LabCa());
  const auto at = uri.find("@127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << "the lab's URI names 127.0.0.1: " << pg::RedactUri(uri);
  std::string by_name = uri;
  by_name.replace(at + 1, 9, "localhost");  // both names are in the certificate
  std::vector<std::string> uris{uri, by_name};
  // What `tools/lab env` exports for people and scripts, when the lab's env has it.
  if (const char* exported = std::getenv("SENREN_POSTGRES_TLS_URI")) uris.push_back(exported);
  for (const std::string& u : uris) {
    auto state = Ssl(u);
    ASSERT_TRUE(state.ok()) << u << ": " << state.status();
    EXPECT_TRUE(state->ssl) << u;
    EXPECT_THAT(state->version, HasSubstr("TLSv1.")) << u;
    EXPECT_EQ(state->user, "senren_service") << u;
  }
}

TEST(PostgresTls, VerifyFullRejectsAServerTheGivenCaDidNotSign) {
  const auto& lab = testing::Lab();
  // A CA with the lab CA's very name but a key of its own: verification is by signature.
  char tmpl[] = "/tmp/senren-pg-tls-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string wrong = dir + "/wrong-ca.crt";
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=senren-lab-ca"
      " -keyout " +
      dir + "/wrong-ca.key -out " + wrong + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  auto state = Ssl(WithParams(lab.postgres_uri, "sslmode=verify-full&sslrootcert=" + wrong));
  ASSERT_FALSE(state.ok()) << "connected although the CA did not sign the server's certificate";
  EXPECT_EQ(state.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(state.status().message(), HasSubstr("certificate verify failed"));
  EXPECT_THAT(state.status().message(), Not(HasSubstr(":senren@")));  // never the password

  // verify-full also checks the name: the lab CA signed the certificate, for 127.0.0.1 and
  // localhost only. hostaddr reaches the same server; the name checked is host's.
  std::string other = WithParams(
      lab.postgres_uri, "sslmode=verify-full&sslrootcert=" + LabCa() + "&hostaddr=127.0.0.1");
  other.replace(other.find("@127.0.0.1:") + 1, 9, "db.example.net");
  state = Ssl(other);
  ASSERT_FALSE(state.ok()) << "connected under a name the certificate does not hold";
  EXPECT_THAT(state.status().message(), HasSubstr("does not match host name"));
  std::system(("rm -rf " + dir).c_str());
}

TEST(PostgresTls, PlainSessionsStayAllowed) {
  auto state = Ssl(WithParams(testing::Lab().postgres_uri, "sslmode=disable"));
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_FALSE(state->ssl);
  EXPECT_EQ(state->user, "senren_service");
}

}  // namespace
}  // namespace senren
