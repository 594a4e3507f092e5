/** Option validators shared by the commands: clipanion runs them while parsing, so a bad value is a usage error (exit 64) before anything starts. */
import * as t from 'typanion';
import { parseDuration } from '../../shared/config/units.ts';

/** A duration such as 500ms, 10s, 2m or a number of seconds, coerced to milliseconds. */
export const isDuration = (): t.StrictValidator<unknown, number> =>
  t.makeValidator<unknown, number>({
    test: (value, state): value is number => {
      const ms = typeof value === 'string' ? parseDuration(value) : null;
      if (ms === null) {
        // typanion's own wording: "<path>: expected …", which clipanion prints after the option's name.
        state?.errors?.push(`${state.p ?? '.'}: expected a duration such as 500ms, 10s or 2m (got ${JSON.stringify(value)})`);
        return false;
      }
      if (state?.coercions !== undefined && state.coercion !== undefined) state.coercions.push([state.p ?? '.', state.coercion.bind(null, ms)]);
      return true;
    },
  });
