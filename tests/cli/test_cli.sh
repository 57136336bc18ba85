#!/usr/bin/env bash
# The eryx CLI's contract: output streams, exit statuses, input forms.
set -u
eryx=${1:?usage: test_cli.sh PATH/TO/eryx [SANITIZERS]}
sanitized=${2:-}
pass=0 fail=0
check() { # check NAME EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        printf 'FAIL %s\n--- expected:\n%s\n--- got:\n%s\n' "$1" "$2" "$3"
    fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The CPython version the CLI reports, as a tuple: "3.13.15" -> "(3, 13)".
mm=$("$eryx" --version | sed -E 's/.*CPython ([0-9]+)\.([0-9]+).*/(\1, \2)/')
out=$("$eryx" -c 'import sys; print(sys.version_info[:2]); print(6*7)')
check "-c prints" "$mm
42" "$out"

"$eryx" -c '1/0' >"$tmp/out" 2>"$tmp/err"
check "1/0 exit status" 1 $?
check "1/0 stdout empty" "" "$(cat "$tmp/out")"
grep -q 'File "<user>", line 1' "$tmp/err" && grep -q 'ZeroDivisionError' "$tmp/err"
check "1/0 traceback on stderr" 0 $?

"$eryx" -c 'import sys; print("o"); print("e", file=sys.stderr)' >"$tmp/out" 2>"$tmp/err"
check "streams exit" 0 $?
check "stdout stream" "o" "$(cat "$tmp/out")"
check "stderr stream" "e" "$(cat "$tmp/err")"

printf 'x = 20\nprint(x + 1)\n' >"$tmp/prog.py"
check "FILE" "21" "$("$eryx" "$tmp/prog.py")"
check "stdin" "21" "$("$eryx" - <"$tmp/prog.py")"

"$eryx" -c 'import sys; sys.exit(3)' 2>"$tmp/err"
check "sys.exit status" 1 $?
grep -q 'SystemExit: 3' "$tmp/err"
check "sys.exit reported" 0 $?

printf 'print(1)\0print(2)\n' >"$tmp/nul.py"
"$eryx" "$tmp/nul.py" >"$tmp/out" 2>"$tmp/err"
check "NUL status" 1 $?
grep -q 'NUL byte' "$tmp/err"
check "NUL reported" 0 $?

check "no args, stdin not a terminal: a script" "21" "$("$eryx" <"$tmp/prog.py")"
"$eryx" -c 1 "$tmp/prog.py" >/dev/null 2>&1
check "-c and FILE is a usage error" 2 $?
ERYX_PYTHON=/nonexistent/python "$eryx" serve >/dev/null 2>"$tmp/err"
check "serve without the Python package: status 2" 2 $?
grep -q "eryx\[mcp\]" "$tmp/err"
check "serve without the Python package says what to install" 0 $?
ERYX_PYTHON=/nonexistent/python "$eryx" --mcp-config x.json -c 1 >/dev/null 2>"$tmp/err"
check "--mcp-config is the Python package's too" 2 $?
"$eryx" --bogus >/dev/null 2>&1
check "unknown option is a usage error" 2 $?
"$eryx" -c >/dev/null 2>&1
check "-c without code is a usage error" 2 $?
"$eryx" /nonexistent/file.py >/dev/null 2>&1
check "missing file is a usage error" 2 $?

"$eryx" --version | grep -Eq '^eryx [0-9]+\.[0-9]+\.[0-9]+ \(CPython 3\.[0-9]+\.[0-9]+\)$'
check "--version" 0 $?
"$eryx" --help | grep -q 'usage: eryx'
check "--help" 0 $?

# Output streams live, so stdout and stderr interleave as written.
out=$("$eryx" -c 'import sys; print(1); print(2, file=sys.stderr); print(3)' 2>&1)
check "live streaming order" "1
2
3" "$out"

# Output is bytes: a binary stream written to sys.stdout.buffer survives a
# pipe, and text is encoded with surrogateescape.
n=$("$eryx" -c 'import gzip, sys; sys.stdout.buffer.write(gzip.compress(b"eryx " * 1000))' | gunzip | wc -c)
check "binary stdout through a pipe" 5000 "$((n))"
check "escaped surrogate as its byte" "ff" \
    "$("$eryx" -c 'print("\udcff", end="")' | od -An -tx1 | tr -d ' \n')"

"$eryx" --trace -c 'x = 1
def f():
    return 2
f()' >"$tmp/out" 2>"$tmp/err"
check "--trace status" 0 $?
check "--trace events" '{"event": "line", "lineno": 1}
{"event": "line", "lineno": 2}
{"event": "line", "lineno": 4}
{"event": "call", "lineno": 2, "name": "f"}
{"event": "line", "lineno": 3}
{"event": "return", "lineno": 3, "name": "f"}' "$(cat "$tmp/err")"

# Limits: status 1 and one line on stderr naming the limit.
"$eryx" --timeout 500 -c 'while True: pass' >"$tmp/out" 2>"$tmp/err"
check "--timeout status" 1 $?
check "--timeout reason" "eryx: execution timeout: the limit of 500 ms was reached" "$(cat "$tmp/err")"
"$eryx" --fuel 100000 -c 'while True: pass' >"$tmp/out" 2>"$tmp/err"
check "--fuel status" 1 $?
check "--fuel reason" "eryx: fuel exhausted: consumed 100000 of the budget of 100000" "$(cat "$tmp/err")"
"$eryx" --max-memory 67108864 -c 'x = bytearray(100 << 20)' >"$tmp/out" 2>"$tmp/err"
check "--max-memory status" 1 $?
check "--max-memory reason" "eryx: memory limit: the code ran out of its 67108864 bytes of memory" "$(tail -n 1 "$tmp/err")"
"$eryx" --timeout abc -c 'pass' >/dev/null 2>&1
check "--timeout needs a number" 2 $?
"$eryx" --max-memory 1000 -c 'pass' >/dev/null 2>"$tmp/err"
check "--max-memory floor status" 1 $?
grep -q 'at least 32 MiB' "$tmp/err"
check "--max-memory floor reason" 0 $?

# The build's precompiled guest is what the CLI maps; `eryx precompile`
# writes one that `eryx info` then reports.
"$eryx" info >"$tmp/out" 2>&1
check "info status" 0 $?
grep -q '^guest: precompiled .*runtime.cwasm$' "$tmp/out"
check "info: precompiled guest" 0 $?
"$eryx" precompile -o "$tmp/x.cwasm" && [ -s "$tmp/x.cwasm" ]
check "precompile -o writes" 0 $?
"$eryx" precompile --bogus >/dev/null 2>&1
check "precompile usage error" 2 $?

# Volumes, packages and imports.
mkdir -p "$tmp/vin" "$tmp/vout" "$tmp/pkg/clipkg"
echo 'from the host' >"$tmp/vin/data.txt"
echo 'NAME = "clipkg"' >"$tmp/pkg/clipkg/__init__.py"
out=$("$eryx" -v "$tmp/vin:/in" --volume "$tmp/vout:/out:rw" \
    --package "$tmp/pkg/clipkg" --import clipkg \
    -c 'open("/out/r.txt", "w").write(open("/in/data.txt").read().strip() + " " + clipkg.NAME); print("ok")' 2>&1)
check "volumes and packages" "ok" "$out"
check "rw volume wrote the host" "from the host clipkg" "$(cat "$tmp/vout/r.txt")"
"$eryx" -v "$tmp/vin:/in" -c 'open("/in/x", "w")' >/dev/null 2>"$tmp/err"
check "ro volume refuses writes" "1" "$?"
grep -q "Read-only file system" "$tmp/err"
check "ro volume error" 0 $?
"$eryx" -v "nocolon" -c 'pass' >/dev/null 2>&1
check "-v without DST" "2" "$?"
"$eryx" --package "$tmp/missing.whl" -c 'pass' >/dev/null 2>"$tmp/err"
check "missing package status" "1" "$?"
grep -q "missing.whl" "$tmp/err"
check "missing package named" 0 $?
out=$("$eryx" --vfs-limit 100000 -c '
import errno
try:
    open("big", "wb").write(b"x" * 200000)
except OSError as e:
    print(errno.errorcode[e.errno])')
check "--vfs-limit" "ENOSPC" "$out"

# The network: refused without a flag; a loopback server the test runs
# (python3's http.server) reached with --allow-localhost only; a secret's
# placeholder in the environment, scrubbed from output; bad flags.
out=$("$eryx" -c '
import socket
try:
    socket.create_connection(("127.0.0.1", 9))
except OSError as e:
    print(type(e).__name__)')
check "no network by default" "PermissionError" "$out"
mkdir -p "$tmp/www" && echo 'served' >"$tmp/www/f.txt"
python3 -m http.server 0 --bind 127.0.0.1 --directory "$tmp/www" >"$tmp/http.log" 2>&1 &
srv=$!
port=
for _ in $(seq 50); do
    port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$tmp/http.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
done
get="import urllib.request
try:
    print(urllib.request.urlopen('http://127.0.0.1:$port/f.txt').read().decode().strip())
except OSError as e:
    print(e)"
check "--net keeps loopback out" \
    "<urlopen error [Errno 2] host '127.0.0.1' resolves to 127.0.0.1, in the blocked network 127.0.0.0/8>" \
    "$("$eryx" --net -c "$get")"
check "--allow-localhost" "served" "$("$eryx" --allow-localhost -c "$get")"
check "--allow-host narrows" \
    "<urlopen error [Errno 2] host '127.0.0.1' is not among the network policy's allowed hosts>" \
    "$("$eryx" --allow-localhost --allow-host '*.example.com' -c "$get")"
kill "$srv" 2>/dev/null
# TLS to a server that hangs up while the guest still writes: OpenSSL's
# send() would raise SIGPIPE, which must not end the eryx process (the
# plain `eryx` keeps SIGPIPE's default action, unlike Python).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1
cat >"$tmp/tls.py" <<'PY'
import http.server, ssl, sys
srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
python3 "$tmp/tls.py" "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/tls.port" 2>/dev/null &
tsrv=$!
for _ in $(seq 50); do [ -s "$tmp/tls.port" ] && break; sleep 0.1; done
out=$("$eryx" --allow-localhost --root-cert "$tmp/cert.pem" -c "
import socket, ssl
s = ssl.create_default_context().wrap_socket(
    socket.create_connection(('localhost', $(cat "$tmp/tls.port"))), server_hostname='localhost')
try:
    s.sendall(b'GET / HTTP/1.1\\r\\nX-Big: ' + b'a' * 10_000_000 + b'\\r\\n\\r\\n')
    print('sent')
except OSError:
    print('refused')" 2>&1; echo "exit $?")
kill "$tsrv" 2>/dev/null
check "TLS peer hangs up: no SIGPIPE" "refused
exit 0" "$out"
out=$("$eryx" --secret TOKEN=s3cr3t-v@api.example.com -c '
import os
print(os.environ["TOKEN"][:24], "s3cr3t-v")')
check "--secret placeholder, scrubbed" "ERYX_SECRET_PLACEHOLDER_ [REDACTED]" "$out"
"$eryx" --allow-network 10.0.0.0/33 -c 'pass' >/dev/null 2>"$tmp/err"
check "bad CIDR status" "2" "$?"
grep -q "not a network" "$tmp/err"
check "bad CIDR named" 0 $?
"$eryx" --secret NOVALUE -c 'pass' >/dev/null 2>&1
check "--secret without =" "2" "$?"
"$eryx" --secret '1BAD=x' -c 'pass' >/dev/null 2>&1
check "--secret with a bad name" "2" "$?"

# A process that cannot reserve terabytes of address space (here a ulimit;
# also vm.overcommit_memory=2) still runs sandboxes: the engine pools
# fewer instances, or none, instead of aborting.  Sanitizer runtimes need
# more address space than this limit, so only the plain build checks it.
if [ -z "$sanitized" ]; then
    check "small address space: pooled" "3" "$(ulimit -v 100000000; "$eryx" -c 'print(3)' 2>&1)"
    check "small address space: on demand" "4" "$(ulimit -v 8000000; "$eryx" -c 'print(4)' 2>&1)"
    out=$(ulimit -v 2000000; "$eryx" -c 'print(5)' 2>&1)
    check "too small: a clear error" "1 eryx: cannot instantiate the guest: Cannot allocate memory (os error 12)" \
        "$? $out"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
