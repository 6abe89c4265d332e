// Length stage: a text length field that counts the bytes after it (FIX BodyLength, tag 9),
// inserted after the payload's first fields on encode and checked on decode. It runs between the
// layout and the checksum, so the checksum covers it.
#pragma once

#include "codecs/bytes.hpp"
#include "codecs/config.hpp"
#include "codecs/result.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace dragoman::codecs {

class length_stage {
 public:
  // prefix: the bytes before the digits ("9="); separator: the byte that ends each field; after:
  // how many fields precede the length field.
  length_stage(std::string prefix, char separator, std::size_t after)
      : prefix_(std::move(prefix)), separator_(separator), after_(after) {}

  // Inserts prefix, the decimal count of the bytes that follow the inserted field, separator.
  result<void> apply(byte_buffer& payload) const;
  // Checks the field at its place (the checksum already removed): the payload stays as it is.
  result<void> verify(byte_view payload) const;
  boost::json::object describe() const;

 private:
  // The offset just after the first after_ fields, or npos when the payload has fewer.
  std::size_t field_start(byte_view payload) const noexcept;

  std::string prefix_;
  char separator_;
  std::size_t after_;
};

// From the profile's "length" object: {"type": "text", "prefix", "separator", "after_fields"};
// null after recording mistakes in cfg.diag().
std::unique_ptr<length_stage> make_length_stage(config_object& cfg);

}  // namespace dragoman::codecs
