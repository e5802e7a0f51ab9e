'use strict';
/* Runs an incoming-webhook script the way Rocket.Chat ≥ 7.0 does, as closely as Node allows, so
 * that a script passing here does not fail on the server for a sandbox reason.
 *
 * What Rocket.Chat does (RocketChat/Rocket.Chat, apps/meteor/app/integrations/server/):
 * - lib/isolated-vm/getCompatibilityScript.ts: the script text is pasted between a prelude that
 *   declares `const Store` and an epilogue that runs `new Script()` and returns its
 *   `process_incoming_request` (and the outgoing methods) as the completion value. It is one
 *   classic script: a top-level `return` is "Illegal return statement" (RocketChat/Rocket.Chat
 *   #36276), `import` is a SyntaxError, and a top-level `Store` clashes with the prelude.
 * - lib/isolated-vm/isolated-vm.ts: a fresh isolate (8 MB), `script.run(context, { timeout: 3000 })`,
 *   then each call as `applySync(..., { arguments: { copy: true }, result: { copy: true,
 *   promise: true } })`: the script gets a copy of the request and its result is copied out,
 *   which fails for functions.
 * - lib/isolated-vm/buildSandbox.ts: the globals are `global`, `ivm`, `s` (string helpers) and
 *   `console`; there is no `require`, `module`, `process`, `Buffer`, `fetch` or timer.
 * - lib/compileIntegrationScript.ts: by default the script first goes through Babel preset-env,
 *   whose output is strict mode; `skipTranspile` keeps it as written. Both are run here.
 * - api/api.ts (executeIntegrationRest): a falsy result posts nothing; `result.error` is sent
 *   back as the failure; otherwise `result.content` is the message, and it must be an object
 *   (`'separateResponse' in content` throws otherwise) without `channel`/`roomId` (refused unless
 *   the integration allows overriding the channel).
 * - lib/server/functions/processWebhookMessage.ts and sendMessage.ts (validateMessage): the
 *   message's `text`, `attachments` (an array) and the types of each attachment's fields; links
 *   must be absolute URLs and not `javascript:`; `alias`/`avatar` need `message-impersonate`.
 *
 * What Node cannot reproduce: the 8 MB heap limit (node:vm shares the process heap), Babel's
 * ES5 rewrite itself (not installed; strict mode is what changes behaviour), the `s` helpers
 * (a script using `s` fails here; this one does not use it), and RC's 3 s bound applies only to
 * the first run — here every call is bounded too, which is stricter.
 */

const vm = require('node:vm');

const TIMEOUT_MS = 3000;

/* Mirrors getCompatibilityScript.ts (wording ours): prelude, script, epilogue. */
const PRELUDE = [
  'const Store = (function () {',
  '  const store = {};',
  '  return { set(key, val) { store[key] = val; return val; }, get(key) { return store[key]; } };',
  '})();',
  '',
].join('\n');
const EPILOGUE = [
  '',
  '(function () {',
  '  const instance = new Script();',
  '  const functions = {};',
  "  ['prepare_outgoing_request', 'process_outgoing_response', 'process_incoming_request'].forEach((name) => {",
  "    if (typeof instance[name] === 'function') {",
  '      functions[name] = (...args) => instance[name](...args);',
  '    }',
  '  });',
  '  return functions;',
  '})();',
].join('\n');

/* A script broke the sandbox contract (as opposed to a test expectation failing). */
class ContractError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ContractError';
  }
}

/* Settings are the lines ending in `// stackctl:<key>`; each is rewritten whole to
 * `const NAME = <JSON>; // stackctl:<key>`. `stackctl init rocketchat-webhook --script FILE`
 * does the same; this is the reference the tests hold it to. */
function configure(source, settings) {
  let out = source;
  for (const [key, value] of Object.entries(settings)) {
    const marker = new RegExp(`^const ([A-Z_]+) = .*; // stackctl:${key}$`, 'gm');
    const found = out.match(marker) || [];
    if (found.length !== 1) {
      throw new Error(`expected one line marked stackctl:${key}, found ${found.length}`);
    }
    out = out.replace(marker, (_line, name) => `const ${name} = ${JSON.stringify(value)}; // stackctl:${key}`);
  }
  return out;
}

/* Compiles and starts a script; returns `{ call(request), logs }`. `strict` prepends the
 * directive Babel's output carries. Throws what Rocket.Chat would fail on at save or first run. */
function load(source, { strict = false, filename = 'script.js' } = {}) {
  const head = (strict ? "'use strict';\n" : '') + PRELUDE;
  const code = head + source + EPILOGUE;
  // Nothing from this realm goes in: a function of ours would hand the script our `Function`
  // constructor, and through it `process`. The console writes to an array inside the context.
  const context = vm.createContext({}, { name: filename });
  vm.runInContext(
    `globalThis.global = globalThis;
     globalThis.__harness_logs = [];
     globalThis.console = {};
     ['log', 'info', 'warn', 'error'].forEach((level) => {
       console[level] = (...args) => {
         __harness_logs.push({ level, message: args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ') });
       };
     });`,
    context,
  );
  // Line numbers in errors point into the script, not into the prelude.
  const script = new vm.Script(code, { filename, lineOffset: -head.split('\n').length + 1 });
  const functions = script.runInContext(context, { timeout: TIMEOUT_MS });
  if (!functions || typeof functions.process_incoming_request !== 'function') {
    throw new ContractError('the Script class has no process_incoming_request method');
  }
  context.__harness_fn = functions.process_incoming_request;

  return {
    /* What the script wrote with console.*, as `{ level, message }`. */
    get logs() {
      return JSON.parse(JSON.stringify(context.__harness_logs));
    },
    /* One call, with a frozen in-context copy of `request`; resolves to the copied-out result. */
    async call(request) {
      // The copy is made inside the context, as isolated-vm's ExternalCopy does: the script sees
      // its own realm's objects (Array.isArray, instanceof Object hold), never the test's.
      context.__harness_request_json = JSON.stringify(request);
      let result;
      try {
        result = vm.runInContext(
          `(function () {
             const freeze = (v) => { if (v && typeof v === 'object') { Object.values(v).forEach(freeze); Object.freeze(v); } return v; };
             return __harness_fn({ request: freeze(JSON.parse(__harness_request_json)) }, {});
           })()`,
          context,
          { timeout: TIMEOUT_MS },
        );
      } finally {
        delete context.__harness_request_json;
      }
      if (result && typeof result.then === 'function') {
        let timer;
        const late = new Promise((_, reject) => {
          timer = setTimeout(() => reject(new ContractError(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
        });
        try {
          result = await Promise.race([result, late]);
        } finally {
          clearTimeout(timer);
        }
      }
      try {
        // `result: { copy: true }`: structured clone, which refuses functions and symbols.
        return structuredClone(result);
      } catch (e) {
        throw new ContractError(`the result cannot be copied out of the isolate: ${e.message}`);
      }
    },
  };
}

/* The request object of api.ts, for a JSON POST to /hooks/<id>/<token>. */
function hookRequest({ headers = {}, content = {}, query = {}, raw } = {}) {
  const lower = {};
  for (const [k, v] of Object.entries(headers)) {
    lower[k.toLowerCase()] = v;
  }
  const search = new URLSearchParams(query).toString();
  const path = '/hooks/INTEGRATION_ID/TOKEN' + (search ? '?' + search : '');
  return {
    url: { hash: '', search: search ? '?' + search : '', query, pathname: '/hooks/INTEGRATION_ID/TOKEN', path },
    url_raw: path,
    url_params: { integrationId: 'INTEGRATION_ID', token: 'TOKEN' },
    content,
    content_raw: raw !== undefined ? raw : JSON.stringify(content),
    headers: { 'content-type': 'application/json', 'user-agent': 'GitLab/18.0.0', ...lower },
    body: content,
    user: { _id: 'BOT_USER_ID', name: 'GitLab', username: 'gitlab' },
  };
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function absoluteUrl(value, where) {
  if (typeof value !== 'string' || !/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(value) || /^javascript:/i.test(value)) {
    throw new ContractError(`${where} is not an absolute URL: ${JSON.stringify(value)}`);
  }
}

function ofType(value, types, where) {
  if (value != null && !types.includes(typeof value)) {
    throw new ContractError(`${where} must be ${types.join(' or ')}, got ${JSON.stringify(value)}`);
  }
}

/* Classifies a result as Rocket.Chat would act on it: `{ kind: 'nothing' }`, `{ kind: 'error',
 * error }` or `{ kind: 'message', content }`; throws ContractError for what the server refuses. */
function interpret(result) {
  if (!result) {
    return { kind: 'nothing' };
  }
  if (result.error) {
    return { kind: 'error', error: result.error };
  }
  const content = result.content;
  if (!isObject(content)) {
    throw new ContractError(`result.content must be an object, got ${JSON.stringify(content)}`);
  }
  if (content.channel || content.roomId) {
    throw new ContractError('result.content names a channel; refused unless overriding the destination is enabled');
  }
  for (const key of ['alias', 'username', 'avatar', 'icon_url']) {
    if (content[key]) {
      throw new ContractError(`result.content.${key} needs the message-impersonate permission`);
    }
  }
  ofType(content.text, ['string'], 'content.text');
  if (content.attachments !== undefined) {
    if (!Array.isArray(content.attachments)) {
      throw new ContractError('content.attachments must be an array (Rocket.Chat drops anything else)');
    }
    content.attachments.forEach((a, i) => {
      const at = `attachments[${i}]`;
      if (!isObject(a)) {
        throw new ContractError(`${at} must be an object`);
      }
      for (const key of ['color', 'text', 'title', 'author_name', 'button_alignment']) {
        ofType(a[key], ['string'], `${at}.${key}`);
      }
      ofType(a.ts, ['string', 'number'], `${at}.ts`);
      ofType(a.collapsed, ['boolean'], `${at}.collapsed`);
      for (const key of ['title_link', 'author_link', 'author_icon', 'thumb_url', 'image_url', 'message_link']) {
        if (a[key] != null) {
          absoluteUrl(a[key], `${at}.${key}`);
        }
      }
      if (a.fields !== undefined) {
        if (!Array.isArray(a.fields)) {
          throw new ContractError(`${at}.fields must be an array`);
        }
        a.fields.forEach((f, j) => {
          if (!isObject(f)) {
            throw new ContractError(`${at}.fields[${j}] must be an object`);
          }
          ofType(f.short, ['boolean'], `${at}.fields[${j}].short`);
          ofType(f.title, ['string'], `${at}.fields[${j}].title`);
          ofType(f.value, ['string', 'number', 'boolean'], `${at}.fields[${j}].value`);
        });
      }
    });
  }
  if (!content.text && !(content.attachments && content.attachments.length)) {
    throw new ContractError('the message has neither text nor attachments');
  }
  return { kind: 'message', content };
}

module.exports = { ContractError, TIMEOUT_MS, configure, load, hookRequest, interpret };
