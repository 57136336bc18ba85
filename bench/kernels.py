"""Small CPU kernels for `make bench`: the same source runs on native CPython,
inside eryx and inside the reference (pyeryx), so that their speeds compare.

Standard library only, and self-contained: the bench scripts send this file's
text into a sandbox as code, then call the kernels by name. Each kernel takes
no argument and returns a small value that is the same on every platform
(only +, -, *, / and math.sqrt on floats, all correctly rounded), listed in
EXPECTED, so that a run also checks the interpreter computed the right thing.
Each takes roughly 50-200 ms on native CPython 3.13 on the bench machine.
"""

import json
import math
import random
import re


# --- nbody: the Sun and the four gas giants, semi-implicit (symplectic) Euler steps ---

def _solar_system():
    pi = 3.14159265358979323
    solar_mass = 4 * pi * pi
    days = 365.24
    # x, y, z, vx, vy, vz, mass (AU, AU/year, solar masses times 4 pi^2)
    planets = [
        (4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
         1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05,
         9.54791938424326609e-04),
        (8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
         -2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05,
         2.85885980666130812e-04),
        (1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
         2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05,
         4.36624404335156298e-05),
        (1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
         2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05,
         5.15138902046611451e-05),
    ]
    bodies = [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, solar_mass]]
    for x, y, z, vx, vy, vz, m in planets:
        bodies.append([x, y, z, vx * days, vy * days, vz * days, m * solar_mass])
    # Give the Sun the momentum that makes the system's total zero.
    px = py = pz = 0.0
    for b in bodies:
        px += b[3] * b[6]
        py += b[4] * b[6]
        pz += b[5] * b[6]
    sun = bodies[0]
    sun[3] = -px / solar_mass
    sun[4] = -py / solar_mass
    sun[5] = -pz / solar_mass
    return bodies


def _energy(bodies):
    e = 0.0
    for i, a in enumerate(bodies):
        e += 0.5 * a[6] * (a[3] * a[3] + a[4] * a[4] + a[5] * a[5])
        for b in bodies[i + 1:]:
            dx = a[0] - b[0]
            dy = a[1] - b[1]
            dz = a[2] - b[2]
            e -= a[6] * b[6] / math.sqrt(dx * dx + dy * dy + dz * dz)
    return e


def nbody(steps=20000, dt=0.01):
    bodies = _solar_system()
    pairs = [(bodies[i], bodies[j])
             for i in range(len(bodies)) for j in range(i + 1, len(bodies))]
    sqrt = math.sqrt
    e0 = _energy(bodies)
    for _ in range(steps):
        for a, b in pairs:
            dx = a[0] - b[0]
            dy = a[1] - b[1]
            dz = a[2] - b[2]
            d2 = dx * dx + dy * dy + dz * dz
            mag = dt / (d2 * sqrt(d2))
            bm = b[6] * mag
            am = a[6] * mag
            a[3] -= dx * bm
            a[4] -= dy * bm
            a[5] -= dz * bm
            b[3] += dx * am
            b[4] += dy * am
            b[5] += dz * am
        for body in bodies:
            body[0] += dt * body[3]
            body[1] += dt * body[4]
            body[2] += dt * body[5]
    return [round(e0, 9), round(_energy(bodies), 9)]


# --- fannkuch: maximum pancake flips over all permutations of 1..n ---

def fannkuch(n=8):
    """[checksum, max flips] of fannkuch-redux: [1616, 22] for n = 8,
    [8629, 30] for n = 9 (about 9 times longer)."""
    perm = list(range(n))
    left = [0] * n                # per-level countdown of the rotations left
    level = n
    max_flips = checksum = 0
    odd = False
    while True:
        while level > 1:
            left[level - 1] = level
            level -= 1
        first = perm[0]
        if first:
            p = perm[:]
            flips = 0
            while first:
                p[:first + 1] = p[first::-1]   # flip the top first+1 pancakes
                flips += 1
                first = p[0]
            if flips > max_flips:
                max_flips = flips
            checksum += -flips if odd else flips
        odd = not odd
        while True:               # next permutation: rotate the top level+1
            if level == n:
                return [checksum, max_flips]
            perm[:level + 1] = perm[1:level + 1] + perm[:1]
            left[level] -= 1
            if left[level] > 0:
                break
            level += 1


# --- richards: Martin Richards' operating-system task scheduler simulation ---

_IDLE, _WORKER, _HANDLER_A, _HANDLER_B, _DEVICE_A, _DEVICE_B = range(1, 7)
_KIND_DEVICE, _KIND_WORK = 0, 1
_BUF = 4


class _Packet:
    __slots__ = ("link", "dest", "kind", "count", "buf")

    def __init__(self, link, dest, kind):
        self.link = link
        self.dest = dest
        self.kind = kind
        self.count = 0
        self.buf = [0] * _BUF


def _append(packet, queue):
    packet.link = None
    if queue is None:
        return packet
    last = queue
    while last.link is not None:
        last = last.link
    last.link = packet
    return queue


class _Task:
    __slots__ = ("link", "ident", "pri", "queue", "pending", "waiting",
                 "holding", "step", "a", "b", "os")

    def __init__(self, os_, ident, pri, queue, pending, waiting, step, a, b):
        self.os = os_
        self.link = os_.tasks
        os_.tasks = self
        os_.table[ident] = self
        self.ident = ident
        self.pri = pri
        self.queue = queue
        self.pending = pending
        self.waiting = waiting
        self.holding = False
        self.step = step
        self.a = a
        self.b = b

    def blocked(self):
        return self.holding or (self.waiting and not self.pending)

    def run(self):
        if self.pending and self.waiting and not self.holding:
            packet = self.queue
            self.queue = packet.link
            self.pending = self.queue is not None
            self.waiting = False
        else:
            packet = None
        return self.step(self, packet)

    def receive(self, packet, sender):
        if self.queue is None:
            self.queue = packet
            self.pending = True
            if self.pri > sender.pri:
                return self
        else:
            _append(packet, self.queue)
        return sender

    # scheduler services a task calls, each returning the next task to run
    def wait(self):
        self.waiting = True
        return self

    def hold(self):
        self.os.holds += 1
        self.holding = True
        return self.link

    def release(self, ident):
        t = self.os.table[ident]
        t.holding = False
        return t if t.pri > self.pri else self

    def send(self, packet):
        target = self.os.table[packet.dest]
        self.os.sends += 1
        packet.link = None
        packet.dest = self.ident
        return target.receive(packet, self)


def _idle_step(t, packet):
    t.b -= 1                      # a: pseudo-random shift register, b: count
    if t.b == 0:
        return t.hold()
    if t.a & 1:
        t.a = (t.a >> 1) ^ 0xD008
        return t.release(_DEVICE_B)
    t.a >>= 1
    return t.release(_DEVICE_A)


def _worker_step(t, packet):
    if packet is None:            # a: destination handler, b: letter counter
        return t.wait()
    t.a = _HANDLER_B if t.a == _HANDLER_A else _HANDLER_A
    packet.dest = t.a
    packet.count = 0
    buf = packet.buf
    for i in range(_BUF):
        t.b = t.b + 1 if t.b < 26 else 1
        buf[i] = 64 + t.b
    return t.send(packet)


def _handler_step(t, packet):
    if packet is not None:        # a: work packets, b: device packets
        if packet.kind == _KIND_WORK:
            t.a = _append(packet, t.a)
        else:
            t.b = _append(packet, t.b)
    work = t.a
    if work is not None:
        n = work.count
        if n >= _BUF:
            t.a = work.link
            return t.send(work)
        dev = t.b
        if dev is not None:
            t.b = dev.link
            dev.count = work.buf[n]
            work.count = n + 1
            return t.send(dev)
    return t.wait()


def _device_step(t, packet):
    if packet is None:            # a: the packet being "transmitted"
        held = t.a
        if held is None:
            return t.wait()
        t.a = None
        return t.send(held)
    t.a = packet
    return t.hold()


class _System:
    def __init__(self):
        self.tasks = None
        self.table = [None] * 7
        self.holds = 0
        self.sends = 0


def _richards_once(idle_count=10000):
    os_ = _System()
    _Task(os_, _IDLE, 0, None, False, False, _idle_step, 1, idle_count)
    q = _Packet(_Packet(None, 0, _KIND_WORK), 0, _KIND_WORK)
    _Task(os_, _WORKER, 1000, q, True, True, _worker_step, _HANDLER_A, 0)
    q = None
    for _ in range(3):
        q = _Packet(q, _DEVICE_A, _KIND_DEVICE)
    _Task(os_, _HANDLER_A, 2000, q, True, True, _handler_step, None, None)
    q = None
    for _ in range(3):
        q = _Packet(q, _DEVICE_B, _KIND_DEVICE)
    _Task(os_, _HANDLER_B, 3000, q, True, True, _handler_step, None, None)
    _Task(os_, _DEVICE_A, 4000, None, False, True, _device_step, None, None)
    _Task(os_, _DEVICE_B, 5000, None, False, True, _device_step, None, None)
    t = os_.tasks
    while t is not None:
        t = t.link if t.blocked() else t.run()
    return os_.sends, os_.holds


def richards(rounds=4):
    out = None
    for _ in range(rounds):
        out = _richards_once()
    return list(out)              # the classic figures: [23246, 9297]


# --- regex: scan, extract and rewrite a generated web-server log ---

_WORDS = ("alpha beta gamma delta sandbox python wasm engine kernel session "
          "callback result stdout error value token index query cache").split()


def _make_log(lines, seed=20240601):
    rnd = random.Random(seed)
    methods = ("GET", "POST", "PUT", "DELETE")
    out = []
    for i in range(lines):
        user = "%s.%s%d" % (rnd.choice(_WORDS), rnd.choice(_WORDS), rnd.randrange(100))
        host = "%s.%s" % (rnd.choice(_WORDS), rnd.choice(("org", "com", "net", "io")))
        path = "/".join(rnd.choice(_WORDS) for _ in range(rnd.randrange(1, 5)))
        out.append(
            "%04d-%02d-%02d %02d:%02d:%02d %d.%d.%d.%d %s@%s %s /%s?id=%d&q=%s "
            "status=%d bytes=%d time=%d.%03d ua=\"Mozilla/5.0 (%s; rv:%d)\"" % (
                2020 + rnd.randrange(6), rnd.randrange(1, 13), rnd.randrange(1, 29),
                rnd.randrange(24), rnd.randrange(60), rnd.randrange(60),
                rnd.randrange(256), rnd.randrange(256), rnd.randrange(256), rnd.randrange(256),
                user, host, rnd.choice(methods), path, rnd.randrange(10 ** 6),
                rnd.choice(_WORDS).upper(), rnd.choice((200, 200, 200, 301, 404, 500)),
                rnd.randrange(10 ** 5), rnd.randrange(3), rnd.randrange(1000),
                rnd.choice(_WORDS).title(), rnd.randrange(60, 130)))
    return "\n".join(out)


_LOG = None


def regex(lines=3000):
    global _LOG
    if _LOG is None or _LOG[0] != lines:
        _LOG = (lines, _make_log(lines))   # generated once, outside the timing
    text = _LOG[1]
    date = re.compile(r"\b(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\b")
    ipv4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
    email = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    query = re.compile(r"[?&](\w+)=([^&\s]+)")
    errors = re.compile(r"^.*status=(?:404|500).*$", re.M)
    agent = re.compile(r'ua="([^"]*)"')
    shout = re.compile(r"\b[A-Z]{4,}\b")
    digits = re.compile(r"\d+")
    sessionish = re.compile(r"(?i)sess?ion|cach(?:e|ing)|kern[ae]l")
    years = {}
    for m in date.finditer(text):
        years[m.group(1)] = years.get(m.group(1), 0) + 1
    ips = ipv4.findall(text)
    mails = email.findall(text)
    params = query.findall(text)
    bad = errors.findall(text)
    agents = set(agent.findall(text))
    masked = digits.sub("#", text)
    shouted = shout.sub(lambda m: m.group(0).lower(), text)
    fields = re.split(r"[\s/?&=]+", text)
    hits = len(sessionish.findall(text))
    return [sorted(years.items()), len(ips), len(mails), len(params), len(bad),
            len(agents), len(masked), len(shouted), len(fields), hits]


# --- json: serialise and parse a nested document, both directions ---

def _make_doc(records, seed=7):
    rnd = random.Random(seed)
    doc = {"version": 3, "generator": "eryx-bench", "items": []}
    for i in range(records):
        doc["items"].append({
            "id": i,
            "name": "%s-%s" % (rnd.choice(_WORDS), rnd.choice(_WORDS)),
            "label": "\u00e9l\u00e8ve \u2713 %d \u65e5\u672c" % i if i % 7 == 0 else "plain %d" % i,
            "active": rnd.random() < 0.5,
            "score": rnd.randrange(10 ** 6) / 1000,
            "tags": [rnd.choice(_WORDS) for _ in range(rnd.randrange(5))],
            "parent": None if i % 3 else i // 3,
            "pos": {"x": rnd.randrange(-500, 500), "y": rnd.randrange(-500, 500),
                    "history": [[j, j * 0.5] for j in range(rnd.randrange(4))]},
            "meta": {"created": "2024-%02d-%02dT10:00:00Z" % (i % 12 + 1, i % 28 + 1),
                     "notes": "line one\nline \"two\"\ttabbed" if i % 11 == 0 else ""},
        })
    return doc


_DOC = None


def json_roundtrip(records=1000, rounds=8):
    global _DOC
    if _DOC is None or _DOC[0] != records:
        _DOC = (records, _make_doc(records))  # built once, outside the timing
    doc = _DOC[1]
    total = 0
    for r in range(rounds):
        s = json.dumps(doc, sort_keys=bool(r & 1), indent=2 if r & 2 else None,
                       ensure_ascii=not (r & 1))
        back = json.loads(s)
        if back != doc:
            raise AssertionError("json round trip changed the document")
        total += len(s)
    return [total, len(back["items"]), back["items"][-1]["score"]]


# --- objects: attribute- and method-heavy code: a class hierarchy of shapes
# and vectors with properties, operator overloading, super() and dunder
# methods, and an expression tree evaluated by method dispatch ---

class _Vec:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __add__(self, o):
        return _Vec(self.x + o.x, self.y + o.y)

    def __sub__(self, o):
        return _Vec(self.x - o.x, self.y - o.y)

    def __mul__(self, k):
        return _Vec(self.x * k, self.y * k)

    def dot(self, o):
        return self.x * o.x + self.y * o.y

    def __eq__(self, o):
        return isinstance(o, _Vec) and self.x == o.x and self.y == o.y

    def __hash__(self):
        return hash((self.x, self.y))


class _Shape:
    count = 0

    def __init__(self, origin, name):
        self.origin = origin
        self.name = name
        _Shape.count += 1

    @property
    def area(self):
        raise NotImplementedError

    def moved(self, d):
        return self.__class__.make(self.origin + d, self)

    def describe(self):
        return f"{self.name}@{self.origin.x:d},{self.origin.y:d}"


class _Rect(_Shape):
    def __init__(self, origin, w, h):
        super().__init__(origin, "rect")
        self.w = w
        self.h = h

    @classmethod
    def make(cls, origin, like):
        return cls(origin, like.w, like.h)

    @property
    def area(self):
        return self.w * self.h


class _Square(_Rect):
    def __init__(self, origin, side):
        super().__init__(origin, side, side)
        self.name = "square"

    @classmethod
    def make(cls, origin, like):
        return cls(origin, like.w)


class _Tri(_Shape):
    def __init__(self, origin, b, h):
        super().__init__(origin, "tri")
        self.b = b
        self.h = h

    @classmethod
    def make(cls, origin, like):
        return cls(origin, like.b, like.h)

    @property
    def area(self):
        return self.b * self.h // 2


class _Num:
    def __init__(self, v):
        self.v = v

    def accept(self, visitor):
        return visitor.num(self)


class _Bin:
    def __init__(self, op, left, right):
        self.op = op
        self.left = left
        self.right = right

    def accept(self, visitor):
        return visitor.binary(self)


class _Evaluator:
    def __init__(self):
        self.visits = 0

    def num(self, n):
        self.visits += 1
        return n.v

    def binary(self, b):
        self.visits += 1
        left = b.left.accept(self)
        right = b.right.accept(self)
        op = b.op
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        return (left * right) % 1000003


def _tree(depth, i):
    if depth == 0:
        return _Num(i % 97 + 1)
    return _Bin("+-*"[(depth + i) % 3], _tree(depth - 1, i * 2 + 1),
                _tree(depth - 1, i * 2 + 2))


def objects(rounds=48):
    _Shape.count = 0
    shapes = []
    for i in range(300):
        o = _Vec(i % 17, i % 23)
        kind = i % 3
        if kind == 0:
            shapes.append(_Rect(o, i % 7 + 1, i % 5 + 1))
        elif kind == 1:
            shapes.append(_Square(o, i % 9 + 1))
        else:
            shapes.append(_Tri(o, i % 11 + 2, i % 13 + 2))
    step = _Vec(1, -1)
    total = 0
    seen = set()
    for r in range(rounds):
        for j, sh in enumerate(shapes):
            sh = sh.moved(step * (r % 3))
            shapes[j] = sh
            total += sh.area + sh.origin.dot(step)
            seen.add(sh.origin - step)
    tags = sum(len(sh.describe()) for sh in shapes)
    ev = _Evaluator()
    value = 0
    for k in range(rounds):
        value = (value + _tree(10, k).accept(ev)) % 1000003
    return [total, len(seen), tags, value, ev.visits, _Shape.count]


# --- strings: str and bytes processing: split, join, replace, formatting,
# case and search methods, UTF-8 encoding and decoding, bytes.translate and
# bytearray edits, and counting words in a dict ---

_TEXT = None
_ROT13 = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")


def _make_text(lines, seed=1337):
    rnd = random.Random(seed)
    extra = ("caf\u00e9", "na\u00efve", "\u00fcber", "\u65e5\u672c", "\u0161pan")
    out = []
    for _ in range(lines):
        words = [rnd.choice(_WORDS) if rnd.randrange(8) else rnd.choice(extra)
                 for _ in range(rnd.randrange(4, 14))]
        out.append(" ".join(words))
    return out


def strings(lines=4000, rounds=3):
    global _TEXT
    if _TEXT is None or len(_TEXT) != lines:
        _TEXT = _make_text(lines)  # built once, outside the timing
    counts = {}
    size = 0
    found = 0
    checksum = 0
    for r in range(rounds):
        for i, line in enumerate(_TEXT):
            words = line.split()
            for w in words:
                key = w.lower() if r & 1 else w.upper()
                counts[key] = counts.get(key, 0) + 1
            line2 = line.replace("a", "4").replace("e", "3").title()
            rec = f"{i:05d}|{len(words):02d}|{line2[:20]:<20}|{words[-1]!r}"
            if rec.startswith("0") and "S4Ndbox" in line2:
                found += 1
            data = rec.encode("utf-8")
            data = data.translate(_ROT13)
            buf = bytearray(data)
            buf[0:5] = b"#####"
            buf.extend(b";")
            size += len(buf)
            back = bytes(buf).decode("utf-8")
            checksum = (checksum * 31 + back.find("|") + back.count("4")) % 1000003
        joined = "\n".join(_TEXT)
        checksum = (checksum + len(joined.encode("utf-8")) + joined.count("\u00e9")) % 1000003
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return [size, found, checksum, len(counts), top]


KERNELS = {
    "nbody": nbody,
    "fannkuch": fannkuch,
    "richards": richards,
    "regex": regex,
    "json": json_roundtrip,
    "objects": objects,
    "strings": strings,
}

# The values every correct interpreter returns (JSON form), for check().
EXPECTED = {
    "nbody": [-0.169075164, -0.169089263],
    "fannkuch": [1616, 22],
    "richards": [23246, 9297],
    "regex": [[["2020", 533], ["2021", 515], ["2022", 514], ["2023", 471],
               ["2024", 457], ["2025", 510]],
              3000, 3000, 6000, 1006, 1205, 412959, 501131, 67432, 3489],
    "json": [2928620, 1000, 165.516],
    "objects": [979968, 2143, 3400, 403560, 98256, 14700],
    "strings": [469821, 3918, 779140, 47,
                [["CACHE", 3424], ["RESULT", 3284], ["INDEX", 3258]]],
}


def check(name, value):
    """True when a kernel's return value is the expected one (after a JSON
    round trip, as results come back from sandboxes)."""
    return json.loads(json.dumps(value)) == EXPECTED[name]
