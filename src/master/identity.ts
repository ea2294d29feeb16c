/**
 * Who sent a report: the host ids its client certificate names, taken from
 * the TLS connection itself, or from the headers a trusted proxy sets
 * (config/nginx-feed.conf: X-Client-Verify, X-Client-Subject, X-Client-Cert).
 * A report whose host_id is not one of them is refused: a host must not
 * report for another (docs/security.md).
 */

import { X509Certificate } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import type { IdentityFrom } from "./config.js";

export type Sender =
  | { ok: true; names: string[]; via: string }
  | { ok: false; status: number; why: string };

/** CN values of an RFC 4514 subject ("CN=worker-17,O=DECNET"), with escapes undone. */
export function commonNamesOf(subject: string): string[] {
  const names: string[] = [];
  let part = "";
  const parts: string[] = [];
  for (let i = 0; i < subject.length; i++) {
    const c = subject[i] as string;
    if (c === "\\" && i + 1 < subject.length) {
      part += subject[++i];
      continue;
    }
    if (c === "," || c === "+") {
      parts.push(part);
      part = "";
      continue;
    }
    part += c;
  }
  parts.push(part);
  for (const p of parts) {
    const at = p.indexOf("=");
    if (at > 0 && p.slice(0, at).trim().toUpperCase() === "CN") names.push(p.slice(at + 1).trim());
  }
  return names;
}

/** DNS names of a certificate's subjectAltName ("DNS:a, IP Address:..."). */
export function dnsNamesOf(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(/,\s*/)
    .filter((entry) => entry.startsWith("DNS:"))
    .map((entry) => entry.slice(4));
}

function namesOfCertificate(
  identity: IdentityFrom,
  subjectCn: string[],
  san: string | undefined,
): string[] {
  return identity === "cn" ? subjectCn : dnsNamesOf(san);
}

function fromTls(request: IncomingMessage, identity: IdentityFrom): Sender {
  const socket = request.socket as TLSSocket;
  const peer = socket.getPeerCertificate?.();
  // rejectUnauthorized refuses an unverified client at the handshake; this is the second look.
  if (!socket.authorized || !peer || Object.keys(peer).length === 0)
    return { ok: false, status: 401, why: "no verified client certificate" };
  const cn = peer.subject?.CN;
  const names = namesOfCertificate(
    identity,
    cn === undefined ? [] : Array.isArray(cn) ? cn : [cn],
    peer.subjectaltname,
  );
  return { ok: true, names, via: "tls" };
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? undefined : value;
}

function fromProxy(
  request: IncomingMessage,
  identity: IdentityFrom,
  trusted: readonly string[] | "socket",
): Sender {
  const address = (request.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
  // on a unix socket (no address) its file's permissions decided who got this far
  if (trusted !== "socket" && !trusted.includes(address))
    return {
      ok: false,
      status: 403,
      why: `connection from ${address || "an unknown address"}, not from a configured proxy (proxy.trusted)`,
    };
  const verify = header(request, "x-client-verify");
  if (verify !== "SUCCESS")
    return {
      ok: false,
      status: 401,
      why: `the proxy did not verify a client certificate (X-Client-Verify: ${verify ?? "absent"})`,
    };
  if (identity === "cn") {
    const subject = header(request, "x-client-subject");
    if (!subject) return { ok: false, status: 401, why: "the proxy passed no X-Client-Subject" };
    return { ok: true, names: commonNamesOf(subject), via: "proxy" };
  }
  const escaped = header(request, "x-client-cert");
  if (!escaped)
    return {
      ok: false,
      status: 401,
      why: "identity is dns-san, but the proxy passed no X-Client-Cert",
    };
  try {
    const certificate = new X509Certificate(decodeURIComponent(escaped));
    return {
      ok: true,
      names: namesOfCertificate(identity, [], certificate.subjectAltName),
      via: "proxy",
    };
  } catch {
    return { ok: false, status: 400, why: "X-Client-Cert is not a PEM certificate" };
  }
}

export function senderOf(
  request: IncomingMessage,
  identity: IdentityFrom,
  trustedProxies: readonly string[] | "socket" | null,
): Sender {
  return trustedProxies === null
    ? fromTls(request, identity)
    : fromProxy(request, identity, trustedProxies);
}
