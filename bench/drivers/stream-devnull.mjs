/**
 * The floor under the peak RSS of `update`: Node with undici streaming a
 * tarball over mTLS to /dev/null, as plainly as it can be written.
 *
 *   node bench/drivers/stream-devnull.mjs URL CA CERT KEY
 */
import { createWriteStream, readFileSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { Agent, request } from "undici";

const [url, ca, cert, key] = process.argv.slice(2);
const agent = new Agent({
  connect: { ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) },
});
const response = await request(url, { dispatcher: agent });
if (response.statusCode !== 200) throw new Error(`${url}: HTTP ${response.statusCode}`);
await pipeline(response.body, createWriteStream("/dev/null"));
await agent.close();
