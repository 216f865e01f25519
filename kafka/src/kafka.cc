#include "kafka/kafka.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace senren::kafka {
namespace {

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using RdKafka = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;

absl::Status FromErr(rd_kafka_resp_err_t err, const std::string& what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  std::string msg = absl::StrCat(what, ": ", rd_kafka_err2str(err));
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      return absl::InvalidArgumentError(msg);
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
      return absl::UnavailableError(msg);
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return absl::ResourceExhaustedError(msg);
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
      return absl::CancelledError(msg);
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
      return absl::DeadlineExceededError(msg);
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return absl::NotFoundError(msg);
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
      return absl::InvalidArgumentError(msg);
    // The broker's ACLs refuse this principal: retrying does not help until an operator
    // grants it, so it is told apart from a broker that is down. The name is in the message
    // for the operator (and kafka-acls).
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return absl::PermissionDeniedError(absl::StrCat(msg, " (", rd_kafka_err2name(err), ")"));
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
      return absl::UnauthenticatedError(absl::StrCat(msg, " (", rd_kafka_err2name(err), ")"));
    default:
      return absl::UnavailableError(msg);
  }
}

// Builds a conf from defaults, overridden by the connection's properties, overridden by
// extra. Settings this librdkafka does not know are an error when asked for explicitly, and
// dropped when they are only our defaults.
absl::StatusOr<rd_kafka_conf_t*> MakeConf(const Config& defaults, const Connection& connection,
                                          const Config& extra) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Config all = defaults;
  for (const auto& [k, v] : connection.properties) all[k] = v;
  all["bootstrap.servers"] = connection.brokers;
  for (const auto& [k, v] : extra) all[k] = v;
  for (const auto& [k, v] : all) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      if (extra.count(k) == 0 && connection.properties.count(k) == 0 && k != "bootstrap.servers") {
        spdlog::debug("kafka: default setting {}={} not supported by this librdkafka: {}", k, v,
                      err);
        continue;
      }
      rd_kafka_conf_destroy(conf);
      // The value is left out: it may be a secret (sasl.password); librdkafka's reason
      // names what is wrong with it.
      return absl::InvalidArgumentError(absl::StrCat("kafka setting ", k, ": ", err));
    }
  }
  rd_kafka_conf_set_error_cb(conf, [](rd_kafka_t*, int code, const char* reason, void*) {
    spdlog::warn("kafka: {} ({})", reason,
                 rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code)));
  });
  return conf;
}

absl::StatusOr<RdKafka> NewHandle(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("creating kafka client: ", err));
  }
  return RdKafka(rk);
}

// The partition count of `topic` from the metadata `rk` gets now.
absl::StatusOr<int> TopicPartitionCount(rd_kafka_t* rk, const std::string& topic,
                                        std::chrono::milliseconds timeout) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, static_cast<int>(timeout.count()));
  absl::StatusOr<int> result = absl::UnavailableError("no metadata");
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    result = FromErr(e, absl::StrCat("reading metadata of topic ", topic));
  } else if (md->topic_cnt != 1) {
    result = absl::NotFoundError(absl::StrCat("topic ", topic, " does not exist"));
  } else if (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
    result = absl::NotFoundError(absl::StrCat("topic ", topic, " does not exist"));
  } else if (md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    result = FromErr(md->topics[0].err, absl::StrCat("reading metadata of topic ", topic));
  } else {
    result = md->topics[0].partition_cnt;
  }
  if (md != nullptr) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  return result;
}

// One admin request on `rk`, bounded by `timeout`: `send` issues it with the options and
// reply queue given; `results` reads its per-topic results from the reply. A topic error
// other than `tolerated` fails it; `what` names the request in errors.
absl::Status AdminRequest(
    rd_kafka_t* rk, rd_kafka_admin_op_t op, std::chrono::milliseconds timeout,
    const Connection& connection, const std::string& what, rd_kafka_resp_err_t tolerated,
    const std::function<void(rd_kafka_AdminOptions_t*, rd_kafka_queue_t*)>& send,
    const std::function<const rd_kafka_topic_result_t**(rd_kafka_event_t*, size_t*)>& results) {
  char err[512];
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, op);
  rd_kafka_AdminOptions_set_request_timeout(opts, static_cast<int>(timeout.count()), err,
                                            sizeof err);
  rd_kafka_AdminOptions_set_operation_timeout(opts, static_cast<int>(timeout.count()), err,
                                              sizeof err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  send(opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, static_cast<int>(timeout.count()) + 1000);
  absl::Status status;
  if (ev == nullptr) {
    status =
        absl::UnavailableError(absl::StrCat(what, ": no broker answered at ", connection.brokers));
  } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = FromErr(rd_kafka_event_error(ev), what);
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** topics = results(ev, &n);
    for (size_t i = 0; i < n; ++i) {
      auto e = rd_kafka_topic_result_error(topics[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != tolerated) {
        status = FromErr(
            e, absl::StrCat(what, " (", rd_kafka_topic_result_error_string(topics[i]), ")"));
      }
    }
  }
  if (ev != nullptr) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_AdminOptions_destroy(opts);
  return status;
}

// An idempotent producer that hits a fatal error (librdkafka's ERR__FATAL: a fenced or
// out-of-sequence producer id) refuses every later record. RdProducer then replaces its
// handle with a new one made from the same configuration, so the daemon goes on producing
// rather than freeze: the records the failed handle still held get their on_delivery with
// an error (UNAVAILABLE or CANCELLED), as the contract says a failed record does, and the
// callers send them again. A record may so reach the topic twice; consumers of Senren's
// topics compare versions and keys, so a duplicate is harmless.
class RdProducer final : public Producer {
 public:
  // `conf` (owned) makes every handle after the first.
  RdProducer(rd_kafka_conf_t* conf, RdKafka rk)
      : conf_(conf), rk_(Share(std::move(rk))), poller_([this] { PollLoop(); }) {}

  ~RdProducer() override {
    std::shared_ptr<rd_kafka_t> rk = Current();
    rd_kafka_flush(rk.get(), 5000);
    stop_ = true;
    poller_.join();
    // Remaining callbacks (undelivered records) are released by rd_kafka_destroy's
    // purge below, through DeliveryReport.
    rd_kafka_purge(rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk.get(), 0);
    rd_kafka_conf_destroy(conf_);
  }

  static void DeliveryReport(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
    auto* cb = static_cast<OnDelivery*>(m->_private);
    if (cb == nullptr) return;
    Delivery d;
    d.status = FromErr(m->err, absl::StrCat("delivering to ", rd_kafka_topic_name(m->rkt)));
    d.partition = m->partition;
    d.offset = m->offset;
    (*cb)(d);
    delete cb;
  }

  absl::Status Produce(const Record& record, OnDelivery on_delivery) override {
    std::vector<rd_kafka_vu_t> vus;
    vus.reserve(6 + record.headers.size());
    auto add = [&vus](rd_kafka_vtype_t t) -> rd_kafka_vu_t& {
      vus.emplace_back();
      vus.back().vtype = t;
      return vus.back();
    };
    add(RD_KAFKA_VTYPE_TOPIC).u.cstr = record.topic.c_str();
    add(RD_KAFKA_VTYPE_KEY).u.mem = {const_cast<char*>(record.key.data()), record.key.size()};
    if (record.partition >= 0) add(RD_KAFKA_VTYPE_PARTITION).u.i32 = record.partition;
    if (record.value) {
      add(RD_KAFKA_VTYPE_VALUE).u.mem = {const_cast<char*>(record.value->data()),
                                         record.value->size()};
    } else {
      add(RD_KAFKA_VTYPE_VALUE).u.mem = {nullptr, 0};
    }
    for (const auto& h : record.headers) {
      add(RD_KAFKA_VTYPE_HEADER).u.header = {h.name.c_str(), h.value.data(),
                                             static_cast<ssize_t>(h.value.size())};
    }
    add(RD_KAFKA_VTYPE_MSGFLAGS).u.i = RD_KAFKA_MSG_F_COPY;
    auto* cb = new OnDelivery(std::move(on_delivery));
    add(RD_KAFKA_VTYPE_OPAQUE).u.ptr = cb;
    std::shared_ptr<rd_kafka_t> rk = Current();
    rd_kafka_error_t* error = rd_kafka_produceva(rk.get(), vus.data(), vus.size());
    if (error != nullptr) {
      rd_kafka_resp_err_t code = rd_kafka_error_code(error);
      std::string what = absl::StrCat("producing to ", record.topic, " key ", record.key, ": ",
                                      rd_kafka_error_string(error));
      rd_kafka_error_destroy(error);
      delete cb;
      // ERR__FATAL: the poll thread replaces the handle within a poll (it runs the failed
      // handle's delivery reports, which must stay on that thread).
      return FromErr(code, what);
    }
    return absl::OkStatus();
  }

  absl::Status Flush(std::chrono::milliseconds timeout) override {
    return FromErr(rd_kafka_flush(Current().get(), static_cast<int>(timeout.count())),
                   "flushing producer");
  }

  void PurgeQueued() override { rd_kafka_purge(Current().get(), RD_KAFKA_PURGE_F_QUEUE); }

  absl::Status TriggerFatalError(const std::string& reason) {
    return FromErr(
        rd_kafka_test_fatal_error(Current().get(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                  reason.c_str()),
        "triggering a fatal error");
  }

  int64_t recoveries() const { return recoveries_.load(); }

 private:
  static std::shared_ptr<rd_kafka_t> Share(RdKafka rk) {
    return std::shared_ptr<rd_kafka_t>(rk.release(), RdKafkaDeleter());
  }

  std::shared_ptr<rd_kafka_t> Current() const {
    absl::MutexLock lock(&mu_);
    return rk_;
  }

  void PollLoop() {
    while (!stop_) {
      std::shared_ptr<rd_kafka_t> rk = Current();
      rd_kafka_poll(rk.get(), 50);
      Recover(rk);
    }
  }

  // Replaces `rk` when it has hit a fatal error. Poll thread only.
  void Recover(const std::shared_ptr<rd_kafka_t>& rk) {
    char reason[512];
    const rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk.get(), reason, sizeof reason);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    rd_kafka_conf_t* conf = rd_kafka_conf_dup(conf_);
    char error[512];
    rd_kafka_t* fresh = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (fresh == nullptr) {
      rd_kafka_conf_destroy(conf);
      spdlog::error("kafka: producer fatal error ({}: {}); a new producer could not be made: {}",
                    rd_kafka_err2name(err), reason, error);
      return;  // the next poll tries again
    }
    {
      absl::MutexLock lock(&mu_);
      rk_ = Share(RdKafka(fresh));
    }
    ++recoveries_;
    spdlog::error("kafka: producer fatal error ({}: {}); a new producer takes over, and the "
                  "records the old one held fail so that they are sent again",
                  rd_kafka_err2name(err), reason);
    // Their delivery reports run here; the handle goes with the last reference to it.
    rd_kafka_purge(rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk.get(), 0);
  }

  rd_kafka_conf_t* const conf_;
  mutable absl::Mutex mu_;
  std::shared_ptr<rd_kafka_t> rk_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> recoveries_{0};
  std::atomic<bool> stop_{false};
  std::thread poller_;
};

class RdConsumer final : public Consumer {
 public:
  explicit RdConsumer(RdKafka rk) : rk_(std::move(rk)) { rd_kafka_poll_set_consumer(rk_.get()); }
  ~RdConsumer() override { rd_kafka_consumer_close(rk_.get()); }

  absl::Status Assign(const std::vector<PartitionOffset>& partitions) override {
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()));
    for (const auto& p : partitions) {
      rd_kafka_topic_partition_list_add(list, p.topic.c_str(), p.partition)->offset = p.offset;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(rk_.get(), list);
    rd_kafka_topic_partition_list_destroy(list);
    return FromErr(err, "assigning partitions");
  }

  absl::StatusOr<std::optional<Message>> Poll(std::chrono::milliseconds timeout) override {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), static_cast<int>(timeout.count()));
    if (m == nullptr) return std::optional<Message>();
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> guard(
        m, rd_kafka_message_destroy);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return std::optional<Message>();
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::string where = m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "consumer";
      // An ACL refusal is returned too: librdkafka would retry it forever, and only an
      // operator's grant ends it.
      if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
          m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || m->err == RD_KAFKA_RESP_ERR__FATAL ||
          m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
        return FromErr(m->err, absl::StrCat("consuming ", where));
      }
      spdlog::warn("kafka: consuming {}: {}", where, rd_kafka_message_errstr(m));
      return std::optional<Message>();
    }
    ++records_read_;
    bytes_read_ += static_cast<int64_t>(m->key_len + m->len);
    Message out;
    out.topic = rd_kafka_topic_name(m->rkt);
    out.partition = m->partition;
    out.offset = m->offset;
    if (m->key != nullptr) out.key.assign(static_cast<const char*>(m->key), m->key_len);
    if (m->payload != nullptr) out.value.emplace(static_cast<const char*>(m->payload), m->len);
    rd_kafka_timestamp_type_t tstype;
    out.timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t i = 0;
           rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        out.headers.push_back(
            {name, value == nullptr ? "" : std::string(static_cast<const char*>(value), size)});
      }
    }
    return std::optional<Message>(std::move(out));
  }

  absl::StatusOr<int> PartitionCount(const std::string& topic,
                                     std::chrono::milliseconds timeout) override {
    return TopicPartitionCount(rk_.get(), topic, timeout);
  }

  int64_t BytesRead() const override { return bytes_read_.load(); }
  int64_t RecordsRead() const override { return records_read_.load(); }

 private:
  RdKafka rk_;
  std::atomic<int64_t> bytes_read_{0};
  std::atomic<int64_t> records_read_{0};
};

const Config& ProducerDefaults() {
  static const Config kDefaults = {
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"compression.type", "zstd"},
      {"partitioner", "murmur2_random"},
      {"linger.ms", "0"},
      {"message.max.bytes", "104857600"},
      {"socket.nagle.disable", "true"},
      {"message.timeout.ms", "0"},  // idempotent: retry until delivered; never drop a record
  };
  return kDefaults;
}

const Config& ConsumerDefaults() {
  static const Config kDefaults = {
      {"enable.auto.commit", "false"},          {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "false"},        {"fetch.wait.max.ms", "10"},
      {"fetch.error.backoff.ms", "50"},         {"fetch.queue.backoff.ms", "0"},
      {"fetch.message.max.bytes", "104857600"}, {"receive.message.max.bytes", "209715200"},
      {"socket.nagle.disable", "true"},         {"auto.offset.reset", "earliest"},
  };
  return kDefaults;
}

}  // namespace

std::optional<std::string> Message::HeaderValue(const std::string& name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->name == name) return it->value;
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(const Connection& connection,
                                                           const Config& extra) {
  auto conf = MakeConf(ProducerDefaults(), connection, extra);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(*conf, &RdProducer::DeliveryReport);
  rd_kafka_conf_t* again = rd_kafka_conf_dup(*conf);  // for a handle after a fatal error
  auto rk = NewHandle(RD_KAFKA_PRODUCER, *conf);
  if (!rk.ok()) {
    rd_kafka_conf_destroy(again);
    return rk.status();
  }
  return std::unique_ptr<Producer>(new RdProducer(again, std::move(*rk)));
}

absl::Status TriggerFatalErrorForTest(Producer* producer, const std::string& reason) {
  auto* rd = dynamic_cast<RdProducer*>(producer);
  if (rd == nullptr) return absl::InvalidArgumentError("not a librdkafka producer");
  return rd->TriggerFatalError(reason);
}

int64_t ProducerRecoveries(const Producer* producer) {
  const auto* rd = dynamic_cast<const RdProducer*>(producer);
  return rd == nullptr ? 0 : rd->recoveries();
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(const Connection& connection,
                                                           const Config& extra) {
  Config defaults = ConsumerDefaults();
  // Partitions are assigned explicitly and offsets kept by Senren; the group id only
  // satisfies librdkafka and is never committed to.
  defaults["group.id"] = "senren-unused";
  auto conf = MakeConf(defaults, connection, extra);
  if (!conf.ok()) return conf.status();
  auto rk = NewHandle(RD_KAFKA_CONSUMER, *conf);
  if (!rk.ok()) return rk.status();
  return std::unique_ptr<Consumer>(new RdConsumer(std::move(*rk)));
}

absl::Status EnsureTopic(const Connection& connection, const TopicSpec& spec,
                         std::chrono::milliseconds timeout) {
  // An existing topic needs nothing, and asking the broker to create it would need the
  // Create ACL, which a principal that only reads or writes the topic does not hold.
  absl::StatusOr<int> existing = PartitionCount(connection, spec.name, timeout);
  if (existing.ok()) return absl::OkStatus();
  switch (existing.status().code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:  // the broker says whether Create is allowed
      break;
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnavailable:
      return absl::UnavailableError(absl::StrCat("creating topic ", spec.name,
                                                 ": no broker answered at ", connection.brokers,
                                                 " (", existing.status().message(), ")"));
    default:
      return existing.status();
  }
  auto conf = MakeConf({}, connection, {});
  if (!conf.ok()) return conf.status();
  auto rk = NewHandle(RD_KAFKA_PRODUCER, *conf);
  if (!rk.ok()) return rk.status();
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                                  spec.replication_factor, err, sizeof err);
  if (nt == nullptr)
    return absl::InvalidArgumentError(absl::StrCat("topic ", spec.name, ": ", err));
  std::unique_ptr<rd_kafka_NewTopic_t, void (*)(rd_kafka_NewTopic_t*)> nt_guard(
      nt, rd_kafka_NewTopic_destroy);
  for (const auto& [k, v] : spec.config) {
    if (auto e = rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
        e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return FromErr(e, absl::StrCat("topic ", spec.name, " config ", k));
    }
  }
  absl::Status status = AdminRequest(
      rk->get(), RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout, connection,
      absl::StrCat("creating topic ", spec.name), RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS,
      [&](rd_kafka_AdminOptions_t* opts, rd_kafka_queue_t* q) {
        rd_kafka_CreateTopics(rk->get(), &nt, 1, opts, q);
      },
      [](rd_kafka_event_t* ev, size_t* n) {
        return rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), n);
      });
  if (!status.ok()) return status;
  // The controller has created it; the broker answering metadata learns of it a moment
  // later. Callers use the topic at once (produce, read its partition count), so return
  // once metadata shows it.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    absl::StatusOr<int> seen = PartitionCount(connection, spec.name, timeout);
    if (seen.ok()) return absl::OkStatus();
    if (seen.status().code() != absl::StatusCode::kNotFound ||
        std::chrono::steady_clock::now() >= deadline) {
      return absl::UnavailableError(
          absl::StrCat("topic ", spec.name,
                       " was created but metadata does not show it: ", seen.status().message()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

absl::StatusOr<int> PartitionCount(const Connection& connection, const std::string& topic,
                                   std::chrono::milliseconds timeout) {
  auto conf = MakeConf({{"allow.auto.create.topics", "false"}}, connection, {});
  if (!conf.ok()) return conf.status();
  auto rk = NewHandle(RD_KAFKA_PRODUCER, *conf);
  if (!rk.ok()) return rk.status();
  return TopicPartitionCount(rk->get(), topic, timeout);
}

absl::StatusOr<int> GrowPartitions(const Connection& connection, const std::string& topic,
                                   int count, std::chrono::milliseconds timeout) {
  absl::StatusOr<int> now = PartitionCount(connection, topic, timeout);
  if (!now.ok()) return now.status();
  if (*now >= count) return *now;
  auto conf = MakeConf({}, connection, {});
  if (!conf.ok()) return conf.status();
  auto rk = NewHandle(RD_KAFKA_PRODUCER, *conf);
  if (!rk.ok()) return rk.status();
  char err[512];
  rd_kafka_NewPartitions_t* np =
      rd_kafka_NewPartitions_new(topic.c_str(), static_cast<size_t>(count), err, sizeof err);
  if (np == nullptr) return absl::InvalidArgumentError(absl::StrCat("topic ", topic, ": ", err));
  std::unique_ptr<rd_kafka_NewPartitions_t, void (*)(rd_kafka_NewPartitions_t*)> np_guard(
      np, rd_kafka_NewPartitions_destroy);
  const std::string what =
      absl::StrCat("growing topic ", topic, " from ", *now, " to ", count, " partitions");
  // INVALID_PARTITIONS: another client grew it first (to `count` or more); the metadata
  // below says what it has.
  absl::Status status = AdminRequest(
      rk->get(), RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, timeout, connection, what,
      RD_KAFKA_RESP_ERR_INVALID_PARTITIONS,
      [&](rd_kafka_AdminOptions_t* opts, rd_kafka_queue_t* q) {
        rd_kafka_CreatePartitions(rk->get(), &np, 1, opts, q);
      },
      [](rd_kafka_event_t* ev, size_t* n) {
        return rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev),
                                                       n);
      });
  if (!status.ok()) return status;
  // Callers compute partitions from the new count at once: return once metadata shows it.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    absl::StatusOr<int> seen = PartitionCount(connection, topic, timeout);
    if (seen.ok() && *seen >= count) return *seen;
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::UnavailableError(absl::StrCat(
          what, ": metadata does not show the new partitions yet (",
          seen.ok() ? absl::StrCat(*seen, " partitions") : std::string(seen.status().message()),
          ")"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

absl::Status DeleteTopic(const Connection& connection, const std::string& topic,
                         std::chrono::milliseconds timeout) {
  auto conf = MakeConf({}, connection, {});
  if (!conf.ok()) return conf.status();
  auto rk = NewHandle(RD_KAFKA_PRODUCER, *conf);
  if (!rk.ok()) return rk.status();
  rd_kafka_DeleteTopic_t* del = rd_kafka_DeleteTopic_new(topic.c_str());
  absl::Status status = AdminRequest(
      rk->get(), RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout, connection,
      absl::StrCat("deleting topic ", topic), RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
      [&](rd_kafka_AdminOptions_t* opts, rd_kafka_queue_t* q) {
        rd_kafka_DeleteTopics(rk->get(), &del, 1, opts, q);
      },
      [](rd_kafka_event_t* ev, size_t* n) {
        return rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), n);
      });
  rd_kafka_DeleteTopic_destroy(del);
  return status;
}

absl::StatusOr<std::pair<int64_t, int64_t>> Watermarks(const Connection& connection,
                                                       const std::string& topic, int32_t partition,
                                                       std::chrono::milliseconds timeout) {
  auto conf = MakeConf({{"allow.auto.create.topics", "false"}}, connection, {});
  if (!conf.ok()) return conf.status();
  auto rk = NewHandle(RD_KAFKA_PRODUCER, *conf);
  if (!rk.ok()) return rk.status();
  int64_t low = -1, high = -1;
  const rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
      rk->get(), topic.c_str(), partition, &low, &high, static_cast<int>(timeout.count()));
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    absl::Status s =
        FromErr(e, absl::StrCat("reading the watermarks of ", topic, " partition ", partition));
    // A timeout here is a broker that does not answer, like every other admin call.
    return s.code() == absl::StatusCode::kDeadlineExceeded ? absl::UnavailableError(s.message())
                                                           : s;
  }
  return std::make_pair(low, high);
}

int32_t Murmur2(const std::string& key) {
  const auto* data = reinterpret_cast<const uint8_t*>(key.data());
  const uint32_t length = static_cast<uint32_t>(key.size());
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  uint32_t h = 0x9747b28c ^ length;
  const uint32_t length4 = length / 4;
  for (uint32_t i = 0; i < length4; ++i) {
    const uint32_t i4 = i * 4;
    uint32_t k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) |
                 (static_cast<uint32_t>(data[i4 + 3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const uint32_t tail = length & ~3u;
  switch (length % 4) {
    case 3:
      h ^= static_cast<uint32_t>(data[tail + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(data[tail + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= data[tail];
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t PartitionForKey(const std::string& key, int partition_count) {
  // toPositive(murmur2) modulo the count: the Java client's default partitioner and
  // librdkafka's murmur2_random.
  const uint32_t h = static_cast<uint32_t>(Murmur2(key)) & 0x7fffffff;
  return static_cast<int32_t>(h % static_cast<uint32_t>(partition_count));
}

}  // namespace senren::kafka
