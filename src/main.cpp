#include "shardflow/app/cli.hpp"

int main(int argc, char** argv) {
  return shardflow::app::main(argc, argv);
}
