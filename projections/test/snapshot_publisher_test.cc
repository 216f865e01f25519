// SnapshotPublisher with fakes: coalescing, late commits, progress after delivery, the
// size limit, and the hand-over between two leaders of one topic.
#include "projections/snapshot_publisher.h"

#include <gtest/gtest.h>

#include <set>

#include "projections/testing/fakes.h"
#include "testing/fake_ledger_store.h"

namespace senren::projections {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class SnapshotPublisherTest : public ::testing::Test {
 protected:
  // Appends a version of `region` to the ledger and makes it the region's newest.
  uint64_t Apply(const std::string& region, uint32_t memory_mb) {
    v1::ApplyStateRequest r;
    r.set_region(region);
    r.set_author("test");
    auto* res = r.add_resources();
    res->set_name("sessions");
    res->mutable_redis_database()->set_memory_mb(memory_mb);
    res->mutable_redis_database()->set_replicas(1);
    auto applied = ledger_.ApplyState(r, {});
    EXPECT_TRUE(applied.ok()) << applied.status();
    progress_.SetCurrent(region, applied->version());
    return applied->version();
  }

  std::unique_ptr<SnapshotPublisher> NewPublisher(testing::FakeSnapshotSink* sink,
                                                  size_t max_bytes = 1u << 20) {
    SnapshotPublisherOptions o;
    o.topic = "t-state";
    o.max_message_bytes = max_bytes;
    o.republish_after = milliseconds(6000);
    o.now = [this] {
      now_ += auto_advance_;
      return now_;
    };
    return std::make_unique<SnapshotPublisher>(o, &progress_, &ledger_, sink, &counters_);
  }

  static uint64_t VersionOf(const SnapshotRecord& r) {
    v1::RegionalState s;
    EXPECT_TRUE(s.ParseFromString(r.bytes));
    EXPECT_EQ(s.version(), r.version);
    return s.version();
  }

  static std::vector<uint64_t> Versions(const testing::FakeSnapshotSink& sink) {
    std::vector<uint64_t> out;
    for (const auto& r : sink.Published()) out.push_back(VersionOf(r));
    return out;
  }

  ledger::testing::FakeLedgerStore ledger_;
  testing::FakeSnapshotProgressStore progress_;
  testing::FakeStateTopic topic_;
  SnapshotCounters counters_;
  Clock::time_point now_ = Clock::time_point{} + std::chrono::hours(1);
  Clock::duration auto_advance_{0};
};

TEST_F(SnapshotPublisherTest, FiveAppliesDuringOnePublishGiveOneMoreMessageOfTheNewest) {
  std::unique_ptr<SnapshotPublisher> publisher;  // outlives sink, as in SnapshotProjector
  testing::FakeSnapshotSink sink(&topic_);
  publisher = NewPublisher(&sink);
  Apply("aws:us-east-1", 64);
  ASSERT_TRUE(publisher->Step().ok());
  ASSERT_EQ(sink.Waiting(), 1u);
  for (uint32_t mb = 65; mb < 70; ++mb) {
    Apply("aws:us-east-1", mb);
    ASSERT_TRUE(publisher->Step().ok());
  }
  EXPECT_EQ(Versions(sink), std::vector<uint64_t>{1}) << "published while a publish was in flight";

  sink.Deliver();
  ASSERT_TRUE(publisher->Step().ok());
  EXPECT_EQ(Versions(sink), (std::vector<uint64_t>{1, 6}));
  sink.Deliver();
  ASSERT_TRUE(publisher->Step().ok());
  ASSERT_TRUE(publisher->Step().ok());
  EXPECT_EQ(sink.Published().size(), 2u);
  EXPECT_EQ(topic_.Versions("aws:us-east-1"), (std::vector<uint64_t>{1, 6}));
  EXPECT_EQ(progress_.Published("aws:us-east-1"), 6u);
  EXPECT_EQ(counters_.published, 2u);
}

TEST_F(SnapshotPublisherTest, VersionThatCommitsLateIsStillPublished) {
  std::unique_ptr<SnapshotPublisher> publisher;  // outlives sink, as in SnapshotProjector
  testing::FakeSnapshotSink sink(&topic_);
  publisher = NewPublisher(&sink);
  Apply("aws:late-1", 64);
  Apply("gcp:early-1", 64);
  ASSERT_TRUE(publisher->Step().ok());
  sink.Deliver();
  ASSERT_TRUE(publisher->Step().ok());
  // A later version of another region goes out and is recorded first...
  Apply("gcp:early-1", 128);
  ASSERT_TRUE(publisher->Step().ok());
  sink.Deliver();
  ASSERT_TRUE(publisher->Step().ok());
  ASSERT_EQ(progress_.Published("gcp:early-1"), 2u);
  // ...then the version that was held up commits: progress is per region, so it is pending.
  Apply("aws:late-1", 128);
  ASSERT_TRUE(publisher->Step().ok());
  sink.Deliver();
  ASSERT_TRUE(publisher->Step().ok());
  EXPECT_EQ(topic_.Last("aws:late-1"), 2u);
  EXPECT_EQ(progress_.Published("aws:late-1"), 2u);
}

TEST_F(SnapshotPublisherTest, ProgressIsRecordedOnlyAfterDeliveryIsConfirmed) {
  std::unique_ptr<SnapshotPublisher> publisher;  // outlives sink, as in SnapshotProjector
  testing::FakeSnapshotSink sink(&topic_);
  publisher = NewPublisher(&sink);
  Apply("aws:us-east-1", 64);
  ASSERT_TRUE(publisher->Step().ok());
  ASSERT_TRUE(publisher->Step().ok());
  EXPECT_EQ(progress_.records(), 0);
  EXPECT_EQ(progress_.Published("aws:us-east-1"), 0u);

  // A failed delivery records nothing, is counted, and ends the term (its producer is
  // replaced); the next term publishes the version again.
  sink.FailOldest(absl::UnavailableError("message timed out"));
  EXPECT_EQ(publisher->Step().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(progress_.records(), 0);
  EXPECT_EQ(counters_.publish_errors, 1u);

  std::unique_ptr<SnapshotPublisher> next;  // outlives next_sink, as in SnapshotProjector
  testing::FakeSnapshotSink next_sink(&topic_);
  next = NewPublisher(&next_sink);
  ASSERT_TRUE(next->Step().ok());
  EXPECT_EQ(Versions(next_sink), std::vector<uint64_t>{1});
  next_sink.Deliver();
  EXPECT_EQ(progress_.records(), 0) << "recorded on the delivery thread, not by the leader";
  ASSERT_TRUE(next->Step().ok());
  EXPECT_EQ(progress_.Published("aws:us-east-1"), 1u);
  EXPECT_EQ(counters_.published, 1u);
}

TEST_F(SnapshotPublisherTest, StoreFailureEndsTheRoundAndTheNextTermResumes) {
  std::unique_ptr<SnapshotPublisher> publisher;  // outlives sink, as in SnapshotProjector
  testing::FakeSnapshotSink sink(&topic_);
  publisher = NewPublisher(&sink);
  Apply("aws:us-east-1", 64);
  ASSERT_TRUE(publisher->Step().ok());
  sink.Deliver();
  progress_.FailNext(absl::UnavailableError("connection lost"));
  EXPECT_EQ(publisher->Step().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(progress_.Published("aws:us-east-1"), 0u);

  // The delivered version was not recorded: the next leader publishes it again.
  std::unique_ptr<SnapshotPublisher> next;  // outlives next_sink, as in SnapshotProjector
  testing::FakeSnapshotSink next_sink(&topic_);
  next = NewPublisher(&next_sink);
  ASSERT_TRUE(next->Step().ok());
  next_sink.Deliver();
  ASSERT_TRUE(next->Step().ok());
  EXPECT_EQ(progress_.Published("aws:us-east-1"), 1u);
}

// The topic grew after the term's producer read its metadata: it refuses a record for a
// partition it does not know (NOT_FOUND). The term ends; the next one's producer knows it.
TEST_F(SnapshotPublisherTest, PartitionTheProducerDoesNotKnowEndsTheTermAndTheNextOnePublishes) {
  std::unique_ptr<SnapshotPublisher> publisher;  // outlives sink, as in SnapshotProjector
  testing::FakeSnapshotSink sink(&topic_);
  publisher = NewPublisher(&sink);
  Apply("aws:us-east-1", 64);
  sink.RefusePublish(absl::ResourceExhaustedError("queue full"));
  EXPECT_TRUE(publisher->Step().ok()) << "a full queue is retried within the term";
  sink.RefusePublish(absl::NotFoundError("unknown partition 7"));
  EXPECT_EQ(publisher->Step().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(progress_.Published("aws:us-east-1"), 0u);

  std::unique_ptr<SnapshotPublisher> next;  // outlives next_sink, as in SnapshotProjector
  testing::FakeSnapshotSink next_sink(&topic_);
  next = NewPublisher(&next_sink);
  ASSERT_TRUE(next->Step().ok());
  next_sink.Deliver();
  ASSERT_TRUE(next->Step().ok());
  EXPECT_EQ(progress_.Published("aws:us-east-1"), 1u);
}

TEST_F(SnapshotPublisherTest, TooLargeStateIsSkippedAndCountedOnce) {
  std::unique_ptr<SnapshotPublisher> publisher;  // outlives sink, as in SnapshotProjector
  testing::FakeSnapshotSink sink(&topic_);
  publisher = NewPublisher(&sink, /*max_bytes=*/8);
  Apply("aws:us-east-1", 64);
  ASSERT_TRUE(publisher->Step().ok());
  ASSERT_TRUE(publisher->Step().ok());
  EXPECT_TRUE(sink.Published().empty());
  EXPECT_EQ(counters_.too_large, 1u);
  EXPECT_EQ(progress_.Published("aws:us-east-1"), 0u);
}

TEST_F(SnapshotPublisherTest, UnansweredPublishWithNewerVersionWaitingPurgesTheQueue) {
  std::unique_ptr<SnapshotPublisher> publisher;  // outlives sink, as in SnapshotProjector
  testing::FakeSnapshotSink sink(&topic_);
  publisher = NewPublisher(&sink);
  Apply("aws:us-east-1", 64);
  ASSERT_TRUE(publisher->Step().ok());
  Apply("aws:us-east-1", 128);
  ASSERT_TRUE(publisher->Step().ok());
  EXPECT_EQ(sink.purges(), 0);
  now_ += milliseconds(1500);  // Kafka does not answer
  ASSERT_TRUE(publisher->Step().ok());
  EXPECT_EQ(sink.purges(), 1);
  EXPECT_EQ(counters_.purges, 1u);
  // The purged publish answered CANCELLED: not an error; the newest goes out.
  ASSERT_TRUE(publisher->Step().ok());
  EXPECT_EQ(counters_.publish_errors, 0u);
  EXPECT_EQ(Versions(sink), (std::vector<uint64_t>{1, 2}));
}

TEST_F(SnapshotPublisherTest, SlowStateReadsPingTheStoreBeforePublishing) {
  std::unique_ptr<SnapshotPublisher> publisher;  // outlives sink, as in SnapshotProjector
  testing::FakeSnapshotSink sink(&topic_);
  publisher = NewPublisher(&sink);
  for (int i = 0; i < 6; ++i) Apply("aws:r-" + std::to_string(i), 64);
  auto_advance_ = milliseconds(300);  // every look at the clock takes 300 ms
  ASSERT_TRUE(publisher->Step().ok());
  EXPECT_EQ(sink.Published().size(), 6u);
  EXPECT_GE(progress_.pings(), 1)
      << "handed records to the sink long after the store last answered";
  EXPECT_EQ(counters_.lease_renewals, static_cast<uint64_t>(progress_.pings()));

  // A store that no longer answers ends the term before anything more is published.
  Apply("aws:r-0", 128);
  Apply("aws:r-1", 128);
  sink.Deliver();
  ASSERT_TRUE(publisher->Step().ok());
  sink.Deliver();
  auto_advance_ = milliseconds(2000);
  progress_.FailNext(absl::UnavailableError("connection lost"), 2);
  const size_t before = sink.Published().size();
  Apply("aws:r-2", 128);
  EXPECT_FALSE(publisher->Step().ok());
  EXPECT_EQ(sink.Published().size(), before);
}

// The old leader's v5 lands after the new leader's v6 (its producer was still sending
// when it lost the lock): the new leader publishes every region's newest once more after
// republish_after, so the topic's last value is v6 again.
TEST_F(SnapshotPublisherTest, NewLeaderRepublishesNewestAfterOldLeadersRecordsLanded) {
  for (uint32_t mb = 64; mb < 68; ++mb) Apply("aws:us-east-1", mb);  // v1..v4
  Apply("gcp:us-central1", 64);
  {
    std::unique_ptr<SnapshotPublisher> old_leader;  // outlives sink, as in SnapshotProjector
    testing::FakeSnapshotSink sink(&topic_);
    old_leader = NewPublisher(&sink);
    ASSERT_TRUE(old_leader->Step().ok());
    sink.Deliver();
    ASSERT_TRUE(old_leader->Step().ok());
  }
  ASSERT_EQ(progress_.Published("aws:us-east-1"), 4u);

  std::unique_ptr<SnapshotPublisher> old_leader;  // outlives old_sink, as in SnapshotProjector
  testing::FakeSnapshotSink old_sink(&topic_);
  old_leader = NewPublisher(&old_sink);
  Apply("aws:us-east-1", 128);  // v5
  ASSERT_TRUE(old_leader->Step().ok());
  ASSERT_EQ(old_sink.Waiting(), 1u);  // v5 on the wire; the old leader's session is gone

  std::unique_ptr<SnapshotPublisher> new_leader;  // outlives new_sink, as in SnapshotProjector
  testing::FakeSnapshotSink new_sink(&topic_);
  new_leader = NewPublisher(&new_sink);
  Apply("aws:us-east-1", 256);  // v6
  ASSERT_TRUE(new_leader->Step().ok());
  EXPECT_EQ(Versions(new_sink), std::vector<uint64_t>{6}) << "resumes from the stored progress";
  new_sink.Deliver();
  ASSERT_TRUE(new_leader->Step().ok());
  old_sink.Deliver();  // late
  ASSERT_EQ(topic_.Last("aws:us-east-1"), 5u);
  EXPECT_FALSE(new_leader->Republished());

  now_ += milliseconds(6000);
  ASSERT_TRUE(new_leader->Step().ok());
  new_sink.Deliver();
  ASSERT_TRUE(new_leader->Step().ok());
  EXPECT_EQ(topic_.Last("aws:us-east-1"), 6u);
  EXPECT_EQ(topic_.Last("gcp:us-central1"), 1u);
  EXPECT_EQ(counters_.republished, 2u);
  EXPECT_TRUE(new_leader->Republished());
  EXPECT_EQ(progress_.Published("aws:us-east-1"), 6u);

  // Once is enough: later rounds publish only what is pending.
  now_ += milliseconds(60000);
  ASSERT_TRUE(new_leader->Step().ok());
  EXPECT_EQ(new_sink.Waiting(), 0u);
}

TEST_F(SnapshotPublisherTest, RegionInFlightAtTheRepublishGoesOutAgainAfterItsAnswer) {
  std::unique_ptr<SnapshotPublisher> leader;  // outlives sink, as in SnapshotProjector
  testing::FakeSnapshotSink sink(&topic_);
  leader = NewPublisher(&sink);
  Apply("aws:us-east-1", 64);
  ASSERT_TRUE(leader->Step().ok());  // v1 in flight
  now_ += milliseconds(6000);
  ASSERT_TRUE(leader->Step().ok());
  EXPECT_EQ(sink.Waiting(), 1u) << "two publishes of one region in flight";
  EXPECT_FALSE(leader->Republished());
  sink.Deliver();
  ASSERT_TRUE(leader->Step().ok());
  EXPECT_EQ(Versions(sink), (std::vector<uint64_t>{1, 1}));
  sink.Deliver();
  ASSERT_TRUE(leader->Step().ok());
  EXPECT_TRUE(leader->Republished());
  EXPECT_EQ(sink.Waiting(), 0u);
}

}  // namespace
}  // namespace senren::projections
