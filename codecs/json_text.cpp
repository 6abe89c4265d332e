// JSON text shared by the stages and the bridge: scalar_text and append_json_string.
#include "codecs/json_text.hpp"

#include <array>
#include <charconv>

namespace dragoman::codecs {

namespace json = boost::json;

bool scalar_text(const json::value& v, std::string& out) {
  char buf[400];  // fixed notation of the largest double takes 309 digits
  std::to_chars_result r{};
  switch (v.kind()) {
    case json::kind::string:
      out.assign(v.get_string().data(), v.get_string().size());
      return true;
    case json::kind::int64:
      r = std::to_chars(buf, buf + sizeof buf, v.get_int64());
      break;
    case json::kind::uint64:
      r = std::to_chars(buf, buf + sizeof buf, v.get_uint64());
      break;
    case json::kind::double_:
      r = std::to_chars(buf, buf + sizeof buf, v.get_double(), std::chars_format::fixed);
      break;
    case json::kind::bool_:
      out.assign(v.get_bool() ? "true" : "false");
      return true;
    default:
      return false;
  }
  out.assign(buf, r.ptr);
  return true;
}

std::optional<std::string> scalar_text(const json::value& v) {
  std::string out;
  if (!scalar_text(v, out)) return std::nullopt;
  return out;
}

namespace {

// For each byte: 0 when it is written as it is, else the letter after the backslash ('u' for
// \u00xx). Boost.JSON's serializer uses the same table.
constexpr std::array<char, 256> escapes = [] {
  std::array<char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = 'u';
  t['\b'] = 'b';
  t['\f'] = 'f';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  t['"'] = '"';
  t['\\'] = '\\';
  return t;
}();

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    const char e = escapes[b];
    if (e == 0) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    out.push_back('\\');
    out.push_back(e);
    if (e == 'u') {
      out.append("00");
      out.push_back(hex[b >> 4]);
      out.push_back(hex[b & 0xF]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

}  // namespace dragoman::codecs
