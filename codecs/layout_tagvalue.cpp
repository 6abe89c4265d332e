// Tag=value layout (FIX and its kin): `tag=value` fields each ended by a separator byte, in the
// message's order on encode; on decode the header tags first in their order, the rest in any
// order, repeating groups (a count tag, then entries each opened by the group's first tag), data
// fields whose byte length an earlier tag gives, words for codes, and the tags the message does
// not list kept in its unknown-tags field. Its configuration reader is layout_tagvalue_config.cpp.
#include "codecs/layout_impl.hpp"
#include "codecs/layout_tagvalue_impl.hpp"

#include "codecs/json_text.hpp"

#include <algorithm>
#include <charconv>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::codecs {

namespace {

using namespace tagvalue_detail;
namespace json = boost::json;

struct token {
  std::uint32_t tag;
  std::string_view value;
  std::size_t offset;  // of the tag in the payload
};

bool parse_uint(std::string_view s, std::uint64_t& v) {
  if (s.empty() || s.size() > 18) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::string tag_name(const tv_field& f) {
  return "tag " + std::to_string(f.tag) + " (" + f.name + ")";
}

class tagvalue_layout final : public layout {
 public:
  explicit tagvalue_layout(tv_config c) : c_(std::move(c)) {
    collect_data_tags(c_.fields);
    for (std::size_t i = 0; i < c_.fields.size(); ++i)
      if (c_.fields[i].unknown_tags) unknown_ = i;
  }

  result<void> encode(const record& r, byte_buffer& out) const override {
    for (std::size_t i = 0; i < c_.fields.size(); ++i) {
      const tv_field& f = c_.fields[i];
      if (f.unknown_tags) {
        if (!r.has(i)) continue;
        if (auto res = encode_unknown(f, r.get(i), out); !res) return res;
        continue;
      }
      if (f.length_of != none) {
        // Derived from its data field, whatever the record says.
        if (r.has(f.length_of)) {
          write(out, f.tag, std::to_string(r.get(f.length_of).size()));
          continue;
        }
      }
      if (!r.has(i)) continue;
      if (f.is_group) {
        boost::system::error_code ec;
        json::value v = json::parse(r.get(i), ec);
        if (ec || !v.is_array()) return make_error(errc::invalid_field, f.name, "must be an array");
        if (auto res = encode_group(f, v.get_array(), f.name, out); !res) return res;
        continue;
      }
      // Kept per thread for its capacity: a value longer than the short-string buffer (a
      // timestamp) would otherwise allocate on every message.
      thread_local std::string code;
      if (auto res = value_of(f, r.get(i), f.name, code); !res) return res;
      if (f.length_from == none)
        if (auto res = check_text(code, f.name); !res) return res;
      write(out, f.tag, code);
    }
    return {};
  }

  result<void> decode(byte_view payload, record& r) const override {
    thread_local std::vector<token> tokens;
    tokens.clear();
    if (auto res = tokenize(payload, tokens); !res) return res;
    for (std::size_t p = 0; p < c_.ordered.size(); ++p) {
      if (p < tokens.size() && tokens[p].tag == c_.ordered[p]) continue;
      return make_error(errc::malformed, "",
                        "field " + std::to_string(p + 1) + " must be tag " +
                            std::to_string(c_.ordered[p]) + ", found " +
                            (p < tokens.size() ? "tag " + std::to_string(tokens[p].tag)
                                               : std::string("the end")));
    }
    json::array unknown;
    std::size_t pos = 0;
    while (pos < tokens.size()) {
      const token& t = tokens[pos];
      const std::size_t i = find(c_.fields, t.tag);
      if (i == none) {
        ++pos;
        if (is_stage_tag(t.tag)) continue;
        if (unknown_ == none)
          return make_error(errc::malformed, "",
                            "tag " + std::to_string(t.tag) + " at offset " +
                                std::to_string(t.offset) + " is not a field of this message");
        unknown.push_back(json::object{{"tag", t.tag}, {"value", t.value}});
        continue;
      }
      const tv_field& f = c_.fields[i];
      if (r.has(i))
        return make_error(errc::malformed, f.name,
                          tag_name(f) + " repeated at offset " + std::to_string(t.offset));
      ++pos;
      if (f.is_group) {
        json::array entries;
        if (auto res = decode_group(f, t, tokens, pos, entries); !res) return res;
        r.set(i, json::serialize(entries));
        continue;
      }
      r.set(i, word_of(f, t.value));
    }
    if (unknown_ != none && !unknown.empty()) r.set(unknown_, json::serialize(unknown));
    for (std::size_t i = 0; i < c_.fields.size(); ++i)
      if (c_.fields[i].required && !r.has(i))
        return make_error(errc::malformed, c_.fields[i].name,
                          "required " + tag_name(c_.fields[i]) + " is missing");
    return {};
  }

  json::object describe_field(std::size_t index) const override {
    json::object o = describe(c_.fields[index]);
    o["separator_byte"] = c_.separator;  // values may not hold it (but data fields)
    return o;
  }

  json::object describe() const override {
    json::object o;
    o["type"] = "tag_value";
    o["separator"] = layout_detail::quote_bytes(c_.separator);
    json::array ordered, stage;
    for (auto t : c_.ordered) ordered.push_back(t);
    for (auto t : c_.stage_tags) stage.push_back(t);
    o["header_order"] = std::move(ordered);
    o["stage_tags"] = std::move(stage);
    return o;
  }

 private:
  static json::object describe(const tv_field& f) {
    json::object o;
    if (f.unknown_tags) {
      o["type"] = "unknown_tags";
      return o;
    }
    o["tag"] = f.tag;
    if (!f.words.empty()) {
      json::object w;
      for (const auto& [word, code] : f.words) w[word] = code;
      o["enum"] = std::move(w);
    }
    if (f.length_from != none) o["data"] = true;
    if (f.is_group) {
      json::array g;
      for (const auto& e : f.group) {
        json::object d = describe(e);
        d["name"] = e.name;
        g.push_back(std::move(d));
      }
      o["group"] = std::move(g);
    }
    return o;
  }

  static std::size_t find(const std::vector<tv_field>& fields, std::uint32_t tag) {
    for (std::size_t i = 0; i < fields.size(); ++i)
      if (fields[i].tag == tag && !fields[i].unknown_tags) return i;
    return none;
  }

  bool is_stage_tag(std::uint32_t tag) const {
    return std::find(c_.stage_tags.begin(), c_.stage_tags.end(), tag) != c_.stage_tags.end();
  }

  void collect_data_tags(const std::vector<tv_field>& fields) {
    for (const tv_field& f : fields) {
      if (f.length_from != none) data_tags_.emplace_back(f.tag, fields[f.length_from].tag);
      if (f.is_group) collect_data_tags(f.group);
    }
  }

  // Splits the payload into tag=value pairs; a data field takes exactly the length its length
  // tag (seen just before) gave, separators included.
  result<void> tokenize(byte_view payload, std::vector<token>& tokens) const {
    const std::string_view s(reinterpret_cast<const char*>(payload.data()), payload.size());
    const char sep = c_.separator[0];
    std::size_t at = 0;
    std::uint32_t last_tag = 0;
    std::string_view last_value;
    while (at < s.size()) {
      const std::size_t eq = s.find('=', at);
      const std::size_t end_of_field = s.find(sep, at);
      if (eq == std::string_view::npos ||
          (end_of_field != std::string_view::npos && eq > end_of_field))
        return make_error(errc::malformed, "",
                          "no '=' in the field at offset " + std::to_string(at));
      std::uint64_t tag = 0;
      if (!parse_uint(s.substr(at, eq - at), tag) || tag == 0 || tag > 99999999)
        return make_error(errc::malformed, "",
                          "tag \"" + std::string(s.substr(at, std::min<std::size_t>(eq - at, 12))) +
                              "\" at offset " + std::to_string(at) + " is not a tag number");
      std::size_t value_end = end_of_field;
      for (const auto& [data_tag, length_tag] : data_tags_) {
        if (data_tag != tag) continue;
        std::uint64_t n = 0;
        if (last_tag != length_tag || !parse_uint(last_value, n))
          return make_error(errc::malformed, "",
                            "data tag " + std::to_string(tag) + " at offset " + std::to_string(at) +
                                " must follow its length tag " + std::to_string(length_tag));
        if (n > s.size() - eq - 1)
          return make_error(errc::malformed, "",
                            "data tag " + std::to_string(tag) + " declares " + std::to_string(n) +
                                " bytes, " + std::to_string(s.size() - eq - 1) + " remain");
        value_end = eq + 1 + static_cast<std::size_t>(n);
        if (value_end >= s.size() || s[value_end] != sep)
          return make_error(errc::malformed, "",
                            "data tag " + std::to_string(tag) +
                                " is not followed by the separator "
                                "after its " +
                                std::to_string(n) + " bytes");
        break;
      }
      if (value_end == std::string_view::npos)
        return make_error(errc::malformed, "",
                          "the field at offset " + std::to_string(at) +
                              " does not end with the separator " +
                              layout_detail::quote_bytes(c_.separator));
      const std::string_view value = s.substr(eq + 1, value_end - eq - 1);
      if (value.empty())
        return make_error(errc::malformed, "",
                          "tag " + std::to_string(tag) + " at offset " + std::to_string(at) +
                              " has an empty value");
      tokens.push_back({static_cast<std::uint32_t>(tag), value, at});
      last_tag = static_cast<std::uint32_t>(tag);
      last_value = value;
      at = value_end + 1;
    }
    return {};
  }

  // A view of the profile's word, or of `code` itself: valid while both are.
  static std::string_view word_of(const tv_field& f, std::string_view code) {
    for (const auto& [word, c] : f.words)
      if (c == code) return word;
    return code;  // a code the profile has no word for stays as it came
  }

  // The wire value of a record value: the code of a word, a code as it is.
  static result<void> value_of(const tv_field& f, std::string_view v, std::string_view where,
                               std::string& code) {
    if (f.words.empty()) {
      code.assign(v);
      return {};
    }
    for (const auto& [word, c] : f.words) {
      if (word == v || c == v) {
        code = c;
        return {};
      }
    }
    std::string names;
    for (const auto& [word, c] : f.words) names += (names.empty() ? "" : ", ") + word;
    return make_error(errc::invalid_field, std::string(where),
                      "\"" + std::string(v) + "\" is none of " + names + " (nor their codes)");
  }

  result<void> check_text(std::string_view v, std::string_view where) const {
    if (v.empty()) return make_error(errc::invalid_field, std::string(where), "must not be empty");
    if (v.find(c_.separator[0]) != std::string_view::npos)
      return make_error(
          errc::invalid_field, std::string(where),
          "must not contain the separator " + layout_detail::quote_bytes(c_.separator));
    return {};
  }

  void write(byte_buffer& out, std::uint32_t tag, std::string_view value) const {
    char buf[16];
    auto r = std::to_chars(buf, buf + sizeof buf, tag);
    out.insert(out.end(), buf, r.ptr);
    out.push_back(static_cast<byte>('='));
    out.insert(out.end(), value.begin(), value.end());
    out.push_back(static_cast<byte>(c_.separator[0]));
  }

  result<void> encode_unknown(const tv_field& f, std::string_view text, byte_buffer& out) const {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_array())
      return make_error(errc::invalid_field, f.name, "must be an array of {\"tag\", \"value\"}");
    for (std::size_t k = 0; k < v.get_array().size(); ++k) {
      const std::string where = f.name + "[" + std::to_string(k) + "]";
      const json::value& e = v.get_array()[k];
      const json::value* tag = e.is_object() ? e.get_object().if_contains("tag") : nullptr;
      const json::value* value = e.is_object() ? e.get_object().if_contains("value") : nullptr;
      std::int64_t t = 0;
      if (tag && tag->is_int64()) t = tag->get_int64();
      if (t < 1 || t > 99999999 || !value || e.get_object().size() != 2)
        return make_error(errc::invalid_field, where,
                          "must be {\"tag\": a tag number, \"value\": its value}");
      if (find(c_.fields, static_cast<std::uint32_t>(t)) != none ||
          is_stage_tag(static_cast<std::uint32_t>(t)))
        return make_error(
            errc::invalid_field, where,
            "tag " + std::to_string(t) + " is a field of the message: give it by name");
      std::string text_value;
      if (!scalar_text(*value, text_value))
        return make_error(errc::invalid_field, where, "value must be a string or a number");
      if (auto res = check_text(text_value, where); !res) return res;
      write(out, static_cast<std::uint32_t>(t), text_value);
    }
    return {};
  }

  result<void> encode_group(const tv_field& g, const json::array& entries, const std::string& where,
                            byte_buffer& out) const {
    write(out, g.tag, std::to_string(entries.size()));
    for (std::size_t k = 0; k < entries.size(); ++k) {
      const std::string at = where + "[" + std::to_string(k) + "]";
      if (!entries[k].is_object()) return make_error(errc::invalid_field, at, "must be an object");
      const json::object& e = entries[k].get_object();
      for (const auto& kv : e)
        if (std::none_of(g.group.begin(), g.group.end(),
                         [&](const tv_field& f) { return f.name == kv.key(); })) {
          std::string names;
          for (const auto& f : g.group) names += (names.empty() ? "" : ", ") + f.name;
          return make_error(errc::invalid_field, at + "." + std::string(kv.key()),
                            "is not a field of the group (it takes " + names + ")");
        }
      for (std::size_t i = 0; i < g.group.size(); ++i) {
        const tv_field& f = g.group[i];
        const std::string fat = at + "." + f.name;
        const json::value* v = e.if_contains(f.name);
        if (v && v->is_null()) v = nullptr;
        if (f.length_of != none) {
          const json::value* data = e.if_contains(g.group[f.length_of].name);
          std::string dtext;
          if (data && scalar_text(*data, dtext)) {
            write(out, f.tag, std::to_string(dtext.size()));
            continue;
          }
        }
        if (!v) {
          if (i == 0 || f.required)
            return make_error(
                errc::missing_field, fat,
                i == 0 ? "opens every entry of the group: it is required" : "is required");
          continue;
        }
        if (f.is_group) {
          if (!v->is_array()) return make_error(errc::invalid_field, fat, "must be an array");
          if (auto res = encode_group(f, v->get_array(), fat, out); !res) return res;
          continue;
        }
        std::string text, code;
        if (!scalar_text(*v, text))
          return make_error(errc::invalid_field, fat, "must be a string or a number");
        if (auto res = value_of(f, text, fat, code); !res) return res;
        if (f.length_from == none)
          if (auto res = check_text(code, fat); !res) return res;
        write(out, f.tag, code);
      }
    }
    return {};
  }

  result<void> decode_group(const tv_field& g, const token& count_token,
                            const std::vector<token>& tokens, std::size_t& pos,
                            json::array& entries) const {
    std::uint64_t count = 0;
    if (!parse_uint(count_token.value, count) || count > tokens.size())
      return make_error(errc::malformed, g.name,
                        "group count " + tag_name(g) + " \"" + std::string(count_token.value) +
                            "\" is not a number of entries that fits the message");
    const tv_field& first = g.group.front();
    for (std::uint64_t k = 0; k < count; ++k) {
      if (pos >= tokens.size() || tokens[pos].tag != first.tag)
        return make_error(
            errc::malformed, g.name,
            "group " + tag_name(g) + " declares " + std::to_string(count) + " entries; entry " +
                std::to_string(k + 1) + " must start with tag " + std::to_string(first.tag) +
                ", found " +
                (pos < tokens.size() ? "tag " + std::to_string(tokens[pos].tag) + " at offset " +
                                           std::to_string(tokens[pos].offset)
                                     : std::string("the end")));
      json::object entry;
      std::vector<bool> seen(g.group.size(), false);
      while (pos < tokens.size()) {
        const std::size_t i = find(g.group, tokens[pos].tag);
        if (i == none || seen[i]) break;  // a tag of the message, or the next entry
        seen[i] = true;
        const tv_field& f = g.group[i];
        const token& t = tokens[pos++];
        if (f.is_group) {
          json::array inner;
          if (auto res = decode_group(f, t, tokens, pos, inner); !res) return res;
          entry[f.name] = std::move(inner);
          continue;
        }
        std::string_view v = word_of(f, t.value);
        std::int64_t n = 0;
        auto r = std::from_chars(v.data(), v.data() + v.size(), n);
        if (f.number && r.ec == std::errc() && r.ptr == v.data() + v.size())
          entry[f.name] = n;
        else
          entry[f.name] = v;
      }
      for (std::size_t i = 0; i < g.group.size(); ++i)
        if (g.group[i].required && !seen[i])
          return make_error(errc::malformed, g.name,
                            "entry " + std::to_string(k + 1) + " of group " + tag_name(g) +
                                " lacks its required " + tag_name(g.group[i]));
      entries.push_back(std::move(entry));
    }
    return {};
  }

  tv_config c_;
  std::size_t unknown_ = none;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> data_tags_;  // data tag, its length tag
};

}  // namespace

namespace tagvalue_detail {
std::unique_ptr<layout> make_configured_tagvalue_layout(tv_config config) {
  return std::make_unique<tagvalue_layout>(std::move(config));
}
}  // namespace tagvalue_detail

}  // namespace dragoman::codecs
