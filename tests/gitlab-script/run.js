'use strict';
/* Runs one incoming-webhook script call for the Rocket.Chat simulator (tests/rocketchat-sim),
 * through the same sandbox as the tests (harness.js), so that the simulator executes the
 * integration's real script instead of a stand-in.
 *
 * stdin: one JSON document, one of
 *   {"op": "compile", "script": "..."}
 *     What Rocket.Chat does when an integration is saved (lib/compileIntegrationScript.ts): a
 *     syntax check. Prints {"ok": true} or {"error": {"name", "message"}} (kept in `scriptError`).
 *   {"op": "call", "script": "...", "request": {...}, "strict": true}
 *     What api.ts does for a POST to /hooks/<id>/<token>: start the script (getCompatibilityScript
 *     + isolated-vm) and call process_incoming_request({request}). Prints one of
 *       {"stage": "load", "error": {...}}      the script failed to start (rethrown by RC)
 *       {"stage": "load", "missing": true}     no process_incoming_request (RC returns nothing)
 *       {"stage": "call", "error": {...}}      it threw, timed out or returned what cannot be
 *                                              copied out ("error-running-script")
 *       {"result": <value>, "logs": [...]}     what it returned (absent when undefined)
 * `strict` (default true) is Babel's strict-mode output, Rocket.Chat's default before 9.0.
 * The exit code is 0 whenever a JSON line was printed.
 *
 * `node tests/gitlab-script/run.js < job.json` runs it; the simulator instead loads this file and
 * harness.js as modules of one program piped to `node -`, and calls `main(job)`.
 */

const vm = require('node:vm');
const { ContractError, load } = require('./harness.js');

function describe(e) {
  if (e && typeof e === 'object') {
    return { name: String(e.name || 'Error'), message: String(e.message || e) };
  }
  return { name: 'Error', message: String(e) };
}

async function main(job) {
  if (job.op === 'compile') {
    try {
      // Parsed as the classic script it will be pasted into, not run.
      new vm.Script(String(job.script), { filename: 'script.js' });
      return { ok: true };
    } catch (e) {
      return { error: describe(e) };
    }
  }
  if (job.op !== 'call') {
    throw new Error(`unknown op ${JSON.stringify(job.op)}`);
  }
  let script;
  try {
    script = load(String(job.script), { strict: job.strict !== false, filename: 'script.js' });
  } catch (e) {
    if (e instanceof ContractError) {
      return { stage: 'load', missing: true };
    }
    return { stage: 'load', error: describe(e) };
  }
  try {
    const result = await script.call(job.request);
    return { result, logs: script.logs };
  } catch (e) {
    return { stage: 'call', error: describe(e), logs: script.logs };
  }
}

module.exports = { main };

if (require.main === module) {
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    input += chunk;
  });
  process.stdin.on('end', () => {
    main(JSON.parse(input)).then(
      (out) => {
        process.stdout.write(JSON.stringify(out) + '\n');
      },
      (e) => {
        process.stderr.write(`run.js: ${e && e.stack ? e.stack : e}\n`);
        process.exitCode = 2;
      },
    );
  });
}
