import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import { runUpdate } from "../../src/cycle/run-update.js";
import { agentDeps } from "../helpers/deps.js";
import { makeSigner, manifestDoc, signedFeed, writeAgentConfig } from "../helpers/feed.js";
import { startMtlsServer, staticFiles, withReports } from "../helpers/mtls-server.js";
import { makePki } from "../helpers/pki.js";
import { snapshot } from "../helpers/snapshot.js";
import { tempDir } from "../helpers/tmp.js";

describe("update with a corrupt state.json", () => {
  test("moves it aside, reports it once, refuses every run, installs nothing", async (t) => {
    const dir = await tempDir(t);
    const pki = makePki(dir);
    const signer = await makeSigner(join(dir, "keys"));
    const reports: Array<{ status: string; error: string }> = [];
    const feed = staticFiles(signedFeed(signer, manifestDoc()));
    const server = await startMtlsServer(pki, withReports(feed, reports).handler);
    t.after(() => server.close());
    const dirs = await writeAgentConfig(dir, pki, signer, `${server.url}/feed`, {
      feed: { report_url: `${server.url}/reports` } as never,
    });
    await mkdir(dirs.stateDir, { recursive: true });
    await writeFile(join(dirs.stateDir, "state.json"), "{ not json");
    const config = await loadConfig(dirs.configFile);

    await assert.rejects(runUpdate(config, agentDeps(), { force: false }), {
      code: "E_STATE",
      message: /corrupt \(not valid JSON\), moved to /,
    });
    await assert.rejects(runUpdate(config, agentDeps(), { force: false }), {
      code: "E_STATE",
      message: /found corrupt/,
    });
    assert.equal(reports.length, 1);
    assert.equal(reports[0]?.status, "failed");
    assert.match(
      reports[0]?.error ?? "",
      /^state .*state\.json: corrupt \(not valid JSON\), moved to /,
    );
    assert.deepEqual(await snapshot(dirs.installDir), {});
    assert.equal(
      server.requests.filter((r) => r.path.endsWith("manifest.json")).length,
      0,
      "no manifest was even fetched",
    );
  });
});
