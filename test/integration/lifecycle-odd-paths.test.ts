/**
 * The files ai-proxy opens itself — its PID file, its log file and its config — at odd paths:
 * under /proc or /sys, a FIFO with no reader (opening one blocks), a directory, a dangling
 * symbolic link, a read-only mount. Each fails at once, from `run`, `run -d` and `validate`
 * alike, naming the path and the OS's reason; nothing hangs, spins or is left behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { defaultYaml, instance, runCli, tempDir, type CommandResult, type Instance } from '../helpers/cli.ts';

type Kind = 'PID file' | 'log file' | 'config file';
const KINDS: readonly Kind[] = ['PID file', 'log file', 'config file'];

/** Bounds each command: a start that hangs on the path (the bug this guards against) fails here. */
const COMMAND_TIMEOUT_MS = 60_000;

function mkfifo(path: string): void {
  const made = spawnSync('mkfifo', [path]);
  assert.equal(made.status, 0, `mkfifo ${path}: ${made.stderr.toString()}`);
}

/** A read-only bind mount of a fresh directory (root with CAP_SYS_ADMIN), unmounted before its directory goes. */
function readOnlyMount(t: TestContext): string | null {
  let mounted = false;
  const dir = tempDir(t, 'ai-proxy-ro-', () => {
    if (mounted) spawnSync('umount', [target]);
  });
  const source = join(dir, 'source');
  const target = join(dir, 'ro');
  mkdirSync(source);
  mkdirSync(target);
  writeFileSync(join(source, 'ai-proxy.yaml'), defaultYaml());
  if (spawnSync('mount', ['--bind', source, target]).status !== 0) return null;
  mounted = true;
  const remount = spawnSync('mount', ['-o', 'remount,ro,bind', target]);
  assert.equal(remount.status, 0, `remount read-only: ${remount.stderr.toString()}`);
  return target;
}

/**
 * The PID files `run` and `run -d` use when the odd path is not the PID file: one each, since
 * they run at once and the PID file is locked before the log file is opened (with one file, the
 * second would fail on the lock, not on the path).
 */
const pidFiles = (inst: Instance): { run: string; daemon: string } => ({ run: join(dirname(inst.pidFile), 'run.pid'), daemon: join(dirname(inst.pidFile), 'run-d.pid') });

/** The three commands, each with `path` in the role of `kind`; the other two files are usable. */
async function commands(inst: Instance, kind: Kind, path: string): Promise<Record<'run' | 'run -d' | 'validate', CommandResult>> {
  const flags = (pidFile: string): string[] =>
    kind === 'PID file'
      ? ['-c', inst.config, '--pid-file', path, '--log-file', inst.logFile]
      : kind === 'log file'
        ? ['-c', inst.config, '--pid-file', pidFile, '--log-file', path]
        : ['-c', path, '--pid-file', pidFile, '--log-file', inst.logFile];
  // validate reads the PID and log file from the config itself.
  let validateConfig = path;
  if (kind !== 'config file') {
    validateConfig = join(inst.dir, 'validate.yaml');
    writeFileSync(validateConfig, defaultYaml(kind === 'PID file' ? `pid-file: ${JSON.stringify(path)}\n` : `log:\n  file: ${JSON.stringify(path)}\n`));
  }
  const options = { env: inst.env, timeoutMs: COMMAND_TIMEOUT_MS };
  const [run, daemon, validate] = await Promise.all([runCli(['run', ...flags(pidFiles(inst).run)], options), runCli(['run', '-d', ...flags(pidFiles(inst).daemon)], options), runCli(['validate', '-c', validateConfig], options)]);
  return { run, 'run -d': daemon, validate };
}

async function assertRefused(inst: Instance, kind: Kind, path: string, reason: RegExp): Promise<void> {
  const results = await commands(inst, kind, path);
  for (const [command, result] of Object.entries(results)) {
    assert.equal(result.code, 1, `${command} with the ${kind} at ${path}: exit ${result.code}\n${result.stdout}${result.stderr}`);
    assert.ok(result.stderr.includes(path), `${command} names the path ${path}: ${result.stderr}`);
    assert.match(result.stderr, reason, `${command} says why`);
    assert.doesNotMatch(result.stderr, /did not report|timed out/, `${command} failed at once, not at a deadline`);
  }
  if (kind !== 'PID file') for (const pidFile of Object.values(pidFiles(inst))) assert.ok(!existsSync(pidFile), `the failed starts leave no PID file (${pidFile})`);
}

const cases: Array<{ name: string; path: (inst: Instance, kind: Kind, t: TestContext) => string | null; reason: (kind: Kind) => RegExp }> = [
  {
    name: 'under /proc',
    // An existing procfs file for the config (it must not even be read); a path that cannot exist for the others.
    path: (_inst, kind) => (kind === 'config file' ? '/proc/self/status' : `/proc/ai-proxy-test-${process.pid}/ai-proxy.${kind === 'PID file' ? 'pid' : 'log'}`),
    reason: () => /is on procfs, a kernel pseudo-filesystem/,
  },
  {
    name: 'under /sys',
    path: (_inst, kind) => `/sys/ai-proxy-test-${process.pid}/ai-proxy.${kind === 'PID file' ? 'pid' : kind === 'log file' ? 'log' : 'yaml'}`,
    reason: () => /is on sysfs, a kernel pseudo-filesystem/,
  },
  {
    name: 'a FIFO with no reader',
    path: (inst, kind) => {
      const path = join(inst.dir, `fifo-${kind.replace(' ', '-')}`);
      mkfifo(path);
      return path;
    },
    reason: () => /is a FIFO \(named pipe\), not a regular file/,
  },
  {
    name: 'a directory',
    path: (inst, kind) => {
      const path = join(inst.dir, `dir-${kind.replace(' ', '-')}`);
      mkdirSync(path);
      return path;
    },
    reason: () => /is a directory, not a regular file/,
  },
  {
    name: 'a dangling symbolic link',
    path: (inst, kind) => {
      const path = join(inst.dir, `link-${kind.replace(' ', '-')}`);
      symlinkSync(join(inst.dir, 'nothing-here', 'target'), path);
      return path;
    },
    // A PID file is never followed through a link (DESIGN §4); the others name the missing target.
    reason: (kind) => (kind === 'PID file' ? /is a symbolic link; refusing to follow it/ : /is a symbolic link to a file that does not exist \(dangling\)/),
  },
];

for (const { name, path, reason } of cases) {
  for (const kind of KINDS) {
    test(`a ${kind} ${name}: run, run -d and validate fail at once with the path and the reason`, async (t) => {
      const inst = instance(t);
      const at = path(inst, kind, t);
      assert.ok(at !== null);
      await assertRefused(inst, kind, at, reason(kind));
    });
  }
}

test('a PID file or log file in a read-only mount fails at once with EROFS; a config there is read as usual', async (t) => {
  const inst = instance(t);
  const mount = readOnlyMount(t);
  if (mount === null) {
    assert.notEqual(process.env.CI, 'true', 'CI runs as root and must test the read-only mount');
    return t.skip('cannot bind-mount here (needs root with CAP_SYS_ADMIN)');
  }
  await assertRefused(inst, 'PID file', join(mount, 'ai-proxy.pid'), /read-only file system \(EROFS\)/);
  await assertRefused(inst, 'log file', join(mount, 'ai-proxy.log'), /read-only file system \(EROFS\)/);
  // A config on a read-only file system (an image, a read-only /etc) is how many hosts ship one.
  const config = join(mount, 'ai-proxy.yaml');
  const validate = await runCli(['validate', '-c', config], { env: inst.env });
  assert.equal(validate.code, 0, validate.stderr);
  const run = await runCli(['run', '-d', '-c', config, '--pid-file', inst.pidFile, '--log-file', inst.logFile], { env: inst.env });
  assert.equal(run.code, 0, run.stderr);
  assert.equal((await runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env })).code, 0);
});

test('a ${file:} secret that is a FIFO with no writer fails at once instead of blocking the launcher', async (t) => {
  const inst = instance(t);
  const fifo = join(inst.dir, 'secret.fifo');
  mkfifo(fifo);
  writeFileSync(inst.config, defaultYaml(`admin:\n  key: \${file:${fifo}}\n`));
  const options = { env: inst.env, timeoutMs: COMMAND_TIMEOUT_MS };
  for (const args of [['validate', '-c', inst.config], ['run', '-d', ...inst.flags], ['run', ...inst.flags]]) {
    const result = await runCli(args, options);
    assert.equal(result.code, 1, `${args[0]}: ${result.stderr}`);
    assert.ok(result.stderr.includes(`secret file ${fifo} is a FIFO (named pipe), not a regular file`), `${args.join(' ')}: ${result.stderr}`);
  }
  assert.ok(!existsSync(inst.pidFile));
});
