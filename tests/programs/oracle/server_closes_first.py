"""The server answers and closes first; the client reads EOF, then closes."""
from common import pair

c, s = pair()
c.sendall(b"GET")
s.recv(100)
s.sendall(b"200 bye")
s.close()
while c.recv(100):
    pass
c.close()
