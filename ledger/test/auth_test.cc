#include "ledger/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace senren::ledger {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kLabTokens = R"(tokens:
  - {token: "adm-123", subject: lab-admin, role: admin}
  - {token: "wri-456", subject: lab-writer, role: writer}
  - {token: "rea-789", subject: lab-reader, role: reader}
)";

TEST(TokenAuthenticator, ReadsTheLabFormatAndAuthenticates) {
  auto auth = TokenAuthenticator::FromYaml(kLabTokens, "tokens.yaml");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ((*auth)->size(), 3u);
  auto p = (*auth)->Authenticate("Bearer wri-456");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->subject, "lab-writer");
  EXPECT_EQ(p->role, Role::kWriter);
}

TEST(TokenAuthenticator, RejectsMissingMalformedAndUnknownTokens) {
  auto auth = *TokenAuthenticator::FromYaml(kLabTokens, "tokens.yaml");
  for (const char* bad :
       {"", "wri-456", "Basic wri-456", "Bearer ", "Bearer wri-45", "Bearer wri-4567"}) {
    auto p = auth->Authenticate(bad);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated) << bad;
    EXPECT_THAT(p.status().message(), Not(HasSubstr("wri-45"))) << bad;
  }
}

TEST(TokenAuthenticator, MalformedFilesNameTheEntry) {
  auto s =
      TokenAuthenticator::FromYaml("tokens:\n  - {token: a, subject: x, role: god}\n", "t.yaml");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("t.yaml: tokens[0]"));
  EXPECT_THAT(s.status().message(), HasSubstr("god"));
  s = TokenAuthenticator::FromYaml("tokens:\n  - {token: a, subject: x, role: admin}\n"
                                   "  - {token: a, subject: y, role: reader}\n",
                                   "t.yaml");
  EXPECT_THAT(s.status().message(), HasSubstr("tokens[1]"));
  EXPECT_FALSE(TokenAuthenticator::FromYaml("nope: 1", "t.yaml").ok());
  EXPECT_EQ(TokenAuthenticator::FromFile("/nonexistent/tokens.yaml").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(Authorize, RolesAreOrdered) {
  Principal reader{"r", Role::kReader};
  Principal writer{"w", Role::kWriter};
  Principal admin{"a", Role::kAdmin};
  EXPECT_TRUE(Authorize(reader, Role::kReader, "GetState").ok());
  absl::Status denied = Authorize(reader, Role::kWriter, "ApplyState");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.message(), HasSubstr("ApplyState needs the role writer"));
  EXPECT_TRUE(Authorize(writer, Role::kWriter, "ApplyState").ok());
  EXPECT_FALSE(Authorize(writer, Role::kAdmin, "Migrate").ok());
  EXPECT_TRUE(Authorize(admin, Role::kWriter, "ApplyState").ok());
}

}  // namespace
}  // namespace senren::ledger
