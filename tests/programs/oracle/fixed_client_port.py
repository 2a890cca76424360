"""A client bound to a fixed port (PORT + 1) connects, closes first, and
connects again from the same port after the server is gone."""
import socket

from common import HOST, PORT, listener

srv = listener()
for _ in range(2):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        c.bind((HOST, PORT + 1))
    except OSError:
        c.close()
        break
    try:
        c.connect((HOST, PORT))
    except OSError:
        c.close()
        break
    s, _ = srv.accept()
    c.sendall(b"hi")
    s.recv(100)
    c.close()
    s.recv(100)
    s.close()
srv.close()
