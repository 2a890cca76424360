"""One megabyte from client to server, then both close."""
import threading

from common import pair

c, s = pair()
got = []


def read():
    n = 0
    while True:
        d = s.recv(65536)
        if not d:
            break
        n += len(d)
    got.append(n)
    s.close()


t = threading.Thread(target=read)
t.start()
c.sendall(b"x" * (1 << 20))
c.close()
t.join()
assert got == [1 << 20]
