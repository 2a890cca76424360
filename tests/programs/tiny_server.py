"""A one-shot echo server on 127.0.0.1:PORT (for a shell script that starts
it and a client)."""
import socket
import sys

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(1)
conn, _ = srv.accept()
conn.sendall(conn.recv(100))
conn.recv(100)
conn.close()
srv.close()
