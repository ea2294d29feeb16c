/**
 * The timer variant under a real systemd (issue 17): decnet-updater.timer
 * and decnet-updater-oneshot.service installed by systemd/README.md's own
 * commands, from where step 1 of the README leaves the updater's release.
 * A drop-in makes the timer fire every few seconds, as an operator's
 * OnCalendar= would in 15 minutes.
 */
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { PYTHON_SKIP } from "../../helpers/python.js";
import { type Machine, SYSTEMD_SKIP } from "../../helpers/systemd/machine.js";
import {
  configureHost,
  type Master,
  publishApp,
  type RealHost,
  startRealHost,
} from "../../helpers/systemd/updater-host.js";

const skip = SYSTEMD_SKIP || PYTHON_SKIP;
const ONESHOT = "decnet-updater-oneshot.service";
const TIMER = "decnet-updater.timer";

/** systemd/README.md's shell block: its lines, continuations joined, comments dropped. */
async function unitsReadmeCommands(): Promise<string[]> {
  const text = await readFile(resolve(import.meta.dirname, "../../../systemd/README.md"), "utf8");
  const block = text.match(/```sh\n([\s\S]*?)```/)?.[1] ?? "";
  return block
    .replace(/\\\n\s*/g, "")
    .split("\n")
    .map((line) =>
      line
        .replace(/^# or: /, "") // the alternative to the daemon
        .replace(/\s+#.*$/, "")
        .trim(),
    )
    .filter((line) => line !== "");
}

describe("decnet-updater.timer and the oneshot under a real systemd", { skip }, () => {
  let host: RealHost;
  let master: Master;
  let machine: Machine;
  let port: number;

  before(async () => {
    host = await startRealHost("timer");
    ({ master, machine, port } = host);
    await configureHost(machine, master, { agentPort: port });
  });

  after(async () => {
    await host?.destroy();
  });

  test("installed as systemd/README.md says, the timer starts the oneshot, which installs the release and exits 0", async () => {
    const commands = await unitsReadmeCommands();
    // everything before the choice of daemon or timer, then the timer's line
    const setup = commands.slice(0, commands.indexOf("systemctl daemon-reload") + 1);
    assert.equal(setup[0], "cd /opt/decnet-updater/current", commands.join(" | "));
    const unitsInstalled =
      /^install -m 0644 systemd\/.*decnet-updater\.timer \/etc\/systemd\/system\/$/;
    assert.ok(
      setup.some((line) => unitsInstalled.test(line)),
      setup.join(" | "),
    );
    assert.ok(commands.includes("systemctl enable --now decnet-updater.timer"));
    // fire every 5 s instead of every 15 min (the drop-in an impatient operator would write)
    await mkdir(machine.path(`/etc/systemd/system/${TIMER}.d`), { recursive: true });
    await writeFile(
      machine.path(`/etc/systemd/system/${TIMER}.d/test.conf`),
      "[Timer]\nOnCalendar=\nOnCalendar=*:*:0/5\nRandomizedDelaySec=0\nAccuracySec=1s\n",
    );
    await publishApp(master, { version: "1.0.0", sha: "1".repeat(40), port });
    await machine.sh(`${setup.join("\n")}\nsystemctl enable --now ${TIMER}`);
    const report = await master.report("of 1.0.0", (r) => r.to?.version === "1.0.0", 120_000);
    assert.equal(report.status, "updated", JSON.stringify(report));
    assert.equal((await machine.run(["systemctl", "is-active", "decnet-agent"])).trim(), "active");
    const oneshot = await machine.until("the oneshot's end", async () => {
      const unit = await machine.show(ONESHOT, ["ActiveState", "Result", "ExecMainStatus"]);
      return unit.ActiveState !== "activating" && unit.ExecMainStatus !== "" ? unit : null;
    });
    assert.deepEqual(oneshot, { ActiveState: "inactive", Result: "success", ExecMainStatus: "0" });
  });

  test("the next ticks find nothing new: no report, the oneshot still succeeds", async () => {
    const reports = master.reports.length;
    const first = await machine.show(ONESHOT, ["InvocationID"]);
    await machine.until(
      "two more ticks",
      async () => {
        const { InvocationID } = await machine.show(ONESHOT, ["InvocationID"]);
        return InvocationID !== first.InvocationID;
      },
      30_000,
    );
    const unit = await machine.until("the tick's end", async () => {
      const fields = await machine.show(ONESHOT, ["ActiveState", "Result", "ExecMainStatus"]);
      return fields.ActiveState !== "activating" ? fields : null;
    });
    assert.deepEqual(unit, { ActiveState: "inactive", Result: "success", ExecMainStatus: "0" });
    assert.equal(master.reports.length, reports);
    assert.match(await machine.journal(ONESHOT), /"status":"up_to_date"|Up to date|up to date/);
  });

  test("the timer and the daemon conflict: starting either stops the other", async () => {
    await machine.run([
      "install",
      "-m",
      "0644",
      "/opt/decnet-updater/current/systemd/decnet-updater.service",
      "/etc/systemd/system/",
    ]);
    await machine.run(["systemctl", "daemon-reload"]);
    await machine.run(["systemctl", "start", "decnet-updater.service"]);
    assert.equal((await machine.exec(["systemctl", "is-active", TIMER])).stdout.trim(), "inactive");
    await machine.run(["systemctl", "start", TIMER]);
    // the daemon's stop is queued with the timer's start; the start returns before it ends
    await machine.until(
      "the daemon's stop",
      async () =>
        (await machine.exec(["systemctl", "is-active", "decnet-updater.service"])).stdout.trim() ===
        "inactive",
      30_000,
    );
    assert.equal((await machine.exec(["systemctl", "is-active", TIMER])).stdout.trim(), "active");
  });
});
