// The ingest baseline: node:https with the receiver's TLS options (the fleet
// CA, requestCert), answering 201 to every POST once its body is read, and
// nothing else: what this machine's Node spends on the transport alone.
import { readFileSync } from "node:fs";
import { createServer } from "node:https";

const [cert, key, ca] = process.argv.slice(2).map((path) => readFileSync(path));
const server = createServer(
  { cert, key, ca, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" },
  (request, response) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(201, { "content-type": "text/plain" });
      response.end("stored\n");
    });
  },
);
server.listen(Number(process.env.PORT), "127.0.0.1", () => process.stdout.write("listening\n"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
