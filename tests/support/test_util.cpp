#include "support/test_util.hpp"

#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "shardflow/mpi/bcast.hpp"

namespace shardflow::testing_util {

namespace {
std::filesystem::path fresh_name() {
  std::random_device rd;
  const auto base = std::filesystem::temp_directory_path();
  for (;;) {
    auto candidate = base / ("shardflow-test-" + std::to_string(rd()));
    if (std::filesystem::create_directories(candidate)) return candidate;
  }
}
}  // namespace

TempDir::TempDir() : path_(fresh_name()) {}

TempDir::TempDir(const mpi::Comm& comm) : comm_(&comm) {
  std::string name;
  if (comm.is_root()) name = fresh_name().string();
  mpi::bcast_string(comm, name, 0);
  path_ = name;
}

TempDir::~TempDir() {
  if (comm_ != nullptr) comm_->barrier();
  if (comm_ == nullptr || comm_->is_root()) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
}

std::pair<idx_t, idx_t> split(idx_t n, int rank, int size, int mode) {
  if (mode == 1)
    return rank == size - 1 ? std::pair<idx_t, idx_t>{0, n} : std::pair<idx_t, idx_t>{0, 0};
  std::vector<idx_t> weights(static_cast<size_t>(size));
  for (int r = 0; r < size; ++r)
    weights[static_cast<size_t>(r)] = mode == 0 ? 1 : r;
  idx_t total = 0;
  for (idx_t w : weights)
    total += w;
  if (total == 0) return rank == 0 ? std::pair<idx_t, idx_t>{0, n} : std::pair<idx_t, idx_t>{n, n};
  idx_t before = 0;
  for (int r = 0; r < rank; ++r)
    before += weights[static_cast<size_t>(r)];
  return {n * before / total, n * (before + weights[static_cast<size_t>(rank)]) / total};
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace shardflow::testing_util
