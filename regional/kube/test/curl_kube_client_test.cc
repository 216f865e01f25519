// CurlKubeClient against an in-process HTTP server that answers with kube-apiserver 1.35
// responses recorded from the lab (bodies trimmed to the fields that matter).
#include "regional/kube/curl_kube_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "absl/synchronization/notification.h"
#include "regional/kube/errors.h"
#include "regional/kube/testing/fake_api_server.h"

namespace senren::regional::kube {
namespace {

using testing::FakeApiServer;
using ::testing::HasSubstr;
using testing::HttpRequest;
using testing::HttpResponse;
using testing::StatusBody;

// Recorded: GET /apis/senren.io/v1alpha1/namespaces/senren/redisdatabases/sessions
constexpr char kRedisDatabase[] = R"({"apiVersion":"senren.io/v1alpha1","kind":"RedisDatabase",
"metadata":{"creationTimestamp":"2026-11-26T18:01:02Z","generation":1,"name":"sessions",
"namespace":"senren","resourceVersion":"4711","uid":"0d6c3f0e-6a43-4d8e-9f55-7c1b2f0b8a11"},
"spec":{"memoryMb":512,"persistence":"rdb","replicas":3,"version":"7.2"}})";

// Recorded: POST of a RedisDatabase with memoryMb: 1.
constexpr char kInvalid[] = R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
"message":"RedisDatabase.senren.io \"tiny\" is invalid: spec.memoryMb: Invalid value: 1: spec.memoryMb in body should be greater than or equal to 16",
"reason":"Invalid","details":{"name":"tiny","group":"senren.io","kind":"RedisDatabase",
"causes":[{"reason":"FieldValueInvalid","message":"Invalid value: 1: spec.memoryMb in body should be greater than or equal to 16","field":"spec.memoryMb"}]},"code":422})";

class CurlKubeClientTest : public ::testing::Test {
 protected:
  void Serve(testing::HttpHandler handler) {
    auto server = FakeApiServer::Start(std::move(handler));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    KubeConfig config;
    config.server = server_->url();
    config.token = "t0ken";
    CurlKubeClientOptions options;
    options.initial_backoff = std::chrono::milliseconds(1);
    options.max_backoff = std::chrono::milliseconds(4);
    options.max_attempts = 4;
    auto client = CurlKubeClient::Create(config, options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  std::unique_ptr<FakeApiServer> server_;
  std::unique_ptr<CurlKubeClient> client_;
};

HttpResponse Json200(const std::string& body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = body;
  return r;
}

TEST_F(CurlKubeClientTest, GetSendsTokenAndParsesObject) {
  Serve([](const HttpRequest&) { return Json200(kRedisDatabase); });
  auto got = client_->Get(resources::RedisDatabases(), "senren", "sessions");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["spec"]["memoryMb"], 512);
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].path, "/apis/senren.io/v1alpha1/namespaces/senren/redisdatabases/sessions");
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer t0ken");
  EXPECT_EQ(reqs[0].headers["accept"], "application/json");
}

TEST_F(CurlKubeClientTest, NotFoundCarriesHttpStatusAndApiMessage) {
  Serve([](const HttpRequest&) {
    return Json200(StatusBody(404, "NotFound", "redisdatabases.senren.io \"gone\" not found"), 404);
  });
  auto got = client_->Get(resources::RedisDatabases(), "senren", "gone");
  ASSERT_TRUE(absl::IsNotFound(got.status())) << got.status();
  EXPECT_EQ(HttpStatusOf(got.status()), 404);
  EXPECT_EQ(ApiReasonOf(got.status()), "NotFound");
  EXPECT_THAT(got.status().message(), HasSubstr("get senren/redisdatabases/gone: HTTP 404"));
  EXPECT_THAT(got.status().message(), HasSubstr("\"gone\" not found"));
  EXPECT_EQ(server_->requests().size(), 1u) << "a 404 is not retried";
}

TEST_F(CurlKubeClientTest, InvalidSpecNamesTheField) {
  Serve([](const HttpRequest&) { return Json200(kInvalid, 422); });
  Json tiny = {{"apiVersion", "senren.io/v1alpha1"},
               {"kind", "RedisDatabase"},
               {"metadata", {{"name", "tiny"}}},
               {"spec", {{"memoryMb", 1}}}};
  auto created = client_->Create(resources::RedisDatabases(), "senren", tiny);
  ASSERT_TRUE(absl::IsInvalidArgument(created.status())) << created.status();
  EXPECT_THAT(created.status().message(), HasSubstr("spec.memoryMb"));
  EXPECT_EQ(HttpStatusOf(created.status()), 422);
  auto reqs = server_->requests();
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/apis/senren.io/v1alpha1/namespaces/senren/redisdatabases");
  EXPECT_EQ(Json::parse(reqs[0].body), tiny);
}

TEST_F(CurlKubeClientTest, ConflictsAreAbortedAndAlreadyExistsIsItsOwnCode) {
  Serve([](const HttpRequest& r) {
    if (r.method == "POST") {
      return Json200(StatusBody(409, "AlreadyExists", "leases \"x\" already exists"), 409);
    }
    return Json200(StatusBody(409, "Conflict",
                              "Operation cannot be fulfilled on leases \"x\": the object has "
                              "been modified; please apply your changes to the latest version"),
                   409);
  });
  Json lease = {{"metadata", {{"name", "x"}, {"resourceVersion", "1"}}}};
  EXPECT_TRUE(
      absl::IsAlreadyExists(client_->Create(resources::Leases(), "senren", lease).status()));
  auto updated = client_->Update(resources::Leases(), "senren", lease);
  EXPECT_TRUE(IsConflict(updated.status())) << updated.status();
  EXPECT_EQ(server_->requests().back().path,
            "/apis/coordination.k8s.io/v1/namespaces/senren/leases/x");
  EXPECT_EQ(server_->requests().back().method, "PUT");
}

TEST_F(CurlKubeClientTest, ListAllFollowsContinueTokens) {
  Serve([](const HttpRequest& r) {
    if (r.query.count("continue") == 0) {
      return Json200(R"({"kind":"StatefulSetList","apiVersion":"apps/v1","metadata":
        {"resourceVersion":"900","continue":"tok1","remainingItemCount":1},
        "items":[{"metadata":{"name":"a","namespace":"senren"}}]})");
    }
    return Json200(R"({"kind":"StatefulSetList","apiVersion":"apps/v1","metadata":
        {"resourceVersion":"900"},"items":[{"metadata":{"name":"b","namespace":"senren"}}]})");
  });
  ListOptions options;
  options.label_selector = "app.kubernetes.io/managed-by=senren";
  options.limit = 1;
  auto list = client_->ListAll(resources::StatefulSets(), "senren", options);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->items[1]["metadata"]["name"], "b");
  EXPECT_EQ(list->items[0]["kind"], "StatefulSet") << "list items get their kind filled";
  EXPECT_EQ(list->items[0]["apiVersion"], "apps/v1");
  EXPECT_EQ(list->resource_version, "900");
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].query["labelSelector"], "app.kubernetes.io/managed-by=senren");
  EXPECT_EQ(reqs[0].query["limit"], "1");
  EXPECT_EQ(reqs[1].query["continue"], "tok1");
}

TEST_F(CurlKubeClientTest, ListAllRestartsWhenContinueTokenExpired) {
  std::atomic<int> calls{0};
  Serve([&](const HttpRequest& r) {
    int n = calls++;
    if (r.query.count("continue") == 0) {
      return Json200(R"({"metadata":{"resourceVersion":")" + std::to_string(100 + n) +
                     R"(","continue":"tok"},"items":[{"metadata":{"name":"a"}}]})");
    }
    if (n == 1) {
      return Json200(StatusBody(410, "Expired",
                                "The provided continue parameter is too old to display a "
                                "consistent list result."),
                     410);
    }
    return Json200(R"({"metadata":{"resourceVersion":"200"},"items":[{"metadata":{"name":"b"}}]})");
  });
  auto list = client_->ListAll(resources::Pods(), "senren", ListOptions{});
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->resource_version, "102") << "the restarted list's version";
  EXPECT_EQ(calls.load(), 4);
}

TEST_F(CurlKubeClientTest, ApplyIsServerSideApply) {
  Serve([](const HttpRequest&) { return Json200(kRedisDatabase); });
  Json desired = {{"apiVersion", "senren.io/v1alpha1"},
                  {"kind", "RedisDatabase"},
                  {"metadata", {{"name", "sessions"}}},
                  {"spec", {{"memoryMb", 512}}}};
  ApplyOptions options;
  options.field_manager = "senren-regional";
  options.force = true;
  auto applied = client_->Apply(resources::RedisDatabases(), "senren", desired, options);
  ASSERT_TRUE(applied.ok()) << applied.status();
  auto r = server_->requests().at(0);
  EXPECT_EQ(r.method, "PATCH");
  EXPECT_EQ(r.path, "/apis/senren.io/v1alpha1/namespaces/senren/redisdatabases/sessions");
  EXPECT_EQ(r.headers["content-type"], "application/apply-patch+yaml");
  EXPECT_EQ(r.query["fieldManager"], "senren-regional");
  EXPECT_EQ(r.query["force"], "true");
  EXPECT_EQ(Json::parse(r.body), desired);

  options.force = false;
  options.subresource = "status";
  ASSERT_TRUE(client_->Apply(resources::RedisDatabases(), "senren", desired, options).ok());
  r = server_->requests().at(1);
  EXPECT_EQ(r.path, "/apis/senren.io/v1alpha1/namespaces/senren/redisdatabases/sessions/status");
  EXPECT_EQ(r.query.count("force"), 0u);
}

TEST_F(CurlKubeClientTest, UpdateStatusPutsTheSubresource) {
  Serve([](const HttpRequest&) { return Json200(kRedisDatabase); });
  Json obj = Json::parse(kRedisDatabase);
  obj["status"] = {{"ready", true}};
  ASSERT_TRUE(client_->UpdateStatus(resources::RedisDatabases(), "senren", obj).ok());
  auto r = server_->requests().at(0);
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.path, "/apis/senren.io/v1alpha1/namespaces/senren/redisdatabases/sessions/status");
  EXPECT_EQ(Json::parse(r.body)["metadata"]["resourceVersion"], "4711");
}

TEST_F(CurlKubeClientTest, DeleteSendsPreconditions) {
  Serve([](const HttpRequest& r) {
    if (r.body.find("stale") != std::string::npos) {
      return Json200(StatusBody(409, "Conflict",
                                "Operation cannot be fulfilled on redisdatabases.senren.io "
                                "\"sessions\": Precondition failed: UID in precondition: stale, "
                                "UID in object meta: 0d6c3f0e"),
                     409);
    }
    return Json200(StatusBody(200, "", ""));
  });
  DeleteOptions options;
  options.uid = "0d6c3f0e";
  options.propagation_policy = "Foreground";
  EXPECT_TRUE(client_->Delete(resources::RedisDatabases(), "senren", "sessions", options).ok());
  Json body = Json::parse(server_->requests().at(0).body);
  EXPECT_EQ(body["preconditions"]["uid"], "0d6c3f0e");
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
  EXPECT_EQ(server_->requests().at(0).method, "DELETE");
  options.uid = "stale";
  auto st = client_->Delete(resources::RedisDatabases(), "senren", "sessions", options);
  EXPECT_TRUE(IsConflict(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("Precondition failed"));
}

TEST_F(CurlKubeClientTest, Retries5xxAnd429ThenSucceeds) {
  std::atomic<int> calls{0};
  Serve([&](const HttpRequest&) {
    int n = calls++;
    if (n == 0) return Json200(StatusBody(503, "ServiceUnavailable", "etcd is unhappy"), 503);
    if (n == 1) {
      HttpResponse r = Json200(StatusBody(429, "TooManyRequests", "slow down"), 429);
      r.headers.push_back({"Retry-After", "0"});
      return r;
    }
    return Json200(kRedisDatabase);
  });
  auto got = client_->Get(resources::RedisDatabases(), "senren", "sessions");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(client_->requests_sent(), 3);
}

TEST_F(CurlKubeClientTest, GivesUpAfterMaxAttemptsWithTheLastError) {
  Serve([](const HttpRequest&) {
    return Json200(StatusBody(500, "InternalError", "Internal error occurred: boom"), 500);
  });
  auto got = client_->Get(resources::Pods(), "senren", "p");
  EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
  EXPECT_EQ(HttpStatusOf(got.status()), 500);
  EXPECT_THAT(got.status().message(), HasSubstr("boom"));
  EXPECT_EQ(server_->requests().size(), 4u);
}

TEST_F(CurlKubeClientTest, CreateIsNotRepeatedAfterA500) {
  Serve([](const HttpRequest&) {
    return Json200(StatusBody(500, "InternalError", "Internal error occurred"), 500);
  });
  auto created =
      client_->Create(resources::ConfigMaps(), "senren", {{"metadata", {{"name", "c"}}}});
  EXPECT_TRUE(absl::IsUnavailable(created.status()));
  EXPECT_EQ(server_->requests().size(), 1u) << "POST may have been applied; not resent";
}

TEST_F(CurlKubeClientTest, RefusedConnectionIsUnavailable) {
  Serve([](const HttpRequest&) { return Json200("{}"); });
  const std::string url = server_->url();
  server_->Stop();
  KubeConfig config;
  config.server = url;
  CurlKubeClientOptions options;
  options.initial_backoff = std::chrono::milliseconds(1);
  options.max_attempts = 2;
  auto client = CurlKubeClient::Create(config, options);
  ASSERT_TRUE(client.ok());
  auto got = (*client)->Get(resources::Pods(), "senren", "p");
  EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("get senren/pods/p"));
  EXPECT_FALSE(HttpStatusOf(got.status()).has_value());
}

TEST_F(CurlKubeClientTest, ReadsTokenFileOnEachRequest) {
  Serve([](const HttpRequest&) { return Json200(kRedisDatabase); });
  const std::string token_file = ::testing::TempDir() + "/token";
  { std::ofstream(token_file) << "first\n"; }
  KubeConfig config;
  config.server = server_->url();
  config.token_file = token_file;
  auto client = CurlKubeClient::Create(config);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Get(resources::Pods(), "senren", "p").ok());
  { std::ofstream(token_file) << "second\n"; }
  ASSERT_TRUE((*client)->Get(resources::Pods(), "senren", "p").ok());
  EXPECT_EQ(server_->requests().at(0).headers["authorization"], "Bearer first");
  EXPECT_EQ(server_->requests().at(1).headers["authorization"], "Bearer second");
}

// Recorded watch stream of StatefulSets (one JSON event per line).
std::vector<std::string> RecordedWatch() {
  return {
      R"({"type":"ADDED","object":{"kind":"StatefulSet","apiVersion":"apps/v1","metadata":{"name":"a","namespace":"senren","resourceVersion":"10"}}})"
      "\n",
      // An event split across two chunks.
      R"({"type":"MODIFIED","object":{"kind":"StatefulSet","apiVersion":"apps/v1","metadata":)",
      R"({"name":"a","namespace":"senren","resourceVersion":"11"},"status":{"readyReplicas":1}}})"
      "\n",
      R"({"type":"BOOKMARK","object":{"kind":"StatefulSet","apiVersion":"apps/v1","metadata":{"resourceVersion":"15","annotations":{"k8s.io/initial-events-end":"true"}}}})"
      "\n"
      R"({"type":"DELETED","object":{"kind":"StatefulSet","apiVersion":"apps/v1","metadata":{"name":"a","namespace":"senren","resourceVersion":"16"}}})"
      "\n",
  };
}

TEST_F(CurlKubeClientTest, WatchDeliversEventsAndBookmarks) {
  Serve([](const HttpRequest&) {
    HttpResponse r;
    r.streamed = true;
    r.chunks = RecordedWatch();
    r.gap = std::chrono::milliseconds(2);
    return r;
  });
  std::vector<std::string> seen;
  WatchOptions options;
  options.resource_version = "9";
  options.label_selector = "app=x";
  options.timeout = std::chrono::seconds(60);
  auto st = client_->Watch(
      resources::StatefulSets(), "senren", options,
      [&](const WatchEvent& e) {
        seen.push_back(std::string(WatchEventTypeName(e.type)) + "@" +
                       e.object["metadata"].value("resourceVersion", ""));
        return true;
      },
      nullptr);
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_THAT(seen, ::testing::ElementsAre("ADDED@10", "MODIFIED@11", "BOOKMARK@15", "DELETED@16"));
  auto r = server_->requests().at(0);
  EXPECT_EQ(r.path, "/apis/apps/v1/namespaces/senren/statefulsets");
  EXPECT_EQ(r.query["watch"], "1");
  EXPECT_EQ(r.query["resourceVersion"], "9");
  EXPECT_EQ(r.query["allowWatchBookmarks"], "true");
  EXPECT_EQ(r.query["timeoutSeconds"], "60");
  EXPECT_EQ(r.query["labelSelector"], "app=x");
}

TEST_F(CurlKubeClientTest, WatchErrorEvent410IsGone) {
  Serve([](const HttpRequest&) {
    HttpResponse r;
    r.streamed = true;
    // Recorded: the apiserver's answer to a watch from a compacted version.
    r.chunks = {
        R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 5 (4711)","reason":"Expired","code":410}})j"
        "\n"};
    return r;
  });
  WatchOptions options;
  options.resource_version = "5";
  auto st = client_->Watch(
      resources::Pods(), "senren", options, [](const WatchEvent&) { return true; }, nullptr);
  EXPECT_TRUE(IsGone(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("too old resource version"));
  EXPECT_EQ(HttpStatusOf(st), 410);
}

TEST_F(CurlKubeClientTest, WatchDroppedStreamIsUnavailable) {
  Serve([](const HttpRequest&) {
    HttpResponse r;
    r.streamed = true;
    r.chunks = {RecordedWatch()[0]};
    r.drop = true;
    return r;
  });
  int events = 0;
  auto st = client_->Watch(
      resources::StatefulSets(), "senren", WatchOptions{},
      [&](const WatchEvent&) { return ++events > 0; }, nullptr);
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;
  EXPECT_EQ(events, 1);
}

TEST_F(CurlKubeClientTest, WatchStopsWhenHandlerSaysSoOrWhenCancelled) {
  Serve([](const HttpRequest&) {
    HttpResponse r;
    r.streamed = true;
    r.chunks = {RecordedWatch()[0]};
    r.hold = true;
    return r;
  });
  auto st = client_->Watch(
      resources::StatefulSets(), "senren", WatchOptions{}, [](const WatchEvent&) { return false; },
      nullptr);
  EXPECT_TRUE(st.ok()) << st;

  std::atomic<bool> cancel{false};
  std::atomic<int> events{0};
  absl::Notification first_event;
  std::thread canceller([&] {
    first_event.WaitForNotification();
    cancel.store(true);
  });
  st = client_->Watch(
      resources::StatefulSets(), "senren", WatchOptions{},
      [&](const WatchEvent&) {
        if (++events == 1) first_event.Notify();
        return true;
      },
      &cancel);
  canceller.join();
  EXPECT_TRUE(absl::IsCancelled(st)) << st;
}

TEST_F(CurlKubeClientTest, WatchRejectedUpFrontCarriesTheStatus) {
  Serve([](const HttpRequest&) {
    return Json200(
        StatusBody(403, "Forbidden",
                   "pods is forbidden: User \"system:serviceaccount:senren:x\" cannot "
                   "watch resource \"pods\" in API group \"\" in the namespace \"senren\""),
        403);
  });
  auto st = client_->Watch(
      resources::Pods(), "senren", WatchOptions{}, [](const WatchEvent&) { return true; }, nullptr);
  EXPECT_TRUE(absl::IsPermissionDenied(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("cannot watch resource"));
}

TEST(ResourcePathTest, CoreGroupClusterScopedAndSubresources) {
  EXPECT_EQ(ResourcePath(resources::Pods(), "ns1", "p", "log"),
            "/api/v1/namespaces/ns1/pods/p/log");
  EXPECT_EQ(ResourcePath(resources::Namespaces(), "ignored", "ns1"), "/api/v1/namespaces/ns1");
  EXPECT_EQ(ResourcePath(resources::StatefulSets(), ""), "/apis/apps/v1/statefulsets");
  EXPECT_EQ(ObjectKey(Json{{"metadata", {{"name", "n"}, {"namespace", "s"}}}}), "s/n");
  EXPECT_EQ(SplitObjectKey("s/n"), (std::pair<std::string, std::string>("s", "n")));
  EXPECT_EQ(SplitObjectKey("n"), (std::pair<std::string, std::string>("", "n")));
}

}  // namespace
}  // namespace senren::regional::kube
