/**
 * The end-to-end tests build real venvs with the python3 on PATH. Where it
 * lacks venv/ensurepip they skip with one line saying what to install.
 */
import { execFileSync } from "node:child_process";

function hasVenv(): boolean {
  try {
    execFileSync("python3", ["-c", "import venv, ensurepip, ssl"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export const PYTHON_SKIP: string | false = hasVenv()
  ? false
  : "python3 with venv and ensurepip not available: apt-get install python3-venv";
