/**
 * Every path the agent uses, derived from install_dir and state_dir in one
 * place so that no other module joins path segments by hand.
 */
import { join } from "node:path";

export interface InstallPaths {
  root: string;
  current: string;
  releases: string;
  active: string;
  prev: string;
  /** The release before prev, kept while an update is on probation (until it commits or rolls back). */
  older: string;
  /** The last release that was rolled back, kept aside for a post-mortem. */
  failed: string;
  staging: string;
  venvLink: string;
  venvs: string;
  agentPid: string;
  spawnLog: string;
}

export function installPaths(installDir: string): InstallPaths {
  const releases = join(installDir, "releases");
  return {
    root: installDir,
    current: join(installDir, "current"),
    releases,
    active: join(releases, "active"),
    prev: join(releases, "prev"),
    older: join(releases, "older"),
    failed: join(releases, "failed"),
    staging: join(releases, "active.new"),
    venvLink: join(installDir, "venv"),
    venvs: join(installDir, "venvs"),
    agentPid: join(installDir, "agent.pid"),
    spawnLog: join(installDir, "agent.spawn.log"),
  };
}

export interface StatePaths {
  root: string;
  state: string;
  /** The last verified manifest and its signature, exact bytes. */
  manifest: string;
  manifestSignature: string;
  outbox: string;
  downloads: string;
  lock: string;
  /** Held by a running daemon for its whole life. */
  daemonLock: string;
  /** What a running daemon tells `status`: its pid and its next check. */
  daemonInfo: string;
  /** A venv of ensurepip's pip alone, copied into each new venv (pipeline/steps/venv-seed.ts). */
  venvSeed: string;
}

export function statePaths(stateDir: string): StatePaths {
  return {
    root: stateDir,
    state: join(stateDir, "state.json"),
    manifest: join(stateDir, "manifest.json"),
    manifestSignature: join(stateDir, "manifest.json.minisig"),
    outbox: join(stateDir, "outbox"),
    downloads: join(stateDir, "downloads"),
    lock: join(stateDir, "lock"),
    daemonLock: join(stateDir, "daemon.lock"),
    daemonInfo: join(stateDir, "daemon.json"),
    venvSeed: join(stateDir, "venv-seed"),
  };
}
