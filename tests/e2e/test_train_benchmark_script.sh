#!/usr/bin/env bash
# benchmarks/train_comparisons.sh refuses bad options and impossible case/data-set combinations
# before building, installing or generating anything, naming the problem; --help prints its
# header. Fast: no build, no data, no peers (the full benchmark is run by hand, see
# benchmarks/README.md, "Training").
source "$(dirname "$0")/lib.sh"
SCRIPT=$SRC/benchmarks/train_comparisons.sh

expect_help '--cases'

expect_error unknown-option "unknown option '--rowz'" --rowz 5
expect_error unknown-case "unknown case 'ridge'" --cases ridge
expect_error unknown-dataset "unknown data set 'iris'" --datasets iris
expect_error unknown-peer "unknown peer 'xgboost'" --peers xgboost
expect_error misfit "case 'linear' fits none of the data sets 'breast_cancer'" --cases linear \
  --datasets breast_cancer
expect_error epochs "--epochs must be a positive integer, got '0'" --epochs 0
expect_error lr "--lr must be a positive number like 0.1, got '-1'" --lr -1
expect_error momentum "--momentum must be a number in [0, 1)" --momentum 1.5
expect_error optimizer "--optimizer must be sgd, adam or lbfgs, got 'newton'" --optimizer newton
expect_error ddp-batch "--batch-size 4097 is not a multiple of 2 ranks" --batch-size 4097 --ranks "1 2"
pass "bad options and impossible combinations are refused before any work"
