#pragma once
// The shardflow command line. `main` is the only place that catches every exception and maps it
// to an exit code (DESIGN.md "Command line").

namespace shardflow::app {

/// Runs the CLI; returns the process exit code.
int main(int argc, char** argv);

}  // namespace shardflow::app
