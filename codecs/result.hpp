// Errors as values for the data path: codec_error and result<T>, no exceptions.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace dragoman::codecs {

// Why a stage refused its input; the bridge maps these to error codes and metrics.
enum class errc {
  invalid_field,    // a record value does not fit the layout (too long, not numeric, ...)
  missing_field,    // a required field is absent
  unmappable_char,  // a character has no code in the charset
  malformed,        // bytes do not follow the layout or framing
  checksum_mismatch,
  frame_too_long,
  unknown_message,  // no operation's rules recognise the message
};

const char* to_string(errc e) noexcept;

struct codec_error {
  errc code = errc::malformed;
  std::string where;    // the field (JSON name or record name) or stage the error is about
  std::string message;  // what is wrong, for a human

  std::string to_string() const { return where.empty() ? message : where + ": " + message; }
};

inline codec_error make_error(errc code, std::string where, std::string message) {
  return codec_error{code, std::move(where), std::move(message)};
}

// What error() gives for a success: asking a success for its error is a mistake of the caller (a
// test's message text is built even when its check passes), but never undefined behaviour.
inline const codec_error& no_error() {
  static const codec_error e{errc::malformed, "", "no error: the result holds a value"};
  return e;
}

// A value or a codec_error. Small on purpose: C++20 has no std::expected.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  result(codec_error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // On a success: no_error(), in every build type.
  const codec_error& error() const& { return has_value() ? no_error() : std::get<1>(v_); }
  codec_error error() && { return has_value() ? no_error() : std::get<1>(std::move(v_)); }

 private:
  std::variant<T, codec_error> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(codec_error error) : error_(std::move(error)), failed_(true) {}

  bool has_value() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return !failed_; }
  // On a success: no_error(), in every build type.
  const codec_error& error() const& { return failed_ ? error_ : no_error(); }
  codec_error error() && { return failed_ ? std::move(error_) : no_error(); }

 private:
  codec_error error_;
  bool failed_ = false;
};

}  // namespace dragoman::codecs
