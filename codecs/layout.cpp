// Layout factory: picks the layout type by name, plus helpers the layout types share.
#include "codecs/layout.hpp"

#include "codecs/decimal.hpp"
#include "codecs/layout_impl.hpp"

#include <string>

namespace dragoman::codecs {

namespace {

struct layout_type {
  std::string_view name;
  std::unique_ptr<layout> (*make)(layout_context&);
  dictionary_fields (*dictionary)(const boost::json::array&, const boost::json::object&) = nullptr;
};

// One line per layout type.
constexpr layout_type layout_types[] = {
    {"fixed", make_fixed_layout},       {"delimited", make_delimited_layout},
    {"template", make_template_layout}, {"iso8583", make_iso8583_layout, iso8583_dictionary_fields},
    {"binary", make_binary_layout},     {"tag_value", make_tagvalue_layout},
};

}  // namespace

std::unique_ptr<layout> make_layout(std::string_view type, layout_context& ctx) {
  for (const auto& t : layout_types) {
    if (t.name != type) continue;
    const std::size_t errors_before = ctx.message.diag().errors().size();
    auto made = t.make(ctx);
    if (ctx.message.diag().errors().size() != errors_before) return nullptr;
    return made;
  }
  ctx.message.diag().error(
      ctx.message.child_path("layout"),
      "unknown layout \"" + std::string(type) + "\", must be one of " + names_list(layout_names()));
  return nullptr;
}

std::optional<dictionary_fields> layout_dictionary_fields(std::string_view type,
                                                          const boost::json::array& listed,
                                                          const boost::json::object& profile) {
  for (const auto& t : layout_types)
    if (t.name == type && t.dictionary) return t.dictionary(listed, profile);
  return std::nullopt;
}

std::vector<std::string_view> layout_names() {
  std::vector<std::string_view> names;
  for (const auto& t : layout_types) names.push_back(t.name);
  return names;
}

namespace layout_detail {

const charset* resolve_charset(config_object& cfg, const charset* fallback) {
  if (!fallback) fallback = find_charset("ascii");
  auto name = cfg.get_optional_string("charset");
  if (!name) return fallback;
  if (const charset* cs = find_charset(*name)) return cs;
  cfg.diag().error(cfg.child_path("charset"), "unknown charset \"" + *name + "\", must be one of " +
                                                  names_list(charset_names()));
  return fallback;
}

std::size_t decode_utf8_char(std::string_view s, char32_t& cp) noexcept {
  if (s.empty()) return 0;
  const auto b0 = static_cast<unsigned char>(s[0]);
  std::size_t n = b0 < 0x80           ? 1
                  : (b0 >> 5) == 0x6  ? 2
                  : (b0 >> 4) == 0xE  ? 3
                  : (b0 >> 3) == 0x1E ? 4
                                      : 0;
  if (n == 0 || n > s.size()) return 0;
  char32_t c = n == 1 ? b0 : n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (std::size_t i = 1; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    c = c << 6 | (b & 0x3F);
  }
  cp = c;
  return n;
}

int read_char_key(config_object& cfg, std::string_view key, std::string_view fallback,
                  const charset* cs, std::string& text) {
  text = cfg.get_string(key, fallback);
  char32_t cp = 0;
  if (text.empty() || decode_utf8_char(text, cp) != text.size()) {
    cfg.diag().error(cfg.child_path(key), "must be one character");
    return -1;
  }
  int wire = cs->encode_char(cp);
  if (wire < 0) {
    cfg.diag().error(cfg.child_path(key),
                     "\"" + text + "\" has no code in charset " + std::string(cs->name()));
  }
  return wire;
}

std::string quote_bytes(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7F && c != '"' && c != '\\') {
      out.push_back(c);
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out.append("\\x");
      out.push_back(hex[b >> 4]);
      out.push_back(hex[b & 0xF]);
    }
  }
  out.push_back('"');
  return out;
}

decimal::digits_style read_digits_style(config_object& cfg, bool is_signed, int decimals) {
  const decimal::digits_style fallback = decimal::default_digits_style(is_signed, decimals);
  const std::string name =
      cfg.get_enum("digits", decimal::digits_style_names, digits_style_name(fallback));
  return name == digits_style_name(decimal::digits_style::canonical)
             ? decimal::digits_style::canonical
             : decimal::digits_style::as_written;
}

std::string_view digits_style_name(decimal::digits_style style) noexcept {
  return decimal::digits_style_names[static_cast<std::size_t>(style)];
}

}  // namespace layout_detail

}  // namespace dragoman::codecs
