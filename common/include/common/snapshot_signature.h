#pragma once

// Signed snapshots (docs/design.md §4): the snapshot projector signs the exact bytes of each
// RegionalState it publishes with an Ed25519 key, and every regional plane verifies them
// against the public keys it trusts before it reads anything of the state. The key id and
// the signature travel in two Kafka headers beside the value; the value itself is
// unchanged, so a reader that does not verify still parses it.
//
// The key id is the first 16 hex digits of SHA-256 over the raw 32-byte public key: it
// names a key pair without revealing anything and is what `openssl pkey -pubin
// -outform DER | tail -c 32 | sha256sum | cut -c1-16` prints for a PEM public key.
//
// OpenSSL (libcrypto, EVP API) is used only here. Both classes are immutable after
// creation and thread-safe: each call uses a context of its own.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace senren::common {

// Kafka header of the signing key's id (16 lower-case hex digits).
inline constexpr char kSnapshotKeyIdHeader[] = "senren-key-id";
// Kafka header of the Ed25519 signature over the value's bytes (64 bytes, standard base64).
inline constexpr char kSnapshotSignatureHeader[] = "senren-signature";

// The key id of a raw 32-byte Ed25519 public key.
std::string SnapshotKeyId(std::string_view raw_public_key);

// The two header values of one signed value.
struct SnapshotSignature {
  std::string key_id;
  std::string signature;  // base64
};

// Signs with one Ed25519 private key (PKCS#8 PEM, as `openssl genpkey -algorithm ed25519`
// writes it).
class SnapshotSigner {
 public:
  // INVALID_ARGUMENT when `pem` holds no private key or one of another algorithm.
  static absl::StatusOr<std::unique_ptr<SnapshotSigner>> FromPem(std::string_view pem);
  // As FromPem, from a file; NOT_FOUND / PERMISSION_DENIED when it cannot be read. The
  // error names the file.
  static absl::StatusOr<std::unique_ptr<SnapshotSigner>> FromPemFile(const std::string& path);
  // A new random key pair (tests and tools).
  static absl::StatusOr<std::unique_ptr<SnapshotSigner>> Generate();
  ~SnapshotSigner();
  SnapshotSigner(const SnapshotSigner&) = delete;
  SnapshotSigner& operator=(const SnapshotSigner&) = delete;

  const std::string& key_id() const { return key_id_; }
  // The public key (SubjectPublicKeyInfo PEM), what a plane's --snapshot-verify-key reads.
  std::string PublicKeyPem() const;
  // The private key (PKCS#8 PEM), what --snapshot-signing-key reads.
  std::string PrivateKeyPem() const;

  // The signature of `bytes`. INTERNAL only if libcrypto fails (out of memory).
  absl::StatusOr<SnapshotSignature> Sign(std::string_view bytes) const;

 private:
  struct Key;
  explicit SnapshotSigner(std::unique_ptr<Key> key);
  // A signer of an Ed25519 key already checked, with its key id.
  static absl::StatusOr<std::unique_ptr<SnapshotSigner>> Wrap(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
  std::string key_id_;
};

enum class SignatureVerdict {
  kValid,
  kUnsigned,      // a header is missing
  kUnknownKey,    // signed by a key the verifier does not trust
  kBadSignature,  // the signature does not verify (or is not 64 base64-encoded bytes)
};

// "valid", "unsigned", "unknown_key", "bad_signature": metric labels.
std::string_view SignatureVerdictName(SignatureVerdict verdict);

struct SignatureCheck {
  SignatureVerdict verdict = SignatureVerdict::kUnsigned;
  // Why it is not valid, in words for logs and the ClusterReport ("" when valid).
  std::string detail;
  bool ok() const { return verdict == SignatureVerdict::kValid; }
};

// Verifies with a set of trusted Ed25519 public keys: several during a rotation, each
// found by its key id.
class SnapshotVerifier {
 public:
  // Every PEM public key ("-----BEGIN PUBLIC KEY-----" blocks) in `pems`; a text may hold
  // several. INVALID_ARGUMENT when there is none, when a block does not parse or is not
  // Ed25519, or when a text holds a private key (the plane needs only the public one).
  static absl::StatusOr<std::unique_ptr<SnapshotVerifier>> FromPems(
      const std::vector<std::string>& pems);
  // As FromPems, one text per file; errors name the file.
  static absl::StatusOr<std::unique_ptr<SnapshotVerifier>> FromPemFiles(
      const std::vector<std::string>& paths);
  ~SnapshotVerifier();
  SnapshotVerifier(const SnapshotVerifier&) = delete;
  SnapshotVerifier& operator=(const SnapshotVerifier&) = delete;

  // The trusted keys' ids, sorted.
  std::vector<std::string> key_ids() const;

  // Checks `bytes` against the two header values (nullopt: the header is absent).
  SignatureCheck Verify(std::string_view bytes, const std::optional<std::string>& key_id,
                        const std::optional<std::string>& signature) const;

 private:
  struct Keys;
  explicit SnapshotVerifier(std::unique_ptr<Keys> keys);
  std::unique_ptr<Keys> keys_;
};

}  // namespace senren::common
