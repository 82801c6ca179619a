// libFuzzer harness for the job-file loader (pipeline/job_loader.hpp) and the validator
// (pipeline/job_validator.hpp): the input is a job file, as `shardflow validate JOB.yaml` reads it.
//
// Input layout: YAML text. Two kinds of comment line take part (so every seed stays a valid job
// file that `shardflow validate` accepts as is):
//   - `#set KEY=VALUE` lines are passed as --set overrides, in order;
//   - a line `#profile` ends the job file: the text after it is written to a file and layered
//     under the job as a --profile.
// Checks, besides "no crash, no sanitizer report, only ConfigError/InputError":
//   - the canonical YAML of a loaded job loads back to a job with the same canonical YAML (job.hpp
//     promises it is "itself a valid job file that loads back to an equal Job");
//   - validate_job_tables runs on every job that loads (csv inputs resolve against a scratch
//     working directory).

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/job_loader.hpp"
#include "shardflow/pipeline/job_validator.hpp"

using namespace shardflow;

namespace {

namespace fs = std::filesystem;

fs::path& scratch_dir() {
  static fs::path dir;
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  fuzz::init_mpi_once(argc, argv);
  scratch_dir() = fuzz::make_scratch_dir("job");
  // Relative paths in fuzzed jobs (inputs, workdirs) resolve here; validation only reads. The
  // seeds' csv inputs read events.csv, so that validation goes on past the inputs.
  fs::current_path(scratch_dir());
  std::ofstream(scratch_dir() / "events.csv") << "id,segment,x1,amount,label\n1,a,0.5,2.5,1\n";
  return 0;
}

namespace {

int test_one_input(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> profiles;
  if (const auto at = text.find("\n#profile\n"); at != std::string::npos) {
    const fs::path profile = scratch_dir() / "profile.yaml";
    std::ofstream(profile, std::ios::binary | std::ios::trunc) << text.substr(at + 10);
    profiles.push_back(profile.string());
    text.resize(at + 1);
  }
  std::vector<std::string> overrides;
  for (std::size_t line = 0; line < text.size();) {
    std::size_t end = text.find('\n', line);
    if (end == std::string::npos) end = text.size();
    if (std::string_view(text).substr(line, end - line).starts_with("#set ")) {
      overrides.push_back(text.substr(line + 5, end - line - 5));
    }
    line = end + 1;
  }

  pipeline::Job job;
  if (!fuzz::expect_clean("load_job", [&] {
        job = pipeline::load_job_from_string(text, "fuzz.yaml", profiles, overrides);
      })) {
    return 0;
  }
  pipeline::Job again;
  if (!fuzz::expect_clean("load_job(canonical_yaml)", [&] {
        again = pipeline::load_job_from_string(job.canonical_yaml, "canonical.yaml");
      })) {
    fuzz::fail("the canonical YAML of a loaded job does not load:\n" + job.canonical_yaml);
  }
  if (again.canonical_yaml != job.canonical_yaml) {
    fuzz::fail("the canonical YAML does not load back to the same job:\n" + job.canonical_yaml +
               "\n--- reloaded as ---\n" + again.canonical_yaml);
  }
  fuzz::expect_clean("validate_job_tables", [&] { pipeline::validate_job_tables(job); });
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::run_on_large_stack([&] { test_one_input(data, size); });
  return 0;
}
