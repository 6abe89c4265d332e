// Secrets kept out of profiles and argv: a value written "env:NAME" is the environment variable
// NAME, "file:PATH" the file's contents (one trailing newline dropped). Anything else is itself.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dragoman::codecs {

// Whether text names a secret (starts with "env:" or "file:").
bool is_secret_reference(std::string_view text) noexcept;

// The value text stands for; nullopt with why set ("environment variable X is not set", "PATH:
// cannot be read", ...) when it cannot be had. A file larger than 64 KiB is refused.
std::optional<std::string> resolve_secret(std::string_view text, std::string& why);

}  // namespace dragoman::codecs
