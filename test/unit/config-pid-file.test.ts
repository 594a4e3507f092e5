import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/shared/config/load.ts';
import { locatePidFile } from '../../src/shared/config/pid-file-setting.ts';
import { defaultPidFile } from '../../src/shared/paths.ts';

/** `run` (the loader) and `status` (the one-key reader) must reach the same PID file from the same inputs. */
async function both(dir: string, file: string | null, flag: string | undefined, env: NodeJS.ProcessEnv): Promise<{ path: string; origin: string }> {
  const configPath = file === null ? undefined : join(dir, 'ai-proxy.yaml');
  if (file !== null) writeFileSync(configPath as string, file);
  const located = await locatePidFile({ flag, configFlag: configPath, env });
  const loaded = loadConfig({ path: configPath, env, overrides: flag === undefined ? {} : { pidFile: flag } }).pidFile;
  assert.deepEqual(located, loaded, 'status locates the PID file that run uses');
  return located;
}

test('the PID file: --pid-file, then AI_PROXY_PID_FILE, then the config (expanded, beside the file), then the default; run and status agree', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ai-proxy-pidfile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { HOME: dir, XDG_RUNTIME_DIR: join(dir, 'run'), PIDS: join(dir, 'pids') };

  assert.deepEqual(await both(dir, null, undefined, env), { path: defaultPidFile(env), origin: 'default' });
  assert.deepEqual(await both(dir, 'log: { level: info }\n', undefined, env), { path: defaultPidFile(env), origin: 'default' });
  assert.deepEqual(await both(dir, 'pid-file: state/gw.pid\n', undefined, env), { path: join(dir, 'state', 'gw.pid'), origin: 'config' });
  assert.deepEqual(await both(dir, 'pid-file: ${PIDS}/gw.pid\n', undefined, env), { path: join(dir, 'pids', 'gw.pid'), origin: 'config' });
  const withEnv = { ...env, AI_PROXY_PID_FILE: join(dir, 'env.pid') };
  assert.deepEqual(await both(dir, 'pid-file: state/gw.pid\n', undefined, withEnv), { path: join(dir, 'env.pid'), origin: 'AI_PROXY_PID_FILE' });
  assert.deepEqual(await both(dir, 'pid-file: state/gw.pid\n', join(dir, 'flag.pid'), withEnv), { path: join(dir, 'flag.pid'), origin: '--pid-file' });
  // An empty variable counts as unset, as for every AI_PROXY_* override.
  assert.deepEqual(await both(dir, 'pid-file: state/gw.pid\n', undefined, { ...env, AI_PROXY_PID_FILE: '' }), { path: join(dir, 'state', 'gw.pid'), origin: 'config' });
});

test('status finds the PID file in a config that run could not load now (a secret unset in this shell, a broken key)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ai-proxy-pidfile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'ai-proxy.yaml');
  writeFileSync(configPath, 'pid-file: gw.pid\nclient-keys: [{ name: ci, key: "${MISSING_SECRET}" }]\nlisten: { port: "not a port" }\n');
  assert.deepEqual(await locatePidFile({ flag: undefined, configFlag: configPath, env: { HOME: dir } }), { path: join(dir, 'gw.pid'), origin: 'config' });
  // A pid-file that itself needs an unset variable could not have been used by any run: the default.
  writeFileSync(configPath, 'pid-file: ${UNSET_DIR}/gw.pid\n');
  assert.equal((await locatePidFile({ flag: undefined, configFlag: configPath, env: { HOME: dir } })).origin, 'default');
  // Not YAML at all: the default, and no exception.
  writeFileSync(configPath, 'pid-file: [unclosed\n');
  assert.equal((await locatePidFile({ flag: undefined, configFlag: configPath, env: { HOME: dir } })).origin, 'default');
});
