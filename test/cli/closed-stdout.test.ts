/**
 * `decnet-updater status | head -1`: the reader goes away before the
 * program has written everything. The rest goes nowhere, quietly: no stack
 * trace on stderr, the command's own exit code.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { test } from "node:test";
import { REPO } from "../helpers/cli.js";

test("a reader that closed the pipe gets no stack trace, and the exit code is the command's", async () => {
  for (const args of [["--help"], ["--version"]]) {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", resolve(REPO, "src/cli/main.ts"), ...args],
      {
        cwd: REPO,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stdout.destroy(); // closed before the program, still starting, writes a byte
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise((done) => child.once("close", done));
    assert.deepEqual({ args, code, stderr }, { args, code: 0, stderr: "" });
  }
});
