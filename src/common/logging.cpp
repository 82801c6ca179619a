#include "shardflow/common/logging.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "shardflow/common/error.hpp"

namespace shardflow {

namespace {

std::string g_pattern = "[%H:%M:%S.%e] [%l] %v";  // setup_logging's, for files added later

// A file sink that gives up, once and with one warning, when a write fails: a log file must
// never stop work (spdlog's own file sink throws, and its error handler prints every failure).
class RunLogSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  RunLogSink(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  ~RunLogSink() override {
    if (file_ != nullptr) std::fclose(file_);
  }
  RunLogSink(const RunLogSink&) = delete;
  RunLogSink& operator=(const RunLogSink&) = delete;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (failed_) return;
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
      give_up();
  }
  void flush_() override {
    if (!failed_ && std::fflush(file_) != 0) give_up();
  }

 private:
  void give_up() {
    failed_ = true;
    std::fprintf(stderr,
                 "warning: cannot write the log file %s: %s (is the disk full?); the log goes on "
                 "on stderr only\n",
                 path_.c_str(), std::strerror(errno));
  }

  std::FILE* file_;
  std::string path_;
  bool failed_ = false;
};

}  // namespace

void setup_logging(int rank, int world_size, const LoggingOptions& options) {
  const auto level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    throw ConfigError("unknown log level '{}': use one of trace, debug, info, warn, error, off",
                      options.level);
  }
  spdlog::drop("shardflow");  // setup may run again (tests, re-initialisation)
  auto logger = spdlog::stderr_color_mt("shardflow");
  // Width of the rank field follows the world size so columns line up in merged output.
  const int width = world_size >= 10 ? (world_size >= 100 ? 3 : 2) : 1;
  g_pattern = fmt::format("[%H:%M:%S.%e] [r{:0{}}] [%^%l%$] %v", rank, width);
  logger->set_pattern(g_pattern);
  const bool quiet_rank = rank != 0 && !options.all_ranks;
  logger->set_level(quiet_rank && level < spdlog::level::warn ? spdlog::level::warn : level);
  spdlog::set_default_logger(logger);
}

LogFile::LogFile(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    std::fprintf(stderr,
                 "warning: cannot create the log file %s: %s; the log goes on stderr only\n",
                 path.c_str(), std::strerror(errno));
    return;
  }
  sink_ = std::make_shared<RunLogSink>(file, path.string());
  sink_->set_pattern(g_pattern);
  spdlog::default_logger()->sinks().push_back(sink_);
}

void LogFile::write(spdlog::level::level_enum level, std::string_view text) {
  if (!sink_) return;
  const spdlog::details::log_msg msg(spdlog::default_logger()->name(), level,
                                     spdlog::string_view_t(text.data(), text.size()));
  sink_->log(msg);
  sink_->flush();
}

LogFile::~LogFile() {
  if (!sink_) return;
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
}

}  // namespace shardflow
