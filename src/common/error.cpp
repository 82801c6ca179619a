#include "shardflow/common/error.hpp"

namespace shardflow {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kRuntime:
      return "runtime error";
    case ErrorKind::kConfig:
      return "configuration error";
    case ErrorKind::kInputData:
      return "input data error";
    case ErrorKind::kInterrupted:
      return "interrupted";
  }
  return "error";
}

namespace {
template <typename E>
[[noreturn]] void throw_marked(std::string message, bool agreed) {
  E error(std::move(message));
  error.set_agreed(agreed);
  throw error;
}
}  // namespace

void throw_error(ErrorKind kind, std::string message, bool agreed) {
  switch (kind) {
    case ErrorKind::kConfig:
      throw_marked<ConfigError>(std::move(message), agreed);
    case ErrorKind::kInputData:
      throw_marked<InputError>(std::move(message), agreed);
    case ErrorKind::kInterrupted:
      throw_marked<InterruptedError>(std::move(message), agreed);
    case ErrorKind::kRuntime:
      break;
  }
  throw_marked<RuntimeError>(std::move(message), agreed);
}

}  // namespace shardflow
