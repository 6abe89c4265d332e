// The line protocol's subscription lines (see line_subscriber.hpp).
#include "bridge/line_subscriber.hpp"

#include "bridge/problem.hpp"

namespace dragoman::bridge {

namespace json = boost::json;

line_kind kind_of(const json::object& o) {
  const int n = (o.contains("op") ? 1 : 0) + (o.contains("subscribe") ? 1 : 0) +
                (o.contains("reply_to") ? 1 : 0);
  if (n > 1) return line_kind::ambiguous;
  if (o.contains("subscribe")) return line_kind::subscribe;
  if (o.contains("reply_to")) return line_kind::reply;
  return line_kind::call;
}

std::string parse_subscribe(const json::object& o, std::vector<std::string>& ops) {
  const json::value& v = o.at("subscribe");
  if (!v.is_array()) return "subscribe must be an array of operation names";
  if (v.get_array().empty()) return "subscribe must name at least one operation";
  for (const auto& e : v.get_array()) {
    if (!e.is_string() || e.get_string().empty())
      return "subscribe must be an array of operation names (non-empty strings)";
    ops.emplace_back(e.get_string());
  }
  return {};
}

std::string parse_reply(const json::object& o, std::string& message_id, deliver_response& answer) {
  const json::value& id = o.at("reply_to");
  if (!id.is_string() || id.get_string().empty())
    return "reply_to must be the message_id of a delivery (a string)";
  message_id = std::string(id.get_string());
  const json::value* data = o.if_contains("data");
  const json::value* error = o.if_contains("error");
  if (data && data->is_null()) data = nullptr;
  if (error && error->is_null()) error = nullptr;
  if (data && error) return "a reply has data or error, not both";
  if (error) {
    std::string text;
    if (error->is_string()) {
      text = std::string(error->get_string());
    } else if (error->is_object()) {
      for (std::string_view key : {"message", "detail", "error", "title"})
        if (const json::value* t = error->get_object().if_contains(key); t && t->is_string()) {
          text = std::string(t->get_string());
          break;
        }
    } else {
      return "error must be a string or an object with a message";
    }
    answer.what = deliver_response::outcome::refused;
    answer.why = "the line subscriber answered an error";
    // The negative reply takes the text from the body's "error" (inbound failure_text).
    answer.body = json::serialize(json::object{{"error", text.empty() ? answer.why : text}});
    return {};
  }
  if (data && !data->is_object()) return "data must be a JSON object";
  answer.what = deliver_response::outcome::accepted;
  answer.body = data ? json::serialize(*data) : std::string("{}");
  return {};
}

void append_inbound_line(std::string& out, const deliver_request& r) {
  out.append(R"({"inbound":)");
  append_json(out, json::value(r.op));
  out.append(R"(,"message_id":)");
  append_json(out, json::value(r.message_id));
  out.append(R"(,"request_id":)");
  append_json(out, json::value(r.request_id));
  out.append(R"(,"data":)");
  out.append(r.body.empty() ? std::string_view("{}") : std::string_view(r.body));
  out.append("}\n");
}

void append_reply_error(std::string& out, const json::value& reply_to, std::string_view message) {
  out.append(R"({"reply_to":)");
  append_json(out, reply_to);
  out.append(R"(,"ok":false,"error":)");
  append_json(out, json::object{{"code", "bad_request"}, {"message", message}});
  out.append("}\n");
}

}  // namespace dragoman::bridge
