"""An echo of N messages over one connection (overhead benchmark).

echo_many.py PORT [N]
"""
import os
import socket
import sys

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(1)
if os.fork() == 0:
    conn, _ = srv.accept()
    while True:
        data = conn.recv(4096)
        if not data:
            break
        conn.sendall(data)
    os._exit(0)
c = socket.create_connection(("127.0.0.1", port))
message = b"x" * 100
for _ in range(n):
    c.sendall(message)
    got = 0
    while got < len(message):
        got += len(c.recv(4096))
c.close()
os.wait()
