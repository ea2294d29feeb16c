/**
 * The whole loop of issue 18 on loopback, twice: with the receiver doing
 * mTLS itself, and behind the shipped nginx config. The master publishes a
 * release at 10 %, the hosts in that share install it and report, `fleet`
 * shows them, `rollout --to 50` advances, a bad release rolls back on its
 * canary, and `rollout --to 50` refuses it with the figures, leaving the
 * feed as it was. Every command is the real CLI in a subprocess; the hosts
 * run real `update` cycles (venv, pip, the fixture agent, the probe).
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { rolloutBucket } from "../../src/feed/select.js";
import { runCli } from "../helpers/cli.js";
import { type Host, killAgent, writeHostConfig } from "../helpers/e2e.js";
import { installActive, makeSigner, type Signer } from "../helpers/feed.js";
import { startMtlsServer, staticDir, type TestServer } from "../helpers/mtls-server.js";
import {
  findNginx,
  NGINX_SKIP,
  nginxServerBlock,
  type RunningNginx,
  startNginx,
} from "../helpers/nginx.js";
import { makePki, type Pki } from "../helpers/pki.js";
import { PYTHON_SKIP } from "../helpers/python.js";
import { receiverToml, type SpawnedReceiver, spawnReceiver } from "../helpers/receiver.js";
import { buildReleaseTarball, freePort } from "../helpers/release.js";

const BASE = { version: "0.9.0", sha: "5050505050505050505050505050505050505050" };
const GOOD = { version: "1.0.0", sha: "6060606060606060606060606060606060606060" };
const BAD = {
  version: "1.1.0",
  sha: "7070707070707070707070707070707070707070",
  health: "broken" as const,
};

/** Host ids with the buckets the story needs: a canary of both releases, one of the 50 % wave, one left out. */
function pickHosts(): { canary: string; wave: string; rest: string } {
  const found: Partial<Record<"canary" | "wave" | "rest", string>> = {};
  for (let n = 0; n < 100_000 && Object.keys(found).length < 3; n++) {
    const id = `worker-${n}`;
    const [g, b] = [rolloutBucket(id, GOOD.sha), rolloutBucket(id, BAD.sha)];
    if (!found.canary && g < 10 && b < 10) found.canary = id;
    else if (!found.wave && g >= 10 && g < 50 && b >= 10) found.wave = id;
    else if (!found.rest && g >= 50 && b >= 10) found.rest = id;
  }
  return found as { canary: string; wave: string; rest: string };
}

const nginxTool = PYTHON_SKIP ? undefined : findNginx();

function loop(mode: "mtls" | "nginx", skip: string | false) {
  describe(`publish, receive, see, advance: ${mode === "mtls" ? "the receiver does mTLS itself" : "behind nginx"}`, {
    skip,
  }, () => {
    let root: string;
    let pki: Pki;
    let signer: Signer;
    let feedDir: string;
    let feedServer: TestServer | undefined;
    let nginx: RunningNginx | undefined;
    let receiver: SpawnedReceiver;
    let receiverConfig: string;
    const hosts: Record<string, Host> = {};
    const ids = pickHosts();

    before(async () => {
      root = await mkdtemp(join(tmpdir(), `du-master-${mode}-`));
      pki = makePki(root);
      signer = await makeSigner(join(root, "keys"));
      feedDir = join(root, "srv/decnet-feed");
      await mkdir(feedDir, { recursive: true });
      receiverConfig = join(root, "receiver.toml");
      let feedUrl: string;
      let reportUrl: string;
      if (mode === "mtls") {
        await writeFile(receiverConfig, receiverToml(root, pki, { mode: "mtls" }));
        receiver = await spawnReceiver(receiverConfig);
        feedServer = await startMtlsServer(pki, staticDir(feedDir));
        feedUrl = `${feedServer.url}/`;
        reportUrl = `${receiver.url}/reports`;
      } else {
        // on a unix socket, as the shipped nginx config and decnet-updater-receiver.socket have it
        const socket = join(root, "receiver.sock");
        await writeFile(
          receiverConfig,
          receiverToml(root, pki, { mode: "proxy", listen: `unix:${socket}`, noTrusted: true }),
        );
        receiver = await spawnReceiver(receiverConfig);
        const port = await freePort();
        const block = await nginxServerBlock({
          port,
          serverCert: pki.server.cert,
          serverKey: pki.server.key,
          clientCa: pki.ca,
          feedRoot: feedDir,
          reportReceiverPort: socket,
        });
        nginx = await startNginx(
          nginxTool as NonNullable<typeof nginxTool>,
          join(root, "nginx"),
          block,
          port,
        );
        feedUrl = `https://127.0.0.1:${port}/`;
        reportUrl = `https://127.0.0.1:${port}/reports`;
      }
      for (const id of Object.values(ids)) {
        hosts[id] = await writeHostConfig(join(root, id), pki, signer, feedUrl, {
          hostId: id,
          client: pki.issue(id, { clientAuth: true }),
          reportUrl,
        });
        // every host runs an older release already: rollout holds back only a host that has one
        await installActive((hosts[id] as Host).installDir, BASE.sha, BASE.version);
      }
    });
    after(async () => {
      for (const host of Object.values(hosts)) await killAgent(host.installDir);
      await receiver?.stop();
      await nginx?.stop();
      await feedServer?.close();
      await rm(root, { recursive: true, force: true });
    });

    const update = async (id: string) =>
      runCli(["update", "--config", (hosts[id] as Host).configFile, "--json"]);
    const fleet = async () => {
      const run = await runCli(["fleet", "--json", "--config", receiverConfig]);
      assert.equal(run.code, 0, run.stderr);
      return JSON.parse(run.stdout) as {
        hosts: number;
        releases: Array<{
          version: string;
          hosts_on: number;
          updated: number;
          rolled_back: number;
          attempts: number;
          failure_rate: number | null;
        }>;
        failing: {
          count: number;
          hosts: Array<{ host_id: string; status: string; error: string }>;
        };
      };
    };
    const release = async (version: string) =>
      (await fleet()).releases.find((r) => r.version === version);
    const publish = async (spec: typeof GOOD & { health?: "broken" }, percent: number) => {
      const tarball = await buildReleaseTarball(join(root, "build"), spec);
      const run = await runCli([
        "publish",
        "--feed",
        feedDir,
        "--tarball",
        tarball,
        "--version",
        spec.version,
        "--sha",
        spec.sha,
        "--key",
        signer.keyFile,
        "--rollout",
        String(percent),
        "--latest",
      ]);
      assert.equal(run.code, 0, run.stderr);
    };
    const rollout = (args: string[]) =>
      runCli([
        "rollout",
        "--config",
        receiverConfig,
        "--feed",
        feedDir,
        "--key",
        signer.keyFile,
        "--min-hosts",
        "1",
        ...args,
      ]);

    test("publish at 10 %: the canary installs and reports; fleet shows every host", async () => {
      await publish(GOOD, 10);
      const canary = await update(ids.canary);
      assert.equal(canary.code, 0, canary.stderr);
      assert.equal(JSON.parse(canary.stdout).status, "updated");
      for (const id of [ids.wave, ids.rest]) {
        const run = await update(id);
        assert.equal(run.code, 0, run.stderr);
        assert.notEqual(JSON.parse(run.stdout).status, "updated", `${id} is outside the 10 %`);
      }
      const seen = await fleet();
      assert.equal(seen.hosts, 3, "the two left out said they are alive (heartbeat)");
      const good = seen.releases.find((r) => r.version === GOOD.version);
      assert.equal(good?.hosts_on, 1);
      assert.equal(seen.releases.find((r) => r.version === BASE.version)?.hosts_on, 2);
      assert.equal(good?.updated, 1);
      assert.equal(good?.failure_rate, 0);
      const text = await runCli(["fleet", "--config", receiverConfig]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(
        text.stdout,
        /^RELEASE\s+SHA\s+COMPONENT\s+ON\s+UPDATED\s+ROLLED_BACK\s+FAILED\s+SKIPPED\s+FAILURE$/m,
      );
      assert.match(text.stdout, /^1\.0\.0\s+606060606060\s+decnet\s+1\s+1\s+0\s+0\s+0\s+0\.0%$/m);
    });

    test("rollout --to 50 advances a healthy release, and the next hosts take it", async () => {
      const run = await rollout(["--version", GOOD.version, "--to", "50"]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(
        run.stdout,
        /^rollout 1\.0\.0: 10% -> 50% as serial \d+ \(1 attempts, failure rate 0\.0%\)\n$/,
      );
      const wave = await update(ids.wave);
      assert.equal(JSON.parse(wave.stdout).status, "updated", wave.stderr);
      assert.equal((await release(GOOD.version))?.hosts_on, 2);
    });

    test("a bad release rolls back on its canary, and rollout --to 50 refuses it with the figures", async () => {
      await publish(BAD, 10);
      const canary = await update(ids.canary);
      assert.equal(canary.code, 2, canary.stderr);
      assert.equal(JSON.parse(canary.stdout).status, "rolled_back");
      const bad = await release(BAD.version);
      assert.equal(bad?.rolled_back, 1);
      assert.equal(bad?.failure_rate, 1);
      const failing = (await fleet()).failing;
      assert.deepEqual(
        failing.hosts.map((h) => [h.host_id, h.status]),
        [[ids.canary, "rolled_back"]],
      );
      assert.ok(failing.hosts[0]?.error, "the error line is shown");

      const manifest = await readFile(join(feedDir, "manifest.json"));
      const signature = await readFile(join(feedDir, "manifest.json.minisig"));
      const refused = await rollout(["--version", BAD.version, "--to", "50"]);
      assert.equal(refused.code, 1);
      assert.equal(
        refused.stderr,
        "decnet-updater: rollout: 1.1.0 stays at 10%, not 50%: failure rate 100.0% is above --max-failure 2.0%: 1 host(s) tried it: 0 updated, 1 rolled back, 0 rollback failed, 0 failed (0 skipped)\n",
      );
      assert.deepEqual(
        await readFile(join(feedDir, "manifest.json")),
        manifest,
        "the feed is as it was",
      );
      assert.deepEqual(await readFile(join(feedDir, "manifest.json.minisig")), signature);

      const halted = await rollout(["--halt", BAD.version]);
      assert.equal(halted.code, 0, halted.stderr);
      assert.match(halted.stdout, /^rollout 1\.1\.0: 10% -> 0% as serial \d+/);
      const doc = JSON.parse(await readFile(join(feedDir, "manifest.json"), "utf8"));
      assert.equal(
        doc.releases.find((r: { version: string }) => r.version === BAD.version).rollout.percent,
        0,
      );
    });
  });
}

loop("mtls", PYTHON_SKIP);
loop("nginx", PYTHON_SKIP || (nginxTool ? false : NGINX_SKIP));
