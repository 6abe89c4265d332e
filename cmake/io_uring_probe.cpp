// Configure-time probe (CMakeLists.txt, DRAGOMAN_IO_URING=AUTO): exits 0 when this machine lets a
// process set up a ring the size Asio's io_uring service asks for, as dragoman would at start.
#include <liburing.h>

int main() {
  io_uring ring;
  if (io_uring_queue_init(16384, &ring, 0) != 0) return 1;
  io_uring_queue_exit(&ring);
  return 0;
}
