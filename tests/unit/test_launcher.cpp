// `shardflow launch` without processes: the mpirun command line it builds, what it makes of
// mpirun's stderr (the ranks' hosts line, Open MPI's lost-daemon notice), and the ranks-by-host
// summary the log prints. The signal handling is tested end to end in tests/e2e/test_launch.sh.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "shardflow/app/launcher.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/mpi/hosts.hpp"

using namespace shardflow;
using app::detail::mpirun_command;
using app::detail::StderrWatcher;
using Args = std::vector<std::string>;

TEST(Launcher, BuildsTheMpirunCommandAroundTheSeparator) {
  EXPECT_EQ(mpirun_command("mpirun", "/bin/sf", {"-np", "2", "--", "run", "j.yaml"}),
            (Args{"mpirun", "-np", "2", "--stdin", "none", "-x", "SHARDFLOW_LAUNCHER", "/bin/sf",
                  "run", "j.yaml"}));
  // A user's own --stdin wins; a later "--" belongs to the command.
  EXPECT_EQ(mpirun_command("/opt/mpirun", "/bin/sf", {"--stdin", "0", "--", "run", "--", "x"}),
            (Args{"/opt/mpirun", "--stdin", "0", "-x", "SHARDFLOW_LAUNCHER", "/bin/sf", "run", "--",
                  "x"}));
  EXPECT_EQ(mpirun_command("mpirun", "/bin/sf", {"--", "validate"}),
            (Args{"mpirun", "--stdin", "none", "-x", "SHARDFLOW_LAUNCHER", "/bin/sf", "validate"}));
}

TEST(Launcher, RefusesACommandLineWithoutSeparatorOrCommand) {
  for (const Args& args : {Args{"-np", "2", "run", "j.yaml"}, Args{"-np", "2", "--"}, Args{}}) {
    try {
      mpirun_command("mpirun", "/bin/sf", args);
      FAIL() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("shardflow launch -np 2 -- run jobs/quickstart.yaml"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(Launcher, NamesTheRanksOfTheLostHost) {
  StderrWatcher w;
  EXPECT_TRUE(w.observe("[06:00:00.000] [r0] [info] job 'quickstart' on 4 rank(s)"));
  // Network namespaces share one host name; the daemon tells the hosts apart.
  EXPECT_FALSE(w.observe("shardflow-launch-hosts: 0=vm@1 1=vm@1 2=vm@2 3=vm@2"));
  EXPECT_TRUE(w.lost_host_message().empty());
  for (const char* line : {"ORTE has lost communication with a remote daemon.", "",
                           "  HNP daemon   : [[10339,0],0] on node vm",
                           "  Remote daemon: [[10339,0],2] on node sfh2", ""}) {
    EXPECT_TRUE(w.observe(line));
  }
  EXPECT_EQ(w.lost_host(), "sfh2");
  EXPECT_EQ(w.lost_ranks(), (std::vector<int>{2, 3}));
  const std::string message = w.lost_host_message();
  EXPECT_NE(message.find("lost host sfh2 with ranks 2, 3:"), std::string::npos) << message;
  EXPECT_NE(message.find("rerun the same command"), std::string::npos) << message;
}

TEST(Launcher, ToleratesTaggedOutputAndAnEarlyLoss) {
  StderrWatcher early;
  EXPECT_TRUE(early.observe("  Remote daemon: [[1,0],1] on node nodeB  "));
  EXPECT_NE(early.lost_host_message().find("lost host nodeB before the ranks said where they run"),
            std::string::npos)
      << early.lost_host_message();

  StderrWatcher tagged;  // mpirun --tag-output prefixes every line; no daemon ids: by name
  EXPECT_FALSE(tagged.observe("[1,0]<stderr>:shardflow-launch-hosts: 0=a@-1 1=b"));
  EXPECT_TRUE(tagged.observe("  Remote daemon: [[1,0],1] on node b"));
  EXPECT_NE(tagged.lost_host_message().find("lost host b with rank 1:"), std::string::npos)
      << tagged.lost_host_message();
}

TEST(Launcher, DescribesRanksByHost) {
  EXPECT_EQ(mpi::describe_ranks_by_host({"vm", "vm"}), "vm: 0-1");
  EXPECT_EQ(mpi::describe_ranks_by_host({"a", "a", "b", "b"}), "a: 0-1; b: 2-3");
  EXPECT_EQ(mpi::describe_ranks_by_host({"a", "b", "a", "b", "a"}), "a: 0,2,4; b: 1,3");
  EXPECT_EQ(mpi::describe_ranks_by_host({"a", "a", "a", "b", "a"}), "a: 0-2,4; b: 3");
}
