/**
 * The shipped units: `systemd-analyze verify` accepts them with no warning
 * about them, their sandbox leaves writable every path the default
 * configuration writes, and the daemon is never tied to the agent's unit.
 *
 * verify runs against a throwaway root (--root) holding a copy of this
 * machine's systemd units and a stand-in /usr/local/bin/decnet-updater, so
 * the ExecStart= check passes without touching the real /usr/local/bin.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { DEFAULT_CONFIG_PATH } from "../../src/config/load.js";
import { SCHEMA, type SchemaKey } from "../../src/config/schema.js";
import { REPO } from "../helpers/cli.js";

const UNITS = ["decnet-updater.service", "decnet-updater-oneshot.service", "decnet-updater.timer"];
const SYSTEM_UNITS = "/usr/lib/systemd/system";
const analyze = spawnSync("systemd-analyze", ["--version"]);
const VERIFY_SKIP =
  analyze.status === 0
    ? false
    : "needs systemd-analyze (Debian package systemd: apt-get install systemd)";

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-units-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function unitText(name: string): Promise<string> {
  return readFile(join(REPO, "systemd", name), "utf8");
}

/** Directive lines of one section, comments and blanks dropped. */
function directives(text: string, section: string): string[] {
  const lines: string[] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("[")) current = line;
    else if (current === `[${section}]`) lines.push(line);
  }
  return lines;
}

function values(text: string, section: string, key: string): string[] {
  return directives(text, section)
    .filter((line) => line.startsWith(`${key}=`))
    .flatMap((line) => line.slice(key.length + 1).split(/\s+/))
    .filter(Boolean);
}

/** A root with this machine's units, ours in /etc/systemd/system and an executable ExecStart. */
async function makeRoot(dir: string, units: Record<string, string>): Promise<void> {
  await cp(SYSTEM_UNITS, join(dir, SYSTEM_UNITS), { recursive: true, verbatimSymlinks: true });
  await mkdir(join(dir, "etc/systemd/system"), { recursive: true });
  for (const [name, text] of Object.entries(units))
    await writeFile(join(dir, "etc/systemd/system", name), text);
  // Every Exec*= binary: our own as a stand-in, the rest (/bin/kill) copied
  // from this machine, so a unit naming a binary a host lacks still fails.
  for (const text of Object.values(units)) {
    for (const binary of execBinaries(text)) {
      const target = join(dir, binary);
      await mkdir(dirname(target), { recursive: true });
      if (binary === "/usr/local/bin/decnet-updater") {
        await writeFile(target, "#!/bin/sh\nexit 0\n");
        await chmod(target, 0o755);
      } else await cp(binary, target).catch(() => undefined);
    }
  }
}

function execBinaries(text: string): string[] {
  return [...text.matchAll(/^Exec\w+=[-+!@:]*(\/\S+)/gm)].map((match) => match[1] as string);
}

function verify(dir: string): { status: number | null; complaints: string[] } {
  const result = spawnSync("systemd-analyze", ["verify", "--man=no", `--root=${dir}`, ...UNITS], {
    encoding: "utf8",
  });
  const complaints = `${result.stdout}\n${result.stderr}`
    .split("\n")
    .filter((line) => line.includes("decnet-updater"));
  return { status: result.status, complaints };
}

describe("systemd-analyze verify", { skip: VERIFY_SKIP }, () => {
  test("accepts the three units with no complaint about them", async () => {
    const dir = join(root, "good");
    await makeRoot(
      dir,
      Object.fromEntries(await Promise.all(UNITS.map(async (u) => [u, await unitText(u)]))),
    );
    const { status, complaints } = verify(dir);
    assert.deepEqual(complaints, []);
    assert.equal(status, 0);
  });

  test("catches a misspelt directive and a missing ExecStart binary (the check can fail)", async () => {
    const dir = join(root, "bad");
    const units = Object.fromEntries(
      await Promise.all(UNITS.map(async (u) => [u, await unitText(u)])),
    );
    units["decnet-updater.service"] = (units["decnet-updater.service"] as string).replace(
      "NoNewPrivileges=yes",
      "NoNewPrivilege=yes",
    );
    units["decnet-updater-oneshot.service"] = (
      units["decnet-updater-oneshot.service"] as string
    ).replace(
      "/usr/local/bin/decnet-updater update",
      "/usr/local/bin/decnet-updater-missing update",
    );
    await makeRoot(dir, units);
    const { complaints } = verify(dir);
    assert.ok(
      complaints.some((line) => /Unknown key 'NoNewPrivilege' in section \[Service\]/.test(line)),
      complaints.join("\n"),
    );
    assert.ok(
      complaints.some((line) => /decnet-updater-missing is not executable/.test(line)),
      complaints.join("\n"),
    );
  });
});

describe("the sandbox", () => {
  const defaultOf = (key: SchemaKey) => SCHEMA[key]?.default as string;

  for (const name of ["decnet-updater.service", "decnet-updater-oneshot.service"]) {
    test(`${name}: hardened, and every path the default config writes is writable`, async () => {
      const text = await unitText(name);
      for (const [key, value] of [
        ["NoNewPrivileges", "yes"],
        ["ProtectSystem", "strict"],
        ["ProtectHome", "yes"],
        ["PrivateTmp", "yes"],
      ])
        assert.deepEqual(values(text, "Service", key as string), [value], `${name}: ${key}`);
      const writable = values(text, "Service", "ReadWritePaths");
      const needed = [
        defaultOf("install_dir"),
        defaultOf("self_update.install_dir"),
        defaultOf("units.dir"),
        dirname(defaultOf("install.path_symlink")),
      ];
      for (const path of needed)
        assert.ok(
          writable.includes(path),
          `${name}: ReadWritePaths lacks ${path} (has ${writable.join(" ")})`,
        );
      // state_dir is the StateDirectory= systemd creates under /var/lib
      assert.equal(
        `/var/lib/${values(text, "Service", "StateDirectory")[0]}`,
        defaultOf("state_dir"),
      );
      const execStart = values(text, "Service", "ExecStart");
      assert.deepEqual(execStart.slice(0, 1), ["/usr/local/bin/decnet-updater"]);
      assert.deepEqual(execStart.slice(-2), ["--config", DEFAULT_CONFIG_PATH]);
    });
  }

  test("the daemon runs `run`, the oneshot runs `update`, with the same sandbox lines", async () => {
    const daemon = await unitText("decnet-updater.service");
    const oneshot = await unitText("decnet-updater-oneshot.service");
    assert.equal(values(daemon, "Service", "ExecStart")[1], "run");
    assert.equal(values(oneshot, "Service", "ExecStart")[1], "update");
    // a new updater release is started again after `run` made way for it (exit 99), and so is a
    // daemon a SIGHUP reached before its handler (systemd counts that death as clean)
    assert.deepEqual(values(daemon, "Service", "RestartForceExitStatus"), ["99", "SIGHUP"]);
    // `systemctl start` returns, and a reload is let through, once the handlers are in place
    assert.deepEqual(values(daemon, "Service", "Type"), ["notify"]);
    assert.deepEqual(values(daemon, "Service", "NotifyAccess"), ["all"]);
    // every line from "# Sandbox." to the end of [Service], comments aside
    const sandbox = (text: string) => {
      const from = text.indexOf("# Sandbox.");
      const end = text.indexOf("\n[", from);
      return text
        .slice(from, end < 0 ? undefined : end)
        .split("\n")
        .filter((line) => line.trim() !== "" && !line.startsWith("#"));
    };
    for (const line of ["ProtectSystem=strict", "SystemCallFilter=@system-service"])
      assert.ok(sandbox(daemon).includes(line), line);
    assert.deepEqual(sandbox(oneshot), sandbox(daemon));
  });

  test("nothing orders or binds the updater to the agent's unit (it must run when the agent is broken)", async () => {
    for (const name of UNITS) {
      const text = await unitText(name);
      for (const key of ["After", "Requires", "Wants", "BindsTo", "PartOf", "Requisite", "Before"])
        for (const unit of values(text, "Unit", key))
          assert.doesNotMatch(
            unit,
            /^decnet-(agent|forwarder|collector|prober|profiler|sniffer)/,
            `${name}: ${key}=${unit}`,
          );
    }
  });

  test("the timer starts the oneshot and conflicts with the daemon", async () => {
    const timer = await unitText("decnet-updater.timer");
    assert.deepEqual(values(timer, "Timer", "Unit"), ["decnet-updater-oneshot.service"]);
    assert.deepEqual(values(timer, "Unit", "Conflicts"), ["decnet-updater.service"]);
    // each host at its own fixed offset over the whole 15 minutes, like the daemon's phase
    assert.deepEqual(values(timer, "Timer", "RandomizedDelaySec"), ["900"]);
    assert.deepEqual(values(timer, "Timer", "FixedRandomDelay"), ["yes"]);
  });
});
