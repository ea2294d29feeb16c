/**
 * The program as hosts run it: tsc's `dist/src/cli/main.js` bundled by
 * esbuild into that same file plus lazily loaded chunks in
 * `dist/src/cli/chunks/`, ES modules with code splitting, so each command
 * loads only the code it runs.
 *
 * Why: a process's start-up is mostly Node's module loader resolving,
 * reading and linking files, one by one; a 304 `update` loaded 235 of them.
 * The bundle takes it from 4 to about 2 times `node -e 0` in CPU
 * (bench/start-cost.ts, docs/performance.md). A single file without
 * splitting was tried and dropped: parsing every command's code at every
 * start cost what resolution had.
 *
 * Left out of the bundle, loaded from node_modules or dist/ at run time:
 * - the master's modules (src/master/, loaded by receive, fleet and
 *   rollout): a host's release does not carry them (release-pack.ts), and
 *   those commands then say so in one line;
 * - the master's database drivers (better-sqlite3 is a native module);
 * - what the code itself loads with createRequire (undici's parts,
 *   pino-pretty, and semver and node-cron for rare config keys).
 *
 * The other modules of dist/ stay where tsc wrote them: the benchmarks and
 * the master load them directly.
 *
 *   tsx scripts/bundle.ts [DIST_DIR]   (npm run build runs it on dist/)
 */
import { chmod, readFile, rm } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { build, type Plugin } from "esbuild";

const REPO = resolve(import.meta.dirname, "..");

/**
 * Keeps the master's modules out, as the same relative import: the chunk
 * that imports them sits in chunks/, at the depth of cli/commands/ where the
 * import was written, so it resolves to the same dist/src/master/ file. The
 * check after the build makes sure of that.
 */
function masterExternal(distSrc: string): Plugin {
  return {
    name: "master-external",
    setup(context) {
      context.onResolve({ filter: /\/master\// }, (args) => {
        const target = resolve(args.resolveDir, args.path);
        if (!target.startsWith(join(distSrc, "master") + sep)) return undefined;
        return { path: args.path, external: true };
      });
    },
  };
}

export async function bundleProgram(distDir: string): Promise<void> {
  const distSrc = join(distDir, "src");
  const cliDir = join(distSrc, "cli");
  // chunks of an earlier build would stay beside the new ones, named by other hashes
  await rm(join(cliDir, "chunks"), { recursive: true, force: true });
  const result = await build({
    entryPoints: [join(cliDir, "main.js")],
    outdir: cliDir,
    entryNames: "[name]",
    chunkNames: "chunks/[name]-[hash]",
    allowOverwrite: true,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    // CommonJS packages inside an ES module bundle call require(): give them Node's
    banner: {
      js: 'import { createRequire as __bundleRequire } from "node:module"; const require = __bundleRequire(import.meta.url);',
    },
    external: ["better-sqlite3", "pg", "pino-pretty"],
    plugins: [masterExternal(distSrc)],
    metafile: true,
    absWorkingDir: distDir, // the metafile's paths are relative to it
    logLevel: "warning",
  });
  // Every output that imports a master module must sit where the import was written (cli/commands/'s depth).
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    for (const imported of output.imports) {
      if (!imported.external || !imported.path.includes("/master/")) continue;
      const at = resolve(distDir, file);
      const lands = resolve(dirname(at), imported.path);
      if (!lands.startsWith(join(distSrc, "master") + sep))
        throw new Error(
          `bundle: ${relative(REPO, at)} imports ${imported.path}, which resolves to ${relative(REPO, lands)}, not into ${relative(REPO, join(distSrc, "master"))}`,
        );
    }
  }
  // The banner declares `require` at the top of every output: a module of its own declaring one
  // there too would be a SyntaxError, and a lazily loaded chunk would show it only when used.
  for (const file of Object.keys(result.metafile.outputs)) {
    const code = await readFile(resolve(distDir, file), "utf8");
    const declared = code.match(/^(?:const|let|var|function|class) require\b/gm) ?? [];
    if (declared.length > 0)
      throw new Error(
        `bundle: ${file} declares a top-level require of its own besides the banner's`,
      );
  }
  await chmod(join(cliDir, "main.js"), 0o755);
  // tsc's map is of the file the bundle replaced
  await rm(join(cliDir, "main.js.map"), { force: true });
}

if (process.argv[1]?.endsWith("bundle.ts")) {
  await bundleProgram(resolve(process.argv[2] ?? join(REPO, "dist")));
}
