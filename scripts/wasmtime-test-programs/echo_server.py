#!/usr/bin/env python3
# usage: echo_server.py PORT   (listens on 127.0.0.1:PORT until killed)
# HTTP/1.1 echo server mimicking wasmtime's crates/wasi-http/tests/all/http_server.rs `test` service
import socket, sys, threading
def read_until(conn, buf, sep):
    while sep not in buf:
        d = conn.recv(65536)
        if not d: return buf, None
        buf += d
    i = buf.index(sep)
    return buf[i+len(sep):], buf[:i]
def read_n(conn, buf, n):
    while len(buf) < n:
        d = conn.recv(65536)
        if not d: break
        buf += d
    return buf[n:], buf[:n]
def handle(conn):
    try:
        buf = b""
        buf, head = read_until(conn, buf, b"\r\n\r\n")
        if head is None: return
        lines = head.decode('latin1').split("\r\n")
        method, uri, ver = lines[0].split(" ", 2)
        hdrs = {}
        for l in lines[1:]:
            k, v = l.split(":", 1); hdrs[k.strip().lower()] = v.strip()
        body = b""
        if 'content-length' in hdrs:
            buf, body = read_n(conn, buf, int(hdrs['content-length']))
        elif hdrs.get('transfer-encoding','').lower() == 'chunked':
            while True:
                buf, szl = read_until(conn, buf, b"\r\n")
                sz = int(szl.split(b";")[0], 16)
                buf, chunk = read_n(conn, buf, sz)
                buf, _ = read_until(conn, buf, b"\r\n")
                if sz == 0: break
                body += chunk
        resp = "HTTP/1.1 200 OK\r\nx-wasmtime-test-method: %s\r\nx-wasmtime-test-uri: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % (method, uri, len(body))
        conn.sendall(resp.encode('latin1') + body)
    except Exception as e:
        print("err", e, file=sys.stderr)
    finally:
        conn.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
while True:
    c, _ = s.accept(); threading.Thread(target=handle, args=(c,), daemon=True).start()
