// Tag=value layout, configuration side: each field's tag, its words for codes, the field carrying
// a data field's length, repeating groups, and the profile dictionary's separator, header order,
// stage tags and named enumerations, reporting every mistake by path.
#include "codecs/layout_impl.hpp"
#include "codecs/layout_tagvalue_impl.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::codecs {

namespace {

using namespace tagvalue_detail;
namespace json = boost::json;

constexpr std::int64_t max_tag = 99999999;

struct tagvalue_reader {
  const json::object* dictionary = nullptr;  // the profile's "dictionary", if any

  void read_words(config_object& c, tv_field& f) {
    const json::value* e = c.find("enum");
    if (!e) return;
    const json::object* words = nullptr;
    std::string path = c.child_path("enum");
    if (e->is_string()) {
      const json::object* enums = nullptr;
      if (dictionary)
        if (const json::value* v = dictionary->if_contains("enums"); v && v->is_object())
          enums = &v->get_object();
      const json::value* named = enums ? enums->if_contains(e->get_string()) : nullptr;
      if (!named || !named->is_object()) {
        c.diag().error(path, "no enumeration \"" + std::string(e->get_string()) +
                                 "\" in the profile's dictionary.enums");
        return;
      }
      words = &named->get_object();
      path = "dictionary.enums." + std::string(e->get_string());
    } else if (e->is_object()) {
      words = &e->get_object();
    } else {
      c.diag().error(path,
                     "must be an object of words to codes or the name of one in "
                     "dictionary.enums");
      return;
    }
    if (words->empty()) c.diag().error(path, "must not be empty");
    for (const auto& kv : *words) {
      if (!kv.value().is_string() || kv.value().get_string().empty()) {
        c.diag().error(path + "." + std::string(kv.key()), "must be a non-empty string (the code)");
        continue;
      }
      f.words.emplace_back(std::string(kv.key()), std::string(kv.value().get_string()));
    }
  }

  void read_length_from(config_object& c, std::vector<tv_field>& fields, std::size_t self) {
    auto from = c.get_optional_string("length_from");
    if (!from) return;
    for (std::size_t i = 0; i < self; ++i) {
      if (fields[i].name != *from) continue;
      if (fields[i].is_group || fields[i].unknown_tags || fields[i].length_of != none) {
        c.diag().error(c.child_path("length_from"), "\"" + *from + "\" cannot carry a length");
        return;
      }
      fields[self].length_from = i;
      fields[i].length_of = self;
      return;
    }
    c.diag().error(c.child_path("length_from"), "no field \"" + *from + "\" before this one");
  }

  // The keys of a field the layout owns; the group's entries are read here in full.
  void read_field(config_object& c, std::vector<tv_field>& fields, std::size_t self,
                  bool in_group) {
    tv_field& f = fields[self];
    const std::string type = c.get_enum("type", {"field", "unknown_tags"}, "field");
    if (type == "unknown_tags") {
      if (in_group) c.diag().error(c.child_path("type"), "a group entry cannot keep unknown tags");
      if (c.has("tag")) c.diag().error(c.child_path("tag"), "the unknown-tags field has no tag");
      f.unknown_tags = true;
      const json::value* j = c.raw().if_contains("json");
      if (!in_group && (!j || !j->is_string() || j->get_string() != "array"))
        c.diag().error(c.child_path("json"),
                       "the unknown-tags field needs \"json\": \"array\" ([{\"tag\", \"value\"}])");
      return;
    }
    f.tag = static_cast<std::uint32_t>(c.require_int("tag", 1, max_tag));
    if (in_group) {
      f.required = c.get_bool("required", false);
      f.number = c.get_enum("json", {"string", "number", "array"}, "string") == "number";
    } else if (const json::value* r = c.raw().if_contains("required"); r && r->is_bool()) {
      f.required = r->get_bool();  // the profile reads it too: missing on encode
    }
    read_words(c, f);
    read_length_from(c, fields, self);
    if (const json::array* g = c.get_array("group")) {
      f.is_group = true;
      if (!f.words.empty()) c.diag().error(c.child_path("enum"), "a group count has no words");
      if (g->empty()) c.diag().error(c.child_path("group"), "must list the entry's fields");
      const json::value* j = c.raw().if_contains("json");
      if (!in_group && (!j || !j->is_string() || j->get_string() != "array"))
        c.diag().error(c.child_path("json"), "a group needs \"json\": \"array\"");
      f.group.resize(g->size());
      for (std::size_t i = 0; i < g->size(); ++i) {
        const std::string path = c.child_path("group") + "[" + std::to_string(i) + "]";
        if (!(*g)[i].is_object()) {
          c.diag().error(path, "must be an object");
          continue;
        }
        config_object gc((*g)[i].get_object(), path, c.diag());
        f.group[i].name = gc.require_string("name");
        read_field(gc, f.group, i, true);
        for (std::size_t k = 0; k < i; ++k) {
          if (f.group[k].name == f.group[i].name)
            gc.diag().error(gc.child_path("name"), "duplicate name \"" + f.group[i].name + "\"");
          if (f.group[k].tag == f.group[i].tag)
            gc.diag().error(gc.child_path("tag"), "tag " + std::to_string(f.group[i].tag) +
                                                      " is already \"" + f.group[k].name + "\"");
        }
        gc.finish();
      }
      if (!f.group.empty() && f.group.front().length_of != none)
        c.diag().error(c.child_path("group") + "[0]",
                       "the first field of an entry starts it: it cannot carry a length");
    } else if (in_group) {
      c.accept("json");
    }
  }
};

std::vector<std::uint32_t> read_tags(const json::object& dict, std::string_view key,
                                     diagnostics& diag) {
  std::vector<std::uint32_t> tags;
  const json::value* v = dict.if_contains(key);
  if (!v) return tags;
  const std::string path = "dictionary." + std::string(key);
  if (!v->is_array()) {
    diag.error(path, "must be an array of tags");
    return tags;
  }
  for (std::size_t i = 0; i < v->get_array().size(); ++i) {
    const json::value& t = v->get_array()[i];
    if (!t.is_int64() || t.get_int64() < 1 || t.get_int64() > max_tag)
      diag.error(path + "[" + std::to_string(i) + "]", "must be a tag number");
    else
      tags.push_back(static_cast<std::uint32_t>(t.get_int64()));
  }
  return tags;
}

}  // namespace

std::unique_ptr<layout> make_tagvalue_layout(layout_context& ctx) {
  config_object& m = ctx.message;
  diagnostics& diag = m.diag();
  tv_config cfg;
  tagvalue_reader rd;
  if (const json::value* d = ctx.profile.if_contains("dictionary"); d && d->is_object()) {
    rd.dictionary = &d->get_object();
    config_object dc(*rd.dictionary, "dictionary", diag);
    if (dc.has("separator")) {
      auto sep = dc.get_bytes("separator");
      if (sep && sep->size() == 1)
        cfg.separator = *sep;
      else
        diag.error("dictionary.separator", "must be one byte");
    }
  }
  if (m.has("separator")) {
    auto sep = m.get_bytes("separator");
    if (sep && sep->size() == 1)
      cfg.separator = *sep;
    else
      diag.error(m.child_path("separator"), "must be one byte");
  }
  if (cfg.separator == "=") diag.error(m.child_path("separator"), "cannot be \"=\"");
  if (rd.dictionary) {
    cfg.ordered = read_tags(*rd.dictionary, "header_order", diag);
    cfg.stage_tags = read_tags(*rd.dictionary, "stage_tags", diag);
  }
  cfg.fields.resize(ctx.fields.size());
  for (std::size_t i = 0; i < ctx.fields.size(); ++i) cfg.fields[i].name = ctx.field_names[i];
  bool has_unknown = false;
  for (std::size_t i = 0; i < ctx.fields.size(); ++i) {
    config_object& c = ctx.fields[i];
    rd.read_field(c, cfg.fields, i, false);
    const tv_field& f = cfg.fields[i];
    if (f.unknown_tags) {
      if (has_unknown) diag.error(c.child_path("type"), "only one unknown-tags field per message");
      has_unknown = true;
      continue;
    }
    if (f.tag == 0) continue;
    if (std::find(cfg.stage_tags.begin(), cfg.stage_tags.end(), f.tag) != cfg.stage_tags.end())
      diag.error(c.child_path("tag"),
                 "tag " + std::to_string(f.tag) + " is written by a stage (dictionary.stage_tags)");
    for (std::size_t k = 0; k < i; ++k)
      if (cfg.fields[k].tag == f.tag)
        diag.error(c.child_path("tag"),
                   "tag " + std::to_string(f.tag) + " is already \"" + cfg.fields[k].name + "\"");
  }
  return make_configured_tagvalue_layout(std::move(cfg));
}

}  // namespace dragoman::codecs
