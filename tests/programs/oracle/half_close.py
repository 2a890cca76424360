"""The client sends a request and shuts down writing; the server still
replies after the client's FIN, then closes."""
import socket

from common import pair

c, s = pair()
c.sendall(b"GET / HTTP/1.0\r\n\r\n")
c.shutdown(socket.SHUT_WR)
req = b""
while True:
    d = s.recv(100)
    if not d:
        break
    req += d
s.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
s.sendall(b"body")
s.close()
while c.recv(100):
    pass
c.close()
