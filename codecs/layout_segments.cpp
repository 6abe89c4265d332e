// The segment model of the delimited layout: segments, repetitions, subcomponents, a header that
// carries the separators (HL7 MSH-1, MSH-2), HL7 escapes and repeating segment groups.
#include "codecs/layout_segments.hpp"

#include "codecs/json_text.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace dragoman::codecs::delimited_detail {

namespace {

namespace json = boost::json;

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

class segment_layout final : public layout {
 public:
  segment_layout(segment_model model, text_codec text)
      : model_(std::move(model)), text_(std::move(text)) {}

  result<void> encode(const record& r, byte_buffer& out) const override {
    for (const segment_def& s : model_.segments) {
      if (s.group >= 0) {
        const segment_group& g = model_.groups[static_cast<std::size_t>(s.group)];
        if (auto done = encode_group(s, g, r.get(g.field), out); !done) return done;
        continue;
      }
      cursor c = begin_segment(s, out);
      for (std::size_t i : s.fields) {
        const std::string_view v = r.get(i);
        if (v.empty()) continue;  // trailing empty fields and components are never written
        const segment_field& f = model_.fields[i];
        move_to(c, f.at, out);
        if (auto done = text_.encode_value(f.value, v, out); !done) return done;
      }
      append(out, text_.delims().segment);
    }
    return {};
  }

  result<void> decode(byte_view in, record& r) const override {
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
      for (std::size_t si = 0; si < model_.segments.size(); ++si) {
        const segment_def& s = model_.segments[si];
        if (s.wire_id != id) continue;
        std::size_t start = id_end + d.separator.size();
        std::size_t first_slot = 1;
        if (s.header && model_.header_carries && id_end < se) {  // MSH-2 is raw: skip it
          const std::size_t enc_end = d.find_end(in, start, se, d.separator);
          start = enc_end + d.separator.size();
          first_slot = 2;
        }
        if (s.group >= 0) {
          if (auto ok = decode_group_segment(d, in, start, first_slot, se, s, r, scratch); !ok)
            return ok;
        } else if (!(seen >> si & 1)) {
          seen |= std::uint64_t{1} << si;
          if (auto ok = decode_fields(d, in, start, first_slot, se, s, r); !ok) return ok;
        }
        break;
      }
      pos = se < limit ? skip_blank(in, se + d.segment.size(), limit) : limit;
    }
    for (const segment_group& g : model_.groups)
      if (r.has(g.field)) r.slot(g.field).push_back(']');
    return {};
  }

  json::object describe_field(std::size_t index) const override {
    json::object o;
    if (index >= model_.fields.size()) return o;
    const segment_field& f = model_.fields[index];
    if (f.group >= 0) {
      const segment_group& g = model_.groups[static_cast<std::size_t>(f.group)];
      for (const auto& s : model_.segments)
        if (s.group == f.group) o["segment"] = s.id;
      json::object comps;
      for (const auto& c : g.components) comps[c.key] = c.path;
      o["components"] = std::move(comps);
      if (g.sequence >= 0) o["sequence"] = g.components[static_cast<std::size_t>(g.sequence)].key;
      return o;
    }
    o["path"] = f.path;
    text_codec::describe_value(f.value, o);
    return o;
  }

  json::object describe() const override {
    json::object o = text_.describe();
    json::array ids;
    for (const auto& s : model_.segments) ids.emplace_back(s.id);
    o["segments"] = std::move(ids);
    if (model_.header_segment >= 0) {
      o["header_segment"] = model_.segments[static_cast<std::size_t>(model_.header_segment)].id;
      o["header_carries_separators"] = model_.header_carries;
    }
    o["charset"] = text_.charset_name();
    return o;
  }

 private:
  struct cursor {
    std::size_t slot = 0;
    std::uint32_t repetition = 1, component = 1, subcomponent = 1;
  };

  // Writes the separators that lead from the cursor to a value's address (never backwards).
  void move_to(cursor& c, const address& a, byte_buffer& out) const {
    const delimiters& d = text_.delims();
    if (a.slot > c.slot) {
      for (std::size_t k = c.slot; k < a.slot; ++k) append(out, d.separator);
      c = cursor{a.slot, 1, 1, 1};
    }
    if (a.repetition > c.repetition) {
      for (std::uint32_t k = c.repetition; k < a.repetition; ++k) append(out, d.repetition);
      c.repetition = a.repetition;
      c.component = c.subcomponent = 1;
    }
    const std::uint32_t comp = std::max<std::uint32_t>(a.component, 1);
    if (comp > c.component) {
      for (std::uint32_t k = c.component; k < comp; ++k) append(out, d.component);
      c.component = comp;
      c.subcomponent = 1;
    }
    const std::uint32_t sub = std::max<std::uint32_t>(a.subcomponent, 1);
    if (sub > c.subcomponent) {
      for (std::uint32_t k = c.subcomponent; k < sub; ++k) append(out, d.subcomponent);
      c.subcomponent = sub;
    }
  }

  // Segment id, then the separators themselves when this is the header segment (MSH-1, MSH-2).
  cursor begin_segment(const segment_def& s, byte_buffer& out) const {
    append(out, s.wire_id);
    if (!s.header || !model_.header_carries) return {};
    const delimiters& d = text_.delims();
    append(out, d.separator);
    append(out, d.component);
    append(out, d.repetition);
    out.push_back(static_cast<byte>(d.escape));
    append(out, d.subcomponent);
    return cursor{1, 1, 1, 1};
  }

  // One segment per element of the JSON array text; keys not in the group are refused.
  result<void> encode_group(const segment_def& s, const segment_group& g, std::string_view text,
                            byte_buffer& out) const {
    if (text.empty()) return {};
    const std::string& name = model_.fields[g.field].value.name;
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
      if (auto done = encode_element(s, g, o, n, where, out); !done) return done;
    }
    return {};
  }

  // The segment of element n (counted from 1) of a group.
  result<void> encode_element(const segment_def& s, const segment_group& g, const json::object& o,
                              std::size_t n, const std::string& where, byte_buffer& out) const {
    const std::string& name = model_.fields[g.field].value.name;
    cursor c = begin_segment(s, out);
    std::string value;
    for (std::size_t k = 0; k < g.components.size(); ++k) {
      const group_component& gc = g.components[k];
      const json::value* cv = o.if_contains(gc.key);
      if (!cv || cv->is_null()) {
        if (static_cast<int>(k) != g.sequence) continue;
        value = std::to_string(n);
      } else if (!scalar_text(*cv, value)) {
        return make_error(errc::invalid_field, name,
                          where + " key \"" + gc.key + "\" must be a string or a number");
      }
      if (value.empty()) continue;
      move_to(c, gc.at, out);
      if (auto done = text_.encode_text(name, 0, value, out); !done) {
        codec_error e = std::move(done).error();
        e.message = where + " key \"" + gc.key + "\": " + e.message;
        return e;
      }
    }
    append(out, text_.delims().segment);
    return {};
  }

  // Start of the segment at or after pos: CR and LF between segments are tolerated.
  std::size_t skip_blank(byte_view in, std::size_t pos, std::size_t limit) const {
    while (pos < limit && model_.blank.find(static_cast<char>(in[pos])) != std::string::npos) ++pos;
    return pos;
  }

  // The separators of this message: from its header segment when the layout says they are there.
  const delimiters& message_delimiters(byte_view in, std::size_t pos, delimiters& local) const {
    const delimiters& d = text_.delims();
    if (!model_.header_carries || model_.header_segment < 0) return d;
    const std::string& hid =
        model_.segments[static_cast<std::size_t>(model_.header_segment)].wire_id;
    const std::size_t limit = in.size();
    if (!delimiters::match(in, pos, limit, hid) || pos + hid.size() >= limit) return d;
    const byte fs = in[pos + hid.size()];
    if (model_.blank.find(static_cast<char>(fs)) != std::string::npos) return d;
    local = d;
    local.separator.assign(1, static_cast<char>(fs));
    std::string* targets[] = {&local.component, &local.repetition, nullptr, &local.subcomponent};
    local.escape = -1;
    for (auto* t : targets)
      if (t) t->clear();
    std::size_t k = pos + hid.size() + 1;
    for (std::size_t n = 0; n < 4 && k < limit; ++n, ++k) {
      const byte b = in[k];
      if (b == fs || delimiters::match(in, k, limit, d.segment) ||
          model_.blank.find(static_cast<char>(b)) != std::string::npos)
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

  // The record fields of one (not repeating) segment; absent and empty values stay absent.
  result<void> decode_fields(const delimiters& d, byte_view in, std::size_t start,
                             std::size_t first_slot, std::size_t end, const segment_def& s,
                             record& r) const {
    for (std::size_t i : s.fields) {
      std::size_t vb = 0, ve = 0;
      if (!locate(d, in, start, first_slot, end, model_.fields[i].at, vb, ve) || vb == ve) continue;
      if (auto ok = text_.decode_value(d, model_.fields[i].value, in, vb, ve, r, i); !ok) return ok;
    }
    return {};
  }

  // Appends the element of one group segment to the field's JSON array text ("]" comes last).
  result<void> decode_group_segment(const delimiters& d, byte_view in, std::size_t start,
                                    std::size_t first_slot, std::size_t end, const segment_def& s,
                                    record& r, std::string& scratch) const {
    const segment_group& g = model_.groups[static_cast<std::size_t>(s.group)];
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
      if (auto ok = text_.decode_text(d, model_.fields[g.field].value.name, in, vb, ve, scratch);
          !ok)
        return ok;
      if (!first) slot.push_back(',');
      first = false;
      append_json_string(slot, c.key);
      slot.push_back(':');
      append_json_string(slot, scratch);
    }
    slot.push_back('}');
    return {};
  }

  segment_model model_;
  text_codec text_;
};

// ---------------------------------------------------------------------------------------------
// The factory: the message's segment keys, then each field's path or group.

auto find_segment(std::vector<segment_def>& segments, std::string_view id) {
  return std::find_if(segments.begin(), segments.end(),
                      [&](const segment_def& s) { return s.id == id; });
}

// The declared segments, in encode order.
std::vector<segment_def> read_segments(config_object& m, const charset* cs) {
  std::vector<segment_def> segments;
  const json::array* list = m.get_array("segments", true);
  if (!list) return segments;
  if (list->empty()) m.diag().error(m.child_path("segments"), "must not be empty");
  // The decoder keeps one bit per segment for "already read".
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
    if (find_segment(segments, id) != segments.end()) {
      m.diag().error(p, "segment \"" + id + "\" is listed twice");
      continue;
    }
    segment_def s;
    s.id = id;
    s.wire_id = wire_text(cs, id);
    segments.push_back(std::move(s));
  }
  return segments;
}

// header_segment, and header_carries_separators with the one-byte separators it needs.
void read_header(config_object& m, const delimiters& d, segment_model& model) {
  if (auto h = m.get_optional_string("header_segment")) {
    auto it = find_segment(model.segments, *h);
    if (it == model.segments.end()) {
      m.diag().error(m.child_path("header_segment"), "\"" + *h + "\" is not in segments");
    } else if (it != model.segments.begin()) {
      m.diag().error(m.child_path("header_segment"), "must be the first of segments");
    } else {
      model.header_segment = 0;
      it->header = true;
    }
  }
  model.header_carries = m.get_bool("header_carries_separators", false);
  if (!model.header_carries) return;
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
      m.diag().error(m.child_path(key), "must be one byte when header_carries_separators is true");
  }
  if (d.escape < 0)
    m.diag().error(m.child_path("escape"), "is required when header_carries_separators is true");
}

// A path may only use the levels the message has separators for.
void needs_separators(config_object& c, std::string_view key, const address& a,
                      const delimiters& d) {
  if (a.repetition > 1 && d.repetition.empty())
    c.diag().error(c.child_path(key), "a repetition needs the message's repetition_separator");
  if (a.component && d.component.empty())
    c.diag().error(c.child_path(key), "a component needs the message's component_separator");
  if (a.subcomponent && d.subcomponent.empty())
    c.diag().error(c.child_path(key), "a subcomponent needs the message's subcomponent_separator");
}

// A group's components: JSON key -> path within the segment, sorted by address, no overlaps.
std::vector<group_component> read_group_components(config_object& c, const delimiters& d) {
  std::vector<group_component> components;
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
      needs_separators(c, "components", gc.at, d);
      components.push_back(std::move(gc));
    }
  }
  std::stable_sort(components.begin(), components.end(),
                   [](const auto& a, const auto& b) { return a.at.key() < b.at.key(); });
  for (std::size_t k = 1; k < components.size(); ++k) {
    if (components[k - 1].at.overlaps(components[k].at))
      c.diag().error(c.child_path("components") + "." + components[k].key,
                     "\"" + components[k].path + "\" overlaps \"" + components[k - 1].key + "\"");
  }
  return components;
}

// A repeating segment group carried as a JSON array in record field i.
void read_group_field(config_object& c, std::size_t i, const delimiters& d, segment_model& model,
                      segment_field& f) {
  const std::string seg = c.get_string("segment");
  const json::value* kind = c.find("json");
  if (!kind || !kind->is_string() || kind->get_string() != "array")
    c.diag().error(c.child_path("segment"), "a segment group needs \"json\": \"array\"");
  auto it = find_segment(model.segments, seg);
  if (it == model.segments.end()) {
    c.diag().error(c.child_path("segment"), "\"" + seg + "\" is not in segments");
  } else if (it->header) {
    c.diag().error(c.child_path("segment"), "the header segment cannot repeat");
  } else if (it->group >= 0) {
    c.diag().error(c.child_path("segment"), "segment \"" + seg + "\" already has a group field");
  } else {
    it->group = static_cast<int>(model.groups.size());
  }
  segment_group g;
  g.field = i;
  g.components = read_group_components(c, d);
  if (auto seq = c.get_optional_string("sequence")) {
    for (std::size_t k = 0; k < g.components.size(); ++k)
      if (g.components[k].key == *seq) g.sequence = static_cast<int>(k);
    if (g.sequence < 0)
      c.diag().error(c.child_path("sequence"), "\"" + *seq + "\" is not in components");
  }
  f.group = static_cast<int>(model.groups.size());
  model.groups.push_back(std::move(g));
}

// A field at "SEG-field[repetition].component.subcomponent" of a segment that does not repeat.
void read_path_field(config_object& c, std::size_t i, const delimiters& d, segment_model& model,
                     segment_field& f) {
  f.path = c.require_string("path");
  if (f.path.empty()) return;
  std::string seg;
  if (auto err = parse_path(f.path, true, seg, f.at); !err.empty()) {
    c.diag().error(c.child_path("path"), err);
    return;
  }
  needs_separators(c, "path", f.at, d);
  auto it = find_segment(model.segments, seg);
  if (it == model.segments.end()) {
    c.diag().error(c.child_path("path"), "segment \"" + seg + "\" is not in segments");
    return;
  }
  if (it->group >= 0) {
    c.diag().error(c.child_path("path"),
                   "segment \"" + seg + "\" is a repeating group (use its components)");
    return;
  }
  if (it->header && model.header_carries) {
    // The header's first field is the separator itself, so field n sits at slot n - 1.
    if (f.at.field <= 2)
      c.diag().error(
          c.child_path("path"),
          seg + "-1 and " + seg + "-2 are the separators, written from the message's keys");
    else
      f.at.slot = f.at.field - 1;
  }
  it->fields.push_back(i);
}

void read_fields(layout_context& ctx, const text_options& o, segment_model& model) {
  model.fields.reserve(ctx.fields.size());
  for (std::size_t i = 0; i < ctx.fields.size(); ++i) {
    config_object& c = ctx.fields[i];
    segment_field f;
    f.value.name = i < ctx.field_names.size() ? ctx.field_names[i] : std::string();
    refuse_keys(c, {"position", "component"}, "use \"path\" in a message with segment_separator");
    if (c.has("segment")) {
      read_group_field(c, i, o.d, model, f);
    } else {
      read_path_field(c, i, o.d, model, f);
      read_value_format(c, o, f.value);
    }
    model.fields.push_back(std::move(f));
  }
}

// Sorts each segment's fields by address and refuses two fields over the same bytes.
void check_overlaps(layout_context& ctx, segment_model& model) {
  for (segment_def& s : model.segments) {
    // A path field read before its segment became a group was not refused then.
    if (s.group >= 0 && !s.fields.empty()) {
      config_object& c = ctx.fields[s.fields.front()];
      c.diag().error(c.child_path("path"),
                     "segment \"" + s.id + "\" is a repeating group (use its components)");
    }
    std::stable_sort(s.fields.begin(), s.fields.end(), [&](std::size_t a, std::size_t b) {
      return model.fields[a].at.key() < model.fields[b].at.key();
    });
    for (std::size_t k = 1; k < s.fields.size(); ++k) {
      const segment_field& prev = model.fields[s.fields[k - 1]];
      const segment_field& cur = model.fields[s.fields[k]];
      if (!prev.at.overlaps(cur.at)) continue;
      config_object& c = ctx.fields[s.fields[k]];
      c.diag().error(c.child_path("path"), "\"" + cur.path + "\" overlaps field \"" +
                                               prev.value.name + "\" (" + prev.path + ")");
    }
  }
}

}  // namespace

std::unique_ptr<layout> make_segment_layout(layout_context& ctx, text_options o) {
  config_object& m = ctx.message;
  segment_model model;
  model.segments = read_segments(m, o.cs);
  read_header(m, o.d, model);
  o.codes = read_hl7_codes(m, o.cs, o.d.hl7);
  read_fields(ctx, o, model);
  check_overlaps(ctx, model);
  model.blank = wire_text(o.cs, "\r\n");
  return std::make_unique<segment_layout>(std::move(model), text_codec(std::move(o)));
}

}  // namespace dragoman::codecs::delimited_detail
