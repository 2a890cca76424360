"""SO_KEEPALIVE with TCP_KEEPIDLE 1 s: after a second of silence the
client's kernel probes and the server's answers."""
import socket
import time

from common import pair

c, s = pair()
c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
c.sendall(b"hi")
s.recv(16)
time.sleep(2.3)
c.close()
s.recv(16)
s.close()
