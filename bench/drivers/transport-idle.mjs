/**
 * The floor under the daemon's idle RSS: Node with undici after one mTLS
 * GET of the manifest, then idle. Prints "ready" once the request is done.
 *
 *   node bench/drivers/transport-idle.mjs URL CA CERT KEY
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "undici";

const [url, ca, cert, key] = process.argv.slice(2);
const agent = new Agent({
  connect: { ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) },
});
const response = await request(url, { dispatcher: agent });
await response.body.arrayBuffer();
await agent.close();
process.stdout.write("ready\n");
setInterval(() => {}, 1e9);
