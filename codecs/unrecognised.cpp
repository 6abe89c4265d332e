// The negative answer to frames that match no operation, and their excerpt for logs.
#include "codecs/unrecognised.hpp"

#include <algorithm>
#include <charconv>

namespace dragoman::codecs {

namespace {

constexpr std::size_t masked_digit_run = 8;

// Whether request, read as the reply_with operation's request, holds every match value of some
// operation's reply (compared by field name): then it is a reply that failed to decode.
bool looks_like_a_reply(const profile& p, const operation& answering, const record& request) {
  for (const auto& op : p.operations) {
    if (&op == &answering || op.reply.match.empty()) continue;
    bool all = true;
    for (const auto& [idx, value] : op.reply.match) {
      auto j = answering.request.index_of(op.reply.fields[idx].name);
      if (!j || request.get(*j) != value) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

// text + add as a decimal number, zero-padded to text's width; text itself when not a number.
std::string add_to(std::string_view text, std::int64_t add) {
  std::int64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::string(text);
  n += add;
  if (n < 0) return std::string(text);
  std::string digits = std::to_string(n);
  if (digits.size() < text.size()) digits.insert(0, text.size() - digits.size(), '0');
  return digits;
}

}  // namespace

std::string masked_excerpt(byte_view payload, std::size_t max_bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  const std::size_t n = std::min(payload.size(), max_bytes);
  std::string out;
  out.reserve(n + 8);
  for (std::size_t i = 0; i < n;) {
    std::size_t run = 0;
    while (i + run < payload.size() && payload[i + run] >= '0' && payload[i + run] <= '9') ++run;
    if (run >= masked_digit_run) {
      out.append(std::min(run, n > i ? n - i : 0), '*');
      i += run;
      continue;
    }
    if (run > 0) {
      out.append(reinterpret_cast<const char*>(payload.data() + i), std::min(run, n - i));
      i += run;
      continue;
    }
    const byte b = payload[i++];
    if (b >= 0x20 && b < 0x7F && b != '\\') {
      out.push_back(static_cast<char>(b));
    } else {
      out.append("\\x");
      out.push_back(hex[b >> 4]);
      out.push_back(hex[b & 0xF]);
    }
  }
  if (payload.size() > n) out.append("…");
  return out;
}

const operation* answer_unrecognised(const profile& p, byte_view payload, record& request,
                                     record& reply) {
  if (!p.session.unrecognised) return nullptr;
  const operation& op = p.operations[*p.session.unrecognised];
  auto decoded = decode_payload(p, payload, request, decode_preference::requests_first, &op);
  if (!decoded || decoded->is_reply) return nullptr;
  if (looks_like_a_reply(p, op, request)) return nullptr;
  build_reply(op, request, reply);
  apply_reply_values(p.session.unrecognised_reply, request, {}, reply);
  return &op;
}

void apply_reply_values(const std::vector<reply_value>& values, const record& request,
                        std::string_view failure_text, record& reply) {
  for (const auto& v : values) {
    if (v.failure)
      reply.set(v.field, failure_text);
    else if (v.from)
      reply.set(v.field, v.add ? add_to(request.get(*v.from), v.add) : request.get(*v.from));
    else
      reply.set(v.field, v.text);
  }
}

}  // namespace dragoman::codecs
