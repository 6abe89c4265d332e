// The front doors' bearer tokens (--door-tokens FILE): one `client-name token` a line, looked up
// in constant time so that a caller cannot learn a token byte by byte from answer times.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::bridge {

// Tokens shorter than this are refused when the file is read: a guessable token is no door.
constexpr std::size_t min_door_token_length = 16;
constexpr std::size_t max_door_token_length = 4096;
// Client names go into log lines and metrics labels: 1 to 64 of [A-Za-z0-9._:@-].
constexpr std::size_t max_client_name_length = 64;

bool valid_client_name(std::string_view name) noexcept;

// Equal contents, in a time that depends on the lengths only, never on where they differ.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

class door_tokens {
 public:
  struct entry {
    std::string client;
    std::string token;
  };

  // Parses the file's text. Blank lines and lines whose first non-blank character is '#' are
  // skipped; every other line is `client-name token` (blanks between, none inside either). A
  // client may have several tokens (rotation); a token belongs to one client. On a mistake,
  // returns null and sets why to "WHERE:LINE: what" (the token itself is never repeated).
  static std::shared_ptr<const door_tokens> parse(std::string_view text, std::string_view where,
                                                  std::string& why);
  // Reads and parses the file; why also says when it cannot be read.
  static std::shared_ptr<const door_tokens> load(const std::string& path, std::string& why);

  // The client whose token the Authorization header carries ("Bearer TOKEN", the scheme in any
  // case), or null. Every token is compared, in constant time each, whatever matches.
  const std::string* client_for_authorization(std::string_view authorization) const noexcept;
  const std::string* client_for_token(std::string_view token) const noexcept;

  const std::vector<entry>& entries() const noexcept { return entries_; }

 private:
  std::vector<entry> entries_;
};

}  // namespace dragoman::bridge
