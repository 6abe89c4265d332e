// The front doors' bearer tokens: the file's grammar and the constant-time lookup.
#include "bridge/door_tokens.hpp"

#include <fstream>
#include <sstream>

namespace dragoman::bridge {

namespace {

bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

bool visible(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

}  // namespace

bool valid_client_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > max_client_name_length) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  // Runs over the longer of the two so that a prefix of the token takes as long as a miss.
  const std::size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

std::shared_ptr<const door_tokens> door_tokens::parse(std::string_view text, std::string_view where,
                                                      std::string& why) {
  auto out = std::make_shared<door_tokens>();
  std::size_t line_no = 0;
  auto fail = [&](const std::string& what) {
    why = std::string(where) + ":" + std::to_string(line_no) + ": " + what;
    return nullptr;
  };
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    std::size_t gap = 0;
    while (gap < line.size() && !blank(line[gap])) ++gap;
    const std::string_view name = line.substr(0, gap);
    const std::string_view token = trim(line.substr(gap));
    if (token.empty()) return fail("expected `client-name token`");
    for (char c : token)
      if (blank(c)) return fail("expected `client-name token` (the token has a blank in it)");
    if (!valid_client_name(name))
      return fail("the client name must be 1 to 64 of A-Z a-z 0-9 . _ : @ -");
    if (!visible(token)) return fail("the token must be visible ASCII");
    if (token.size() < min_door_token_length)
      return fail("the token of " + std::string(name) + " is shorter than " +
                  std::to_string(min_door_token_length) + " characters");
    if (token.size() > max_door_token_length)
      return fail("the token of " + std::string(name) + " is longer than " +
                  std::to_string(max_door_token_length) + " characters");
    for (const auto& e : out->entries_)
      if (e.token == token) return fail("this token is also " + e.client + "'s");
    out->entries_.push_back({std::string(name), std::string(token)});
  }
  if (out->entries_.empty()) {
    why = std::string(where) + ": no tokens (one `client-name token` a line)";
    return nullptr;
  }
  return out;
}

std::shared_ptr<const door_tokens> door_tokens::load(const std::string& path, std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = path + ": cannot be read";
    return nullptr;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path, why);
}

const std::string* door_tokens::client_for_token(std::string_view token) const noexcept {
  const std::string* found = nullptr;
  for (const auto& e : entries_)  // no early exit: every token costs the same whatever matches
    if (constant_time_equal(token, e.token) && !found) found = &e.client;
  return found;
}

const std::string* door_tokens::client_for_authorization(
    std::string_view authorization) const noexcept {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() <= scheme.size()) return nullptr;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != scheme[i]) return nullptr;
  }
  return client_for_token(trim(authorization.substr(scheme.size())));
}

}  // namespace dragoman::bridge
