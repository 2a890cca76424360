"""The echo over IPv6 loopback."""
import socket

from common import PORT

srv = socket.socket(socket.AF_INET6)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("::1", PORT))
srv.listen(1)
c = socket.create_connection(("::1", PORT))
s, _ = srv.accept()
srv.close()
c.sendall(b"hello6")
s.sendall(s.recv(100))
c.recv(100)
c.close()
s.recv(100)
s.close()
