#include "daemon/health.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace senren::daemon {
namespace {

using Role = ReconcilerState::Role;

ReconcilerState Leading(absl::Duration since_last_reconcile) {
  ReconcilerState s;
  s.role = Role::kLeading;
  s.caches_synced = true;
  s.now = absl::FromUnixSeconds(1000000);
  s.last_reconcile = s.now - since_last_reconcile;
  s.max_reconcile_age = absl::Seconds(90);
  return s;
}

TEST(ReconcilerNotReady, LeaderWithSyncedCachesAndARecentReconcileIsReady) {
  EXPECT_EQ(ReconcilerNotReady(Leading(absl::Seconds(5))), "");
  EXPECT_EQ(ReconcilerNotReady(Leading(absl::Seconds(90))), "");
}

TEST(ReconcilerNotReady, LeaderWithAnOldReconcileIsNotReady) {
  EXPECT_EQ(ReconcilerNotReady(Leading(absl::Seconds(91))),
            "leading, last reconcile 91s ago (limit 90s)");
  EXPECT_EQ(ReconcilerNotReady(Leading(absl::Minutes(30))),
            "leading, last reconcile 30m ago (limit 90s)");
}

TEST(ReconcilerNotReady, LeaderBeforeSyncOrFirstReconcileIsNotReady) {
  ReconcilerState s = Leading(absl::Seconds(1));
  s.caches_synced = false;
  EXPECT_EQ(ReconcilerNotReady(s), "leading, caches not synced");
  s = Leading(absl::Seconds(1));
  s.last_reconcile = absl::InfinitePast();
  EXPECT_EQ(ReconcilerNotReady(s), "leading, no reconcile yet");
}

TEST(ReconcilerNotReady, AnIdleLeaderIsReadyWhateverItsLastReconcile) {
  ReconcilerState s = Leading(absl::Hours(3));
  s.idle = true;
  EXPECT_EQ(ReconcilerNotReady(s), "");
  s.caches_synced = false;
  EXPECT_EQ(ReconcilerNotReady(s), "leading, caches not synced");
}

TEST(ReconcilerHealth, KeepsTheTimeOfTheLastReconcileAndBeatsWhileProgressing) {
  absl::Time now = absl::FromUnixSeconds(5000);
  Health health([&] { return now; });
  ReconcilerHealth r(&health, absl::Seconds(60), [&] { return now; });
  r.Update(Role::kStandby, false, 0, false);
  EXPECT_EQ(r.NotReady(), "");
  EXPECT_EQ(health.NotLive(), "");
  r.Update(Role::kLeading, false, 0, false);
  EXPECT_EQ(r.NotReady(), "leading, caches not synced");
  r.Update(Role::kLeading, true, 0, false);
  EXPECT_EQ(r.NotReady(), "leading, no reconcile yet");
  now += absl::Seconds(10);
  r.Update(Role::kLeading, true, 1, false);
  EXPECT_EQ(r.NotReady(), "");
  now += absl::Seconds(61);
  r.Update(Role::kLeading, true, 1, false);  // busy, no progress
  EXPECT_EQ(r.NotReady(), "leading, last reconcile 61s ago (limit 60s)");
  EXPECT_EQ(health.NotLive(), "");
  now += absl::Minutes(5);
  r.Update(Role::kLeading, true, 1, false);
  EXPECT_EQ(health.NotLive(), "reconcile silent for 6m");
  r.Update(Role::kLeading, true, 2, false);
  EXPECT_EQ(health.NotLive(), "");
  EXPECT_EQ(r.NotReady(), "");
}

TEST(ReconcilerNotReady, StandbyIsReadyAndStoppingIsNot) {
  ReconcilerState s;  // a standby reads nothing: no caches, no reconcile
  s.role = Role::kStandby;
  EXPECT_EQ(ReconcilerNotReady(s), "");
  s.role = Role::kStopping;
  EXPECT_EQ(ReconcilerNotReady(s), "stopping");
}

TEST(Health, ALoopSilentLongerThanItsLimitIsNotLive) {
  absl::Time now = absl::FromUnixSeconds(1000);
  Health h([&] { return now; });
  EXPECT_EQ(h.NotLive(), "");
  h.Beat("reconcile", absl::Seconds(30));
  now += absl::Seconds(30);
  EXPECT_EQ(h.NotLive(), "");
  now += absl::Seconds(1);
  EXPECT_EQ(h.NotLive(), "reconcile silent for 31s");
  h.Beat("reconcile", absl::Seconds(30));
  EXPECT_EQ(h.NotLive(), "");
  now += absl::Minutes(5);
  h.Forget("reconcile");
  EXPECT_EQ(h.NotLive(), "");
}

TEST(Health, TheFirstFailingCheckIsTheReason) {
  Health h;
  EXPECT_EQ(h.NotReady(), "");
  std::string pg;
  std::string plane = "leading, caches not synced";
  h.AddReadinessCheck("postgres", [&] { return pg; });
  h.AddReadinessCheck("plane", [&] { return plane; });
  EXPECT_EQ(h.NotReady(), "plane: leading, caches not synced");
  pg = "waiting for PostgreSQL";
  EXPECT_EQ(h.NotReady(), "postgres: waiting for PostgreSQL");
  pg.clear();
  plane.clear();
  EXPECT_EQ(h.NotReady(), "");
  h.SetStopping();
  EXPECT_EQ(h.NotReady(), "stopping");
}

}  // namespace
}  // namespace senren::daemon
