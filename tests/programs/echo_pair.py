"""A blocking echo server and client in two processes (for `wirelab trace`).

echo_pair.py PORT MODE: MODE is "plain" (send, recv the echo, close),
"half-close" (send, shutdown(SHUT_WR), read until EOF), "greek" (the
server reads with recv(3), cutting the Greek letters) or "two-sends" (the
client sends two messages at once; the server reads late, and one recv
returns both).
"""
import os
import socket
import sys
import time

port, mode = int(sys.argv[1]), sys.argv[2]
message = "γειά σου".encode() if mode == "greek" else b"hello"
messages = [message]
if mode == "two-sends":
    messages = [b"Message 1 from client.", b"Message 2 from client."]
    message = b"".join(messages)

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(1)
if os.fork() == 0:
    conn, _ = srv.accept()
    size = 3 if mode == "greek" else 1024
    if mode == "two-sends":
        time.sleep(0.3)
    while True:
        data = conn.recv(size)
        if not data:
            break
        conn.sendall(data)
    conn.close()
    os._exit(0)
srv.close()
c = socket.create_connection(("127.0.0.1", port))
for m in messages:
    c.sendall(m)
if mode == "half-close":
    c.shutdown(socket.SHUT_WR)
got = b""
while len(got) < len(message):
    chunk = c.recv(1024)
    if not chunk:
        break
    got += chunk
if mode == "half-close":
    while c.recv(1024):
        pass
c.close()
os.wait()
try:
    socket.create_connection(("127.0.0.1", port + 1))
except ConnectionRefusedError:
    pass
time.sleep(0.05)
