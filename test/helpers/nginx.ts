/**
 * A real nginx serving a feed with config/nginx-feed.conf, in the
 * foreground on a loopback port, owned by the test. The server block is the
 * shipped file with only its "# test:" lines swapped for the test's paths
 * and ports, so the file operators copy is the file under test.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO } from "./cli.js";
import { type DebianTool, findDebianTool } from "./debian-tool.js";

export function findNginx(): DebianTool | undefined {
  return findDebianTool({ name: "nginx", installedPath: "/usr/sbin/nginx", packages: ["nginx"] });
}

export const NGINX_SKIP = "nginx not available: apt-get install nginx-light";

export interface NginxFeedOptions {
  port: number;
  serverCert: string;
  serverKey: string;
  clientCa: string;
  feedRoot: string;
  /** The receiver's TCP port on 127.0.0.1, or the path of its unix socket. */
  reportReceiverPort: number | string;
}

/** The shipped server block with its "# test:" lines replaced; throws when a marked line is missing. */
export async function nginxServerBlock(options: NginxFeedOptions): Promise<string> {
  const text = await readFile(join(REPO, "config/nginx-feed.conf"), "utf8");
  const replacements: Record<string, string> = {
    listen: `listen 127.0.0.1:${options.port} ssl;`,
    "server cert": `ssl_certificate ${options.serverCert};`,
    "server key": `ssl_certificate_key ${options.serverKey};`,
    "client CA": `ssl_client_certificate ${options.clientCa};`,
    "feed root": `root ${options.feedRoot};`,
    "report receiver":
      typeof options.reportReceiverPort === "string"
        ? `server unix:${options.reportReceiverPort};`
        : `server 127.0.0.1:${options.reportReceiverPort};`,
  };
  const seen = new Set<string>();
  const lines = text.split("\n").map((line) => {
    const mark = /#\s*test:\s*(.+?)\s*$/.exec(line)?.[1];
    if (!mark || line.trim().startsWith("#")) return line;
    const replacement = replacements[mark];
    if (!replacement) throw new Error(`config/nginx-feed.conf: unknown test mark "${mark}"`);
    seen.add(mark);
    return `    ${replacement}`;
  });
  const missing = Object.keys(replacements).filter((mark) => !seen.has(mark));
  if (missing.length)
    throw new Error(`config/nginx-feed.conf: no "# test:" line for ${missing.join(", ")}`);
  return lines.join("\n");
}

export interface RunningNginx {
  accessLog: string;
  errorLog: string;
  stop(): Promise<void>;
}

export async function startNginx(
  tool: DebianTool,
  dir: string,
  serverBlock: string,
  port: number,
): Promise<RunningNginx> {
  await mkdir(join(dir, "tmp"), { recursive: true });
  await mkdir(join(dir, "logs"), { recursive: true });
  await writeFile(join(dir, "feed-server.conf"), serverBlock);
  const accessLog = join(dir, "logs/access.log");
  const errorLog = join(dir, "logs/error.log");
  const temp = (name: string) => `${name}_temp_path ${join(dir, "tmp", name)};`;
  const conf = [
    // Workers as root only when the test runs as root: the temp dirs are 0700.
    process.getuid?.() === 0 ? "user root;" : "",
    "daemon off;",
    "worker_processes 1;",
    `pid ${join(dir, "nginx.pid")};`,
    `error_log ${errorLog} info;`,
    "events { worker_connections 64; }",
    "http {",
    // the last field: "r" when the TLS session was resumed, "." otherwise
    "  log_format feed '$request_method $uri $status $body_bytes_sent $ssl_session_reused';",
    `  access_log ${accessLog} feed;`,
    "  default_type application/octet-stream;",
    `  ${temp("client_body")} ${temp("proxy")} ${temp("fastcgi")} ${temp("uwsgi")} ${temp("scgi")}`,
    `  include ${join(dir, "feed-server.conf")};`,
    "}",
    "",
  ].join("\n");
  const confFile = join(dir, "nginx.conf");
  await writeFile(confFile, conf);
  const args = ["-p", dir, "-e", errorLog, "-c", confFile];
  const test = spawnSync(tool.bin, [...args, "-t"], { env: tool.env, encoding: "utf8" });
  if (test.status !== 0) throw new Error(`nginx -t refused the feed config:\n${test.stderr}`);
  const child: ChildProcess = spawn(tool.bin, args, { env: tool.env, stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    if (await listening(port)) break;
    if (child.exitCode !== null)
      throw new Error(`nginx exited ${child.exitCode}: ${await readFile(errorLog, "utf8")}`);
    await sleep(50);
  }
  return {
    accessLog,
    errorLog,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGQUIT"); // graceful shutdown
      await exited;
    },
  };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

/** Access log lines as [method, uri, status]. */
/** Whether each request's TLS session was resumed, from the access log's last field. */
export async function sessionsResumed(path: string): Promise<boolean[]> {
  const text = await readFile(path, "utf8").catch(() => "");
  return text
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ").at(-1) === "r");
}

export async function accessLog(path: string): Promise<Array<[string, string, number]>> {
  const text = await readFile(path, "utf8").catch(() => "");
  return text
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [method, uri, status] = line.split(" ");
      return [method as string, uri as string, Number(status)];
    });
}
