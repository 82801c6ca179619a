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

void throw_error(ErrorKind kind, std::string message) {
  switch (kind) {
    case ErrorKind::kConfig:
      throw ConfigError(std::move(message));
    case ErrorKind::kInputData:
      throw InputError(std::move(message));
    case ErrorKind::kInterrupted:
      throw InterruptedError(std::move(message));
    case ErrorKind::kRuntime:
      break;
  }
  throw RuntimeError(std::move(message));
}

}  // namespace shardflow
