// host:port parsing for doors, simulator and upstream endpoints.
#include "bridge/host_port.hpp"

#include <charconv>
#include <stdexcept>

namespace dragoman::bridge {

host_port_result split_host_port(std::string_view text) {
  host_port_result r;
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      r.error = host_port_error::bad_bracket;
      return r;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      r.error = host_port_error::no_port;
      return r;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned number = 0;
  auto parsed = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || port.size() > 5 || parsed.ec != std::errc() ||
      parsed.ptr != port.data() + port.size() || number > 65535 ||
      port.find_first_not_of("0123456789") != std::string_view::npos) {
    r.error = host_port_error::bad_port;
    return r;
  }
  r.value = host_port{std::string(host), std::string(port), static_cast<unsigned short>(number)};
  return r;
}

endpoint_address parse_endpoint(std::string_view text) {
  endpoint_address a;
  a.text = std::string(text);
  auto split = split_host_port(text);
  if (!split && split.error == host_port_error::bad_bracket)
    throw std::invalid_argument("bad upstream endpoint \"" + a.text + "\": want [v6]:port");
  if (!split || split.value->host.empty())
    throw std::invalid_argument("bad upstream endpoint \"" + a.text + "\": want host:port");
  a.host = std::move(split.value->host);
  a.port = std::move(split.value->port);
  return a;
}

upstream_spec parse_upstream(std::string_view text) {
  upstream_spec s;
  std::string_view addr = text;
  auto semi = text.find(';');
  if (semi != std::string_view::npos) {
    addr = text.substr(0, semi);
    std::string_view params = text.substr(semi + 1);
    while (!params.empty()) {
      auto next = params.find(';');
      std::string_view p = params.substr(0, next);
      params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
      if (p.empty()) continue;
      auto eq = p.find('=');
      std::string_view key = p.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? std::string_view() : p.substr(eq + 1);
      if (key != "priority")
        throw std::invalid_argument("bad upstream \"" + std::string(text) +
                                    "\": unknown option \"" + std::string(key) +
                                    "\" (want host:port;priority=N)");
      int v = 0;
      auto r = std::from_chars(value.data(), value.data() + value.size(), v);
      if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size() || v < 0 ||
          v > 1000)
        throw std::invalid_argument("bad upstream \"" + std::string(text) +
                                    "\": priority must be a number 0..1000");
      s.priority = v;
    }
  }
  s.address = parse_endpoint(addr);
  return s;
}

}  // namespace dragoman::bridge
