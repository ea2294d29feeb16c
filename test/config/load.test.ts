import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import { SCHEMA } from "../../src/config/schema.js";
import { tempDir } from "../helpers/tmp.js";

const PUB = resolve(import.meta.dirname, "../fixtures/minisign/trusted.pub");
const OTHER_PUB = resolve(import.meta.dirname, "../fixtures/minisign/other.pub");
const KEY_LINE = (await readFile(PUB, "utf8")).split("\n")[1] as string;

const MINIMAL = `
[feed]
url = "https://master.example:8443/feed"
ca = "pki/ca.crt"
cert = "pki/host.crt"
key = "pki/host.key"
trusted_keys = ["${KEY_LINE}"]
`;

async function configDir(
  t: Parameters<typeof tempDir>[0],
  main: string,
  dropIns: Record<string, string> = {},
) {
  const dir = await tempDir(t);
  const file = join(dir, "updater.toml");
  await writeFile(file, main);
  if (Object.keys(dropIns).length) {
    await mkdir(`${file}.d`);
    for (const [name, text] of Object.entries(dropIns))
      await writeFile(join(`${file}.d`, name), text);
  }
  return { dir, file };
}

describe("configuration loading", () => {
  test("a minimal file gets every default of SPEC section 3", async (t) => {
    const { dir, file } = await configDir(t, MINIMAL);
    const config = await loadConfig(file, { defaultHostId: "host-a" });
    assert.equal(config.host_id, "host-a");
    assert.equal(config.install_dir, "/opt/decnet");
    assert.equal(config.state_dir, "/var/lib/decnet-updater");
    assert.equal(config.feed.channel, "stable");
    assert.equal(config.feed.timeout_s, 30);
    assert.equal(config.feed.max_manifest_bytes, 1_048_576);
    assert.equal(config.schedule.cron, "*/15 * * * *");
    assert.equal(config.schedule.splay_s, 900); // SPEC says 300; docs/design.md says why 900
    assert.equal(config.pin.hold, false);
    assert.deepEqual(config.install.command, [
      "{venv}/bin/python",
      "-m",
      "pip",
      "install",
      "{release}",
    ]);
    assert.deepEqual(config.restart.units, ["decnet-agent.service"]);
    assert.equal(config.restart.optional_units.length, 5);
    assert.equal(config.probe.attempts, 20);
    assert.equal(config.retry.failed_release_s, null);
    assert.equal(config.limits.max_entries, 200_000);
    assert.equal(config.log.level, "info");
    // relative paths resolve against the file that set them
    assert.equal(config.feed.ca, join(dir, "pki/ca.crt"));
    assert.equal(config.feed.trusted_keys.length, 1);
    // self-update (SPEC section 12): off, its own install dir, the feed's keys
    assert.equal(config.self_update.enabled, false);
    assert.equal(config.self_update.feed_url, undefined);
    assert.equal(config.self_update.install_dir, "/opt/decnet-updater");
    assert.deepEqual(config.self_update.trusted_keys, config.feed.trusted_keys);
  });

  test("self_update takes its own feed, install dir and keys", async (t) => {
    const { dir, file } = await configDir(
      t,
      `${MINIMAL}\n[self_update]\nenabled = true\nfeed_url = "https://master.example:8443/updater/"\ninstall_dir = "updater"\ntrusted_keys = ["keys/updater.pub"]\n`,
    );
    await mkdir(join(dir, "keys"));
    await writeFile(join(dir, "keys/updater.pub"), await readFile(OTHER_PUB));
    const config = await loadConfig(file);
    assert.equal(config.self_update.enabled, true);
    assert.equal(config.self_update.feed_url, "https://master.example:8443/updater/");
    assert.equal(config.self_update.install_dir, join(dir, "updater"));
    // its own key, not the feed's
    assert.equal(config.self_update.trusted_keys.length, 1);
    assert.notEqual(config.self_update.trusted_keys[0]?.id, config.feed.trusted_keys[0]?.id);
  });

  test("every schema key has a doc line and an expectation for error messages", () => {
    for (const [key, spec] of Object.entries(SCHEMA)) {
      assert.ok(spec.doc.length > 10, key);
      assert.ok(spec.expected.length > 3, key);
    }
  });

  test("drop-ins merge in lexical order, key by key inside a table", async (t) => {
    const { dir, file } = await configDir(t, `${MINIMAL}\n[pin]\nversion = "~1.2"\nhold = true\n`, {
      "90-pin.toml": '[pin]\nversion = "1.3.0"\n',
      "10-first.toml": '[pin]\nversion = "1.1.0"\n[probe]\nca = "agent/ca.crt"\n',
      "50-ignored.txt": "not = toml = at all",
    });
    const config = await loadConfig(file);
    assert.equal(config.pin.version, "1.3.0");
    assert.equal(config.pin.hold, true);
    assert.equal(config.probe.ca, join(`${file}.d`, "agent/ca.crt"));
    assert.deepEqual(config.files, [
      file,
      join(`${dir}/updater.toml.d`, "10-first.toml"),
      join(`${dir}/updater.toml.d`, "90-pin.toml"),
    ]);
  });

  test("trusted keys may be .pub paths relative to the file", async (t) => {
    const { dir, file } = await configDir(t, MINIMAL.replace(`"${KEY_LINE}"`, '"keys/master.pub"'));
    await mkdir(join(dir, "keys"));
    await writeFile(join(dir, "keys/master.pub"), await readFile(PUB));
    const config = await loadConfig(file);
    assert.equal(config.feed.trusted_keys[0]?.id.length, 16);
  });

  const failures: Array<[string, string, Record<string, string>, (file: string) => string]> = [
    [
      "an unknown key",
      `${MINIMAL}\n[probe]\nurll = "x"\n`,
      {},
      (f) =>
        `config ${f}: key probe.urll: expected one of [probe] url, ca, cert, key, attempts, backoff_s, soak_s, identity, found an unknown key`,
    ],
    [
      "an unknown section",
      `${MINIMAL}\n[bogus]\nx = 1\n`,
      {},
      (f) => `config ${f}: key bogus.x: expected a known section, found an unknown key`,
    ],
    [
      "a wrong type",
      `${MINIMAL}\n[schedule]\nsplay_s = "5m"\n`,
      {},
      (f) =>
        `config ${f}: key schedule.splay_s: expected a number of seconds >= 0, found string "5m"`,
    ],
    [
      "a missing required key",
      '[feed]\nurl = "http://x/"\n',
      {},
      (f) =>
        `config ${f}: key feed.trusted_keys: expected a non-empty list of minisign public keys (base64 line or .pub path), found nothing (the key is required)`,
    ],
    [
      "an invalid cron expression",
      `${MINIMAL}\n[schedule]\ncron = "61 * * * *"\n`,
      {},
      (f) =>
        `config ${f}: key schedule.cron: expected a node-cron expression of 5 or 6 fields, found string "61 * * * *"`,
    ],
    [
      "an invalid semver range",
      `${MINIMAL}\n[pin]\nversion = "one.two"\n`,
      {},
      (f) =>
        `config ${f}: key pin.version: expected an exact version or semver range ("1.2.1", "~1.2", ">=1.2 <2"), found string "one.two"`,
    ],
    [
      "a bad value in a drop-in names the drop-in",
      MINIMAL,
      { "90-pin.toml": "[pin]\nhold = 1\n" },
      (f) => `config ${f}.d/90-pin.toml: key pin.hold: expected true or false, found integer 1`,
    ],
    [
      "https without a client certificate",
      `[feed]\nurl = "https://m/"\nca = "ca"\ntrusted_keys = ["${KEY_LINE}"]\n`,
      {},
      (f) =>
        `config ${f}: key feed.cert: expected a PEM file path (required when feed.url is https), found nothing`,
    ],
    [
      "an unreadable trusted key file",
      MINIMAL.replace(`"${KEY_LINE}"`, '"missing.pub"'),
      {},
      (f) =>
        `config ${f}: key feed.trusted_keys[0]: expected a minisign public key or a readable .pub file, found ${f.replace("updater.toml", "missing.pub")} (ENOENT)`,
    ],
    [
      "a wrong enum value",
      `${MINIMAL}\n[restart]\nmode = "docker"\n`,
      {},
      (f) =>
        `config ${f}: key restart.mode: expected "systemd", "process" or "auto", found string "docker"`,
    ],
    [
      "a bad duration",
      `${MINIMAL}\n[retry]\nfailed_release = "1 day"\n`,
      {},
      (f) =>
        `config ${f}: key retry.failed_release: expected "never" or a duration like "24h", found string "1 day"`,
    ],
    [
      "self-update enabled without its feed",
      `${MINIMAL}\n[self_update]\nenabled = true\n`,
      {},
      (f) =>
        `config ${f}: key self_update.feed_url: expected an http(s) URL (required when self_update.enabled is true), found nothing`,
    ],
    [
      "an unreadable self-update key file",
      `${MINIMAL}\n[self_update]\ntrusted_keys = ["/nonexistent/updater.pub"]\n`,
      {},
      (f) =>
        `config ${f}: key self_update.trusted_keys[0]: expected a minisign public key or a readable .pub file, found /nonexistent/updater.pub (ENOENT)`,
    ],
    [
      "an unknown time zone",
      `${MINIMAL}\n[schedule]\ntimezone = "Mars/Olympus"\n`,
      {},
      (f) =>
        `config ${f}: key schedule.timezone: expected an IANA time zone, found string "Mars/Olympus"`,
    ],
    // the schema's own checks keep zod's meaning: finite numbers, safe integers, no empty argv item
    [
      "an infinite number",
      `${MINIMAL}\n[probe]\nbackoff_s = inf\n`,
      {},
      (f) =>
        `config ${f}: key probe.backoff_s: expected a number of seconds > 0, found number Infinity`,
    ],
    [
      "not a number",
      `${MINIMAL}\n[probe]\nsoak_s = nan\n`,
      {},
      (f) => `config ${f}: key probe.soak_s: expected a number of seconds >= 0, found number NaN`,
    ],
    [
      "a fraction where an integer belongs",
      `${MINIMAL}\n[probe]\nattempts = 2.5\n`,
      {},
      (f) => `config ${f}: key probe.attempts: expected an integer > 0, found number 2.5`,
    ],
    [
      "an empty argv item",
      `${MINIMAL}\n[install]\ncommand = ["", "x"]\n`,
      {},
      (f) => `config ${f}: key install.command: expected a non-empty argv list, found a list of 2`,
    ],
  ];
  for (const [name, main, dropIns, message] of failures) {
    test(`refuses ${name} with one line naming file, key, expected and found`, async (t) => {
      const { file } = await configDir(t, main, dropIns);
      await assert.rejects(loadConfig(file), (error: Error & { code?: string }) => {
        assert.equal(error.code, "E_CONFIG");
        assert.equal(error.message, message(file));
        assert.ok(!error.message.includes("\n"));
        return true;
      });
    });
  }

  test("refuses a file that is not TOML, with the line", async (t) => {
    const { file } = await configDir(t, "[feed\nurl = 1\n");
    await assert.rejects(loadConfig(file), (error: Error) => {
      assert.match(
        error.message,
        new RegExp(
          `^config ${file}: not valid TOML at line 1, column \\d+: illegal character in key$`,
        ),
      );
      assert.ok(!error.message.includes("\n"));
      return true;
    });
  });

  test("refuses a missing file", async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(loadConfig(join(dir, "nope.toml")), {
      message: `config ${join(dir, "nope.toml")}: cannot read the file (ENOENT)`,
    });
  });
});
