/** Base of the commands that talk to a running instance: they find it the way `run` placed it. */
import { Option } from 'clipanion';
import { AppCommand } from './base.ts';

export abstract class InstanceCommand extends AppCommand {
  pidFile = Option.String('--pid-file', { description: 'PID file of the instance (default: as `run` resolves it)' });
  config = Option.String('-c,--config', { description: 'Config file whose pid-file setting to use' });
}
