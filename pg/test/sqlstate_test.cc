// The SQLSTATE table: callers retry by code, so each class must land on the right one.
#include "pg/sqlstate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace senren::pg {
namespace {

using ::testing::HasSubstr;

TEST(CodeForSqlState, ConnectionTroubleIsUnavailable) {
  for (const char* s :
       {"08000", "08001", "08003", "08006", "08P01", "57P01", "57P02", "57P03", "53300"}) {
    EXPECT_EQ(CodeForSqlState(s), absl::StatusCode::kUnavailable) << s;
  }
}

TEST(CodeForSqlState, ConflictsAreAborted) {
  EXPECT_EQ(CodeForSqlState("40001"), absl::StatusCode::kAborted);
  EXPECT_EQ(CodeForSqlState("40P01"), absl::StatusCode::kAborted);
}

TEST(CodeForSqlState, StatementTimeoutIsDeadlineExceeded) {
  EXPECT_EQ(CodeForSqlState("57014"), absl::StatusCode::kDeadlineExceeded);
}

TEST(CodeForSqlState, DataAndUniquenessErrors) {
  EXPECT_EQ(CodeForSqlState("23505"), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(CodeForSqlState("22008"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CodeForSqlState("22021"), absl::StatusCode::kInvalidArgument);
}

TEST(CodeForSqlState, EverythingElseIsInternal) {
  // 42501 and 23000 are what the ledger's append-only and gapless triggers raise.
  for (const char* s : {"42501", "23000", "42P01", "42601", "53100", "XX000", ""}) {
    EXPECT_EQ(CodeForSqlState(s), absl::StatusCode::kInternal) << s;
  }
}

TEST(SqlError, NamesOperationRegionAndSqlStateOnOneLine) {
  absl::Status s =
      SqlError("apply the state", "aws:x", "42501", "ERROR:  refused\nHINT:\troll back\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s.message(), "PostgreSQL failed to apply the state of region aws:x (SQLSTATE 42501): "
                         "ERROR:  refused HINT: roll back");
}

TEST(SqlError, AbortedSaysRetry) {
  absl::Status s = SqlError("apply a batch of states", "", "40P01", "deadlock detected");
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(s.message(), HasSubstr("apply a batch of states (SQLSTATE 40P01)"));
  EXPECT_THAT(s.message(), HasSubstr("; retry"));
}

}  // namespace
}  // namespace senren::pg
