// The I/O backend of this build and the start-up choice between it and dragoman-epoll.
#include "bridge/io_backend.hpp"

#include "bridge/log.hpp"

#include <boost/asio/detail/config.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#if defined(DRAGOMAN_IO_URING)
#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#error "DRAGOMAN_IO_URING needs BOOST_ASIO_HAS_IO_URING and BOOST_ASIO_DISABLE_EPOLL"
#endif
#include <liburing.h>
#endif

namespace dragoman::bridge {

const char* io_backend_name() noexcept {
#if defined(DRAGOMAN_IO_URING)
  return "io_uring";
#else
  return "epoll";
#endif
}

ring_probe probe_io_uring() {
#if defined(DRAGOMAN_IO_URING)
  // The ring Asio's io_uring service sets up (its ring_size), so that what passes here passes
  // there: a memory-lock limit too small for it refuses it here as well.
  io_uring ring;
  int result = io_uring_queue_init(16384, &ring, 0);
  if (result != 0) return {false, std::string("io_uring_queue_init: ") + std::strerror(-result)};
  io_uring_queue_exit(&ring);
  return {true, {}};
#else
  return {false, "built on epoll"};
#endif
}

std::optional<io_backend_request> parse_io_backend(std::string_view text) {
  if (text == "auto") return io_backend_request::automatic;
  if (text == "io_uring") return io_backend_request::io_uring;
  if (text == "epoll") return io_backend_request::epoll;
  return std::nullopt;
}

std::string requested_io_backend(int argc, char** argv, const char* environment_value) {
  constexpr std::string_view flag = "--io-backend";
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") break;
    if (a == flag && i + 1 < argc) return argv[i + 1];
    if (a.size() > flag.size() && a.substr(0, flag.size()) == flag && a[flag.size()] == '=')
      return std::string(a.substr(flag.size() + 1));
  }
  return environment_value ? environment_value : "";
}

io_backend_decision choose_io_backend(io_backend_request request, std::string_view built,
                                      const ring_probe& probe, bool twin_exists) {
  using d = io_backend_decision;
  if (built != "io_uring") {
    if (request == io_backend_request::io_uring)
      return {d::refuse, "--io-backend io_uring: this binary is built on epoll"};
    return {d::run_here, {}};
  }
  if (request == io_backend_request::epoll) {
    if (!twin_exists)
      return {d::refuse, "--io-backend epoll: dragoman-epoll is not installed beside dragoman"};
    return {d::run_epoll_twin, "--io-backend epoll"};
  }
  if (probe.usable) return {d::run_here, {}};
  if (request == io_backend_request::io_uring)
    return {d::refuse, "--io-backend io_uring: io_uring is refused here (" + probe.reason +
                           "); --io-backend auto runs on epoll instead"};
  if (!twin_exists)
    return {d::refuse,
            "io_uring is refused here (" + probe.reason +
                ") and dragoman-epoll, the epoll build, is not installed beside dragoman"};
  return {d::run_epoll_twin, probe.reason};
}

std::string epoll_twin_path() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  auto twin = self.parent_path() / "dragoman-epoll";
  if (!std::filesystem::is_regular_file(twin, ec)) return {};
  return twin.string();
}

void log_io_backend_fallback() {
  const char* refused = std::getenv(io_uring_refused_env);
  if (!refused || std::string_view(io_backend_name()) != "epoll") return;
  log::warn("io_backend", {{"backend", "epoll"},
                           {"reason", refused},
                           {"message", "io_uring is refused here: running on epoll"}});
}

}  // namespace dragoman::bridge
