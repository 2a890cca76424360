"""oracle: capture-late. The connection is open before the capture starts:
the timeline begins mid-connection. (The test creates the file named by
ORACLE_READY once the capture runs; alone, the program waits a second.)"""
import os
import time

from common import pair

c, s = pair()
ready = os.environ.get("ORACLE_READY")
deadline = time.time() + (20 if ready else 1)
while time.time() < deadline and not (ready and os.path.exists(ready)):
    time.sleep(0.02)
c.sendall(b"late")
s.sendall(s.recv(100))
c.recv(100)
s.close()
c.recv(100)
c.close()
