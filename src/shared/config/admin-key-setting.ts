/**
 * `admin.key` as the config file sets it, for the commands that call the running gateway's admin
 * API (`ai-proxy debug capture`). Like `pid-file-setting.ts`, only that key is read, with the
 * loader's YAML options and `${…}` expansion: the command must work in a shell that lacks the
 * variables of the upstream keys. Unlike the PID file, a missing or unusable key is an error with
 * its reason, since the command cannot go on without it.
 */
import { dirname } from 'node:path';
import { AppError } from '../errors.ts';
import { FileProblem, osReason, readRegularFile } from '../files.ts';

export async function adminKeyInFile(path: string, env: NodeJS.ProcessEnv): Promise<string> {
  let text: string;
  try {
    text = readRegularFile(path, 'config file').toString('utf8');
  } catch (error) {
    throw new AppError('E_CONFIG_READ', error instanceof FileProblem ? error.message : `cannot read config file ${path}: ${osReason(error)}`, { cause: error });
  }
  const yaml = await import('yaml');
  // The bundle hands a dynamically imported CommonJS package over as its default export.
  const parseDocument = yaml.parseDocument ?? (yaml as unknown as { default: typeof yaml }).default.parseDocument;
  const doc = parseDocument(text, { merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) throw new AppError('E_CONFIG_PARSE', `config file ${path} is not valid YAML; run \`ai-proxy validate -c ${path}\``);
  const value: unknown = doc.getIn(['admin', 'key']);
  if (value === undefined || value === null) throw new AppError('E_ADMIN', `the admin API is off: ${path} sets no admin.key (set one, reload, and try again)`);
  if (typeof value !== 'string' || value === '') throw new AppError('E_ADMIN', `admin.key in ${path} is not a string`);
  if (!value.includes('$')) return value;
  const { interpolate } = await import('./interpolate.ts');
  const result = interpolate(value, { env, baseDir: dirname(path) });
  // The message names the variable or the file, never a value.
  if (!result.ok) throw new AppError('E_ADMIN', `admin.key in ${path} cannot be resolved in this shell: ${result.message}`);
  return result.value;
}
