"""The server process exits without closing its socket: the kernel closes it."""
import os
import sys
import time

from common import pair

c, s = pair()
if os.fork() == 0:
    c.close()
    s.sendall(b"bye")
    sys.exit(0)  # no close(): the kernel closes the socket at exit
s.close()
os.wait()
c.recv(100)
c.recv(100)
c.close()
time.sleep(0.05)
