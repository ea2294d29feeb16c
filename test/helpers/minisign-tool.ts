/** The stock `minisign` binary for cross-checks (see debian-tool.ts for where it comes from). */
import { type DebianTool, findDebianTool } from "./debian-tool.js";

export type MinisignTool = DebianTool;

export function findMinisign(): MinisignTool | undefined {
  return findDebianTool({
    name: "minisign",
    installedPath: "/usr/bin/minisign",
    packages: ["minisign", "libsodium23"],
  });
}

export const MINISIGN_SKIP = "stock minisign not available: apt-get install minisign";
