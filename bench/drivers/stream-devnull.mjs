/**
 * The floor under the peak RSS of `update`: Node with undici streaming a
 * tarball over mTLS to /dev/null, as plainly as it can be written.
 *
 *   node bench/drivers/stream-devnull.mjs URL CA CERT KEY
 */
import { createWriteStream, readFileSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { setFlagsFromString } from "node:v8";
import { Agent, request } from "undici";

// as `update` sets it once its modules are loaded (src/cli/v8-flags.ts): the floor and the update
// then differ only in what they do
setFlagsFromString("--semi-space-growth-factor=1");

const [url, ca, cert, key] = process.argv.slice(2);
const agent = new Agent({
  connect: { ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) },
});
const response = await request(url, { dispatcher: agent });
if (response.statusCode !== 200) throw new Error(`${url}: HTTP ${response.statusCode}`);
await pipeline(response.body, createWriteStream("/dev/null"));
await agent.close();
