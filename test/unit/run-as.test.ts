import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveRunAs } from '../../src/launcher/run-as.ts';

test('user/group: names and ids from passwd and group; refused without root, with the reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'run-as-'));
  try {
    const files = { passwd: join(dir, 'passwd'), group: join(dir, 'group') };
    writeFileSync(files.passwd, 'root:x:0:0:root:/root:/bin/bash\nproxy:x:13:13:proxy:/bin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
    writeFileSync(files.group, 'root:x:0:\nproxy:x:13:\nnogroup:x:65534:\nai:x:900:\n');
    assert.equal(resolveRunAs(undefined, undefined, files, 0), null);
    assert.deepEqual(resolveRunAs('nobody', undefined, files, 0), { uid: 65534, gid: 65534, label: 'nobody:nogroup (65534:65534)' });
    assert.deepEqual(resolveRunAs('proxy', 'ai', files, 0), { uid: 13, gid: 900, label: 'proxy:ai (13:900)' });
    assert.deepEqual(resolveRunAs('4242', '900', files, 0), { uid: 4242, gid: 900, label: '4242:ai (4242:900)' });
    assert.throws(() => resolveRunAs('ghost', undefined, files, 0), /user: no user "ghost" in .*passwd/);
    assert.throws(() => resolveRunAs('nobody', 'ghosts', files, 0), /group: no group "ghosts"/);
    assert.throws(() => resolveRunAs('4242', undefined, files, 0), /no primary group.*set group as well/);
    assert.throws(() => resolveRunAs('nobody', undefined, files, 1000), /user: nobody needs the launcher to run as root \(it runs as uid 1000\).*DynamicUser/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
