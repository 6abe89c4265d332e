// Fixed layout, configuration side: reads each field's type, length, charset, pad and digits,
// reporting every mistake by path.
#include "codecs/layout_fixed_impl.hpp"
#include "codecs/layout_impl.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::codecs {

namespace {

using namespace fixed_detail;

// What make_fixed_layout reads once per message and shares across its fields: the message's
// charset and pad, and the digit tables of the charsets numeric and zoned fields use.
struct fixed_reader {
  const charset* msg_cs = nullptr;
  std::string msg_pad;
  int msg_pad_wire = ' ';
  std::vector<std::unique_ptr<charset_digits>> tables;

  fixed_field read_field(config_object& c, std::string name, std::size_t offset) {
    constexpr std::int64_t max_length = 1 << 20;
    fixed_field f;
    f.name = std::move(name);
    const std::size_t errors_before = c.diag().errors().size();
    const std::string type =
        c.get_enum("type", {"alpha", "numeric", "zoned", "packed", "binary", "hex"}, "alpha");
    // A wrong type is the mistake: only the length (which places the next fields) is read, and
    // the keys of the intended type are not reported as unknown.
    const bool type_known = c.diag().errors().size() == errors_before;
    if (!type_known) c.accept_all();
    for (std::size_t t = 0; t < std::size(type_names); ++t)
      if (type_names[t] == type) f.type = static_cast<field_type>(t);
    const std::int64_t max = f.type == field_type::packed   ? 16
                             : f.type == field_type::binary ? 8
                                                            : max_length;
    f.length = static_cast<std::size_t>(c.require_int("length", 1, max));
    f.offset = offset;
    f.cs = msg_cs;
    if (!type_known) return f;
    switch (f.type) {
      case field_type::alpha:
        read_alpha(c, f);
        break;
      case field_type::numeric:
        read_numeric(c, f);
        break;
      case field_type::zoned:
        read_zoned(c, f);
        break;
      case field_type::packed:
        f.is_signed = c.get_bool("signed", false);
        read_decimals(c, f, 2 * f.length - 1);
        f.style = layout_detail::read_digits_style(c, f.is_signed, f.decimals);
        break;
      case field_type::binary:
        f.is_signed = c.get_bool("signed", false);
        f.little_endian = c.get_enum("byte_order", {"big", "little"}, "big") == "little";
        read_decimals(c, f, static_cast<std::size_t>(binary_digits[f.length]));
        break;
      case field_type::hex:
        read_align(c, f, false);
        f.pad = static_cast<byte>(c.get_int("pad_byte", 0, 0, 255));
        break;
    }
    return f;
  }

 private:
  void read_alpha(config_object& c, fixed_field& f) {
    f.cs = layout_detail::resolve_charset(c, msg_cs);
    read_align(c, f, false);
    int w = msg_pad_wire;
    f.pad_text = msg_pad;
    // A field in another charset needs the message's pad character in its own charset.
    if (c.has("pad") || f.cs != msg_cs)
      w = layout_detail::read_char_key(c, "pad", msg_pad, f.cs, f.pad_text);
    f.pad = static_cast<byte>(w < 0 ? ' ' : w);
  }

  void read_numeric(config_object& c, fixed_field& f) {
    f.cs = layout_detail::resolve_charset(c, msg_cs);
    read_align(c, f, true);
    const int w = layout_detail::read_char_key(c, "pad", "0", f.cs, f.pad_text);
    f.pad = static_cast<byte>(w < 0 ? '0' : w);
    check_max_digits(c, f, "numeric");
    read_decimals(c, f, f.length);
    f.style = layout_detail::read_digits_style(c, false, f.decimals);
    f.digits = digits_for(c, f.cs);
  }

  void read_zoned(config_object& c, fixed_field& f) {
    f.cs = layout_detail::resolve_charset(c, msg_cs);
    f.is_signed = c.get_bool("signed", false);
    check_max_digits(c, f, "zoned");
    read_decimals(c, f, f.length);
    f.style = layout_detail::read_digits_style(c, f.is_signed, f.decimals);
    f.digits = digits_for(c, f.cs);
  }

  static void check_max_digits(config_object& c, const fixed_field& f, const char* type) {
    if (f.length <= decimal::max_digits) return;
    c.diag().error(c.child_path("length"), "must be <= " + std::to_string(decimal::max_digits) +
                                               " for a " + type + " field");
  }

  static void read_decimals(config_object& c, fixed_field& f, std::size_t digits) {
    f.decimals = static_cast<int>(c.get_int("decimals", 0, 0, 30));
    if (static_cast<std::size_t>(f.decimals) >= digits) {
      c.diag().error(c.child_path("decimals"),
                     "must be less than the field's " + std::to_string(digits) + " digits");
      f.decimals = 0;
    }
  }

  static void read_align(config_object& c, fixed_field& f, bool right_by_default) {
    f.align_right =
        c.get_enum("align", {"left", "right"}, right_by_default ? "right" : "left") == "right";
  }

  // One digit table per charset, shared by the fields that use it.
  const charset_digits* digits_for(config_object& f, const charset* cs) {
    for (const auto& t : tables)
      if (t->cs == cs) return t.get();
    auto t = std::make_unique<charset_digits>();
    if (!decimal::make_charset_digits(cs, *t)) {
      f.diag().error(f.child_path("type"),
                     "charset " + std::string(cs->name()) + " has no digits or sign characters");
      return nullptr;
    }
    tables.push_back(std::move(t));
    return tables.back().get();
  }
};

}  // namespace

std::unique_ptr<layout> make_fixed_layout(layout_context& ctx) {
  config_object& m = ctx.message;
  fixed_reader reader;
  reader.msg_cs = layout_detail::resolve_charset(m, ctx.default_charset);
  reader.msg_pad_wire = layout_detail::read_char_key(m, "pad", " ", reader.msg_cs, reader.msg_pad);
  const bool allow_trailing = m.get_bool("allow_trailing", false);

  std::vector<fixed_field> fields;
  fields.reserve(ctx.fields.size());
  std::size_t offset = 0;
  for (std::size_t i = 0; i < ctx.fields.size(); ++i) {
    std::string name = i < ctx.field_names.size() ? ctx.field_names[i] : std::string();
    fields.push_back(reader.read_field(ctx.fields[i], std::move(name), offset));
    offset += fields.back().length;
  }
  return make_configured_fixed_layout(std::move(fields), offset, reader.msg_cs,
                                      std::move(reader.msg_pad), allow_trailing,
                                      std::move(reader.tables));
}

}  // namespace dragoman::codecs
