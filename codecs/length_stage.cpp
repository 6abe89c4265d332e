// Length stage: a decimal text length field inserted after the first fields, checked on decode.
#include "codecs/length_stage.hpp"

#include "codecs/layout_impl.hpp"

#include <charconv>
#include <string>

namespace dragoman::codecs {

std::size_t length_stage::field_start(byte_view payload) const noexcept {
  std::size_t at = 0;
  for (std::size_t k = 0; k < after_; ++k) {
    while (at < payload.size() && payload[at] != static_cast<byte>(separator_)) ++at;
    if (at == payload.size()) return static_cast<std::size_t>(-1);
    ++at;
  }
  return at;
}

result<void> length_stage::apply(byte_buffer& payload) const {
  const std::size_t at = field_start(payload);
  if (at == static_cast<std::size_t>(-1))
    return make_error(
        errc::malformed, "length",
        "payload has fewer than " + std::to_string(after_) + " fields before the length field");
  std::string field = prefix_ + std::to_string(payload.size() - at);
  field.push_back(separator_);
  payload.insert(payload.begin() + static_cast<std::ptrdiff_t>(at), field.begin(), field.end());
  return {};
}

result<void> length_stage::verify(byte_view payload) const {
  const std::size_t at = field_start(payload);
  const std::string_view s(reinterpret_cast<const char*>(payload.data()), payload.size());
  if (at == static_cast<std::size_t>(-1) || s.substr(at, prefix_.size()) != prefix_)
    return make_error(errc::malformed, "length",
                      "no length field " + layout_detail::quote_bytes(prefix_) + " after field " +
                          std::to_string(after_));
  const std::size_t digits = at + prefix_.size();
  const std::size_t end = s.find(separator_, digits);
  std::uint64_t n = 0;
  auto r = std::from_chars(s.data() + digits, s.data() + (end == s.npos ? s.size() : end), n);
  if (end == s.npos || end == digits || end - digits > 10 || r.ec != std::errc() ||
      r.ptr != s.data() + end)
    return make_error(
        errc::malformed, "length",
        "length field " +
            layout_detail::quote_bytes(s.substr(at, std::min<std::size_t>(s.size() - at, 16))) +
            " does not hold decimal digits ended by the separator");
  const std::size_t counted = s.size() - end - 1;
  if (n != counted)
    return make_error(errc::malformed, "length",
                      "length field says " + std::to_string(n) + " bytes, " +
                          std::to_string(counted) + " follow it");
  return {};
}

boost::json::object length_stage::describe() const {
  boost::json::object o;
  o["type"] = "text";
  o["prefix"] = prefix_;
  o["separator"] = layout_detail::quote_bytes(std::string(1, separator_));
  o["after_fields"] = after_;
  return o;
}

std::unique_ptr<length_stage> make_length_stage(config_object& cfg) {
  const std::size_t errors_before = cfg.diag().errors().size();
  (void)cfg.get_enum("type", {"text"}, "text");
  const std::string prefix = cfg.get_bytes("prefix").value_or("");
  std::string separator = "\x01";
  if (cfg.has("separator")) {
    auto s = cfg.get_bytes("separator");
    if (!s || s->size() != 1)
      cfg.diag().error(cfg.child_path("separator"), "must be one byte");
    else
      separator = *s;
  }
  const auto after = cfg.get_int("after_fields", 1, 0, 64);
  cfg.finish();
  if (cfg.diag().errors().size() != errors_before) return nullptr;
  return std::make_unique<length_stage>(prefix, separator[0], static_cast<std::size_t>(after));
}

}  // namespace dragoman::codecs
