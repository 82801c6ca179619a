#include "shardflow/mpi/op.hpp"

#include <algorithm>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/environment.hpp"

namespace shardflow::mpi::detail {
namespace {

// Every UserOp whose handles exist. Never destroyed: an Op that is a static object may be
// destroyed after every other static, and its destructor still looks here. MPI runs
// funneled (one thread calls MPI), so no lock.
std::vector<const UserOp*>& live_ops() {
  static auto* ops = new std::vector<const UserOp*>();
  return *ops;
}

}  // namespace

UserOp::~UserOp() {
  release();
}

MPI_Op UserOp::op() const {
  if (op_ == MPI_OP_NULL) create();
  return op_;
}

MPI_Datatype UserOp::type() const {
  if (type_ == MPI_DATATYPE_NULL) create();
  return type_;
}

void UserOp::create() const {
  if (!Environment::initialized() || Environment::finalized()) {
    throw RuntimeError("mpi::Op used while MPI is not running; this is a shardflow bug");
  }
  release();
  live_ops().push_back(this);  // first, so that release() frees whatever a failure leaves behind
  check(MPI_Type_contiguous(static_cast<int>(element_bytes_), MPI_BYTE, &type_),
        "MPI_Type_contiguous (user op)");
  check(MPI_Type_commit(&type_), "MPI_Type_commit (user op)");
  check(MPI_Op_create(function_, commutative_ ? 1 : 0, &op_), "MPI_Op_create");
}

void UserOp::release() const {
  if (type_ == MPI_DATATYPE_NULL && op_ == MPI_OP_NULL) return;
  // After MPI_Finalize the handles are gone with MPI itself; only forget them.
  if (!Environment::finalized()) {
    if (op_ != MPI_OP_NULL) MPI_Op_free(&op_);
    if (type_ != MPI_DATATYPE_NULL) MPI_Type_free(&type_);
  }
  op_ = MPI_OP_NULL;
  type_ = MPI_DATATYPE_NULL;
  auto& ops = live_ops();
  ops.erase(std::remove(ops.begin(), ops.end(), this), ops.end());
}

void release_user_ops() {
  // release() removes the op from the list.
  while (!live_ops().empty())
    live_ops().back()->release();
}

}  // namespace shardflow::mpi::detail
