"""Sends one message to 127.0.0.1:PORT, reads the echo, closes."""
import socket
import sys

c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"hi")
c.recv(100)
c.close()
