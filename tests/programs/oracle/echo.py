"""A plain echo: the client sends, reads the echo and closes first."""
from common import pair

c, s = pair()
c.sendall(b"hello")
s.sendall(s.recv(100))
c.recv(100)
c.close()
s.recv(100)
s.close()
