#include "support/test_util.hpp"

#include <fstream>
#include <random>
#include <sstream>

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
