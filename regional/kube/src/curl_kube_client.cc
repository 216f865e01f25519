#include "regional/kube/curl_kube_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "regional/kube/errors.h"

namespace senren::regional::kube {

struct CurlKubeClient::Request {
  std::string method;  // GET, POST, PUT, PATCH, DELETE
  std::string path;    // with query string
  std::string body;
  std::string content_type = "application/json";
  std::string operation;  // "get", "create", ... for errors
  std::string object;     // "ns/plural/name" for errors
  // Safe to send again after a transport error or a 5xx (everything but POST).
  bool idempotent = true;
};

struct CurlKubeClient::Reply {
  long status = 0;
  std::string body;
  std::chrono::milliseconds retry_after{0};
};

namespace {

// Makes curl_global_init run once before any handle exists.
void GlobalInit() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

std::string Escape(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

void AddQuery(std::string* path, const std::string& key, const std::string& value) {
  if (value.empty()) return;
  path->push_back(path->find('?') == std::string::npos ? '?' : '&');
  absl::StrAppend(path, key, "=", Escape(value));
}

std::string ObjectName(const Resource& r, const std::string& ns, const std::string& name) {
  std::string out = ns.empty() ? r.plural : ns + "/" + r.plural;
  if (!name.empty()) absl::StrAppend(&out, "/", name);
  return out;
}

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t ReadHeader(char* data, size_t size, size_t n, void* out) {
  absl::string_view line(data, size * n);
  constexpr absl::string_view kRetryAfter = "retry-after:";
  if (line.size() > kRetryAfter.size() &&
      absl::AsciiStrToLower(line.substr(0, kRetryAfter.size())) == kRetryAfter) {
    int seconds = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(kRetryAfter.size())), &seconds)) {
      *static_cast<std::chrono::milliseconds*>(out) = std::chrono::seconds(seconds);
    }
  }
  return size * n;
}

CURL* AsCurl(void* handle) { return static_cast<CURL*>(handle); }

uint64_t TlsGenerationOf(const Credential& credential) {
  return credential.client_cert_pem.empty() ? 0 : credential.generation;
}

// Sets the credential on a borrowed handle: an Authorization header (added to `headers`)
// or a client certificate from a plugin (which replaces the kubeconfig's).
void Authenticate(CURL* curl, const Credential& credential, curl_slist** headers) {
  if (!credential.token.empty()) {
    *headers = curl_slist_append(*headers, ("Authorization: Bearer " + credential.token).c_str());
  }
  if (!credential.client_cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(credential.client_cert_pem.data()),
                   credential.client_cert_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
    curl_blob key{const_cast<char*>(credential.client_key_pem.data()),
                  credential.client_key_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
  }
}

// State of one watch stream, shared with curl's callbacks.
struct WatchStream {
  CURL* curl = nullptr;
  const WatchHandler* handler = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  std::string object;      // "ns/plural" for errors
  std::string buffer;      // bytes not yet forming a full line
  std::string error_body;  // the body of a non-200 answer
  absl::Status in_stream;  // an ERROR event
  bool stopped_by_handler = false;
  bool cancelled = false;
};

absl::Status Dispatch(WatchStream* w, const std::string& line) {
  nlohmann::json event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!event.is_object()) {
    return absl::DataLossError(absl::StrCat("watch event is not JSON: ", line.substr(0, 200)));
  }
  const std::string type = event.value("type", "");
  WatchEvent out;
  if (type == "ADDED") {
    out.type = WatchEventType::kAdded;
  } else if (type == "MODIFIED") {
    out.type = WatchEventType::kModified;
  } else if (type == "DELETED") {
    out.type = WatchEventType::kDeleted;
  } else if (type == "BOOKMARK") {
    out.type = WatchEventType::kBookmark;
  } else if (type == "ERROR") {
    const nlohmann::json& st = event["object"];
    return ApiError("watch", w->object, st.value("code", 500), st.dump());
  } else {
    return absl::DataLossError(absl::StrCat("watch event of unknown type \"", type, "\""));
  }
  out.object = std::move(event["object"]);
  if (!(*w->handler)(out)) w->stopped_by_handler = true;
  return absl::OkStatus();
}

size_t WatchWrite(char* data, size_t size, size_t n, void* user) {
  auto* w = static_cast<WatchStream*>(user);
  const size_t total = size * n;
  long code = 0;
  curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) {
    w->error_body.append(data, total);
    return total;
  }
  w->buffer.append(data, total);
  size_t start = 0;
  while (true) {
    size_t nl = w->buffer.find('\n', start);
    if (nl == std::string::npos) break;
    std::string line = w->buffer.substr(start, nl - start);
    start = nl + 1;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    absl::Status s = Dispatch(w, line);
    if (!s.ok()) {
      w->in_stream = s;
      return 0;  // abort the transfer
    }
    if (w->stopped_by_handler) return 0;
    if (w->cancel != nullptr && w->cancel->load()) {
      w->cancelled = true;
      return 0;
    }
  }
  w->buffer.erase(0, start);
  return total;
}

int WatchProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* w = static_cast<WatchStream*>(user);
  if (w->cancel != nullptr && w->cancel->load()) {
    w->cancelled = true;
    return 1;
  }
  return 0;
}

}  // namespace

CurlKubeClient::CurlKubeClient(KubeConfig config, CurlKubeClientOptions options,
                               std::unique_ptr<CredentialSource> credentials)
    : config_(std::move(config)),
      options_(std::move(options)),
      credentials_(std::move(credentials)) {}

absl::StatusOr<std::unique_ptr<CurlKubeClient>> CurlKubeClient::Create(
    KubeConfig config, CurlKubeClientOptions options) {
  GlobalInit();
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("kube server \"", config.server, "\" is not an http(s) URL"));
  }
  for (const std::string* file :
       {&config.ca_file, &config.client_cert_file, &config.client_key_file, &config.token_file}) {
    if (!file->empty() && !std::ifstream(*file)) {
      return absl::FailedPreconditionError(absl::StrCat("cannot read ", *file));
    }
  }
  absl::StatusOr<std::unique_ptr<CredentialSource>> credentials =
      NewCredentialSource(config, options.credentials);
  if (!credentials.ok()) return credentials.status();
  return std::unique_ptr<CurlKubeClient>(
      new CurlKubeClient(std::move(config), std::move(options), *std::move(credentials)));
}

CurlKubeClient::~CurlKubeClient() {
  absl::MutexLock lock(&mu_);
  for (const IdleHandle& h : idle_) curl_easy_cleanup(AsCurl(h.curl));
}

void* CurlKubeClient::Borrow(uint64_t tls_generation) {
  std::vector<void*> stale;
  void* found = nullptr;
  {
    absl::MutexLock lock(&mu_);
    while (!idle_.empty() && found == nullptr) {
      const IdleHandle h = idle_.back();
      idle_.pop_back();
      if (h.tls_generation == tls_generation) {
        found = h.curl;
      } else {
        stale.push_back(h.curl);  // its connections carry a retired client certificate
      }
    }
  }
  for (void* h : stale) curl_easy_cleanup(AsCurl(h));
  if (found != nullptr) {
    curl_easy_reset(AsCurl(found));  // keeps the live connection
    Configure(found);
    return found;
  }
  CURL* curl = curl_easy_init();
  if (curl != nullptr) Configure(curl);
  return curl;
}

void CurlKubeClient::Return(void* handle, uint64_t tls_generation) {
  if (handle == nullptr) return;
  absl::MutexLock lock(&mu_);
  if (idle_.size() < 16) {
    idle_.push_back({handle, tls_generation});
  } else {
    curl_easy_cleanup(AsCurl(handle));
  }
}

absl::StatusOr<Credential> CurlKubeClient::CredentialFor(const std::string& operation,
                                                         const std::string& object) {
  absl::StatusOr<Credential> credential = credentials_->Get();
  if (!credential.ok()) {
    return absl::Status(
        credential.status().code(),
        absl::StrCat(operation, " ", object, ": credentials of ", credential.status().message()));
  }
  return credential;
}

void CurlKubeClient::Configure(void* handle) const {
  CURL* curl = AsCurl(handle);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
  if (!config_.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, config_.ca_file.c_str());
  } else if (!config_.ca_data.empty()) {
    curl_blob blob{const_cast<char*>(config_.ca_data.data()), config_.ca_data.size(),
                   CURL_BLOB_NOCOPY};
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
  }
  if (!config_.client_cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, config_.client_cert_file.c_str());
  } else if (!config_.client_cert_data.empty()) {
    curl_blob blob{const_cast<char*>(config_.client_cert_data.data()),
                   config_.client_cert_data.size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &blob);
  }
  if (!config_.client_key_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLKEY, config_.client_key_file.c_str());
  } else if (!config_.client_key_data.empty()) {
    curl_blob blob{const_cast<char*>(config_.client_key_data.data()),
                   config_.client_key_data.size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &blob);
  }
  if (config_.insecure_skip_tls_verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

absl::StatusOr<CurlKubeClient::Reply> CurlKubeClient::CallOnce(const Request& request,
                                                               const Credential& credential,
                                                               void* handle, bool* retryable) {
  CURL* curl = AsCurl(handle);
  Reply reply;
  const std::string url = config_.server + request.path;
  curl_slist* headers = nullptr;
  Authenticate(curl, credential, &headers);
  headers = curl_slist_append(headers, "Accept: application/json");
  if (!request.body.empty()) {
    headers = curl_slist_append(headers, ("Content-Type: " + request.content_type).c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReadHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.retry_after);
  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (!request.body.empty()) {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }
  }
  requests_sent_.fetch_add(1);
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    // Nothing reached the server when the connection could not be made: safe for POST too.
    *retryable =
        request.idempotent || rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
    return TransportError(request.operation, request.object, curl_easy_strerror(rc),
                          rc == CURLE_OPERATION_TIMEDOUT);
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  *retryable = reply.status == 429 || (reply.status >= 500 && request.idempotent) ||
               (reply.status == 503 && !request.idempotent);
  return reply;
}

absl::StatusOr<CurlKubeClient::Reply> CurlKubeClient::Call(const Request& request) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::chrono::milliseconds backoff = options_.initial_backoff;
  absl::Status last;
  bool reauthenticated = false;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<Credential> credential = CredentialFor(request.operation, request.object);
    if (!credential.ok()) return credential.status();
    const uint64_t tls_generation = TlsGenerationOf(*credential);
    void* handle = Borrow(tls_generation);
    if (handle == nullptr) return absl::InternalError("curl_easy_init failed");
    bool retryable = false;
    absl::StatusOr<Reply> reply = CallOnce(request, *credential, handle, &retryable);
    if (reply.ok() || retryable) {
      Return(handle, tls_generation);
    } else {
      curl_easy_cleanup(AsCurl(handle));  // a broken connection is not reused
    }
    if (reply.ok() && reply->status < 300) return reply;
    // A 401 means the server did nothing with the request (a POST included): send it once
    // more when the source can give a credential other than the refused one.
    if (reply.ok() && reply->status == 401 && !reauthenticated &&
        credentials_->Unauthorized(*credential)) {
      reauthenticated = true;
      --attempt;  // not a failure of the server's
      continue;
    }
    if (reply.ok()) {
      last = ApiError(request.operation, request.object, reply->status, reply->body);
    } else {
      last = reply.status();
    }
    if (!retryable || attempt >= options_.max_attempts) return last;
    // Full jitter: a random delay in [backoff/2, backoff], or the server's Retry-After.
    std::uniform_int_distribution<int64_t> jitter(backoff.count() / 2, backoff.count());
    std::chrono::milliseconds delay(jitter(rng));
    if (reply.ok() && reply->retry_after > delay) {
      delay = std::min(reply->retry_after, std::chrono::milliseconds(10000));
    }
    std::this_thread::sleep_for(delay);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::StatusOr<Json> CurlKubeClient::CallJson(const Request& request) {
  absl::StatusOr<Reply> reply = Call(request);
  if (!reply.ok()) return reply.status();
  Json parsed = Json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::DataLossError(absl::StrCat(request.operation, " ", request.object,
                                            ": answer is not JSON: ", reply->body.substr(0, 200)));
  }
  return parsed;
}

absl::StatusOr<Json> CurlKubeClient::Get(const Resource& resource, const std::string& ns,
                                         const std::string& name) {
  Request r;
  r.method = "GET";
  r.path = ResourcePath(resource, ns, name);
  r.operation = "get";
  r.object = ObjectName(resource, ns, name);
  return CallJson(r);
}

absl::StatusOr<ObjectList> CurlKubeClient::List(const Resource& resource, const std::string& ns,
                                                const ListOptions& options) {
  Request r;
  r.method = "GET";
  r.path = ResourcePath(resource, ns);
  AddQuery(&r.path, "labelSelector", options.label_selector);
  AddQuery(&r.path, "fieldSelector", options.field_selector);
  if (options.limit > 0) AddQuery(&r.path, "limit", std::to_string(options.limit));
  AddQuery(&r.path, "continue", options.continue_token);
  AddQuery(&r.path, "resourceVersion", options.resource_version);
  r.operation = "list";
  r.object = ObjectName(resource, ns, "");
  absl::StatusOr<Json> body = CallJson(r);
  if (!body.ok()) return body.status();
  ObjectList list;
  const Json& meta = (*body)["metadata"];
  if (meta.is_object()) {
    list.resource_version = meta.value("resourceVersion", "");
    list.continue_token = meta.value("continue", "");
  }
  if ((*body)["items"].is_array()) {
    for (auto& item : (*body)["items"]) {
      // Items of a list carry no apiVersion/kind; fill them so objects look alike
      // whether they came from a list or a watch.
      if (!item.contains("apiVersion")) item["apiVersion"] = resource.ApiVersion();
      if (!item.contains("kind")) item["kind"] = resource.kind;
      list.items.push_back(std::move(item));
    }
  }
  return list;
}

absl::StatusOr<Json> CurlKubeClient::Create(const Resource& resource, const std::string& ns,
                                            const Json& object) {
  Request r;
  r.method = "POST";
  r.path = ResourcePath(resource, ns);
  r.body = object.dump();
  r.idempotent = false;
  r.operation = "create";
  r.object = ObjectName(resource, ns, object["metadata"].value("name", ""));
  return CallJson(r);
}

absl::StatusOr<Json> CurlKubeClient::Update(const Resource& resource, const std::string& ns,
                                            const Json& object) {
  Request r;
  r.method = "PUT";
  const std::string name = object["metadata"].value("name", "");
  r.path = ResourcePath(resource, ns, name);
  r.body = object.dump();
  r.operation = "update";
  r.object = ObjectName(resource, ns, name);
  return CallJson(r);
}

absl::StatusOr<Json> CurlKubeClient::UpdateStatus(const Resource& resource, const std::string& ns,
                                                  const Json& object) {
  Request r;
  r.method = "PUT";
  const std::string name = object["metadata"].value("name", "");
  r.path = ResourcePath(resource, ns, name, "status");
  r.body = object.dump();
  r.operation = "update status of";
  r.object = ObjectName(resource, ns, name);
  return CallJson(r);
}

absl::StatusOr<Json> CurlKubeClient::Apply(const Resource& resource, const std::string& ns,
                                           const Json& object, const ApplyOptions& options) {
  if (options.field_manager.empty()) {
    return absl::InvalidArgumentError("apply needs a field manager");
  }
  Request r;
  r.method = "PATCH";
  const std::string name = object["metadata"].value("name", "");
  r.path = ResourcePath(resource, ns, name, options.subresource);
  AddQuery(&r.path, "fieldManager", options.field_manager);
  if (options.force) AddQuery(&r.path, "force", "true");
  // JSON is YAML: the apply-patch content type takes it as is.
  r.body = object.dump();
  r.content_type = "application/apply-patch+yaml";
  r.operation = options.subresource.empty() ? "apply" : "apply " + options.subresource + " of";
  r.object = ObjectName(resource, ns, name);
  return CallJson(r);
}

absl::Status CurlKubeClient::Delete(const Resource& resource, const std::string& ns,
                                    const std::string& name, const DeleteOptions& options) {
  Request r;
  r.method = "DELETE";
  r.path = ResourcePath(resource, ns, name);
  Json body = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (options.uid || options.resource_version) {
    Json pre = Json::object();
    if (options.uid) pre["uid"] = *options.uid;
    if (options.resource_version) pre["resourceVersion"] = *options.resource_version;
    body["preconditions"] = pre;
  }
  if (!options.propagation_policy.empty()) body["propagationPolicy"] = options.propagation_policy;
  r.body = body.dump();
  r.operation = "delete";
  r.object = ObjectName(resource, ns, name);
  absl::StatusOr<Reply> reply = Call(r);
  return reply.status();
}

absl::Status CurlKubeClient::Watch(const Resource& resource, const std::string& ns,
                                   const WatchOptions& options, const WatchHandler& handler,
                                   const std::atomic<bool>* cancel) {
  std::string path = ResourcePath(resource, ns);
  AddQuery(&path, "watch", "1");
  AddQuery(&path, "labelSelector", options.label_selector);
  AddQuery(&path, "fieldSelector", options.field_selector);
  AddQuery(&path, "resourceVersion", options.resource_version);
  if (options.allow_bookmarks) AddQuery(&path, "allowWatchBookmarks", "true");
  if (options.timeout.count() > 0) {
    AddQuery(&path, "timeoutSeconds", std::to_string(options.timeout.count()));
  }
  const std::string object = ObjectName(resource, ns, "");
  const std::string url = config_.server + path;
  // A 401 comes before any event: sending the watch again with a fresh credential is safe.
  for (bool reauthenticated = false;; reauthenticated = true) {
    absl::StatusOr<Credential> credential = CredentialFor("watch", object);
    if (!credential.ok()) return credential.status();
    absl::Status s = WatchOnce(url, object, *credential, handler, cancel);
    if (!reauthenticated && HttpStatusOf(s) == 401 && credentials_->Unauthorized(*credential)) {
      continue;
    }
    return s;
  }
}

absl::Status CurlKubeClient::WatchOnce(const std::string& url, const std::string& object,
                                       const Credential& credential, const WatchHandler& handler,
                                       const std::atomic<bool>* cancel) {
  const uint64_t tls_generation = TlsGenerationOf(credential);
  void* handle = Borrow(tls_generation);
  if (handle == nullptr) return absl::InternalError("curl_easy_init failed");
  CURL* curl = AsCurl(handle);
  WatchStream w;
  w.curl = curl;
  w.handler = &handler;
  w.cancel = cancel;
  w.object = object;
  curl_slist* headers = nullptr;
  Authenticate(curl, credential, &headers);
  headers = curl_slist_append(headers, "Accept: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 0L);
  // A stream silent for longer than the idle timeout (no event, no bookmark) is dead.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(
      curl, CURLOPT_LOW_SPEED_TIME,
      static_cast<long>(std::max<int64_t>(
          1,
          std::chrono::duration_cast<std::chrono::seconds>(options_.watch_idle_timeout).count())));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WatchWrite);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &w);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, WatchProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &w);
  requests_sent_.fetch_add(1);
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  // An aborted stream leaves the connection in an unknown state: never reuse it.
  const bool clean = rc == CURLE_OK;
  if (clean) {
    Return(handle, tls_generation);
  } else {
    curl_easy_cleanup(curl);
  }
  if (!w.in_stream.ok()) {
    return w.in_stream;
  }
  if (w.stopped_by_handler) return absl::OkStatus();
  if (w.cancelled) return absl::CancelledError(absl::StrCat("watch ", object, ": cancelled"));
  if (code != 0 && code != 200) return ApiError("watch", object, code, w.error_body);
  if (rc != CURLE_OK) {
    return TransportError("watch", object, curl_easy_strerror(rc), rc == CURLE_OPERATION_TIMEDOUT);
  }
  return absl::OkStatus();
}

}  // namespace senren::regional::kube
