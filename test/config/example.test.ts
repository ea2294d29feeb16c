import assert from "node:assert/strict";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { renderExample } from "../../scripts/gen-config-example.js";
import { loadConfig } from "../../src/config/load.js";
import { SCHEMA } from "../../src/config/schema.js";
import { tempDir } from "../helpers/tmp.js";

const REPO = resolve(import.meta.dirname, "../..");
const PUB = resolve(REPO, "test/fixtures/minisign/trusted.pub");

describe("config/updater.example.toml", () => {
  test("is what the schema renders (run `npm run gen:config` after changing the schema)", async () => {
    assert.equal(
      await readFile(join(REPO, "config/updater.example.toml"), "utf8"),
      renderExample(),
    );
  });

  test("mentions every key of the schema", async () => {
    const text = await readFile(join(REPO, "config/updater.example.toml"), "utf8");
    for (const key of Object.keys(SCHEMA)) {
      const name = key.slice(key.lastIndexOf(".") + 1);
      assert.match(text, new RegExp(`^(# )?${name} = `, "m"), key);
    }
  });

  test("loads as written, with the drop-in examples merged on top", async (t) => {
    const dir = await tempDir(t);
    const main = join(dir, "updater.toml");
    const text = await readFile(join(REPO, "config/updater.example.toml"), "utf8");
    await writeFile(main, text.replace("/etc/decnet/updater/master.pub", PUB));
    await mkdir(`${main}.d`);
    await copyFile(
      join(REPO, "config/updater.toml.d/90-pin.example.toml"),
      join(`${main}.d`, "90-pin.toml"),
    );
    await copyFile(
      join(REPO, "config/updater.toml.d/80-maintenance.example.toml"),
      join(`${main}.d`, "80-maintenance.toml"),
    );
    const config = await loadConfig(main);
    assert.equal(config.feed.url, "https://master.decnet.example:8443/feed/");
    assert.equal(config.pin.version, "~1.2");
    assert.equal(config.pin.hold, false);
    assert.deepEqual(
      config.schedule.windows?.map((w) => w.text),
      ["Sat 02:00-04:00", "Sun 02:00-04:00"],
    );
    assert.equal(config.schedule.timezone, "Europe/Berlin");
    assert.equal(config.pin.min_age_s, 3 * 86_400);
    assert.equal(config.limits.max_updates_per_day, 2);
  });
});
