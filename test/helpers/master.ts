/**
 * The master side for in-process agent tests: a temp root with a test PKI
 * and a signing key, and a real mTLS server that serves `files` (assign a
 * new map at any time), keeps every POSTed report, and sends `date` as its
 * Date header when set, so a test's fake clock holds for host and master.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeSigner, manifestDoc, release, type Signer, signedFeed } from "./feed.js";
import { startMtlsServer, staticFiles, type TestServer, withReports } from "./mtls-server.js";
import { makePki, type Pki } from "./pki.js";

export interface Master {
  root: string;
  pki: Pki;
  signer: Signer;
  server: TestServer;
  files: Map<string, Buffer>;
  reports: Array<Record<string, unknown>>;
  /** The Date header's time; null: the real clock. */
  date: Date | null;
  close(): Promise<void>;
}

export async function startMaster(prefix: string): Promise<Master> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const pki = makePki(root);
  const signer = await makeSigner(join(root, "key"));
  const reports: Array<Record<string, unknown>> = [];
  const master = {
    root,
    pki,
    signer,
    files: new Map<string, Buffer>(),
    reports,
    date: null,
  } as Omit<Master, "server" | "close"> & { date: Date | null };
  const receiver = withReports((req, res) => {
    if (master.date) res.setHeader("date", master.date.toUTCString());
    staticFiles(master.files)(req, res);
  }, reports);
  const server = await startMtlsServer(pki, receiver.handler);
  return Object.assign(master, {
    server,
    async close() {
      await server.close();
      await rm(root, { recursive: true, force: true });
    },
  });
}

/**
 * The feed the gate, preflight and plan tests start from: 1.0.0 (what the
 * host runs) and 1.1.0, the target, with `target`'s fields. It stays valid
 * 30 days, so a fake clock can walk days ahead.
 */
export function offerUpgrade(master: Master, target: Record<string, unknown> = {}): void {
  master.files = signedFeed(
    master.signer,
    manifestDoc({
      expires: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      releases: [release("1.0.0", "1000000aaaa"), release("1.1.0", "1100000bbbb", target)],
    }),
  );
}
