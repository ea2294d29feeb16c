#!/usr/bin/env python3
"""The CPU time a whole process costs, user + system, from wait4(2).

    cpu-of.py ARGV...

Runs ARGV with its stdout and stderr passed through, then prints one JSON
line on stderr: {"code", "cpu_ms", "wall_ms"}. wait4 reports the child's own
CPU with every thread's (V8's compiler and GC threads, libuv's pool) and that
of the children it waited for: what the kernel charged the whole run.
"""
import json
import os
import subprocess
import sys
import time

started = time.monotonic()
child = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(child.pid, 0)
wall_ms = (time.monotonic() - started) * 1000
code = os.waitstatus_to_exitcode(status)
cpu_ms = (usage.ru_utime + usage.ru_stime) * 1000
sys.stderr.write(json.dumps({"code": code, "cpu_ms": round(cpu_ms, 1), "wall_ms": round(wall_ms, 1)}) + "\n")
