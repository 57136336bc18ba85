/*
** test_stdlib.c: each stdlib module the sandbox promises imports and does
** one real piece of work, with its output checked exactly.
*/
#include "sandbox_fixture.h"

#define PY_TEST(name, code, expected) \
    ERYX_TEST(name)                   \
    {                                 \
        run_expect(code, expected);   \
    }

PY_TEST(json,
        "import json\nprint(json.loads(json.dumps({'a': [1, 2]}))['a'])",
        "[1, 2]\n")
PY_TEST(re,
        "import re\nprint(re.findall(r'\\d+', 'a1b22c333'))",
        "['1', '22', '333']\n")
PY_TEST(zlib,
        "import zlib\nd = b'eryx' * 1000\nc = zlib.compress(d)\n"
        "print(len(c) < 100, zlib.decompress(c) == d, zlib.crc32(b'abc'))",
        "True True 891568578\n")
PY_TEST(sqlite3,
        "import sqlite3\ndb = sqlite3.connect(':memory:')\n"
        "db.execute('create table t (k text, v int)')\n"
        "db.executemany('insert into t values (?, ?)', [('a', 1), ('b', 2), "
        "('c', 3)])\n"
        "print(db.execute('select sum(v), group_concat(k) from t where v > "
        "1').fetchone())",
        "(5, 'b,c')\n")
PY_TEST(decimal,
        "import decimal\ndecimal.getcontext().prec = 10\n"
        "print(decimal.Decimal(1) / decimal.Decimal(7))\n"
        "import _decimal  # the C implementation is built in\n"
        "print(decimal.Decimal is _decimal.Decimal)",
        "0.1428571429\nTrue\n")
PY_TEST(hashlib_sha256,
        "import hashlib\nprint(hashlib.sha256(b'abc').hexdigest())",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n")
PY_TEST(datetime,
        "import datetime\nd = datetime.date(2024, 2, 28) + "
        "datetime.timedelta(days=2)\n"
        "print(d.isoformat(), d.strftime('%A'))",
        "2024-03-01 Friday\n")
PY_TEST(collections,
        "import collections\nc = collections.Counter('abracadabra')\n"
        "print(c.most_common(2))\nq = collections.deque([1, 2, 3], "
        "maxlen=2)\nprint(q)",
        "[('a', 5), ('b', 2)]\ndeque([2, 3], maxlen=2)\n")
PY_TEST(itertools,
        "import itertools\nprint(list(itertools.combinations('abc', 2)))\n"
        "print(list(itertools.islice(itertools.count(10, 5), 3)))",
        "[('a', 'b'), ('a', 'c'), ('b', 'c')]\n[10, 15, 20]\n")
PY_TEST(dataclasses,
        "from dataclasses import dataclass, asdict\n@dataclass\nclass P:\n"
        "    x: int\n    y: int = 2\nprint(P(1), asdict(P(3, 4)))",
        "P(x=1, y=2) {'x': 3, 'y': 4}\n")
PY_TEST(typing,
        "from typing import get_type_hints, Optional\n"
        "def f(a: int, b: Optional[str] = None) -> list[int]: ...\n"
        "print(get_type_hints(f)['b'])",
        "typing.Optional[str]\n")
PY_TEST(unicodedata,
        "import unicodedata\nprint(unicodedata.name('é'), "
        "unicodedata.normalize('NFD', 'é').encode())",
        "LATIN SMALL LETTER E WITH ACUTE b'e\\xcc\\x81'\n")
PY_TEST(struct,
        "import struct\nb = struct.pack('<IhB', 1, -2, 3)\nprint(b.hex(), "
        "struct.unpack('<IhB', b))",
        "01000000feff03 (1, -2, 3)\n")
PY_TEST(pickle,
        "import pickle\nv = {'a': (1, 2.5), 'b': {3}}\n"
        "print(pickle.loads(pickle.dumps(v, protocol=5)) == v)",
        "True\n")
PY_TEST(base64,
        "import base64\nprint(base64.b64encode(b'eryx sandbox'), "
        "base64.b32decode('MZXW6==='))",
        "b'ZXJ5eCBzYW5kYm94' b'foo'\n")
PY_TEST(random,
        "import random\nr = random.Random(42)\nprint(r.randint(1, 100), "
        "r.choice('abc'))\n"
        "print(0 <= random.random() < 1)",
        "82 a\nTrue\n")
PY_TEST(math,
        "import math, cmath\nprint(math.factorial(20), math.isclose(math.pi, "
        "3.14159, abs_tol=1e-5))\n"
        "print(cmath.exp(1j * math.pi).real)",
        "2432902008176640000 True\n-1.0\n")
PY_TEST(statistics,
        "import statistics\nd = [2, 4, 4, 4, 5, 5, 7, 9]\n"
        "print(statistics.mean(d), statistics.median(d), statistics.pstdev(d))",
        "5 4.5 2.0\n")
PY_TEST(textwrap,
        "import textwrap\nprint(textwrap.wrap('the quick brown fox jumps', "
        "width=10))",
        "['the quick', 'brown fox', 'jumps']\n")
PY_TEST(enum,
        "import enum\nclass Color(enum.Enum):\n    RED = 1\n    GREEN = 2\n"
        "print(Color(2), Color['RED'].value, [c.name for c in Color])",
        "Color.GREEN 1 ['RED', 'GREEN']\n")
PY_TEST(functools,
        "import functools\n@functools.lru_cache(maxsize=None)\ndef fib(n):\n"
        "    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
        "print(fib(80), functools.reduce(lambda a, b: a * b, range(1, 6)))",
        "23416728348467685 120\n")
PY_TEST(string,
        "import string\nprint(string.Template('$who likes "
        "$what').substitute(who='eryx', what='C'))\n"
        "print(string.ascii_lowercase[:5])",
        "eryx likes C\nabcde\n")
PY_TEST(lzma,
        "import lzma\nd = b'sandbox ' * 500\nc = lzma.compress(d)\n"
        "print(len(c) < len(d) // 10, lzma.decompress(c) == d)",
        "True True\n")
PY_TEST(bz2,
        "import bz2\nd = b'sandbox ' * 500\nc = bz2.compress(d)\n"
        "print(len(c) < len(d) // 10, bz2.decompress(c) == d)",
        "True True\n")
PY_TEST(xml_etree,
        "import xml.etree.ElementTree as ET\n"
        "root = ET.fromstring('<a><b k=\"1\">x</b><b k=\"2\">y</b></a>')\n"
        "print([(b.get('k'), b.text) for b in root.iter('b')])",
        "[('1', 'x'), ('2', 'y')]\n")
PY_TEST(asyncio,
        "import asyncio\nasync def main():\n    q = asyncio.Queue()\n"
        "    await q.put(1)\n    return await asyncio.wait_for(q.get(), 1)\n"
        "print(await main())",
        "1\n")
PY_TEST(csv_io,
        "import csv, io\nf = io.StringIO('a,b\\n1,\"x,y\"\\n')\n"
        "print(list(csv.DictReader(f)))",
        "[{'a': '1', 'b': 'x,y'}]\n")
PY_TEST(array_bisect_heapq,
        "import array, bisect, heapq\na = array.array('i', [5, 1, 4])\n"
        "h = list(a); heapq.heapify(h)\nprint(heapq.nsmallest(2, h), "
        "bisect.bisect([1, 3, 5], 4), a.itemsize)",
        "[1, 4] 2 4\n")
PY_TEST(binascii_contextvars,
        "import binascii, contextvars\n"
        "v = contextvars.ContextVar('v', default=0)\n"
        "v.set(3)\nprint(binascii.hexlify(b'\\x01\\xff'), v.get())",
        "b'01ff' 3\n")

int
main(int argc, char **argv)
{
    static const struct eryx_test_case cases[] = {
        ERYX_TEST_ENTRY(json),
        ERYX_TEST_ENTRY(re),
        ERYX_TEST_ENTRY(zlib),
        ERYX_TEST_ENTRY(sqlite3),
        ERYX_TEST_ENTRY(decimal),
        ERYX_TEST_ENTRY(hashlib_sha256),
        ERYX_TEST_ENTRY(datetime),
        ERYX_TEST_ENTRY(collections),
        ERYX_TEST_ENTRY(itertools),
        ERYX_TEST_ENTRY(dataclasses),
        ERYX_TEST_ENTRY(typing),
        ERYX_TEST_ENTRY(unicodedata),
        ERYX_TEST_ENTRY(struct),
        ERYX_TEST_ENTRY(pickle),
        ERYX_TEST_ENTRY(base64),
        ERYX_TEST_ENTRY(random),
        ERYX_TEST_ENTRY(math),
        ERYX_TEST_ENTRY(statistics),
        ERYX_TEST_ENTRY(textwrap),
        ERYX_TEST_ENTRY(enum),
        ERYX_TEST_ENTRY(functools),
        ERYX_TEST_ENTRY(string),
        ERYX_TEST_ENTRY(lzma),
        ERYX_TEST_ENTRY(bz2),
        ERYX_TEST_ENTRY(xml_etree),
        ERYX_TEST_ENTRY(asyncio),
        ERYX_TEST_ENTRY(csv_io),
        ERYX_TEST_ENTRY(array_bisect_heapq),
        ERYX_TEST_ENTRY(binascii_contextvars),
    };
    return eryx_test_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
