// Bundles the two programs (CLI/launcher and server) with esbuild. Bundling matters here:
// `run -d` starts three Node processes and Node 20 has no compile cache, so every module
// resolved from node_modules at startup costs time (see docs/decisions.md, "Bundling").
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

// zod bundles ~250 translations of its messages; ai-proxy speaks English only, and the rest is
// a third of the config chunk that every start loads (see docs/decisions.md, "Bundling").
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.includes('/node_modules/zod/') ? { path: join(dirname(args.importer), '../locales/en.js'), namespace: 'zod-locales' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: dirname(args.path),
    }));
  },
};

// Build beside dist/ and swap it in with renames, so processes started from dist/ while a build
// runs (tests, a developer's gateway) never see a half-written or missing tree.
const finalDir = new URL('../dist', import.meta.url).pathname;
const outdir = `${finalDir}.build-${process.pid}`;
const oldDir = `${finalDir}.old-${process.pid}`;
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: { cli: 'src/launcher/cli.ts', launcher: 'src/launcher/daemon-main.ts', server: 'src/server/main.ts', 'ledger-worker': 'src/server/usage/ledger-worker.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // Native addons cannot be bundled; they are loaded from node_modules at run time.
  external: ['fs-ext', 'unix-dgram', 'libsql'],
  // CommonJS dependencies call require() for Node built-ins; give ESM chunks a real one.
  banner: { js: "import { createRequire as __aiProxyCreateRequire } from 'node:module'; const require = __aiProxyCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  plugins: [zodEnglishOnly],
  metafile: false,
});

// What the running launcher compares with the files on disk (`status` says when they differ: an
// upgrade a restart cannot apply to the launcher itself). Content-addressed, so an identical
// rebuild is the same build.
const hash = createHash('sha256');
for (const name of readdirSync(outdir).filter((n) => n.endsWith('.js')).sort()) hash.update(name).update(readFileSync(join(outdir, name)));
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
writeFileSync(join(outdir, 'build-info.json'), JSON.stringify({ version, build: hash.digest('hex').slice(0, 12) }) + '\n');

try {
  renameSync(finalDir, oldDir);
} catch {
  // first build
}
renameSync(outdir, finalDir);
rmSync(oldDir, { recursive: true, force: true });
