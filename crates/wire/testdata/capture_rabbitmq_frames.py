"""Captures the frames a RabbitMQ node sends for a scripted session, as `label<TAB>hex` lines.

Start a node on port 5690 (see the crate's tests), then: python3 capture_rabbitmq_frames.py
"""
import socket, struct, sys, time

PORT = 5690

def frame(t, ch, payload):
    return struct.pack('>BHI', t, ch, len(payload)) + payload + b'\xce'

def shortstr(s): return bytes([len(s)]) + s
def longstr(s): return struct.pack('>I', len(s)) + s

def method(c, m, args=b''): return struct.pack('>HH', c, m) + args

def read_frame(sock, buf):
    while True:
        if len(buf) >= 7:
            t, ch, size = struct.unpack('>BHI', buf[:7])
            if len(buf) >= 8 + size:
                return (t, ch, buf[7:7+size]), buf[8+size:]
        d = sock.recv(65536)
        if not d:
            return None, buf
        buf += d


def table(entries):
    return longstr(b''.join(shortstr(k) + v for k, v in entries))

out = []
def rx(s, buf, label, n=1):
    global out
    for i in range(n):
        f, buf = read_frame(s, buf)
        t, ch, p = f
        raw = struct.pack('>BHI', t, ch, len(p)) + p + b'\xce'
        out.append('%s\t%s' % (label if n == 1 else '%s#%d' % (label, i), raw.hex()))
    return buf

s = socket.create_connection(('127.0.0.1', PORT))
s.sendall(b'AMQP\x00\x00\x09\x01')
buf = rx(s, b'', 'connection.start')
s.sendall(frame(1, 0, method(10, 11, table([]) + shortstr(b'PLAIN') + longstr(b'\x00guest\x00guest') + shortstr(b'en_US'))))
buf = rx(s, buf, 'connection.tune')
s.sendall(frame(1, 0, method(10, 31, struct.pack('>HIH', 2047, 4096, 0))))
s.sendall(frame(1, 0, method(10, 40, shortstr(b'/') + shortstr(b'') + b'\x00')))
buf = rx(s, buf, 'connection.open-ok')
s.sendall(frame(1, 1, method(20, 10, shortstr(b''))))
buf = rx(s, buf, 'channel.open-ok')
s.sendall(frame(1, 1, method(50, 10, struct.pack('>H', 0) + shortstr(b'golden') + b'\x08' + table([]))))  # auto-delete
buf = rx(s, buf, 'queue.declare-ok')
headers = table([
    (b'bool', b't\x01'), (b'i8', b'b\xff'), (b'u8', b'B\xfe'), (b'i16', b's\xff\xfe'), (b'u16', b'u\xff\xfe'),
    (b'i32', b'I\xff\xff\xff\xfe'), (b'u32', b'i\xff\xff\xff\xfe'), (b'i64', b'l' + struct.pack('>q', -2)),
    (b'f32', b'f' + struct.pack('>f', 1.5)), (b'f64', b'd' + struct.pack('>d', -2.25)), (b'dec', b'D\x02' + struct.pack('>I', 12345)),
    (b'str', b'S' + longstr(b'hello')), (b'arr', b'A' + longstr(b'I\x00\x00\x00\x01S' + longstr(b'x') + b'V')),
    (b'ts', b'T' + struct.pack('>Q', 1700000000)), (b'tab', b'F' + table([(b'n', b'V')])), (b'void', b'V'), (b'bin', b'x' + longstr(b'\x00\x01')),
])
props = (shortstr(b'text/plain') + shortstr(b'gzip') + headers + b'\x02' + b'\x05' + shortstr(b'corr') + shortstr(b'reply')
         + shortstr(b'60000') + shortstr(b'mid') + struct.pack('>Q', 1700000001) + shortstr(b'type') + shortstr(b'guest')
         + shortstr(b'app') + shortstr(b'cluster'))
body = b'x' * 4100
hdr = struct.pack('>HHQ', 60, 0, len(body)) + b'\xff\xfc' + props
def publish(rk, mandatory=False):
    s.sendall(frame(1, 1, method(60, 40, struct.pack('>H', 0) + shortstr(b'') + shortstr(rk) + (b'\x01' if mandatory else b'\x00'))))
    s.sendall(frame(2, 1, hdr))
    s.sendall(frame(3, 1, body[:4088]) + frame(3, 1, body[4088:]))
publish(b'golden')
s.sendall(frame(1, 1, method(60, 70, struct.pack('>H', 0) + shortstr(b'golden') + b'\x01')))
buf = rx(s, buf, 'basic.get-ok', 4)
s.sendall(frame(1, 1, method(60, 70, struct.pack('>H', 0) + shortstr(b'golden') + b'\x01')))
buf = rx(s, buf, 'basic.get-empty')
publish(b'nowhere', True)
buf = rx(s, buf, 'basic.return', 4)
s.sendall(frame(1, 1, method(85, 10, b'\x00')))
buf = rx(s, buf, 'confirm.select-ok')
s.sendall(frame(1, 1, method(60, 20, struct.pack('>H', 0) + shortstr(b'golden') + shortstr(b'') + b'\x00' + table([]))))
buf = rx(s, buf, 'basic.consume-ok')
publish(b'golden')
buf = rx(s, buf, 'basic.deliver+ack', 5)
s.sendall(frame(1, 1, method(50, 10, struct.pack('>H', 0) + shortstr(b'amq.nope') + b'\x01' + table([]))))
buf = rx(s, buf, 'channel.close')
s.sendall(frame(1, 0, method(10, 50, struct.pack('>H', 200) + shortstr(b'bye') + struct.pack('>HH', 0, 0))))
buf = rx(s, buf, 'connection.close-ok')
print('\n'.join(out))
