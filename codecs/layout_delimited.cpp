// Delimited layout: flat separated lines (CSV-like), fields by position and component, with
// escapes; a message with a segment_separator gets the segment model (layout_segments.cpp).
#include "codecs/delimited_text.hpp"
#include "codecs/layout_impl.hpp"
#include "codecs/layout_segments.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace dragoman::codecs {

namespace {

using namespace delimited_detail;

struct flat_field {
  value_format value;
  std::size_t position = 0;
  int component = -1;  // -1: the whole field
};

class delimited_layout final : public layout {
 public:
  delimited_layout(std::vector<flat_field> fields, std::vector<std::size_t> order, text_codec text)
      : fields_(std::move(fields)), order_(std::move(order)), text_(std::move(text)) {}

  result<void> encode(const record& r, byte_buffer& out) const override {
    const delimiters& d = text_.delims();
    std::size_t position = 0;
    int component = 0;
    for (std::size_t i : order_) {
      const flat_field& f = fields_[i];
      while (position < f.position) {
        append(out, d.separator);
        ++position;
        component = 0;
      }
      while (component < f.component) {
        append(out, d.component);
        ++component;
      }
      if (auto done = text_.encode_value(f.value, r.get(i), out); !done) return done;
    }
    append(out, d.terminator);
    return {};
  }

  result<void> decode(byte_view payload, record& r) const override {
    const delimiters& d = text_.delims();
    std::size_t limit = payload.size();
    if (!d.terminator.empty() && limit >= d.terminator.size() &&
        delimiters::match(payload, limit - d.terminator.size(), limit, d.terminator)) {
      limit -= d.terminator.size();
    }
    // One pass over the fields in position order; components are found within their field.
    std::size_t position = 0;
    std::size_t begin = 0;
    std::size_t end = d.find_end(payload, 0, limit, d.separator);
    for (std::size_t i : order_) {
      const flat_field& f = fields_[i];
      while (position < f.position && end < limit) {
        begin = end + d.separator.size();
        end = d.find_end(payload, begin, limit, d.separator);
        ++position;
      }
      std::size_t vb = begin;
      std::size_t ve = end;
      if (position < f.position || !find_component(payload, f.component, vb, ve)) {
        r.clear(i);  // the line has fewer fields or components
        continue;
      }
      if (auto done = text_.decode_value(d, f.value, payload, vb, ve, r, i); !done) return done;
    }
    return {};
  }

  boost::json::object describe_field(std::size_t index) const override {
    boost::json::object o;
    if (index >= fields_.size()) return o;
    const flat_field& f = fields_[index];
    o["position"] = f.position;
    if (f.component >= 0) o["component"] = f.component;
    text_codec::describe_value(f.value, o);
    return o;
  }

  boost::json::object describe() const override {
    boost::json::object o = text_.describe();
    o["charset"] = text_.charset_name();
    return o;
  }

 private:
  // Narrows the field [vb, ve) to its component (none: the whole field); false when the field
  // has fewer components.
  bool find_component(byte_view in, int component, std::size_t& vb, std::size_t& ve) const {
    if (component < 0) return true;
    const delimiters& d = text_.delims();
    const std::size_t end = ve;
    ve = d.find_end(in, vb, end, d.component);
    int c = 0;
    while (c < component && ve < end) {
      vb = ve + d.component.size();
      ve = d.find_end(in, vb, end, d.component);
      ++c;
    }
    return c == component;
  }

  std::vector<flat_field> fields_;
  std::vector<std::size_t> order_;  // field indices by (position, component)
  text_codec text_;
};

flat_field read_flat_field(config_object& c, std::size_t i, std::string name,
                           const text_options& o) {
  flat_field f;
  f.value.name = std::move(name);
  refuse_keys(c, {"path", "segment"}, "needs the message's segment_separator");
  f.position =
      static_cast<std::size_t>(c.get_int("position", static_cast<std::int64_t>(i), 0, 100000));
  if (auto comp = c.get_optional_int("component", 0, 1000)) {
    if (o.d.component.empty()) {
      c.diag().error(c.child_path("component"), "needs the message's component_separator");
    } else {
      f.component = static_cast<int>(*comp);
    }
  }
  read_value_format(c, o, f.value);
  return f;
}

// Field indices by (position, component); two fields over the same bytes are refused.
std::vector<std::size_t> order_fields(layout_context& ctx, const std::vector<flat_field>& fields) {
  std::vector<std::size_t> order(fields.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (fields[a].position != fields[b].position) return fields[a].position < fields[b].position;
    return fields[a].component < fields[b].component;
  });
  for (std::size_t k = 1; k < order.size(); ++k) {
    const flat_field& prev = fields[order[k - 1]];
    const flat_field& cur = fields[order[k]];
    if (prev.position != cur.position) continue;
    if (prev.component == cur.component || prev.component < 0) {
      config_object& c = ctx.fields[order[k]];
      c.diag().error(
          c.child_path(cur.component >= 0 ? "component" : "position"),
          "position " + std::to_string(cur.position) +
              (cur.component >= 0 ? " component " + std::to_string(cur.component) : std::string()) +
              " is already used by field \"" + prev.value.name + "\"");
    }
  }
  return order;
}

}  // namespace

std::unique_ptr<layout> make_delimited_layout(layout_context& ctx) {
  text_options o = read_text_options(ctx);
  // One profile type, two models: a segment separator means segments (HL7 and the like).
  if (!o.d.segment.empty()) return make_segment_layout(ctx, std::move(o));
  refuse_keys(ctx.message, {"segments", "header_segment", "header_carries_separators"},
              "needs segment_separator");
  o.codes = read_hl7_codes(ctx.message, o.cs, o.d.hl7);
  std::vector<flat_field> fields;
  fields.reserve(ctx.fields.size());
  for (std::size_t i = 0; i < ctx.fields.size(); ++i) {
    std::string name = i < ctx.field_names.size() ? ctx.field_names[i] : std::string();
    fields.push_back(read_flat_field(ctx.fields[i], i, std::move(name), o));
  }
  std::vector<std::size_t> order = order_fields(ctx, fields);
  return std::make_unique<delimited_layout>(std::move(fields), std::move(order),
                                            text_codec(std::move(o)));
}

}  // namespace dragoman::codecs
