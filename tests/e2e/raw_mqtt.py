"""MQTT packets built byte by byte, for tests that must send what no client
library would: malformed packets, protocol violations, half packets. Replies
are read back just as raw (type, flags, body)."""

import socket
import struct
import time


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            byte |= 0x80
        out.append(byte)
        if not n:
            return bytes(out)


def s(text) -> bytes:
    """A length-prefixed string (bytes are sent as they are)."""
    data = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(data)) + data


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def props(*items: bytes) -> bytes:
    data = b"".join(items)
    return varint(len(data)) + data


def connect(client_id="c", *, level=4, flags=0x02, keepalive=60, properties: bytes | None = None,
            payload_extra=b"", name=b"MQTT", first=0x10) -> bytes:
    body = s(name) + bytes([level, flags]) + struct.pack(">H", keepalive)
    if level == 5:
        body += properties if properties is not None else props()
    body += s(client_id) + payload_extra
    return packet(first, body)


def connect_v5(client_id="c5", **kw) -> bytes:
    return connect(client_id, level=5, **kw)


def publish(topic, payload=b"", *, qos=0, pid=1, v5=False, properties: bytes | None = None,
            dup=False, retain=False, first=None) -> bytes:
    body = s(topic)
    if qos:
        body += struct.pack(">H", pid)
    if v5:
        body += properties if properties is not None else props()
    body += payload
    if first is None:
        first = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    return packet(first, body)


def subscribe(*filters, pid=1, v5=False, properties: bytes | None = None, first=0x82) -> bytes:
    body = struct.pack(">H", pid)
    if v5:
        body += properties if properties is not None else props()
    for f in filters:
        name, options = f if isinstance(f, tuple) else (f, 0)
        body += s(name) + bytes([options])
    return packet(first, body)


def unsubscribe(*filters, pid=1, v5=False, first=0xA2) -> bytes:
    body = struct.pack(">H", pid) + (props() if v5 else b"")
    for f in filters:
        body += s(f)
    return packet(first, body)


def read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def read_packet(sock: socket.socket, timeout: float = 5.0):
    """One packet as (type, flags, body); raises on close or timeout."""
    sock.settimeout(timeout)
    first = read_exactly(sock, 1)[0]
    length, shift = 0, 0
    while True:
        byte = read_exactly(sock, 1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first >> 4, first & 0x0F, read_exactly(sock, length)


def open_session(port: int, data: bytes, timeout: float = 5.0) -> socket.socket:
    """Connect, send `data` (a CONNECT), check the CONNACK accepts."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(data)
    kind, _, body = read_packet(sock, timeout)
    assert kind == 2, f"expected CONNACK, got type {kind}"
    assert body[1] == 0, f"CONNACK refused: {body[1]:#x}"
    return sock


def open_session_retrying(port: int, data: bytes, within: float = 5.0) -> socket.socket:
    """open_session, tried again while the broker refuses (a connection
    limit still counting a probe that has just closed)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return open_session(port, data)
        except (ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def closed_by_peer(sock: socket.socket, timeout: float = 5.0) -> tuple[bool, bytes]:
    """Wait for the peer to close; returns (closed, everything read before)."""
    sock.settimeout(timeout)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                return True, seen
            seen += data
    except (ConnectionResetError, BrokenPipeError):
        return True, seen
    except socket.timeout:
        return False, seen
    return False, seen


def metric(port: int, name: str) -> float:
    """One value from /metrics on the HTTP port."""
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise KeyError("VmRSS")
