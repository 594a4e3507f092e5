import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SHIPPED_NODE, SHIPPED_SCRIPT, shippedUnit, unitFor } from '../../src/launcher/systemd-unit.ts';

test('the shipped unit names node and the script by absolute path, in ExecStart and ExecReload', () => {
  const shipped = shippedUnit();
  assert.match(shipped, new RegExp(`^ExecStart=${SHIPPED_NODE} ${SHIPPED_SCRIPT} run$`, 'm'));
  assert.match(shipped, new RegExp(`^ExecReload=${SHIPPED_NODE} ${SHIPPED_SCRIPT} reload$`, 'm'));
  // Nothing found on PATH: systemd's is not the user's.
  assert.doesNotMatch(shipped, /^Exec\w+=(?!\/)/m);
  assert.equal(unitFor(SHIPPED_NODE, SHIPPED_SCRIPT).text, shipped, 'the usual layout gives the shipped file unchanged');
});

test('systemd-unit rewrites exactly the two command lines for another layout, quoting paths with spaces', () => {
  const shipped = shippedUnit();
  const { text, warnings } = unitFor('/opt/node-24/bin/node', '/opt/ai proxy/lib/node_modules/ai-proxy/bin/ai-proxy.js');
  assert.deepEqual(warnings, []);
  const before = shipped.split('\n');
  const after = text.split('\n');
  assert.equal(after.length, before.length);
  const changed = after.filter((line, i) => line !== before[i]);
  assert.deepEqual(changed, [
    'ExecStart=/opt/node-24/bin/node "/opt/ai proxy/lib/node_modules/ai-proxy/bin/ai-proxy.js" run',
    'ExecReload=/opt/node-24/bin/node "/opt/ai proxy/lib/node_modules/ai-proxy/bin/ai-proxy.js" reload',
  ]);
});

test('systemd-unit warns about a node the unit\'s ProtectHome=yes would hide (nvm under /root or /home)', () => {
  const { warnings } = unitFor('/root/.nvm/versions/node/v24.1.0/bin/node', SHIPPED_SCRIPT);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] as string, /\/root\/\.nvm\/versions\/node\/v24\.1\.0\/bin\/node is under a directory the unit's ProtectHome=yes hides/);
});
