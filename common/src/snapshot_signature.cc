#include "common/snapshot_signature.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace senren::common {
namespace {

constexpr size_t kEd25519PublicKeyBytes = 32;
constexpr size_t kEd25519SignatureBytes = 64;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// The oldest error of this thread's OpenSSL queue, in words, and the queue emptied: the
// queue is per thread and shared with every other OpenSSL user of the process (libcurl,
// gRPC), which must not find our errors in it.
std::string TakeOpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

BioPtr MemBio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

absl::StatusOr<std::string> RawPublicKey(EVP_PKEY* key) {
  unsigned char raw[kEd25519PublicKeyBytes];
  size_t len = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != sizeof raw) {
    return absl::InternalError(absl::StrCat("reading the raw public key: ", TakeOpenSslError()));
  }
  return std::string(reinterpret_cast<const char*>(raw), len);
}

absl::Status RequireEd25519(EVP_PKEY* key, const std::string& what) {
  if (EVP_PKEY_is_a(key, "ED25519") == 1) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, " is a ", EVP_PKEY_get0_type_name(key),
                                                 " key, not Ed25519 (make one with `openssl "
                                                 "genpkey -algorithm ed25519`)"));
}

absl::StatusOr<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read the key file ", path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string WithFile(const std::string& path, const absl::Status& s) {
  return absl::StrCat(path, ": ", s.message());
}

}  // namespace

std::string SnapshotKeyId(std::string_view raw_public_key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(raw_public_key.data(), raw_public_key.size(), digest, &len, EVP_sha256(),
                 nullptr) != 1) {
    ERR_clear_error();
    return "";
  }
  // 8 bytes: 16 hex digits.
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), std::min(len, 8u)));
}

// ---------------------------------------------------------------- signer

struct SnapshotSigner::Key {
  PkeyPtr pkey;
};

SnapshotSigner::SnapshotSigner(std::unique_ptr<Key> key) : key_(std::move(key)) {}
SnapshotSigner::~SnapshotSigner() = default;

absl::StatusOr<std::unique_ptr<SnapshotSigner>> SnapshotSigner::Wrap(std::unique_ptr<Key> key) {
  auto raw = RawPublicKey(key->pkey.get());
  if (!raw.ok()) return raw.status();
  std::unique_ptr<SnapshotSigner> signer(new SnapshotSigner(std::move(key)));
  signer->key_id_ = SnapshotKeyId(*raw);
  return signer;
}

absl::StatusOr<std::unique_ptr<SnapshotSigner>> SnapshotSigner::FromPem(std::string_view pem) {
  BioPtr bio = MemBio(pem);
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no PEM private key (PKCS#8, \"-----BEGIN PRIVATE KEY-----\"): ", TakeOpenSslError()));
  }
  if (absl::Status s = RequireEd25519(pkey.get(), "the private key"); !s.ok()) return s;
  auto key = std::make_unique<Key>();
  key->pkey = std::move(pkey);
  return Wrap(std::move(key));
}

absl::StatusOr<std::unique_ptr<SnapshotSigner>> SnapshotSigner::FromPemFile(
    const std::string& path) {
  auto text = ReadKeyFile(path);
  if (!text.ok()) return text.status();
  auto signer = FromPem(*text);
  if (!signer.ok()) return absl::InvalidArgumentError(WithFile(path, signer.status()));
  return signer;
}

absl::StatusOr<std::unique_ptr<SnapshotSigner>> SnapshotSigner::Generate() {
  PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (pkey == nullptr) {
    return absl::InternalError(absl::StrCat("generating an Ed25519 key: ", TakeOpenSslError()));
  }
  auto key = std::make_unique<Key>();
  key->pkey = std::move(pkey);
  return Wrap(std::move(key));
}

namespace {
template <typename Write>
std::string ToPem(Write write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || write(bio.get()) != 1) {
    ERR_clear_error();
    return "";
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}
}  // namespace

std::string SnapshotSigner::PublicKeyPem() const {
  return ToPem([&](BIO* b) { return PEM_write_bio_PUBKEY(b, key_->pkey.get()); });
}

std::string SnapshotSigner::PrivateKeyPem() const {
  return ToPem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key_->pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
}

absl::StatusOr<SnapshotSignature> SnapshotSigner::Sign(std::string_view bytes) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  unsigned char sig[kEd25519SignatureBytes];
  size_t len = sizeof sig;
  // Ed25519 is "pure": no digest is named, the whole message goes to one call.
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(bytes.data()),
                     bytes.size()) != 1) {
    return absl::InternalError(absl::StrCat("signing a snapshot: ", TakeOpenSslError()));
  }
  return SnapshotSignature{
      key_id_, absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(sig), len))};
}

// ---------------------------------------------------------------- verifier

struct SnapshotVerifier::Keys {
  std::map<std::string, PkeyPtr> by_id;
};

SnapshotVerifier::SnapshotVerifier(std::unique_ptr<Keys> keys) : keys_(std::move(keys)) {}
SnapshotVerifier::~SnapshotVerifier() = default;

absl::StatusOr<std::unique_ptr<SnapshotVerifier>> SnapshotVerifier::FromPems(
    const std::vector<std::string>& pems) {
  const std::string kBegin = "-----BEGIN PUBLIC KEY-----";
  const std::string kEnd = "-----END PUBLIC KEY-----";
  auto keys = std::make_unique<Keys>();
  for (const std::string& pem : pems) {
    if (absl::StrContains(pem, "PRIVATE KEY-----")) {
      return absl::InvalidArgumentError(
          "holds a private key: give the plane only the public key (`openssl pkey -in KEY "
          "-pubout`)");
    }
    size_t found = 0;
    for (size_t at = pem.find(kBegin); at != std::string::npos; at = pem.find(kBegin, at)) {
      const size_t end = pem.find(kEnd, at);
      if (end == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("public key ", found + 1, " has no ", kEnd));
      }
      const std::string_view block(pem.data() + at, end + kEnd.size() - at);
      at = end + kEnd.size();
      BioPtr bio = MemBio(block);
      PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
      ++found;
      if (pkey == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("public key ", found, " does not parse: ", TakeOpenSslError()));
      }
      if (absl::Status s = RequireEd25519(pkey.get(), absl::StrCat("public key ", found));
          !s.ok()) {
        return s;
      }
      auto raw = RawPublicKey(pkey.get());
      if (!raw.ok()) return raw.status();
      keys->by_id.emplace(SnapshotKeyId(*raw), std::move(pkey));  // the same key twice: one
    }
    if (found == 0) {
      return absl::InvalidArgumentError(absl::StrCat("no PEM public key (\"", kBegin, "\") in it"));
    }
  }
  if (keys->by_id.empty()) return absl::InvalidArgumentError("no public key given");
  return std::unique_ptr<SnapshotVerifier>(new SnapshotVerifier(std::move(keys)));
}

absl::StatusOr<std::unique_ptr<SnapshotVerifier>> SnapshotVerifier::FromPemFiles(
    const std::vector<std::string>& paths) {
  if (paths.empty()) return absl::InvalidArgumentError("no public key file given");
  std::vector<std::string> pems;
  for (const std::string& path : paths) {
    auto text = ReadKeyFile(path);
    if (!text.ok()) return text.status();
    // Parsed one at a time, so an error names its file.
    if (auto one = FromPems({*text}); !one.ok()) {
      return absl::InvalidArgumentError(WithFile(path, one.status()));
    }
    pems.push_back(*std::move(text));
  }
  return FromPems(pems);
}

std::vector<std::string> SnapshotVerifier::key_ids() const {
  std::vector<std::string> ids;
  for (const auto& [id, key] : keys_->by_id) ids.push_back(id);
  return ids;
}

SignatureCheck SnapshotVerifier::Verify(std::string_view bytes,
                                        const std::optional<std::string>& key_id,
                                        const std::optional<std::string>& signature) const {
  if (!signature.has_value() || !key_id.has_value()) {
    return {SignatureVerdict::kUnsigned,
            absl::StrCat("unsigned: no ",
                         !signature.has_value() ? kSnapshotSignatureHeader : kSnapshotKeyIdHeader,
                         " header")};
  }
  auto key = keys_->by_id.find(*key_id);
  if (key == keys_->by_id.end()) {
    // The id is shown escaped: it comes from whoever wrote to the topic.
    return {SignatureVerdict::kUnknownKey,
            absl::StrCat("signed with key id \"", absl::CHexEscape(key_id->substr(0, 64)),
                         "\", not a trusted one (", absl::StrJoin(key_ids(), ", "), ")")};
  }
  std::string sig;
  if (!absl::Base64Unescape(*signature, &sig) || sig.size() != kEd25519SignatureBytes) {
    return {SignatureVerdict::kBadSignature,
            absl::StrCat("the ", kSnapshotSignatureHeader, " header of key ", *key_id,
                         " is not a base64 Ed25519 signature")};
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const bool valid =
      ctx != nullptr &&
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key->second.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()) == 1;
  ERR_clear_error();
  if (!valid) {
    return {SignatureVerdict::kBadSignature,
            absl::StrCat("the signature of key ", *key_id, " does not verify over the ",
                         bytes.size(), " bytes of the value")};
  }
  return {SignatureVerdict::kValid, ""};
}

std::string_view SignatureVerdictName(SignatureVerdict verdict) {
  switch (verdict) {
    case SignatureVerdict::kValid:
      return "valid";
    case SignatureVerdict::kUnsigned:
      return "unsigned";
    case SignatureVerdict::kUnknownKey:
      return "unknown_key";
    case SignatureVerdict::kBadSignature:
      return "bad_signature";
  }
  return "unknown";
}

}  // namespace senren::common
