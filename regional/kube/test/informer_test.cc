#include "regional/kube/informer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/synchronization/mutex.h"
#include "regional/kube/testing/fake_kube_client.h"

namespace senren::regional::kube {
namespace {

using testing::FakeKubeClient;

Json Sts(const std::string& name, int replicas, const std::string& app = "x") {
  return {{"apiVersion", "apps/v1"},
          {"kind", "StatefulSet"},
          {"metadata", {{"name", name}, {"labels", {{"app", app}}}}},
          {"spec", {{"replicas", replicas}}}};
}

// Records handler calls as "add a", "update a", "delete a".
class Recorder {
 public:
  EventHandlers Handlers() {
    return {[this](const ObjectPtr& o) { Push("add " + Name(o)); },
            [this](const ObjectPtr&, const ObjectPtr& o) { Push("update " + Name(o)); },
            [this](const ObjectPtr& o) { Push("delete " + Name(o)); }};
  }
  // Waits (without a time limit of its own: gtest's ctest timeout guards) for `event`.
  void WaitFor(const std::string& event) {
    absl::MutexLock lock(&mu_);
    std::pair<std::vector<std::string>*, const std::string*> arg(&events_, &event);
    mu_.Await(absl::Condition(
        +[](std::pair<std::vector<std::string>*, const std::string*>* a) {
          return std::find(a->first->begin(), a->first->end(), *a->second) != a->first->end();
        },
        &arg));
  }
  std::vector<std::string> Events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  static std::string Name(const ObjectPtr& o) { return (*o)["metadata"].value("name", ""); }
  void Push(const std::string& e) {
    absl::MutexLock lock(&mu_);
    events_.push_back(e);
  }
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

InformerOptions Options() {
  InformerOptions o;
  o.resource = resources::StatefulSets();
  o.ns = "senren";
  o.label_selector = "app=x";
  o.min_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(5);
  return o;
}

TEST(InformerTest, ListsThenWatchesIntoTheStore) {
  FakeKubeClient kube;
  ASSERT_TRUE(kube.Create(resources::StatefulSets(), "senren", Sts("a", 1)).ok());
  ASSERT_TRUE(kube.Create(resources::StatefulSets(), "senren", Sts("other", 1, "y")).ok());
  Informer informer(&kube, Options());
  Recorder rec;
  informer.AddEventHandlers(rec.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(30)));
  EXPECT_THAT(rec.Events(), ::testing::ElementsAre("add a"));
  EXPECT_EQ(informer.Get("senren/other"), nullptr) << "label selector";

  ASSERT_TRUE(kube.Create(resources::StatefulSets(), "senren", Sts("b", 2)).ok());
  rec.WaitFor("add b");
  Json a = *kube.Get(resources::StatefulSets(), "senren", "a");
  a["spec"]["replicas"] = 3;
  ASSERT_TRUE(kube.Update(resources::StatefulSets(), "senren", a).ok());
  rec.WaitFor("update a");
  ASSERT_TRUE(kube.Delete(resources::StatefulSets(), "senren", "b", {}).ok());
  rec.WaitFor("delete b");
  informer.Stop();
  EXPECT_EQ((*informer.Get("senren/a"))["spec"]["replicas"], 3);
  EXPECT_EQ(informer.Get("senren/b"), nullptr);
  EXPECT_EQ(informer.lists(), 1);
  EXPECT_THAT(informer.Keys(), ::testing::ElementsAre("senren/a"));
}

TEST(InformerTest, DroppedStreamResumesFromLastVersionWithoutRelist) {
  FakeKubeClient kube;
  Informer informer(&kube, Options());
  Recorder rec;
  informer.AddEventHandlers(rec.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(30)));
  ASSERT_TRUE(kube.WaitFor([&] { return kube.OpenWatches() > 0; }));
  kube.BlockWatches(true);
  ASSERT_TRUE(kube.WaitFor([&] { return kube.OpenWatches() == 0; }));
  ASSERT_TRUE(kube.Create(resources::StatefulSets(), "senren", Sts("during-drop", 1)).ok());
  kube.BlockWatches(false);
  rec.WaitFor("add during-drop");
  informer.Stop();
  EXPECT_EQ(informer.lists(), 1) << "a dropped stream resumes; it does not relist";
  EXPECT_GE(informer.watches(), 2);
  EXPECT_THAT(rec.Events(), ::testing::ElementsAre("add during-drop"));
}

TEST(InformerTest, GoneRelistsAndTurnsTheDifferenceIntoEvents) {
  FakeKubeClient kube;
  ASSERT_TRUE(kube.Create(resources::StatefulSets(), "senren", Sts("stays", 1)).ok());
  ASSERT_TRUE(kube.Create(resources::StatefulSets(), "senren", Sts("goes", 1)).ok());
  Informer informer(&kube, Options());
  Recorder rec;
  informer.AddEventHandlers(rec.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(30)));
  ASSERT_TRUE(kube.WaitFor([&] { return kube.OpenWatches() > 0; }));
  // Changes the informer misses while its stream is down, then a compaction: the
  // resumed watch gets 410 and the informer must relist.
  kube.BlockWatches(true);
  ASSERT_TRUE(kube.WaitFor([&] { return kube.OpenWatches() == 0; }));
  ASSERT_TRUE(kube.Delete(resources::StatefulSets(), "senren", "goes", {}).ok());
  ASSERT_TRUE(kube.Create(resources::StatefulSets(), "senren", Sts("new", 1)).ok());
  kube.Compact();
  kube.BlockWatches(false);
  rec.WaitFor("delete goes");
  rec.WaitFor("add new");
  informer.Stop();
  EXPECT_EQ(informer.lists(), 2);
  EXPECT_NE(informer.Get("senren/stays"), nullptr);
  EXPECT_EQ(informer.Get("senren/goes"), nullptr);
}

TEST(InformerTest, DropsManagedFieldsUnlessAsked) {
  FakeKubeClient kube;
  Json sts = Sts("a", 1);
  sts["metadata"]["managedFields"] = Json::array({{{"manager", "kubectl"}}});
  ASSERT_TRUE(kube.Create(resources::StatefulSets(), "senren", sts).ok());
  Informer trimmed(&kube, Options());
  InformerOptions keep_options = Options();
  keep_options.drop_managed_fields = false;
  Informer kept(&kube, keep_options);
  trimmed.Start();
  kept.Start();
  ASSERT_TRUE(trimmed.WaitForSync(std::chrono::seconds(30)));
  ASSERT_TRUE(kept.WaitForSync(std::chrono::seconds(30)));
  EXPECT_FALSE((*trimmed.Get("senren/a"))["metadata"].contains("managedFields"));
  EXPECT_TRUE((*kept.Get("senren/a"))["metadata"].contains("managedFields"));
}

TEST(InformerTest, FailingFirstListIsRetried) {
  FakeKubeClient kube;
  ASSERT_TRUE(kube.Create(resources::StatefulSets(), "senren", Sts("a", 1)).ok());
  kube.FailNext("statefulsets", absl::UnavailableError("connection refused"));
  kube.FailNext("statefulsets", absl::UnavailableError("connection refused"));
  Informer informer(&kube, Options());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(30)));
  EXPECT_NE(informer.Get("senren/a"), nullptr);
  EXPECT_EQ(kube.Calls("list", "statefulsets"), 3);
}

}  // namespace
}  // namespace senren::regional::kube
