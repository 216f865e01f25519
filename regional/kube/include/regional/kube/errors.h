#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace senren::regional::kube {

// Turns an HTTP answer of the kube-apiserver into an absl::Status that names the operation
// and the object, carries the HTTP status and the API's Status reason and message:
//
//   "create senren/redisdatabases/cache: HTTP 422 Invalid: RedisDatabase.senren.io \"cache\"
//    is invalid: spec.memoryMb: Invalid value: 1: spec.memoryMb in body should be greater
//    than or equal to 16"
//
// Codes: 400/422 InvalidArgument, 401 Unauthenticated, 403 PermissionDenied, 404 NotFound,
// 409 AlreadyExists (reason AlreadyExists) or Aborted (Conflict), 410 OutOfRange (Gone:
// resource version too old), 429 ResourceExhausted, 504 DeadlineExceeded, other 5xx
// Unavailable. `body` is the response body (a metav1.Status JSON, or anything).
absl::Status ApiError(absl::string_view operation, absl::string_view object, long http_status,
                      absl::string_view body);

// A transport failure (connection refused or reset, TLS, timeout): Unavailable (or
// DeadlineExceeded for a timeout), naming the operation and object.
absl::Status TransportError(absl::string_view operation, absl::string_view object,
                            absl::string_view detail, bool timeout);

// The HTTP status carried by a Status made by ApiError, if any.
std::optional<int> HttpStatusOf(const absl::Status& status);
// The API's Status.reason ("NotFound", "AlreadyExists", "Conflict", "Expired", "Gone",
// "Invalid", ...) carried by a Status made by ApiError; empty if none.
std::string ApiReasonOf(const absl::Status& status);

// NotFound and AlreadyExists are absl::IsNotFound / absl::IsAlreadyExists.
// 409 Conflict: a stale resourceVersion, a failed precondition or an apply conflict.
inline bool IsConflict(const absl::Status& s) { return absl::IsAborted(s); }
// 410 Gone / Expired: a watch or a continue token from a version the server no longer
// keeps; the caller relists.
inline bool IsGone(const absl::Status& s) { return absl::IsOutOfRange(s); }
// Worth retrying the same request later: Unavailable, ResourceExhausted (429),
// DeadlineExceeded, Aborted is not (the caller must re-read first).
bool IsRetryable(const absl::Status& s);

}  // namespace senren::regional::kube
