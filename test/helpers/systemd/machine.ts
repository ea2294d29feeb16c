/**
 * A throw-away machine with a real systemd 252 as its PID 1, for the tests
 * of what only the init system shows (restart, reload, start limits, the
 * sandbox, the journal, timers, shutdown). It boots in about 2 s:
 *
 * - a fresh cgroup2 child of the host's cgroup2 mount, so the machine's
 *   cgroup namespace (and its systemd) is rooted there;
 * - `unshare --pid --fork --mount --uts --ipc --cgroup`: the host network
 *   stays, so a feed a test serves on 127.0.0.1 is reachable from inside;
 * - boot-inner.sh builds the root (an overlay of the host's `/`) and execs
 *   systemd into multi-user.target.
 *
 * The overlay's upper layer is a tmpfs mounted on the host side, so it
 * outlives a poweroff: `boot()` again starts the same machine's next boot
 * (what the test of a shutdown during an update needs). Nothing of the host
 * changes; `destroy()` unmounts the layer and removes the cgroup.
 *
 * Use `exec` (nsenter into all of the machine's namespaces) to run a command
 * inside, and `path()` to read or write the machine's files from the host.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, openSync, statfsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const INNER = resolve(import.meta.dirname, "boot-inner.sh");
const CGROUP2_SUPER_MAGIC = 0x63677270;
const MACHINE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The host's cgroup2 mount (unified, or the v2 half of a hybrid layout), or null. */
function cgroup2Root(): string | null {
  for (const dir of ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]) {
    try {
      if (statfsSync(dir).type === CGROUP2_SUPER_MAGIC) return dir;
    } catch {
      // not there
    }
  }
  return null;
}

function onPath(name: string): boolean {
  return MACHINE_PATH.split(":").some((dir) => existsSync(join(dir, name)));
}

/** Why a real systemd cannot boot here (one line for the skip), or false. */
function whyNoSystemd(): string | false {
  if (process.getuid?.() !== 0) return "needs root: a real systemd boots in namespaces of its own";
  if (!existsSync("/lib/systemd/systemd")) return "needs systemd (apt-get install systemd)";
  for (const tool of ["unshare", "nsenter", "setpriv", "pivot_root"])
    if (!onPath(tool)) return `needs ${tool} (apt-get install util-linux)`;
  if (!cgroup2Root()) return "needs a writable cgroup2 mount (/sys/fs/cgroup or its unified half)";
  return false;
}

export const SYSTEMD_SKIP: string | false = whyNoSystemd();

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  timeoutMs?: number;
  env?: Record<string, string>;
  input?: string;
}

export class Machine {
  /** The host pid of the machine's systemd (0 while it is down). */
  pid = 0;
  boots = 0;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private readonly cgroup: string;

  private constructor(readonly dir: string) {
    this.cgroup = join(cgroup2Root() as string, `decnet-updater-test.${basename(dir)}`);
  }

  /** A new machine, not booted yet: its folder and the tmpfs that holds its overlay's upper layer. */
  static async create(): Promise<Machine> {
    await mkdir("/tmp/decnet-updater-machines", { recursive: true });
    const dir = await mkdtemp("/tmp/decnet-updater-machines/m.");
    await mkdir(join(dir, "layer"));
    await run("mount", [
      "-t",
      "tmpfs",
      "-o",
      "size=4g,mode=0700",
      "machine-layer",
      join(dir, "layer"),
    ]);
    return new Machine(dir);
  }

  /** Boots (again, over the same layer after a poweroff) and waits for the boot to finish. */
  async boot(timeoutMs = 60_000): Promise<void> {
    if (this.child) throw new Error("the machine is already up");
    await writeFile(join(this.dir, "console.log"), "");
    await rm(join(this.dir, "systemd.pid"), { force: true });
    await mkdir(this.cgroup, { recursive: true });
    const log = openSync(join(this.dir, `boot-${this.boots + 1}.log`), "w");
    const child = spawn(
      "sh",
      [
        "-c",
        'echo $$ > "$1/cgroup.procs"; shift; exec "$@"',
        "sh",
        this.cgroup,
        "unshare",
        "--pid",
        "--fork",
        "--mount",
        "--uts",
        "--ipc",
        "--cgroup",
        "--kill-child",
        "sh",
        INNER,
        this.dir,
      ],
      { detached: true, stdio: ["ignore", log, log] },
    );
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    this.boots += 1;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pid = Number(
        (await readFile(join(this.dir, "systemd.pid"), "utf8").catch(() => "")).trim(),
      );
      if (pid > 0 && existsSync(`/proc/${pid}/root/run/systemd/private`)) {
        this.pid = pid;
        break;
      }
      if (child.exitCode !== null || Date.now() > deadline) {
        const bootLog = await readFile(join(this.dir, `boot-${this.boots}.log`), "utf8");
        await this.poweroff();
        throw new Error(`systemd did not come up (boot ${this.boots}):\n${bootLog}`);
      }
      await sleep(50);
    }
    const state = await this.exec(["systemctl", "is-system-running", "--wait"], {
      timeoutMs: Math.max(1000, deadline - Date.now()),
    });
    const word = state.stdout.trim();
    if (word !== "running" && word !== "degraded")
      throw new Error(`the machine's boot ended "${word}": ${state.stderr.trim()}`);
  }

  /** Runs a command inside the machine (all its namespaces, as root); never throws for an exit code. */
  exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    if (!this.pid) throw new Error("the machine is down");
    return new Promise((resolve) => {
      const child = execFile(
        "nsenter",
        ["-t", String(this.pid), "-a", "--", ...argv],
        {
          env: { PATH: MACHINE_PATH, LANG: "C.UTF-8", SYSTEMD_COLORS: "0", ...options.env },
          timeout: options.timeoutMs ?? 60_000,
          killSignal: "SIGKILL",
          maxBuffer: 64 * 1024 * 1024,
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        },
      );
      if (options.input !== undefined) child.stdin?.end(options.input);
      else child.stdin?.end();
    });
  }

  /** Like exec, but a non-zero exit throws with the command's stderr. */
  async run(argv: readonly string[], options: ExecOptions = {}): Promise<string> {
    const result = await this.exec(argv, options);
    if (result.code !== 0)
      throw new Error(
        `in the machine, \`${argv.join(" ")}\` exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`,
      );
    return result.stdout;
  }

  /** A shell script run inside the machine (`sh -euc`). */
  sh(script: string, options: ExecOptions = {}): Promise<string> {
    return this.run(["sh", "-euc", script], options);
  }

  /** Where a path of the machine is, seen from the host (through its systemd's root). */
  path(inside: string): string {
    if (!this.pid) throw new Error("the machine is down");
    return `/proc/${this.pid}/root${inside}`;
  }

  /**
   * Where a path the machine wrote is kept while the machine is down: its
   * overlay's upper layer (what differs from the host's `/`). For a test that
   * changes a file between two boots, or reads what a shutdown left.
   */
  layerPath(inside: string): string {
    if (this.pid) throw new Error("the machine is up: use path()");
    return join(this.dir, "layer/upper", inside);
  }

  /** systemctl show's properties of a unit, as a record. */
  async show(unit: string, properties: readonly string[]): Promise<Record<string, string>> {
    const out = await this.run(["systemctl", "show", unit, `--property=${properties.join(",")}`]);
    const fields: Record<string, string> = {};
    for (const line of out.split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return fields;
  }

  /** Waits until `check` holds (polled every 100 ms), or throws what it last saw. */
  async until<T>(
    what: string,
    check: () => Promise<T | null | undefined | false>,
    timeoutMs = 60_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value) return value;
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(100);
    }
  }

  /** The journal of one unit (its messages only), or of the whole boot. */
  async journal(unit?: string): Promise<string> {
    return this.run(["journalctl", "--no-pager", "-o", "cat", ...(unit ? ["-u", unit] : [])]);
  }

  /**
   * `systemctl poweroff`, as an operator's shutdown: waits for the machine to
   * stop (killing it after `graceMs`) and removes its cgroup. The layer stays.
   */
  async poweroff(graceMs = 30_000): Promise<void> {
    if (!this.child) return;
    if (this.pid && this.child.exitCode === null)
      await this.exec(["systemctl", "poweroff", "--no-block"], { timeoutMs: 10_000 }).catch(
        () => undefined,
      );
    const stopped = await Promise.race([
      this.exited.then(() => true),
      sleep(graceMs).then(() => false),
    ]);
    if (!stopped) {
      if (this.pid) kill(this.pid);
      if (this.child.pid) kill(-this.child.pid);
      await this.exited;
    }
    this.child = null;
    this.pid = 0;
    await removeCgroup(this.cgroup);
  }

  /** Powers off if up, unmounts the layer and removes the machine's folder. */
  async destroy(): Promise<void> {
    await this.poweroff(10_000);
    await run("umount", ["-l", join(this.dir, "layer")]).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // gone already
  }
}

/** A machine's cgroup and the ones its systemd made under it, deepest first. */
async function removeCgroup(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const entry of await readdir(dir, { withFileTypes: true }))
    if (entry.isDirectory()) await removeCgroup(join(dir, entry.name));
  for (let i = 0; i < 50; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      await sleep(100); // its last processes are still being reaped
    }
  }
}

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(file, args, (error, _stdout, stderr) =>
      error ? reject(new Error(`${file} ${args.join(" ")}: ${stderr.trim()}`)) : resolve(),
    ),
  );
}
