// Line-and-block framing: text lines, some followed by a counted data block, some continuing the
// frame (memcached's text protocol: "VALUE k 0 5\r\nhello\r\nEND\r\n").
#include "codecs/framing_impl.hpp"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

namespace dragoman::codecs::framing_detail {

namespace {

struct block_rule {
  std::string prefix;
  std::size_t length_token = 0;  // 0-based index of the whitespace-separated token
};

struct line_blocks_config {
  std::string line_end = "\r\n";
  std::vector<block_rule> blocks;
  std::vector<std::string> continue_prefixes;
  std::size_t max_frame_length = 0;  // of the whole frame, lines and blocks and line ends
  std::size_t longest_prefix = 0;
};

bool starts_with(byte_view line, std::string_view prefix) noexcept {
  return line.size() >= prefix.size() &&
         std::memcmp(line.data(), prefix.data(), prefix.size()) == 0;
}

// The first line_end at or after from, or input.size().
std::size_t find_line_end(std::string_view le, byte_view input, std::size_t from) noexcept {
  if (le.size() == 1) return find_byte(input, from, static_cast<byte>(le[0]));
  while (from + le.size() <= input.size()) {
    const std::size_t at = find_byte(input, from, static_cast<byte>(le[0]));
    if (at + le.size() > input.size()) break;
    if (std::memcmp(input.data() + at + 1, le.data() + 1, le.size() - 1) == 0) return at;
    from = at + 1;
  }
  return input.size();
}

// A line for messages: printable, control bytes escaped, at most 64 bytes of it.
std::string quoted(byte_view bytes) {
  std::string s = "\"";
  const std::size_t n = std::min<std::size_t>(bytes.size(), 64);
  for (std::size_t i = 0; i < n; ++i) {
    const byte b = bytes[i];
    if (b == '\r') {
      s += "\\r";
    } else if (b == '\n') {
      s += "\\n";
    } else if (b >= 0x20 && b < 0x7F && b != '"' && b != '\\') {
      s.push_back(static_cast<char>(b));
    } else {
      s += "\\x" + byte_name(b).substr(2);
    }
  }
  if (n < bytes.size()) s += "...";
  s.push_back('"');
  return s;
}

bool is_space(byte b) noexcept {
  return b == ' ' || b == '\t';
}

// One line and its block, if any.
struct unit_info {
  bool continues = false;
  bool has_block = false;
  std::uint64_t block_length = 0;
};

// Classifies a complete line (without its line end). Returns false with a reason when the line
// announces a block whose length token is missing or not a number.
bool classify(const line_blocks_config& c, byte_view line, unit_info& u, std::string& why) {
  u = unit_info{};
  for (const auto& p : c.continue_prefixes) {
    if (starts_with(line, p)) {
      u.continues = true;
      break;
    }
  }
  for (const auto& rule : c.blocks) {
    if (!starts_with(line, rule.prefix)) continue;
    std::size_t i = 0;
    std::size_t index = 0;
    while (true) {
      while (i < line.size() && is_space(line[i])) ++i;
      if (i == line.size()) {
        why = "line " + quoted(line) + " has no length token " + std::to_string(rule.length_token) +
              " (block rule " + quoted(as_bytes(rule.prefix)) + ")";
        return false;
      }
      std::size_t e = i;
      while (e < line.size() && !is_space(line[e])) ++e;
      if (index == rule.length_token) {
        const byte_view token = line.subspan(i, e - i);
        std::uint64_t n = 0;
        bool ok = token.size() <= 19;
        for (byte b : token) {
          if (b < '0' || b > '9') ok = false;
          n = n * 10 + static_cast<std::uint64_t>(b - '0');
        }
        if (!ok) {
          why = "bad length token " + quoted(token) + " (token " +
                std::to_string(rule.length_token) + " of the line " + quoted(line) +
                ", block rule " + quoted(as_bytes(rule.prefix)) + ")";
          return false;
        }
        u.has_block = true;
        u.block_length = n;
        return true;
      }
      ++index;
      i = e;
    }
  }
  return true;
}

enum class scan_status { frame, need_more, too_long, bad };

// Walks the units of a frame that starts at input[0], from pos (a unit start) on, advancing pos
// over complete units. frame: pos is the frame's end. too_long: `length` is a lower bound of the
// frame's length. searched: where the line-end search may resume (bytes before were searched).
scan_status scan(const line_blocks_config& c, byte_view input, std::size_t& pos,
                 std::size_t& searched, std::uint64_t& length, std::string& why) {
  const std::size_t le = c.line_end.size();
  while (true) {
    const std::size_t at = find_line_end(c.line_end, input, std::max(pos, searched));
    if (at == input.size()) {
      // A line end would make the frame at least one byte longer than what is here.
      if (input.size() >= c.max_frame_length) {
        length = static_cast<std::uint64_t>(input.size()) + 1;
        return scan_status::too_long;
      }
      searched = std::max(pos, input.size() >= le - 1 ? input.size() - (le - 1) : 0);
      return scan_status::need_more;
    }
    const byte_view line = input.subspan(pos, at - pos);
    unit_info u;
    if (!classify(c, line, u, why)) return scan_status::bad;
    const std::uint64_t next = at + le;
    std::uint64_t end = next;
    if (u.has_block) {
      if (u.block_length > c.max_frame_length) {
        length = next + u.block_length + le;
        return scan_status::too_long;
      }
      end = next + u.block_length + le;
    }
    if (end > c.max_frame_length) {
      length = end;
      return scan_status::too_long;
    }
    if (end > input.size()) {
      searched = at;  // the line is complete: find it again at once when more bytes arrive
      return scan_status::need_more;
    }
    if (u.has_block) {
      const std::size_t block_end = static_cast<std::size_t>(next + u.block_length);
      if (std::memcmp(input.data() + block_end, c.line_end.data(), le) != 0) {
        why = "data block of " + std::to_string(u.block_length) + " bytes after the line " +
              quoted(line) + " is not followed by " + quoted(as_bytes(c.line_end)) + " (found " +
              quoted(input.subspan(block_end, le)) + " at offset " + std::to_string(block_end) +
              ")";
        return scan_status::bad;
      }
    }
    pos = static_cast<std::size_t>(end);
    searched = pos;
    if (!u.continues) return scan_status::frame;
  }
}

class line_blocks_decoder final : public frame_decoder {
 public:
  explicit line_blocks_decoder(std::shared_ptr<const line_blocks_config> c) : c_(std::move(c)) {}

  frame_result decode(byte_view input) override {
    if (discarding_) return discard(input);
    // The caller hands back the unconsumed bytes with more appended; anything else restarts.
    if (pos_ > input.size() || searched_ > input.size()) pos_ = searched_ = 0;
    std::uint64_t length = 0;
    std::string why;
    switch (scan(*c_, input, pos_, searched_, length, why)) {
      case scan_status::frame: {
        const std::size_t end = pos_;
        pos_ = searched_ = 0;
        return frame_of(input, 0, end, end);
      }
      case scan_status::need_more:
        return need_more();
      case scan_status::bad:
        return fatal(errc::malformed, std::move(why));
      case scan_status::too_long:
        break;
    }
    // Discard the frame unit by unit, from its first byte, to its end.
    discarding_ = true;
    pos_ = searched_ = 0;
    pending_message_ = "frame of at least " + std::to_string(length) +
                       " bytes exceeds max_frame_length " + std::to_string(c_->max_frame_length) +
                       "; discarding to the frame's end";
    return discard(input);
  }

 private:
  // Skips whole units of an oversized frame; the frame ends after a unit that does not continue.
  frame_result discard(byte_view input) {
    const line_blocks_config& c = *c_;
    const std::size_t le = c.line_end.size();
    std::size_t p = 0;
    while (discarding_) {
      if (block_left_ > 0) {
        const std::uint64_t k = std::min<std::uint64_t>(block_left_, input.size() - p);
        p += static_cast<std::size_t>(k);
        block_left_ -= k;
        if (block_left_ > 0) break;
        if (!unit_continues_) discarding_ = false;
        continue;
      }
      const std::size_t at = find_line_end(c.line_end, input, p);
      if (in_long_line_) {
        if (at == input.size()) {
          p = std::max(p, input.size() >= le - 1 ? input.size() - (le - 1) : 0);
          break;
        }
        p = at + le;
        in_long_line_ = false;
        if (!unit_continues_) discarding_ = false;
        continue;
      }
      // A line of max_frame_length bytes or more (line end excluded) is not held, whether or not
      // its end is here yet, so that the outcome does not depend on how the bytes were read.
      const bool complete = at < input.size();
      if (complete ? at - p >= c.max_frame_length
                   : input.size() - p >= c.max_frame_length + (le - 1)) {
        const byte_view head = input.subspan(p);
        for (const auto& rule : c.blocks) {
          if (starts_with(head, rule.prefix))
            return fatal(errc::frame_too_long,
                         "line of more than " + std::to_string(c.max_frame_length) +
                             " bytes starting with block rule " + quoted(as_bytes(rule.prefix)) +
                             ": its data block cannot be found");
        }
        unit_continues_ = false;
        for (const auto& prefix : c.continue_prefixes)
          if (starts_with(head, prefix)) unit_continues_ = true;
        if (complete) {
          p = at + le;
          if (!unit_continues_) discarding_ = false;
        } else {
          in_long_line_ = true;
          p = input.size() - (le - 1);
        }
        continue;
      }
      if (!complete) break;
      unit_info u;
      std::string why;
      if (!classify(c, input.subspan(p, at - p), u, why))
        return fatal(errc::malformed, std::move(why));
      p = at + le;
      unit_continues_ = u.continues;
      if (u.has_block) {
        block_left_ = u.block_length + le;
        continue;
      }
      if (!u.continues) discarding_ = false;
    }
    if (p == 0) return need_more();
    return skip(p, errc::frame_too_long, std::exchange(pending_message_, std::string()));
  }

  std::shared_ptr<const line_blocks_config> c_;
  std::size_t pos_ = 0;       // end of the complete units of the current frame
  std::size_t searched_ = 0;  // line-end search resumes here
  // Discarding an oversized frame:
  bool discarding_ = false;
  bool in_long_line_ = false;
  bool unit_continues_ = false;
  std::uint64_t block_left_ = 0;  // bytes of a block and its line end still to skip
  std::string pending_message_;   // reported with the first skip
};

class line_blocks_framer final : public framer {
 public:
  explicit line_blocks_framer(std::shared_ptr<const line_blocks_config> c) : c_(std::move(c)) {}

  // The payload is the whole frame; it is checked to be exactly one frame, so that what is sent
  // is what the peer (and our decoder) will read back.
  result<void> encode(byte_view payload, byte_buffer& out) const override {
    const line_blocks_config& c = *c_;
    if (payload.size() > c.max_frame_length)
      return encode_error(errc::frame_too_long,
                          too_long_message(payload.size(), c.max_frame_length));
    std::size_t pos = 0;
    std::size_t searched = 0;
    std::uint64_t length = 0;
    std::string why;
    switch (scan(c, payload, pos, searched, length, why)) {
      case scan_status::frame:
        if (pos != payload.size())
          return encode_error(errc::invalid_field,
                              "payload holds more than one frame (the first ends at offset " +
                                  std::to_string(pos) + " of " + std::to_string(payload.size()) +
                                  ")");
        append(out, payload);
        return {};
      case scan_status::need_more:
        return encode_error(errc::invalid_field,
                            "payload is not a whole frame (it must end with a line that ends "
                            "the frame, followed by " +
                                quoted(as_bytes(c.line_end)) + ")");
      case scan_status::too_long:
        return encode_error(errc::frame_too_long, too_long_message(length, c.max_frame_length));
      case scan_status::bad:
        break;
    }
    return encode_error(errc::invalid_field, why);
  }

  std::unique_ptr<frame_decoder> make_decoder() const override {
    return std::make_unique<line_blocks_decoder>(c_);
  }

  std::size_t max_frame_length() const noexcept override { return c_->max_frame_length; }

  boost::json::object describe() const override {
    boost::json::object o;
    o["type"] = "line_blocks";
    o["line_end"] = bytes_to_json(c_->line_end);
    boost::json::array blocks;
    for (const auto& b : c_->blocks)
      blocks.push_back(boost::json::object{{"prefix", bytes_to_json(b.prefix)},
                                           {"length_token", b.length_token}});
    o["blocks"] = std::move(blocks);
    boost::json::array cont;
    for (const auto& p : c_->continue_prefixes) cont.push_back(bytes_to_json(p));
    o["continue_prefixes"] = std::move(cont);
    o["max_frame_length"] = c_->max_frame_length;
    return o;
  }

 private:
  std::shared_ptr<const line_blocks_config> c_;
};

// A prefix: a non-empty string that does not contain the line end.
bool check_prefix(const std::string& prefix, const std::string& path, const std::string& le,
                  diagnostics& diag) {
  if (prefix.empty()) {
    diag.error(path, "must not be empty");
    return false;
  }
  if (!le.empty() && prefix.find(le) != std::string::npos) {
    diag.error(path, "must not contain line_end");
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<framer> make_line_blocks_framer(config_object& cfg) {
  diagnostics& diag = cfg.diag();
  const std::size_t errors_before = diag.errors().size();
  auto c = std::make_shared<line_blocks_config>();

  if (auto le = cfg.get_bytes("line_end")) {
    if (le->empty()) diag.error(cfg.child_path("line_end"), "must not be empty");
    c->line_end = std::move(*le);
  }
  c->max_frame_length =
      static_cast<std::size_t>(cfg.require_int("max_frame_length", 1, max_frame_length_limit));
  // The checks at the end compare prefixes with max_frame_length and line_end; with either wrong
  // they would only repeat that mistake.
  const bool sizes_ok = diag.errors().size() == errors_before;

  if (const boost::json::array* blocks = cfg.get_array("blocks")) {
    for (std::size_t i = 0; i < blocks->size(); ++i) {
      const std::string path = cfg.child_path("blocks") + "[" + std::to_string(i) + "]";
      if (!(*blocks)[i].is_object()) {
        diag.error(path, "must be an object {\"prefix\": ..., \"length_token\": N}");
        continue;
      }
      config_object b((*blocks)[i].get_object(), path, diag);
      block_rule rule;
      rule.prefix = b.require_string("prefix");
      rule.length_token = static_cast<std::size_t>(b.require_int("length_token", 0, 64));
      if (b.has("prefix")) check_prefix(rule.prefix, b.child_path("prefix"), c->line_end, diag);
      b.finish();
      c->blocks.push_back(std::move(rule));
    }
  }
  if (const boost::json::array* cont = cfg.get_array("continue_prefixes")) {
    for (std::size_t i = 0; i < cont->size(); ++i) {
      const std::string path = cfg.child_path("continue_prefixes") + "[" + std::to_string(i) + "]";
      if (!(*cont)[i].is_string()) {
        diag.error(path, "must be a string");
        continue;
      }
      std::string prefix((*cont)[i].get_string());
      if (check_prefix(prefix, path, c->line_end, diag))
        c->continue_prefixes.push_back(std::move(prefix));
    }
  }
  if (!sizes_ok) return nullptr;

  // The shortest frame is an empty line; a prefix must fit in a frame to be recognised when the
  // decoder discards an overlong line by its first bytes.
  if (c->max_frame_length < c->line_end.size()) {
    diag.error(cfg.child_path("max_frame_length"), "must be at least the length of line_end (" +
                                                       std::to_string(c->line_end.size()) + ")");
  }
  for (std::size_t i = 0; i < c->blocks.size(); ++i) {
    c->longest_prefix = std::max(c->longest_prefix, c->blocks[i].prefix.size());
    if (c->blocks[i].prefix.size() >= c->max_frame_length)
      diag.error(cfg.child_path("blocks") + "[" + std::to_string(i) + "].prefix",
                 "must be shorter than max_frame_length");
  }
  for (std::size_t i = 0; i < c->continue_prefixes.size(); ++i) {
    c->longest_prefix = std::max(c->longest_prefix, c->continue_prefixes[i].size());
    if (c->continue_prefixes[i].size() >= c->max_frame_length)
      diag.error(cfg.child_path("continue_prefixes") + "[" + std::to_string(i) + "]",
                 "must be shorter than max_frame_length");
  }
  if (diag.errors().size() > errors_before) return nullptr;
  return std::make_unique<line_blocks_framer>(std::move(c));
}

}  // namespace dragoman::codecs::framing_detail
