"""connect() to a port where nothing listens."""
import socket

from common import HOST, PORT

try:
    socket.create_connection((HOST, PORT))
except ConnectionRefusedError:
    pass
