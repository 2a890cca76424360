"""A client bound to a fixed port (PORT + 1) connects, closes first, and
connects again from the same port to the same server while its first
socket is in TIME-WAIT (Linux lets it: the bound socket takes the 4-tuple
over; fixed_client_port.jsonl is one such run, recorded)."""
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
