// Decode, then encode: a payload that decodes must encode again to the same bytes, or be refused
// with an error. Where the encoder normalises (padding, case of hex digits, number formatting),
// the bytes may differ but must decode to the same message and the same record; anything else is
// a finding and aborts. Input: a selector byte (profile, preference, whether the bytes are
// frames or one payload), then the bytes.
#include "fuzz/fuzz_profiles.hpp"

#include "codecs/pipeline.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace dragoman;

namespace {

[[noreturn]] void finding(const char* what, const codecs::profile& p,
                          const codecs::message_def& msg, std::size_t field = 0) {
  std::fprintf(stderr, "roundtrip: %s (profile %s, message %s, field %zu)\n", what, p.name.c_str(),
               msg.path.c_str(), field);
  std::abort();
}

// A repeating group's elements are numbered on encode where they carry no number (HL7 OBX-1,
// docs/hl7.md: "set_id numbered 1, 2, ... when absent"): after encoding, an element may have one
// key more than before, whose value is its place from 1. Anything else differs.
bool same_array_but_numbering(const codecs::field_spec& spec, std::string_view a,
                              std::string_view b) {
  if (spec.json != codecs::field_spec::json_kind::array) return false;
  boost::system::error_code ea, eb;
  const auto ja = boost::json::parse(a, ea), jb = boost::json::parse(b, eb);
  if (ea || eb || !ja.is_array() || !jb.is_array()) return false;
  const auto &xa = ja.as_array(), &xb = jb.as_array();
  if (xa.size() != xb.size()) return false;
  for (std::size_t i = 0; i < xa.size(); ++i) {
    if (xa[i] == xb[i]) continue;
    if (!xa[i].is_object() || !xb[i].is_object()) return false;
    const auto &oa = xa[i].as_object(), &ob = xb[i].as_object();
    if (ob.size() != oa.size() + 1) return false;
    std::size_t numbered = 0;
    for (const auto& [key, value] : ob) {
      if (const auto* was = oa.if_contains(key)) {
        if (*was != value) return false;
      } else if (value.is_string() && value.as_string() == std::to_string(i + 1)) {
        ++numbered;
      } else {
        return false;
      }
    }
    if (numbered != 1) return false;
  }
  return true;
}

// An absent number encodes as zeros (docs/layouts.md: fixed layouts' numeric, zoned and packed
// fields, binary integers), which read back as 0: "no value" becomes 0 on the wire, documented.
bool zero_for_absent(std::string_view after) {
  bool digit = false;
  for (char c : after) {
    if (c == '0')
      digit = true;
    else if (c != '.' && c != '+' && c != '-')
      return false;
  }
  return digit;
}

bool same_record(const codecs::message_def& msg, const codecs::record& a, const codecs::record& b,
                 std::size_t& differing) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a.has(i) == b.has(i) && a.get(i) == b.get(i)) continue;
    if (!a.has(i) && b.has(i) && zero_for_absent(b.get(i))) continue;
    if (a.has(i) && b.has(i) && i < msg.fields.size() &&
        same_array_but_numbering(msg.fields[i], a.get(i), b.get(i)))
      continue;
    differing = i;
    return false;
  }
  return true;
}

void roundtrip(const codecs::profile& p, codecs::byte_view payload,
               codecs::decode_preference pref) {
  codecs::record first;
  auto d = codecs::decode_payload(p, payload, first, pref);
  if (!d) return;
  codecs::byte_buffer encoded, frame;
  if (!codecs::encode_payload(p, *d->msg, first, encoded)) return;  // a clear refusal
  if (!codecs::frame_payload(p, encoded, frame)) return;            // checksum, then framing
  // The frame back through the framing: exactly one whole frame, whose payload is compared.
  codecs::byte_buffer again;
  std::size_t frames = 0;
  fuzz::for_each_frame(p, frame, frame.size(), [&](codecs::byte_view pl) {
    ++frames;
    again.assign(pl.begin(), pl.end());
  });
  if (frames != 1) finding("the encoded frame does not read back as one frame", p, *d->msg);
  if (std::equal(again.begin(), again.end(), payload.begin(), payload.end())) return;

  // Different bytes: a normalisation, as long as the message and its record are the same.
  codecs::record second;
  auto d2 = codecs::decode_payload(p, again, second, pref, d->op);
  if (!d2) finding("the re-encoded payload does not decode", p, *d->msg);
  if (d2->msg != d->msg) finding("the re-encoded payload decodes as another message", p, *d->msg);
  std::size_t field = 0;
  if (!same_record(*d->msg, first, second, field)) {
    // Which field, and both values, escaped: the report is the bug report.
    const auto quoted = [](std::string_view v) {
      std::string out;
      for (unsigned char c : v) {
        char hex[5];
        if (c >= 0x20 && c < 0x7f && c != '\\')
          out += static_cast<char>(c);
        else
          std::snprintf(hex, sizeof hex, "\\x%02x", c), out += hex;
      }
      return out;
    };
    std::fprintf(stderr, "roundtrip: field %s: decoded %s\"%s\", after encoding %s\"%s\"\n",
                 field < d->msg->fields.size() ? d->msg->fields[field].name.c_str() : "?",
                 first.has(field) ? "" : "(absent) ", quoted(first.get(field)).c_str(),
                 second.has(field) ? "" : "(absent) ", quoted(second.get(field)).c_str());
    finding("the re-encoded payload decodes to another record", p, *d->msg, field);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const codecs::profile& p = fuzz::pick_profile(data[0] & 0x0f);
  const auto pref = (data[0] & 0x10) ? codecs::decode_preference::requests_first
                                     : codecs::decode_preference::replies_first;
  const codecs::byte_view bytes(data + 1, size - 1);
  if (data[0] & 0x20)  // frames: each payload the framing hands over
    fuzz::for_each_frame(p, bytes, bytes.size(),
                         [&](codecs::byte_view payload) { roundtrip(p, payload, pref); });
  else
    roundtrip(p, bytes, pref);
  return 0;
}
