#include "shardflow/app/cli.hpp"

#include <cstdio>

#include "shardflow/version.hpp"

namespace shardflow::app {

int main(int, char**) {
  std::printf("shardflow %s\n", kVersion);
  return 0;
}

}  // namespace shardflow::app
