// Binary layout, configuration side: reads each field's type, size, byte order, bit width, the
// fields that count it, its condition and its names for wire values, reporting every mistake by
// path.
#include "codecs/layout_binary_impl.hpp"
#include "codecs/layout_impl.hpp"

#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::codecs {

namespace {

using namespace binary_detail;

struct binary_reader {
  layout_context& ctx;
  bool msg_little = false;
  std::vector<binary_field> fields;

  std::size_t earlier_field(config_object& c, std::string_view key, std::size_t self) {
    auto name = c.get_optional_string(key);
    if (!name) return none;
    for (std::size_t i = 0; i < self; ++i) {
      if (fields[i].name != *name) continue;
      const binary_field& f = fields[i];
      if (!f.is_integer() || f.array || !f.map.empty()) {
        c.diag().error(c.child_path(key),
                       "\"" + *name + "\" must be an integer field, not " +
                           (f.array || f.type == field_type::bitmap ? std::string("an array")
                            : f.map.empty()                         ? "raw bytes"
                                                                    : "a mapped one"));
        return none;
      }
      return i;
    }
    c.diag().error(c.child_path(key), "no field \"" + *name + "\" before this one");
    return none;
  }

  void read_when(config_object& c, binary_field& f, std::size_t self) {
    const boost::json::object* w = c.get_object("when");
    if (w) {
      if (w->size() != 1) {
        c.diag().error(c.child_path("when"), "must name one field: {\"field\": value}");
      } else {
        const auto& kv = *w->begin();
        boost::json::object key{{"field", kv.key()}};
        config_object kc(key, c.path(), c.diag());
        f.when_field = earlier_field(kc, "field", self);
        const boost::json::value& v = kv.value();
        std::uint64_t n = 0;
        if (v.is_int64() && v.get_int64() >= 0)
          n = static_cast<std::uint64_t>(v.get_int64());
        else if (v.is_uint64())
          n = v.get_uint64();
        else if (v.is_bool())
          n = v.get_bool() ? 1 : 0;
        else
          c.diag().error(c.child_path("when") + "." + std::string(kv.key()),
                         "must be a non-negative integer");
        f.when_value = n;
      }
    }
    if (auto o = c.get_optional_string("otherwise")) {
      if (!w) c.diag().error(c.child_path("otherwise"), "needs \"when\"");
      f.otherwise = std::move(*o);
    }
  }

  void read_map(config_object& c, binary_field& f) {
    const boost::json::object* m = c.get_object("map");
    if (!m) return;
    if (f.array || !f.is_integer() || f.type == field_type::int_) {
      c.diag().error(c.child_path("map"), "applies to a single uint or bits field only");
      return;
    }
    if (m->empty()) c.diag().error(c.child_path("map"), "must not be empty");
    for (const auto& kv : *m) {
      const boost::json::value& v = kv.value();
      if (v.is_int64() && v.get_int64() >= 0)
        f.map.emplace_back(std::string(kv.key()), static_cast<std::uint64_t>(v.get_int64()));
      else if (v.is_uint64())
        f.map.emplace_back(std::string(kv.key()), v.get_uint64());
      else
        c.diag().error(c.child_path("map") + "." + std::string(kv.key()),
                       "must be a non-negative integer (the wire value)");
    }
  }

  void read_field(config_object& c, std::size_t self) {
    binary_field& f = fields[self];
    const std::size_t errors_before = c.diag().errors().size();
    const std::string type = c.get_enum("type", type_names, "uint");
    if (c.diag().errors().size() != errors_before) {
      c.accept_all();
      return;
    }
    for (std::size_t t = 0; t < std::size(type_names); ++t)
      if (type_names[t] == type) f.type = static_cast<field_type>(t);
    f.little_endian =
        c.get_enum("byte_order", {"big", "little"}, msg_little ? "little" : "big") == "little";
    if (f.type == field_type::bits) {
      f.bits = static_cast<unsigned>(c.require_int("bits", 1, 64));
    } else if (f.type == field_type::uint_ || f.type == field_type::int_) {
      f.size = static_cast<std::size_t>(c.require_int("size", 1, 8));
    } else if (f.type == field_type::bytes && c.has("size")) {
      f.size = static_cast<std::size_t>(c.get_int("size", 1, 1, 65535));
    }
    f.count_from = earlier_field(c, "count_from", self);
    f.length_from = earlier_field(c, "length_from", self);
    const bool sized = c.has("count_from") || c.has("length_from");
    if (f.type == field_type::bits && sized)
      c.diag().error(c.child_path(c.has("count_from") ? "count_from" : "length_from"),
                     "does not apply to a bits field");
    if (f.type == field_type::bytes) {
      if (c.has("count_from"))
        c.diag().error(c.child_path("count_from"), "bytes are sized by size or length_from");
      if ((f.size != 0) == c.has("length_from"))
        c.diag().error(c.child_path("size"), "a bytes field needs one of size and length_from");
    }
    if (f.type == field_type::bitmap && !sized)
      c.diag().error(c.child_path("count_from"),
                     "a bitmap needs count_from (its element count) or length_from (its bytes)");
    f.array = f.type == field_type::bitmap ||
              (sized && (f.type == field_type::uint_ || f.type == field_type::int_));
    c.accept("json");  // the profile's key; an array needs it
    if (f.array) {
      const boost::json::value* j = c.raw().if_contains("json");
      if (!j || !j->is_string() || j->get_string() != "array")
        c.diag().error(c.child_path("json"), "an array field needs \"json\": \"array\"");
    }
    if (auto of = c.get_optional_string("length_of")) {
      if (*of != "rest")
        c.diag().error(c.child_path("length_of"),
                       "must be \"rest\" (the bytes after this field); an array names its "
                       "count and length fields with count_from and length_from");
      else if (f.type != field_type::uint_ || f.array)
        c.diag().error(c.child_path("length_of"), "applies to a single uint field only");
      f.measures_rest = true;
    }
    read_when(c, f, self);
    read_map(c, f);
    if (f.count_from != none) fields[f.count_from].counts.push_back(self);
    if (f.length_from != none) fields[f.length_from].lengths.push_back(self);
  }

  // Consecutive bits fields form groups of whole bytes, the first field the most significant. A
  // group that does not end on a byte boundary has size 0.
  std::vector<bits_group> group_bits() {
    std::vector<bits_group> groups;
    unsigned total = 0;
    bool open = false;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].type != field_type::bits) {
        open = false;
        continue;
      }
      if (!open) {
        groups.push_back({i, i, 0, fields[i].little_endian});
        total = 0;
        open = true;
      }
      groups.back().last = i;
      fields[i].group = groups.size() - 1;
      total += fields[i].bits;
      if (total % 8 == 0) {
        groups.back().size = total / 8;
        open = false;
      }
    }
    return groups;
  }
};

}  // namespace

std::unique_ptr<layout> make_binary_layout(layout_context& ctx) {
  config_object& m = ctx.message;
  diagnostics& diag = m.diag();
  binary_reader rd{ctx, false, {}};
  rd.msg_little = m.get_enum("byte_order", {"big", "little"}, "big") == "little";
  const bool allow_trailing = m.get_bool("allow_trailing", false);
  rd.fields.resize(ctx.fields.size());
  for (std::size_t i = 0; i < ctx.fields.size(); ++i) rd.fields[i].name = ctx.field_names[i];
  for (std::size_t i = 0; i < ctx.fields.size(); ++i) rd.read_field(ctx.fields[i], i);
  std::vector<bits_group> groups = rd.group_bits();
  for (const bits_group& g : groups) {
    unsigned total = 0;
    for (std::size_t k = g.first; k <= g.last; ++k) total += rd.fields[k].bits;
    if (g.size == 0 || total > 64)
      diag.error(ctx.fields[g.first].child_path("bits"),
                 "the bits fields from here to \"" + rd.fields[g.last].name + "\" make " +
                     std::to_string(total) +
                     " bits: consecutive bits fields must fill whole bytes, at most 8");
    unsigned shift = total;
    for (std::size_t k = g.first; k <= g.last; ++k) {
      binary_field& f = rd.fields[k];
      shift -= f.bits;
      f.shift = shift;
      if (f.when_field != rd.fields[g.first].when_field ||
          f.when_value != rd.fields[g.first].when_value)
        diag.error(ctx.fields[k].child_path("when"),
                   "every bits field of a group has the same condition");
      if (f.when_field != none && rd.fields[f.when_field].group == f.group)
        diag.error(ctx.fields[k].child_path("when"), "cannot name a bit field of its own group");
    }
  }
  return binary_detail::make_configured_binary_layout(std::move(rd.fields), std::move(groups),
                                                      allow_trailing);
}

}  // namespace dragoman::codecs
