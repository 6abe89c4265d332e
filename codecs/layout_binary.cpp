// Binary layout: integers of 1..8 bytes in either byte order, bit fields, bitmaps (coils) and
// arrays whose count or byte length another field carries, derived on encode. Its configuration
// reader is in layout_binary_config.cpp.
#include "codecs/layout_binary_impl.hpp"
#include "codecs/layout_impl.hpp"

#include "codecs/json_text.hpp"

#include <charconv>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::codecs {

namespace {

using namespace binary_detail;
namespace json = boost::json;

constexpr char hex_digits[] = "0123456789abcdef";

std::string at_offset(std::size_t offset) {
  return " at offset " + std::to_string(offset);
}

std::uint64_t read_uint(const byte* p, std::size_t n, bool little) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = v << 8 | p[little ? n - 1 - i : i];
  return v;
}

// Writes v in n bytes at p (which must have them).
void put_uint(byte* p, std::uint64_t v, std::size_t n, bool little) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    p[little ? i : n - 1 - i] = static_cast<byte>(v & 0xFF);
    v >>= 8;
  }
}

void write_uint(byte_buffer& out, std::uint64_t v, std::size_t n, bool little) {
  const std::size_t start = out.size();
  out.resize(start + n);
  put_uint(out.data() + start, v, n, little);
}

// The largest unsigned value of `bits` bits.
std::uint64_t max_of_bits(unsigned bits) noexcept {
  return bits >= 64 ? std::numeric_limits<std::uint64_t>::max() : (std::uint64_t{1} << bits) - 1;
}

unsigned bits_of(const binary_field& f) noexcept {
  return f.type == field_type::bits ? f.bits : static_cast<unsigned>(f.size * 8);
}

// A signed value of `bits` bits (two's complement) from its wire form.
std::int64_t sign_extend(std::uint64_t v, unsigned bits) noexcept {
  if (bits >= 64) return static_cast<std::int64_t>(v);
  const std::uint64_t sign = std::uint64_t{1} << (bits - 1);
  return static_cast<std::int64_t>((v ^ sign) - sign);
}

void append_decimal(std::string& out, const binary_field& f, std::uint64_t wire) {
  char buf[24];
  std::to_chars_result r;
  if (f.type == field_type::int_)
    r = std::to_chars(buf, buf + sizeof buf, sign_extend(wire, bits_of(f)));
  else
    r = std::to_chars(buf, buf + sizeof buf, wire);
  out.append(buf, r.ptr);
}

// The wire form of an integer written as text ("-12", "+7", "0042"), or why it cannot be.
bool parse_integer(const binary_field& f, std::string_view text, std::uint64_t& wire,
                   std::string& why) {
  const bool is_signed = f.type == field_type::int_;
  bool negative = false;
  std::string_view digits = text;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  std::uint64_t magnitude = 0;
  auto r = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude);
  if (digits.empty() || r.ptr != digits.data() + digits.size() ||
      (r.ec != std::errc() && r.ec != std::errc::result_out_of_range)) {
    why = "must be an integer, not \"" + std::string(text) + "\"";
    return false;
  }
  const unsigned bits = bits_of(f);
  const std::string range = is_signed
                                ? std::to_string(sign_extend(max_of_bits(bits - 1) + 1, bits)) +
                                      ".." + std::to_string(max_of_bits(bits - 1))
                                : "0.." + std::to_string(max_of_bits(bits));
  if (r.ec == std::errc::result_out_of_range || (negative && magnitude != 0 && !is_signed) ||
      (!negative && magnitude > (is_signed ? max_of_bits(bits - 1) : max_of_bits(bits))) ||
      (negative && is_signed && magnitude > max_of_bits(bits - 1) + 1)) {
    why = "out of range: " + std::string(text) + " is not in " + range;
    return false;
  }
  wire = negative ? (~magnitude + 1) & max_of_bits(bits) : magnitude;
  return true;
}

class binary_layout final : public layout {
 public:
  binary_layout(std::vector<binary_field> fields, std::vector<bits_group> groups,
                bool allow_trailing)
      : fields_(std::move(fields)), groups_(std::move(groups)), allow_trailing_(allow_trailing) {}

  result<void> encode(const record& r, byte_buffer& out) const override {
    thread_local scratch s;
    s.reset(fields_.size());
    // Scalars first: conditions and counts are judged on them.
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      const binary_field& f = fields_[i];
      if (!f.is_integer() || f.array || !r.has(i) || f.measures_rest) continue;
      if (auto done = scalar_wire(f, r.get(i), s.ints[i]); !done) return done;
      s.given[i] = 1;
    }
    for (std::size_t i = 0; i < fields_.size(); ++i) s.active[i] = active(fields_[i], s);
    // Arrays, and the counts and lengths they give their fields.
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      const binary_field& f = fields_[i];
      if (!s.active[i] || !(f.array || f.type == field_type::bytes)) continue;
      if (auto done = parse_value(f, r.get(i), s.elements[i]); !done) return done;
      const std::uint64_t count = s.elements[i].size();
      if (f.count_from != none)
        if (auto done = derive(f.count_from, count, f, "elements", s); !done) return done;
      if (f.length_from != none)
        if (auto done = derive(f.length_from, wire_bytes(f, count), f, "bytes", s); !done)
          return done;
    }
    const std::size_t start = out.size();
    std::size_t rest_at = none;  // where the length_of rest field is written
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      const binary_field& f = fields_[i];
      if (!s.active[i]) continue;
      if (f.measures_rest) rest_at = i;
      if (f.measures_rest) s.offsets_rest = out.size() - start;
      switch (f.type) {
        case field_type::bits:
          if (i == groups_[f.group].first) write_group(groups_[f.group], s, out);
          break;
        case field_type::uint_:
        case field_type::int_:
          if (!f.array) {
            write_uint(out, s.ints[i], f.size, f.little_endian);
            break;
          }
          for (std::uint64_t v : s.elements[i]) write_uint(out, v, f.size, f.little_endian);
          break;
        case field_type::bitmap: {
          const auto& bits = s.elements[i];
          for (std::size_t b = 0; b < bits.size(); b += 8) {
            byte packed = 0;
            for (std::size_t k = 0; k < 8 && b + k < bits.size(); ++k)
              if (bits[b + k]) packed = static_cast<byte>(packed | 1u << k);
            out.push_back(packed);
          }
          break;
        }
        case field_type::bytes:
          for (std::uint64_t v : s.elements[i]) out.push_back(static_cast<byte>(v));
          break;
      }
    }
    if (rest_at != none) {
      const binary_field& f = fields_[rest_at];
      const std::size_t after = out.size() - start - s.offsets_rest - f.size;
      if (after > max_of_bits(bits_of(f)))
        return make_error(errc::invalid_field, f.name,
                          "the " + std::to_string(after) + " bytes after it do not fit its " +
                              std::to_string(f.size) + " bytes");
      put_uint(out.data() + start + s.offsets_rest, after, f.size, f.little_endian);
    }
    return {};
  }

  result<void> decode(byte_view payload, record& r) const override {
    thread_local scratch s;
    s.reset(fields_.size());
    std::size_t pos = 0;
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      const binary_field& f = fields_[i];
      if (!active(f, s)) {
        if (f.otherwise) r.set(i, *f.otherwise);
        continue;
      }
      if (f.type == field_type::bits) {
        const bits_group& g = groups_[f.group];
        if (i == g.first) {
          if (auto got = need(f, payload, pos, g.size); !got) return got;
          s.group_value = read_uint(payload.data() + pos, g.size, g.little_endian);
          pos += g.size;
        }
        s.ints[i] = s.group_value >> f.shift & max_of_bits(f.bits);
        s.given[i] = 1;
        if (auto named = set_scalar(f, s.ints[i], r.slot(i), pos - groups_[f.group].size); !named)
          return named;
        r.set_present(i);
        continue;
      }
      if (!f.array && f.type != field_type::bytes) {
        if (auto got = need(f, payload, pos, f.size); !got) return got;
        s.ints[i] = read_uint(payload.data() + pos, f.size, f.little_endian);
        s.given[i] = 1;
        pos += f.size;
        if (f.measures_rest && s.ints[i] != payload.size() - pos)
          return make_error(errc::malformed, f.name,
                            "is " + std::to_string(s.ints[i]) + " but " +
                                std::to_string(payload.size() - pos) + " bytes follow it" +
                                at_offset(pos - f.size));
        if (auto named = set_scalar(f, s.ints[i], r.slot(i), pos - f.size); !named) return named;
        r.set_present(i);
        continue;
      }
      std::uint64_t count = 0, bytes = 0;
      if (auto sized = size_of(f, s, payload.size() - pos, count, bytes); !sized) return sized;
      if (auto got = need(f, payload, pos, bytes); !got) return got;
      std::string& out = r.slot(i);
      out.clear();
      const byte* p = payload.data() + pos;
      if (f.type == field_type::bytes) {
        for (std::uint64_t k = 0; k < bytes; ++k) {
          out.push_back(hex_digits[p[k] >> 4]);
          out.push_back(hex_digits[p[k] & 0xF]);
        }
      } else {
        out.push_back('[');
        for (std::uint64_t k = 0; k < count; ++k) {
          if (k) out.push_back(',');
          if (f.type == field_type::bitmap)
            out.append(p[k / 8] >> (k % 8) & 1 ? "true" : "false");
          else
            append_decimal(out, f, read_uint(p + k * f.size, f.size, f.little_endian));
        }
        out.push_back(']');
      }
      r.set_present(i);
      pos += static_cast<std::size_t>(bytes);
    }
    if (pos < payload.size() && !allow_trailing_)
      return make_error(errc::malformed, "",
                        "unexpected " + std::to_string(payload.size() - pos) +
                            " bytes after the last field" + at_offset(pos));
    return {};
  }

  json::object describe_field(std::size_t index) const override {
    const binary_field& f = fields_[index];
    json::object o;
    o["type"] = type_names[static_cast<std::size_t>(f.type)];
    if (f.size) o["size"] = f.size;
    if (f.type == field_type::bits) o["bits"] = f.bits;
    if (f.type == field_type::uint_ || f.type == field_type::int_ || f.type == field_type::bits)
      o["byte_order"] = f.little_endian ? "little" : "big";
    if (f.type == field_type::int_) o["signed"] = true;
    if (f.count_from != none) o["count_from"] = fields_[f.count_from].name;
    if (f.length_from != none) o["length_from"] = fields_[f.length_from].name;
    if (f.when_field != none) o["when"] = json::object{{fields_[f.when_field].name, f.when_value}};
    if (f.otherwise) o["otherwise"] = *f.otherwise;
    if (!f.map.empty()) {
      json::object m;
      for (const auto& [name, wire] : f.map) m[name] = wire;
      o["map"] = std::move(m);
    }
    if (f.measures_rest) o["length_of"] = "rest";
    if (!f.counts.empty() || !f.lengths.empty() || f.measures_rest) o["derived"] = true;
    if (f.type == field_type::bitmap) {
      o["items"] = {{"type", "boolean"}};
    } else if (f.array) {
      const unsigned bits = bits_of(f);
      json::object items{{"type", "integer"}};
      if (f.type == field_type::int_) {
        items["minimum"] = sign_extend(max_of_bits(bits - 1) + 1, bits);
        items["maximum"] = max_of_bits(bits - 1);
      } else {
        items["minimum"] = 0;
        items["maximum"] = max_of_bits(bits);
      }
      o["items"] = std::move(items);
    }
    return o;
  }

  json::object describe() const override {
    return {{"type", "binary"}, {"allow_trailing", allow_trailing_}};
  }

 private:
  struct scratch {
    std::vector<std::uint64_t> ints;                   // integer fields' wire values
    std::vector<unsigned char> given;                  // ints[i] holds a value (given or derived)
    std::vector<unsigned char> active;                 // encode: the field's condition holds
    std::vector<std::vector<std::uint64_t>> elements;  // arrays and bytes
    std::uint64_t group_value = 0;                     // decode: the bits group being read
    std::size_t offsets_rest = 0;  // encode: where the length_of rest field starts
    void reset(std::size_t n) {
      ints.assign(n, 0);
      given.assign(n, 0);
      active.assign(n, 0);
      if (elements.size() < n) elements.resize(n);
      for (std::size_t i = 0; i < n; ++i) elements[i].clear();
    }
  };

  // Whether f's condition holds on the values so far.
  bool active(const binary_field& f, const scratch& s) const noexcept {
    if (f.when_field == none) return true;
    return s.ints[f.when_field] == f.when_value;
  }

  static std::uint64_t wire_bytes(const binary_field& f, std::uint64_t count) noexcept {
    if (f.type == field_type::bitmap) return (count + 7) / 8;
    if (f.type == field_type::bytes) return count;
    return count * f.size;
  }

  static result<void> need(const binary_field& f, byte_view payload, std::size_t pos,
                           std::uint64_t n) {
    if (payload.size() - pos >= n) return {};
    return make_error(errc::malformed, f.name,
                      "expected " + std::to_string(n) + " bytes" + at_offset(pos) + ", got " +
                          std::to_string(payload.size() - pos));
  }

  // The record text of an integer: its name in the map, or its decimal digits.
  static result<void> set_scalar(const binary_field& f, std::uint64_t wire, std::string& out,
                                 std::size_t offset) {
    out.clear();
    for (const auto& [name, value] : f.map)
      if (value == wire) {
        out = name;
        return {};
      }
    if (f.map.empty()) {
      append_decimal(out, f, wire);
      return {};
    }
    std::string names;
    for (const auto& [name, value] : f.map)
      names += (names.empty() ? "" : ", ") + name + " (" + std::to_string(value) + ")";
    return make_error(errc::malformed, f.name,
                      std::to_string(wire) + at_offset(offset) + " is none of " + names);
  }

  // decode: an array's element count and wire bytes from the fields that carry them.
  result<void> size_of(const binary_field& f, const scratch& s, std::size_t remaining,
                       std::uint64_t& count, std::uint64_t& bytes) const {
    if (f.type == field_type::bytes && f.length_from == none) {
      count = bytes = f.size;
      return {};
    }
    if (f.count_from != none) {
      count = s.ints[f.count_from];
      // Counts no message could hold are refused before their byte size is worked out.
      if (count > (std::uint64_t{1} << 40))
        return make_error(errc::malformed, f.name,
                          fields_[f.count_from].name + " " + std::to_string(count) +
                              " asks for more elements than the " + std::to_string(remaining) +
                              " bytes left");
      bytes = wire_bytes(f, count);
    }
    if (f.length_from != none) {
      const std::uint64_t length = s.ints[f.length_from];
      if (f.count_from != none) {
        if (length != bytes)
          return make_error(errc::malformed, f.name,
                            fields_[f.length_from].name + " " + std::to_string(length) +
                                " does not match " + fields_[f.count_from].name + " " +
                                std::to_string(count) + " (" + std::to_string(bytes) + " bytes)");
        return {};
      }
      const std::uint64_t unit =
          f.type == field_type::uint_ || f.type == field_type::int_ ? f.size : 1;
      if (length % unit != 0)
        return make_error(errc::malformed, f.name,
                          fields_[f.length_from].name + " " + std::to_string(length) +
                              " is not a multiple of the " + std::to_string(unit) +
                              "-byte elements");
      bytes = length;
      count = f.type == field_type::bitmap ? length * 8 : length / unit;
    }
    return {};
  }

  result<void> scalar_wire(const binary_field& f, std::string_view text,
                           std::uint64_t& wire) const {
    if (!f.map.empty()) {
      for (const auto& [name, value] : f.map)
        if (name == text) {
          wire = value;
          return {};
        }
      std::string names;
      for (const auto& m : f.map) names += (names.empty() ? "" : ", ") + m.first;
      return make_error(errc::invalid_field, f.name,
                        "must be one of " + names + ", not \"" + std::string(text) + "\"");
    }
    std::string why;
    if (!parse_integer(f, text, wire, why)) return make_error(errc::invalid_field, f.name, why);
    return {};
  }

  // encode: an array's JSON text (or a bytes field's hex) into wire values.
  result<void> parse_value(const binary_field& f, std::string_view text,
                           std::vector<std::uint64_t>& out) const {
    if (f.type == field_type::bytes) {
      if (text.empty() && f.length_from == none) {  // absent: zeros
        out.assign(f.size, 0);
        return {};
      }
      auto b = from_hex(text);
      if (!b) return make_error(errc::invalid_field, f.name, "must be hex digits, in pairs");
      if (f.length_from == none && b->size() != f.size)
        return make_error(
            errc::invalid_field, f.name,
            "must be " + std::to_string(f.size) + " bytes, got " + std::to_string(b->size()));
      out.assign(b->begin(), b->end());
      return {};
    }
    if (text.empty()) return {};  // absent: no element
    unsigned char storage[4096];
    json::monotonic_resource mr(storage, sizeof storage);
    boost::system::error_code ec;
    json::value v = json::parse(text, ec, json::storage_ptr(&mr));
    if (ec || !v.is_array()) return make_error(errc::invalid_field, f.name, "must be an array");
    std::string element_text, why;
    std::size_t n = 0;
    for (const json::value& e : v.get_array()) {
      ++n;
      std::uint64_t wire = 0;
      if (f.type == field_type::bitmap) {
        if (e.is_bool())
          wire = e.get_bool() ? 1 : 0;
        else if ((e.is_int64() || e.is_uint64()) && (e.to_number<std::uint64_t>() <= 1))
          wire = e.to_number<std::uint64_t>();
        else
          return make_error(errc::invalid_field, f.name,
                            "element " + std::to_string(n) + " must be true or false");
      } else {
        if (!(e.is_int64() || e.is_uint64() || e.is_string()) || !scalar_text(e, element_text) ||
            !parse_integer(f, element_text, wire, why))
          return make_error(errc::invalid_field, f.name,
                            "element " + std::to_string(n) + " " +
                                (why.empty() ? std::string("must be an integer") : why));
      }
      out.push_back(wire);
    }
    return {};
  }

  // encode: the count (or byte length) an array gives field c; a value the record holds must
  // agree, and the value must fit the field.
  result<void> derive(std::size_t c, std::uint64_t value, const binary_field& array,
                      std::string_view what, scratch& s) const {
    const binary_field& cf = fields_[c];
    if (s.given[c] && s.ints[c] != value)
      return make_error(errc::invalid_field, cf.name,
                        "is " + std::to_string(s.ints[c]) + " but " + array.name + " has " +
                            std::to_string(value) + " " + std::string(what));
    const unsigned bits = cf.type == field_type::int_ ? bits_of(cf) - 1 : bits_of(cf);
    if (value > max_of_bits(bits))
      return make_error(errc::invalid_field, array.name,
                        "has " + std::to_string(value) + " " + std::string(what) + ", more than " +
                            cf.name + " can carry (" + std::to_string(max_of_bits(bits)) + ")");
    s.ints[c] = value;
    s.given[c] = 1;
    return {};
  }

  void write_group(const bits_group& g, const scratch& s, byte_buffer& out) const {
    std::uint64_t v = 0;
    for (std::size_t k = g.first; k <= g.last; ++k)
      v |= (s.ints[k] & max_of_bits(fields_[k].bits)) << fields_[k].shift;
    write_uint(out, v, g.size, g.little_endian);
  }

  std::vector<binary_field> fields_;
  std::vector<bits_group> groups_;
  bool allow_trailing_ = false;
};

}  // namespace

namespace binary_detail {
std::unique_ptr<layout> make_configured_binary_layout(std::vector<binary_field> fields,
                                                      std::vector<bits_group> groups,
                                                      bool allow_trailing) {
  return std::make_unique<binary_layout>(std::move(fields), std::move(groups), allow_trailing);
}
}  // namespace binary_detail

}  // namespace dragoman::codecs
