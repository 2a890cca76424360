"""The receiver does not read and has a small buffer: the sender fills it,
the window closes, the sender's kernel probes; then the receiver reads."""
import socket
import time

from common import HOST, PORT, listener

srv = listener(rcvbuf=2048)
c = socket.socket()
c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
c.connect((HOST, PORT))
s, _ = srv.accept()
srv.close()
c.setblocking(False)
try:
    while True:
        c.send(b"z" * 1024)
except BlockingIOError:
    pass
time.sleep(1.2)
c.setblocking(True)
c.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
s.close()
c.close()
