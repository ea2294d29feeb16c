/**
 * Why did the master hang up? Under TLS 1.3 the client's handshake is done
 * before the server has checked our certificate, and a server that refuses
 * it (node:https, many proxies) just closes the connection without an alert.
 * undici then only says "other side closed". To tell a refused certificate
 * from a crashed server we open one more TLS connection and send nothing: an
 * HTTP server waits for a request, a server that refuses our certificate
 * hangs up at once. Runs only on that failure path.
 */
import { connect } from "node:tls";
import type { TlsIdentity } from "./tls.js";

export function closesRightAfterHandshake(
  url: string,
  identity: TlsIdentity,
  waitMs = 1000,
): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (refused: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(refused);
    };
    const socket = connect({
      host: hostname.replace(/^\[|\]$/g, ""),
      port: Number(port || 443),
      ...identity,
      servername: identity.servername ?? hostname,
      rejectUnauthorized: true,
    });
    let handshakeDone = false;
    const timer = setTimeout(() => finish(false), waitMs * 2);
    socket.on("secureConnect", () => {
      handshakeDone = true;
      setTimeout(() => finish(false), waitMs).unref();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => finish(/ALERT/.test(error.code ?? "")));
    socket.on("close", () => finish(handshakeDone));
  });
}
