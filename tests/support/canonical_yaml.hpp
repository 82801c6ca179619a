#pragma once
// A registry spec's canonical form on one line (YAML flow style), for tests that compare what a
// job file says with what was parsed.

#include <yaml-cpp/yaml.h>

#include <string>

namespace shardflow::testing_util {

template <typename Spec>
std::string canonical(const Spec& spec) {
  YAML::Emitter out;
  out << YAML::Flow;
  spec.emit(out);
  return out.c_str();
}

}  // namespace shardflow::testing_util
