#include "common/snapshot_signature.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"

namespace senren::common {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<SnapshotSigner> NewKey() {
  auto signer = SnapshotSigner::Generate();
  EXPECT_TRUE(signer.ok()) << signer.status();
  return *std::move(signer);
}

std::unique_ptr<SnapshotVerifier> Trusting(const std::vector<const SnapshotSigner*>& signers) {
  std::vector<std::string> pems;
  for (const SnapshotSigner* s : signers) pems.push_back(s->PublicKeyPem());
  auto verifier = SnapshotVerifier::FromPems(pems);
  EXPECT_TRUE(verifier.ok()) << verifier.status();
  return *std::move(verifier);
}

// A private key and its public key as `openssl genpkey -algorithm ed25519` and `openssl
// pkey -pubout` wrote them, and the key id `openssl pkey -pubin -outform DER | tail -c 32
// | sha256sum | cut -c1-16` printed for it.
constexpr char kOpensslPrivate[] = R"(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEILhnRW0hs/qb3q0/3vMk8D0B5dlAsS2wP8jiVLLXuDD4
-----END PRIVATE KEY-----
)";
constexpr char kOpensslPublic[] = R"(-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA40PagVbyj6MryEmIJcefpVnDILntbv9p8AAdPus6+n8=
-----END PUBLIC KEY-----
)";

TEST(SnapshotSignatureTest, AGoodSignatureVerifies) {
  auto key = NewKey();
  auto verifier = Trusting({key.get()});
  const std::string value = "a serialized RegionalState";
  auto sig = key->Sign(value);
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_EQ(sig->key_id, key->key_id());
  std::string raw;
  ASSERT_TRUE(absl::Base64Unescape(sig->signature, &raw));
  EXPECT_EQ(raw.size(), 64u);
  const SignatureCheck check = verifier->Verify(value, sig->key_id, sig->signature);
  EXPECT_TRUE(check.ok()) << check.detail;
  EXPECT_EQ(check.verdict, SignatureVerdict::kValid);
}

TEST(SnapshotSignatureTest, OneFlippedByteOfTheValueOrTheSignatureFails) {
  auto key = NewKey();
  auto verifier = Trusting({key.get()});
  const std::string value(4096, 'x');
  auto sig = key->Sign(value);
  ASSERT_TRUE(sig.ok());
  for (size_t at : {size_t{0}, size_t{2048}, value.size() - 1}) {
    std::string changed = value;
    changed[at] ^= 0x01;
    const SignatureCheck check = verifier->Verify(changed, sig->key_id, sig->signature);
    EXPECT_EQ(check.verdict, SignatureVerdict::kBadSignature) << at;
    EXPECT_THAT(check.detail, HasSubstr("does not verify"));
  }
  std::string raw;
  ASSERT_TRUE(absl::Base64Unescape(sig->signature, &raw));
  raw[10] ^= 0x80;
  EXPECT_EQ(verifier->Verify(value, sig->key_id, absl::Base64Escape(raw)).verdict,
            SignatureVerdict::kBadSignature);
  // Not a signature at all: truncated, not base64.
  EXPECT_EQ(verifier->Verify(value, sig->key_id, sig->signature.substr(0, 40)).verdict,
            SignatureVerdict::kBadSignature);
  EXPECT_EQ(verifier->Verify(value, sig->key_id, "%%%").verdict, SignatureVerdict::kBadSignature);
  EXPECT_EQ(verifier->Verify(value, sig->key_id, "").verdict, SignatureVerdict::kBadSignature);
}

TEST(SnapshotSignatureTest, AnotherKeyClaimingTheTrustedIdFails) {
  auto trusted = NewKey();
  auto forger = NewKey();
  auto verifier = Trusting({trusted.get()});
  const std::string value = "forged state";
  auto sig = forger->Sign(value);
  ASSERT_TRUE(sig.ok());
  // Signed with the forger's key but labelled with the trusted key's id.
  const SignatureCheck check = verifier->Verify(value, trusted->key_id(), sig->signature);
  EXPECT_EQ(check.verdict, SignatureVerdict::kBadSignature);
}

TEST(SnapshotSignatureTest, AnUnknownKeyIdIsRefusedAndNamed) {
  auto trusted = NewKey();
  auto other = NewKey();
  auto verifier = Trusting({trusted.get()});
  auto sig = other->Sign("value");
  ASSERT_TRUE(sig.ok());
  const SignatureCheck check = verifier->Verify("value", sig->key_id, sig->signature);
  EXPECT_EQ(check.verdict, SignatureVerdict::kUnknownKey);
  EXPECT_THAT(check.detail, HasSubstr(other->key_id()));
  EXPECT_THAT(check.detail, HasSubstr(trusted->key_id()));
  // Whatever bytes the header holds are shown escaped.
  EXPECT_THAT(verifier->Verify("value", std::string("\x01\n", 2), sig->signature).detail,
              HasSubstr("\\x01\\n"));
}

TEST(SnapshotSignatureTest, AMissingHeaderIsUnsigned) {
  auto key = NewKey();
  auto verifier = Trusting({key.get()});
  auto sig = key->Sign("value");
  ASSERT_TRUE(sig.ok());
  SignatureCheck check = verifier->Verify("value", std::nullopt, std::nullopt);
  EXPECT_EQ(check.verdict, SignatureVerdict::kUnsigned);
  EXPECT_THAT(check.detail, HasSubstr("senren-signature"));
  check = verifier->Verify("value", sig->key_id, std::nullopt);
  EXPECT_EQ(check.verdict, SignatureVerdict::kUnsigned);
  check = verifier->Verify("value", std::nullopt, sig->signature);
  EXPECT_EQ(check.verdict, SignatureVerdict::kUnsigned);
  EXPECT_THAT(check.detail, HasSubstr("senren-key-id"));
}

TEST(SnapshotSignatureTest, RotationTrustsBothKeysThenOnlyTheNewOne) {
  auto old_key = NewKey();
  auto new_key = NewKey();
  // One file may hold several keys: the two PEM blocks concatenated.
  auto both = SnapshotVerifier::FromPems({old_key->PublicKeyPem() + new_key->PublicKeyPem()});
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ((*both)->key_ids().size(), 2u);
  auto by_old = old_key->Sign("v41");
  auto by_new = new_key->Sign("v42");
  ASSERT_TRUE(by_old.ok() && by_new.ok());
  EXPECT_TRUE((*both)->Verify("v41", by_old->key_id, by_old->signature).ok());
  EXPECT_TRUE((*both)->Verify("v42", by_new->key_id, by_new->signature).ok());
  // The old key retired: what it signed is refused.
  auto only_new = Trusting({new_key.get()});
  EXPECT_EQ(only_new->Verify("v41", by_old->key_id, by_old->signature).verdict,
            SignatureVerdict::kUnknownKey);
  EXPECT_TRUE(only_new->Verify("v42", by_new->key_id, by_new->signature).ok());
}

TEST(SnapshotSignatureTest, ReadsOpensslsKeysAndComputesItsKeyId) {
  auto signer = SnapshotSigner::FromPem(kOpensslPrivate);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ((*signer)->key_id(), "7b09b4c386010968");
  EXPECT_EQ((*signer)->PublicKeyPem(), kOpensslPublic);
  auto verifier = SnapshotVerifier::FromPems({kOpensslPublic});
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_THAT((*verifier)->key_ids(), ElementsAre("7b09b4c386010968"));
  auto sig = (*signer)->Sign("state");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE((*verifier)->Verify("state", sig->key_id, sig->signature).ok());
  // Ed25519 is deterministic: the signature `openssl pkeyutl -sign -rawin` made of the
  // same bytes with the same key.
  EXPECT_EQ(
      sig->signature,
      "NZw1H0wKrHOks3WRoSLOgICnK2UXdBABBGUd3jDRnpkhBIJQsCOc5fB3V9XMgm5rCU+zxFFCabNaOcgdO6pyBg==");
}

TEST(SnapshotSignatureTest, RefusesWhatIsNotAnEd25519Key) {
  EXPECT_FALSE(SnapshotSigner::FromPem("").ok());
  EXPECT_FALSE(SnapshotSigner::FromPem(kOpensslPublic).ok());
  EXPECT_FALSE(SnapshotVerifier::FromPems({}).ok());
  EXPECT_FALSE(SnapshotVerifier::FromPems({"no key here"}).ok());
  auto priv = SnapshotVerifier::FromPems({kOpensslPrivate});
  ASSERT_FALSE(priv.ok());
  EXPECT_THAT(std::string(priv.status().message()), HasSubstr("private key"));
  // A P-256 key (openssl ecparam -name prime256v1 -genkey | openssl ec -pubout).
  constexpr char kP256Public[] = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfe5hcsKB+SFQTk0UnvE+Tf5vSabB
awT8qwHPpgeg6qUW+D+1wEQkpEyq7TH628T/Ew2bl7QMghPMzxgSy/DUew==
-----END PUBLIC KEY-----
)";
  auto ec = SnapshotVerifier::FromPems({kP256Public});
  ASSERT_FALSE(ec.ok());
  EXPECT_THAT(std::string(ec.status().message()), HasSubstr("not Ed25519"));
  EXPECT_FALSE(SnapshotVerifier::FromPems({"-----BEGIN PUBLIC KEY-----\nAAAA\n"}).ok());
}

TEST(SnapshotSignatureTest, KeyFilesAreReadAndErrorsNameThem) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sigtest-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto key = NewKey();
  const std::string priv = (dir / "signing.key").string(), pub = (dir / "signing.pub").string();
  std::ofstream(priv) << key->PrivateKeyPem();
  std::ofstream(pub) << key->PublicKeyPem();
  auto signer = SnapshotSigner::FromPemFile(priv);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ((*signer)->key_id(), key->key_id());
  auto verifier = SnapshotVerifier::FromPemFiles({pub});
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_THAT((*verifier)->key_ids(), ElementsAre(key->key_id()));
  auto missing = SnapshotVerifier::FromPemFiles({(dir / "nope.pub").string()});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope.pub"));
  auto wrong = SnapshotVerifier::FromPemFiles({pub, priv});
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(std::string(wrong.status().message()), HasSubstr("signing.key"));
  std::filesystem::remove_all(dir);
}

TEST(SnapshotSignatureTest, VerdictNames) {
  EXPECT_EQ(SignatureVerdictName(SignatureVerdict::kValid), "valid");
  EXPECT_EQ(SignatureVerdictName(SignatureVerdict::kUnsigned), "unsigned");
  EXPECT_EQ(SignatureVerdictName(SignatureVerdict::kUnknownKey), "unknown_key");
  EXPECT_EQ(SignatureVerdictName(SignatureVerdict::kBadSignature), "bad_signature");
}

}  // namespace
}  // namespace senren::common
