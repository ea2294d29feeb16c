/** The receiver's config file: every refusal one line naming the file, the key, what was expected and found. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseReceiverConfig } from "../../src/master/config.js";

const FILE = "/etc/decnet/receiver.toml";
const TLS = '[tls]\ncert = "/k/c.crt"\nkey = "/k/c.key"\nclient_ca = "/k/ca.crt"\n';

test("the defaults: mTLS on 0.0.0.0:8443, SQLite in the state dir, cn identity, views on loopback", () => {
  const config = parseReceiverConfig(FILE, TLS);
  assert.deepEqual(config.listen, { host: "0.0.0.0", port: 8443 });
  assert.equal(config.identity, "cn");
  assert.equal(config.staleAfterS, 86400);
  assert.deepEqual(config.store, {
    url: undefined,
    sqlitePath: "/var/lib/decnet-updater-receiver/reports.sqlite",
  });
  assert.deepEqual(config.view, { host: "127.0.0.1", port: 9309 });
  assert.deepEqual(config.trustedProxies, []);
});

test("behind a proxy: plain HTTP on loopback, from the proxy's addresses only", () => {
  const config = parseReceiverConfig(
    FILE,
    '[proxy]\ntrusted = ["127.0.0.1", "::1"]\n[store]\nurl = "postgres://u:p@db/reports"\n[view]\nlisten = ""\n',
  );
  assert.equal(config.tls, null);
  assert.deepEqual(config.listen, { host: "127.0.0.1", port: 8081 });
  assert.deepEqual(config.trustedProxies, ["127.0.0.1", "::1"]);
  assert.equal(config.store.url, "postgres://u:p@db/reports");
  assert.equal(config.view, null);
});

test("behind nginx on a unix socket: no addresses to trust, the socket's permissions decide", () => {
  const config = parseReceiverConfig(
    FILE,
    'listen = "unix:/run/decnet-updater-receiver/receiver.sock"\n',
  );
  assert.deepEqual(config.listen, { path: "/run/decnet-updater-receiver/receiver.sock" });
  assert.equal(config.tls, null);
  assert.deepEqual(config.trustedProxies, []);
});

test("refusals, one line each", () => {
  const cases: Array<[string, string]> = [
    [
      `listen = "unix:/run/r.sock"\n${TLS}`,
      `config ${FILE}: key listen: expected an address and port with [tls] ("unix:" is for behind a proxy), found string "unix:/run/r.sock"`,
    ],
    [
      'listen = "unix:/run/r.sock"\n[proxy]\ntrusted = ["127.0.0.1"]\n',
      `config ${FILE}: key proxy.trusted: expected nothing with listen = "unix:...": the socket's permissions say who may connect, found a list of 1`,
    ],
    [
      'listen = "unix:run/r.sock"\n',
      `config ${FILE}: key listen: expected an absolute socket path like "unix:/run/decnet-updater-receiver/receiver.sock", found string "unix:run/r.sock"`,
    ],
    [
      "",
      `config ${FILE}: key proxy.trusted: expected the proxy's addresses (or a [tls] table: the receiver does mTLS itself), found nothing`,
    ],
    [
      `${TLS}[proxy]\ntrusted = ["127.0.0.1"]\n`,
      `config ${FILE}: key proxy.trusted: expected nothing when [tls] is set (mTLS itself: there is no proxy to trust), found a list of 1`,
    ],
    [
      `identity = "ou"\n${TLS}`,
      `config ${FILE}: key identity: expected "cn" or "dns-san", found string "ou"`,
    ],
    [
      `listen = "8443"\n${TLS}`,
      `config ${FILE}: key listen: expected an address and port like "127.0.0.1:8081", found string "8443"`,
    ],
    [
      `stale = "tomorrow"\n${TLS}`,
      `config ${FILE}: key stale: expected a duration like "1d" or "12h", found string "tomorrow"`,
    ],
    [
      `lsiten = "x"\n${TLS}`,
      `config ${FILE}: key lsiten: expected one of listen, state_dir, identity, stale, header_timeout_s, request_timeout_s, tls, proxy, store, view, found an unknown key`,
    ],
    [
      `${TLS}pass = 1\n`,
      `config ${FILE}: key tls.pass: expected one of cert, key, client_ca, found an unknown key`,
    ],
    [
      '[proxy]\ntrusted = ["nginx.local"]\n',
      `config ${FILE}: key proxy.trusted: expected a list of IP addresses, found a list of 1`,
    ],
    [
      `[store]\nurl = "mysql://x"\n${TLS}`,
      `config ${FILE}: key store.url: expected a "postgres://" URL (absent: SQLite in state_dir), found one of scheme "mysql"`,
    ],
    // a misspelt scheme must not print the password
    [
      `[store]\nurl = "postgress://u:hunter2@db/r"\n${TLS}`,
      `config ${FILE}: key store.url: expected a "postgres://" URL (absent: SQLite in state_dir), found one of scheme "postgress"`,
    ],
    ['[tls]\ncert = "/c"\n', `config ${FILE}: key tls.key: expected a file path, found nothing`],
    [
      `header_timeout_s = 0\n${TLS}`,
      `config ${FILE}: key header_timeout_s: expected a number of seconds > 0, found integer 0`,
    ],
    ["listen = ", `config ${FILE}: not TOML (`],
  ];
  for (const [text, message] of cases)
    assert.throws(
      () => parseReceiverConfig(FILE, text),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, "E_CONFIG");
        if (message.endsWith("(")) assert.ok(error.message.startsWith(message), error.message);
        else assert.equal(error.message, message);
        assert.ok(!error.message.includes("\n"));
        return true;
      },
      text,
    );
});

test("a store URL in a message or a log line has no password", async () => {
  const { redactedUrl } = await import("../../src/master/store/redact.js");
  assert.equal(redactedUrl("postgres://u:hunter2@db:5432/r"), "postgres://u:***@db:5432/r");
  assert.equal(
    redactedUrl("postgres://db/r?password=hunter2&sslmode=require"),
    "postgres://db/r?password=***&sslmode=require",
  );
  assert.equal(redactedUrl("postgres://u:hunter2@[db"), "postgres://(an unparsable URL)");
});

test("config/receiver.example.toml is valid and says what the defaults are", async () => {
  const { readFile } = await import("node:fs/promises");
  const { REPO } = await import("../helpers/cli.js");
  const { join } = await import("node:path");
  const file = join(REPO, "config/receiver.example.toml");
  const config = parseReceiverConfig(file, await readFile(file, "utf8"));
  assert.deepEqual(config.listen, { path: "/run/decnet-updater-receiver/receiver.sock" });
  assert.equal(config.stateDir, "/var/lib/decnet-updater-receiver");
  assert.equal(config.identity, "cn");
  assert.equal(config.staleAfterS, 86400);
  assert.deepEqual([config.headerTimeoutMs, config.requestTimeoutMs], [10_000, 30_000]);
  assert.deepEqual(config.view, { host: "127.0.0.1", port: 9309 });
  // every commented-out key, uncommented, still parses (none is misspelt)
  const all = (await readFile(file, "utf8"))
    .split("\n")
    .map((line) => line.replace(/^# (\[?[a-z_]+\]?( =|$))/, "$1"))
    .join("\n")
    .replace(/^listen = "unix:.*$/m, 'listen = "0.0.0.0:8443"')
    .replace(/^\[proxy\]\ntrusted = .*$/m, "");
  assert.ok(parseReceiverConfig(file, all).tls, "the [tls] table uncommented");
});
