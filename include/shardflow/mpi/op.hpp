#pragma once
// Reductions for allreduce (allreduce.hpp), so that no module above mpi/ names an MPI op:
//  - `Reduce`: the built-in element-wise reductions on arithmetic types;
//  - `Op<T>`: a user-defined reduction on any trivially copyable `T`, built from a C++ callable.
//    Its MPI datatype (sizeof(T) contiguous bytes) and op are created on first use, after MPI_Init,
//    and freed by mpi::Environment before MPI_Finalize, so an Op may be a namespace-scope or
//    function-local `static const` that outlives MPI.

#include <mpi.h>

#include <cstddef>
#include <cstring>
#include <type_traits>

namespace shardflow::mpi {

/// Built-in element-wise reductions. kBitOr is for integer types only.
enum class Reduce { kSum, kMin, kMax, kBitOr };

namespace detail {

inline MPI_Op native_op(Reduce reduce) {
  switch (reduce) {
    case Reduce::kSum:
      return MPI_SUM;
    case Reduce::kMin:
      return MPI_MIN;
    case Reduce::kMax:
      return MPI_MAX;
    case Reduce::kBitOr:
      return MPI_BOR;
  }
  return MPI_OP_NULL;
}

/// The MPI handles behind an Op<T>. Not copyable or movable: MPI keeps no pointer to it, but the
/// release list (op.cpp) does.
class UserOp {
 public:
  UserOp(MPI_User_function* function, std::size_t element_bytes, bool commutative)
      : function_(function), element_bytes_(element_bytes), commutative_(commutative) {}
  /// Frees the handles if they exist and MPI is still running.
  ~UserOp();
  UserOp(const UserOp&) = delete;
  UserOp& operator=(const UserOp&) = delete;

  /// The op and the datatype, created on first use (MPI must be initialized). Throws
  /// RuntimeError if MPI is not initialized or already finalized, or if creating them fails.
  MPI_Op op() const;
  MPI_Datatype type() const;
  /// Frees the handles (if created); the next use creates them again.
  void release() const;

 private:
  void create() const;

  MPI_User_function* function_;
  std::size_t element_bytes_;
  bool commutative_;
  mutable MPI_Datatype type_ = MPI_DATATYPE_NULL;
  mutable MPI_Op op_ = MPI_OP_NULL;
};

/// Frees the handles of every UserOp that has created them. mpi::Environment calls it right
/// before MPI_Finalize.
void release_user_ops();

}  // namespace detail

/// A user-defined reduction on `T` for allreduce: `combine(a, b)` returns a ∘ b, where ∘ must be
/// associative. With `commutative` false MPI combines in rank order (rank 0's value leftmost);
/// with true it may combine in any order. `combine` must be stateless (a lambda without
/// captures, or an empty function object): MPI calls a plain function that recreates it.
/// The values travel as sizeof(T) raw bytes, so T must be trivially copyable (and default
/// constructible), with the same layout on every rank.
template <typename T>
class Op {
  static_assert(std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T>,
                "mpi::Op<T> moves T as raw bytes: T must be trivially copyable");

 public:
  template <typename F>
  Op(F combine, bool commutative) : handles_(&apply<F>, sizeof(T), commutative) {
    static_assert(std::is_empty_v<F> && std::is_default_constructible_v<F>,
                  "mpi::Op: the combine function must be stateless (a lambda without captures)");
    static_assert(std::is_invocable_r_v<T, const F&, const T&, const T&>,
                  "mpi::Op<T>: combine must be callable as T(const T&, const T&)");
    (void)combine;
  }

  const detail::UserOp& handles() const { return handles_; }

 private:
  // MPI's contract: inout[i] = in[i] ∘ inout[i], where `in` holds the lower ranks' values. The
  // buffers carry no alignment guarantee for T, hence the copies.
  template <typename F>
  static void apply(void* in, void* inout, int* len, MPI_Datatype*) {
    const F combine{};
    const auto* a = static_cast<const unsigned char*>(in);
    auto* b = static_cast<unsigned char*>(inout);
    for (int i = 0; i < *len; ++i) {
      const std::size_t at = static_cast<std::size_t>(i) * sizeof(T);
      T x, y;
      std::memcpy(&x, a + at, sizeof(T));
      std::memcpy(&y, b + at, sizeof(T));
      const T z = combine(x, y);
      std::memcpy(b + at, &z, sizeof(T));
    }
  }

  detail::UserOp handles_;
};

}  // namespace shardflow::mpi
