// The server's entry point: signal handlers first (DESIGN §2), then the gateway's lifecycle.
import '../shared/early-signals.ts';
import { decodeLaunch } from '../shared/launch.ts';
import { runServer } from './run-server.ts';

await runServer(decodeLaunch(process.argv[2]));
