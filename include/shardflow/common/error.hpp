#pragma once
// The closed set of shardflow errors. Every error carries a kind that maps to a process exit code
// (DESIGN.md "Command line"), and a one-sentence message that says what was wrong, where, and what
// to do. Only `app` catches them all; everything else throws.

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace shardflow {

enum class ErrorKind : int {
  kRuntime = 1,      // a failure while running: I/O error, MPI failure, internal invariant
  kConfig = 2,       // the job file, a profile, --set or the command line is wrong
  kInputData = 3,    // input data rejected (malformed CSV row, wrong type, missing file)
  kInterrupted = 75  // stopped by a signal after writing a checkpoint (EX_TEMPFAIL: Slurm requeues)
};

/// Process exit code for an error kind.
constexpr int exit_code(ErrorKind kind) {
  return static_cast<int>(kind);
}
std::string_view to_string(ErrorKind kind);

/// Base of every shardflow exception.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message)
      : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  /// True when every rank is known to throw this same error (it came out of Comm::agree), so one
  /// rank may report it for all; false for an error only this rank knows about.
  bool agreed() const { return agreed_; }
  void set_agreed(bool agreed) { agreed_ = agreed; }

 private:
  ErrorKind kind_;
  bool agreed_ = false;
};

/// Failure while running (I/O, MPI, internal invariant broken).
class RuntimeError : public Error {
 public:
  explicit RuntimeError(std::string message) : Error(ErrorKind::kRuntime, std::move(message)) {}
  template <typename... Args>
  explicit RuntimeError(fmt::format_string<Args...> f, Args&&... args)
      : Error(ErrorKind::kRuntime, fmt::format(f, std::forward<Args>(args)...)) {}
};

/// The job file, a profile, an override or the command line is wrong (exit 2).
class ConfigError : public Error {
 public:
  explicit ConfigError(std::string message) : Error(ErrorKind::kConfig, std::move(message)) {}
  template <typename... Args>
  explicit ConfigError(fmt::format_string<Args...> f, Args&&... args)
      : Error(ErrorKind::kConfig, fmt::format(f, std::forward<Args>(args)...)) {}
};

/// Input data rejected: malformed rows, missing files, type mismatches (exit 3).
class InputError : public Error {
 public:
  explicit InputError(std::string message) : Error(ErrorKind::kInputData, std::move(message)) {}
  template <typename... Args>
  explicit InputError(fmt::format_string<Args...> f, Args&&... args)
      : Error(ErrorKind::kInputData, fmt::format(f, std::forward<Args>(args)...)) {}
};

/// The job was stopped by a signal; a checkpoint was written first (exit 75).
class InterruptedError : public Error {
 public:
  explicit InterruptedError(std::string message)
      : Error(ErrorKind::kInterrupted, std::move(message)) {}
};

/// Rebuilds an error of the given kind (used to re-throw an error agreed across ranks).
[[noreturn]] void throw_error(ErrorKind kind, std::string message, bool agreed = false);

}  // namespace shardflow
