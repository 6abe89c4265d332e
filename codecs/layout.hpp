// Layout stage: how a Record becomes payload bytes and back (fixed, delimited, and more).
// A layout is compiled once per message definition from the profile and is then immutable.
#pragma once

#include "codecs/bytes.hpp"
#include "codecs/charset.hpp"
#include "codecs/config.hpp"
#include "codecs/record.hpp"
#include "codecs/result.hpp"

#include <boost/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::codecs {

class layout {
 public:
  virtual ~layout() = default;
  // Appends the payload bytes of a record. Text goes through the field's charset. Errors are
  // invalid_field / unmappable_char with `where` set to the field's record name.
  virtual result<void> encode(const record& r, byte_buffer& out) const = 0;
  // Fills the record (already reset to the field count) from payload bytes. Errors are
  // malformed with `where` naming the field and the message saying what and at which offset.
  virtual result<void> decode(byte_view payload, record& r) const = 0;
  // The layout's own per-field attributes (length, type, position, ...) for admin and check.
  virtual boost::json::object describe_field(std::size_t index) const = 0;
  // Message-level attributes (type and options).
  virtual boost::json::object describe() const = 0;
};

// What a layout factory gets: the message object (request or reply; the layout reads its own
// keys from it), one config_object per field (the layout reads its keys, the caller reads the
// common ones: name, from, to, value, default, required, generate, sensitive), the profile's
// default charset and the whole profile object for profile-level dictionaries.
struct layout_context {
  config_object& message;
  std::vector<config_object>& fields;
  std::vector<std::string> field_names;  // the record names, same order as fields
  const charset* default_charset;
  const boost::json::object& profile;
};

// Returns null after recording mistakes. type: one of layout_names() (the table in layout.cpp).
std::unique_ptr<layout> make_layout(std::string_view type, layout_context& ctx);

// What a layout type with a dictionary (ISO 8583's data elements) adds to a message open to it
// ("unknown_fields": "dictionary"): a field object for every dictionary entry the message does
// not list, named by the entry's "name" or else "f<number>", and the further request names of
// every field (listed ones first, then the extra ones, in the same order).
struct dictionary_fields {
  std::vector<boost::json::object> extra;
  std::vector<std::vector<std::string>> aliases;  // listed.size() + extra.size() entries
};
// nullopt when the layout type has no dictionary. listed: the message's "fields" as written.
std::optional<dictionary_fields> layout_dictionary_fields(std::string_view type,
                                                          const boost::json::array& listed,
                                                          const boost::json::object& profile);
std::vector<std::string_view> layout_names();

}  // namespace dragoman::codecs
