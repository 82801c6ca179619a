// libFuzzer harness for the filter / derive expression language (ops/expression.hpp): the input
// is the expression text. Parsing, type checking against a fixed schema and evaluation over a
// small table of edge values (INT64_MIN/MAX, NaN, -0.0, infinities, nulls, empty and
// dictionary-encoded strings) must either succeed or throw ConfigError / InputError (an integer
// overflow in a row); a successful evaluation must yield one value per row of the checked type.

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hpp"
#include "shardflow/ops/expression.hpp"
#include "shardflow/table/column.hpp"
#include "shardflow/table/dictionary.hpp"
#include "shardflow/table/table.hpp"

using namespace shardflow;
using table::Column;
using table::DataType;

namespace {

constexpr int kRows = 8;

table::Table make_table() {
  constexpr auto i64max = std::numeric_limits<std::int64_t>::max();
  constexpr auto i64min = std::numeric_limits<std::int64_t>::min();
  constexpr auto nan = std::numeric_limits<double>::quiet_NaN();
  constexpr auto inf = std::numeric_limits<double>::infinity();
  const std::int64_t ints[kRows] = {0, 1, -1, i64max, i64min, 9007199254740993, 42, -7};
  const std::int32_t int32s[kRows] = {0, 1, -1, 2147483647, -2147483647 - 1, 5, 0, 3};
  const double doubles[kRows] = {0.0, -0.0, nan, inf, -inf, 9007199254740992.0, 1e-310, 2.5};
  const float floats[kRows] = {0.5f, -1.0f, 3e38f, 0.0f, -0.0f, 1e-40f, 7.0f, 1.0f};
  const std::uint8_t bools[kRows] = {1, 0, 1, 0, 1, 0, 1, 0};
  const std::int32_t codes[kRows] = {0, 1, 2, 3, 0, 1, 2, 3};
  const char* words[kRows] = {"", "a", "O'Brien", "\xc3\xa9t\xc3\xa9", "zz", "a", " ", "DE"};
  const std::int64_t stamps[kRows] = {0, -1, 1700000000000000, i64max, i64min, 86400000000, 1, 2};
  const bool valid[kRows] = {true, true, true, true, true, true, false, true};

  Column i(DataType::kInt64), j(DataType::kInt32), x(DataType::kFloat64), f(DataType::kFloat32),
      b(DataType::kBool), s(DataType::kString), t(DataType::kTimestamp);
  Column p = Column::plain_strings();
  s.set_dictionary(std::make_shared<const table::Dictionary>(
      std::vector<std::string>{"AT", "BE", "DE", "\xc3\xa9"}));
  for (Column* c : {&i, &j, &x, &f, &b, &s, &t, &p})
    c->ensure_validity();
  for (int r = 0; r < kRows; ++r) {
    i.values<std::int64_t>().push_back(ints[r]);
    j.values<std::int32_t>().push_back(int32s[r]);
    x.values<double>().push_back(doubles[r]);
    f.values<float>().push_back(floats[r]);
    b.values<std::uint8_t>().push_back(bools[r]);
    s.codes().push_back(codes[r]);
    t.values<std::int64_t>().push_back(stamps[r]);
    p.plain().push_back(words[r]);
    // Each column has its null in a different row.
    int k = 0;
    for (Column* c : {&i, &j, &x, &f, &b, &s, &t, &p})
      c->validity().push_back(valid[(r + k++) % kRows] ? 1 : 0);
  }
  table::Table table;
  table.add_column("i", std::move(i));
  table.add_column("j", std::move(j));
  table.add_column("x", std::move(x));
  table.add_column("f", std::move(f));
  table.add_column("b", std::move(b));
  table.add_column("s", std::move(s));
  table.add_column("t", std::move(t));
  table.add_column("p", std::move(p));
  table.add_column("a b", table.column("i"));
  return table;
}

const table::Table& fixed_table() {
  static const table::Table table = make_table();
  return table;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  fuzz::init_mpi_once(argc, argv);
  fixed_table();
  return 0;
}

namespace {

int test_one_input(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const table::Table& table = fixed_table();
  std::shared_ptr<ops::Expression> expression;
  if (!fuzz::expect_clean("parse", [&] {
        expression = std::make_shared<ops::Expression>(ops::Expression::parse(text));
      })) {
    return 0;
  }
  if (expression->text() != text) fuzz::fail("text() differs from the parsed text");
  DataType type{};
  if (!fuzz::expect_clean("result_type", [&] { type = expression->result_type(table.schema()); }))
    return 0;
  for (const auto& name : expression->referenced_columns()) {
    if (!table.schema().find(name).has_value())
      fuzz::fail("referenced_columns() names an unknown column");
  }
  Column result;
  if (!fuzz::expect_clean("evaluate", [&] { result = expression->evaluate(table); })) return 0;
  if (result.size() != table.num_rows()) fuzz::fail("evaluate() returned the wrong row count");
  if (result.type() != type) fuzz::fail("evaluate() returned a type other than result_type()");
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::run_on_large_stack([&] { test_one_input(data, size); });
  return 0;
}
