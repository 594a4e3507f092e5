// Bundles the two programs (CLI/launcher and server) with esbuild. Bundling matters here:
// `run -d` starts three Node processes and Node 20 has no compile cache, so every module
// resolved from node_modules at startup costs time (see docs/decisions.md, "Bundling").
import { build } from 'esbuild';
import { renameSync, rmSync } from 'node:fs';

// Build beside dist/ and swap it in with renames, so processes started from dist/ while a build
// runs (tests, a developer's gateway) never see a half-written or missing tree.
const finalDir = new URL('../dist', import.meta.url).pathname;
const outdir = `${finalDir}.build-${process.pid}`;
const oldDir = `${finalDir}.old-${process.pid}`;
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: { cli: 'src/launcher/cli.ts', server: 'src/server/main.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // Native addons cannot be bundled; they are loaded from node_modules at run time.
  external: ['fs-ext', 'unix-dgram'],
  // CommonJS dependencies call require() for Node built-ins; give ESM chunks a real one.
  banner: { js: "import { createRequire as __aiProxyCreateRequire } from 'node:module'; const require = __aiProxyCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  metafile: false,
});

try {
  renameSync(finalDir, oldDir);
} catch {
  // first build
}
renameSync(outdir, finalDir);
rmSync(oldDir, { recursive: true, force: true });
