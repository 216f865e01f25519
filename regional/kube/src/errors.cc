#include "regional/kube/errors.h"

#include <nlohmann/json.hpp>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace senren::regional::kube {
namespace {

constexpr char kHttpStatusUrl[] = "senren.io/kube/http-status";
constexpr char kReasonUrl[] = "senren.io/kube/reason";

absl::StatusCode CodeFor(long http_status, const std::string& reason) {
  switch (http_status) {
    case 400:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists
                                       : absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kOutOfRange;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      break;
  }
  if (http_status >= 500) return absl::StatusCode::kUnavailable;
  if (http_status >= 400) return absl::StatusCode::kFailedPrecondition;
  return absl::StatusCode::kUnknown;
}

}  // namespace

absl::Status ApiError(absl::string_view operation, absl::string_view object, long http_status,
                      absl::string_view body) {
  std::string reason;
  std::string message;
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && parsed.value("kind", "") == "Status") {
    reason = parsed.value("reason", "");
    message = parsed.value("message", "");
  } else if (!body.empty()) {
    message = std::string(body.substr(0, 512));
  }
  // A watch's in-stream ERROR event carries 410 as the Status code with reason Expired
  // or Gone; both mean the same to a caller.
  std::string text = absl::StrCat(operation, " ", object, ": HTTP ", http_status);
  if (!reason.empty()) absl::StrAppend(&text, " ", reason);
  if (!message.empty()) absl::StrAppend(&text, ": ", message);
  absl::Status status(CodeFor(http_status, reason), text);
  status.SetPayload(kHttpStatusUrl, absl::Cord(std::to_string(http_status)));
  if (!reason.empty()) status.SetPayload(kReasonUrl, absl::Cord(reason));
  return status;
}

absl::Status TransportError(absl::string_view operation, absl::string_view object,
                            absl::string_view detail, bool timeout) {
  std::string text = absl::StrCat(operation, " ", object, ": ", detail);
  return timeout ? absl::DeadlineExceededError(text) : absl::UnavailableError(text);
}

std::optional<int> HttpStatusOf(const absl::Status& status) {
  auto payload = status.GetPayload(kHttpStatusUrl);
  if (!payload.has_value()) return std::nullopt;
  return std::stoi(std::string(*payload));
}

std::string ApiReasonOf(const absl::Status& status) {
  auto payload = status.GetPayload(kReasonUrl);
  return payload.has_value() ? std::string(*payload) : std::string();
}

bool IsRetryable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsResourceExhausted(s) || absl::IsDeadlineExceeded(s);
}

}  // namespace senren::regional::kube
