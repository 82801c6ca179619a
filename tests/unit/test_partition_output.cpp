// Partitioned outputs: the directory-name escaping of io/partitioned_writer.hpp (written out by
// hand, byte by byte) and the job file's `partition_by` errors, each with its location.

#include <gtest/gtest.h>

#include <string>

#include "shardflow/common/error.hpp"
#include "shardflow/io/partitioned_writer.hpp"
#include "shardflow/pipeline/job_loader.hpp"
#include "shardflow/pipeline/job_validator.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using shardflow::testing_util::TempDir;
using shardflow::testing_util::write_file;

namespace {

TEST(PartitionNames, EscapesHiveSetControlAndNonAsciiBytes) {
  EXPECT_EQ(io::escape_partition_text("plain-Text_1.5 ~x"), "plain-Text_1.5 ~x");
  EXPECT_EQ(io::escape_partition_text("a/b\\c"), "a%2Fb%5Cc");
  EXPECT_EQ(io::escape_partition_text("%2F"), "%252F");
  EXPECT_EQ(io::escape_partition_text("k=v:w"), "k%3Dv%3Aw");
  EXPECT_EQ(io::escape_partition_text(std::string("n\0l\n\x1f\x7f", 6)), "n%00l%0A%1F%7F");
  EXPECT_EQ(io::escape_partition_text("\"#'*?[]^{}"), "%22%23%27%2A%3F%5B%5D%5E%7B%7D");
  EXPECT_EQ(io::escape_partition_text("\xc3\xa9"), "%C3%A9");  // é: every byte >= 0x80
  EXPECT_EQ(io::escape_partition_text(".."), "..");            // safe: the name has '=' too
}

TEST(PartitionNames, ComponentsForNullEmptyAndTheNullMarker) {
  EXPECT_EQ(io::partition_component("year", std::string("2024")), "year=2024");
  EXPECT_EQ(io::partition_component("seg", std::nullopt), "seg=__HIVE_DEFAULT_PARTITION__");
  EXPECT_EQ(io::partition_component("seg", std::string()), "seg=");
  EXPECT_EQ(io::partition_component("seg", std::string("__HIVE_DEFAULT_PARTITION__")),
            "seg=%5F_HIVE_DEFAULT_PARTITION__");
  EXPECT_EQ(io::partition_component("a/b=c", std::string("..")), "a%2Fb%3Dc=..");
  EXPECT_EQ(io::partition_component("s", std::string("../../etc")), "s=..%2F..%2Fetc");
}

TEST(PartitionNames, ParseIsTheExactInverse) {
  const std::vector<std::optional<std::string>> values = {
      std::nullopt,
      std::string(),
      std::string("__HIVE_DEFAULT_PARTITION__"),
      std::string(".."),
      std::string("."),
      std::string("../../etc"),
      std::string("/abs"),
      std::string("a/b"),
      std::string("nul\0byte", 8),
      std::string("%2F"),
      std::string("%"),
      std::string("\xe6\x97\xa5\xe6\x9c\xac \xc3\xa9"),
      std::string("\xff\xfe not utf-8"),
      std::string("=="),
  };
  for (const auto& v : values) {
    const std::string name = io::partition_component("c=1", v);
    EXPECT_EQ(name.find('/'), std::string::npos) << name;
    EXPECT_NE(name, ".");
    EXPECT_NE(name, "..");
    for (const char c : name)
      EXPECT_TRUE(c >= 0x20 && c < 0x7F) << name;
    const auto parsed = io::parse_partition_component(name);
    ASSERT_TRUE(parsed.has_value()) << name;
    EXPECT_EQ(parsed->column, "c=1");
    EXPECT_EQ(parsed->value, v) << name;
  }
  EXPECT_FALSE(io::parse_partition_component("part-00000.csv").has_value());
  EXPECT_THROW(io::parse_partition_component("c=%2"), InputError);
  EXPECT_THROW(io::parse_partition_component("c=%zz"), InputError);
  EXPECT_EQ(io::unescape_partition_text("%2f%2F"), "//");
}

// ---- job file ---------------------------------------------------------------------------------

class PartitionJob : public ::testing::Test {
 protected:
  std::string load_error(const std::string& outputs) {
    const std::string text = std::string(R"(name: p
inputs:
  t: {format: generate, kind: classification, rows: 100}
steps:
  - {op: filter, input: t, where: "amount > 0", output: f}
outputs:
)") + outputs;
    write_file(path_, text);
    try {
      pipeline::validate_job(pipeline::load_job(path_, {}, {}));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }
  TempDir dir_;
  std::string path_ = (dir_.path() / "job.yaml").string();
};

TEST_F(PartitionJob, ValidOutputsLoadWithDirectoryDefaults) {
  EXPECT_EQ(load_error("  - {table: f, path: ev/, format: csv, partition_by: [segment, label]}\n"
                       "  - {table: t, partition_by: segment}\n"),
            "");
  const auto job = pipeline::load_job(path_, {}, {});
  ASSERT_EQ(job.outputs.size(), 2u);
  EXPECT_EQ(job.outputs[1].path, "t/");
  EXPECT_EQ(job.outputs[1].format, "hdf5");
  EXPECT_EQ(job.outputs[1].partition_by, std::vector<std::string>{"segment"});
  EXPECT_NE(job.canonical_yaml.find("partition_by: [segment, label]"), std::string::npos);
}

TEST_F(PartitionJob, UnknownColumnNamesTheEntry) {
  EXPECT_EQ(load_error("  - {table: f, path: ev/, partition_by: [segment, labl]}\n"),
            path_ +
                ":7:51: output 1: partition_by column 'labl' is not a column of table 'f'; "
                "did you mean 'label'? (columns: id, segment, x1, x2, x3, x4, amount, label)");
}

TEST_F(PartitionJob, EveryColumnIsRefused) {
  EXPECT_EQ(
      load_error("  - {table: f, path: ev/, partition_by: [id, x1, x2, x3, x4, segment, amount, "
                 "label]}\n"),
      path_ +
          ":7:41: output 1: partition_by lists every column of table 'f', so the part files "
          "would have no columns; leave at least one column out of partition_by");
}

TEST_F(PartitionJob, FilePathIsRefused) {
  EXPECT_EQ(load_error("  - {table: f, path: ev.h5, partition_by: [segment]}\n"),
            path_ +
                ":7:22: outputs.0.path 'ev.h5' names a file, but an output with partition_by "
                "writes a directory (<path>/<column>=<value>/part-00000.h5); write a "
                "directory path such as 'ev/'");
  EXPECT_NE(load_error("  - {table: f, path: out/ev.csv/, format: csv, partition_by: [label]}\n")
                .find("names a file"),
            std::string::npos);
}

TEST_F(PartitionJob, DuplicateAndEmptyListsAreRefused) {
  EXPECT_NE(load_error("  - {table: f, path: ev/, partition_by: [label, label]}\n")
                .find("lists 'label' twice"),
            std::string::npos);
  EXPECT_NE(load_error("  - {table: f, path: ev/, partition_by: []}\n")
                .find("must list at least one name"),
            std::string::npos);
}

TEST_F(PartitionJob, OutputInsideAPartitionedDirectoryIsRefused) {
  EXPECT_NE(load_error("  - {table: f, path: ev/, partition_by: [label]}\n"
                       "  - {table: t, path: ev/all.h5}\n")
                .find("outputs 1 and 2 overlap: 'ev/all.h5' is inside 'ev/'"),
            std::string::npos);
  EXPECT_EQ(load_error("  - {table: f, path: ev/, partition_by: [label]}\n"
                       "  - {table: t, path: ev2/all.h5}\n"),
            "");
}

}  // namespace
