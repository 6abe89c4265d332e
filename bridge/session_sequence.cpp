// The session's sequence numbers and their state file.
#include "bridge/session_sequence.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace dragoman::bridge {

namespace json = boost::json;

namespace {

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

std::optional<std::uint64_t> number_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_uint64() && v->get_uint64() >= 1) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 1) return static_cast<std::uint64_t>(v->get_int64());
  return std::nullopt;
}

// Writes all of text to fd; false (errno set) on failure.
bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

std::optional<std::string> session_sequence::load() {
  if (path_.empty()) return std::nullopt;
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::nullopt;
    return errno_text("cannot read the session state", path_);
  }
  std::ostringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(text.str(), ec);
  if (ec || !v.is_object())
    return "the session state " + path_ + " is not a JSON object (" +
           (ec ? ec.message() : std::string("another JSON value")) + ")";
  auto out = number_of(v.get_object(), "next_out");
  auto in_n = number_of(v.get_object(), "next_in");
  if (!out || !in_n)
    return "the session state " + path_ +
           " needs \"next_out\" and \"next_in\" as whole numbers of at least 1";
  next_out_ = *out;
  next_in_ = *in_n;
  dirty_ = false;
  return std::nullopt;
}

std::optional<std::string> session_sequence::save() {
  if (!dirty_ || path_.empty()) return std::nullopt;
  const std::string text =
      json::serialize(json::object{{"next_out", next_out_}, {"next_in", next_in_}}) + "\n";
  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return errno_text("cannot write the session state", tmp);
  if (!write_all(fd, text) || ::fsync(fd) != 0) {
    auto why = errno_text("cannot write the session state", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return why;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    auto why = errno_text("cannot rename the session state to", path_);
    ::unlink(tmp.c_str());
    return why;
  }
  // The rename itself is durable once the directory is synced.
  const auto slash = path_.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  dirty_ = false;
  return std::nullopt;
}

void session_sequence::catch_up() noexcept {
  while (!ahead_.empty() && *ahead_.begin() <= next_in_) {
    if (*ahead_.begin() == next_in_) ++next_in_;
    ahead_.erase(ahead_.begin());
  }
  if (ahead_.empty()) resend_asked_ = false;
  dirty_ = true;
}

session_sequence::received_result session_sequence::received(std::uint64_t n,
                                                             bool possible_duplicate) noexcept {
  received_result r{check::in_order, next_in_, false};
  if (n < next_in_) {
    r.what = possible_duplicate ? check::duplicate : check::too_low;
    return r;
  }
  if (n == next_in_) {
    ++next_in_;
    catch_up();
    return r;
  }
  if (ahead_.count(n)) {
    r.what = check::duplicate;
    return r;
  }
  r.what = check::gap;
  if (ahead_.size() < max_ahead) ahead_.insert(n);
  r.resend = !resend_asked_;
  resend_asked_ = true;
  return r;
}

session_sequence::received_result session_sequence::gap_fill(std::uint64_t n,
                                                             std::uint64_t new_number,
                                                             bool possible_duplicate) noexcept {
  received_result r{check::in_order, next_in_, false};
  if (n < next_in_) {
    r.what = possible_duplicate ? check::duplicate : check::too_low;
    return r;
  }
  if (n > next_in_) {
    r.what = check::gap;
    r.resend = !resend_asked_;
    resend_asked_ = true;
    return r;
  }
  next_in_ = std::max(next_in_ + 1, new_number);
  catch_up();
  return r;
}

bool session_sequence::reset_in(std::uint64_t new_number) noexcept {
  if (new_number < next_in_) return false;
  next_in_ = new_number;
  catch_up();
  return true;
}

}  // namespace dragoman::bridge
