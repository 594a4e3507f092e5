// Entry point of the detached launcher that `run -d` spawns: signal handlers first (DESIGN §2),
// then the supervisor. It skips the CLI parser: a daemon's start time and idle memory matter.
import '../shared/early-signals.ts';
import { daemonReporter } from './daemonize.ts';
import { runLauncher } from './run-launcher.ts';
import type { RunOptions } from './supervisor.ts';

// argv: [node, launcher.js, '__launcher' (a label for ps and tests), options as JSON]
const code = await runLauncher(JSON.parse(process.argv[3] ?? '{}') as RunOptions, daemonReporter());
process.exit(code);
