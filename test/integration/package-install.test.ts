/**
 * The release artifact as a user gets it (test/helpers/release.ts): npm pack, then npm install -g
 * of the tarball into a prefix outside the checkout, from / with an isolated HOME. The installed
 * command must run -d, status, reload and stop from its own files, with its native addons built
 * and no devDependency.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { installRelease, manifest, packRelease, run, type Run } from '../helpers/release.ts';

/** What a user needs and nothing else (package.json is always packed). */
const ALLOWED = [/^bin\//, /^dist\/[^/]+\.js$/, /^dist\/build-info\.json$/, /^etc\//, /^docs\//, /^README\.md$/, /^LICENSE$/, /^package\.json$/];

/** Every package name in an `npm ls --json` tree. */
function namesIn(tree: { dependencies?: Record<string, unknown> }, into = new Set<string>()): Set<string> {
  for (const [name, child] of Object.entries(tree.dependencies ?? {})) {
    into.add(name);
    namesIn(child as { dependencies?: Record<string, unknown> }, into);
  }
  return into;
}

test('npm pack builds and packs only bin, dist, etc, docs, README and LICENSE; npm install -g of it gives a working ai-proxy without the repository', { timeout: 240_000 }, async (t) => {
  const release = await packRelease(t);
  const { env, files } = release;
  t.diagnostic(`node ${process.version}, npm ${release.npmVersion}, headers ${env.npm_config_nodedir ?? 'from nodejs.org'}`);
  t.diagnostic(`${release.tarball}: ${files.length} files, ${release.size} bytes packed, ${release.unpackedSize} unpacked`);
  for (const file of files) assert.ok(ALLOWED.some((pattern) => pattern.test(file)), `the tarball ships ${file}`);
  for (const needed of ['bin/ai-proxy.js', 'dist/cli.js', 'dist/launcher.js', 'dist/server.js', 'dist/build-info.json', 'etc/systemd/ai-proxy.service', 'etc/ai-proxy.example.yaml', 'README.md', 'LICENSE', 'docs/operations.md']) {
    assert.ok(files.includes(needed), `the tarball lacks ${needed}`);
  }

  const installed = await installRelease(release);
  if ('skip' in installed) return t.skip(installed.skip);
  const { prefix, root } = installed;
  assert.equal(realpathSync(join(prefix, 'bin', 'ai-proxy')), join(root, 'bin', 'ai-proxy.js'), `bin/ai-proxy links to the package (${readlinkSync(join(prefix, 'bin', 'ai-proxy'))})`);
  for (const addon of ['fs-ext/build/Release/fs_ext.node', 'unix-dgram/build/Release/unix_dgram.node']) assert.ok(existsSync(join(root, 'node_modules', addon)), `${addon} was built`);

  const ls = await run('npm', ['ls', '-g', '--prefix', prefix, '--all', '--json'], { cwd: '/', env, timeoutMs: 60_000 });
  assert.equal(ls.code, 0, ls.stderr);
  const names = namesIn(JSON.parse(ls.stdout) as { dependencies?: Record<string, unknown> });
  for (const dev of Object.keys(manifest.devDependencies)) assert.ok(!names.has(dev), `npm ls shows the devDependency ${dev}`);
  for (const dep of Object.keys(manifest.dependencies)) assert.ok(names.has(dep), `npm ls lacks ${dep}`);

  // The installed command, from /, as a user runs it.
  const state = join(release.work, 'state');
  const config = join(state, 'ai-proxy.yaml');
  const pidFile = join(state, 'run', 'ai-proxy.pid');
  mkdirSync(state);
  writeFileSync(config, 'listen: { host: 127.0.0.1, port: 0 }\nwatch-config: false\nproviders: [{ name: mock, type: mock, models: [mock] }]\n');
  const cli = (args: string[]): Promise<Run> => run(installed.bin, args, { cwd: '/', env, timeoutMs: 60_000 });
  const started = await cli(['run', '-d', '--json', '-c', config, '--pid-file', pidFile, '--log-file', join(state, 'ai-proxy.log')]);
  assert.equal(started.code, 0, started.stdout + started.stderr);
  const launcher = (JSON.parse(started.stdout) as { pid: number }).pid;
  t.after(() => {
    try {
      process.kill(launcher, 'SIGKILL');
    } catch {
      // stopped
    }
  });
  const status = await cli(['status', '--json', '--pid-file', pidFile]);
  assert.equal(status.code, 0, status.stdout);
  const { version, servers } = JSON.parse(status.stdout) as { version: string; servers: Array<{ pid: number }> };
  assert.equal(version, manifest.version);
  // Served by the installed files, not by this checkout.
  const serverCommand = readFileSync(`/proc/${servers[0]?.pid}/cmdline`, 'utf8');
  assert.ok(serverCommand.includes(join(root, 'dist', 'server.js')), serverCommand);
  const url = (JSON.parse(started.stdout) as { url: string }).url;
  const answer = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'mock', messages: [{ role: 'user', content: 'hi' }] }), signal: AbortSignal.timeout(10_000) });
  assert.equal(answer.status, 200);
  const reload = await cli(['reload', '--json', '--pid-file', pidFile]);
  assert.equal(reload.code, 0, reload.stdout);
  const stop = await cli(['stop', '--json', '--pid-file', pidFile]);
  assert.equal(stop.code, 0, stop.stdout);
  assert.ok(!existsSync(pidFile));
});
