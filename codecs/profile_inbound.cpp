// The profile's inbound side: an operation's "direction" and its "inbound" section (how dragoman
// answers a message the host starts), and the reply values shared with session.unrecognised.
#include "codecs/config.hpp"
#include "codecs/json_text.hpp"
#include "codecs/profile.hpp"

namespace dragoman::codecs {

namespace json = boost::json;

namespace {

// The failure's text in a negative reply: why the app did not accept the message.
constexpr std::string_view failure_source = "$failure";

}  // namespace

std::vector<reply_value> compile_reply_values(const json::object& values, const std::string& path,
                                              const operation& op, bool allow_failure,
                                              diagnostics& diag) {
  std::vector<reply_value> out;
  for (const auto& kv : values) {
    const std::string vpath = path + "." + std::string(kv.key());
    reply_value rv;
    auto field = op.reply.index_of(kv.key());
    if (!field) {
      diag.error(vpath, "no reply field named \"" + std::string(kv.key()) + "\" in operation \"" +
                            op.name + "\"");
      continue;
    }
    rv.field = *field;
    if (auto text = scalar_text(kv.value())) {
      rv.text = std::move(*text);
    } else if (kv.value().is_object()) {
      config_object vc(kv.value().get_object(), vpath, diag);
      const std::string from = vc.require_string("from");
      rv.add = vc.get_int("add", 0, -1000000000, 1000000000);
      vc.finish();
      if (allow_failure && from == failure_source) {
        rv.failure = true;
      } else {
        rv.from = op.request.index_of(from);
        if (!from.empty() && !rv.from)
          diag.error(vc.child_path("from"),
                     "no request field named \"" + from + "\"" +
                         (allow_failure ? " (or \"$failure\", the failure's text)" : ""));
        if (!rv.from) continue;
      }
    } else {
      diag.error(vpath, "must be a value or {\"from\": request field, \"add\": N}");
      continue;
    }
    out.push_back(std::move(rv));
  }
  return out;
}

void compile_inbound(config_object& o, operation& op, diagnostics& diag) {
  const std::string dir = o.get_enum("direction", {"outbound", "inbound", "both"}, "outbound");
  op.dir = dir == "inbound" ? direction::inbound
           : dir == "both"  ? direction::both
                            : direction::outbound;
  const json::object* in = o.get_object("inbound");
  if (!op.receives()) {
    if (in) diag.error(o.child_path("inbound"), "needs \"direction\": \"inbound\" or \"both\"");
    return;
  }
  if (op.request.fields.empty() || op.reply.fields.empty()) return;  // reported already
  if (op.request.match.empty())
    diag.error(o.child_path("request"),
               "an operation the host sends needs a \"match\" (how its messages are recognised)");
  if (!in) return;
  config_object ic(*in, o.child_path("inbound"), diag);
  inbound_spec& spec = op.inbound;
  spec.answer = ic.get_bool("answer", true);
  if (const json::object* r = ic.get_object("reply"))
    spec.reply = compile_reply_values(*r, ic.child_path("reply"), op, false, diag);
  if (const json::value* n = ic.find("negative")) {
    if (n->is_object()) {
      spec.negative = true;
      spec.negative_reply =
          compile_reply_values(n->get_object(), ic.child_path("negative"), op, true, diag);
    } else if (!n->is_null()) {
      diag.error(ic.child_path("negative"),
                 "must be an object of reply values, or null (no answer when the app fails)");
    }
  }
  // "dedupe_key": a request field's name, or an array of them (all together make the key).
  if (const json::value* key = ic.find("dedupe_key"); key && !key->is_null()) {
    std::vector<std::string> names;
    bool bad = false;
    if (key->is_string()) {
      names.emplace_back(key->get_string());
    } else if (key->is_array() && !key->get_array().empty()) {
      for (const auto& k : key->get_array()) {
        if (!k.is_string())
          bad = true;
        else
          names.emplace_back(k.get_string());
      }
    }
    if (bad || names.empty())
      diag.error(ic.child_path("dedupe_key"),
                 "must be a request field's name or a non-empty array of them");
    else
      for (const auto& n : names) {
        if (auto i = op.request.index_of(n))
          spec.dedupe_key.push_back(*i);
        else
          diag.error(ic.child_path("dedupe_key"), "no request field named \"" + n + "\"");
      }
  }
  spec.dedupe_window =
      std::chrono::milliseconds(ic.get_int("dedupe_window_ms", 600000, 1, 86400000));
  ic.finish();
}

}  // namespace dragoman::codecs
