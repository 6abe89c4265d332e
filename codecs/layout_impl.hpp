// Internal to the layout stage: helpers and per-type factories shared by the layout*.cpp files.
// Not part of the codecs interface; include codecs/layout.hpp instead.
#pragma once

#include "codecs/decimal.hpp"
#include "codecs/layout.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace dragoman::codecs {

namespace layout_detail {
// The "charset" key of cfg, or fallback (ascii when null); reports unknown names.
const charset* resolve_charset(config_object& cfg, const charset* fallback);
// Bytes of the first UTF-8 character of s (0 when invalid) and its code point.
std::size_t decode_utf8_char(std::string_view s, char32_t& cp) noexcept;
// A one-character key ("pad"): its wire byte in cs, or -1 after reporting the mistake.
int read_char_key(config_object& cfg, std::string_view key, std::string_view fallback,
                  const charset* cs, std::string& text);
// "\"|\"" with control bytes as \xNN, for messages about separators.
std::string quote_bytes(std::string_view text);
// The "digits" key of a numeric field ("as_written" or "canonical"), defaulting by its sign and
// decimals (decimal::default_digits_style).
decimal::digits_style read_digits_style(config_object& cfg, bool is_signed, int decimals);
// Its name for describe_field.
std::string_view digits_style_name(decimal::digits_style style) noexcept;
}  // namespace layout_detail

// Factories per layout type, one line each in layout.cpp's table. Each reads its keys from ctx
// and returns null after recording every mistake (by path) in ctx.message.diag().
std::unique_ptr<layout> make_fixed_layout(layout_context& ctx);
std::unique_ptr<layout> make_delimited_layout(layout_context& ctx);
std::unique_ptr<layout> make_template_layout(layout_context& ctx);
std::unique_ptr<layout> make_binary_layout(layout_context& ctx);
// Reads the profile's root "dictionary" (separator, header_order, stage_tags, enums) too.
std::unique_ptr<layout> make_tagvalue_layout(layout_context& ctx);
// From ctx.fields ({"field": N} entries) and the profile's root "dictionary".
std::unique_ptr<layout> make_iso8583_layout(layout_context& ctx);
dictionary_fields iso8583_dictionary_fields(const boost::json::array& listed,
                                            const boost::json::object& profile);

}  // namespace dragoman::codecs
