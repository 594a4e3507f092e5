/**
 * The CLI survives any answer on the control socket: another program squatting on the path, or
 * a broken launcher, gets a clear error and the right exit code from status, reload and stop —
 * never an uncaught exception. A fake launcher holds the PID file's lock (so the instance looks
 * present) and answers every request with one kind of nonsense.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { cleanEnv, isAlive, runCli, tempDir, waitUntil } from '../helpers/cli.ts';

const answers = {
  'a line that is not JSON': '"not json\\n"',
  'a JSON array': '"[1,2]\\n"',
  'an object without id and type': '"{\\"hello\\":1}\\n"',
  'a status without its fields': '"{\\"id\\":1,\\"type\\":\\"status\\"}\\n"',
  'a reload verdict without its fields': '"{\\"id\\":1,\\"type\\":\\"reloaded\\",\\"verdict\\":{}}\\n"',
  'two megabytes without a line end': '"x".repeat(2 * 1024 * 1024)',
  'an answer of another kind': '"{\\"id\\":1,\\"type\\":\\"stopping\\"}\\n{\\"id\\":1,\\"type\\":\\"stopped\\",\\"forced\\":false}\\n"',
  'a hang-up before any answer': 'null',
} as const;

/** A process that locks `pidFile` as a launcher does and answers on its socket with `answer` (a JS expression; null hangs up). */
async function fakeLauncher(t: TestContext, pidFile: string, answer: string): Promise<ChildProcess> {
  const fsExt = new URL('../../node_modules/fs-ext/fs-ext.js', import.meta.url).pathname;
  const script = `
    const fs = require('node:fs'), net = require('node:net');
    const fd = fs.openSync(${JSON.stringify(pidFile)}, 'w');
    require(${JSON.stringify(fsExt)}).flockSync(fd, 'exnb');
    fs.writeSync(fd, process.pid + '\\n');
    const answer = ${answer};
    net.createServer((socket) => socket.on('error', () => {}).on('data', () => (answer === null ? socket.destroy() : socket.write(answer)))).listen(${JSON.stringify(pidFile.replace(/\.pid$/, '.sock'))}, () => console.log('ready'));
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (isAlive(child.pid as number)) child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the fake launcher exited (${code})`)));
  });
  return child;
}

for (const [name, answer] of Object.entries(answers)) {
  test(`status, reload and stop facing ${name}: a clear error, the right exit code, no crash`, async (t) => {
    const dir = tempDir(t);
    const pidFile = join(dir, 'ai-proxy.pid');
    const fake = await fakeLauncher(t, pidFile, answer);
    const env = cleanEnv({ XDG_CONFIG_HOME: join(dir, 'none') });
    const noCrash = (what: string, stderr: string): void => {
      assert.doesNotMatch(stderr, /TypeError|SyntaxError|\n\s+at /, `${what} crashed:\n${stderr}`);
    };

    const status = await runCli(['status', '--json', '--pid-file', pidFile], { env });
    noCrash('status', status.stderr);
    const report = JSON.parse(status.stdout) as { outcome: string; error: { code: string; message: string } | null };
    if (name === 'an answer of another kind') {
      assert.equal(status.code, 4, status.stdout);
      assert.match(report.error?.message ?? '', /answered a status request with "stopping"/);
    } else {
      assert.deepEqual([status.code, report.outcome, report.error?.code], [4, 'unknown', 'E_CONTROL'], status.stdout);
      assert.match(report.error?.message ?? '', /not a control response|without a line end|closed before answering/);
    }

    const reload = await runCli(['reload', '--pid-file', pidFile], { env });
    noCrash('reload', reload.stderr);
    assert.equal(reload.code, 1, reload.stderr);
    assert.match(reload.stderr, /^ai-proxy: (the control socket|the launcher answered a reload with)/);

    // stop falls back to the signal systemd would send; a fake that answers "stopped" is believed, and waited for.
    // runCli's default bound: stop's own 10 s wait for the process, plus its start under load.
    const stop = await runCli(['stop', '--pid-file', pidFile], { env });
    noCrash('stop', stop.stderr);
    if (name === 'an answer of another kind') {
      // It said it stopped and did not: stop waits for the process, bounded, and says so.
      assert.equal(stop.code, 1, stop.stdout + stop.stderr);
      assert.match(stop.stderr, new RegExp(`pid ${fake.pid} is still running`));
    } else {
      assert.equal(stop.code, 0, stop.stdout + stop.stderr);
      await waitUntil('the fake launcher is gone', () => !isAlive(fake.pid as number));
    }
    assert.ok(existsSync(pidFile) || !isAlive(fake.pid as number));
  });
}
