// Reading profile JSON into stage configuration: typed getters that record every mistake by path.
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::codecs {

// Every mistake found while compiling a profile, each as "path: reason".
class diagnostics {
 public:
  void error(std::string_view path, std::string_view reason);
  bool ok() const noexcept { return errors_.empty(); }
  const std::vector<std::string>& errors() const noexcept { return errors_; }

 private:
  std::vector<std::string> errors_;
};

// "a, b, c": the names a key accepts, for messages.
std::string names_list(std::span<const std::string_view> names);

// A view of one JSON object at a path. Getters report wrong types and out-of-range values to the
// diagnostics and return the default; finish() reports keys nobody asked for (typos).
class config_object {
 public:
  config_object(const boost::json::object& obj, std::string path, diagnostics& diag);

  const std::string& path() const noexcept { return path_; }
  diagnostics& diag() const noexcept { return *diag_; }
  const boost::json::object& raw() const noexcept { return *obj_; }
  std::string child_path(std::string_view key) const;

  bool has(std::string_view key) const;
  // Marks the key as known without reading it.
  void accept(std::string_view key);
  // Marks every key as known: for an object whose type was wrong, where the keys cannot be judged
  // and reporting them as unknown would bury the one real mistake.
  void accept_all();
  const boost::json::value* find(std::string_view key);

  std::string get_string(std::string_view key, std::string_view fallback = {});
  std::optional<std::string> get_optional_string(std::string_view key);
  std::string require_string(std::string_view key);
  std::int64_t get_int(std::string_view key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max);
  std::optional<std::int64_t> get_optional_int(std::string_view key, std::int64_t min,
                                               std::int64_t max);
  std::int64_t require_int(std::string_view key, std::int64_t min, std::int64_t max);
  bool get_bool(std::string_view key, bool fallback);
  // A string that must be one of choices; reports "must be one of a, b, c".
  std::string get_enum(std::string_view key, std::initializer_list<std::string_view> choices,
                       std::string_view fallback);
  std::string get_enum(std::string_view key, std::span<const std::string_view> choices,
                       std::string_view fallback);
  // An object or array child; nullptr (and an error when required) if absent or of another type.
  const boost::json::object* get_object(std::string_view key, bool required = false);
  const boost::json::array* get_array(std::string_view key, bool required = false);
  // A byte sequence written as a string ("\r\n") or an array of byte values ([13, 10]).
  std::optional<std::string> get_bytes(std::string_view key);

  // Reports every key that no getter or accept() touched.
  void finish();

 private:
  void report(std::string_view key, std::string_view reason);

  const boost::json::object* obj_;
  std::string path_;
  diagnostics* diag_;
  std::vector<std::string> used_;
};

}  // namespace dragoman::codecs
