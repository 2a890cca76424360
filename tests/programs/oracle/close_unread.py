"""The server closes with the client's data still unread: RST, not FIN."""
import time

from common import pair

c, s = pair()
c.sendall(b"never read")
time.sleep(0.05)
s.close()
time.sleep(0.05)
try:
    c.recv(100)
except ConnectionResetError:
    pass
c.close()
