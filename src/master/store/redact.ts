/** The URL without its password (in the user part or a `password` parameter), for messages and logs. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    for (const key of [...parsed.searchParams.keys()])
      if (/pass|secret|key/i.test(key)) parsed.searchParams.set(key, "***");
    return parsed.toString();
  } catch {
    return "postgres://(an unparsable URL)";
  }
}
