// The matching rule of SHARDFLOW_INJECT_FAULT's <point> part (common/fault_injection.hpp).
#include <gtest/gtest.h>

#include "shardflow/common/fault_injection.hpp"

namespace shardflow {
namespace {

TEST(FaultInjection, ExactPointsMatchOnlyThemselves) {
  EXPECT_TRUE(fault_point_matches("train_step:3", "train_step:3"));
  EXPECT_FALSE(fault_point_matches("train_step:3", "train_step:30"));
  EXPECT_FALSE(fault_point_matches("train_step:30", "train_step:3"));
  EXPECT_FALSE(fault_point_matches("", "input"));
}

TEST(FaultInjection, StarMatchesByPrefix) {
  EXPECT_TRUE(fault_point_matches("text_written:events-*", "text_written:events-0123abcd.csv"));
  EXPECT_TRUE(fault_point_matches("ckpt_write:*", "ckpt_write:50"));
  EXPECT_TRUE(fault_point_matches("*", "anything"));
  EXPECT_FALSE(fault_point_matches("text_written:events-*", "text_written:sales.csv"));
  EXPECT_FALSE(fault_point_matches("ckpt_write:*", "ckpt_rename:50"));
}

TEST(FaultInjection, UnsetEnvironmentInjectsNothing) {
  // ctest does not set SHARDFLOW_INJECT_FAULT for unit tests.
  EXPECT_NO_THROW(maybe_inject_fault("input", 0));
}

}  // namespace
}  // namespace shardflow
