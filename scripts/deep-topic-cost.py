"""What a 64 KiB deep topic filter costs the broker: SUBSCRIBE to 65,535
slashes (65,536 levels) and PUBLISH to such a topic; time to the answer
and the broker's RSS before and after. Usage: python3 scripts/deep-topic-cost.py KITE_SERVER_BINARY"""
import os, socket, subprocess, sys, tempfile, time

def varint(n):
    out = b""
    while True:
        b = n % 128; n //= 128
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out

def s(x): x = x.encode() if isinstance(x, str) else x; return len(x).to_bytes(2, "big") + x
def packet(first, body): return bytes([first]) + varint(len(body)) + body

def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) * 1024

def read_packet(sock):
    first = sock.recv(1)
    if not first: return None
    mult, length = 1, 0
    while True:
        b = sock.recv(1)[0]; length += (b & 0x7F) * mult; mult *= 128
        if not b & 0x80: break
    body = b""
    while len(body) < length: body += sock.recv(length - len(body))
    return first[0], body

binary = sys.argv[1]
data = tempfile.mkdtemp()
p = subprocess.Popen([binary, "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", data,
                      "--sys-interval", "0", "--dashboard-dir", "/nonexistent"],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
line = ""
while not line.startswith("kite-server ready"): line = p.stdout.readline()
port = int(line.split("tcp=")[1].split()[0].rsplit(":", 1)[1])
c = socket.create_connection(("127.0.0.1", port))
c.sendall(packet(0x10, s("MQTT") + bytes([5, 2, 0, 60, 0]) + s("deep")))
read_packet(c)
deep = "/" * 65535
time.sleep(0.3)
before = rss(p.pid)
t = time.perf_counter()
c.sendall(packet(0x82, (1).to_bytes(2, "big") + b"\x00" + s(deep) + b"\x00"))
kind, body = read_packet(c)
sub_ms = (time.perf_counter() - t) * 1000
after_sub = rss(p.pid)
t = time.perf_counter()
c.sendall(packet(0x32, s(deep) + (2).to_bytes(2, "big") + b"\x00" + b"x"))
got = []
while True:
    r = read_packet(c)
    if r is None: got.append("closed"); break
    got.append(hex(r[0]))
    if r[0] >> 4 == 4: break
pub_ms = (time.perf_counter() - t) * 1000
time.sleep(0.3)
if p.poll() is not None:
    print(f"SUBACK reason {body[-1]:#04x} in {sub_ms:.1f} ms; RSS +{(after_sub-before)/1e6:.2f} MB")
    print(f"PUBLISH: the broker died, exit status {p.returncode} (answers: {got})")
    sys.exit(0)
after_pub = rss(p.pid)
print(f"SUBACK reason {body[-1]:#04x} in {sub_ms:.1f} ms; RSS +{(after_sub-before)/1e6:.2f} MB")
print(f"PUBLISH (QoS 1, subscribed to itself) answered by {got} in {pub_ms:.1f} ms; RSS +{(after_pub-after_sub)/1e6:.2f} MB more")
p.terminate(); p.wait()
