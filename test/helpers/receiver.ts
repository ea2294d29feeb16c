/**
 * The master's receiver for tests: the real `startReceiver` with a real
 * config file, on loopback port 0, its log lines captured; and a client
 * that POSTs as a host does (its own certificate, one connection each).
 */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createLogger } from "../../src/log.js";
import { loadReceiverConfig } from "../../src/master/config.js";
import { type RunningReceiver, startReceiver } from "../../src/master/receiver.js";
import type { CertFiles, Pki } from "./pki.js";

export interface TestReceiver extends RunningReceiver {
  logs: Array<Record<string, unknown>>;
  configFile: string;
}

export function receiverToml(
  dir: string,
  pki: Pki,
  options: {
    mode: "mtls" | "proxy";
    identity?: string;
    storeUrl?: string;
    extra?: string;
    /** Behind a proxy on a unix socket: no proxy.trusted. */
    noTrusted?: boolean;
    /** The fleet's listener (default 127.0.0.1, port 0). */
    listen?: string;
    /** The views' listener (default 127.0.0.1, port 0). */
    viewListen?: string;
  },
): string {
  return [
    `listen = "${options.listen ?? "127.0.0.1:0"}"`,
    `state_dir = "${join(dir, "state")}"`,
    `identity = "${options.identity ?? "cn"}"`,
    options.extra ?? "",
    ...(options.mode === "mtls"
      ? [
          "[tls]",
          `cert = "${pki.server.cert}"`,
          `key = "${pki.server.key}"`,
          `client_ca = "${pki.ca}"`,
        ]
      : options.noTrusted
        ? []
        : ["[proxy]", `trusted = ["127.0.0.1"]`]),
    "[view]",
    `listen = "${options.viewListen ?? "127.0.0.1:0"}"`,
    ...(options.storeUrl ? ["[store]", `url = "${options.storeUrl}"`] : []),
  ].join("\n");
}

export async function startTestReceiver(
  dir: string,
  pki: Pki,
  options: Parameters<typeof receiverToml>[2],
): Promise<TestReceiver> {
  const configFile = join(dir, "receiver.toml");
  await writeFile(configFile, receiverToml(dir, pki, options));
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  const receiver = await startReceiver(
    await loadReceiverConfig(configFile),
    createLogger("info", sink),
  );
  return Object.assign(receiver, { logs, configFile });
}

export interface Answer {
  status: number;
  text: string;
}

/** One POST on its own connection, as one host does. */
export function postReport(
  url: string,
  body: string | Buffer,
  options: {
    client?: CertFiles;
    ca?: string;
    headers?: Record<string, string>;
    localAddress?: string;
    /** POST over this unix socket instead (url is then only a placeholder). */
    socketPath?: string;
  } = {},
): Promise<Answer> {
  const target = new URL("/reports", url);
  return new Promise((resolve, reject) => {
    const common = {
      method: "POST",
      host: target.hostname,
      port: target.port,
      path: target.pathname,
      agent: false as const,
      headers: { "content-type": "application/json", ...(options.headers ?? {}) },
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      ...(options.socketPath ? { socketPath: options.socketPath } : {}),
    };
    const onResponse = (response: import("node:http").IncomingMessage) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (c) => {
        text += c;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, text }));
    };
    const req =
      target.protocol === "https:"
        ? httpsRequest(
            {
              ...common,
              ca: options.ca ? readFileSync(options.ca) : undefined,
              ...(options.client
                ? { cert: readFileSync(options.client.cert), key: readFileSync(options.client.key) }
                : {}),
            },
            onResponse,
          )
        : httpRequest(common, onResponse);
    req.on("error", reject);
    req.end(body);
  });
}

export interface SpawnedReceiver {
  url: string;
  viewUrl: string | null;
  child: import("node:child_process").ChildProcess;
  /** Log lines (JSON) so far. */
  lines: () => Array<Record<string, unknown>>;
  /** Sends `signal` and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `decnet-updater receive --config FILE` as a subprocess of the real CLI; resolves once it listens. */
export async function spawnReceiver(configFile: string): Promise<SpawnedReceiver> {
  const { spawn } = await import("node:child_process");
  const { REPO } = await import("./cli.js");
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(REPO, "src/cli/main.ts"), "receive", "--config", configFile],
    {
      cwd: REPO,
      env: { ...process.env, DECNET_UPDATER_LOG_FORMAT: "json" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const lines: Array<Record<string, unknown>> = [];
  let stderr = "";
  let buffer = "";
  child.stderr?.setEncoding("utf8").on("data", (c) => {
    stderr += c;
  });
  const ready = new Promise<{ url: string; viewUrl: string | null }>((resolve, reject) => {
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk;
      let at = buffer.indexOf("\n");
      while (at >= 0) {
        const line = buffer.slice(0, at);
        buffer = buffer.slice(at + 1);
        try {
          const doc = JSON.parse(line) as Record<string, unknown>;
          lines.push(doc);
          if (typeof doc.url === "string" && String(doc.msg).startsWith("Receiving reports"))
            resolve({ url: doc.url, viewUrl: (doc.view_url as string | null) ?? null });
        } catch {
          // not a log line
        }
        at = buffer.indexOf("\n");
      }
    });
    child.once("exit", (code) =>
      reject(new Error(`receive exited ${code} before listening: ${stderr}`)),
    );
  });
  const { url, viewUrl } = await ready;
  return {
    url,
    viewUrl,
    child,
    lines: () => lines,
    stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null)
        return Promise.resolve(child.exitCode);
      const exited = new Promise<number | null>((resolve) =>
        child.once("exit", (code) => resolve(code)),
      );
      child.kill(signal);
      return exited;
    },
  };
}

/** curl's argv posting `body` on the receiver's unix socket as nginx does, naming host `cn`. */
export function curlOnSocket(socket: string, cn: string, body: string): string[] {
  return [
    "curl",
    "-sS",
    "--unix-socket",
    socket,
    "-H",
    "X-Client-Verify: SUCCESS",
    "-H",
    `X-Client-Subject: CN=${cn}`,
    "--data-binary",
    body,
    "http://localhost/reports",
  ];
}
