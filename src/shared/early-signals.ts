// Imported first by each entry point: its evaluation installs the handlers before any other
// module body runs (ES modules evaluate in import order). See signals.ts for why.
import { installEarlySignalHandlers } from './signals.ts';

installEarlySignalHandlers();
