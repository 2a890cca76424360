"""listen(1) and never accept(): a client's connection waits in the queue,
then the listener is closed and the kernel resets it."""
import socket
import time

from common import HOST, PORT, listener

srv = listener(backlog=1)
c = socket.create_connection((HOST, PORT))
time.sleep(0.2)
srv.close()
time.sleep(0.1)
try:
    c.recv(100)
except ConnectionResetError:
    pass
c.close()
