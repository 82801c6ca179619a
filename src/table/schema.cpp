#include "shardflow/table/schema.hpp"

#include <fmt/format.h>

#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"

namespace shardflow::table {

Schema::Schema(std::vector<Field> fields) {
  for (auto& f : fields)
    add(std::move(f));
}

std::optional<int> Schema::find(std::string_view name) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

int Schema::index_of(std::string_view name, std::string_view context) const {
  if (auto i = find(name)) return *i;
  const auto all = names();
  throw ConfigError("unknown column '{}' in {}{} (columns: {})", name, context,
                    did_you_mean(name, all), fmt::join(all, ", "));
}

std::vector<std::string> Schema::names() const {
  std::vector<std::string> out;
  out.reserve(fields_.size());
  for (const auto& f : fields_)
    out.push_back(f.name);
  return out;
}

void Schema::add(Field field) {
  if (find(field.name)) throw RuntimeError("duplicate column name '{}'", field.name);
  fields_.push_back(std::move(field));
}

std::string Schema::to_string() const {
  std::string out;
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (i) out += ", ";
    out += fields_[i].name;
    out += ':';
    out += table::to_string(fields_[i].type);
  }
  return out;
}

}  // namespace shardflow::table
