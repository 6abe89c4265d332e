// Framing stage entry point: picks the framing type from the profile, plus helpers for all types.
#include "codecs/framing.hpp"

#include "codecs/framing_impl.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <cstring>

namespace dragoman::codecs {

namespace framing_detail {

std::string too_long_message(std::uint64_t frame_length, std::size_t max_frame_length) {
  return "frame of " + std::to_string(frame_length) + " bytes exceeds max_frame_length " +
         std::to_string(max_frame_length);
}

std::string byte_name(byte b) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s = "0x";
  s.push_back(digits[b >> 4]);
  s.push_back(digits[b & 0xF]);
  return s;
}

boost::json::value bytes_to_json(std::string_view bytes) {
  bool plain = true;
  for (char c : bytes)
    if (static_cast<unsigned char>(c) >= 0x80) plain = false;
  if (plain) return boost::json::string(bytes);
  boost::json::array a;
  for (char c : bytes) a.emplace_back(static_cast<std::int64_t>(static_cast<unsigned char>(c)));
  return a;
}

std::size_t find_byte(byte_view input, std::size_t from, byte b) noexcept {
  if (from >= input.size()) return input.size();
  const void* p = std::memchr(input.data() + from, b, input.size() - from);
  return p ? static_cast<std::size_t>(static_cast<const byte*>(p) - input.data()) : input.size();
}

codec_error encode_error(errc code, std::string message) {
  return make_error(code, "framing", std::move(message));
}

std::optional<frame_result> start_end_decoder::find_end(byte_view input, std::size_t& end) {
  if (input.empty()) return need_more();

  if (input[0] != m_.start) {
    const std::size_t start = find_byte(input, 0, m_.start);
    std::string message;
    if (!in_garbage_)
      message = std::string("discarding bytes before ") + m_.start_name + " (first byte " +
                byte_name(input[0]) + ")";
    in_garbage_ = start == input.size();
    searched_ = 0;
    return skip(start, errc::malformed, std::move(message));
  }
  in_garbage_ = false;

  end = find_byte(input, std::max<std::size_t>(searched_, 1), m_.end);
  if (end == input.size()) {
    if (input.size() - 1 > max_frame_length_) {
      discarding_ = true;
      searched_ = 0;
      return skip(input.size(), errc::frame_too_long,
                  "frame of more than " + std::to_string(max_frame_length_) +
                      " bytes exceeds max_frame_length " + std::to_string(max_frame_length_) +
                      " (no " + m_.end_name + " found); discarding to the next " + m_.end_short);
    }
    searched_ = input.size();
    return need_more();
  }
  const std::size_t length = end - 1;
  if (length > max_frame_length_) {
    discarding_ = true;
    searched_ = 0;
    return skip(end, errc::frame_too_long, too_long_message(length, max_frame_length_));
  }
  return std::nullopt;
}

}  // namespace framing_detail

namespace {

struct framing_type {
  std::string_view name;
  std::unique_ptr<framer> (*make)(config_object&);
};

// One line per framing type.
constexpr framing_type framing_types[] = {
    {"length_prefix", framing_detail::make_length_prefix_framer},
    {"delimiter", framing_detail::make_delimiter_framer},
    {"mllp", framing_detail::make_mllp_framer},
    {"stx_etx", framing_detail::make_stx_etx_framer},
    {"fixed_size", framing_detail::make_fixed_size_framer},
    {"line_blocks", framing_detail::make_line_blocks_framer},
    {"tag_value", framing_detail::make_tag_value_framer},
};

constexpr auto framing_names = [] {
  std::array<std::string_view, std::size(framing_types)> names{};
  for (std::size_t i = 0; i < names.size(); ++i) names[i] = framing_types[i].name;
  return names;
}();

}  // namespace

std::unique_ptr<framer> make_framer(config_object& cfg) {
  const std::size_t errors_before = cfg.diag().errors().size();
  std::unique_ptr<framer> f;
  bool known_type = false;
  if (!cfg.has("type")) {
    cfg.accept("type");
    cfg.diag().error(cfg.child_path("type"),
                     "is required (one of " + names_list(framing_names) + ")");
  } else {
    const std::string type = cfg.get_enum("type", framing_names, "");
    for (const auto& t : framing_types) {
      if (t.name != type) continue;
      known_type = true;
      f = t.make(cfg);
    }
  }
  // Typos are only checked once the type is known: otherwise every key of the intended type would
  // be reported as unknown on top of the real mistake.
  if (known_type) cfg.finish();
  if (cfg.diag().errors().size() > errors_before) return nullptr;
  return f;
}

}  // namespace dragoman::codecs
