/**
 * Golden translations: every fixture in every format, translated to every format, compared with
 * the frozen expected output under test/fixtures/translate/expected/. The expected files were
 * generated once (UPDATE=1), reviewed by hand against each API's documented shape, and frozen;
 * a change in translation shows up here as a diff to review, not as silent drift.
 *
 *   UPDATE=1 node --import tsx --test test/translate/golden.test.ts   # regenerate, then review the git diff
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { createStreamTranslator, isTranslationError, translateError, translateRequest, translateResponse } from '../../src/server/translate/index.ts';
import { CTX, FIXTURES, FORMATS, UPSTREAM_MODEL, fixtureNames, readBytes, readJson } from './fixtures.ts';

const UPDATE = process.env.UPDATE === '1';

function check(relative: string, actual: string): void {
  const path = `${FIXTURES}expected/${relative}`;
  if (UPDATE) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  assert.ok(existsSync(path), `missing expected output ${relative} (run with UPDATE=1 and review it)`);
  assert.equal(actual, readFileSync(path, 'utf8'), `translation differs from expected/${relative}`);
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** The request's translation as frozen: the body, and what was left out when anything was (the tool-name map is not JSON). */
function request(from: Parameters<typeof translateRequest>[0], to: Parameters<typeof translateRequest>[1], body: unknown, stream: boolean): unknown {
  const { body: out, stream: streamed, model, omitted } = translateRequest(from, to, structuredClone(body), { model: UPSTREAM_MODEL, stream });
  return omitted.length === 0 ? { body: out, stream: streamed, model } : { body: out, stream: streamed, model, omitted };
}

/** A translation that is refused is part of the contract too: its status and message are frozen. */
function outcome(run: () => unknown): unknown {
  try {
    return run();
  } catch (error) {
    if (isTranslationError(error)) return { translationError: { status: error.status, message: error.message } };
    throw error;
  }
}

describe('golden request translations', () => {
  for (const from of FORMATS) {
    for (const name of fixtureNames('requests', from)) {
      const body = readJson(`requests/${from}/${name}.json`);
      for (const to of FORMATS) {
        it(`${from} → ${to}: ${name}`, () => {
          check(`requests/${from}-to-${to}/${name}.json`, json(outcome(() => request(from, to, body, false))));
        });
        if (name === 'basic') {
          it(`${from} → ${to}: ${name} (streaming)`, () => {
            check(`requests/${from}-to-${to}/${name}.stream.json`, json(outcome(() => request(from, to, body, true))));
          });
        }
      }
    }
  }
});

describe('golden response translations', () => {
  for (const from of FORMATS) {
    for (const name of fixtureNames('responses', from)) {
      const body = readJson(`responses/${from}/${name}.json`);
      for (const to of FORMATS) {
        it(`${from} → ${to}: ${name}`, () => {
          check(`responses/${from}-to-${to}/${name}.json`, json(translateResponse(from, to, structuredClone(body), CTX)));
        });
      }
    }
  }
});

describe('golden stream translations', () => {
  for (const from of FORMATS) {
    for (const name of fixtureNames('streams', from)) {
      const bytes = readBytes(`streams/${from}/${name}.sse`);
      for (const to of FORMATS) {
        it(`${from} → ${to}: ${name}`, () => {
          const out: string[] = [];
          const translator = createStreamTranslator(from, to, (s) => out.push(s), CTX);
          translator.push(bytes);
          translator.end();
          check(`streams/${from}-to-${to}/${name}.sse`, out.join(''));
          check(`streams/${from}-to-${to}/${name}.usage.json`, json(translator.usage()));
        });
      }
    }
  }
});

describe('golden error translations', () => {
  for (const from of FORMATS) {
    const cases = readJson(`errors/${from}.json`) as Array<{ status: number; body: unknown }>;
    for (const to of FORMATS) {
      it(`${from} → ${to}`, () => {
        check(`errors/${from}-to-${to}.json`, json(cases.map((c) => translateError(from, to, c.status, c.body))));
      });
    }
  }
});
