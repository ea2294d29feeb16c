import type { Command } from "commander";
import { exitCodeForError } from "../exit-codes.js";
import { printError, printLine } from "../output.js";

export function registerKeygen(program: Command): void {
  program
    .command("keygen")
    .description("create a minisign key pair: DIR/minisign.key (0600) and DIR/minisign.pub")
    .requiredOption("--out <dir>", "folder for the key pair")
    .action(async (options: { out: string }) => {
      const { keygen } = await import("../../signing/keygen.js");
      try {
        const result = await keygen(options.out);
        printLine(`secret key: ${result.keyFile} (keep it on the master only)`);
        printLine(`public key: ${result.pubFile} (key id ${result.keyId})`);
        printLine(`trusted_keys entry: "${result.publicKey}"`);
      } catch (error) {
        printError(error);
        process.exitCode = exitCodeForError(error);
      }
    });
}
