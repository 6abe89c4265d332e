// Charset stage: text fields between UTF-8 (records, JSON) and the wire's character set.
#pragma once

#include "codecs/bytes.hpp"
#include "codecs/result.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace dragoman::codecs {

class charset {
 public:
  virtual ~charset() = default;
  virtual std::string_view name() const noexcept = 0;
  // True when every character is one byte on the wire (ascii, latin1, EBCDIC code pages).
  virtual bool single_byte() const noexcept = 0;
  // Appends the wire bytes of a UTF-8 text. An unmappable character (or invalid UTF-8) is an
  // unmappable_char error whose message names the character and its code point; `where` is
  // left empty for the caller (the layout) to fill with the field name.
  virtual result<void> encode(std::string_view utf8, byte_buffer& out) const = 0;
  // Appends the UTF-8 text of wire bytes; a byte with no character is an error naming it.
  virtual result<void> decode(byte_view wire, std::string& utf8) const = 0;
  // Number of characters of a UTF-8 text as it will be on the wire (bytes for utf8).
  virtual std::size_t wire_length(std::string_view utf8) const noexcept = 0;
  // The wire byte of one character, or -1; for single-byte charsets (pads, delimiters, zones).
  virtual int encode_char(char32_t c) const noexcept = 0;
};

// ascii, latin1, utf8, ebcdic-cp037, ebcdic-cp500, ebcdic-cp1047; nullptr for any other name.
const charset* find_charset(std::string_view name) noexcept;
std::vector<std::string_view> charset_names();

}  // namespace dragoman::codecs
