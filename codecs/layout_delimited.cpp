// Delimited layout: separated fields and components with escapes (CSV-like lines), and the
// segment model (segments, repetitions, subcomponents, HL7 escape sequences, repeating groups).
#include "codecs/decimal.hpp"
#include "codecs/layout.hpp"

#include <boost/json/monotonic_resource.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace dragoman::codecs {

// Shared layout helpers, defined in layout.cpp.
namespace layout_detail {
const charset* resolve_charset(config_object& cfg, const charset* fallback);
int read_char_key(config_object& cfg, std::string_view key, std::string_view fallback,
                  const charset* cs, std::string& text);
std::string quote_bytes(std::string_view text);
}  // namespace layout_detail

namespace {

namespace json = boost::json;
using decimal::charset_digits;

// The wire bytes that structure a message. Each level is a separator searched for within the
// span of the level above: segment, field, repetition, component, subcomponent.
struct delimiters {
  std::string separator;     // between fields
  std::string component;     // between components of a field; empty when not configured
  std::string repetition;    // between repetitions of a field (segment model)
  std::string subcomponent;  // between subcomponents of a component (segment model)
  std::string segment;       // ends every segment; empty: one flat line
  std::string terminator;    // flat line only
  int escape = -1;           // wire byte of the escape character
  bool hl7 = false;          // escape sequences (\F\ ...) instead of escaping the next byte

  static bool match(byte_view in, std::size_t i, std::size_t limit, std::string_view seq) {
    if (seq.empty() || limit - i < seq.size()) return false;
    return std::equal(seq.begin(), seq.end(), in.begin() + static_cast<std::ptrdiff_t>(i),
                      [](char a, byte b) { return static_cast<byte>(a) == b; });
  }

  // Length of the structural sequence starting at i (which a value must escape), or 0; kind is
  // its HL7 escape letter: F S R T E, or X for bytes written as hex (segment end, terminator).
  std::size_t special_at(byte_view in, std::size_t i, std::size_t limit,
                         char* kind = nullptr) const {
    std::size_t n = 0;
    char k = 0;
    auto take = [&](std::string_view seq, char letter) {
      if (seq.size() > n && match(in, i, limit, seq)) {
        n = seq.size();
        k = letter;
      }
    };
    take(separator, 'F');
    take(component, 'S');
    take(repetition, 'R');
    take(subcomponent, 'T');
    take(terminator, 'X');
    take(segment, 'X');
    if (escape >= 0 && n == 0 && in[i] == static_cast<byte>(escape)) {
      n = 1;
      k = 'E';
    }
    if (kind) *kind = k;
    return n;
  }

  // Bytes a single-character escape at i covers: the structural sequence after it, or one byte.
  std::size_t escaped_length(byte_view in, std::size_t i, std::size_t limit) const {
    if (i + 1 >= limit) return limit - i;  // a dangling escape is kept literally
    const std::size_t n = special_at(in, i + 1, limit);
    return 1 + (n ? n : 1);
  }

  // End of the token that starts at `start` and ends before `seq` or at `limit`. HL7 escape
  // sequences never contain a separator, so only the single-character style protects one.
  std::size_t find_end(byte_view in, std::size_t start, std::size_t limit,
                       std::string_view seq) const {
    std::size_t i = start;
    while (i < limit) {
      if (!hl7 && escape >= 0 && in[i] == static_cast<byte>(escape)) {
        i += escaped_length(in, i, limit);
      } else if (match(in, i, limit, seq)) {
        return i;
      } else {
        ++i;
      }
    }
    return limit;
  }
};

// Where a value sits in a segment. slot is the index after splitting the segment at the field
// separator (the segment id is slot 0); it is the HL7 field number, minus one in a header
// segment whose first field is the separator itself.
struct address {
  std::size_t slot = 0;
  std::uint32_t field = 0;
  std::uint32_t repetition = 1;
  std::uint32_t component = 0;     // 0: the whole repetition
  std::uint32_t subcomponent = 0;  // 0: the whole component

  auto key() const noexcept { return std::tuple(slot, repetition, component, subcomponent); }
  // True when two addresses cover overlapping bytes.
  bool overlaps(const address& o) const noexcept {
    if (slot != o.slot || repetition != o.repetition) return false;
    if (component == 0 || o.component == 0) return true;
    if (component != o.component) return false;
    return subcomponent == 0 || o.subcomponent == 0 || subcomponent == o.subcomponent;
  }
};

// Parses "PID-3[2].1.2" (with_segment) or "3[2].1.2"; returns an error text or "".
std::string parse_path(std::string_view text, bool with_segment, std::string& segment, address& a) {
  std::size_t i = 0;
  if (with_segment) {
    const std::size_t dash = text.find('-');
    if (dash == std::string_view::npos || dash == 0 || dash > 16)
      return "must look like \"PID-5.1\" (segment id, '-', field number)";
    segment.assign(text.substr(0, dash));
    for (char c : segment) {
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
        return "segment id \"" + segment + "\" must be letters and digits";
    }
    i = dash + 1;
  }
  auto number = [&](std::uint32_t& out) -> bool {
    const char* first = text.data() + i;
    const char* last = text.data() + text.size();
    auto r = std::from_chars(first, last, out);
    if (r.ec != std::errc() || r.ptr == first || out == 0 || out > 100000) return false;
    i += static_cast<std::size_t>(r.ptr - first);
    return true;
  };
  const std::string_view form =
      with_segment ? "(\"PID-3[2].1.1\": numbers from 1)" : "(\"3[2].1.1\": numbers from 1)";
  if (!number(a.field)) return "needs a field number " + std::string(form);
  if (i < text.size() && text[i] == '[') {
    ++i;
    if (!number(a.repetition) || i >= text.size() || text[i] != ']')
      return "needs a repetition number in brackets " + std::string(form);
    ++i;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!number(a.component)) return "needs a component number " + std::string(form);
    if (i < text.size() && text[i] == '.') {
      ++i;
      if (!number(a.subcomponent)) return "needs a subcomponent number " + std::string(form);
    }
  }
  if (i != text.size())
    return "unexpected \"" + std::string(text.substr(i)) + "\" " + std::string(form);
  a.slot = a.field;
  return {};
}

struct delimited_field {
  std::string name;
  std::size_t position = 0;
  int component = -1;  // -1: the whole field
  bool numeric = false;
  int decimals = 0;
  bool is_signed = false;
  bool implied = false;        // numeric digits without a decimal point
  std::size_t max_length = 0;  // characters; 0 for no limit
  // Segment model.
  std::string path;  // as written
  address at;
  int group = -1;  // index of the segment group this field carries as a JSON array
};

// One key of the JSON objects of a repeating segment group and where it goes in the segment.
struct group_component {
  std::string key;
  std::string path;
  address at;
};

struct segment_group {
  std::size_t field = 0;                    // the record field holding the JSON array text
  std::vector<group_component> components;  // by address
  int sequence = -1;  // component numbered 1, 2, ... when an element does not give it
};

struct segment_def {
  std::string id;
  std::string wire_id;
  bool header = false;              // carries the separators (MSH-1, MSH-2)
  int group = -1;                   // a repeating group: one segment per array element
  std::vector<std::size_t> fields;  // by address
};

// Wire bytes of the characters of HL7 escape sequences, from the layout's charset.
struct hl7_codes {
  byte F = 'F', S = 'S', T = 'T', R = 'R', E = 'E', X = 'X';
  std::array<byte, 16> hex_digit{};
  std::array<signed char, 256> hex_value{};
};

// Appends a JSON string literal of UTF-8 text.
void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (b < 0x20) {
      static constexpr char hex[] = "0123456789abcdef";
      out.append("\\u00");
      out.push_back(hex[b >> 4]);
      out.push_back(hex[b & 0xF]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

class delimited_layout final : public layout {
 public:
  delimited_layout(std::vector<delimited_field> fields, std::vector<std::size_t> order,
                   delimiters d, const charset* cs, const charset_digits& digits)
      : fields_(std::move(fields)),
        order_(std::move(order)),
        d_(std::move(d)),
        cs_(cs),
        digits_(digits) {}

  // The segment model's parts, set by the factory.
  std::vector<segment_def> segments_;
  std::vector<segment_group> groups_;
  bool header_carries_ = false;
  int header_segment_ = -1;
  hl7_codes codes_;
  std::string blank_;  // wire bytes of CR and LF, skipped between segments on decode

  result<void> encode(const record& r, byte_buffer& out) const override {
    if (!d_.segment.empty()) return encode_segments(r, out);
    std::size_t position = 0;
    int component = 0;
    for (std::size_t i : order_) {
      const delimited_field& f = fields_[i];
      while (position < f.position) {
        append(out, d_.separator);
        ++position;
        component = 0;
      }
      while (component < f.component) {
        append(out, d_.component);
        ++component;
      }
      auto done = f.numeric ? encode_number(f, r.get(i), out)
                            : encode_text(f.name, f.max_length, r.get(i), out);
      if (!done) return done;
    }
    append(out, d_.terminator);
    return {};
  }

  result<void> decode(byte_view payload, record& r) const override {
    if (!d_.segment.empty()) return decode_segments(payload, r);
    std::size_t limit = payload.size();
    if (!d_.terminator.empty() && limit >= d_.terminator.size() &&
        delimiters::match(payload, limit - d_.terminator.size(), limit, d_.terminator)) {
      limit -= d_.terminator.size();
    }
    // One pass over the fields in position order; components are found within their field.
    std::size_t position = 0;
    std::size_t begin = 0;
    std::size_t end = d_.find_end(payload, 0, limit, d_.separator);
    for (std::size_t i : order_) {
      const delimited_field& f = fields_[i];
      while (position < f.position && end < limit) {
        begin = end + d_.separator.size();
        end = d_.find_end(payload, begin, limit, d_.separator);
        ++position;
      }
      if (position < f.position) {  // the line has fewer fields
        r.clear(i);
        continue;
      }
      std::size_t vb = begin;
      std::size_t ve = end;
      if (f.component >= 0) {
        ve = d_.find_end(payload, vb, end, d_.component);
        int c = 0;
        while (c < f.component && ve < end) {
          vb = ve + d_.component.size();
          ve = d_.find_end(payload, vb, end, d_.component);
          ++c;
        }
        if (c < f.component) {
          r.clear(i);
          continue;
        }
      }
      auto done = f.numeric ? decode_number(f, payload, vb, ve, r, i)
                            : decode_text_field(d_, f, payload, vb, ve, r, i);
      if (!done) return done;
    }
    return {};
  }

  boost::json::object describe_field(std::size_t index) const override {
    boost::json::object o;
    if (index >= fields_.size()) return o;
    const delimited_field& f = fields_[index];
    if (f.group >= 0) {
      const segment_group& g = groups_[static_cast<std::size_t>(f.group)];
      for (const auto& s : segments_)
        if (s.group == f.group) o["segment"] = s.id;
      boost::json::object comps;
      for (const auto& c : g.components) comps[c.key] = c.path;
      o["components"] = std::move(comps);
      if (g.sequence >= 0) o["sequence"] = g.components[static_cast<std::size_t>(g.sequence)].key;
      return o;
    }
    if (!d_.segment.empty()) {
      o["path"] = f.path;
    } else {
      o["position"] = f.position;
      if (f.component >= 0) o["component"] = f.component;
    }
    o["type"] = f.numeric ? "numeric" : "text";
    if (f.numeric) {
      o["decimals"] = f.decimals;
      o["signed"] = f.is_signed;
      o["implied_decimals"] = f.implied;
    }
    if (f.max_length) o["max_length"] = f.max_length;
    return o;
  }

  boost::json::object describe() const override {
    boost::json::object o;
    o["type"] = "delimited";
    o["separator"] = layout_detail::quote_bytes(d_.separator);
    if (!d_.component.empty()) o["component_separator"] = layout_detail::quote_bytes(d_.component);
    if (!d_.repetition.empty())
      o["repetition_separator"] = layout_detail::quote_bytes(d_.repetition);
    if (!d_.subcomponent.empty())
      o["subcomponent_separator"] = layout_detail::quote_bytes(d_.subcomponent);
    if (d_.escape >= 0)
      o["escape"] = layout_detail::quote_bytes(std::string(1, static_cast<char>(d_.escape)));
    if (d_.hl7) o["escape_style"] = "hl7";
    if (!d_.terminator.empty()) o["terminator"] = layout_detail::quote_bytes(d_.terminator);
    if (!d_.segment.empty()) {
      o["segment_separator"] = layout_detail::quote_bytes(d_.segment);
      boost::json::array ids;
      for (const auto& s : segments_) ids.emplace_back(s.id);
      o["segments"] = std::move(ids);
      if (header_segment_ >= 0) {
        o["header_segment"] = segments_[static_cast<std::size_t>(header_segment_)].id;
        o["header_carries_separators"] = header_carries_;
      }
    }
    o["charset"] = cs_->name();
    return o;
  }

 private:
  struct cursor {
    std::size_t slot = 0;
    std::uint32_t repetition = 1, component = 1, subcomponent = 1;
  };

  // Writes the separators that lead from the cursor to a value's address (never backwards).
  void move_to(cursor& c, const address& a, byte_buffer& out) const {
    if (a.slot > c.slot) {
      for (std::size_t k = c.slot; k < a.slot; ++k) append(out, d_.separator);
      c = cursor{a.slot, 1, 1, 1};
    }
    if (a.repetition > c.repetition) {
      for (std::uint32_t k = c.repetition; k < a.repetition; ++k) append(out, d_.repetition);
      c.repetition = a.repetition;
      c.component = c.subcomponent = 1;
    }
    const std::uint32_t comp = std::max<std::uint32_t>(a.component, 1);
    if (comp > c.component) {
      for (std::uint32_t k = c.component; k < comp; ++k) append(out, d_.component);
      c.component = comp;
      c.subcomponent = 1;
    }
    const std::uint32_t sub = std::max<std::uint32_t>(a.subcomponent, 1);
    if (sub > c.subcomponent) {
      for (std::uint32_t k = c.subcomponent; k < sub; ++k) append(out, d_.subcomponent);
      c.subcomponent = sub;
    }
  }

  // Segment id, then the separators themselves when this is the header segment (MSH-1, MSH-2).
  cursor begin_segment(const segment_def& s, byte_buffer& out) const {
    append(out, s.wire_id);
    if (!s.header || !header_carries_) return {};
    append(out, d_.separator);
    append(out, d_.component);
    append(out, d_.repetition);
    out.push_back(static_cast<byte>(d_.escape));
    append(out, d_.subcomponent);
    return cursor{1, 1, 1, 1};
  }

  result<void> encode_segments(const record& r, byte_buffer& out) const {
    for (const segment_def& s : segments_) {
      if (s.group >= 0) {
        const segment_group& g = groups_[static_cast<std::size_t>(s.group)];
        if (auto done = encode_group(s, g, r.get(g.field), out); !done) return done;
        continue;
      }
      cursor c = begin_segment(s, out);
      for (std::size_t i : s.fields) {
        const std::string_view v = r.get(i);
        if (v.empty()) continue;  // trailing empty fields and components are never written
        const delimited_field& f = fields_[i];
        move_to(c, f.at, out);
        auto done =
            f.numeric ? encode_number(f, v, out) : encode_text(f.name, f.max_length, v, out);
        if (!done) return done;
      }
      append(out, d_.segment);
    }
    return {};
  }

  result<void> encode_group(const segment_def& s, const segment_group& g, std::string_view text,
                            byte_buffer& out) const {
    if (text.empty()) return {};
    const std::string& name = fields_[g.field].name;
    unsigned char storage[4096];
    json::monotonic_resource mr(storage, sizeof storage);
    boost::system::error_code ec;
    json::value v = json::parse(text, ec, json::storage_ptr(&mr));
    if (ec || !v.is_array())
      return make_error(errc::invalid_field, name, "must be a JSON array of objects");
    std::size_t n = 0;
    for (const json::value& element : v.get_array()) {
      ++n;
      const std::string where = "element " + std::to_string(n);
      if (!element.is_object())
        return make_error(errc::invalid_field, name, where + " must be an object");
      const json::object& o = element.get_object();
      for (const auto& kv : o) {
        const bool known = std::any_of(g.components.begin(), g.components.end(),
                                       [&](const group_component& c) { return c.key == kv.key(); });
        if (!known)
          return make_error(errc::invalid_field, name,
                            where + " has the unknown key \"" + std::string(kv.key()) + "\"");
      }
      cursor c = begin_segment(s, out);
      for (std::size_t k = 0; k < g.components.size(); ++k) {
        const group_component& gc = g.components[k];
        const json::value* cv = o.if_contains(gc.key);
        char num[64];
        std::string_view value;
        if (!cv || cv->is_null()) {
          if (static_cast<int>(k) != g.sequence) continue;
          auto res = std::to_chars(num, num + sizeof num, n);
          value = std::string_view(num, static_cast<std::size_t>(res.ptr - num));
        } else if (cv->is_string()) {
          value = cv->get_string();
        } else if (cv->is_int64() || cv->is_uint64() || cv->is_double()) {
          auto res = cv->is_int64()    ? std::to_chars(num, num + sizeof num, cv->get_int64())
                     : cv->is_uint64() ? std::to_chars(num, num + sizeof num, cv->get_uint64())
                                       : std::to_chars(num, num + sizeof num, cv->get_double());
          value = std::string_view(num, static_cast<std::size_t>(res.ptr - num));
        } else if (cv->is_bool()) {
          value = cv->get_bool() ? "true" : "false";
        } else {
          return make_error(errc::invalid_field, name,
                            where + " key \"" + gc.key + "\" must be a string or a number");
        }
        if (value.empty()) continue;
        move_to(c, gc.at, out);
        if (auto done = encode_text(name, 0, value, out); !done) {
          codec_error e = std::move(done).error();
          e.message = where + " key \"" + gc.key + "\": " + e.message;
          return e;
        }
      }
      append(out, d_.segment);
    }
    return {};
  }

  // Start of the segment at or after pos: CR and LF between segments are tolerated.
  std::size_t skip_blank(byte_view in, std::size_t pos, std::size_t limit) const {
    while (pos < limit && blank_.find(static_cast<char>(in[pos])) != std::string::npos) ++pos;
    return pos;
  }

  // The separators of this message: from its header segment when the layout says they are there.
  const delimiters& message_delimiters(byte_view in, std::size_t pos, delimiters& local) const {
    if (!header_carries_ || header_segment_ < 0) return d_;
    const std::string& hid = segments_[static_cast<std::size_t>(header_segment_)].wire_id;
    const std::size_t limit = in.size();
    if (!delimiters::match(in, pos, limit, hid) || pos + hid.size() >= limit) return d_;
    const byte fs = in[pos + hid.size()];
    if (blank_.find(static_cast<char>(fs)) != std::string::npos) return d_;
    local = d_;
    local.separator.assign(1, static_cast<char>(fs));
    std::string* targets[] = {&local.component, &local.repetition, nullptr, &local.subcomponent};
    local.escape = -1;
    for (auto* t : targets)
      if (t) t->clear();
    std::size_t k = pos + hid.size() + 1;
    for (std::size_t n = 0; n < 4 && k < limit; ++n, ++k) {
      const byte b = in[k];
      if (b == fs || delimiters::match(in, k, limit, d_.segment) ||
          blank_.find(static_cast<char>(b)) != std::string::npos)
        break;
      if (targets[n])
        targets[n]->assign(1, static_cast<char>(b));
      else
        local.escape = b;
    }
    return local;
  }

  // Finds an address within a segment whose fields from first_slot on start at `start`.
  static bool locate(const delimiters& d, byte_view in, std::size_t start, std::size_t first_slot,
                     std::size_t end, const address& a, std::size_t& vb, std::size_t& ve) {
    if (a.slot < first_slot || start > end) return false;
    std::size_t b = start;
    std::size_t e = d.find_end(in, b, end, d.separator);
    for (std::size_t s = first_slot; s < a.slot; ++s) {
      if (e >= end) return false;
      b = e + d.separator.size();
      e = d.find_end(in, b, end, d.separator);
    }
    auto narrow = [&](const std::string& sep, std::uint32_t n) {
      std::size_t x = d.find_end(in, b, e, sep);
      for (std::uint32_t k = 1; k < n; ++k) {
        if (x >= e) return false;
        b = x + sep.size();
        x = d.find_end(in, b, e, sep);
      }
      e = x;
      return true;
    };
    if (!narrow(d.repetition, a.repetition)) return false;
    if (a.component && !narrow(d.component, a.component)) return false;
    if (a.subcomponent && !narrow(d.subcomponent, a.subcomponent)) return false;
    vb = b;
    ve = e;
    return true;
  }

  result<void> decode_segments(byte_view in, record& r) const {
    const std::size_t limit = in.size();
    std::size_t pos = skip_blank(in, 0, limit);
    delimiters local;
    const delimiters& d = message_delimiters(in, pos, local);
    std::uint64_t seen = 0;  // segments whose fields were read: the first occurrence counts
    std::string scratch;
    while (pos < limit) {
      const std::size_t se = d.find_end(in, pos, limit, d.segment);
      const std::size_t id_end = d.find_end(in, pos, se, d.separator);
      const std::string_view id = as_chars(in.subspan(pos, id_end - pos));
      for (std::size_t si = 0; si < segments_.size(); ++si) {
        const segment_def& s = segments_[si];
        if (s.wire_id != id) continue;
        std::size_t start = id_end + d.separator.size();
        std::size_t first_slot = 1;
        if (s.header && header_carries_ && id_end < se) {  // MSH-2 is raw: skip it
          const std::size_t enc_end = d.find_end(in, start, se, d.separator);
          start = enc_end + d.separator.size();
          first_slot = 2;
        }
        if (s.group >= 0) {
          if (auto ok = decode_group_segment(d, in, start, first_slot, se, s, r, scratch); !ok)
            return ok;
        } else if (!(seen >> si & 1)) {
          seen |= std::uint64_t{1} << si;
          for (std::size_t i : s.fields) {
            const delimited_field& f = fields_[i];
            std::size_t vb = 0, ve = 0;
            if (!locate(d, in, start, first_slot, se, f.at, vb, ve) || vb == ve) continue;
            auto done = f.numeric ? decode_number(f, in, vb, ve, r, i)
                                  : decode_text_field(d, f, in, vb, ve, r, i);
            if (!done) return done;
          }
        }
        break;
      }
      pos = se < limit ? skip_blank(in, se + d.segment.size(), limit) : limit;
    }
    for (const segment_group& g : groups_)
      if (r.has(g.field)) r.slot(g.field).push_back(']');
    return {};
  }

  result<void> decode_group_segment(const delimiters& d, byte_view in, std::size_t start,
                                    std::size_t first_slot, std::size_t end, const segment_def& s,
                                    record& r, std::string& scratch) const {
    const segment_group& g = groups_[static_cast<std::size_t>(s.group)];
    std::string& slot = r.slot(g.field);
    if (!r.has(g.field)) {
      slot.assign("[");
      r.set_present(g.field);
    } else {
      slot.push_back(',');
    }
    slot.push_back('{');
    bool first = true;
    for (const group_component& c : g.components) {
      std::size_t vb = 0, ve = 0;
      if (!locate(d, in, start, first_slot, end, c.at, vb, ve) || vb == ve) continue;
      scratch.clear();
      if (auto ok = decode_text(d, fields_[g.field].name, in, vb, ve, scratch); !ok) return ok;
      if (!first) slot.push_back(',');
      first = false;
      append_json_string(slot, c.key);
      slot.push_back(':');
      append_json_string(slot, scratch);
    }
    slot.push_back('}');
    return {};
  }

  static codec_error too_long(std::string_view name, std::size_t max_length, std::size_t chars) {
    return make_error(errc::invalid_field, std::string(name),
                      "is " + std::to_string(chars) + " characters, longer than its max_length " +
                          std::to_string(max_length));
  }

  result<void> encode_text(std::string_view name, std::size_t max_length, std::string_view v,
                           byte_buffer& out) const {
    if (max_length) {
      const std::size_t chars = cs_->wire_length(v);
      if (chars > max_length) return too_long(name, max_length, chars);
    }
    const std::size_t start = out.size();
    auto done = cs_->encode(v, out);
    if (!done) {
      out.resize(start);
      codec_error e = std::move(done).error();
      e.where = std::string(name);
      return e;
    }
    for (std::size_t i = start; i < out.size(); ++i) {
      char kind = 0;
      const std::size_t n = d_.special_at(out, i, out.size(), &kind);
      if (n == 0) continue;
      if (d_.escape < 0) {
        const std::string seq(reinterpret_cast<const char*>(out.data() + i), n);
        out.resize(start);
        return make_error(errc::invalid_field, std::string(name),
                          "contains the separator " + layout_detail::quote_bytes(seq) +
                              " and the layout has no escape");
      }
      if (!d_.hl7) {
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(i), static_cast<byte>(d_.escape));
        i += n;  // past the escape and the sequence (the loop adds the last one)
        continue;
      }
      // HL7 2.7 escape sequences: \F\ \S\ \R\ \T\ \E\, other structural bytes as \Xhh..\.
      byte seq[3 + 2 * 16];
      std::size_t len = 0;
      const auto esc = static_cast<byte>(d_.escape);
      seq[len++] = esc;
      switch (kind) {
        case 'F':
          seq[len++] = codes_.F;
          break;
        case 'S':
          seq[len++] = codes_.S;
          break;
        case 'R':
          seq[len++] = codes_.R;
          break;
        case 'T':
          seq[len++] = codes_.T;
          break;
        case 'E':
          seq[len++] = codes_.E;
          break;
        default:
          seq[len++] = codes_.X;
          for (std::size_t k = 0; k < n && k < 16; ++k) {
            seq[len++] = codes_.hex_digit[out[i + k] >> 4];
            seq[len++] = codes_.hex_digit[out[i + k] & 0xF];
          }
      }
      seq[len++] = esc;
      const auto at = out.begin() + static_cast<std::ptrdiff_t>(i);
      out.erase(at, at + static_cast<std::ptrdiff_t>(n));
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(i), seq, seq + len);
      i += len - 1;
    }
    return {};
  }

  result<void> encode_number(const delimited_field& f, std::string_view v, byte_buffer& out) const {
    if (v.empty()) return {};  // absent: an empty field
    char buf[decimal::max_digits];
    bool negative = false;
    const auto s =
        decimal::to_digits(v, f.decimals, f.is_signed, buf, decimal::max_digits, negative);
    if (s != decimal::status::ok) {
      return make_error(errc::invalid_field, f.name,
                        decimal::message(s, f.decimals, decimal::max_digits));
    }
    const std::size_t whole_end = decimal::max_digits - static_cast<std::size_t>(f.decimals);
    std::size_t first = 0;
    const std::size_t keep_from = f.implied ? decimal::max_digits - 1 : whole_end - 1;
    while (first < keep_from && buf[first] == '0') ++first;
    const std::size_t chars =
        (negative ? 1 : 0) + (decimal::max_digits - first) + (!f.implied && f.decimals > 0 ? 1 : 0);
    if (f.max_length && chars > f.max_length) return too_long(f.name, f.max_length, chars);
    if (negative) out.push_back(digits_.minus);
    for (std::size_t k = first; k < decimal::max_digits; ++k) {
      if (k == whole_end && !f.implied) out.push_back(digits_.point);
      out.push_back(digits_.digit[buf[k] - '0']);
    }
    return {};
  }

  result<void> decode_text_field(const delimiters& d, const delimited_field& f, byte_view in,
                                 std::size_t b, std::size_t e, record& r, std::size_t i) const {
    std::string& slot = r.slot(i);
    slot.clear();
    if (auto ok = decode_text(d, f.name, in, b, e, slot); !ok) return ok;
    r.set_present(i);
    return {};
  }

  // Appends the text of wire bytes [b, e) with escapes removed.
  result<void> decode_text(const delimiters& d, std::string_view name, byte_view in, std::size_t b,
                           std::size_t e, std::string& out) const {
    auto flush = [&](byte_view bytes, std::size_t offset) -> result<void> {
      if (bytes.empty()) return {};
      auto done = cs_->decode(bytes, out);
      if (done) return {};
      codec_error err = std::move(done).error();
      err.code = errc::malformed;
      err.where = std::string(name);
      err.message += " in field at offset " + std::to_string(offset);
      return err;
    };
    auto flush_range = [&](std::size_t from, std::size_t to) {
      return flush(in.subspan(from, to - from), from);
    };
    std::size_t segment = b;
    if (d.escape >= 0 && !d.hl7) {
      for (std::size_t k = b; k < e;) {
        if (in[k] != static_cast<byte>(d.escape)) {
          ++k;
          continue;
        }
        if (auto ok = flush_range(segment, k); !ok) return ok;
        const std::size_t n = d.escaped_length(in, k, e);
        // A dangling escape at the end stays as it is; otherwise drop it, keep what it covers.
        segment = n == 1 ? k : k + 1;
        k += n;
        if (auto ok = flush_range(segment, k); !ok) return ok;
        segment = k;
      }
    } else if (d.escape >= 0) {
      const auto esc = static_cast<byte>(d.escape);
      for (std::size_t k = b; k < e;) {
        if (in[k] != esc) {
          ++k;
          continue;
        }
        std::size_t j = k + 1;
        while (j < e && in[j] != esc) ++j;
        if (j >= e) break;  // no closing escape: the rest is literal
        if (auto ok = flush_range(segment, k); !ok) return ok;
        if (auto ok = decode_hl7_sequence(d, in, k, j, flush); !ok) return ok;
        k = j + 1;
        segment = k;
      }
    }
    return flush_range(segment, e);
  }

  // The escape sequence in[k..j] (both ends the escape character). Unknown sequences (\H\, \N\,
  // \.br\, \Cxxyy\ ...) are kept as they are.
  template <class Flush>
  result<void> decode_hl7_sequence(const delimiters& d, byte_view in, std::size_t k, std::size_t j,
                                   Flush& flush) const {
    const byte_view body = in.subspan(k + 1, j - k - 1);
    if (body.size() == 1) {
      const byte c = body[0];
      const std::string* seq = c == codes_.F   ? &d.separator
                               : c == codes_.S ? &d.component
                               : c == codes_.T ? &d.subcomponent
                               : c == codes_.R ? &d.repetition
                                               : nullptr;
      if (seq && !seq->empty()) return flush(as_bytes(*seq), k);
      if (c == codes_.E) return flush(in.subspan(k, 1), k);
    } else if (body.size() >= 3 && body[0] == codes_.X && body.size() % 2 == 1 &&
               body.size() <= 1 + 2 * 64) {
      byte bytes[64];
      std::size_t n = 0;
      bool ok = true;
      for (std::size_t h = 1; h + 1 < body.size(); h += 2) {
        const int hi = codes_.hex_value[body[h]];
        const int lo = codes_.hex_value[body[h + 1]];
        if (hi < 0 || lo < 0) {
          ok = false;
          break;
        }
        bytes[n++] = static_cast<byte>(hi << 4 | lo);
      }
      if (ok) return flush(byte_view(bytes, n), k);
    }
    return flush(in.subspan(k, j + 1 - k), k);
  }

  result<void> decode_number(const delimited_field& f, byte_view in, std::size_t b, std::size_t e,
                             record& r, std::size_t i) const {
    if (b == e) {  // an empty numeric field has no value
      r.clear(i);
      return {};
    }
    char text[decimal::max_digits + 2];
    if (e - b > sizeof text) {
      return make_error(errc::malformed, f.name,
                        "more than " + std::to_string(decimal::max_digits) + " digits at offset " +
                            std::to_string(b));
    }
    std::size_t n = 0;
    for (std::size_t k = b; k < e; ++k) {
      const signed char c = digits_.reverse[in[k]];
      char ch = 0;
      if (c >= 0 && c <= 9) {
        ch = static_cast<char>('0' + c);
      } else if (c == charset_digits::minus_code && k == b) {
        ch = '-';
      } else if (c == charset_digits::plus_code && k == b) {
        ch = '+';
      } else if (c == charset_digits::point_code && !f.implied) {
        ch = '.';
      } else {
        return make_error(errc::malformed, f.name, "not a digit at offset " + std::to_string(k));
      }
      text[n++] = ch;
    }
    char buf[decimal::max_digits];
    bool negative = false;
    const int scale = f.implied ? 0 : f.decimals;
    const auto s = decimal::to_digits(std::string_view(text, n), scale, f.is_signed, buf,
                                      decimal::max_digits, negative);
    if (s != decimal::status::ok) {
      return make_error(
          errc::malformed, f.name,
          decimal::message(s, f.decimals, decimal::max_digits) + " at offset " + std::to_string(b));
    }
    std::string& slot = r.slot(i);
    slot.clear();
    decimal::append_canonical(slot, std::string_view(buf, decimal::max_digits), f.decimals,
                              negative);
    r.set_present(i);
    return {};
  }

  std::vector<delimited_field> fields_;
  std::vector<std::size_t> order_;  // flat line: field indices by (position, component)
  delimiters d_;
  const charset* cs_;
  charset_digits digits_;
};

// A separator written as text (through the charset) or as an array of raw byte values.
std::string read_delimiter(config_object& m, std::string_view key, const charset* cs,
                           bool required) {
  if (!m.has(key)) {
    m.accept(key);
    if (required) m.diag().error(m.child_path(key), "is required");
    return {};
  }
  const boost::json::value* v = m.raw().if_contains(key);
  auto bytes = m.get_bytes(key);
  if (!bytes) return {};
  if (bytes->empty()) {
    m.diag().error(m.child_path(key), "must not be empty");
    return {};
  }
  if (v && v->is_array()) return *bytes;
  byte_buffer wire;
  if (auto ok = cs->encode(*bytes, wire); !ok) {
    m.diag().error(m.child_path(key),
                   ok.error().message + " in charset " + std::string(cs->name()));
    return {};
  }
  return std::string(as_chars(wire));
}

std::string wire_text(const charset* cs, std::string_view text) {
  byte_buffer wire;
  if (!cs->encode(text, wire)) return {};
  return std::string(as_chars(wire));
}

}  // namespace

std::unique_ptr<layout> make_delimited_layout(layout_context& ctx) {
  config_object& m = ctx.message;
  const charset* cs = layout_detail::resolve_charset(m, ctx.default_charset);
  delimiters d;
  d.separator = read_delimiter(m, "separator", cs, true);
  d.component = read_delimiter(m, "component_separator", cs, false);
  d.terminator = read_delimiter(m, "terminator", cs, false);
  d.segment = read_delimiter(m, "segment_separator", cs, false);
  d.repetition = read_delimiter(m, "repetition_separator", cs, false);
  d.subcomponent = read_delimiter(m, "subcomponent_separator", cs, false);
  const bool segmented = !d.segment.empty();
  if (!segmented) {
    if (!d.repetition.empty())
      m.diag().error(m.child_path("repetition_separator"), "needs segment_separator");
    if (!d.subcomponent.empty())
      m.diag().error(m.child_path("subcomponent_separator"), "needs segment_separator");
  } else if (!d.terminator.empty()) {
    m.diag().error(m.child_path("terminator"),
                   "is not used with segment_separator (every segment ends with it)");
  }
  {
    const std::pair<std::string_view, const std::string*> seps[] = {
        {"separator", &d.separator},
        {"component_separator", &d.component},
        {"repetition_separator", &d.repetition},
        {"subcomponent_separator", &d.subcomponent},
        {"segment_separator", &d.segment}};
    for (std::size_t a = 1; a < std::size(seps); ++a) {
      for (std::size_t b = 0; b < a; ++b) {
        if (seps[a].second->empty() || *seps[a].second != *seps[b].second) continue;
        m.diag().error(m.child_path(seps[a].first),
                       "must differ from " + std::string(seps[b].first));
        break;
      }
    }
  }
  d.hl7 = m.get_enum("escape_style", {"char", "hl7"}, "char") == "hl7";
  if (m.has("escape") || d.hl7) {
    std::string text;
    d.escape = layout_detail::read_char_key(m, "escape", "\\", cs, text);
    const char e = static_cast<char>(d.escape);
    if (d.escape >= 0 &&
        (d.separator.find(e) != std::string::npos || d.component.find(e) != std::string::npos ||
         d.terminator.find(e) != std::string::npos || d.repetition.find(e) != std::string::npos ||
         d.subcomponent.find(e) != std::string::npos || d.segment.find(e) != std::string::npos)) {
      m.diag().error(m.child_path("escape"), "must differ from the separators and terminator");
    }
  }
  charset_digits digits;
  const bool have_digits = decimal::make_charset_digits(cs, digits);

  // Segment model: the declared segments (encode order), the header, repeating groups.
  std::vector<segment_def> segments;
  int header_segment = -1;
  bool header_carries = false;
  if (segmented) {
    if (const json::array* list = m.get_array("segments", true)) {
      if (list->empty()) m.diag().error(m.child_path("segments"), "must not be empty");
      if (list->size() > 64) m.diag().error(m.child_path("segments"), "must list at most 64");
      for (std::size_t k = 0; k < list->size() && k < 64; ++k) {
        const std::string p = m.child_path("segments") + "[" + std::to_string(k) + "]";
        std::string id, err;
        address ignored;
        if ((*list)[k].is_string()) {
          id = std::string((*list)[k].get_string());
          err = parse_path(id + "-1", true, id, ignored);
        }
        if (id.empty() || !err.empty()) {
          m.diag().error(p, "must be a segment id (letters and digits)");
          continue;
        }
        if (std::any_of(segments.begin(), segments.end(),
                        [&](const segment_def& s) { return s.id == id; })) {
          m.diag().error(p, "segment \"" + id + "\" is listed twice");
          continue;
        }
        segment_def s;
        s.id = id;
        s.wire_id = wire_text(cs, id);
        segments.push_back(std::move(s));
      }
    }
    if (auto h = m.get_optional_string("header_segment")) {
      auto it = std::find_if(segments.begin(), segments.end(),
                             [&](const segment_def& s) { return s.id == *h; });
      if (it == segments.end()) {
        m.diag().error(m.child_path("header_segment"), "\"" + *h + "\" is not in segments");
      } else if (it != segments.begin()) {
        m.diag().error(m.child_path("header_segment"), "must be the first of segments");
      } else {
        header_segment = 0;
        it->header = true;
      }
    }
    header_carries = m.get_bool("header_carries_separators", false);
    if (header_carries) {
      if (!m.has("header_segment")) {
        m.diag().error(m.child_path("header_carries_separators"), "needs header_segment");
      }
      const std::pair<std::string_view, const std::string*> needed[] = {
          {"separator", &d.separator},
          {"component_separator", &d.component},
          {"repetition_separator", &d.repetition},
          {"subcomponent_separator", &d.subcomponent}};
      for (const auto& [key, value] : needed) {
        if (value->size() != 1)
          m.diag().error(m.child_path(key),
                         "must be one byte when header_carries_separators is true");
      }
      if (d.escape < 0)
        m.diag().error(m.child_path("escape"),
                       "is required when header_carries_separators is true");
    }
  } else {
    for (std::string_view key : {"segments", "header_segment", "header_carries_separators"}) {
      if (m.has(key)) {
        m.accept(key);
        m.diag().error(m.child_path(key), "needs segment_separator");
      }
    }
  }
  hl7_codes codes;
  codes.hex_value.fill(-1);
  if (d.hl7) {
    bool ok = true;
    auto code = [&](char c, byte& out) {
      const int w = cs->encode_char(static_cast<char32_t>(c));
      if (w < 0)
        ok = false;
      else
        out = static_cast<byte>(w);
    };
    code('F', codes.F);
    code('S', codes.S);
    code('T', codes.T);
    code('R', codes.R);
    code('E', codes.E);
    code('X', codes.X);
    static constexpr char hex[] = "0123456789ABCDEF";
    for (int k = 0; k < 16; ++k) {
      code(hex[k], codes.hex_digit[static_cast<std::size_t>(k)]);
      codes.hex_value[codes.hex_digit[static_cast<std::size_t>(k)]] = static_cast<signed char>(k);
      const int lower = cs->encode_char(static_cast<char32_t>(k < 10 ? hex[k] : 'a' + (k - 10)));
      if (lower >= 0)
        codes.hex_value[static_cast<std::size_t>(lower)] = static_cast<signed char>(k);
    }
    if (!ok)
      m.diag().error(m.child_path("escape_style"),
                     "charset " + std::string(cs->name()) + " cannot write HL7 escape sequences");
  }

  auto needs_separators = [&](config_object& c, std::string_view key, const address& a) {
    if (a.repetition > 1 && d.repetition.empty())
      c.diag().error(c.child_path(key), "a repetition needs the message's repetition_separator");
    if (a.component && d.component.empty())
      c.diag().error(c.child_path(key), "a component needs the message's component_separator");
    if (a.subcomponent && d.subcomponent.empty())
      c.diag().error(c.child_path(key),
                     "a subcomponent needs the message's subcomponent_separator");
  };

  std::vector<delimited_field> fields;
  std::vector<segment_group> groups;
  fields.reserve(ctx.fields.size());
  for (std::size_t i = 0; i < ctx.fields.size(); ++i) {
    config_object& c = ctx.fields[i];
    delimited_field f;
    f.name = i < ctx.field_names.size() ? ctx.field_names[i] : std::string();
    if (segmented) {
      for (std::string_view key : {"position", "component"}) {
        if (c.has(key)) {
          c.accept(key);
          c.diag().error(c.child_path(key), "use \"path\" in a message with segment_separator");
        }
      }
      if (c.has("segment")) {  // a repeating segment group carried as a JSON array
        const std::string seg = c.get_string("segment");
        const json::value* kind = c.find("json");
        if (!kind || !kind->is_string() || kind->get_string() != "array")
          c.diag().error(c.child_path("segment"), "a segment group needs \"json\": \"array\"");
        auto it = std::find_if(segments.begin(), segments.end(),
                               [&](const segment_def& s) { return s.id == seg; });
        if (it == segments.end()) {
          c.diag().error(c.child_path("segment"), "\"" + seg + "\" is not in segments");
        } else if (it->header) {
          c.diag().error(c.child_path("segment"), "the header segment cannot repeat");
        } else if (it->group >= 0) {
          c.diag().error(c.child_path("segment"),
                         "segment \"" + seg + "\" already has a group field");
        } else {
          it->group = static_cast<int>(groups.size());
        }
        segment_group g;
        g.field = i;
        if (const json::object* comps = c.get_object("components", true)) {
          if (comps->empty()) c.diag().error(c.child_path("components"), "must not be empty");
          for (const auto& kv : *comps) {
            const std::string p = c.child_path("components") + "." + std::string(kv.key());
            group_component gc;
            gc.key = std::string(kv.key());
            std::string unused;
            if (!kv.value().is_string()) {
              c.diag().error(p, "must be a path within the segment (\"3.1\")");
              continue;
            }
            gc.path = std::string(kv.value().get_string());
            if (auto err = parse_path(gc.path, false, unused, gc.at); !err.empty()) {
              c.diag().error(p, err);
              continue;
            }
            needs_separators(c, "components", gc.at);
            g.components.push_back(std::move(gc));
          }
        }
        std::stable_sort(g.components.begin(), g.components.end(),
                         [](const auto& a, const auto& b) { return a.at.key() < b.at.key(); });
        for (std::size_t k = 1; k < g.components.size(); ++k) {
          if (g.components[k - 1].at.overlaps(g.components[k].at))
            c.diag().error(
                c.child_path("components") + "." + g.components[k].key,
                "\"" + g.components[k].path + "\" overlaps \"" + g.components[k - 1].key + "\"");
        }
        if (auto seq = c.get_optional_string("sequence")) {
          for (std::size_t k = 0; k < g.components.size(); ++k)
            if (g.components[k].key == *seq) g.sequence = static_cast<int>(k);
          if (g.sequence < 0)
            c.diag().error(c.child_path("sequence"), "\"" + *seq + "\" is not in components");
        }
        f.group = static_cast<int>(groups.size());
        groups.push_back(std::move(g));
        fields.push_back(std::move(f));
        continue;
      }
      f.path = c.require_string("path");
      std::string seg;
      if (!f.path.empty()) {
        if (auto err = parse_path(f.path, true, seg, f.at); !err.empty()) {
          c.diag().error(c.child_path("path"), err);
        } else {
          needs_separators(c, "path", f.at);
          auto it = std::find_if(segments.begin(), segments.end(),
                                 [&](const segment_def& s) { return s.id == seg; });
          if (it == segments.end()) {
            c.diag().error(c.child_path("path"), "segment \"" + seg + "\" is not in segments");
          } else if (it->group >= 0) {
            c.diag().error(c.child_path("path"),
                           "segment \"" + seg + "\" is a repeating group (use its components)");
          } else {
            if (it->header && header_carries) {
              if (f.at.field <= 2)
                c.diag().error(c.child_path("path"),
                               seg + "-1 and " + seg +
                                   "-2 are the separators, written from the message's keys");
              else
                f.at.slot = f.at.field - 1;
            }
            it->fields.push_back(i);
          }
        }
      }
    } else {
      for (std::string_view key : {"path", "segment"}) {
        if (c.has(key)) {
          c.accept(key);
          c.diag().error(c.child_path(key), "needs the message's segment_separator");
        }
      }
      f.position =
          static_cast<std::size_t>(c.get_int("position", static_cast<std::int64_t>(i), 0, 100000));
      if (auto comp = c.get_optional_int("component", 0, 1000)) {
        if (d.component.empty()) {
          c.diag().error(c.child_path("component"), "needs the message's component_separator");
        } else {
          f.component = static_cast<int>(*comp);
        }
      }
    }
    f.numeric = c.get_enum("type", {"text", "numeric"}, "text") == "numeric";
    if (f.numeric) {
      f.decimals = static_cast<int>(c.get_int("decimals", 0, 0, 30));
      f.is_signed = c.get_bool("signed", false);
      f.implied = c.get_bool("implied_decimals", false);
      if (!have_digits) {
        c.diag().error(c.child_path("type"),
                       "charset " + std::string(cs->name()) + " has no digits or sign characters");
      }
    }
    if (auto max = c.get_optional_int("max_length", 1, 1 << 20))
      f.max_length = static_cast<std::size_t>(*max);
    fields.push_back(std::move(f));
  }

  std::vector<std::size_t> order;
  if (segmented) {
    for (segment_def& s : segments) {
      if (s.group >= 0 && !s.fields.empty()) {
        config_object& c = ctx.fields[s.fields.front()];
        c.diag().error(c.child_path("path"),
                       "segment \"" + s.id + "\" is a repeating group (use its components)");
      }
      std::stable_sort(s.fields.begin(), s.fields.end(), [&](std::size_t a, std::size_t b) {
        return fields[a].at.key() < fields[b].at.key();
      });
      for (std::size_t k = 1; k < s.fields.size(); ++k) {
        const delimited_field& prev = fields[s.fields[k - 1]];
        const delimited_field& cur = fields[s.fields[k]];
        if (!prev.at.overlaps(cur.at)) continue;
        config_object& c = ctx.fields[s.fields[k]];
        c.diag().error(c.child_path("path"), "\"" + cur.path + "\" overlaps field \"" + prev.name +
                                                 "\" (" + prev.path + ")");
      }
    }
  } else {
    order.resize(fields.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      if (fields[a].position != fields[b].position) return fields[a].position < fields[b].position;
      return fields[a].component < fields[b].component;
    });
    for (std::size_t k = 1; k < order.size(); ++k) {
      const delimited_field& prev = fields[order[k - 1]];
      const delimited_field& cur = fields[order[k]];
      if (prev.position != cur.position) continue;
      if (prev.component == cur.component || prev.component < 0) {
        config_object& c = ctx.fields[order[k]];
        c.diag().error(c.child_path(cur.component >= 0 ? "component" : "position"),
                       "position " + std::to_string(cur.position) +
                           (cur.component >= 0 ? " component " + std::to_string(cur.component)
                                               : std::string()) +
                           " is already used by field \"" + prev.name + "\"");
      }
    }
  }
  auto lay = std::make_unique<delimited_layout>(std::move(fields), std::move(order), std::move(d),
                                                cs, digits);
  lay->segments_ = std::move(segments);
  lay->groups_ = std::move(groups);
  lay->header_carries_ = header_carries;
  lay->header_segment_ = header_segment;
  lay->codes_ = codes;
  lay->blank_ = wire_text(cs, "\r\n");
  return lay;
}

}  // namespace dragoman::codecs
