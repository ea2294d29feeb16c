/**
 * Secrets an operator's command may carry (an index URL with a password, a
 * token) must never leave the host: not in a log line, state.json, --json
 * output or a report. Commands are named by their program only; what they
 * print goes through `redactSecrets` before it is kept.
 */

/** scheme://user:password@host -> scheme://***@host (up to the authority's last "@": passwords hold "@" too) */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/]*@/gi;
/** token=..., password=..., api_key=... in a query string, a flag or an environment dump. */
const SECRET_PARAMETER =
  /\b((?:[a-z0-9_-]*(?:token|password|passwd|secret|api[_-]?key|auth))\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&"']+)/gi;
/** Authorization: Bearer ... / Basic ... headers. */
const AUTH_HEADER = /\b(authorization\s*:\s*)(\S+(?:\s+\S+)?)/gi;

export function redactSecrets(text: string): string {
  return text
    .replace(URL_USERINFO, "$1***@")
    .replace(AUTH_HEADER, "$1***")
    .replace(SECRET_PARAMETER, "$1***");
}

/**
 * The last `bytes` of a command's stderr, redacted. When the cut falls inside
 * a line, that partial line goes (up to its end, or its first blank): a URL
 * cut before its scheme would no longer look like one to `redactSecrets`.
 */
export function redactedTail(stderr: Buffer, cut: boolean): string {
  let text = stderr.toString("utf8");
  if (cut) {
    const newline = text.indexOf("\n");
    const blank = text.search(/\s/);
    const end = newline >= 0 ? newline : blank >= 0 ? blank : text.length;
    text = `[...]${text.slice(end)}`;
  }
  return redactSecrets(text);
}
