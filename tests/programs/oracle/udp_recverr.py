"""UDP to a port with no socket, on an unconnected socket with IP_RECVERR:
the ICMP error reaches the socket's error queue even though it is not
connected."""
import socket
import time

from common import HOST, PORT

c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.setsockopt(socket.IPPROTO_IP, 11, 1)  # IP_RECVERR
c.sendto(b"anyone?", (HOST, PORT))
time.sleep(0.1)
try:
    c.recvfrom(100, socket.MSG_DONTWAIT)
except OSError:
    pass
c.close()
