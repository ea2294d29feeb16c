/**
 * The program as hosts run it, built by esbuild from tsc's dist/:
 *
 * - `dist/src/cli/main.js`, the entry, one CommonJS file. Node's ES module
 *   loader costs a few ms per module and more to start; `require` of one
 *   file costs next to nothing. `dist/src/cli/package.json` says
 *   `"type": "commonjs"` for it (the package is `"module"`).
 * - `dist/src/cli/fast/{update,check,status}.cjs`: those commands whole, one
 *   CommonJS file each, which main.js loads when their arguments are plain
 *   (main.ts, simple-argv.ts): a 304 `update` as a timer runs it loads two
 *   files and no commander.
 * - `dist/src/cli/chunks/program.mjs` and its chunks: commander and every
 *   command, ES modules with code splitting so each command loads only the
 *   code it runs. main.js imports it for every other command line.
 *
 * Why bundles at all: a process's start-up is mostly Node's module loader
 * resolving, reading and linking files one by one (a 304 `update` loaded
 * 235 of them). A single file for everything was tried and dropped: parsing
 * every command's code at every start cost what resolution had
 * (bench/start-cost.ts, docs/performance.md).
 *
 * Left out of the bundles, loaded from node_modules or dist/ at run time:
 * - the master's modules (src/master/, loaded by receive, fleet and
 *   rollout): a host's release does not carry them (release-pack.ts), and
 *   those commands then say so in one line;
 * - the master's database drivers (better-sqlite3 is a native module);
 * - what the code itself loads with createRequire (pino-pretty, and
 *   semver and node-cron for rare config keys). undici's parts are
 *   imported (src/http/undici.ts), so they are bundled.
 *
 * dist/src/cli/ then holds the bundles alone: tsc's modules there were
 * their input, and would now read as CommonJS. The other modules of dist/
 * stay where tsc wrote them: the benchmarks and the master load them
 * directly.
 *
 *   tsx scripts/bundle.ts [DIST_DIR]   (npm run build runs it on dist/)
 */
import { access, chmod, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { Script } from "node:vm";
import { type BuildOptions, build, type Metafile, type Plugin } from "esbuild";
import { FAST_COMMAND_OPTIONS } from "../src/cli/fast-options.js";

const REPO = resolve(import.meta.dirname, "..");

/** What dist/src/cli/ holds once bundled (package.json is written last). */
const BUNDLED = ["main.js", "fast", "chunks"];

/** The commands main.ts runs without commander, each bundled into fast/NAME.cjs. */
const FAST_COMMANDS = Object.keys(FAST_COMMAND_OPTIONS);

const COMMON: BuildOptions = {
  bundle: true,
  platform: "node",
  target: "node20",
  external: ["better-sqlite3", "pg", "pino-pretty"],
  metafile: true,
  logLevel: "warning",
};

/**
 * A CommonJS output of modules written as ES modules: `import.meta.url`
 * (createRequire, the version's package.json, the running release's path)
 * becomes this file's own URL, as the module's was.
 */
const COMMONJS: BuildOptions = {
  ...COMMON,
  format: "cjs",
  define: { "import.meta.url": "__fileUrl" },
  banner: {
    js: '"use strict"; const __fileUrl = require("node:url").pathToFileURL(__filename).href;',
  },
  // main.js imports chunks/program.mjs, an ES module: import(), not require()
  supported: { "dynamic-import": true },
  // Less to scan at every start: fast/update.cjs is 1.4 MB as written, 1.0 MB without the
  // whitespace, about 10 ms of CPU less to load (docs/performance.md). Names are kept, so a
  // stack trace still names its functions; its columns are the bundle's.
  minifyWhitespace: true,
  minifySyntax: true,
};

/** `require` for the CommonJS packages inside an ES module bundle: Node's. */
const REQUIRE_BANNER =
  'import { createRequire as __bundleRequire } from "node:module"; const require = __bundleRequire(import.meta.url);';

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

/**
 * main.js's two ways on: `import("./program.js")` becomes the split
 * bundle's entry, and `import("./commands/NAME.js")` of a fast command
 * becomes a require of its own bundle.
 */
function mainWays(): Plugin {
  const fast = new RegExp(`^\\./commands/(${FAST_COMMANDS.join("|")})\\.js$`);
  return {
    name: "main-ways",
    setup(context) {
      context.onResolve({ filter: /^\.\/program\.js$/ }, () => ({
        path: "./chunks/program.mjs",
        external: true,
      }));
      context.onResolve({ filter: fast }, (args) => ({
        path: fast.exec(args.path)?.[1] as string,
        namespace: "fast-command",
      }));
      context.onLoad({ filter: /.*/, namespace: "fast-command" }, (args) => ({
        contents: `module.exports = require("./fast/${args.path}.cjs");`,
        loader: "js",
      }));
      context.onResolve({ filter: /^\.\/fast\// }, (args) => ({ path: args.path, external: true }));
    },
  };
}

/** Every output that imports a master module must sit where the import was written (cli/commands/'s depth). */
function checkMasterImports(distDir: string, distSrc: string, metafile: Metafile): void {
  for (const [file, output] of Object.entries(metafile.outputs)) {
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
}

/**
 * The split bundle's banner declares `require` at the top of every chunk: a
 * module of its own declaring one there too would be a SyntaxError, and a
 * lazily loaded chunk would show it only when used.
 */
async function checkBanner(distDir: string, metafile: Metafile): Promise<void> {
  for (const file of Object.keys(metafile.outputs)) {
    const code = await readFile(resolve(distDir, file), "utf8");
    if (/^(?:const|let|var|function|class) require\b/m.test(code))
      throw new Error(
        `bundle: ${file} declares a top-level require of its own besides the banner's`,
      );
  }
}

/**
 * A CommonJS output compiles (compiled only, not run): its banner declares
 * `__fileUrl` at its top, a module of its own declaring one there too would
 * be a SyntaxError at the first start, and the minified code has no line
 * starts for checkBanner to read.
 */
async function checkCompiles(distDir: string, metafile: Metafile): Promise<void> {
  for (const file of Object.keys(metafile.outputs)) {
    const code = await readFile(resolve(distDir, file), "utf8");
    try {
      new Script(code.replace(/^#!.*/, ""), { filename: file });
    } catch (error) {
      throw new Error(`bundle: ${file} does not compile: ${(error as Error).message}`);
    }
  }
}

async function buildSplit(distDir: string, distSrc: string, cliDir: string): Promise<void> {
  const result = await build({
    ...COMMON,
    entryPoints: [join(cliDir, "program.js")],
    outdir: join(cliDir, "chunks"),
    entryNames: "[name]",
    chunkNames: "[name]-[hash]",
    outExtension: { ".js": ".mjs" },
    splitting: true,
    format: "esm",
    banner: { js: REQUIRE_BANNER },
    plugins: [masterExternal(distSrc)],
    absWorkingDir: distDir, // the metafile's paths are relative to it
  });
  const metafile = result.metafile as Metafile; // COMMON asks for it
  checkMasterImports(distDir, distSrc, metafile);
  await checkBanner(distDir, metafile);
}

async function buildCommonJs(
  distDir: string,
  entry: string,
  outfile: string,
  plugins: Plugin[],
): Promise<void> {
  const result = await build({
    ...COMMONJS,
    entryPoints: [entry],
    outfile,
    allowOverwrite: true,
    plugins,
    absWorkingDir: distDir,
  });
  // a host's release has no master: a fast command must not carry it (bundled, it would be an input)
  const metafile = result.metafile as Metafile; // COMMON asks for it
  for (const [file, output] of Object.entries(metafile.outputs)) {
    const master = Object.keys(output.inputs).find((input) => input.startsWith("src/master/"));
    if (master) throw new Error(`bundle: ${file} carries ${master}, a master module`);
  }
  await checkCompiles(distDir, metafile);
}

export async function bundleProgram(distDir: string): Promise<void> {
  const distSrc = join(distDir, "src");
  const cliDir = join(distSrc, "cli");
  // tsc's output is the input: on a dist/ bundled already, stop before removing what runs
  await access(join(cliDir, "program.js")).catch(() => {
    throw new Error(
      `bundle: ${join(cliDir, "program.js")} is missing: run tsc first (npm run build)`,
    );
  });
  // outputs of an earlier build would stay beside the new ones (chunks are named by hashes)
  for (const old of ["chunks", "fast", "package.json"])
    await rm(join(cliDir, old), { recursive: true, force: true });
  await buildSplit(distDir, distSrc, cliDir);
  for (const name of FAST_COMMANDS) {
    const entry = join(cliDir, "commands", `${name}.js`);
    await buildCommonJs(distDir, entry, join(cliDir, "fast", `${name}.cjs`), []);
  }
  await buildCommonJs(distDir, join(cliDir, "main.js"), join(cliDir, "main.js"), [mainWays()]);
  // tsc's modules of cli/ were the bundles' input: they would now read as CommonJS, and nothing loads them
  for (const name of await readdir(cliDir))
    if (!BUNDLED.includes(name)) await rm(join(cliDir, name), { recursive: true, force: true });
  // main.js is CommonJS; the package is "type": "module"
  await writeFile(join(cliDir, "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`);
  await chmod(join(cliDir, "main.js"), 0o755);
}

if (process.argv[1]?.endsWith("bundle.ts")) {
  await bundleProgram(resolve(process.argv[2] ?? join(REPO, "dist")));
}
