"""A test host on 127.0.0.1 speaking frames with a 2-byte big-endian length prefix (the acme-core
profile's framing): each frame's text goes to answer(text), which returns the reply text and how
long to wait before sending it. Shared by the journal's end-to-end tests."""
import socket
import struct
import threading


class FramedHost:
    def __init__(self, answer, port=0):
        self.answer = answer
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        try:
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 2:
                    n = struct.unpack(">H", buf[:2])[0]
                    if len(buf) < 2 + n:
                        break
                    frame, buf = buf[2:2 + n].decode("ascii"), buf[2 + n:]
                    reply, delay_s = self.answer(frame)
                    out = struct.pack(">H", len(reply)) + reply.encode()
                    if delay_s:
                        threading.Timer(delay_s, c.sendall, [out]).start()
                    else:
                        c.sendall(out)
        except OSError:
            return

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
