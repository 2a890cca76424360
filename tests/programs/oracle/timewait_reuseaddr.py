"""The server closes first and leaves TIME-WAIT on its port; restarted with
SO_REUSEADDR it binds again and serves a second client."""
from common import listener, pair

for _ in range(2):
    c, s = pair()
    c.sendall(b"hi")
    s.recv(100)
    s.close()
    c.recv(100)
    c.close()
srv = listener()
srv.close()
