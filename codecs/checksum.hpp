// Checksum stage: computes, appends and verifies a check value over a configurable byte range.
#pragma once

#include "codecs/bytes.hpp"
#include "codecs/config.hpp"
#include "codecs/result.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace dragoman::codecs {

// lrc, crc16-modbus, crc16-ccitt-false, crc16-xmodem, crc32, sum256.
struct checksum_algorithm {
  std::string_view name;
  std::size_t width;  // bytes of the check value in binary form
  std::uint32_t (*compute)(byte_view data);
};
const checksum_algorithm* find_checksum(std::string_view name) noexcept;
std::vector<std::string_view> checksum_names();

class checksum_stage {
 public:
  virtual ~checksum_stage() = default;
  // Appends (or inserts) the check value into the payload in place.
  virtual result<void> apply(byte_buffer& payload) const = 0;
  // Verifies the check value and returns the payload without it (a view into input).
  virtual result<byte_view> verify(byte_view payload) const = 0;
  virtual boost::json::object describe() const = 0;
};

// From the profile's "checksum" value: a name string, or an object with "type" and placement.
// Reads an object {"type", "byte_order", "encoding", "covers_from", "position"}; nullptr when it
// reported an error to cfg.diag().
std::unique_ptr<checksum_stage> make_checksum(config_object& cfg);
// The whole "checksum" value: "none" (nullptr, no error), a bare name ("crc32", default placement)
// or an object as above. nullptr with an error at `path` for anything else.
std::unique_ptr<checksum_stage> make_checksum(const boost::json::value& value,
                                              std::string_view path, diagnostics& diag);

}  // namespace dragoman::codecs
