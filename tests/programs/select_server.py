"""A select() loop echo server with 3 clients, in one process and a fork.

select_server.py PORT
"""
import os
import select
import socket
import sys

port = int(sys.argv[1])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(5)
if os.fork() == 0:
    srv.close()
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    for i, c in enumerate(clients):
        c.sendall(b"client %d" % i)
        c.recv(100)
    for c in clients:
        c.close()
    os._exit(0)
open_conns, served = [], 0
while served < 3 or open_conns:
    ready, _, _ = select.select([srv] + open_conns, [], [], 5)
    if not ready:
        break
    for s in ready:
        if s is srv:
            conn, _ = srv.accept()
            open_conns.append(conn)
            served += 1
        else:
            data = s.recv(100)
            if data:
                s.sendall(data)
            else:
                open_conns.remove(s)
                s.close()
os.wait()
