// Delimiter framing (one or several byte sequences end a frame) and MLLP (0x0B payload 0x1C 0x0D),
// the HL7 minimal lower layer protocol.
#include "codecs/framing_impl.hpp"

#include <algorithm>
#include <vector>

namespace dragoman::codecs::framing_detail {

namespace {

// ---- delimiter -------------------------------------------------------------------------------

struct delimiter_config {
  std::vector<std::string> delimiters;  // in profile order; the first one is written by encode
  bool strip = true;
  std::size_t max_frame_length = 0;  // of the payload, excluding the delimiter (as Netty)
  std::size_t longest = 0;           // the longest delimiter's length
};

struct match {
  std::size_t at = 0;      // where the delimiter starts; input.size() when none
  std::size_t length = 0;  // the delimiter's length
};

// The earliest delimiter starting at or after from; on a tie the one listed first (Netty).
match find_delimiter(const delimiter_config& c, byte_view input, std::size_t from) {
  match best{input.size(), 0};
  if (from >= input.size()) return best;
  for (const auto& d : c.delimiters) {
    const auto needle = as_bytes(d);
    const auto it = std::search(input.begin() + static_cast<long>(from), input.end(),
                                needle.begin(), needle.end());
    const auto at = static_cast<std::size_t>(it - input.begin());
    if (it != input.end() && at < best.at) best = match{at, d.size()};
  }
  return best;
}

std::string escape(std::string_view bytes) {
  std::string s;
  for (char ch : bytes) {
    const auto b = static_cast<byte>(ch);
    if (b == '\r') {
      s += "\\r";
    } else if (b == '\n') {
      s += "\\n";
    } else if (b == '\t') {
      s += "\\t";
    } else if (b >= 0x20 && b < 0x7F && b != '"' && b != '\\') {
      s.push_back(ch);
    } else {
      s += "\\x" + byte_name(b).substr(2);
    }
  }
  return s;
}

class delimiter_decoder final : public frame_decoder {
 public:
  explicit delimiter_decoder(std::shared_ptr<const delimiter_config> c) : c_(std::move(c)) {}

  frame_result decode(byte_view input) override {
    const delimiter_config& c = *c_;
    // Bytes before searched_ were already searched without a match (the caller hands the same
    // unconsumed bytes back with more appended), so a byte-at-a-time peer costs linear time.
    if (searched_ > input.size()) searched_ = 0;
    const match m = find_delimiter(c, input, searched_);
    // A delimiter may have only partly arrived: keep its possible first bytes.
    const std::size_t tail = c.longest - 1;

    if (discarding_) {
      if (m.at < input.size()) {
        discarding_ = false;
        searched_ = 0;
        return skip(m.at + m.length, errc::frame_too_long, {});
      }
      if (input.size() <= tail) return need_more();
      searched_ = 0;
      return skip(input.size() - tail, errc::frame_too_long, {});
    }

    if (m.at < input.size()) {
      searched_ = 0;
      const std::size_t consumed = m.at + m.length;
      if (m.at > c.max_frame_length)
        return skip(consumed, errc::frame_too_long, too_long_message(m.at, c.max_frame_length));
      return frame_of(input, 0, c.strip ? m.at : consumed, consumed);
    }
    // Any delimiter ending a frame of at most max_frame_length bytes would be in the input now.
    if (input.size() >= c.max_frame_length + c.longest) {
      discarding_ = true;
      searched_ = 0;
      return skip(input.size() - tail, errc::frame_too_long,
                  "frame of more than " + std::to_string(c.max_frame_length) +
                      " bytes exceeds max_frame_length " + std::to_string(c.max_frame_length) +
                      " (no delimiter found); discarding to the next delimiter");
    }
    searched_ = input.size() > tail ? input.size() - tail : 0;
    return need_more();
  }

 private:
  std::shared_ptr<const delimiter_config> c_;
  std::size_t searched_ = 0;
  bool discarding_ = false;
};

class delimiter_framer final : public framer {
 public:
  explicit delimiter_framer(std::shared_ptr<const delimiter_config> c) : c_(std::move(c)) {}

  result<void> encode(byte_view payload, byte_buffer& out) const override {
    const delimiter_config& c = *c_;
    if (payload.size() > c.max_frame_length)
      return encode_error(errc::frame_too_long,
                          too_long_message(payload.size(), c.max_frame_length));
    const std::size_t start = out.size();
    append(out, payload);
    append(out, c.delimiters.front());
    // The frame must end at the delimiter we wrote and nowhere earlier: this also catches a
    // payload whose last bytes form a delimiter together with the first bytes of ours.
    const match m = find_delimiter(c, byte_view(out).subspan(start), 0);
    if (m.at != payload.size()) {
      out.resize(start);
      return encode_error(errc::invalid_field,
                          "payload contains a delimiter (\"" +
                              escape(as_chars(byte_view(payload).subspan(
                                  m.at, std::min(m.length, payload.size() - m.at)))) +
                              "\" at offset " + std::to_string(m.at) + ")");
    }
    return {};
  }

  std::unique_ptr<frame_decoder> make_decoder() const override {
    return std::make_unique<delimiter_decoder>(c_);
  }

  std::size_t max_frame_length() const noexcept override { return c_->max_frame_length; }

  boost::json::object describe() const override {
    boost::json::object o;
    o["type"] = "delimiter";
    boost::json::array ds;
    for (const auto& d : c_->delimiters) ds.push_back(bytes_to_json(d));
    o["delimiters"] = std::move(ds);
    o["strip"] = c_->strip;
    o["max_frame_length"] = c_->max_frame_length;
    return o;
  }

 private:
  std::shared_ptr<const delimiter_config> c_;
};

// One delimiter written as a string or an array of byte values; reports under path.
std::optional<std::string> read_delimiter(const boost::json::value& v, const std::string& path,
                                          diagnostics& diag) {
  std::string out;
  if (v.is_string()) {
    out = std::string(v.get_string());
  } else if (v.is_array()) {
    for (const auto& b : v.get_array()) {
      if (!b.is_int64() || b.get_int64() < 0 || b.get_int64() > 255) {
        diag.error(path, "must be a string or an array of byte values 0..255");
        return std::nullopt;
      }
      out.push_back(static_cast<char>(b.get_int64()));
    }
  } else {
    diag.error(path, "must be a string or an array of byte values 0..255");
    return std::nullopt;
  }
  if (out.empty()) {
    diag.error(path, "must not be empty");
    return std::nullopt;
  }
  return out;
}

// ---- MLLP ------------------------------------------------------------------------------------

constexpr byte mllp_start = 0x0B;
constexpr byte mllp_end = 0x1C;
constexpr byte mllp_cr = 0x0D;

struct mllp_config {
  std::size_t max_frame_length = 1024 * 1024;  // of the payload
  bool lenient_end = true;
};

class mllp_decoder final : public start_end_decoder {
 public:
  explicit mllp_decoder(mllp_config c)
      : start_end_decoder(
            {mllp_start, mllp_end, "the MLLP start block 0x0b", "end block 0x1c", "end block"},
            c.max_frame_length),
        c_(c) {}

  frame_result decode(byte_view input) override {
    if (searched_ > input.size()) searched_ = 0;
    if (discarding_) return discard(input);
    std::size_t end = 0;
    if (auto r = find_end(input, end)) return std::move(*r);
    // Whether a 0x0D follows is only known once the next byte is here.
    if (end + 1 == input.size()) {
      searched_ = end;
      return need_more();
    }
    searched_ = 0;
    if (input[end + 1] == mllp_cr) return frame_of(input, 1, end, end + 2);
    if (c_.lenient_end) return frame_of(input, 1, end, end + 1);
    return skip(end + 1, errc::malformed,
                "MLLP end block 0x1c is followed by " + byte_name(input[end + 1]) +
                    " instead of 0x0d (lenient_end is false)");
  }

 private:
  frame_result discard(byte_view input) {
    const std::size_t end = find_byte(input, 0, mllp_end);
    if (end == input.size()) {
      if (input.empty()) return need_more();
      return skip(input.size(), errc::frame_too_long, {});
    }
    if (end + 1 == input.size()) {
      if (end == 0) return need_more();
      return skip(end, errc::frame_too_long, {});
    }
    discarding_ = false;
    return skip(end + (input[end + 1] == mllp_cr ? 2 : 1), errc::frame_too_long, {});
  }

  mllp_config c_;
};

class mllp_framer final : public framer {
 public:
  explicit mllp_framer(mllp_config c) : c_(c) {}

  result<void> encode(byte_view payload, byte_buffer& out) const override {
    if (payload.size() > c_.max_frame_length)
      return encode_error(errc::frame_too_long,
                          too_long_message(payload.size(), c_.max_frame_length));
    for (std::size_t i = 0; i < payload.size(); ++i)
      if (payload[i] == mllp_start || payload[i] == mllp_end)
        return encode_error(errc::invalid_field, "payload contains the MLLP block byte " +
                                                     byte_name(payload[i]) + " at offset " +
                                                     std::to_string(i));
    out.reserve(out.size() + payload.size() + 3);
    out.push_back(mllp_start);
    append(out, payload);
    out.push_back(mllp_end);
    out.push_back(mllp_cr);
    return {};
  }

  std::unique_ptr<frame_decoder> make_decoder() const override {
    return std::make_unique<mllp_decoder>(c_);
  }

  std::size_t max_frame_length() const noexcept override { return c_.max_frame_length; }

  boost::json::object describe() const override {
    boost::json::object o;
    o["type"] = "mllp";
    o["max_frame_length"] = c_.max_frame_length;
    o["lenient_end"] = c_.lenient_end;
    return o;
  }

 private:
  mllp_config c_;
};

}  // namespace

std::unique_ptr<framer> make_delimiter_framer(config_object& cfg) {
  diagnostics& diag = cfg.diag();
  const std::size_t errors_before = diag.errors().size();
  auto c = std::make_shared<delimiter_config>();

  const std::string path = cfg.child_path("delimiters");
  const boost::json::value* v = cfg.find("delimiters");
  if (!v) {
    diag.error(path, "is required");
  } else if (v->is_array() && !v->get_array().empty() &&
             std::all_of(v->get_array().begin(), v->get_array().end(),
                         [](const boost::json::value& e) { return e.is_number(); })) {
    // [13, 10] is one delimiter written as bytes, not a list of one-byte delimiters.
    if (auto d = read_delimiter(*v, path, diag)) c->delimiters.push_back(std::move(*d));
  } else if (v->is_array()) {
    const auto& a = v->get_array();
    if (a.empty()) diag.error(path, "must not be empty");
    for (std::size_t i = 0; i < a.size(); ++i)
      if (auto d = read_delimiter(a[i], path + "[" + std::to_string(i) + "]", diag))
        c->delimiters.push_back(std::move(*d));
  } else {
    if (auto d = read_delimiter(*v, path, diag)) c->delimiters.push_back(std::move(*d));
  }
  c->strip = cfg.get_bool("strip", true);
  c->max_frame_length =
      static_cast<std::size_t>(cfg.require_int("max_frame_length", 1, max_frame_length_limit));
  if (diag.errors().size() > errors_before || c->delimiters.empty()) return nullptr;
  for (const auto& d : c->delimiters) c->longest = std::max(c->longest, d.size());
  return std::make_unique<delimiter_framer>(std::move(c));
}

std::unique_ptr<framer> make_mllp_framer(config_object& cfg) {
  diagnostics& diag = cfg.diag();
  const std::size_t errors_before = diag.errors().size();
  mllp_config c;
  c.max_frame_length = static_cast<std::size_t>(
      cfg.get_int("max_frame_length", 1024 * 1024, 1, max_frame_length_limit));
  c.lenient_end = cfg.get_bool("lenient_end", true);
  if (diag.errors().size() > errors_before) return nullptr;
  return std::make_unique<mllp_framer>(c);
}

}  // namespace dragoman::codecs::framing_detail
