#pragma once
// Run-time choice of the hand-vectorized (AVX2) kernels of the exact training arithmetic
// (ml/reproducible_sum, ml/linear_models). Each has a portable twin that computes the same bits;
// the switch exists so that tests can run both on the same inputs and compare.

namespace shardflow::simd {

/// Whether the AVX2 kernels run: the CPU has AVX2 and tests have not switched them off.
bool avx2();
/// Tests and benchmarks only: switches the AVX2 kernels on (where the CPU has AVX2) or off for
/// the calls that follow, on every thread; returns the previous setting of avx2().
bool set_avx2(bool enabled);

}  // namespace shardflow::simd
