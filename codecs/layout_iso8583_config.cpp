// ISO 8583 layout, configuration side: compiles the profile's "dictionary" and maps each
// message's fields to data elements, reporting every mistake by path.
#include "codecs/layout_impl.hpp"
#include "codecs/layout_iso8583_impl.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::codecs {

namespace {

namespace json = boost::json;
using namespace iso8583_detail;

digit_encoding read_digits(config_object& c, std::string_view key, digit_encoding fallback) {
  return enum_of(digit_names,
                 c.get_enum(key, {"ascii", "ebcdic", "bcd"}, name_of(digit_names, fallback)),
                 fallback);
}

prefix_encoding read_prefix(config_object& c, std::string_view key, prefix_encoding fallback) {
  return enum_of(
      prefix_names,
      c.get_enum(key, {"ascii", "ebcdic", "bcd", "binary"}, name_of(prefix_names, fallback)),
      fallback);
}

// Compiles the profile's "dictionary", recording mistakes in diag.
std::shared_ptr<dictionary> compile_dictionary(const json::object& obj, const charset* fallback,
                                               diagnostics& diag) {
  auto dict = std::make_shared<dictionary>();
  config_object d(obj, "dictionary", diag);
  dict->mti = read_digits(d, "mti_encoding", digit_encoding::ascii);
  dict->bitmap_hex = d.get_enum("bitmap_encoding", {"binary", "hex"}, "binary") == "hex";
  dict->secondary_always = d.get_enum("secondary_bitmap", {"auto", "always"}, "auto") == "always";
  dict->prefix = read_prefix(d, "length_encoding", prefix_encoding::ascii);
  dict->digits = read_digits(d, "numeric_encoding", digit_encoding::ascii);
  dict->cs = layout_detail::resolve_charset(d, fallback);
  const int space = dict->cs->encode_char(U' ');
  if (space < 0) diag.error(d.child_path("charset"), "has no space character");
  dict->space = static_cast<byte>(space < 0 ? ' ' : space);
  d.accept("description");

  if (const json::object* fields = d.get_object("fields", true)) {
    if (fields->empty()) diag.error(d.child_path("fields"), "must define at least one field");
    std::map<std::string, int> taken;  // entry names, unique across the dictionary
    for (const auto& kv : *fields) {
      const std::string key(kv.key());
      const std::string path = d.child_path("fields") + "." + key;
      int number = -1;
      auto [ptr, ec] = std::from_chars(key.data(), key.data() + key.size(), number);
      if (ec != std::errc() || ptr != key.data() + key.size() || number < 2 || number > max_field) {
        diag.error(path,
                   number == 0 || number == 1
                       ? "fields 0 (MTI) and 1 (secondary bitmap) are built in; define 2 to 128"
                       : "unknown field number, must be 2 to 128");
        continue;
      }
      if (!kv.value().is_object()) {
        diag.error(path, "must be an object");
        continue;
      }
      config_object c(kv.value().get_object(), path, diag);
      element& e = dict->elements[static_cast<std::size_t>(number)];
      e.defined = true;
      if (!c.has("type")) {
        c.accept("type");
        diag.error(c.child_path("type"), "is required (n, an, ans, b or z)");
      }
      e.type =
          enum_of(type_names, c.get_enum("type", {"n", "an", "ans", "b", "z"}, "n"), data_type::n);
      e.format = enum_of(format_names, c.get_enum("format", {"fixed", "llvar", "lllvar"}, "fixed"),
                         length_format::fixed);
      e.length = static_cast<std::size_t>(c.require_int("length", 1, 999));
      if (e.format == length_format::llvar && e.length > 99)
        diag.error(c.child_path("length"), "must be <= 99 for an llvar field");
      e.prefix = dict->prefix;
      if (c.has("length_encoding")) {
        if (e.format == length_format::fixed)
          diag.error(c.child_path("length_encoding"), "applies only to llvar and lllvar fields");
        e.prefix = read_prefix(c, "length_encoding", dict->prefix);
      }
      const bool digits = e.type == data_type::n || e.type == data_type::z;
      e.digits = dict->digits;
      if (c.has("numeric_encoding")) {
        if (!digits) diag.error(c.child_path("numeric_encoding"), "applies only to n and z fields");
        e.digits = read_digits(c, "numeric_encoding", dict->digits);
      }
      if (c.has("bcd_pad")) {
        if (!digits || e.digits != digit_encoding::bcd)
          diag.error(c.child_path("bcd_pad"), "applies only to n and z fields in bcd");
        e.pad_right = c.get_enum("bcd_pad", {"left", "right"}, "left") == "right";
      }
      // The name an open message gives the field (else "f<number>"), and whether its value is
      // masked there; both are read by iso8583_dictionary_fields.
      if (auto name = c.get_optional_string("name")) {
        const bool identifier =
            !name->empty() && std::all_of(name->begin(), name->end(), [](char ch) {
              return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
            });
        if (!identifier)
          diag.error(c.child_path("name"), "must be lower-case letters, digits and _");
        else if (!taken.emplace(*name, number).second)
          diag.error(c.child_path("name"),
                     "\"" + *name + "\" already names field " + std::to_string(taken[*name]));
      }
      c.get_bool("sensitive", false);
      c.accept("label");
      c.accept("description");
      c.finish();
    }
  }
  d.finish();
  return dict;
}

}  // namespace

std::unique_ptr<layout> make_iso8583_layout(layout_context& ctx) {
  config_object& m = ctx.message;
  diagnostics& diag = m.diag();
  bool ok = true;

  // The dictionary is shared by every message of the profile: its mistakes are reported once.
  std::shared_ptr<dictionary> dict;
  const json::value* dv = ctx.profile.if_contains("dictionary");
  if (!dv || !dv->is_object()) {
    const std::string line =
        dv ? "dictionary: must be an object" : "dictionary: is required by the iso8583 layout";
    if (std::find(diag.errors().begin(), diag.errors().end(), line) == diag.errors().end())
      diag.error({}, line);
    ok = false;
  } else {
    diagnostics local;
    dict = compile_dictionary(dv->get_object(), ctx.default_charset, local);
    for (const auto& line : local.errors()) {
      ok = false;
      if (std::find(diag.errors().begin(), diag.errors().end(), line) == diag.errors().end())
        diag.error({}, line);
    }
  }

  std::vector<int> numbers(ctx.fields.size(), -1);
  std::array<int, max_field + 1> seen;
  seen.fill(-1);
  for (std::size_t i = 0; i < ctx.fields.size(); ++i) {
    config_object& c = ctx.fields[i];
    const auto n = static_cast<int>(c.require_int("field", 0, max_field));
    if (!c.has("field")) {
      ok = false;
      continue;
    }
    if (n == 1) {
      diag.error(c.child_path("field"),
                 "field 1 is the secondary bitmap, written from the fields present");
      ok = false;
      continue;
    }
    if (seen[static_cast<std::size_t>(n)] >= 0) {
      diag.error(c.child_path("field"),
                 "field " + std::to_string(n) + " is already mapped by fields[" +
                     std::to_string(seen[static_cast<std::size_t>(n)]) + "]");
      ok = false;
      continue;
    }
    seen[static_cast<std::size_t>(n)] = static_cast<int>(i);
    if (n > 1 && dict && !dict->elements[static_cast<std::size_t>(n)].defined) {
      diag.error(c.child_path("field"),
                 "field " + std::to_string(n) + " is not in dictionary.fields");
      ok = false;
    }
    numbers[i] = n;
  }
  if (seen[0] < 0) {
    diag.error(m.child_path("fields"), "must include the MTI: { \"field\": 0, \"name\": \"mti\" }");
    ok = false;
  }
  if (!ok) return nullptr;

  std::vector<std::string> names = ctx.field_names;
  names.resize(ctx.fields.size());
  return make_compiled_iso8583_layout(std::move(dict), std::move(numbers), std::move(names));
}

dictionary_fields iso8583_dictionary_fields(const json::array& listed,
                                            const json::object& profile) {
  // The dictionary as written; its mistakes are reported by make_iso8583_layout.
  std::array<const json::object*, max_field + 1> entries{};
  if (const json::value* dv = profile.if_contains("dictionary"); dv && dv->is_object())
    if (const json::value* fv = dv->get_object().if_contains("fields"); fv && fv->is_object())
      for (const auto& kv : fv->get_object()) {
        int n = -1;
        auto [ptr, ec] = std::from_chars(kv.key().data(), kv.key().data() + kv.key().size(), n);
        if (ec == std::errc() && ptr == kv.key().data() + kv.key().size() && n >= 2 &&
            n <= max_field && kv.value().is_object())
          entries[static_cast<std::size_t>(n)] = &kv.value().get_object();
      }
  auto name_of_entry = [&](int n) -> std::string {
    const json::value* v = entries[static_cast<std::size_t>(n)]->if_contains("name");
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  auto number_name = [](int n) { return "f" + std::to_string(n); };

  dictionary_fields out;
  std::array<bool, max_field + 1> is_listed{};
  for (const auto& v : listed) {
    std::vector<std::string>& names = out.aliases.emplace_back();
    const json::value* f = v.is_object() ? v.get_object().if_contains("field") : nullptr;
    if (!f || !f->is_int64() || f->get_int64() < 2 || f->get_int64() > max_field) continue;
    const int n = static_cast<int>(f->get_int64());
    is_listed[static_cast<std::size_t>(n)] = true;
    names.push_back(number_name(n));
    if (entries[static_cast<std::size_t>(n)])
      if (std::string name = name_of_entry(n); !name.empty()) names.push_back(std::move(name));
  }
  for (int n = 2; n <= max_field; ++n) {
    const json::object* e = entries[static_cast<std::size_t>(n)];
    if (!e || is_listed[static_cast<std::size_t>(n)]) continue;
    std::string name = name_of_entry(n);
    json::object field{{"field", n}, {"as", name.empty() ? number_name(n) : name}};
    if (const json::value* s = e->if_contains("sensitive"); s && s->is_bool() && s->get_bool())
      field["sensitive"] = true;
    out.extra.push_back(std::move(field));
    out.aliases.push_back(name.empty() ? std::vector<std::string>{}
                                       : std::vector<std::string>{number_name(n)});
  }
  return out;
}

}  // namespace dragoman::codecs
