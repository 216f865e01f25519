// What signed snapshots cost (docs/design.md §4): Ed25519 signing in the snapshot
// projector and verifying in each regional plane, over a serialized RegionalState of the
// given size. No lab needed.
//
//   build-*/common/snapshot_signature_bench [--benchmark_repetitions=5]
#include <benchmark/benchmark.h>

#include <string>

#include "common/snapshot_signature.h"

namespace {

using senren::common::SnapshotSigner;
using senren::common::SnapshotVerifier;

// 1 KiB: a small region; 6 MiB: 100,000 small resources (docs/design.md §4).
void Sizes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {int64_t{1} << 10, int64_t{1} << 20, int64_t{6} << 20}) b->Arg(n);
}

void BM_Sign(benchmark::State& state) {
  auto signer = SnapshotSigner::Generate().value();
  const std::string value(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(signer->Sign(value));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sign)->Apply(Sizes)->Unit(benchmark::kMicrosecond);

void BM_Verify(benchmark::State& state) {
  auto signer = SnapshotSigner::Generate().value();
  // Two trusted keys, as during a rotation: the lookup is by key id.
  auto other = SnapshotSigner::Generate().value();
  auto verifier =
      SnapshotVerifier::FromPems({signer->PublicKeyPem(), other->PublicKeyPem()}).value();
  const std::string value(static_cast<size_t>(state.range(0)), 'x');
  const auto sig = signer->Sign(value).value();
  for (auto _ : state) {
    auto check = verifier->Verify(value, sig.key_id, sig.signature);
    if (!check.ok()) state.SkipWithError(check.detail.c_str());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Verify)->Apply(Sizes)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
