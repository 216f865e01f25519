#include "pg/session.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "internal.h"
#include "pg/sqlstate.h"

// Parameters go to libpq as text (libpqxx 6 takes a runtime-sized list only of one
// type); bytea goes in its hex text form, which PostgreSQL decodes to the same bytes.
namespace pqxx {
template <>
struct string_traits<senren::pg::Param> {
  static constexpr const char* name() noexcept { return "senren::pg::Param"; }
  static constexpr bool has_null() noexcept { return true; }
  static bool is_null(const senren::pg::Param& p) { return p.is_null(); }
  static senren::pg::Param null() { return senren::pg::Param(nullptr); }
  static void from_string(const char[], senren::pg::Param&) {
    throw std::logic_error("senren::pg::Param is only a statement parameter");
  }
  static std::string to_string(const senren::pg::Param& p) { return p.text(); }
};
}  // namespace pqxx

namespace senren::pg {

// ---- Param ----

Param::Param(std::nullptr_t) : null_(true) {}
Param::Param(const char* text) : text_(text) {}
Param::Param(const std::string& text) : text_(text) {}
Param::Param(std::string_view text) : text_(text) {}
Param::Param(bool v) : text_(pqxx::to_string(v)) {}
Param::Param(int v) : text_(pqxx::to_string(v)) {}
Param::Param(long v) : text_(pqxx::to_string(v)) {}
Param::Param(long long v) : text_(pqxx::to_string(v)) {}
Param::Param(unsigned v) : text_(pqxx::to_string(v)) {}
Param::Param(unsigned long v) : text_(pqxx::to_string(v)) {}
Param::Param(unsigned long long v) : text_(pqxx::to_string(v)) {}
Param::Param(double v) : text_(pqxx::to_string(v)) {}

Param Param::Bytes(std::string_view bytes) {
  Param p;
  p.text_ = absl::StrCat("\\x", absl::BytesToHexString(std::string(bytes)));
  return p;
}

// ---- Field, Result ----

Result WrapResult(std::shared_ptr<const ResultData> data) { return Result(std::move(data)); }

bool Field::is_null() const { return data_->rows[row_][column_].is_null(); }

template <typename T>
T Field::as() const {
  return data_->rows[row_][column_].as<T>();
}
template std::string Field::as<std::string>() const;
template bool Field::as<bool>() const;
template double Field::as<double>() const;
template int Field::as<int>() const;
template long Field::as<long>() const;
template long long Field::as<long long>() const;
template unsigned Field::as<unsigned>() const;
template unsigned long Field::as<unsigned long>() const;
template unsigned long long Field::as<unsigned long long>() const;

std::string Field::Bytes() const { return pqxx::binarystring(data_->rows[row_][column_]).str(); }

size_t Result::size() const { return data_->result.size(); }
uint64_t Result::affected_rows() const { return data_->result.affected_rows(); }

namespace {

Result Wrap(pqxx::result r) { return WrapResult(std::make_shared<const ResultData>(std::move(r))); }

}  // namespace

// ---- Transaction ----

Transaction::Transaction(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Transaction::Transaction(Transaction&&) noexcept = default;
Transaction::~Transaction() = default;

Result Transaction::Exec(std::string_view sql) { return Wrap(impl_->tx->exec(std::string(sql))); }

Result Transaction::ExecParams(std::string_view sql, const std::vector<Param>& params) {
  return Wrap(impl_->tx->exec_params(std::string(sql), pqxx::prepare::make_dynamic_params(params)));
}

Result Transaction::ExecPrepared(const std::string& name, const std::vector<Param>& params) {
  return Wrap(impl_->tx->exec_prepared(name, pqxx::prepare::make_dynamic_params(params)));
}

Row Transaction::One(Result result, std::string_view what) {
  if (result.size() != 1) {
    throw pqxx::unexpected_rows(
        absl::StrCat("expected 1 row from ", std::string(what), ", got ", result.size()));
  }
  const ResultData* data = result.data_.get();
  return Row(std::move(result.data_), data, 0);
}

std::string Transaction::Quote(std::string_view text) const {
  return impl_->tx->quote(std::string(text));
}

std::string Transaction::QuoteBytes(std::string_view bytes) const {
  return impl_->tx->quote_raw(std::string(bytes));
}

void Transaction::Commit() { impl_->tx->commit(); }

// ---- Session ----

Session::Session(std::unique_ptr<SessionImpl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

absl::StatusOr<std::unique_ptr<Session>> Session::Open(const ConnectionOptions& options) {
  try {
    auto impl = std::make_unique<SessionImpl>(ConnectionString(options));
    if (std::string setup = SessionSetup(options); !setup.empty()) {
      pqxx::nontransaction(impl->conn).exec(setup);
    }
    return std::unique_ptr<Session>(new Session(std::move(impl)));
  } catch (const pqxx::broken_connection& e) {
    return CannotConnect(options.uri, e.what());
  } catch (const pqxx::sql_error& e) {
    return SqlError("open a connection", "", e.sqlstate(), e.what());
  } catch (const std::exception& e) {
    return CannotConnect(options.uri, e.what());
  }
}

void Session::Prepare(const std::string& name, const std::string& sql) {
  impl_->conn.prepare(name, sql);
}

Transaction Session::Begin(TxKind kind) {
  auto impl = std::make_unique<Transaction::Impl>();
  switch (kind) {
    case TxKind::kReadWrite:
      impl->tx = std::make_unique<pqxx::work>(impl_->conn);
      break;
    case TxKind::kReadOnly:
      impl->tx = std::make_unique<pqxx::read_transaction>(impl_->conn);
      break;
    case TxKind::kNone:
      impl->tx = std::make_unique<pqxx::nontransaction>(impl_->conn);
      break;
  }
  return Transaction(std::move(impl));
}

absl::Status Session::Run(std::string_view op, std::string_view region, TxKind kind,
                          absl::FunctionRef<absl::Status(Transaction&)> fn) {
  absl::Status result;
  Outcome outcome = Guard(op, region, [&] {
    Transaction tx = Begin(kind);
    result = fn(tx);
    if (result.ok()) tx.Commit();
  });
  return outcome.status.ok() ? result : outcome.status;
}

namespace {

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, const std::string& channel,
           std::function<void(const std::string&)> on_notify)
      : pqxx::notification_receiver(conn, channel), on_notify_(std::move(on_notify)) {}
  void operator()(const std::string& payload, int) override { on_notify_(payload); }

 private:
  std::function<void(const std::string&)> on_notify_;
};

}  // namespace

void Session::Listen(const std::string& channel,
                     std::function<void(const std::string& payload)> on_notify) {
  impl_->receivers.push_back(
      std::make_unique<Receiver>(impl_->conn, channel, std::move(on_notify)));
  impl_->conn.get_notifs();  // sends the LISTEN now, not at the first wait
}

int Session::AwaitNotifications(std::chrono::microseconds timeout) {
  const auto us = timeout.count();
  return impl_->conn.await_notification(static_cast<long>(us / 1'000'000),
                                        static_cast<long>(us % 1'000'000));
}

bool Session::is_open() const { return impl_->conn.is_open(); }

// ---- shared with the pool and the loop ----

absl::Status CannotConnect(std::string_view uri, std::string_view why) {
  return absl::UnavailableError(
      absl::StrCat("cannot connect to PostgreSQL at ", RedactUri(uri), ": ", OneLine(why)));
}

Outcome Guard(std::string_view op, std::string_view region, absl::FunctionRef<void()> fn) {
  Outcome out;
  try {
    fn();
  } catch (const pqxx::in_doubt_error&) {
    out.broken = true;
    out.status = absl::UnavailableError(absl::StrCat(
        "the connection to PostgreSQL broke while committing (", std::string(op), " of region ",
        std::string(region), "); the outcome is unknown: retry with the same idempotency key"));
  } catch (const pqxx::broken_connection& e) {
    out.broken = true;
    out.retryable = true;
    out.status = absl::UnavailableError(absl::StrCat(
        "PostgreSQL is unreachable (", std::string(op), region.empty() ? "" : " of region ",
        std::string(region), "): ", OneLine(e.what())));
  } catch (const pqxx::sql_error& e) {
    out.status = SqlError(op, region, e.sqlstate(), e.what());
    out.broken = out.status.code() == absl::StatusCode::kUnavailable;
  } catch (const std::exception& e) {
    out.status = absl::InternalError(absl::StrCat("failed to ", std::string(op),
                                                  region.empty() ? "" : " of region ",
                                                  std::string(region), ": ", e.what()));
  }
  return out;
}

}  // namespace senren::pg
