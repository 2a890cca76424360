"""os._exit() with sockets open: the kernel closes them for the process."""
import os
import time

from common import pair

if os.fork() == 0:
    c, s = pair()
    c.sendall(b"hi")
    s.recv(100)
    os._exit(0)
os.wait()
time.sleep(0.1)
