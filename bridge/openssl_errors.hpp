// OpenSSL's error queue as text (and emptied): the reasons, most recent last, each once. Shared by
// the upstream TLS context and the doors' TLS context, which report what a file or a handshake
// lacked in the same words.
#pragma once

#include <openssl/err.h>

#include <string>

namespace dragoman::bridge {

inline std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* r = ERR_reason_error_string(e);
    std::string one = r ? r : "error " + std::to_string(e);
    if (out.find(one) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += one;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

}  // namespace dragoman::bridge
