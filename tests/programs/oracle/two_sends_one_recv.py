"""The client sends two messages at once; the server reads late and gets
both in one recv (TCP keeps no message boundaries)."""
import time

from common import pair

c, s = pair()
c.sendall(b"Message 1 from client.")
c.sendall(b"Message 2 from client.")
time.sleep(0.2)
s.sendall(s.recv(1024))
c.recv(1024)
c.close()
s.recv(100)
s.close()
