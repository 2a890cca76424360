"""The client sets SO_LINGER {1, 0} and closes: RST instead of FIN."""
import socket
import struct
import time

from common import pair

c, s = pair()
c.sendall(b"hi")
s.recv(100)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
time.sleep(0.05)
try:
    s.recv(100)
except ConnectionResetError:
    pass
s.close()
