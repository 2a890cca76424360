"""oracle: capture-late. The connection is open before the capture starts:
the timeline begins mid-connection."""
import time

from common import pair

c, s = pair()
time.sleep(1.0)  # the capture starts meanwhile
c.sendall(b"late")
s.sendall(s.recv(100))
c.recv(100)
s.close()
c.recv(100)
c.close()
