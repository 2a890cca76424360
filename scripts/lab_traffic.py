#!/usr/bin/env python3
"""Socket traffic for the reference captures (scripts/record-captures).

Each scenario is the smallest program that shows one lab fact on loopback.
Usage: lab_traffic.py SCENARIO PORT
"""
import socket
import struct
import sys
import threading
import time

HOST4, HOST6 = "127.0.0.1", "::1"


def echo_server(family, host, port, ready, abort_client=False, half_close=False):
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1)
    ready.set()
    conn, _ = srv.accept()
    if half_close:
        data = b""
        while True:
            chunk = conn.recv(1024)
            if not chunk:
                break  # the client's FIN: EOF
            data += chunk
        conn.sendall(b"got " + data)
        conn.close()
    else:
        data = conn.recv(1024)
        if data:
            conn.sendall(data)
        if abort_client:
            time.sleep(0.2)
            conn.close()
        else:
            # Wait for the client's FIN, then close: the client holds TIME-WAIT.
            while conn.recv(1024):
                pass
            conn.close()
    srv.close()


def tcp_echo(family, host, port, message=b"hello"):
    ready = threading.Event()
    t = threading.Thread(target=echo_server, args=(family, host, port, ready))
    t.start()
    ready.wait()
    c = socket.socket(family, socket.SOCK_STREAM)
    c.connect((host, port))
    c.sendall(message)
    c.recv(1024)
    c.close()
    t.join()


def tcp_refused(port):
    c = socket.socket()
    try:
        c.connect((HOST4, port))
    except ConnectionRefusedError as e:
        print("connect ->", e.errno, "ECONNREFUSED")
    c.close()


def udp_echo(port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind((HOST4, port))
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.sendto(b"ping", (HOST4, port))
    data, addr = srv.recvfrom(1024)
    srv.sendto(data, addr)
    c.recvfrom(1024)
    c.sendto(b"", (HOST4, port))  # an empty datagram is still a datagram
    srv.recvfrom(1024)
    c.close()
    srv.close()


def udp_closed_port(port):
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.connect((HOST4, port))
    c.send(b"anyone?")
    time.sleep(0.1)
    try:
        c.send(b"again?")
    except ConnectionRefusedError:
        print("second send -> ECONNREFUSED (the ICMP error was reported)")
    c.close()


def tcp_half_close(port):
    ready = threading.Event()
    t = threading.Thread(target=echo_server, args=(socket.AF_INET, HOST4, port, ready), kwargs={"half_close": True})
    t.start()
    ready.wait()
    c = socket.socket()
    c.connect((HOST4, port))
    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
    c.shutdown(socket.SHUT_WR)  # FIN: no more from me, but I still read
    reply = b""
    while True:
        chunk = c.recv(1024)
        if not chunk:
            break
        reply += chunk
    c.close()
    t.join()


def tcp_abort(port):
    ready = threading.Event()
    t = threading.Thread(target=echo_server, args=(socket.AF_INET, HOST4, port, ready), kwargs={"abort_client": True})
    t.start()
    ready.wait()
    c = socket.socket()
    c.connect((HOST4, port))
    c.sendall(b"bye")
    c.recv(1024)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()  # SO_LINGER 0: RST instead of FIN
    t.join()


def listener(port, rcvbuf=None):
    """A TCP socket listening on 127.0.0.1:port with a backlog of 1."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    srv.bind((HOST4, port))
    srv.listen(1)
    return srv


def connected_pair(port):
    """A listener on port, a client connected to it, and the accepted socket."""
    srv = listener(port)
    c = socket.socket()
    c.connect((HOST4, port))
    s, _ = srv.accept()
    srv.close()
    return c, s


def tcp_simultaneous_close(port):
    """Both sides call shutdown(SHUT_WR) at once, on new ports until their
    FINs cross (on two cores this takes a few tries): ss then lists both
    sockets in TIME-WAIT. Prints the port of the connection where they did."""
    import subprocess
    for p in range(port, port + 500):
        c, s = connected_pair(p)
        both = threading.Barrier(2)

        def close(sock):
            both.wait()
            sock.shutdown(socket.SHUT_WR)

        ts = [threading.Thread(target=close, args=(x,)) for x in (c, s)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        time.sleep(0.05)
        c.close()
        s.close()
        tw = subprocess.run(["ss", "-tanH", "state", "time-wait", f"( sport = :{p} or dport = :{p} )"],
                            capture_output=True, text=True).stdout.strip().splitlines()
        if len(tw) == 2:
            print(p)
            return
    sys.exit("the FINs never crossed")


def tcp_keepalive(port):
    """SO_KEEPALIVE with TCP_KEEPIDLE 1 s, TCP_KEEPINTVL 1 s: after a second of
    silence the client's kernel probes, the server's answers."""
    c, s = connected_pair(port)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    c.sendall(b"hi")
    s.recv(16)
    time.sleep(2.5)
    c.close()
    s.recv(16)
    s.close()


def tcp_zero_window_probe(port):
    """The server never reads and has a small receive buffer; the client sends
    until send() would block. The client's kernel probes the zero window;
    then the server reads everything and both close."""
    srv = listener(port, rcvbuf=2048)
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    c.connect((HOST4, port))
    s, _ = srv.accept()
    srv.close()
    c.setblocking(False)
    sent = 0
    try:
        while sent < 200000:
            sent += c.send(b"z" * 1024)
    except BlockingIOError:
        pass
    time.sleep(1.5)
    c.setblocking(True)
    c.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()
    c.close()


def tcp_listener_closed(port):
    """listen(1), never accept(): a client connects (handshake done by the
    kernel) and waits; the server closes its listening socket, and the kernel
    resets the connection still in the accept queue."""
    srv = listener(port)
    c = socket.socket()
    c.connect((HOST4, port))
    time.sleep(0.2)
    srv.close()
    time.sleep(0.2)
    try:
        c.recv(16)
    except ConnectionResetError:
        pass
    c.close()


def tcp_close_wait(port):
    """The server reads EOF but closes only 1.5 s later: its socket sits in
    CLOSE-WAIT (a program that forgets to close stays there for good)."""
    c, s = connected_pair(port)
    c.sendall(b"bye")
    c.close()
    s.recv(16)
    s.recv(16)  # b"": EOF
    time.sleep(1.5)
    s.close()


# Payloads that attack each output format: HTML/script injection, terminal
# escapes (title, clear screen, colour), C1 controls, DEL and NUL, bidi
# overrides and zero-width characters, a CSV formula, Markdown and Mermaid
# syntax. wirelab must show every one as inert text.
HOSTILE = [
    b"<script>alert(1)</script>",
    b"\x1b]0;owned\x07\x1b[2J\x1b[31mRED\x1b[0m",
    "\u202egnp.exe \u200bzero\u2066width\u2069".encode(),
    b"\xc2\x9b31m C1 \x7f DEL \x00 NUL \r\n",
    b'=HYPERLINK("http://x","y"),@SUM(1)',
    b"</script><img src=x onerror=alert(2)>",
    b"| [a](javascript:alert(3)) **b** `c` #59; %%{init}%% -->> Bob: hi; end",
]


def hostile(port):
    ready = threading.Event()

    def server():
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((HOST4, port))
        srv.listen(1)
        ready.set()
        conn, _ = srv.accept()
        for message in HOSTILE:
            conn.sendall(conn.recv(1024))
        while conn.recv(1024):
            pass
        conn.close()
        srv.close()

    t = threading.Thread(target=server)
    t.start()
    ready.wait()
    c = socket.socket()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.connect((HOST4, port))
    for message in HOSTILE:
        c.sendall(message)
        c.recv(1024)  # one segment per message: wait for its echo
    c.close()
    t.join()
    # UDP to a closed port: the ICMP error quotes the hostile datagram.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(HOSTILE[0] + HOSTILE[1], (HOST4, port + 1000))
    time.sleep(0.1)
    u.close()


def tcp_ports_reused(port):
    """A client bound to one port (port + 1000) connects three times to the
    same server: it closes first and holds TIME-WAIT, and its next socket,
    bound to the same port, takes that TIME-WAIT over (Linux allows it as
    the connection used TCP timestamps); then the server closes first and
    holds TIME-WAIT, and the third SYN on the same 4-tuple opens a new
    connection there."""
    srv = listener(port)
    for client_first in (True, False, True):
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.bind((HOST4, port + 1000))
        c.connect((HOST4, port))
        s, _ = srv.accept()
        first, second = (c, s) if client_first else (s, c)
        first.close()
        second.recv(16)
        second.close()
        time.sleep(0.1)
    srv.close()


def main():
    scenario, port = sys.argv[1], int(sys.argv[2])
    if scenario == "tcp_echo":
        tcp_echo(socket.AF_INET, HOST4, port)
    elif scenario == "tcp_echo_ipv6":
        tcp_echo(socket.AF_INET6, HOST6, port)
    elif scenario == "tcp_refused":
        tcp_refused(port)
    elif scenario == "udp_echo":
        udp_echo(port)
    elif scenario == "udp_closed_port":
        udp_closed_port(port)
    elif scenario == "tcp_half_close":
        tcp_half_close(port)
    elif scenario == "tcp_abort":
        tcp_abort(port)
    elif scenario == "hostile":
        hostile(port)
    elif scenario == "tcp_simultaneous_close":
        tcp_simultaneous_close(port)
    elif scenario == "tcp_keepalive":
        tcp_keepalive(port)
    elif scenario == "tcp_zero_window_probe":
        tcp_zero_window_probe(port)
    elif scenario == "tcp_listener_closed":
        tcp_listener_closed(port)
    elif scenario == "tcp_close_wait":
        tcp_close_wait(port)
    elif scenario == "tcp_ports_reused":
        tcp_ports_reused(port)
    else:
        sys.exit(f"unknown scenario {scenario}")


if __name__ == "__main__":
    main()
