/**
 * A second client in the same process resumes the TLS session of the first
 * (the daemon's next check), and never across identities.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { TLSSocket } from "node:tls";
import { boundedGet } from "../../src/http/get.js";
import { createHttpClient } from "../../src/http/tls.js";
import { startMtlsServer, staticFiles, type TestServer } from "../helpers/mtls-server.js";
import { type CertFiles, makePki, type Pki } from "../helpers/pki.js";

let root: string;
let pki: Pki;
let server: TestServer;
/** For each TLS connection the server accepted: was it a resumed session? */
const resumed: boolean[] = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), "du-resume-"));
  pki = makePki(root);
  server = await startMtlsServer(pki, staticFiles(new Map([["/m", Buffer.from("manifest")]])));
  server.server.on("secureConnection", (socket: TLSSocket) =>
    resumed.push(socket.isSessionReused()),
  );
});
after(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

async function fetchOnce(cert: CertFiles): Promise<void> {
  const client = await createHttpClient(
    { ca: pki.ca, cert: cert.cert, key: cert.key, keyPrefix: "feed" },
    { timeoutMs: 2000 },
  );
  try {
    const result = await boundedGet(`${server.url}/m`, {
      client,
      maxBytes: 1024,
      deadlineMs: 5000,
      what: "manifest",
    });
    assert.equal(result.body?.toString(), "manifest");
  } finally {
    await client.close();
  }
}

test("the next client with the same identity resumes the session; another identity does not", async () => {
  const other = pki.issue("other-host", { clientAuth: true });
  await fetchOnce(pki.client);
  await fetchOnce(pki.client);
  await fetchOnce(pki.client);
  await fetchOnce(other);
  assert.deepEqual(resumed, [false, true, true, false]);
});
