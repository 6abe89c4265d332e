// A Record: the ordered legacy fields of one message, as canonical text, indexed like its layout.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::codecs {

// Values are canonical text: UTF-8 for text, decimal strings for numbers ("-12.50" for a
// signed field with 2 implied decimals, "42" for integers), lower-case hex for raw bytes.
// Storage is reused across messages: reset() keeps the strings' capacity.
class record {
 public:
  void reset(std::size_t field_count) {
    if (values_.size() < field_count) values_.resize(field_count);
    count_ = field_count;
    present_.assign(field_count, 0);
    for (std::size_t i = 0; i < count_; ++i) values_[i].clear();
  }
  std::size_t size() const noexcept { return count_; }
  bool has(std::size_t i) const noexcept { return i < count_ && present_[i]; }
  std::string_view get(std::size_t i) const noexcept {
    return has(i) ? std::string_view(values_[i]) : std::string_view();
  }
  void set(std::size_t i, std::string_view v) {
    values_[i].assign(v.data(), v.size());
    present_[i] = 1;
  }
  // Direct access for layouts that build a value in place; mark it present with set_present.
  std::string& slot(std::size_t i) noexcept { return values_[i]; }
  void set_present(std::size_t i, bool p = true) noexcept { present_[i] = p ? 1 : 0; }
  void clear(std::size_t i) noexcept {
    values_[i].clear();
    present_[i] = 0;
  }

 private:
  std::vector<std::string> values_;
  std::vector<unsigned char> present_;
  std::size_t count_ = 0;
};

}  // namespace dragoman::codecs
