// Typed, path-reporting reads of profile JSON.
#include "codecs/config.hpp"
#include "codecs/result.hpp"

#include <algorithm>

namespace dragoman::codecs {

namespace json = boost::json;

const char* to_string(errc e) noexcept {
  switch (e) {
    case errc::invalid_field:
      return "invalid_field";
    case errc::missing_field:
      return "missing_field";
    case errc::unmappable_char:
      return "unmappable_char";
    case errc::malformed:
      return "malformed";
    case errc::checksum_mismatch:
      return "checksum_mismatch";
    case errc::frame_too_long:
      return "frame_too_long";
    case errc::unknown_message:
      return "unknown_message";
  }
  return "malformed";
}

void diagnostics::error(std::string_view path, std::string_view reason) {
  std::string line;
  line.reserve(path.size() + reason.size() + 2);
  line.append(path);
  if (!path.empty()) line.append(": ");
  line.append(reason);
  errors_.push_back(std::move(line));
}

config_object::config_object(const json::object& obj, std::string path, diagnostics& diag)
    : obj_(&obj), path_(std::move(path)), diag_(&diag) {}

std::string config_object::child_path(std::string_view key) const {
  std::string p = path_;
  if (!p.empty()) p.push_back('.');
  p.append(key);
  return p;
}

void config_object::report(std::string_view key, std::string_view reason) {
  diag_->error(child_path(key), reason);
}

bool config_object::has(std::string_view key) const {
  return obj_->contains(key);
}

void config_object::accept(std::string_view key) {
  if (std::find(used_.begin(), used_.end(), key) == used_.end()) used_.emplace_back(key);
}

void config_object::accept_all() {
  for (const auto& kv : *obj_) accept(kv.key());
}

const json::value* config_object::find(std::string_view key) {
  accept(key);
  return obj_->if_contains(key);
}

std::optional<std::string> config_object::get_optional_string(std::string_view key) {
  const json::value* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    report(key, "must be a string");
    return std::nullopt;
  }
  return std::string(v->get_string());
}

std::string config_object::get_string(std::string_view key, std::string_view fallback) {
  auto s = get_optional_string(key);
  return s ? *s : std::string(fallback);
}

std::string config_object::require_string(std::string_view key) {
  if (!has(key)) {
    accept(key);
    report(key, "is required");
    return {};
  }
  return get_string(key);
}

std::optional<std::int64_t> config_object::get_optional_int(std::string_view key, std::int64_t min,
                                                            std::int64_t max) {
  const json::value* v = find(key);
  if (!v) return std::nullopt;
  std::int64_t n = 0;
  if (v->is_int64()) {
    n = v->get_int64();
  } else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    n = static_cast<std::int64_t>(v->get_uint64());
  } else {
    report(key, "must be an integer");
    return std::nullopt;
  }
  if (n < min) {
    report(key, min == 1 ? std::string("must be > 0") : "must be >= " + std::to_string(min));
    return std::nullopt;
  }
  if (n > max) {
    report(key, "must be <= " + std::to_string(max));
    return std::nullopt;
  }
  return n;
}

std::int64_t config_object::get_int(std::string_view key, std::int64_t fallback, std::int64_t min,
                                    std::int64_t max) {
  auto n = get_optional_int(key, min, max);
  return n ? *n : fallback;
}

std::int64_t config_object::require_int(std::string_view key, std::int64_t min, std::int64_t max) {
  if (!has(key)) {
    accept(key);
    report(key, "is required");
    return min;
  }
  return get_int(key, min, min, max);
}

bool config_object::get_bool(std::string_view key, bool fallback) {
  const json::value* v = find(key);
  if (!v) return fallback;
  if (!v->is_bool()) {
    report(key, "must be true or false");
    return fallback;
  }
  return v->get_bool();
}

std::string names_list(std::span<const std::string_view> names) {
  std::string out;
  for (auto n : names) {
    if (!out.empty()) out.append(", ");
    out.append(n);
  }
  return out;
}

std::string config_object::get_enum(std::string_view key,
                                    std::initializer_list<std::string_view> choices,
                                    std::string_view fallback) {
  return get_enum(key, std::span<const std::string_view>(choices.begin(), choices.size()),
                  fallback);
}

std::string config_object::get_enum(std::string_view key, std::span<const std::string_view> choices,
                                    std::string_view fallback) {
  auto s = get_optional_string(key);
  if (!s) return std::string(fallback);
  for (auto c : choices)
    if (c == *s) return *s;
  report(key, "unknown value \"" + *s + "\", must be one of " + names_list(choices));
  return std::string(fallback);
}

const json::object* config_object::get_object(std::string_view key, bool required) {
  const json::value* v = find(key);
  if (!v) {
    if (required) report(key, "is required");
    return nullptr;
  }
  if (!v->is_object()) {
    report(key, "must be an object");
    return nullptr;
  }
  return &v->get_object();
}

const json::array* config_object::get_array(std::string_view key, bool required) {
  const json::value* v = find(key);
  if (!v) {
    if (required) report(key, "is required");
    return nullptr;
  }
  if (!v->is_array()) {
    report(key, "must be an array");
    return nullptr;
  }
  return &v->get_array();
}

std::optional<std::string> config_object::get_bytes(std::string_view key) {
  const json::value* v = find(key);
  if (!v) return std::nullopt;
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_array()) {
    std::string out;
    for (const auto& b : v->get_array()) {
      if (!b.is_int64() || b.get_int64() < 0 || b.get_int64() > 255) {
        report(key, "must be a string or an array of byte values 0..255");
        return std::nullopt;
      }
      out.push_back(static_cast<char>(b.get_int64()));
    }
    return out;
  }
  report(key, "must be a string or an array of byte values 0..255");
  return std::nullopt;
}

void config_object::finish() {
  for (const auto& kv : *obj_) {
    if (std::find(used_.begin(), used_.end(), kv.key()) == used_.end())
      report(kv.key(), "unknown key");
  }
}

}  // namespace dragoman::codecs
