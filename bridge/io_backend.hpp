// The I/O backend a binary was built on (Asio's io_uring service or its epoll reactor, chosen
// when compiling: CMakeLists.txt, docs/io-backend.md) and the start-up choice between this binary
// and its epoll twin, dragoman-epoll, where io_uring is refused (a container's seccomp profile,
// an old kernel, a sysctl). No Asio here: cli/main.cpp decides before any io_context exists.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dragoman::bridge {

// "io_uring" or "epoll": what every io_context of this binary runs on.
const char* io_backend_name() noexcept;

// Whether a ring can be set up here as Asio's io_uring service sets one up; reason says why not.
// Always unusable in an epoll build (reason: "built on epoll").
struct ring_probe {
  bool usable = false;
  std::string reason;
};
ring_probe probe_io_uring();

// --io-backend: auto (io_uring where it is allowed, else epoll), io_uring, epoll.
enum class io_backend_request { automatic, io_uring, epoll };
std::optional<io_backend_request> parse_io_backend(std::string_view text);

// The --io-backend the command line (--io-backend X, --io-backend=X) or else the environment
// (DRAGOMAN_IO_BACKEND) asks for; its text as given (checked by parse_io_backend), empty when
// neither does. Read before the command parses its options, which name it again (for --help).
std::string requested_io_backend(int argc, char** argv, const char* environment_value);

// What to do at start: run in this binary, run the epoll twin in its place, or stop with message.
struct io_backend_decision {
  enum action { run_here, run_epoll_twin, refuse } act = run_here;
  std::string message;  // refuse: the error; run_epoll_twin: why (the probe's reason or the flag)
};
io_backend_decision choose_io_backend(io_backend_request request, std::string_view built,
                                      const ring_probe& probe, bool twin_exists);

// The twin's path: dragoman-epoll beside this executable (/proc/self/exe), empty if not found.
std::string epoll_twin_path();

// In the twin run where io_uring was refused: the warning that says so, with the reason (a no-op
// otherwise).
void log_io_backend_fallback();

// Set by dragoman in the twin's environment when io_uring was refused: the reason, logged by the
// twin (serve's `io_backend` warning) and shown as the metric's fallback reason.
inline constexpr const char* io_uring_refused_env = "DRAGOMAN_IO_URING_REFUSED";

}  // namespace dragoman::bridge
