"""A UDP echo with sendto/recvfrom (one empty datagram among them), then a
100 kB send on TCP. udp_and_big_send.py PORT (UDP on PORT, TCP on PORT+1)."""
import socket
import sys
import threading

port = int(sys.argv[1])
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
srv.bind(("127.0.0.1", port))
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for message in (b"hi", b""):
    cli.sendto(message, ("127.0.0.1", port))
    data, peer = srv.recvfrom(100)
    srv.sendto(data, peer)
    cli.recvfrom(100)
cli.close()
srv.close()

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port + 1))
listener.listen(1)
got = []


def read():
    conn, _ = listener.accept()
    n = 0
    while True:
        d = conn.recv(65536)
        if not d:
            break
        n += len(d)
    got.append(n)
    conn.close()


t = threading.Thread(target=read)
t.start()
c = socket.create_connection(("127.0.0.1", port + 1))
c.sendall(b"x" * 100000)
c.close()
t.join()
listener.close()
assert got == [100000], got
