#pragma once
// A typed column of values with optional nulls.
//
// Physical storage by logical type:
//   int32 -> int32_t          int64, timestamp -> int64_t
//   float32 -> float          float64 -> double          bool -> uint8_t (0/1)
//   string  -> either dictionary codes (int32_t, with a shared Dictionary identical on all ranks)
//              or plain strings (PlainStrings: offsets + bytes) for high-cardinality data.
// Nulls: `validity()` is empty when the column has no nulls; otherwise it has one byte per row,
// 1 = valid. The value slot of a null row holds an unspecified (but initialized) value.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/table/buffer.hpp"
#include "shardflow/table/data_type.hpp"
#include "shardflow/table/dictionary.hpp"

namespace shardflow::table {

/// Variable-length strings: row i is chars[offsets[i], offsets[i+1]). Both are Buffers, so a
/// shuffle can place them in the shared heap where peers write their rows.
struct PlainStrings {
  Buffer<std::int64_t> offsets{0};
  Buffer<char> chars;

  idx_t size() const { return static_cast<idx_t>(offsets.size()) - 1; }
  std::string_view at(idx_t i) const {
    const auto b = offsets[static_cast<size_t>(i)];
    const auto e = offsets[static_cast<size_t>(i) + 1];
    return std::string_view(chars.data() + b, static_cast<size_t>(e - b));
  }
  void push_back(std::string_view s) {
    chars.insert(chars.end(), s.begin(), s.end());
    offsets.push_back(static_cast<std::int64_t>(chars.size()));
  }
};

class Column {
 public:
  using Storage = std::variant<Buffer<std::int32_t>, Buffer<std::int64_t>, Buffer<float>,
                               Buffer<double>, Buffer<std::uint8_t>, PlainStrings>;

  /// An empty column of `type`. Strings start dictionary-encoded with an empty dictionary.
  explicit Column(DataType type = DataType::kInt64);
  /// An empty plain (not dictionary-encoded) string column.
  static Column plain_strings();

  DataType type() const { return type_; }
  idx_t size() const;

  // ---- typed access -------------------------------------------------------------------------
  /// The value buffer; T must match the physical type (see above) or RuntimeError is thrown.
  /// Growing it leaves new values uninitialized (buffer.hpp).
  template <typename T>
  Buffer<T>& values() {
    auto* v = std::get_if<Buffer<T>>(&storage_);
    if (v == nullptr) throw_wrong_type(type_name<T>());
    return *v;
  }
  template <typename T>
  const Buffer<T>& values() const {
    const auto* v = std::get_if<Buffer<T>>(&storage_);
    if (v == nullptr) throw_wrong_type(type_name<T>());
    return *v;
  }
  Storage& storage() { return storage_; }
  const Storage& storage() const { return storage_; }

  // ---- strings ------------------------------------------------------------------------------
  bool is_dictionary_encoded() const {
    return type_ == DataType::kString && std::holds_alternative<Buffer<std::int32_t>>(storage_);
  }
  /// A string column held as plain strings (offsets and characters), not dictionary codes.
  bool is_plain_strings() const { return std::holds_alternative<PlainStrings>(storage_); }
  /// Codes of a dictionary-encoded string column.
  Buffer<std::int32_t>& codes() { return values<std::int32_t>(); }
  const Buffer<std::int32_t>& codes() const { return values<std::int32_t>(); }
  const DictionaryPtr& dictionary() const { return dictionary_; }
  void set_dictionary(DictionaryPtr dictionary) { dictionary_ = std::move(dictionary); }
  PlainStrings& plain() { return std::get<PlainStrings>(storage_); }
  const PlainStrings& plain() const { return std::get<PlainStrings>(storage_); }
  /// String value of row i in either encoding (string columns only).
  std::string_view string_at(idx_t i) const;

  // ---- nulls --------------------------------------------------------------------------------
  bool has_nulls() const { return !validity_.empty(); }
  bool is_valid(idx_t i) const { return validity_.empty() || validity_[static_cast<size_t>(i)]; }
  std::vector<std::uint8_t>& validity() { return validity_; }
  const std::vector<std::uint8_t>& validity() const { return validity_; }
  /// Allocates a validity vector (all valid) if there is none yet.
  void ensure_validity();
  /// Drops the validity vector if every row is valid.
  void compact_validity();

  // ---- generic access (slow path; not for hot loops) ----------------------------------------
  /// Numeric value of row i as double (numeric and timestamp columns; strings throw).
  double numeric_at(idx_t i) const;
  /// Text rendering of row i ("" for null), for CSV output, logs and tests.
  std::string to_string_at(idx_t i) const;

  // ---- bulk operations ----------------------------------------------------------------------
  /// A new column with rows `rows` in that order (same type, encoding and dictionary).
  Column take(std::span<const idx_t> rows) const;
  /// A new column in which row i of this column is row dest[i]; `dest` must be a permutation of
  /// 0..size()-1 (not checked). Reads this column in order and writes wherever dest points, so it
  /// beats take() when dest sends the rows to a few hundred sequential runs (a partitioning).
  Column scatter(std::span<const std::uint32_t> dest) const;
  /// Appends all rows of `other`, which must have the same type and encoding; dictionary columns
  /// must share the same dictionary contents.
  void append(const Column& other);
  void reserve(idx_t n);
  /// Bytes held (values + validity), for memory accounting.
  idx_t byte_size() const;

  /// Calls f(Buffer<T>&) for the value buffer, or f(PlainStrings&).
  template <typename F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), storage_);
  }
  template <typename F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), storage_);
  }

 private:
  template <typename T>
  static const char* type_name();
  [[noreturn]] void throw_wrong_type(const char* requested) const;

  DataType type_;
  Storage storage_;
  std::vector<std::uint8_t> validity_;
  DictionaryPtr dictionary_;
};

template <typename T>
const char* Column::type_name() {
  if constexpr (std::is_same_v<T, std::int32_t>)
    return "int32_t";
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return "int64_t";
  else if constexpr (std::is_same_v<T, float>)
    return "float";
  else if constexpr (std::is_same_v<T, double>)
    return "double";
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return "uint8_t";
  else
    return "unsupported";
}

}  // namespace shardflow::table
