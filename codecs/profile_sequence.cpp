// The session's "sequence" (sequence numbers stamped at write time, FIX's MsgSeqNum): read, and
// the fields it names found in every message (docs/profiles.md).
#include "codecs/config.hpp"
#include "codecs/profile.hpp"

namespace dragoman::codecs {

namespace json = boost::json;

// "sequence": {"field", "reference", "stamp_time", "state_file", "reset": {"field", "value"}}.
void compile_sequence(const json::object& obj, profile& out, diagnostics& diag) {
  config_object qc(obj, "session.sequence", diag);
  auto& q = out.session.sequence;
  q.enabled = true;
  q.field = qc.require_string("field");
  q.reference = qc.get_string("reference");
  q.state_file = qc.get_string("state_file");
  if (const json::array* a = qc.get_array("stamp_time")) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (!(*a)[i].is_string())
        diag.error(qc.child_path("stamp_time") + "[" + std::to_string(i) + "]",
                   "must be a field name");
      else
        q.stamp_time.emplace_back((*a)[i].get_string());
    }
  }
  if (const json::object* r = qc.get_object("reset")) {
    config_object rc(*r, qc.child_path("reset"), diag);
    q.reset_field = rc.require_string("field");
    q.reset_value = rc.require_string("value");
    rc.finish();
  }
  qc.finish();
  if (q.field.empty()) return;
  bool anywhere = false;
  for (auto& op : out.operations) {
    for (message_def* msg : {&op.request, &op.reply}) {
      msg->sequence_field = msg->index_of(q.field);
      anywhere = anywhere || msg->sequence_field.has_value();
      if (!q.reference.empty()) msg->reference_field = msg->index_of(q.reference);
      if (!q.reset_field.empty()) msg->reset_field = msg->index_of(q.reset_field);
      msg->stamp_time_fields.clear();
      for (const auto& name : q.stamp_time) {
        // Only where the field is generated: a reply read from the peer has its own.
        auto idx = msg->index_of(name);
        if (idx && msg->fields[*idx].generate == generator_kind::timestamp)
          msg->stamp_time_fields.push_back(*idx);
      }
    }
  }
  if (!anywhere) diag.error(qc.child_path("field"), "no message has a field \"" + q.field + "\"");
  if (!q.reset_field.empty() && out.session.sign_on &&
      !out.operations[*out.session.sign_on].request.reset_field)
    diag.error(qc.child_path("reset") + ".field",
               "the sign-on request has no field \"" + q.reset_field + "\"");
}

}  // namespace dragoman::codecs
