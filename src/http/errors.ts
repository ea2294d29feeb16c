/**
 * Turns what undici and node:tls throw into our stable codes, so an operator
 * reads "the master's certificate is not trusted" rather than a socket error.
 */
import { oneLine, UpdaterError } from "../errors.js";

/** OpenSSL verify results: the master's certificate chain or name is wrong. */
const SERVER_CERT_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** TLS alerts the server sends when it refuses our client certificate. */
const CLIENT_CERT_ALERT =
  /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_REQUIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED|HANDSHAKE_FAILURE)/;

const TIMEOUT_CODES = new Set([
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "ETIMEDOUT",
]);

function causes(error: unknown): Array<{ code?: string; message?: string; name?: string }> {
  const chain = [];
  let current: unknown = error;
  for (let depth = 0; current && depth < 6; depth++) {
    chain.push(current as { code?: string; message?: string });
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

/** Nothing listens at the address: the TCP connect was refused. */
export function isConnectionRefused(error: unknown): boolean {
  return causes(error).some((e) => e.code === "ECONNREFUSED");
}

export function classifyNetworkError(error: unknown, what: string, url: string): UpdaterError {
  if (error instanceof UpdaterError) return error;
  const chain = causes(error);
  const codes = chain.map((e) => e.code ?? "");
  const at = `${what} ${url}`;
  const serverCode = codes.find((code) => SERVER_CERT_CODES.has(code));
  if (serverCode) {
    return new UpdaterError(
      "E_TLS_SERVER",
      `${at}: the master's certificate is not trusted (${serverCode})`,
      {
        cause: error,
      },
    );
  }
  const alert = chain.find((e) => CLIENT_CERT_ALERT.test(`${e.code ?? ""} ${e.message ?? ""}`));
  if (alert) {
    const detail = CLIENT_CERT_ALERT.exec(`${alert.code ?? ""} ${alert.message ?? ""}`)?.[0];
    return new UpdaterError(
      "E_TLS_CLIENT",
      `${at}: the master refused our client certificate (${detail})`,
      {
        cause: error,
      },
    );
  }
  if (chain.some((e) => e.name === "TimeoutError" || TIMEOUT_CODES.has(e.code ?? ""))) {
    return new UpdaterError(
      "E_TIMEOUT",
      `${at}: timed out (${codes.find(Boolean) || "deadline"})`,
      {
        cause: error,
      },
    );
  }
  if (codes.includes("ENOTFOUND") || codes.includes("EAI_AGAIN")) {
    return new UpdaterError("E_NETWORK", `${at}: host name not found (DNS)`, { cause: error });
  }
  const code = codes.find(Boolean);
  return new UpdaterError("E_NETWORK", `${at}: ${code ? `${code}: ` : ""}${oneLine(error)}`, {
    cause: error,
  });
}

/** undici's "other side closed" before a single response byte: the server hung up on us. */
export function isEmptyHangUp(error: unknown): boolean {
  const e = error as { code?: string; socket?: { bytesRead?: number } };
  return e?.code === "UND_ERR_SOCKET" && e.socket?.bytesRead === 0;
}
