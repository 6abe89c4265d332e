// Checksum stage: LRC, sums and table-driven CRCs, placed at either end of the payload.
#include "codecs/checksum.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

namespace dragoman::codecs {

namespace {

// Tables built at compile time from the polynomial (CRC RevEng catalogue parameters).
constexpr std::array<std::uint16_t, 256> crc16_reflected_table(std::uint16_t poly) {
  std::array<std::uint16_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint16_t c = static_cast<std::uint16_t>(i);
    for (int k = 0; k < 8; ++k) c = (c & 1) ? static_cast<std::uint16_t>((c >> 1) ^ poly) : c >> 1;
    t[i] = c;
  }
  return t;
}

constexpr std::array<std::uint16_t, 256> crc16_msb_table(std::uint16_t poly) {
  std::array<std::uint16_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint16_t c = static_cast<std::uint16_t>(i << 8);
    for (int k = 0; k < 8; ++k)
      c = (c & 0x8000) ? static_cast<std::uint16_t>((c << 1) ^ poly)
                       : static_cast<std::uint16_t>(c << 1);
    t[i] = c;
  }
  return t;
}

constexpr std::array<std::uint32_t, 256> crc32_reflected_table(std::uint32_t poly) {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
    t[i] = c;
  }
  return t;
}

constexpr auto modbus_table = crc16_reflected_table(0xA001);  // 0x8005 reflected
constexpr auto ccitt_table = crc16_msb_table(0x1021);
constexpr auto crc32_table = crc32_reflected_table(0xEDB88320);  // 0x04C11DB7 reflected

std::uint32_t compute_lrc(byte_view data) {
  std::uint32_t x = 0;
  for (byte b : data) x ^= b;
  return x;
}

std::uint32_t compute_sum256(byte_view data) {
  std::uint32_t s = 0;
  for (byte b : data) s += b;
  return s & 0xFF;
}

std::uint32_t compute_crc16_modbus(byte_view data) {
  std::uint16_t crc = 0xFFFF;
  for (byte b : data) crc = static_cast<std::uint16_t>((crc >> 8) ^ modbus_table[(crc ^ b) & 0xFF]);
  return crc;
}

std::uint16_t crc16_msb(std::uint16_t crc, byte_view data) {
  for (byte b : data)
    crc = static_cast<std::uint16_t>((crc << 8) ^ ccitt_table[((crc >> 8) ^ b) & 0xFF]);
  return crc;
}

std::uint32_t compute_crc16_ccitt_false(byte_view data) {
  return crc16_msb(0xFFFF, data);
}
std::uint32_t compute_crc16_xmodem(byte_view data) {
  return crc16_msb(0x0000, data);
}

std::uint32_t compute_crc32(byte_view data) {
  std::uint32_t crc = 0xFFFFFFFF;
  for (byte b : data) crc = (crc >> 8) ^ crc32_table[(crc ^ b) & 0xFF];
  return crc ^ 0xFFFFFFFF;
}

constexpr std::array<checksum_algorithm, 6> algorithms = {{
    {"lrc", 1, compute_lrc},
    {"crc16-modbus", 2, compute_crc16_modbus},
    {"crc16-ccitt-false", 2, compute_crc16_ccitt_false},
    {"crc16-xmodem", 2, compute_crc16_xmodem},
    {"crc32", 4, compute_crc32},
    {"sum256", 1, compute_sum256},
}};

constexpr char hex_upper[] = "0123456789ABCDEF";

// The value as 2 * width upper-case hex digits, most significant first: "4B37".
std::string value_hex(std::uint32_t v, std::size_t width) {
  std::string s;
  for (std::size_t i = 2 * width; i-- > 0;) s.push_back(hex_upper[(v >> (4 * i)) & 0x0F]);
  return s;
}

std::string plural_bytes(std::size_t n) {
  return std::to_string(n) + (n == 1 ? " byte" : " bytes");
}

std::uint32_t byte_swap(std::uint32_t v, std::size_t width) {
  std::uint32_t r = 0;
  for (std::size_t i = 0; i < width; ++i) r = (r << 8) | ((v >> (8 * i)) & 0xFF);
  return r;
}

class checksum_stage_impl final : public checksum_stage {
 public:
  checksum_stage_impl(const checksum_algorithm& algo, bool big_endian, bool hex,
                      std::size_t covers_from, bool at_start, std::size_t decimal_digits,
                      std::string prefix, std::string suffix)
      : algo_(algo),
        big_endian_(big_endian),
        hex_(hex),
        covers_from_(covers_from),
        at_start_(at_start),
        digits_(decimal_digits),
        prefix_(std::move(prefix)),
        suffix_(std::move(suffix)),
        value_length_(digits_ ? digits_
                      : hex   ? 2 * algo.width
                              : algo.width),
        check_length_(prefix_.size() + value_length_ + suffix_.size()) {}

  result<void> apply(byte_buffer& payload) const override {
    if (payload.size() < covers_from_)
      return make_error(errc::malformed, "checksum",
                        "payload is " + plural_bytes(payload.size()) +
                            ", shorter than covers_from " + std::to_string(covers_from_));
    const std::uint32_t v = algo_.compute(byte_view(payload).subspan(covers_from_));
    std::array<byte, 64> check{};
    std::copy(prefix_.begin(), prefix_.end(), check.begin());
    encode_value(v, check.data() + prefix_.size());
    std::copy(suffix_.begin(), suffix_.end(), check.begin() + prefix_.size() + value_length_);
    if (at_start_)
      payload.insert(payload.begin(), check.begin(), check.begin() + check_length_);
    else
      payload.insert(payload.end(), check.begin(), check.begin() + check_length_);
    return {};
  }

  result<byte_view> verify(byte_view payload) const override {
    if (payload.size() < check_length_ + covers_from_)
      return make_error(
          errc::malformed, "checksum",
          "payload is " + plural_bytes(payload.size()) + ", shorter than the " +
              std::to_string(check_length_) + "-byte " + std::string(algo_.name) + " check value" +
              (covers_from_ ? " plus covers_from " + std::to_string(covers_from_) : std::string()));
    const byte_view check = at_start_ ? payload.first(check_length_) : payload.last(check_length_);
    const byte_view body =
        at_start_ ? payload.subspan(check_length_) : payload.first(payload.size() - check_length_);
    std::uint32_t received = 0;
    const bool framed = std::equal(prefix_.begin(), prefix_.end(), check.begin()) &&
                        std::equal(suffix_.begin(), suffix_.end(), check.end() - suffix_.size());
    if (!framed || !decode_value(check.subspan(prefix_.size(), value_length_), received)) {
      std::string shown;
      for (byte b : check) shown.push_back(b >= 0x20 && b < 0x7F ? static_cast<char>(b) : '?');
      return make_error(errc::malformed, "checksum",
                        std::string(algo_.name) + " check value \"" + shown + "\" is not " +
                            (prefix_.empty() && suffix_.empty() ? std::string()
                                                                : "its prefix and suffix around ") +
                            std::to_string(value_length_) +
                            (digits_ ? " decimal digits"
                             : hex_  ? " hex digits"
                                     : " bytes"));
    }
    const std::uint32_t expected = algo_.compute(body.subspan(covers_from_));
    if (received != expected) {
      std::string m = std::string(algo_.name) + " mismatch: expected " + show(expected) +
                      ", received " + show(received);
      if (algo_.width > 1 && byte_swap(received, algo_.width) == expected)
        m += " (the bytes are swapped: check byte_order)";
      return make_error(errc::checksum_mismatch, "checksum", std::move(m));
    }
    return body;
  }

  boost::json::object describe() const override {
    boost::json::object o;
    o["type"] = algo_.name;
    o["byte_order"] = big_endian_ ? "big" : "little";
    o["encoding"] = digits_ ? "decimal" : hex_ ? "hex" : "binary";
    if (digits_) o["digits"] = digits_;
    if (!prefix_.empty()) o["prefix"] = prefix_;
    if (!suffix_.empty()) o["suffix"] = suffix_;
    o["covers_from"] = covers_from_;
    o["position"] = at_start_ ? "start" : "end";
    return o;
  }

 private:
  std::string show(std::uint32_t v) const {
    if (!digits_) return value_hex(v, algo_.width);
    std::string d = std::to_string(v);
    return std::string(digits_ > d.size() ? digits_ - d.size() : 0, '0') + d;
  }

  // Writes value_length_ bytes: the value's bytes in byte order, two hex digits per byte, or
  // digits_ decimal digits.
  void encode_value(std::uint32_t v, byte* out) const {
    if (digits_) {
      for (std::size_t i = digits_; i-- > 0; v /= 10) out[i] = static_cast<byte>('0' + v % 10);
      return;
    }
    for (std::size_t i = 0; i < algo_.width; ++i) {
      const std::size_t shift = 8 * (big_endian_ ? algo_.width - 1 - i : i);
      const byte b = static_cast<byte>(v >> shift);
      if (hex_) {
        out[2 * i] = static_cast<byte>(hex_upper[b >> 4]);
        out[2 * i + 1] = static_cast<byte>(hex_upper[b & 0x0F]);
      } else {
        out[i] = b;
      }
    }
  }

  // Reverse of encode_value; hex digits are accepted in either case on receipt.
  bool decode_value(byte_view check, std::uint32_t& v) const {
    v = 0;
    if (digits_) {
      for (byte b : check) {
        if (b < '0' || b > '9') return false;
        v = v * 10 + (b - '0');
      }
      return true;
    }
    for (std::size_t i = 0; i < algo_.width; ++i) {
      std::uint32_t b = 0;
      if (hex_) {
        const int hi = hex_value(static_cast<char>(check[2 * i]));
        const int lo = hex_value(static_cast<char>(check[2 * i + 1]));
        if (hi < 0 || lo < 0) return false;
        b = static_cast<std::uint32_t>(hi << 4 | lo);
      } else {
        b = check[i];
      }
      const std::size_t shift = 8 * (big_endian_ ? algo_.width - 1 - i : i);
      v |= b << shift;
    }
    return true;
  }

  const checksum_algorithm& algo_;
  bool big_endian_;
  bool hex_;
  std::size_t covers_from_;
  bool at_start_;
  std::size_t digits_;  // decimal encoding: this many digits; 0 for binary and hex
  std::string prefix_, suffix_;
  std::size_t value_length_;
  std::size_t check_length_;
};

std::string valid_names() {
  std::string s;
  for (const auto& a : algorithms) {
    if (!s.empty()) s.append(", ");
    s.append(a.name);
  }
  return s;
}

}  // namespace

const checksum_algorithm* find_checksum(std::string_view name) noexcept {
  for (const auto& a : algorithms)
    if (a.name == name) return &a;
  return nullptr;
}

std::vector<std::string_view> checksum_names() {
  std::vector<std::string_view> names;
  for (const auto& a : algorithms) names.push_back(a.name);
  return names;
}

std::unique_ptr<checksum_stage> make_checksum(config_object& cfg) {
  const std::size_t errors_before = cfg.diag().errors().size();
  const checksum_algorithm* algo = nullptr;
  if (!cfg.has("type")) {
    (void)cfg.require_string("type");
  } else if (auto type = cfg.get_optional_string("type")) {
    algo = find_checksum(*type);
    if (!algo) {
      std::string reason = "unknown checksum \"" + *type + "\", must be one of " + valid_names();
      // "CRC-16/CCITT" names different algorithms in different manuals: make the profile say which.
      if (*type == "crc16-ccitt" || *type == "crc16")
        reason += " (\"" + *type +
                  "\" is ambiguous: crc16-ccitt-false starts from FFFF, crc16-xmodem from 0000)";
      cfg.diag().error(cfg.child_path("type"), reason);
    }
  }
  const bool modbus = algo && algo->name == "crc16-modbus";
  // Modbus RTU sends its CRC low byte first; every other protocol we know of sends it big-endian.
  const std::string byte_order =
      cfg.get_enum("byte_order", {"big", "little"}, modbus ? "little" : "big");
  const std::string encoding = cfg.get_enum("encoding", {"binary", "hex", "decimal"}, "binary");
  // decimal: the value as this many decimal digits (FIX: 3), between optional prefix and suffix
  // bytes ("10=" and SOH) that the check value carries on the wire.
  const std::int64_t digits = cfg.get_int("digits", 3, 1, 10);
  if (cfg.has("digits") && encoding != "decimal")
    cfg.diag().error(cfg.child_path("digits"), "applies to \"encoding\": \"decimal\" only");
  const std::string prefix = cfg.get_bytes("prefix").value_or("");
  const std::string suffix = cfg.get_bytes("suffix").value_or("");
  if (prefix.size() + suffix.size() > 32)
    cfg.diag().error(cfg.child_path("prefix"), "prefix and suffix take at most 32 bytes together");
  const std::int64_t covers_from = cfg.get_int("covers_from", 0, 0, 16 * 1024 * 1024);
  const std::string position = cfg.get_enum("position", {"end", "start"}, "end");
  if (algo && encoding == "decimal") {
    const std::uint64_t largest = (std::uint64_t{1} << (8 * algo->width)) - 1;
    if (std::to_string(largest).size() > static_cast<std::size_t>(digits))
      cfg.diag().error(cfg.child_path("digits"),
                       std::string(algo->name) + " values reach " + std::to_string(largest) + ": " +
                           std::to_string(digits) + " digits are too few");
  }
  cfg.finish();
  if (!algo || cfg.diag().errors().size() != errors_before) return nullptr;
  return std::make_unique<checksum_stage_impl>(
      *algo, byte_order == "big", encoding == "hex", static_cast<std::size_t>(covers_from),
      position == "start", encoding == "decimal" ? static_cast<std::size_t>(digits) : 0, prefix,
      suffix);
}

std::unique_ptr<checksum_stage> make_checksum(const boost::json::value& value,
                                              std::string_view path, diagnostics& diag) {
  if (value.is_object()) {
    config_object cfg(value.get_object(), std::string(path), diag);
    return make_checksum(cfg);
  }
  if (value.is_string()) {
    if (value.get_string() == "none") return nullptr;
    boost::json::object obj;
    obj["type"] = value.get_string();
    // Report against the string itself, not a synthetic ".type" child.
    diagnostics local;
    config_object cfg(obj, {}, local);
    auto stage = make_checksum(cfg);
    for (const auto& e : local.errors()) {
      std::string_view reason = e;
      if (reason.starts_with("type: ")) reason.remove_prefix(6);
      diag.error(path, reason);
    }
    return stage;
  }
  diag.error(path, "must be \"none\", a checksum name or an object with \"type\"");
  return nullptr;
}

}  // namespace dragoman::codecs
