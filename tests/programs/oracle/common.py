"""Shared by the oracle programs: each is a small program a student might
write, running its own client and server on 127.0.0.1:PORT (argv[1]), and
ending within a few seconds."""
import socket
import sys

PORT = int(sys.argv[1])
HOST = "127.0.0.1"


def listener(port=PORT, backlog=5, rcvbuf=None):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    srv.bind((HOST, port))
    srv.listen(backlog)
    return srv


def pair(port=PORT):
    """A listener, a client connected to it, the accepted socket; the
    listener is closed."""
    srv = listener(port)
    c = socket.create_connection((HOST, port))
    s, _ = srv.accept()
    srv.close()
    return c, s
