#!/usr/bin/env python3
"""The Python original's push update, re-enacted step by step for the bench.

Written from the description in ../shared/reference/ (not copied from it):
the tarball arrives in memory with the push, so the clock starts with its
bytes in hand. Then, as the original does them:

  extract   tarfile in memory into releases/active.new (absolute and ".."
            names refused, then extractall)
  pip       pip install --force-reinstall --no-deps into the one shared venv
            (install_dir/venv, which exists already)
  rotate    prev removed, active -> prev, active.new -> active, `current` flipped
  restart   SIGTERM to agent.pid, polled every 0.2 s until it is gone; the
            agent started in its own session, cwd install_dir
  probe     mTLS GET, at once and then every 1 s, until a 200

    original-push.py TARBALL INSTALL_DIR PROBE_URL CA CERT KEY -- PIP_ARGS... -- AGENT_ARGV...

PIP_ARGS are the offline flags (--no-index --find-links DIR NAME). Prints one
JSON line: each step's ms and the total.
"""
import io
import json
import os
import pathlib
import shutil
import signal
import ssl
import subprocess
import sys
import tarfile
import time
import http.client
import urllib.parse


def split_args(argv):
    first = argv.index("--")
    second = argv.index("--", first + 1)
    return argv[:first], argv[first + 1 : second], argv[second + 1 :]


def extract(tarball_bytes, dest):
    dest.mkdir(parents=True, exist_ok=False)
    with tarfile.open(fileobj=io.BytesIO(tarball_bytes), mode="r:gz") as tar:
        for member in tar.getmembers():
            parts = pathlib.PurePosixPath(member.name).parts
            if member.name.startswith("/") or ".." in parts:
                raise SystemExit(f"unsafe path in tarball: {member.name!r}")
        tar.extractall(dest)


def stop_agent(install_dir):
    pid_file = install_dir / "agent.pid"
    if not pid_file.is_file():
        return
    pid = int(pid_file.read_text().strip())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # the agent is its own session's leader and our child's child: reap nothing, poll
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def spawn_agent(install_dir, argv):
    log = open(install_dir / "agent.spawn.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(argv, start_new_session=True, cwd=install_dir, stdout=log, stderr=subprocess.STDOUT)
    (install_dir / "agent.pid").write_text(str(proc.pid))


def probe(url, ca, cert, key, attempts=10, backoff_s=1.0):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(certfile=cert, keyfile=key)
    ctx.load_verify_locations(cafile=ca)
    ctx.check_hostname = False
    parsed = urllib.parse.urlsplit(url)
    for i in range(attempts):
        try:
            conn = http.client.HTTPSConnection(parsed.hostname, parsed.port, context=ctx, timeout=3.0)
            conn.request("GET", parsed.path)
            if conn.getresponse().status == 200:
                return True
        except Exception:  # noqa: BLE001  (not up yet)
            pass
        if i < attempts - 1:
            time.sleep(backoff_s)
    return False


def main():
    head, pip_args, agent_argv = split_args(sys.argv[1:])
    tarball, install_dir, url, ca, cert, key = head
    install_dir = pathlib.Path(install_dir)
    tarball_bytes = pathlib.Path(tarball).read_bytes()
    releases = install_dir / "releases"
    staging = releases / "active.new"
    ms = {}
    started = mark = time.monotonic()

    def lap(name):
        nonlocal mark
        now = time.monotonic()
        ms[name] = round((now - mark) * 1000)
        mark = now

    extract(tarball_bytes, staging)
    lap("extract")
    py = install_dir / "venv" / "bin" / "python"
    pip = subprocess.run(
        [str(py), "-m", "pip", "install", "--force-reinstall", "--no-deps", *pip_args],
        capture_output=True,
        text=True,
        cwd=staging,
    )
    if pip.returncode != 0:
        raise SystemExit(f"pip: {pip.stderr}")
    lap("pip")
    if (releases / "prev").exists():
        shutil.rmtree(releases / "prev")
    if (releases / "active").exists():
        (releases / "active").rename(releases / "prev")
    staging.rename(releases / "active")
    tmp = install_dir / ".current.tmp"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(releases / "active")
    os.replace(tmp, install_dir / "current")
    lap("rotate")
    stop_agent(install_dir)
    spawn_agent(install_dir, agent_argv)
    lap("restart")
    if not probe(url, ca, cert, key):
        raise SystemExit("the agent never answered healthy")
    lap("probe")
    ms["total"] = round((time.monotonic() - started) * 1000)
    print(json.dumps(ms))


if __name__ == "__main__":
    main()
