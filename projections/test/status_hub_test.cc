#include "projections/status_hub.h"

#include <gtest/gtest.h>

namespace senren::projections {
namespace {

using std::chrono::milliseconds;

v1::StatusEvent Event(const std::string& name) {
  v1::StatusEvent e;
  e.mutable_resource()->set_name(name);
  return e;
}

TEST(StatusHub, DeliversOnlyTheSubscribedRegion) {
  StatusHub hub;
  auto a = hub.Subscribe("aws:us-east-1");
  auto b = hub.Subscribe("gcp:us-central1");
  hub.Publish("aws:us-east-1", Event("x"));
  auto got = a->Next(milliseconds(100));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->resource().name(), "x");
  EXPECT_FALSE(b->Next(milliseconds(10)).has_value());
}

TEST(StatusHub, ReplayGoesBeforeLiveEvents) {
  StatusHub hub;
  auto s = hub.Subscribe("r:x");
  hub.Publish("r:x", Event("live"));
  s->Prepend({Event("old-1"), Event("old-2")});
  EXPECT_EQ(s->Next(milliseconds(10))->resource().name(), "old-1");
  EXPECT_EQ(s->Next(milliseconds(10))->resource().name(), "old-2");
  EXPECT_EQ(s->Next(milliseconds(10))->resource().name(), "live");
}

TEST(StatusHub, SlowWatcherIsClosedNotBlocking) {
  StatusHub hub;
  auto s = hub.Subscribe("r:x", 2);
  for (int i = 0; i < 5; ++i) hub.Publish("r:x", Event(std::to_string(i)));
  EXPECT_TRUE(s->Overflowed());
  EXPECT_EQ(s->Next(milliseconds(10))->resource().name(), "0");
  EXPECT_EQ(s->Next(milliseconds(10))->resource().name(), "1");
  EXPECT_FALSE(s->Next(milliseconds(10)).has_value());
  EXPECT_TRUE(s->Closed());
}

TEST(StatusHub, DroppedSubscriptionsAreForgotten) {
  StatusHub hub;
  {
    auto s = hub.Subscribe("r:x");
    EXPECT_EQ(hub.Watchers(), 1u);
  }
  hub.Publish("r:x", Event("a"));
  EXPECT_EQ(hub.Watchers(), 0u);
}

}  // namespace
}  // namespace senren::projections
