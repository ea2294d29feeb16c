/**
 * A cycle that finds nothing new: one conditional GET of manifest.json
 * answered 304, no signature check, no download. CPU per cycle comes from
 * the daemon's own cycle run in a child process (bench/drivers/
 * idle-cycles.mjs, on the built program); bytes on the wire from the feed server's TCP sockets
 * (TLS handshake, request and answer; IP and TCP headers not counted).
 *
 * Baselines, same run: the transport alone (a fresh mTLS client and the
 * same conditional GET, in the same child process) for CPU, and curl
 * making the same conditional request for bytes.
 */
import { spawn } from "node:child_process";
import { symlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { installActive } from "../test/helpers/feed.js";
import { tarGz } from "../test/helpers/tarball.js";
import { runMeasured } from "./lib/measure.js";
import { makeWorld, publish, writeBenchHost } from "./lib/world.js";

export interface IdleCycleResult {
  cycles: number;
  cpu_ms: number;
  wall_ms: number;
  wire_bytes: number;
  transport_cpu_ms: number;
  curl_wire_bytes: number;
  /** Requests the feed answered during the measured cycles, by status. */
  statuses: Record<string, number>;
}

const DRIVER = resolve(import.meta.dirname, "drivers/idle-cycles.mjs");
const SHA = "1000000aaaa1000000aaaa1000000aaaa1000000";

export async function benchIdleCycle(cycles: number): Promise<IdleCycleResult> {
  const world = await makeWorld("du-bench-idle-");
  try {
    const tarball = join(world.root, "tiny.tar.gz");
    await (await import("node:fs/promises")).writeFile(
      tarball,
      tarGz([{ path: "README", body: "x" }]),
    );
    await publish(world, tarball, "1.0.0", SHA);
    const host = await writeBenchHost(world, "host");
    await installActive(host.installDir, SHA, "1.0.0");
    await symlink("releases/active", join(host.installDir, "current"));

    const child = spawn(
      "node",
      [
        ...(process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean),
        DRIVER,
        host.configFile,
        String(cycles),
      ],
      {
        stdio: ["pipe", "pipe", "inherit"],
      },
    );
    const marks = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const settle = () => new Promise((r) => setTimeout(r, 200)); // let closed sockets report
    const next = async () => {
      const line = (await marks.next()).value as string;
      await settle();
      return line;
    };
    await next(); // "cycles": primed and warmed up
    const bytesBefore = world.feed.wireBytes();
    const statusesBefore = new Map(world.feed.statuses);
    child.stdin.write("\n");
    await next(); // "transport": the measured cycles are done
    const wire = world.feed.wireBytes() - bytesBefore;
    const statuses: Record<string, number> = {};
    for (const [code, n] of world.feed.statuses) {
      const delta = n - (statusesBefore.get(code) ?? 0);
      if (delta) statuses[code] = delta;
    }
    child.stdin.write("\n");
    const figures = JSON.parse(await next()) as {
      cycle: { cpu_ms: number; wall_ms: number };
      transport: { cpu_ms: number };
    };
    child.stdin.end();
    await new Promise((r) => child.once("exit", r));

    // curl: the same conditional request, five times
    const etag = JSON.parse(
      await (await import("node:fs/promises")).readFile(join(host.stateDir, "state.json"), "utf8"),
    ).etag as string;
    const { pki } = world;
    const curlBefore = world.feed.wireBytes();
    for (let i = 0; i < 5; i++) {
      const curl = await runMeasured([
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "--cacert",
        pki.ca,
        "--cert",
        pki.client.cert,
        "--key",
        pki.client.key,
        "-H",
        `If-None-Match: ${etag}`,
        `${world.feed.url}/manifest.json`,
      ]);
      if (curl.code !== 0) throw new Error(`curl: ${curl.stderr}`);
    }
    await settle();
    return {
      cycles,
      cpu_ms: figures.cycle.cpu_ms,
      wall_ms: figures.cycle.wall_ms,
      wire_bytes: Math.round(wire / cycles),
      transport_cpu_ms: figures.transport.cpu_ms,
      curl_wire_bytes: Math.round((world.feed.wireBytes() - curlBefore) / 5),
      statuses,
    };
  } finally {
    await world.close();
  }
}

if (process.argv[1]?.endsWith("idle-cycle.ts")) {
  console.log(JSON.stringify(await benchIdleCycle(Number(process.argv[2] ?? 50)), null, 2));
}
