"""The server reads EOF but never closes: its socket sits in CLOSE-WAIT until
the program ends 1.5 s later (the kernel closes it then)."""
import time

from common import pair

c, s = pair()
c.sendall(b"bye")
c.close()
s.recv(100)
s.recv(100)  # b"": EOF, and no close()
time.sleep(1.5)
