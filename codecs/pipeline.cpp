// The pipeline: mapping between JSON and records, and the encode/decode passes over the stages.
#include "codecs/pipeline.hpp"

#include "codecs/json_text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <ctime>

namespace dragoman::codecs {

namespace json = boost::json;

namespace {

// The slot for a dotted path, creating intermediate objects.
json::value& make_path(json::object& obj, std::string_view path) {
  json::object* cur = &obj;
  while (true) {
    auto dot = path.find('.');
    if (dot == std::string_view::npos) return (*cur)[path];
    json::value& v = (*cur)[path.substr(0, dot)];
    if (!v.is_object()) v = json::object();
    cur = &v.get_object();
    path.remove_prefix(dot + 1);
  }
}

void append_number(std::string& out, std::uint64_t n, std::uint32_t width) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  std::size_t len = static_cast<std::size_t>(r.ptr - buf);
  if (len < width) out.append(width - len, '0');
  out.append(buf, len);
}

std::string json_type_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object:
      return "an object";
    case json::kind::array:
      return "an array";
    case json::kind::null:
      return "null";
    default:
      return "a scalar";
  }
}

}  // namespace

namespace {

// One request value into its field's slot.
result<void> take_value(const field_spec& f, std::string_view given_as, const json::value& v,
                        std::size_t i, record& out) {
  std::string& slot = out.slot(i);
  slot.clear();
  if (f.json == field_spec::json_kind::array) {
    // The layout judges the elements (objects for a segment group, numbers or booleans for a
    // binary array).
    if (!v.is_array())
      return make_error(errc::invalid_field, std::string(given_as), "must be an array");
    // Serialised into the slot's own storage (json::serialize would return a new string each
    // call).
    json::serializer sr;
    sr.reset(&v);
    char chunk[512];
    while (!sr.done()) {
      std::string_view part = sr.read(chunk, sizeof chunk);
      slot.append(part.data(), part.size());
    }
  } else if (!scalar_text(v, slot)) {
    return make_error(errc::invalid_field, std::string(given_as),
                      "must be a string or a number, not " + json_type_name(v));
  }
  out.set_present(i);
  return {};
}

// Walks the request's keys (prefix: the dotted path of obj, empty at the top), filling the
// fields they name and listing the names that are none of the message's in unknown.
result<void> take_fields(const message_def& msg, const json::object& obj, std::string_view prefix,
                         record& out, std::vector<std::string>& unknown, std::size_t depth = 0) {
  // The dotted path of each key of a nested object ("patient.address.city"): one buffer per
  // nesting depth, kept per thread for its capacity (an outer level's path is the prefix of
  // the inner one, so the levels cannot share one).
  constexpr std::size_t kept_depths = 8;
  thread_local std::array<std::string, kept_depths> paths;
  std::string deeper;
  std::string& path = depth < kept_depths ? paths[depth] : deeper;
  for (const auto& kv : obj) {
    std::string_view name = kv.key();
    if (!prefix.empty()) {
      path.assign(prefix).append(".").append(kv.key());
      name = path;
    }
    const request_name* known = msg.find_request_name(name);
    if (!known) {
      unknown.emplace_back(name);
      continue;
    }
    const json::value& v = kv.value();
    if (v.is_null()) continue;  // null is absent
    if (known->object) {
      if (!v.is_object())
        return make_error(errc::invalid_field, std::string(name), "must be an object");
      if (auto r = take_fields(msg, v.get_object(), name, out, unknown, depth + 1); !r) return r;
      continue;
    }
    const field_spec& f = msg.fields[known->field];
    if (f.constant) continue;  // the profile's value is sent whatever the app says
    if (out.has(known->field))
      return make_error(errc::invalid_field, std::string(name),
                        "is given twice (also as \"" + f.from + "\" or another of its names)");
    if (auto r = take_value(f, name, v, known->field, out); !r) return r;
  }
  return {};
}

codec_error unknown_fields_error(const message_def& msg, const std::vector<std::string>& names) {
  std::string which;
  for (const auto& n : names) {
    if (!which.empty()) which += ", ";
    which += n;
  }
  std::string listed = msg.listed_request_names();
  std::string why =
      names.size() == 1 ? "is not a field of this operation" : "are not fields of this operation";
  if (msg.unknown == unknown_fields::dictionary) why += " nor of the profile's dictionary";
  why += listed.empty() ? " (it takes none)" : " (it takes " + listed + ")";
  return make_error(errc::invalid_field, std::move(which), std::move(why));
}

}  // namespace

result<void> map_request(const message_def& msg, const json::object& fields,
                         generation_context& gen, record& out) {
  out.reset(msg.fields.size());
  thread_local std::vector<std::string> unknown;
  unknown.clear();
  if (auto taken = take_fields(msg, fields, {}, out, unknown); !taken) return taken;
  if (!unknown.empty() && msg.unknown != unknown_fields::ignore)
    return unknown_fields_error(msg, unknown);
  for (std::size_t i = 0; i < msg.fields.size(); ++i) {
    const field_spec& f = msg.fields[i];
    if (f.constant) {
      out.set(i, *f.constant);
      continue;
    }
    if (out.has(i)) continue;
    if (f.generate == generator_kind::counter) {
      std::string& slot = out.slot(i);
      slot.clear();
      append_number(slot, gen.next_counter(f), f.counter_width);
      out.set_present(i);
    } else if (f.generate == generator_kind::timestamp) {
      std::string& slot = out.slot(i);
      slot.clear();
      format_timestamp(slot, f, gen.now());
      out.set_present(i);
    } else if (f.default_value) {
      out.set(i, *f.default_value);
    } else if (f.required) {
      return make_error(errc::missing_field, std::string(f.request_name()), "is required");
    }
  }
  return {};
}

std::string mask_value(std::string_view value) {
  std::size_t digits = 0;
  for (char c : value)
    if (c >= '0' && c <= '9') ++digits;
  if (digits >= 12 && digits == value.size()) {
    std::string out(value.substr(0, 6));
    out.append(value.size() - 10, '*');
    out.append(value.substr(value.size() - 4));
    return out;
  }
  return "****";
}

json::object map_reply(const message_def& msg, const record& r, bool all_fields,
                       bool mask_sensitive) {
  json::object out;
  out.reserve(msg.fields.size());  // one table, not one per growth step
  for (std::size_t i = 0; i < msg.fields.size(); ++i) {
    if (!r.has(i)) continue;
    const field_spec& f = msg.fields[i];
    std::string_view name;
    if (!f.to.empty())
      name = f.to;
    else if (all_fields)
      name = f.from.empty() ? std::string_view(f.name) : std::string_view(f.from);
    else
      continue;
    std::string_view value = r.get(i);
    json::value& slot = make_path(out, name);
    if (mask_sensitive && f.sensitive) {
      slot = mask_value(value);
      continue;
    }
    switch (f.json) {
      case field_spec::json_kind::number: {
        std::int64_t n = 0;
        auto res = std::from_chars(value.data(), value.data() + value.size(), n);
        if (res.ec == std::errc() && res.ptr == value.data() + value.size()) {
          slot = n;
        } else {
          double d = 0;
          auto rd = std::from_chars(value.data(), value.data() + value.size(), d);
          if (rd.ec == std::errc() && rd.ptr == value.data() + value.size())
            slot = d;
          else
            slot = value;
        }
        break;
      }
      case field_spec::json_kind::array: {
        boost::system::error_code ec;
        json::value parsed = json::parse(value, ec);
        if (!ec)
          slot = std::move(parsed);
        else
          slot = value;
        break;
      }
      case field_spec::json_kind::boolean:
        slot = value == "true" || value == "1" || value == "Y" || value == "y" || value == "T";
        break;
      default:
        slot = value;
    }
  }
  return out;
}

// The profile is not needed today (layout and charset belong to the message) but is part of the
// signature so that a profile-wide pass can join without touching the callers.
result<void> encode_payload(const profile& /*p*/, const message_def& msg, const record& r,
                            byte_buffer& payload, trace_sink* trace) {
  payload.clear();
  if (auto res = msg.codec->encode(r, payload); !res) {
    codec_error e = std::move(res).error();
    // The app knows its fields by their JSON names.
    if (auto idx = msg.index_of(e.where))
      e.where = std::string(msg.is_request ? msg.fields[*idx].request_name()
                                           : msg.fields[*idx].reply_name());
    return e;
  }
  if (trace) trace->stage("layout", payload);
  return {};
}

result<void> frame_payload(const profile& p, byte_buffer& payload, byte_buffer& out,
                           trace_sink* trace) {
  if (p.length) {
    if (auto res = p.length->apply(payload); !res) return std::move(res).error();
    if (trace) trace->stage("length", payload);
  }
  if (p.checksum) {
    if (auto res = p.checksum->apply(payload); !res) return std::move(res).error();
    if (trace) trace->stage("checksum", payload);
  }
  const std::size_t start = out.size();
  if (auto res = p.framing->encode(payload, out); !res) return std::move(res).error();
  if (trace) trace->stage("frame", byte_view(out).subspan(start));
  return {};
}

result<void> encode_message(const profile& p, const message_def& msg, const record& r,
                            byte_buffer& payload, byte_buffer& out, trace_sink* trace) {
  if (auto res = encode_payload(p, msg, r, payload, trace); !res) return res;
  return frame_payload(p, payload, out, trace);
}

namespace {
// Whether r holds every match value of msg; when not, how many it held and the first it missed.
bool matches(const message_def& msg, const record& r, std::size_t& held,
             std::optional<std::size_t>& missed) {
  held = 0;
  missed.reset();
  for (std::size_t i = 0; i < msg.match.size(); ++i) {
    if (r.get(msg.match[i].first) == msg.match[i].second)
      ++held;
    else if (!missed)
      missed = i;
  }
  return !missed;
}

// "admit request wants trigger_event "A01", got "R01"": a candidate's failed match, for logs.
std::string failed_match(const operation& op, const message_def& msg, const record& r,
                         std::size_t condition) {
  const auto& [idx, value] = msg.match[condition];
  const field_spec& f = msg.fields[idx];
  std::string got = r.has(idx) ? std::string(r.get(idx)) : std::string();
  if (f.sensitive && !got.empty()) got = mask_value(got);
  return op.name + (msg.is_request ? " request" : " reply") + " wants " + f.name + " \"" + value +
         "\", got " + (r.has(idx) ? "\"" + got + "\"" : std::string("nothing"));
}
}  // namespace

result<decoded_message> decode_payload(const profile& p, byte_view payload, record& out,
                                       decode_preference pref, const operation* only_op,
                                       trace_sink* trace) {
  if (trace) trace->stage("frame payload", payload);
  byte_view body = payload;
  if (p.checksum) {
    auto verified = p.checksum->verify(payload);
    if (!verified) return std::move(verified).error();
    body = *verified;
  }
  if (p.length)
    if (auto res = p.length->verify(body); !res) return std::move(res).error();
  std::optional<codec_error> first_error;
  // Of the candidates that decoded but did not match, the one that held the most match values.
  std::string closest;
  std::size_t closest_held = 0;
  auto try_message = [&](const operation& op, const message_def& msg) -> bool {
    if (!msg.codec) return false;
    out.reset(msg.fields.size());
    auto res = msg.codec->decode(body, out);
    if (!res) {
      if (!first_error) {
        first_error = std::move(res).error();
        first_error->where =
            msg.path + (first_error->where.empty() ? "" : ".") + first_error->where;
      }
      return false;
    }
    std::size_t held = 0;
    std::optional<std::size_t> missed;
    if (matches(msg, out, held, missed)) return true;
    if (closest.empty() || held > closest_held) {
      closest = failed_match(op, msg, out, *missed);
      closest_held = held;
    }
    return false;
  };
  for (int pass = 0; pass < 2; ++pass) {
    bool replies = (pass == 0) == (pref == decode_preference::replies_first);
    for (const auto& op : p.operations) {
      if (only_op && &op != only_op) continue;
      // The negative answer's operation reads whatever matched nothing; it is not a candidate.
      if (!only_op && p.session.unrecognised == op.index) continue;
      // An operation that reads the replies no call waits for (session.unmatched_replies) is
      // read only when asked for: those messages are the other operation's replies first.
      if (!only_op && op.reads_unmatched) continue;
      const message_def& msg = replies ? op.reply : op.request;
      if (try_message(op, msg)) {
        if (trace) trace->stage("layout", body);
        return decoded_message{&op, &msg, replies};
      }
    }
  }
  if (first_error && (only_op || p.operations.size() == 1)) return *first_error;
  std::string why;
  if (!closest.empty()) {
    why = "no operation's match holds (closest: " + closest + ")";
  } else {
    why = "matches no message of the profile";
    if (first_error) why += " (first failure: " + first_error->to_string() + ")";
  }
  return make_error(errc::unknown_message, "", why);
}

reply_outcome classify_reply(const operation& op, const record& reply) {
  reply_outcome o;
  if (op.result.message_field) o.message = std::string(reply.get(*op.result.message_field));
  if (!op.result.field) return o;
  o.code = std::string(reply.get(*op.result.field));
  o.success = false;
  for (const auto& s : op.result.success)
    if (s == o.code) o.success = true;
  if (o.message.empty() && !o.success)
    for (const auto& [code, name] : op.result.code_names)
      if (code == o.code) o.message = name;
  return o;
}

void format_timestamp(std::string& out, const field_spec& f,
                      std::chrono::system_clock::time_point now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  if (f.timestamp_utc)
    gmtime_r(&t, &tm);
  else
    localtime_r(&t, &tm);
  char buf[128];
  std::size_t n = std::strftime(buf, sizeof buf, f.timestamp_format.c_str(), &tm);
  out.append(buf, n);
}

void build_reply(const operation& op, const record& request, record& reply) {
  const message_def& msg = op.reply;
  reply.reset(msg.fields.size());
  for (std::size_t i = 0; i < msg.fields.size(); ++i) {
    const field_spec& f = msg.fields[i];
    if (f.constant) {
      reply.set(i, *f.constant);
      continue;
    }
    auto match = std::find_if(msg.match.begin(), msg.match.end(),
                              [&](const auto& m) { return m.first == i; });
    if (match != msg.match.end()) {
      reply.set(i, match->second);
      continue;
    }
    if (f.generate == generator_kind::timestamp) {  // the reply's own time (an ACK's MSH-7)
      std::string& slot = reply.slot(i);
      slot.clear();
      format_timestamp(slot, f, std::chrono::system_clock::now());
      reply.set_present(i);
      continue;
    }
    if (auto j = op.request.index_of(f.name); j && request.has(*j)) {
      reply.set(i, request.get(*j));
      continue;
    }
    if (op.result.field == i && !op.result.success.empty()) reply.set(i, op.result.success.front());
  }
}

}  // namespace dragoman::codecs
