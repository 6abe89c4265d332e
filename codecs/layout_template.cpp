// Template layout: a message is text made from a template with {field} placeholders (memcached's
// text protocol and other line protocols), decoded by matching the template or its alternatives.
// The compiler that builds it from the profile is in layout_template_compile.cpp.
#include "codecs/layout_impl.hpp"
#include "codecs/layout_template_impl.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::codecs {

namespace {

using namespace template_detail;

// Why an alternative did not match, without building strings on the data path.
enum class miss_kind { literal, literal_not_found, short_block, bad_count, bad_value, trailing };

struct miss {
  std::size_t alt = 0;
  std::size_t seg = 0;
  std::size_t offset = 0;
  miss_kind kind = miss_kind::literal;
  std::uint64_t count = 0;       // short_block: bytes needed
  const char* reason = nullptr;  // bad_value: the type check's reason
  std::string detail;            // bad_value: the charset's reason (rare, so a string is fine)
};

bool parse_count(std::string_view text, std::uint64_t& n) noexcept {
  if (text.empty() || text.size() > 19) return false;
  n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

// Checks a value against its field's type and limit; returns the reason or nullptr.
const char* check_value(const template_field& f, std::string_view v, std::size_t wire_length) {
  if (f.max_length && wire_length > f.max_length) return "longer than max_length";
  switch (f.type) {
    case value_type::text:
      return nullptr;
    case value_type::token:
      if (v.empty()) return "must not be empty";
      for (char c : v) {
        const auto b = static_cast<unsigned char>(c);
        if (b <= 0x20 || b == 0x7F) return "must not contain spaces or control characters";
      }
      return nullptr;
    case value_type::number: {
      std::size_t i = 0;
      if (f.is_signed && !v.empty() && (v[0] == '-' || v[0] == '+')) i = 1;
      if (i == v.size()) return "must be a number";
      for (; i < v.size(); ++i)
        if (v[i] < '0' || v[i] > '9') return "must be a number";
      return nullptr;
    }
  }
  return nullptr;
}

class template_layout final : public layout {
 public:
  template_layout(std::vector<template_field> fields, std::vector<alternative> alts,
                  const charset* cs, bool single)
      : fields_(std::move(fields)), alts_(std::move(alts)), cs_(cs), single_(single) {}

  result<void> encode(const record& r, byte_buffer& out) const override {
    const alternative* chosen = nullptr;
    for (const auto& a : alts_) {
      if (fits(a, r)) {
        chosen = &a;
        break;
      }
    }
    if (!chosen) {
      if (alts_.size() != 1) {
        const alternative& a = alts_.front();
        for (std::size_t f : a.needs)
          if (!r.has(f))
            return make_error(errc::invalid_field, fields_[f].name,
                              "is required: no template alternative fits the record (the first, " +
                                  quote(a.text) + ", needs it)");
        return make_error(errc::invalid_field, {},
                          "no template alternative fits the record's fields and \"set\" values");
      }
      chosen = &alts_.front();
      for (std::size_t f : chosen->needs)
        if (!r.has(f))
          return make_error(errc::invalid_field, fields_[f].name,
                            "is required by the template " + quote(chosen->text));
    }
    const std::size_t start = out.size();
    auto done = write(*chosen, r, out);
    if (!done) out.resize(start);
    return done;
  }

  result<void> decode(byte_view payload, record& r) const override {
    std::optional<miss> best;
    miss m;
    for (std::size_t a = 0; a < alts_.size(); ++a) {
      for (std::size_t i = 0; i < r.size(); ++i) r.clear(i);
      m.alt = a;
      if (match(alts_[a], payload, r, m)) {
        for (const auto& [f, v] : alts_[a].sets) r.set(f, v);
        return {};
      }
      if (!best || m.offset > best->offset) best = m;
    }
    for (std::size_t i = 0; i < r.size(); ++i) r.clear(i);
    return describe_miss(*best, payload);
  }

  boost::json::object describe_field(std::size_t index) const override {
    boost::json::object o;
    if (index >= fields_.size()) return o;
    const template_field& f = fields_[index];
    o["type"] = type_names[static_cast<int>(f.type)];
    o["charset"] = f.cs->name();
    if (f.max_length) o["max_length"] = f.max_length;
    if (f.type == value_type::number) {
      o["signed"] = f.is_signed;
      o["digits"] = "as_written";  // a number is the text on the wire, never reformatted
    }
    if (f.length_from) o["length_from"] = f.length_from_name;
    return o;
  }

  boost::json::object describe() const override {
    boost::json::object o;
    o["type"] = "template";
    o["charset"] = cs_->name();
    if (single_) {
      o["template"] = alts_.front().text;
      return o;
    }
    boost::json::array alts;
    for (const auto& a : alts_) {
      boost::json::object ao;
      ao["template"] = a.text;
      if (!a.sets.empty()) {
        boost::json::object s;
        for (const auto& [f, v] : a.sets) s[fields_[f].name] = v;
        ao["set"] = std::move(s);
      }
      alts.push_back(std::move(ao));
    }
    o["alternatives"] = std::move(alts);
    return o;
  }

 private:
  bool fits(const alternative& a, const record& r) const {
    for (std::size_t f : a.needs)
      if (!r.has(f)) return false;
    for (const auto& [f, v] : a.sets)
      if (r.has(f) && r.get(f) != v) return false;
    return true;
  }

  result<void> write_text(const template_field& f, std::string_view v, byte_buffer& out) const {
    auto done = f.cs->encode(v, out);
    if (!done) {
      codec_error e = std::move(done).error();
      e.where = f.name;
      return e;
    }
    return {};
  }

  static void append_decimal(std::uint64_t n, char (&buf)[24], std::string_view& text) {
    auto res = std::to_chars(buf, buf + sizeof buf, n);
    text = std::string_view(buf, static_cast<std::size_t>(res.ptr - buf));
  }

  result<void> write(const alternative& a, const record& r, byte_buffer& out) const {
    for (std::size_t s = 0; s < a.segs.size(); ++s) {
      const segment& seg = a.segs[s];
      switch (seg.kind) {
        case seg_kind::literal:
          append(out, seg.literal);
          break;
        case seg_kind::length_of: {
          const template_field& target = fields_[seg.field];
          char buf[24];
          std::string_view digits;
          append_decimal(target.cs->wire_length(r.get(seg.field)), buf, digits);
          if (auto done = cs_->encode(digits, out); !done) {
            codec_error e = std::move(done).error();
            e.where = target.name;
            return e;
          }
          break;
        }
        case seg_kind::field: {
          const template_field& f = fields_[seg.field];
          char buf[24];
          std::string_view v = r.get(seg.field);
          if (seg.counts) {
            const std::size_t length = fields_[*seg.counts].cs->wire_length(r.get(*seg.counts));
            std::string_view computed;
            append_decimal(length, buf, computed);
            if (!r.has(seg.field)) {
              v = computed;
            } else if (v != computed) {
              return make_error(errc::invalid_field, f.name,
                                "is " + std::string(v) + " but " + fields_[*seg.counts].name +
                                    " is " + std::to_string(length) + " bytes");
            }
          }
          if (const char* why = check_value(f, v, f.cs->wire_length(v))) {
            std::string message = why;
            if (f.max_length && std::strcmp(why, "longer than max_length") == 0)
              message = "is " + std::to_string(f.cs->wire_length(v)) +
                        " characters, longer than max_length " + std::to_string(f.max_length);
            return make_error(errc::invalid_field, f.name, std::move(message));
          }
          const std::size_t start = out.size();
          if (auto done = write_text(f, v, out); !done) return done;
          // Unless counted, a value ends at the next literal: it must not contain it.
          if (seg.count == count_kind::none && s + 1 < a.segs.size() &&
              a.segs[s + 1].kind == seg_kind::literal) {
            const std::string& lit = a.segs[s + 1].literal;
            const auto it = std::search(out.begin() + static_cast<long>(start), out.end(),
                                        lit.begin(), lit.end());
            if (it != out.end())
              return make_error(errc::invalid_field, f.name,
                                "must not contain " + quote(lit) +
                                    " (it ends the value in the template " + quote(a.text) + ")");
          }
          break;
        }
      }
    }
    return {};
  }

  // Matches one alternative; on failure fills m (except m.alt).
  bool match(const alternative& a, byte_view payload, record& r, miss& m) const {
    std::array<std::uint64_t, max_segments> lengths{};
    const std::size_t size = payload.size();
    std::size_t pos = 0;
    auto fail = [&](std::size_t seg, std::size_t offset, miss_kind kind) {
      m.seg = seg;
      m.offset = offset;
      m.kind = kind;
      return false;
    };
    for (std::size_t s = 0; s < a.segs.size(); ++s) {
      const segment& seg = a.segs[s];
      if (seg.kind == seg_kind::literal) {
        const std::string& lit = seg.literal;
        if (size - pos < lit.size() || std::memcmp(payload.data() + pos, lit.data(), lit.size()))
          return fail(s, pos, miss_kind::literal);
        pos += lit.size();
        continue;
      }
      // Where the value ends: by count, at the next literal, or at the end of the payload.
      std::size_t end = size;
      if (seg.count != count_kind::none) {
        std::uint64_t n = 0;
        if (seg.count == count_kind::length_segment) {
          n = lengths[seg.count_from];
        } else if (!parse_count(r.get(seg.count_from), n)) {
          return fail(s, pos, miss_kind::bad_count);
        }
        if (n > size - pos) {
          m.count = n;
          return fail(s, pos, miss_kind::short_block);
        }
        end = pos + static_cast<std::size_t>(n);
      } else if (s + 1 < a.segs.size()) {
        const std::string& lit = a.segs[s + 1].literal;  // compile ensures a literal follows
        const auto it = std::search(payload.begin() + static_cast<long>(pos), payload.end(),
                                    lit.begin(), lit.end());
        if (it == payload.end()) return fail(s + 1, pos, miss_kind::literal_not_found);
        end = static_cast<std::size_t>(it - payload.begin());
      }
      const byte_view wire = payload.subspan(pos, end - pos);
      if (seg.kind == seg_kind::length_of) {
        if (!parse_count(as_chars(wire), lengths[s])) return fail(s, pos, miss_kind::bad_value);
      } else {
        const template_field& f = fields_[seg.field];
        std::string& slot = r.slot(seg.field);
        slot.clear();
        auto done = f.cs->decode(wire, slot);
        if (!done) {
          m.reason = nullptr;
          m.detail = std::move(done).error().message;
          return fail(s, pos, miss_kind::bad_value);
        }
        if (const char* why = check_value(f, slot, wire.size())) {
          m.reason = why;
          return fail(s, pos, miss_kind::bad_value);
        }
        r.set_present(seg.field);
      }
      pos = end;
    }
    if (pos != size) return fail(a.segs.size(), pos, miss_kind::trailing);
    return true;
  }

  codec_error describe_miss(const miss& m, byte_view payload) const {
    const alternative& a = alts_[m.alt];
    std::string where;
    std::string what;
    const std::string at = " at offset " + std::to_string(m.offset);
    switch (m.kind) {
      case miss_kind::literal: {
        const std::string& lit = a.segs[m.seg].literal;
        const std::size_t n = std::min(payload.size() - m.offset, lit.size());
        what = "expected " + quote(lit) + at + ", found " +
               (n ? quote(as_chars(payload.subspan(m.offset, n))) : std::string("the end"));
        break;
      }
      case miss_kind::literal_not_found:
        where = fields_[a.segs[m.seg - 1].field].name;
        what = "expected " + quote(a.segs[m.seg].literal) + " after the value starting" + at;
        break;
      case miss_kind::short_block:
        where = fields_[a.segs[m.seg].field].name;
        what = "expected " + std::to_string(m.count) + " bytes" + at + ", got " +
               std::to_string(payload.size() - m.offset);
        break;
      case miss_kind::bad_count:
        where = fields_[a.segs[m.seg].count_from].name;
        what = "is not a byte count (for " + fields_[a.segs[m.seg].field].name + at + ")";
        break;
      case miss_kind::bad_value:
        where = fields_[a.segs[m.seg].field].name;
        what = a.segs[m.seg].kind == seg_kind::length_of ? "length must be a number" + at
                                                         : (m.reason ? m.reason : m.detail) + at;
        break;
      case miss_kind::trailing:
        what = "unexpected bytes after the template" + at;
        break;
    }
    if (alts_.size() > 1)
      what = "matches none of the " + std::to_string(alts_.size()) + " alternatives; alternative " +
             std::to_string(m.alt) + " " + quote(a.text) +
             " got furthest: " + (where.empty() ? "" : where + " ") + what;
    return make_error(errc::malformed, alts_.size() > 1 ? std::string() : where, std::move(what));
  }

  std::vector<template_field> fields_;
  std::vector<alternative> alts_;
  const charset* cs_;
  bool single_;
};

}  // namespace

namespace template_detail {

std::unique_ptr<layout> make_compiled_template_layout(std::vector<template_field> fields,
                                                      std::vector<alternative> alts,
                                                      const charset* cs, bool single) {
  return std::make_unique<template_layout>(std::move(fields), std::move(alts), cs, single);
}

}  // namespace template_detail

}  // namespace dragoman::codecs
