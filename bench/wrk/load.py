#!/usr/bin/env python3
"""Runs wrk with bench/wrk/bench.lua for the bench scripts; standard library only.

  load.py run --addr 127.0.0.1:8200 --token T --method PUT --path '/v1/kv/b/{key}' \\
      --body '{"policy":"p"}' --concurrency 16 --duration 3 --warmup 0.5 --watch bao=PID
  load.py free-port      # a port p with p and p+1 free on 127.0.0.1 (bao -dev uses both)
  load.py request --addr A --token T --method POST --path /v1/sys/auth/x --body '{...}'
                         # one request on a new connection, timed: {"status":..,"us":..}

`run`: an optional warm-up (a separate wrk run of --warmup seconds: wrk has
no warm-up of its own), then the measured wrk run. Around the measured run
it reads utime+stime of every --watch name=PID from /proc/PID/stat, and
takes wrk's own CPU from wait4(2). Prints bench.lua's JSON line with
cpu_us and cpu_us_per_req added; exits 1 when wrk does (any unexpected
answer, lost request or socket error, in the warm-up too).

Flags are bench.lua's settings (see there): --ids FILE, --once, --requests
N, --key-prefix P ({key}), --code-base N ({code}), --expect S, --ok-status
N, --save FILE --save-what uuid|key. Threads (-t): at most half the CPUs
and a divisor of -c, unless --threads: the server under test needs the
cores. On 2 CPUs, kv create at c=16, -t 2 against -t 1 (three interleaved
A/Bs on a shared machine) bought no throughput and cost as much or more wrk
CPU per request (31 vs 24, 31 vs 32, 39 vs 37 µs) and more wake-ups (0.97
vs 0.87 per request): with answers slower than wrk, a thread wakes for
nearly every answer, and two threads share them out.
"""

import argparse
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_us(pid):
    """utime + stime of a process, in µs (clock-tick resolution)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000 // CLK_TCK


def wrk_run(args, threads, duration, seq_base, state):
    """One wrk run; returns (its JSON result or None, exit code, wrk CPU µs)."""
    os.makedirs(state)
    env = dict(os.environ)
    settings = {
        "WRK_METHOD": args.method,
        "WRK_PATH": args.path,
        "WRK_BODY": args.body,
        "WRK_TOKEN": args.token,
        "WRK_IDS": args.ids,
        "WRK_ONCE": "1" if args.once else None,
        "WRK_REQUESTS": str(args.requests) if args.requests else None,
        "WRK_DURATION": repr(duration),
        "WRK_SEQ_BASE": str(seq_base),
        "WRK_KEY_PREFIX": args.key_prefix,
        "WRK_EXPECT": args.expect,
        "WRK_OK_STATUS": str(args.ok_status) if args.ok_status else None,
        "WRK_SAVE_WHAT": args.save_what if args.save else None,
        "WRK_STATE": state,
        "WRK_THREADS": str(threads),
        "WRK_CONNECTIONS": str(args.concurrency),
        "WRK_TIMEOUT_S": str(args.timeout),
    }
    for name, value in settings.items():
        env.pop(name, None)
        if value is not None:
            env[name] = value
    # -d is only a backstop: bench.lua's threads stop by themselves.
    command = [args.wrk, "-t", str(threads), "-c", str(args.concurrency),
               "-d", f"{math.ceil(duration) + 10}s", "--timeout", f"{args.timeout}s",
               "-s", os.environ.get("WRK_SCRIPT", os.path.join(HERE, "bench.lua")), f"http://{args.addr}"]
    with open(os.path.join(state, "stdout"), "w") as out, open(os.path.join(state, "stderr"), "w") as err:
        proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    markers = [os.path.join(state, f"{i}.done") for i in range(threads)]
    last_signal = 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        # Every thread is done: wake wrk's main thread from its sleep(-d)
        # (again every 20 ms: before wrk installs its handler SIGINT is ignored).
        if all(os.path.exists(m) for m in markers) and time.monotonic() - last_signal > 0.02:
            proc.send_signal(signal.SIGINT)
            last_signal = time.monotonic()
        time.sleep(0.005)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wrk_cpu = int((usage.ru_utime + usage.ru_stime) * 1_000_000)
    with open(os.path.join(state, "stdout")) as f:
        lines = [line for line in f if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else None
    if proc.returncode != 0 or result is None:
        with open(os.path.join(state, "stderr")) as f:
            sys.stderr.write(f.read())
        with open(os.path.join(state, "stdout")) as f:
            sys.stderr.write("".join(l for l in f if not l.startswith("{"))[-2000:])
    return result, proc.returncode, wrk_cpu


def collect_saved(state, threads, out):
    for i in range(threads):
        path = os.path.join(state, f"{i}.saved")
        if os.path.exists(path):
            with open(path) as f:
                shutil.copyfileobj(f, out)


def run(args):
    if (args.once or args.requests) and args.warmup > 0:
        sys.exit("load.py: --once and --requests runs have no warm-up (use --warmup 0)")
    if args.threads:
        threads = args.threads
    else:
        threads = max(1, min(args.concurrency, (os.cpu_count() or 2) // 2))
        while args.concurrency % threads:
            threads -= 1
    watched = []
    for w in args.watch:
        name, _, pid = w.partition("=")
        watched.append((name, int(pid)))
    work = tempfile.mkdtemp(prefix="wrk.", dir=args.tmpdir)
    saved = open(args.save, "w") if args.save else None
    try:
        seq_base = args.code_base
        warmup = None
        if args.warmup > 0:
            warmup, code, _ = wrk_run(args, threads, args.warmup, seq_base, os.path.join(work, "warmup"))
            if code != 0 or warmup is None:
                print(json.dumps(warmup or {}, separators=(",", ":")))
                sys.stderr.write(f"load.py: the warm-up failed ({args.method} {args.path})\n")
                return 1
            seq_base = warmup["seq_next"]
            if saved:
                collect_saved(os.path.join(work, "warmup"), threads, saved)
        before = {name: cpu_us(pid) for name, pid in watched}
        result, code, wrk_cpu = wrk_run(args, threads, args.duration, seq_base, os.path.join(work, "run"))
        after = {name: cpu_us(pid) for name, pid in watched}
        if result is None:
            sys.stderr.write(f"load.py: wrk printed no result (exit {code})\n")
            return 1
        result["cpu_us"] = {name: after[name] - before[name] for name, _ in watched}
        result["cpu_us"]["wrk"] = wrk_cpu
        n = result["requests"]
        result["cpu_us_per_req"] = {k: round(v / n, 2) if n else 0 for k, v in result["cpu_us"].items()}
        result["concurrency"] = args.concurrency
        result["warmup_requests"] = warmup["requests"] if warmup else 0
        if saved:
            collect_saved(os.path.join(work, "run"), threads, saved)
            saved.flush()
            result["saved"] = sum(1 for _ in open(args.save))
        print(json.dumps(result, separators=(",", ":")))
        if code != 0:
            sys.stderr.write(f"load.py: wrk failed (exit {code}) for {args.method} {args.path}; files in {work}\n")
            return 1
        shutil.rmtree(work)
        return 0
    finally:
        if saved:
            saved.close()


def free_port(_args):
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        print(port)
        return 0
    sys.exit("load.py: no free pair of adjacent ports")


def request(args):
    import http.client

    host, _, port = args.addr.rpartition(":")
    headers = {"X-Vault-Token": args.token}
    if args.body:
        headers["Content-Type"] = "application/json"
    # The first getaddrinfo of a process loads NSS (~1 ms): not the server's time.
    socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    start = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    conn.request(args.method, args.path, body=args.body or None, headers=headers)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    print(json.dumps({"status": response.status, "us": round(elapsed * 1e6)}, separators=(",", ":")))
    if not 200 <= response.status <= 299:
        sys.stderr.write(f"load.py: {args.method} {args.path}: HTTP {response.status}: {body[:400]!r}\n")
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    # What a request is, for both `run` and `request`.
    target = argparse.ArgumentParser(add_help=False)
    target.add_argument("--addr", required=True)
    target.add_argument("--token", required=True)
    target.add_argument("--method", default="GET")
    target.add_argument("--path", required=True)
    target.add_argument("--body", default="")
    r = sub.add_parser("run", parents=[target])
    r.add_argument("--concurrency", type=int, default=1)
    r.add_argument("--threads", type=int)
    r.add_argument("--duration", type=float, default=3.0)
    r.add_argument("--warmup", type=float, default=0.5)
    r.add_argument("--requests", type=int, default=0)
    r.add_argument("--ids")
    r.add_argument("--once", action="store_true")
    r.add_argument("--key-prefix", default="k")
    r.add_argument("--code-base", type=int, default=0)
    r.add_argument("--expect")
    r.add_argument("--ok-status", type=int)
    r.add_argument("--save")
    r.add_argument("--save-what", choices=("uuid", "key"), default="key")
    r.add_argument("--watch", action="append", default=[], metavar="NAME=PID")
    r.add_argument("--timeout", type=int, default=10, help="s; a slower answer is an error")
    r.add_argument("--tmpdir", help="for wrk's per-thread files")
    r.add_argument("--wrk", default=os.environ.get("WRK_BIN", "wrk"))
    r.set_defaults(func=run)
    sub.add_parser("free-port").set_defaults(func=free_port)
    sub.add_parser("request", parents=[target]).set_defaults(func=request)
    args = ap.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
