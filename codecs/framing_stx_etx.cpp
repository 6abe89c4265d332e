// STX/ETX framing (0x02 payload 0x03), optionally followed by a one-byte LRC, as used by
// terminals, card readers and serial-line instruments.
#include "codecs/framing_impl.hpp"

#include <algorithm>

namespace dragoman::codecs::framing_detail {

namespace {

constexpr byte stx = 0x02;
constexpr byte etx = 0x03;

struct stx_etx_config {
  std::size_t max_frame_length = 64 * 1024;  // of the payload
  bool lrc = false;
  bool lrc_covers_etx = true;  // "payload_etx" (XOR of payload and ETX) or "payload"
};

byte compute_lrc(const stx_etx_config& c, byte_view payload) {
  byte x = c.lrc_covers_etx ? etx : 0;
  for (byte b : payload) x ^= b;
  return x;
}

class stx_etx_decoder final : public start_end_decoder {
 public:
  explicit stx_etx_decoder(stx_etx_config c)
      : start_end_decoder({stx, etx, "STX 0x02", "ETX 0x03", "ETX"}, c.max_frame_length), c_(c) {}

  frame_result decode(byte_view input) override {
    if (searched_ > input.size()) searched_ = 0;
    if (discarding_) return discard(input);
    std::size_t end = 0;
    if (auto r = find_end(input, end)) return std::move(*r);
    const std::size_t length = end - 1;
    const std::size_t frame_end = end + 1 + (c_.lrc ? 1 : 0);
    if (input.size() < frame_end) {
      searched_ = end;
      return need_more();
    }
    searched_ = 0;
    if (c_.lrc) {
      const byte computed = compute_lrc(c_, input.subspan(1, length));
      const byte received = input[end + 1];
      if (computed != received)
        return skip(frame_end, errc::checksum_mismatch,
                    "LRC mismatch: received " + byte_name(received) + ", computed " +
                        byte_name(computed) + " over the payload" +
                        (c_.lrc_covers_etx ? " and ETX" : ""));
    }
    return frame_of(input, 1, end, frame_end);
  }

 private:
  frame_result discard(byte_view input) {
    const std::size_t end = find_byte(input, 0, etx);
    if (end == input.size()) {
      if (input.empty()) return need_more();
      return skip(input.size(), errc::frame_too_long, {});
    }
    const std::size_t frame_end = end + 1 + (c_.lrc ? 1 : 0);
    if (input.size() < frame_end) {
      // Keep ETX so that the LRC byte after it is recognised as part of this frame.
      if (end == 0) return need_more();
      return skip(end, errc::frame_too_long, {});
    }
    discarding_ = false;
    return skip(frame_end, errc::frame_too_long, {});
  }

  stx_etx_config c_;
};

class stx_etx_framer final : public framer {
 public:
  explicit stx_etx_framer(stx_etx_config c) : c_(c) {}

  result<void> encode(byte_view payload, byte_buffer& out) const override {
    if (payload.size() > c_.max_frame_length)
      return encode_error(errc::frame_too_long,
                          too_long_message(payload.size(), c_.max_frame_length));
    for (std::size_t i = 0; i < payload.size(); ++i)
      if (payload[i] == stx || payload[i] == etx)
        return encode_error(errc::invalid_field,
                            "payload contains " + std::string(payload[i] == stx ? "STX" : "ETX") +
                                " " + byte_name(payload[i]) + " at offset " + std::to_string(i));
    out.reserve(out.size() + payload.size() + 3);
    out.push_back(stx);
    append(out, payload);
    out.push_back(etx);
    if (c_.lrc) out.push_back(compute_lrc(c_, payload));
    return {};
  }

  std::unique_ptr<frame_decoder> make_decoder() const override {
    return std::make_unique<stx_etx_decoder>(c_);
  }

  std::size_t max_frame_length() const noexcept override { return c_.max_frame_length; }

  boost::json::object describe() const override {
    boost::json::object o;
    o["type"] = "stx_etx";
    o["max_frame_length"] = c_.max_frame_length;
    o["lrc"] = c_.lrc;
    if (c_.lrc) o["lrc_covers"] = c_.lrc_covers_etx ? "payload_etx" : "payload";
    return o;
  }

 private:
  stx_etx_config c_;
};

}  // namespace

std::unique_ptr<framer> make_stx_etx_framer(config_object& cfg) {
  diagnostics& diag = cfg.diag();
  const std::size_t errors_before = diag.errors().size();
  stx_etx_config c;
  c.max_frame_length = static_cast<std::size_t>(
      cfg.get_int("max_frame_length", 64 * 1024, 1, max_frame_length_limit));
  c.lrc = cfg.get_bool("lrc", false);
  if (!c.lrc && cfg.has("lrc_covers")) {
    cfg.accept("lrc_covers");
    diag.error(cfg.child_path("lrc_covers"), "only applies when lrc is true");
  } else {
    c.lrc_covers_etx =
        cfg.get_enum("lrc_covers", {"payload_etx", "payload"}, "payload_etx") == "payload_etx";
  }
  if (diag.errors().size() > errors_before) return nullptr;
  return std::make_unique<stx_etx_framer>(c);
}

}  // namespace dragoman::codecs::framing_detail
