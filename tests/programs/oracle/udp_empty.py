"""UDP: an empty datagram is still a datagram (and there is no connection
state for the kernel to report)."""
import socket

from common import HOST, PORT

srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
srv.bind((HOST, PORT))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.sendto(b"", (HOST, PORT))
data, peer = srv.recvfrom(100)
srv.sendto(data, peer)
c.recvfrom(100)
c.close()
srv.close()
