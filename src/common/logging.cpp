#include "shardflow/common/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "shardflow/common/error.hpp"

namespace shardflow {

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
  logger->set_pattern(fmt::format("[%H:%M:%S.%e] [r{:0{}}] [%^%l%$] %v", rank, width));
  const bool quiet_rank = rank != 0 && !options.all_ranks;
  logger->set_level(quiet_rank && level < spdlog::level::warn ? spdlog::level::warn : level);
  spdlog::set_default_logger(logger);
}

}  // namespace shardflow
