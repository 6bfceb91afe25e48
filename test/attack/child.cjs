// Entry of an attack child process: `node test/attack/child.cjs <job.json>` (see harness.ts).
'use strict';
require('./ts-hook.cjs');
require('./child.ts');
