/**
 * Secrets an operator's command may carry (an index URL with a password, a
 * token) must never leave the host: not in a log line, state.json, --json
 * output or a report. Commands are named by their program only; what they
 * print goes through `redactSecrets` before it is kept.
 */

/** scheme://user:password@host -> scheme://***@host */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi;
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
