'use strict';
/* The GitLab → Rocket.Chat script (compose/chat/integrations/gitlab.js) against recorded GitLab
 * payloads, in a sandbox that keeps Rocket.Chat's rules (harness.js).
 *
 *   node --test tests/gitlab-script/gitlab.test.js                     # check
 *   UPDATE_SNAPSHOTS=1 node --test tests/gitlab-script/gitlab.test.js  # rewrite snapshots/
 */

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { ContractError, configure, load, hookRequest, interpret } = require('./harness.js');

const HERE = __dirname;
const SCRIPT_PATH = path.join(HERE, '..', '..', 'compose', 'chat', 'integrations', 'gitlab.js');
const SOURCE = fs.readFileSync(SCRIPT_PATH, 'utf8');
const PAYLOADS = path.join(HERE, 'payloads');
const SNAPSHOTS = path.join(HERE, 'snapshots');
const FIXTURES = path.join(HERE, 'fixtures');
/* payload file → the X-Gitlab-Event header GitLab sends with it. */
const EVENTS = JSON.parse(fs.readFileSync(path.join(HERE, 'events.json'), 'utf8'));
const UPDATE = process.env.UPDATE_SNAPSHOTS === '1';

const KNOWN_HEADERS = [
  'Push Hook',
  'Tag Push Hook',
  'Merge Request Hook',
  'Pipeline Hook',
  'Issue Hook',
  'Confidential Issue Hook',
  'Note Hook',
  'Confidential Note Hook',
];

function payload(name) {
  return JSON.parse(fs.readFileSync(path.join(PAYLOADS, name), 'utf8'));
}

/* The script, started once per mode: as written (skipTranspile) and in strict mode (Babel). */
const MODES = { 'as written': { strict: false }, strict: { strict: true } };

async function post(source, request, mode = MODES['as written']) {
  const script = load(source, { ...mode, filename: 'gitlab.js' });
  const result = interpret(await script.call(request));
  return { result, logs: script.logs };
}

async function postEvent(header, content, source = SOURCE) {
  const headers = header === undefined ? {} : { 'X-Gitlab-Event': header };
  return (await post(source, hookRequest({ headers, content }))).result;
}

function readFixture(name) {
  return fs.readFileSync(path.join(FIXTURES, name), 'utf8');
}

/* ---------------------------------------------------------------------------------------- */
/* Recorded payloads against committed snapshots.                                             */

test('every payload has an event header and every header a payload', () => {
  const files = fs.readdirSync(PAYLOADS).filter((f) => f.endsWith('.json')).sort();
  assert.deepEqual(files, Object.keys(EVENTS).sort());
  for (const header of KNOWN_HEADERS) {
    assert.ok(Object.values(EVENTS).includes(header), `no payload is sent as "${header}"`);
  }
});

test('no snapshot is left without its payload', () => {
  if (!fs.existsSync(SNAPSHOTS)) {
    return;
  }
  const stale = fs.readdirSync(SNAPSHOTS).filter((f) => !(f in EVENTS));
  if (UPDATE) {
    stale.forEach((f) => fs.unlinkSync(path.join(SNAPSHOTS, f)));
  } else {
    assert.deepEqual(stale, [], 'remove these snapshots or run with UPDATE_SNAPSHOTS=1');
  }
});

for (const [file, header] of Object.entries(EVENTS)) {
  test(`${file} (${header}) matches its snapshot in both modes`, async () => {
    const request = hookRequest({ headers: { 'X-Gitlab-Event': header }, content: payload(file) });
    const loose = await post(SOURCE, request, MODES['as written']);
    const strict = await post(SOURCE, request, MODES.strict);
    assert.deepEqual(strict.result, loose.result, 'strict mode changed the message');
    assert.equal(loose.result.kind, 'message');
    assert.deepEqual(loose.logs, [], 'a recorded payload should not need a log line');

    const snapshot = path.join(SNAPSHOTS, file);
    const actual = JSON.stringify(loose.result.content, null, 2) + '\n';
    if (UPDATE) {
      fs.mkdirSync(SNAPSHOTS, { recursive: true });
      fs.writeFileSync(snapshot, actual);
      return;
    }
    assert.ok(fs.existsSync(snapshot), `no snapshot ${path.relative(HERE, snapshot)}; run with UPDATE_SNAPSHOTS=1`);
    assert.equal(actual, fs.readFileSync(snapshot, 'utf8'));
  });
}

test('without the header the body\'s object_kind decides', async () => {
  for (const [file, header] of Object.entries(EVENTS)) {
    if (header.startsWith('Confidential') || header === 'Wiki Page Hook') {
      continue; // their object_kind is `issue`/`note`/`wiki_page`: tested elsewhere
    }
    const body = payload(file);
    assert.deepEqual(await postEvent(undefined, body), await postEvent(header, body), file);
  }
});

test('the header wins over object_kind', async () => {
  const body = { ...payload('push.json'), object_kind: 'note' };
  const { content } = await postEvent('Push Hook', body);
  assert.match(content.text, /pushed 4 commits to `master`/);
});

test('a push lists at most max-commits commits, newest first kept', async () => {
  const source = configure(SOURCE, { 'max-commits': 2 });
  const { content } = await postEvent('Push Hook', payload('push-many.json'), source);
  const lines = content.attachments[0].text.split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /Step 6 of the migration/);
  assert.match(lines[1], /Step 7 of the migration/);
  assert.equal(lines[2], '… and 21 earlier commits');
});

/* ---------------------------------------------------------------------------------------- */
/* Unknown and malformed input: always one line, never a throw.                               */

test('an unknown event gets the fallback line', async () => {
  const { content } = await postEvent('Job Hook', { object_kind: 'build', build_status: 'failed' });
  assert.deepEqual(content, { text: 'GitLab sent a "Job Hook" event', attachments: [] });
});

test('an unknown event names its project when it has one', async () => {
  const { content } = await postEvent('Deployment Hook', { project: { path_with_namespace: 'g/p', web_url: 'https://gitlab.example/g/p' } });
  assert.equal(content.text, 'GitLab sent a "Deployment Hook" event for [g/p](https://gitlab.example/g/p)');
});

test('no header and no object_kind gets the fallback line', async () => {
  const { content } = await postEvent(undefined, { hello: 'world' });
  assert.equal(content.text, 'GitLab sent an event without a name');
});

const MALFORMED = [
  null,
  [],
  [1, 2, 3],
  'a string',
  42,
  true,
  {},
  { object_kind: 12 },
  { object_attributes: null, project: null, user: null },
  { object_attributes: [], project: [], user: [] },
  { object_attributes: 'x', project: 'x', user: 'x', commits: 'x', builds: 'x' },
  { ref: 5, before: {}, after: [], commits: [null, 1, 'x', [], { id: null, url: 7, author: 'x' }], total_commits_count: '3' },
  { ref: 'refs/heads/x', commits: [{ id: 'abc', title: { a: 1 }, url: 'javascript:alert(1)' }] },
  { object_attributes: { iid: {}, id: [], title: [], url: 'javascript:alert(1)', action: {}, status: null } },
  { object_attributes: { iid: 1, id: 2, status: 'success', noteable_type: 'MergeRequest', duration: 'long' }, merge_request: null },
  { object_attributes: { noteable_type: 'Commit' }, commit: { message: null } },
  { object_attributes: { noteable_type: 'Snippet', note: { nested: true } }, snippet: [] },
  { object_attributes: { iid: 3, action: 'open', type: 17, confidential: 'yes' }, project: { web_url: 'ftp://x' } },
];

for (const header of KNOWN_HEADERS) {
  test(`malformed ${header} bodies get a line, never an exception`, async () => {
    for (const content of MALFORMED) {
      for (const mode of Object.values(MODES)) {
        const request = hookRequest({ headers: { 'X-Gitlab-Event': header }, content });
        const { result } = await post(SOURCE, request, mode);
        assert.equal(result.kind, 'message', JSON.stringify(content));
        assert.equal(typeof result.content.text, 'string');
        assert.ok(result.content.text.length > 0);
        assert.doesNotMatch(JSON.stringify(result.content), /javascript:/);
      }
    }
  });
}

test('a body that is not an object is read from content_raw', async () => {
  const raw = JSON.stringify(payload('tag-push.json'));
  const request = hookRequest({ headers: { 'X-Gitlab-Event': 'Tag Push Hook' }, content: 'not parsed', raw });
  const { result } = await post(SOURCE, request);
  assert.match(result.content.text, /pushed tag `v1.0.0`/);
});

/* Every recorded payload, each with one value somewhere inside swapped for null, [], '', a
 * number or an object: a deterministic fuzz of "GitLab changed a field". */
test('recorded payloads with one value swapped never throw', async () => {
  let seed = 20240611;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const replacements = [null, [], '', 0, {}, 'x'];
  const paths = (value, prefix = []) =>
    value && typeof value === 'object'
      ? Object.keys(value).flatMap((k) => [[...prefix, k], ...paths(value[k], [...prefix, k])])
      : [];
  const script = load(SOURCE, { filename: 'gitlab.js' });
  let runs = 0;
  for (const [file, header] of Object.entries(EVENTS)) {
    const original = payload(file);
    const all = paths(original);
    for (let i = 0; i < 25; i++) {
      const body = JSON.parse(JSON.stringify(original));
      const where = all[Math.floor(random() * all.length)];
      let parent = body;
      where.slice(0, -1).forEach((k) => (parent = parent[k]));
      parent[where[where.length - 1]] = replacements[Math.floor(random() * replacements.length)];
      const result = interpret(await script.call(hookRequest({ headers: { 'X-Gitlab-Event': header }, content: body })));
      assert.equal(result.kind, 'message', `${file} with ${where.join('.')} replaced`);
      runs++;
    }
  }
  assert.ok(runs >= 25 * Object.keys(EVENTS).length);
  assert.deepEqual(script.logs, [], 'a swapped value should be handled, not caught');
});

/* ---------------------------------------------------------------------------------------- */
/* The token.                                                                                 */

const TOKEN = 'gl-s3cret';

test('a wrong or missing X-Gitlab-Token is refused without echoing the token', async () => {
  const source = configure(SOURCE, { 'gitlab-token': TOKEN });
  for (const given of [undefined, '', 'wrong', TOKEN + 'x', TOKEN.slice(0, -1), TOKEN.toUpperCase()]) {
    const headers = { 'X-Gitlab-Event': 'Push Hook' };
    if (given !== undefined) {
      headers['X-Gitlab-Token'] = given;
    }
    const { result, logs } = await post(source, hookRequest({ headers, content: payload('push.json') }));
    assert.equal(result.kind, 'error', `token ${JSON.stringify(given)}`);
    assert.deepEqual(result.error, { success: false, message: 'X-Gitlab-Token is missing or wrong' });
    assert.doesNotMatch(JSON.stringify(result) + JSON.stringify(logs), /s3cret/);
  }
});

test('the right X-Gitlab-Token posts the message', async () => {
  const source = configure(SOURCE, { 'gitlab-token': TOKEN });
  const request = hookRequest({ headers: { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': TOKEN }, content: payload('push.json') });
  const { result } = await post(source, request, MODES.strict);
  assert.equal(result.kind, 'message');
  assert.deepEqual(result.content, (await postEvent('Push Hook', payload('push.json'))).content);
});

test('a token with quotes, backslashes and line separators survives configuration', async () => {
  const awkward = 'a\'b"c\\d\u2028e`f${g}';
  const source = configure(SOURCE, { 'gitlab-token': awkward });
  const ok = hookRequest({ headers: { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': awkward }, content: payload('push.json') });
  assert.equal((await post(source, ok, MODES.strict)).result.kind, 'message');
  const bad = hookRequest({ headers: { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': 'a' }, content: payload('push.json') });
  assert.equal((await post(source, bad)).result.kind, 'error');
});

test('with no token configured any request is described', async () => {
  const request = hookRequest({ headers: { 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Token': 'anything' }, content: payload('push.json') });
  assert.equal((await post(SOURCE, request)).result.kind, 'message');
});

test('the settings are one marked line each, and configuring the defaults changes nothing', () => {
  const marked = SOURCE.split('\n').filter((line) => /\/\/ stackctl:[a-z-]+$/.test(line));
  assert.deepEqual(marked, [
    "const GITLAB_TOKEN = ''; // stackctl:gitlab-token",
    'const SHOW_CONFIDENTIAL = false; // stackctl:show-confidential',
    'const MAX_COMMITS = 5; // stackctl:max-commits',
  ]);
  const defaults = { 'gitlab-token': '', 'show-confidential': false, 'max-commits': 5 };
  assert.equal(configure(SOURCE, defaults).replace("GITLAB_TOKEN = \"\"", "GITLAB_TOKEN = ''"), SOURCE);
});

/* ---------------------------------------------------------------------------------------- */
/* Confidential items and untrusted text.                                                     */

const SECRET = /SECRET|rotate the registry|token leak|Example Corp|deploy key/;

for (const file of ['confidential-issue.json', 'confidential-note.json', 'internal-note.json']) {
  test(`${file}: nothing confidential reaches the room unless enabled`, async () => {
    const hidden = await postEvent(EVENTS[file], payload(file));
    assert.doesNotMatch(JSON.stringify(hidden), SECRET);
    assert.match(hidden.content.text, /confidential/);
    assert.ok(hidden.content.attachments[0].title_link, 'the link is still there');

    const shown = await postEvent(EVENTS[file], payload(file), configure(SOURCE, { 'show-confidential': true }));
    assert.match(JSON.stringify(shown), /SECRET/);
  });
}

test('a confidential issue is hidden even when sent as a plain Issue Hook', async () => {
  const { content } = await postEvent('Issue Hook', payload('confidential-issue.json'));
  assert.doesNotMatch(JSON.stringify(content), SECRET);
});

test('a comment on a confidential issue is hidden even when sent as a plain Note Hook', async () => {
  const body = payload('confidential-note.json');
  delete body.event_type;
  const { content } = await postEvent('Note Hook', body);
  assert.doesNotMatch(JSON.stringify(content), SECRET);
});

test('untrusted text cannot mention, link, or format', async () => {
  const { content } = await postEvent('Push Hook', payload('push-markup.json'));
  const all = [content.text, ...content.attachments.map((a) => a.text)].join('\n');
  // Rocket.Chat's mention and markup syntax (packages/message-parser/src/grammar.pegjs).
  assert.doesNotMatch(all, /@[A-Za-z0-9]/, 'a mention');
  assert.doesNotMatch(all, /#[0-9]/, 'a channel mention');
  assert.doesNotMatch(all, /\]\(javascript/, 'a markdown link');
  assert.doesNotMatch(all, /<t:|<admin>/, 'a timestamp or an angle-bracket link');
  assert.doesNotMatch(all, /\*now\*|~gone~|`rm|\|\|spoiler|(^|\s)_it_/, 'emphasis, code or spoiler');
  assert.match(all, /snake_case/, 'underscores inside words stay');
  assert.match(content.text, /^John Smith pushed 2 commits to `fix\/'tick'` in /, 'a branch is shown as code');
});

test('titles and notes are cut to one short line', async () => {
  const { content } = await postEvent('Merge Request Hook', payload('merge-request-close.json'));
  const title = content.attachments[0].title;
  assert.ok(Array.from(title).length <= 104, title);
  assert.ok(title.endsWith('…'));
  const note = (await postEvent('Note Hook', payload('note-issue.json'))).content.attachments[0].text;
  assert.ok(!note.includes('\n'));
});

/* ---------------------------------------------------------------------------------------- */
/* The harness keeps Rocket.Chat's rules: each bad fixture fails the way it would on the       */
/* server, and the good one passes.                                                            */

const anyRequest = () => hookRequest({ headers: { 'X-Gitlab-Event': 'Push Hook' }, content: { a: 1 } });

test('harness: a well-behaved script passes', async () => {
  const { result } = await post(readFixture('good.js'), anyRequest(), MODES.strict);
  assert.deepEqual(result, { kind: 'message', content: { text: 'got 1 keys', attachments: [] } });
});

test('harness: `require` does not exist', () => {
  assert.throws(() => load(readFixture('uses-require.js')), { name: 'ReferenceError', message: /require is not defined/ });
});

test('harness: `module` does not exist', () => {
  assert.throws(() => load(readFixture('uses-module.js')), { name: 'ReferenceError', message: /module is not defined/ });
});

test('harness: `process` does not exist', async () => {
  const script = load(readFixture('uses-process.js'));
  await assert.rejects(script.call(anyRequest()), { name: 'ReferenceError', message: /process is not defined/ });
});

test('harness: a top-level return is a syntax error', () => {
  assert.throws(() => load(readFixture('top-level-return.js')), { name: 'SyntaxError', message: /Illegal return/ });
});

test('harness: the script shares its scope with the prelude\'s Store', () => {
  assert.throws(() => load(readFixture('declares-store.js')), { name: 'SyntaxError', message: /Store/ });
});

test('harness: a call is stopped after 3 s', async () => {
  const script = load(readFixture('endless.js'));
  await assert.rejects(script.call(anyRequest()), { code: 'ERR_SCRIPT_EXECUTION_TIMEOUT' });
});

test('harness: a result that cannot be copied out is refused', async () => {
  const script = load(readFixture('returns-function.js'));
  await assert.rejects(script.call(anyRequest()), ContractError);
});

test('harness: the request is read-only', async () => {
  const script = load(readFixture('mutates-request.js'));
  // The error comes from the script's realm: its class is another TypeError, same name.
  await assert.rejects(script.call(anyRequest()), { name: 'TypeError', message: /not extensible/ });
});

test('harness: naming a channel is refused', async () => {
  const script = load(readFixture('sets-channel.js'));
  await assert.rejects(async () => interpret(await script.call(anyRequest())), ContractError);
});

test('harness: sloppy-mode code fails in strict mode, as after Babel', async () => {
  assert.equal((await post(readFixture('sloppy-global.js'), anyRequest(), MODES['as written'])).result.kind, 'message');
  await assert.rejects(post(readFixture('sloppy-global.js'), anyRequest(), MODES.strict), { name: 'ReferenceError' });
});

test('harness: result shapes Rocket.Chat refuses', () => {
  assert.deepEqual(interpret(undefined), { kind: 'nothing' });
  assert.deepEqual(interpret({ error: 'nope' }), { kind: 'error', error: 'nope' });
  const refused = [
    { content: 'text' },
    { content: { text: 'x', attachments: {} } },
    { content: { text: 'x', attachments: [{ title_link: 'javascript:alert(1)' }] } },
    { content: { text: 'x', attachments: [{ title_link: '/relative' }] } },
    { content: { text: 'x', attachments: [{ fields: [{ title: 1, value: 'v' }] }] } },
    { content: { text: 'x', alias: 'GitLab' } },
    { content: {} },
  ];
  for (const result of refused) {
    assert.throws(() => interpret(result), ContractError, JSON.stringify(result));
  }
});
