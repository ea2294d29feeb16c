/**
 * A real PostgreSQL 15 owned by the test: `initdb` into a temp dir and
 * `pg_ctl` on a loopback port, as the nginx tests run nginx. initdb refuses
 * root, so as root the server runs as the `postgres` user (Debian's
 * package makes it) or nobody. Undefined when PostgreSQL is not installed;
 * the caller skips with POSTGRES_SKIP.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./release.js";

const BIN = "/usr/lib/postgresql/15/bin";

export const POSTGRES_SKIP = existsSync(join(BIN, "initdb"))
  ? false
  : "PostgreSQL 15 not available: apt-get install postgresql";

export interface RunningPostgres {
  url: string;
  port: number;
  dataDir: string;
  stop(): void;
  /** Stops the server (fast: clients are cut) and starts it again on the same port. */
  restart(): void;
  start(): void;
  /** pg_ctl stop -m fast, without starting again. */
  halt(): void;
}

function runAs(): string[] {
  if (process.getuid?.() !== 0) return [];
  const user = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const uid = user.status === 0 ? user.stdout.trim() : "65534";
  const gid =
    user.status === 0
      ? spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim()
      : "65534";
  return ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups"];
}

function owner(): { uid: number; gid: number } | null {
  const prefix = runAs();
  if (prefix.length === 0) return null;
  return {
    uid: Number((prefix[1] as string).split("=")[1]),
    gid: Number((prefix[2] as string).split("=")[1]),
  };
}

function run(args: string[]): void {
  const [file, ...rest] = [...runAs(), ...args];
  execFileSync(file as string, rest, { stdio: ["ignore", "ignore", "pipe"] });
}

/** A server in a folder of its own under the temp dir (its parents must be open to the server's user); stop() removes it. */
export async function startPostgres(): Promise<RunningPostgres> {
  const dir = mkdtempSync(join(tmpdir(), "du-pg-"));
  const dataDir = join(dir, "pgdata");
  const socketDir = join(dir, "pgsock");
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  mkdirSync(socketDir, { recursive: true });
  const who = owner();
  if (who) {
    for (const path of [dir, dataDir, socketDir]) chownSync(path, who.uid, who.gid);
  }
  run([
    join(BIN, "initdb"),
    "-D",
    dataDir,
    "-U",
    "postgres",
    "--auth=trust",
    "--no-sync",
    "-E",
    "UTF8",
  ]);
  const port = await freePort();
  const options = `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=40`;
  const start = () =>
    run([
      join(BIN, "pg_ctl"),
      "-D",
      dataDir,
      "-o",
      options,
      "-l",
      join(dir, "postgres.log"),
      "-w",
      "start",
    ]);
  const halt = () => run([join(BIN, "pg_ctl"), "-D", dataDir, "-m", "fast", "-w", "stop"]);
  start();
  run([join(BIN, "createdb"), "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "reports"]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/reports`,
    port,
    dataDir,
    start,
    halt,
    restart() {
      halt();
      start();
    },
    stop() {
      try {
        halt();
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
