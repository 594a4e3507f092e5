/**
 * A real nginx (Debian's package) for the load-balancer tests: the shipped
 * etc/nginx/ai-proxy-fleet.conf inside a minimal nginx.conf of the test's own (prefix, PID file,
 * temp paths and error log in a scratch directory), in the foreground, so the test owns the
 * master's PID. Only the upstream addresses and the listen port are replaced.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { get, SLACK_MS, tempDir, waitUntil } from './cli.ts';
import { freePort } from './redis.ts';

export const FLEET_CONF = new URL('../../etc/nginx/ai-proxy-fleet.conf', import.meta.url).pathname;

export function hasNginx(): boolean {
  return spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status === 0;
}

export async function startNginx(t: TestContext, backends: readonly number[]): Promise<{ url: string; errorLog: () => string }> {
  const prefix = tempDir(t, 'ai-proxy-nginx-');
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  const port = await freePort();
  let conf = readFileSync(FLEET_CONF, 'utf8');
  const servers = [...conf.matchAll(/^\s*server 10\.0\.0\.\d+:8317 (.*);$/gm)];
  if (servers.length !== backends.length) throw new Error(`${FLEET_CONF} lists ${servers.length} servers; the test has ${backends.length} instances`);
  servers.forEach((m, i) => (conf = conf.replace(m[0], `    server 127.0.0.1:${backends[i]} ${m[1]};`)));
  conf = conf.replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${port};`);
  writeFileSync(join(prefix, 'ai-proxy-fleet.conf'), conf);
  const isRoot = process.getuid?.() === 0;
  writeFileSync(
    join(prefix, 'nginx.conf'),
    `daemon off;
worker_processes 1;
${isRoot ? 'user root;\n' : ''}pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  include ${prefix}/ai-proxy-fleet.conf;
}
`,
  );
  const child = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil('nginx answers', async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}`);
    return get(`${url}/healthz`, {}, SLACK_MS).then(
      (r) => r.status === 200,
      () => false,
    );
  });
  const errorLog = (): string => {
    try {
      return readFileSync(join(prefix, 'logs/error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  return { url, errorLog };
}
