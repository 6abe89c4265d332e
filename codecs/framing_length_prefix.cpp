// Length-prefix framing in Netty's LengthFieldBasedFrameDecoder vocabulary: a length field at an
// offset (binary, ASCII, BCD or hex digits), a length adjustment and bytes to strip.
#include "codecs/framing_impl.hpp"

#include <algorithm>
#include <limits>

namespace dragoman::codecs::framing_detail {

namespace {

enum class length_encoding { binary, ascii, bcd, hex };

const char* to_string(length_encoding e) noexcept {
  switch (e) {
    case length_encoding::binary:
      return "binary";
    case length_encoding::ascii:
      return "ascii";
    case length_encoding::bcd:
      return "bcd";
    case length_encoding::hex:
      return "hex";
  }
  return "binary";
}

// Length values beyond this are oversized whatever the configuration (max_frame_length and every
// offset are far smaller), which keeps all frame length arithmetic exact in int64.
constexpr std::uint64_t huge_length_value = std::uint64_t{1} << 62;

struct length_prefix_config {
  std::size_t offset = 0;
  std::size_t field_length = 0;  // bytes on the wire, for every encoding
  length_encoding encoding = length_encoding::binary;
  bool big_endian = true;
  std::int64_t adjustment = 0;  // as configured
  bool includes_header = false;
  // adjustment - (offset + field_length) when the length counts the header: Netty's
  // lengthAdjustment, so that frame length = offset + field_length + value + effective_adjustment.
  std::int64_t effective_adjustment = 0;
  std::size_t strip = 0;
  // The payload is the whole frame, length field included: decode strips nothing, encode writes
  // the length over the payload's own bytes at the field's place.
  bool in_payload = false;
  std::size_t max_frame_length = 0;
  std::uint64_t max_value = 0;  // the largest value the field can hold

  std::size_t header_length() const noexcept { return offset + field_length; }
};

std::uint64_t max_value_of(length_encoding e, std::size_t n) {
  std::uint64_t v = 1;
  auto power = [&](std::uint64_t base, std::size_t digits) {
    std::uint64_t p = 1;
    for (std::size_t i = 0; i < digits; ++i) {
      if (p > std::numeric_limits<std::uint64_t>::max() / base)
        return std::numeric_limits<std::uint64_t>::max();
      p *= base;
    }
    return p - 1;
  };
  switch (e) {
    case length_encoding::binary:
      v = power(256, n);
      break;
    case length_encoding::ascii:
      v = power(10, n);
      break;
    case length_encoding::bcd:
      v = power(10, 2 * n);
      break;
    case length_encoding::hex:
      v = power(16, n);
      break;
  }
  return v;
}

std::string field_name(const length_prefix_config& c) {
  const std::string n = std::to_string(c.field_length);
  switch (c.encoding) {
    case length_encoding::binary:
      return "a " + n + "-byte length";
    case length_encoding::ascii:
      return "a " + n + "-digit ASCII length";
    case length_encoding::bcd:
      return "a " + n + "-byte BCD length (" + std::to_string(2 * c.field_length) + " digits)";
    case length_encoding::hex:
      return "a " + n + "-digit hex length";
  }
  return "the length field";
}

std::string describe_byte(byte b) {
  std::string s = byte_name(b);
  if (b >= 0x20 && b < 0x7F) {
    s += " ('";
    s.push_back(static_cast<char>(b));
    s += "')";
  }
  return s;
}

// Reads the length field; on a byte that is not a digit of the encoding, returns false and says
// which byte it was (there is no resynchronising after that: the stream position is lost).
bool read_length(const length_prefix_config& c, byte_view field, std::uint64_t& value,
                 std::string& error) {
  value = 0;
  for (std::size_t i = 0; i < field.size(); ++i) {
    const std::size_t at =
        c.encoding == length_encoding::binary && !c.big_endian ? field.size() - 1 - i : i;
    const byte b = field[at];
    switch (c.encoding) {
      case length_encoding::binary:
        value = (value << 8) | b;
        break;
      case length_encoding::ascii:
        if (b < '0' || b > '9') {
          error = "length field byte " + std::to_string(at) + " is " + describe_byte(b) +
                  ", not an ASCII digit";
          return false;
        }
        value = value * 10 + (b - '0');
        break;
      case length_encoding::hex: {
        int d = -1;
        if (b >= '0' && b <= '9') d = b - '0';
        if (b >= 'a' && b <= 'f') d = b - 'a' + 10;
        if (b >= 'A' && b <= 'F') d = b - 'A' + 10;
        if (d < 0) {
          error = "length field byte " + std::to_string(at) + " is " + describe_byte(b) +
                  ", not a hex digit";
          return false;
        }
        value = value * 16 + static_cast<std::uint64_t>(d);
        break;
      }
      case length_encoding::bcd:
        if ((b >> 4) > 9 || (b & 0xF) > 9) {
          error = "length field byte " + std::to_string(at) + " is " + byte_name(b) +
                  ", not two BCD digits";
          return false;
        }
        value = value * 100 + (b >> 4) * 10 + (b & 0xF);
        break;
    }
  }
  return true;
}

void write_length(const length_prefix_config& c, std::uint64_t value, byte* out) {
  const std::size_t n = c.field_length;
  for (std::size_t i = 0; i < n; ++i) {
    // Fill from the least significant end.
    const std::size_t at = c.encoding == length_encoding::binary && !c.big_endian ? i : n - 1 - i;
    switch (c.encoding) {
      case length_encoding::binary:
        out[at] = static_cast<byte>(value & 0xFF);
        value >>= 8;
        break;
      case length_encoding::ascii:
        out[at] = static_cast<byte>('0' + value % 10);
        value /= 10;
        break;
      case length_encoding::hex:
        out[at] = static_cast<byte>("0123456789ABCDEF"[value % 16]);
        value /= 16;
        break;
      case length_encoding::bcd:
        out[at] = static_cast<byte>(((value / 10) % 10) << 4 | (value % 10));
        value /= 100;
        break;
    }
  }
}

class length_prefix_decoder final : public frame_decoder {
 public:
  explicit length_prefix_decoder(std::shared_ptr<const length_prefix_config> c)
      : c_(std::move(c)) {}

  frame_result decode(byte_view input) override {
    const length_prefix_config& c = *c_;
    if (discard_remaining_ > 0) {
      if (input.empty()) return need_more();
      const auto n =
          static_cast<std::size_t>(std::min<std::uint64_t>(discard_remaining_, input.size()));
      discard_remaining_ -= n;
      return skip(n, errc::frame_too_long, {});
    }
    const std::size_t header = c.header_length();
    if (input.size() < header) return need_more();

    std::uint64_t value = 0;
    std::string error;
    if (!read_length(c, input.subspan(c.offset, c.field_length), value, error))
      return fatal(errc::malformed, std::move(error));

    const std::int64_t base = static_cast<std::int64_t>(header) + c.effective_adjustment;
    std::uint64_t frame_length = 0;
    if (value > huge_length_value) {
      frame_length = base >= 0 && value > std::numeric_limits<std::uint64_t>::max() -
                                              static_cast<std::uint64_t>(base)
                         ? std::numeric_limits<std::uint64_t>::max()
                         : value + static_cast<std::uint64_t>(base);
    } else {
      const std::int64_t adjusted = static_cast<std::int64_t>(value) + base;
      if (adjusted < static_cast<std::int64_t>(header))
        return fatal(errc::malformed, "length " + std::to_string(value) + " gives a frame of " +
                                          std::to_string(adjusted) +
                                          " bytes, shorter than its own " + std::to_string(header) +
                                          "-byte header");
      frame_length = static_cast<std::uint64_t>(adjusted);
    }

    if (frame_length > c.max_frame_length) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(frame_length, input.size()));
      discard_remaining_ = frame_length - n;
      return skip(n, errc::frame_too_long, too_long_message(frame_length, c.max_frame_length));
    }
    if (input.size() < frame_length) return need_more();
    const auto end = static_cast<std::size_t>(frame_length);
    // Refused when built: strip never exceeds the shortest frame a valid length can describe.
    if (c.strip > end)
      return fatal(errc::malformed, "frame of " + std::to_string(end) +
                                        " bytes is shorter than initial_bytes_to_strip " +
                                        std::to_string(c.strip));
    return frame_of(input, c.strip, end, end);
  }

 private:
  std::shared_ptr<const length_prefix_config> c_;
  std::uint64_t discard_remaining_ = 0;
};

class length_prefix_framer final : public framer {
 public:
  explicit length_prefix_framer(std::shared_ptr<const length_prefix_config> c) : c_(std::move(c)) {}

  // The payload is the frame without its length field: the first length_field_offset bytes of
  // the payload stay in front of the field, the rest follows it.
  result<void> encode(byte_view payload, byte_buffer& out) const override {
    const length_prefix_config& c = *c_;
    if (payload.size() < c.offset)
      return encode_error(errc::invalid_field, "payload of " + std::to_string(payload.size()) +
                                                   " bytes is shorter than length_field_offset " +
                                                   std::to_string(c.offset));
    if (c.in_payload) return encode_in_place(payload, out);
    const std::uint64_t frame_length = std::uint64_t{payload.size()} + c.field_length;
    if (frame_length > c.max_frame_length)
      return encode_error(errc::frame_too_long, too_long_message(frame_length, c.max_frame_length));
    const std::int64_t value = static_cast<std::int64_t>(payload.size()) -
                               static_cast<std::int64_t>(c.offset) - c.effective_adjustment;
    if (value < 0)
      return encode_error(errc::invalid_field, "payload of " + std::to_string(payload.size()) +
                                                   " bytes is too short for length_adjustment " +
                                                   std::to_string(c.adjustment));
    const std::size_t start = out.size();
    out.reserve(start + static_cast<std::size_t>(frame_length));
    out.insert(out.end(), payload.begin(), payload.begin() + static_cast<long>(c.offset));
    out.resize(out.size() + c.field_length);
    write_length(c, static_cast<std::uint64_t>(value), out.data() + start + c.offset);
    out.insert(out.end(), payload.begin() + static_cast<long>(c.offset), payload.end());
    return {};
  }

  std::unique_ptr<frame_decoder> make_decoder() const override {
    return std::make_unique<length_prefix_decoder>(c_);
  }

  // length_in_payload: the payload is the frame; its bytes at the length field are replaced.
  result<void> encode_in_place(byte_view payload, byte_buffer& out) const {
    const length_prefix_config& c = *c_;
    const std::size_t header = c.header_length();
    if (payload.size() < header)
      return encode_error(errc::invalid_field, "payload of " + std::to_string(payload.size()) +
                                                   " bytes is shorter than its " +
                                                   std::to_string(header) + "-byte header");
    if (payload.size() > c.max_frame_length)
      return encode_error(errc::frame_too_long,
                          too_long_message(payload.size(), c.max_frame_length));
    const std::int64_t value = static_cast<std::int64_t>(payload.size()) -
                               static_cast<std::int64_t>(header) - c.effective_adjustment;
    if (value < 0)
      return encode_error(errc::invalid_field, "payload of " + std::to_string(payload.size()) +
                                                   " bytes is too short for length_adjustment " +
                                                   std::to_string(c.adjustment));
    const std::size_t start = out.size();
    out.insert(out.end(), payload.begin(), payload.end());
    write_length(c, static_cast<std::uint64_t>(value), out.data() + start + c.offset);
    return {};
  }

  std::size_t max_frame_length() const noexcept override { return c_->max_frame_length; }

  boost::json::object describe() const override {
    const length_prefix_config& c = *c_;
    boost::json::object o;
    o["type"] = "length_prefix";
    o["length_field_offset"] = c.offset;
    o["length_field_length"] = c.field_length;
    o["length_encoding"] = to_string(c.encoding);
    if (c.encoding == length_encoding::binary) o["byte_order"] = c.big_endian ? "big" : "little";
    o["length_adjustment"] = c.adjustment;
    o["length_includes_header"] = c.includes_header;
    o["initial_bytes_to_strip"] = c.strip;
    if (c.in_payload) o["length_in_payload"] = true;
    o["max_frame_length"] = c.max_frame_length;
    return o;
  }

 private:
  std::shared_ptr<const length_prefix_config> c_;
};

}  // namespace

std::unique_ptr<framer> make_length_prefix_framer(config_object& cfg) {
  diagnostics& diag = cfg.diag();
  const std::size_t errors_before = diag.errors().size();
  auto c = std::make_shared<length_prefix_config>();

  c->offset = static_cast<std::size_t>(cfg.get_int("length_field_offset", 0, 0, 65535));
  const std::string encoding =
      cfg.get_enum("length_encoding", {"binary", "ascii", "bcd", "hex"}, "binary");
  if (encoding == "ascii") c->encoding = length_encoding::ascii;
  if (encoding == "bcd") c->encoding = length_encoding::bcd;
  if (encoding == "hex") c->encoding = length_encoding::hex;

  // The widest field whose largest value still fits in 64 bits.
  std::int64_t widest = 8;
  if (c->encoding == length_encoding::ascii) widest = 19;
  if (c->encoding == length_encoding::bcd) widest = 9;
  if (c->encoding == length_encoding::hex) widest = 16;
  const std::int64_t field_length = cfg.require_int("length_field_length", 1, widest);
  if (c->encoding == length_encoding::binary && cfg.has("length_field_length") &&
      (field_length == 5 || field_length == 6 || field_length == 7))
    diag.error(cfg.child_path("length_field_length"),
               "must be 1, 2, 3, 4 or 8 for a binary length");
  c->field_length = static_cast<std::size_t>(field_length);

  c->adjustment =
      cfg.get_int("length_adjustment", 0, -max_frame_length_limit, max_frame_length_limit);
  c->includes_header = cfg.get_bool("length_includes_header", false);
  const auto strip = cfg.get_optional_int("initial_bytes_to_strip", 0, max_frame_length_limit);
  c->in_payload = cfg.get_bool("length_in_payload", false);
  if (c->in_payload && strip && *strip != 0)
    diag.error(cfg.child_path("initial_bytes_to_strip"),
               "must be 0 with length_in_payload (the payload is the whole frame)");
  c->max_frame_length =
      static_cast<std::size_t>(cfg.require_int("max_frame_length", 1, max_frame_length_limit));
  // The checks below combine the sizes read so far; with one of them wrong they would report
  // consequences of that mistake rather than mistakes of their own.
  const bool sizes_ok = diag.errors().size() == errors_before;

  if (c->encoding != length_encoding::binary && cfg.has("byte_order")) {
    cfg.accept("byte_order");
    diag.error(cfg.child_path("byte_order"), "only applies to length_encoding binary");
  } else {
    c->big_endian = cfg.get_enum("byte_order", {"big", "little"}, "big") == "big";
  }
  if (!sizes_ok) return nullptr;

  const std::size_t header = c->header_length();
  c->strip = strip ? static_cast<std::size_t>(*strip) : c->in_payload ? 0 : header;
  c->effective_adjustment =
      c->adjustment - (c->includes_header ? static_cast<std::int64_t>(header) : 0);
  c->max_value = max_value_of(c->encoding, c->field_length);

  // Every sum below stays far inside int64: max_value is capped where it would matter.
  const std::int64_t max_value =
      static_cast<std::int64_t>(std::min<std::uint64_t>(c->max_value, huge_length_value));
  const std::int64_t h = static_cast<std::int64_t>(header);
  const std::int64_t largest_frame = h + max_value + c->effective_adjustment;
  const std::int64_t shortest_frame = h + std::max<std::int64_t>(c->effective_adjustment, 0);

  if (largest_frame < h) {
    std::string reason = std::to_string(c->adjustment) + " leaves no valid frame: even the " +
                         "largest length " + std::to_string(c->max_value) +
                         " gives a frame shorter than its " + std::to_string(header) +
                         "-byte header";
    if (c->includes_header) reason += " (length_includes_header subtracts the header as well)";
    diag.error(cfg.child_path("length_adjustment"), reason);
    return nullptr;
  }
  if (static_cast<std::int64_t>(c->strip) > shortest_frame) {
    diag.error(cfg.child_path("initial_bytes_to_strip"),
               std::to_string(c->strip) + " is larger than the header (" +
                   std::to_string(shortest_frame) +
                   " bytes: length_field_offset + length_field_length" +
                   (c->effective_adjustment > 0 ? " + length_adjustment" : "") + ")");
  }
  if (static_cast<std::int64_t>(c->max_frame_length) < shortest_frame) {
    diag.error(cfg.child_path("max_frame_length"), std::to_string(c->max_frame_length) +
                                                       " is smaller than the shortest frame (" +
                                                       std::to_string(shortest_frame) + " bytes)");
  } else if (static_cast<std::int64_t>(c->max_frame_length) > largest_frame) {
    diag.error(cfg.child_path("max_frame_length"),
               "exceeds what " + field_name(*c) + " can express (" + std::to_string(c->max_value) +
                   "), the largest frame it can describe is " + std::to_string(largest_frame) +
                   " bytes");
  }
  if (diag.errors().size() > errors_before) return nullptr;
  return std::make_unique<length_prefix_framer>(std::move(c));
}

}  // namespace dragoman::codecs::framing_detail
