// Fixed-size framing: every message is exactly `size` bytes, with no framing bytes at all.
#include "codecs/framing_impl.hpp"

namespace dragoman::codecs::framing_detail {

namespace {

class fixed_size_decoder final : public frame_decoder {
 public:
  explicit fixed_size_decoder(std::size_t size) : size_(size) {}

  frame_result decode(byte_view input) override {
    if (input.size() < size_) return need_more();
    return frame_of(input, 0, size_, size_);
  }

 private:
  std::size_t size_;
};

class fixed_size_framer final : public framer {
 public:
  explicit fixed_size_framer(std::size_t size) : size_(size) {}

  result<void> encode(byte_view payload, byte_buffer& out) const override {
    if (payload.size() != size_)
      return encode_error(payload.size() > size_ ? errc::frame_too_long : errc::invalid_field,
                          "payload of " + std::to_string(payload.size()) +
                              " bytes, but fixed_size frames are " + std::to_string(size_) +
                              " bytes");
    append(out, payload);
    return {};
  }

  std::unique_ptr<frame_decoder> make_decoder() const override {
    return std::make_unique<fixed_size_decoder>(size_);
  }

  std::size_t max_frame_length() const noexcept override { return size_; }

  boost::json::object describe() const override {
    boost::json::object o;
    o["type"] = "fixed_size";
    o["size"] = size_;
    return o;
  }

 private:
  std::size_t size_;
};

}  // namespace

std::unique_ptr<framer> make_fixed_size_framer(config_object& cfg) {
  const std::size_t errors_before = cfg.diag().errors().size();
  const auto size = static_cast<std::size_t>(cfg.require_int("size", 1, max_frame_length_limit));
  if (cfg.diag().errors().size() > errors_before) return nullptr;
  return std::make_unique<fixed_size_framer>(size);
}

}  // namespace dragoman::codecs::framing_detail
