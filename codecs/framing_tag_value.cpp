// Tag=value framing (FIX): a frame opens with the start field ("8=FIX.4.4"), then a length field
// ("9=N") counting the body after it, then the body, then a trailer of a fixed size ("10=ddd" and
// the separator). The whole frame is the payload: the length and checksum stages read it there.
#include "codecs/framing_impl.hpp"

#include <algorithm>
#include <string>

namespace dragoman::codecs::framing_detail {

namespace {

struct tag_value_config {
  std::string start;  // "8="
  char separator = '\x01';
  std::string length_prefix;   // "9="
  std::string trailer_prefix;  // "10="
  std::size_t trailer_length = 7;
  std::size_t max_frame_length = 65536;
};

class tag_value_decoder final : public frame_decoder {
 public:
  explicit tag_value_decoder(const tag_value_config& c) : c_(c) {}

  frame_result decode(byte_view input) override {
    const std::string_view s(reinterpret_cast<const char*>(input.data()), input.size());
    if (s.empty()) return need_more();
    const std::size_t k = std::min(s.size(), c_.start.size());
    if (s.substr(0, k) != std::string_view(c_.start).substr(0, k))
      return resync(s, "bytes before " + quoted(c_.start));
    if (s.size() <= c_.start.size()) return need_more();
    // The start field ends at the first separator.
    const std::size_t sep = s.find(c_.separator, c_.start.size());
    if (sep == s.npos) {
      if (s.size() > 64) return resync(s, "a start field longer than 64 bytes");
      return need_more();
    }
    const std::size_t lp = sep + 1;
    const std::size_t have = std::min(s.size() - lp, c_.length_prefix.size());
    if (s.substr(lp, have) != std::string_view(c_.length_prefix).substr(0, have))
      return resync(s, "a frame without its length field " + quoted(c_.length_prefix));
    if (have < c_.length_prefix.size()) return need_more();
    const std::size_t digits = lp + c_.length_prefix.size();
    std::uint64_t n = 0;
    std::size_t at = digits;
    for (; at < s.size() && s[at] != c_.separator; ++at) {
      if (s[at] < '0' || s[at] > '9' || at - digits >= 10)
        return resync(s, "a length field that is not decimal digits");
      n = n * 10 + static_cast<std::uint64_t>(s[at] - '0');
    }
    if (at == s.size()) return need_more();
    if (at == digits) return resync(s, "an empty length field");
    const std::uint64_t total = at + 1 + n + c_.trailer_length;
    if (total > c_.max_frame_length) {
      auto r = resync(s, "");
      r.reason = errc::frame_too_long;
      r.message = too_long_message(total, c_.max_frame_length);
      in_garbage_ = true;
      return r;
    }
    if (s.size() < total) return need_more();
    const std::string_view trailer =
        s.substr(static_cast<std::size_t>(total) - c_.trailer_length, c_.trailer_length);
    if (!trailer.starts_with(c_.trailer_prefix) || trailer.back() != c_.separator)
      return resync(s, "a frame whose trailer " + quoted(c_.trailer_prefix) +
                           " is not where its length puts it");
    in_garbage_ = false;
    return frame_of(input, 0, static_cast<std::size_t>(total), static_cast<std::size_t>(total));
  }

 private:
  static std::string quoted(std::string_view b) {
    std::string out = "\"";
    for (char ch : b) {
      if (static_cast<unsigned char>(ch) < 0x20)
        out += byte_name(static_cast<byte>(ch));
      else
        out.push_back(ch);
    }
    return out + "\"";
  }

  // Drops bytes up to the next start that follows a separator (or keeps a tail that may begin
  // one); reports once per run of garbage.
  frame_result resync(std::string_view s, const std::string& what) {
    std::string marker(1, c_.separator);
    marker += c_.start;
    std::size_t next = s.find(marker, 1);
    std::size_t consumed =
        next == s.npos ? (s.size() > marker.size() ? s.size() - marker.size() : 1) : next + 1;
    consumed = std::max<std::size_t>(consumed, 1);
    std::string message;
    if (!in_garbage_ && !what.empty()) message = "discarding " + what;
    in_garbage_ = true;
    return skip(consumed, errc::malformed, std::move(message));
  }

  tag_value_config c_;
  bool in_garbage_ = false;
};

class tag_value_framer final : public framer {
 public:
  explicit tag_value_framer(tag_value_config c) : c_(std::move(c)) {}

  result<void> encode(byte_view payload, byte_buffer& out) const override {
    const std::string_view s(reinterpret_cast<const char*>(payload.data()), payload.size());
    if (!s.starts_with(c_.start))
      return encode_error(errc::invalid_field, "payload does not open with the start field");
    if (payload.size() > c_.max_frame_length)
      return encode_error(errc::frame_too_long,
                          too_long_message(payload.size(), c_.max_frame_length));
    append(out, payload);
    return {};
  }

  std::unique_ptr<frame_decoder> make_decoder() const override {
    return std::make_unique<tag_value_decoder>(c_);
  }

  std::size_t max_frame_length() const noexcept override { return c_.max_frame_length; }

  boost::json::object describe() const override {
    boost::json::object o;
    o["type"] = "tag_value";
    o["start"] = bytes_to_json(c_.start);
    o["separator"] = bytes_to_json(std::string(1, c_.separator));
    o["length_prefix"] = bytes_to_json(c_.length_prefix);
    o["trailer_prefix"] = bytes_to_json(c_.trailer_prefix);
    o["trailer_length"] = c_.trailer_length;
    o["max_frame_length"] = c_.max_frame_length;
    return o;
  }

 private:
  tag_value_config c_;
};

}  // namespace

std::unique_ptr<framer> make_tag_value_framer(config_object& cfg) {
  const std::size_t errors_before = cfg.diag().errors().size();
  tag_value_config c;
  auto bytes = [&](std::string_view key, std::string& into) {
    if (!cfg.has(key)) {
      (void)cfg.require_string(key);
      return;
    }
    auto v = cfg.get_bytes(key);
    if (!v || v->empty())
      cfg.diag().error(cfg.child_path(key), "must not be empty");
    else
      into = *v;
  };
  bytes("start", c.start);
  bytes("length_prefix", c.length_prefix);
  bytes("trailer_prefix", c.trailer_prefix);
  if (cfg.has("separator")) {
    auto v = cfg.get_bytes("separator");
    if (!v || v->size() != 1)
      cfg.diag().error(cfg.child_path("separator"), "must be one byte");
    else
      c.separator = (*v)[0];
  }
  c.trailer_length = static_cast<std::size_t>(cfg.get_int("trailer_length", 7, 2, 64));
  if (c.trailer_length <= c.trailer_prefix.size())
    cfg.diag().error(cfg.child_path("trailer_length"),
                     "must exceed trailer_prefix (it counts the prefix, value and separator)");
  c.max_frame_length =
      static_cast<std::size_t>(cfg.get_int("max_frame_length", 65536, 16, max_frame_length_limit));
  if (cfg.diag().errors().size() > errors_before) return nullptr;
  return std::make_unique<tag_value_framer>(std::move(c));
}

}  // namespace dragoman::codecs::framing_detail
