import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { renderMetrics, writeMetrics } from "../../src/metrics/textfile.js";
import { emptyState } from "../../src/state/store.js";
import { parseExposition } from "../helpers/prometheus.js";
import { tempDir } from "../helpers/tmp.js";

describe("the metrics textfile", () => {
  test("renders every metric of SPEC section 10 in the exposition format", () => {
    const state = emptyState();
    state.highest_serial = 42;
    state.last_check = {
      at: "2026-11-26T12:00:00.000Z",
      status: "updated",
      error: null,
      manifest_serial: 42,
    };
    state.metrics = {
      updates_total: { updated: 3, rolled_back: 1 },
      last_success_at: "2026-11-26T12:00:00.000Z",
      last_update_duration_s: 12.5,
    };
    const samples = parseExposition(
      renderMetrics({
        state,
        active: { sha: "abc", version: '1.2"3', installed_at: null, venv: null, update_id: null },
        pendingReports: 2,
      }),
    );
    assert.equal(
      samples.get("decnet_updater_last_check_timestamp_seconds"),
      Date.parse("2026-11-26T12:00:00Z") / 1000,
    );
    assert.equal(
      samples.get("decnet_updater_last_success_timestamp_seconds"),
      Date.parse("2026-11-26T12:00:00Z") / 1000,
    );
    assert.equal(samples.get('decnet_updater_updates_total{result="updated"}'), 3);
    assert.equal(samples.get('decnet_updater_updates_total{result="rolled_back"}'), 1);
    assert.equal(samples.get('decnet_updater_updates_total{result="skipped"}'), 0);
    assert.equal(samples.get('decnet_updater_active_release_info{sha="abc",version="1.2\\"3"}'), 1);
    assert.equal(samples.get("decnet_updater_manifest_serial"), 42);
    assert.equal(samples.get("decnet_updater_pending_reports"), 2);
    assert.equal(samples.get("decnet_updater_last_update_duration_seconds"), 12.5);
  });

  test("renders the updater's own lines: running version and slot, trial, self-updates", () => {
    const samples = parseExposition(
      renderMetrics({
        state: emptyState(),
        active: null,
        pendingReports: 0,
        updater: {
          version: "0.2.0",
          activeSha: "5002bbb",
          onTrial: true,
          updatesTotal: { updated: 2, rolled_back: 1 },
        },
      }),
    );
    assert.equal(samples.get('decnet_updater_self_release_info{sha="5002bbb",version="0.2.0"}'), 1);
    assert.equal(samples.get("decnet_updater_self_on_trial"), 1);
    assert.equal(samples.get('decnet_updater_self_updates_total{result="updated"}'), 2);
    assert.equal(samples.get('decnet_updater_self_updates_total{result="rolled_back"}'), 1);
    assert.equal(samples.get('decnet_updater_self_updates_total{result="failed"}'), 0);
  });

  test("is replaced whole, never left half written", async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, "decnet_updater.prom");
    await writeMetrics(path, { state: emptyState(), active: null, pendingReports: 0 });
    const samples = parseExposition(await readFile(path, "utf8"));
    assert.equal(samples.get("decnet_updater_pending_reports"), 0);
    assert.equal(samples.has("decnet_updater_manifest_serial"), false);
  });
});
