/* GitLab → Rocket.Chat: the script of an incoming-webhook integration.
 *
 * GitLab POSTs one JSON document per event to the hook URL (/hooks/<id>/<token>); Rocket.Chat
 * hands it to `Script#process_incoming_request` and posts what the method returns. This script
 * turns push, tag push, merge request, pipeline, issue and comment events (and the confidential
 * issue and comment variants) into one short line plus one attachment with the links.
 *
 * Sandbox contract (Rocket.Chat ≥ 7.0, isolated-vm; see compose/chat/integrations/README.md):
 * - The script is pasted between a prelude that declares `const Store` and an epilogue that
 *   runs `new Script()` (apps/meteor/app/integrations/server/lib/isolated-vm/
 *   getCompatibilityScript.ts), all compiled as one classic script: no `require`, no `module`,
 *   no `import`, no top-level `return` ("Illegal return statement", RocketChat/Rocket.Chat#36276),
 *   and no top-level name `Store`.
 * - Globals are the language's own plus `console` and `s` (…/isolated-vm/buildSandbox.ts); the
 *   isolate has 8 MB and the first run 3 s (…/isolated-vm/isolated-vm.ts).
 * - By default Rocket.Chat first runs the script through Babel preset-env
 *   (…/lib/compileIntegrationScript.ts), which makes it strict mode and ES5. So: synchronous code
 *   only (an `async` method would need regenerator), no regex lookbehind or `\p{…}`, and nothing
 *   that relies on sloppy mode.
 * - The argument and the result are copied across the isolate boundary, so the result must be
 *   plain data (no functions).
 * - A throw becomes "error-running-script", a 400 for GitLab, which records a failed delivery and
 *   disables a webhook that keeps failing (doc/user/project/integrations/webhooks.md,
 *   auto-disabled webhooks). So every event is read defensively, and an unexpected one gets a
 *   one-line fallback instead.
 *
 * Settings: the three lines ending in a `// stackctl:` marker. `stackctl init rocketchat-webhook
 * --script FILE` rewrites each whole marked line to `const NAME = <JSON value>; // stackctl:<key>`,
 * so the values never travel in a URL. Edit them by hand the same way when installing manually.
 */

/* The secret GitLab sends in the `X-Gitlab-Token` header (the webhook's "Secret token").
 * Empty: no check beyond the integration's own URL token. Why here and not `?token=` in the hook
 * URL: URLs end up in proxy access logs, in Rocket.Chat's debug log (it logs the URL parameters)
 * and in GitLab's webhook settings page; the script itself is only readable by integration
 * managers, who can read the hook URL anyway. The script never logs or returns it. */
const GITLAB_TOKEN = ''; // stackctl:gitlab-token

/* Confidential issues and comments (and internal notes) normally say only "a confidential issue
 * was updated" plus the link, which works for people allowed to see it. `true` shows titles and
 * text in the room: do that only when everyone in the room may read confidential items. */
const SHOW_CONFIDENTIAL = false; // stackctl:show-confidential

/* Commits listed in a push message; GitLab itself sends at most the newest 20
 * (doc/user/project/integrations/webhook_events.md, "Push events"). */
const MAX_COMMITS = 5; // stackctl:max-commits

/* Failed jobs named in a pipeline message. */
const MAX_JOBS = 5;

/* Lengths, in characters, past which untrusted text is cut with an ellipsis. */
const MAX_TITLE = 100;
const MAX_COMMIT_TITLE = 80;
const MAX_NOTE = 280;
const MAX_NAME = 60;

/* GitLab sends 40 zeros as `before` for a new ref and as `after` for a deleted one
 * (doc/user/project/integrations/webhook_events.md, "Tag events" example). */
const ZERO_SHA = /^0+$/;

/* X-Gitlab-Event header → what this script calls the event. GitLab names it after the hook scope
 * (app/services/web_hook_service.rb, `hook_to_event`: `hook_name.to_s.singularize.titleize`);
 * confidential issues go to `confidential_issue_hooks` (app/services/issues/base_service.rb) and
 * confidential or internal notes to `confidential_note_hooks`. */
const KIND_BY_HEADER = {
  'Push Hook': 'push',
  'Tag Push Hook': 'tag_push',
  'Merge Request Hook': 'merge_request',
  'Pipeline Hook': 'pipeline',
  'Issue Hook': 'issue',
  'Confidential Issue Hook': 'issue',
  'Note Hook': 'note',
  'Confidential Note Hook': 'note',
};

/* `object_kind` in the body → the same names; used when the header is missing or unknown
 * (a replayed request, a system hook). Work items other than issues arrive as `work_item`. */
const KIND_BY_OBJECT_KIND = {
  push: 'push',
  tag_push: 'tag_push',
  merge_request: 'merge_request',
  pipeline: 'pipeline',
  issue: 'issue',
  work_item: 'issue',
  note: 'note',
};

const COLOR = {
  good: '#2da160',
  bad: '#dd2b0e',
  info: '#1f75cb',
  merged: '#6e49cb',
  neutral: '#737278',
  warning: '#c17d10',
};

/* ----------------------------------------------------------------------------------------- */
/* Reading untrusted JSON: every accessor tolerates null, arrays, strings and missing keys.    */

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function obj(value) {
  return isObject(value) ? value : {};
}

function list(value) {
  return Array.isArray(value) ? value : [];
}

/* A string or number as a string; anything else as ''. */
function str(value) {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' && isFinite(value)) {
    return String(value);
  }
  return '';
}

function firstOf() {
  for (let i = 0; i < arguments.length; i++) {
    const s = str(arguments[i]).trim();
    if (s !== '') {
      return s;
    }
  }
  return '';
}

/* ----------------------------------------------------------------------------------------- */
/* Writing Rocket.Chat markdown. Its parser (packages/message-parser/src/grammar.pegjs) has no  */
/* backslash escapes, so characters that would start markup in someone else's text are        */
/* replaced by look-alikes or split with a zero-width space. Mentions matter most: "@all" in a */
/* commit title must not notify the room.                                                      */

const ZWSP = '\u200b';

/* One line, at most `max` characters (code points, so emoji are never cut in half). */
function oneLine(value, max) {
  const flat = str(value).replace(/\s+/g, ' ').trim();
  const chars = Array.from(flat);
  if (chars.length <= max) {
    return flat;
  }
  return chars.slice(0, max - 1).join('').trim() + '…';
}

function isAlnum(ch) {
  return /^[A-Za-z0-9]$/.test(ch);
}

/* Untrusted text made inert for the markdown parser. */
function md(value, max) {
  const s = oneLine(value, max);
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    const prev = i > 0 ? s[i - 1] : '';
    if (ch === '*') {
      out += '\u2217'; // ∗ — bold
    } else if (ch === '~') {
      out += '\u223c'; // ∼ — strike
    } else if (ch === '`') {
      out += '\u02cb'; // ˋ — inline code
    } else if (ch === '|') {
      out += '\u01c0'; // ǀ — spoiler `||…||`, `<url|label>`
    } else if (ch === '_' && !isAlnum(prev)) {
      // `snake_case` is plain text to the parser; only an underscore that opens a word can
      // start italics.
      out += '\uff3f'; // ＿
    } else if (ch === '@' || ch === '#' || ch === '<' || ch === ']') {
      // @user / @all, #channel, <url|label> and <t:…> timestamps, [label](url). Emoji
      // (`:sparkles:`) and bare URLs are left to render: they cannot hurt.
      out += ch + ZWSP;
    } else {
      out += ch;
    }
  }
  return out;
}

/* Text for inside `…`: inline code shows everything literally but cannot hold a backtick. */
function code(value, max) {
  const s = oneLine(value, max).replace(/`/g, "'");
  return s === '' ? '' : '`' + s + '`';
}

/* An http(s) URL safe to put in a markdown link and in `title_link`; '' otherwise. Rocket.Chat
 * refuses a message whose attachment links are not absolute URLs or are `javascript:`
 * (apps/meteor/app/lib/server/functions/sendMessage.ts, validFullURLParam). */
function safeUrl(value) {
  const s = str(value).trim();
  if (!/^https?:\/\/[^\s<>"]+$/i.test(s)) {
    return '';
  }
  return s.replace(/\(/g, '%28').replace(/\)/g, '%29');
}

/* [label](url) when the URL is usable, else the label alone. Inside a link label the parser
 * reads no mentions, so only brackets need to go. */
function link(label, url) {
  const text = label.replace(/\[/g, '(').replace(/\]/g, ')');
  const href = safeUrl(url);
  return href ? '[' + text + '](' + href + ')' : text;
}

/* A path under a project: each segment URL-encoded, slashes kept (`feature/x` stays readable). */
function projectPath(webUrl, suffix, name) {
  const base = safeUrl(webUrl);
  if (!base || !name) {
    return '';
  }
  const encoded = name.split('/').map(encodeURIComponent).join('/');
  return base.replace(/\/+$/, '') + suffix + encoded;
}

function plural(n, one, many) {
  return n + ' ' + (n === 1 ? one : many);
}

function shortSha(value) {
  return str(value).slice(0, 8);
}

/* Seconds → "1h 2m 5s", "1m 3s", "45s"; '' when unknown. */
function duration(value) {
  if (typeof value !== 'number' || !isFinite(value) || value < 0) {
    return '';
  }
  let rest = Math.round(value);
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  const parts = [];
  if (h) {
    parts.push(h + 'h');
  }
  if (m) {
    parts.push(m + 'm');
  }
  if (s || parts.length === 0) {
    parts.push(s + 's');
  }
  return parts.join(' ');
}

/* ----------------------------------------------------------------------------------------- */
/* The event's context.                                                                        */

function projectOf(body) {
  const p = obj(body.project);
  const name = firstOf(p.path_with_namespace, p.name);
  const url = safeUrl(firstOf(p.web_url, p.homepage));
  return { name: name, url: url, label: name ? link(md(name, MAX_NAME), url) : 'a GitLab project' };
}

/* Who acted: push events carry flat `user_name`/`user_username`, the others a `user` object
 * (webhook_events.md). The display name reads better; the login is the fallback. */
function actorOf(body) {
  const u = obj(body.user);
  const who = firstOf(body.user_name, u.name, body.user_username, u.username);
  return who ? md(who, MAX_NAME) : 'Someone';
}

/* refs/heads/main → main; refs/tags/v1 → v1. */
function refName(ref) {
  return str(ref).replace(/^refs\/(heads|tags)\//, '');
}

function attachment(fields) {
  const a = {};
  Object.keys(fields).forEach(function (key) {
    const value = fields[key];
    if (value !== '' && value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0)) {
      a[key] = value;
    }
  });
  return a;
}

function message(text, attachments) {
  return { content: { text: text, attachments: attachments.filter(function (a) { return Object.keys(a).length > 0; }) } };
}

/* ----------------------------------------------------------------------------------------- */
/* Formatters: one per event kind. Each returns a message, or null when the body lacks what it */
/* needs (the caller then sends the fallback line).                                            */

function formatPush(body) {
  const branch = refName(body.ref);
  if (!branch) {
    return null;
  }
  const project = projectOf(body);
  const who = actorOf(body);
  const commits = list(body.commits).filter(isObject);
  const total = typeof body.total_commits_count === 'number' ? body.total_commits_count : commits.length;
  const before = str(body.before);
  const after = str(body.after);
  const branchUrl = projectPath(project.url, '/-/tree/', branch);

  if (ZERO_SHA.test(after)) {
    return message(who + ' deleted branch ' + code(branch, MAX_NAME) + ' in ' + project.label, [
      attachment({
        title: 'Branches of ' + oneLine(project.name || 'the project', MAX_NAME),
        title_link: project.url ? project.url + '/-/branches' : '',
        color: COLOR.neutral,
      }),
    ]);
  }

  const created = ZERO_SHA.test(before);
  let what;
  if (created) {
    what = ' pushed new branch ';
  } else if (total > 0) {
    what = ' pushed ' + plural(total, 'commit', 'commits') + ' to ';
  } else {
    // No new commits on an existing branch: a force push that only dropped commits.
    what = ' pushed to ';
  }
  let text = who + what + code(branch, MAX_NAME) + ' in ' + project.label;
  if (created && total > 0) {
    text += ' with ' + plural(total, 'commit', 'commits');
  }

  // The payload lists commits oldest first; show the newest MAX_COMMITS of them.
  const shown = commits.slice(-MAX_COMMITS);
  const lines = shown.map(function (c) {
    const title = firstOf(c.title, str(c.message).split('\n')[0]);
    const author = firstOf(obj(c.author).name);
    return link(shortSha(c.id) || 'commit', c.url) + ' ' + md(title, MAX_COMMIT_TITLE) + (author ? ' — ' + md(author, MAX_NAME) : '');
  });
  const hidden = total - shown.length;
  if (hidden > 0) {
    lines.push('… and ' + plural(hidden, 'earlier commit', 'earlier commits'));
  }

  const compare = !created && project.url && /^[0-9a-f]+$/i.test(before) && /^[0-9a-f]+$/i.test(after) ? project.url + '/-/compare/' + before + '...' + after : '';
  return message(text, [
    attachment({
      title: compare ? 'Compare ' + shortSha(before) + '...' + shortSha(after) : 'Branch ' + oneLine(branch, MAX_NAME),
      title_link: compare || branchUrl,
      text: lines.join('\n'),
      color: COLOR.info,
    }),
  ]);
}

function formatTagPush(body) {
  const tag = refName(body.ref);
  if (!tag) {
    return null;
  }
  const project = projectOf(body);
  const who = actorOf(body);
  if (ZERO_SHA.test(str(body.after))) {
    return message(who + ' deleted tag ' + code(tag, MAX_NAME) + ' in ' + project.label, [
      attachment({
        title: 'Tags of ' + oneLine(project.name || 'the project', MAX_NAME),
        title_link: project.url ? project.url + '/-/tags' : '',
        color: COLOR.neutral,
      }),
    ]);
  }
  const sha = shortSha(firstOf(body.checkout_sha, body.after));
  return message(who + ' pushed tag ' + code(tag, MAX_NAME) + ' to ' + project.label, [
    attachment({
      title: 'Tag ' + oneLine(tag, MAX_NAME),
      title_link: projectPath(project.url, '/-/tags/', tag),
      text: sha ? 'at ' + link(sha, project.url ? project.url + '/-/commit/' + str(firstOf(body.checkout_sha, body.after)) : '') : '',
      color: COLOR.info,
    }),
  ]);
}

/* object_attributes.action → past tense (webhook_events.md, "Merge request events"). */
const MR_ACTIONS = {
  open: ['opened', COLOR.good],
  close: ['closed', COLOR.bad],
  reopen: ['reopened', COLOR.good],
  update: ['updated', COLOR.info],
  merge: ['merged', COLOR.merged],
  approved: ['approved', COLOR.good],
  approval: ['approved', COLOR.good],
  unapproved: ['unapproved', COLOR.warning],
  unapproval: ['removed their approval from', COLOR.warning],
};

function formatMergeRequest(body) {
  const a = obj(body.object_attributes);
  const iid = str(a.iid);
  if (!iid) {
    return null;
  }
  const project = projectOf(body);
  let action = MR_ACTIONS[str(a.action)] || [str(a.action) ? md(a.action, 20) : 'updated', COLOR.info];
  if (str(a.action) === 'update' && str(a.oldrev)) {
    // `oldrev` is only present when the update brought new code (webhook_events.md).
    action = ['pushed new commits to', COLOR.info];
  }
  const ref = '!' + iid;
  const text = actorOf(body) + ' ' + action[0] + ' merge request ' + link(ref, a.url) + ' in ' + project.label;
  const source = str(a.source_branch);
  const target = str(a.target_branch);
  const fields = [];
  if (source && target) {
    fields.push({ title: 'Branches', value: code(source, MAX_NAME) + ' → ' + code(target, MAX_NAME), short: true });
  }
  if (str(a.state)) {
    fields.push({ title: 'State', value: md(a.state, 20) + (a.draft === true ? ' (draft)' : ''), short: true });
  }
  return message(text, [
    attachment({
      title: ref + ' ' + oneLine(a.title, MAX_TITLE),
      title_link: safeUrl(a.url),
      fields: fields,
      color: action[1],
    }),
  ]);
}

/* object_attributes.status → words (Ci::Pipeline statuses; webhook_events.md "Pipeline events"). */
const PIPELINE_STATUS = {
  success: ['passed', COLOR.good],
  failed: ['failed', COLOR.bad],
  canceled: ['was canceled', COLOR.neutral],
  cancelled: ['was canceled', COLOR.neutral],
  canceling: ['is being canceled', COLOR.neutral],
  running: ['is running', COLOR.info],
  pending: ['is pending', COLOR.warning],
  created: ['was created', COLOR.neutral],
  preparing: ['is preparing', COLOR.warning],
  waiting_for_resource: ['is waiting for a resource', COLOR.warning],
  waiting_for_callback: ['is waiting for a callback', COLOR.warning],
  scheduled: ['is scheduled', COLOR.neutral],
  manual: ['is waiting for a manual action', COLOR.warning],
  skipped: ['was skipped', COLOR.neutral],
};

function formatPipeline(body) {
  const a = obj(body.object_attributes);
  const id = str(a.id);
  const status = str(a.status);
  if (!id || !status) {
    return null;
  }
  const project = projectOf(body);
  const words = PIPELINE_STATUS[status] || ['is ' + md(status, 30), COLOR.neutral];
  const mr = obj(body.merge_request);
  let where;
  if (str(mr.iid)) {
    where = ' for merge request ' + link('!' + str(mr.iid), mr.url);
  } else if (str(a.ref)) {
    where = (a.tag === true ? ' on tag ' : ' on ') + code(a.ref, MAX_NAME);
  } else {
    where = '';
  }
  const took = duration(a.duration);
  // `#31` outside a link would be read as a channel mention; inside a link label it is text.
  const text = 'Pipeline ' + link('#' + id, a.url) + where + ' ' + words[0] + (took && status !== 'running' ? ' in ' + took : '') + ' — ' + project.label;

  const fields = [{ title: 'Status', value: md(status, 30), short: true }];
  if (took) {
    fields.push({ title: 'Duration', value: took, short: true });
  }
  const commit = obj(body.commit);
  const sha = shortSha(firstOf(commit.id, a.sha));
  if (sha) {
    const title = firstOf(commit.title, str(commit.message).split('\n')[0]);
    fields.push({ title: 'Commit', value: link(sha, commit.url) + (title ? ' ' + md(title, MAX_COMMIT_TITLE) : ''), short: false });
  }
  const failed = list(body.builds)
    .filter(function (b) {
      return isObject(b) && b.status === 'failed' && b.allow_failure !== true;
    })
    .map(function (b) {
      return md(b.name, MAX_NAME) + (str(b.stage) ? ' (' + md(b.stage, MAX_NAME) + ')' : '');
    });
  if (failed.length > 0) {
    const more = failed.length > MAX_JOBS ? ', … ' + (failed.length - MAX_JOBS) + ' more' : '';
    fields.push({ title: 'Failed jobs', value: failed.slice(0, MAX_JOBS).join(', ') + more, short: false });
  }
  const who = firstOf(obj(body.user).name, obj(body.user).username);
  if (who) {
    fields.push({ title: 'Triggered by', value: md(who, MAX_NAME), short: true });
  }
  return message(text, [
    attachment({
      // `name` is the pipeline's `workflow:name` (GitLab 16.1+), often absent.
      title: str(a.name) ? oneLine(a.name, MAX_TITLE) + ' (#' + id + ')' : 'Pipeline #' + id,
      title_link: safeUrl(a.url),
      fields: fields,
      color: words[1],
    }),
  ]);
}

/* Issue (and work item) actions: open, close, reopen, update (webhook_events.md "Work item events"). */
const ISSUE_ACTIONS = {
  open: ['opened', COLOR.good],
  close: ['closed', COLOR.neutral],
  reopen: ['reopened', COLOR.good],
  update: ['updated', COLOR.info],
};

function issueConfidential(header, body) {
  const a = obj(body.object_attributes);
  return /^Confidential /.test(header) || /^confidential/.test(str(body.event_type)) || a.confidential === true;
}

function formatIssue(body, header) {
  const a = obj(body.object_attributes);
  const iid = str(a.iid);
  if (!iid) {
    return null;
  }
  const project = projectOf(body);
  const action = ISSUE_ACTIONS[str(a.action)] || [str(a.action) ? md(a.action, 20) : 'updated', COLOR.info];
  // "Task", "Incident", "Epic"… for work items; "issue" otherwise.
  const noun = str(a.type) && str(a.type) !== 'Issue' ? md(a.type, 20).toLowerCase() : 'issue';
  const ref = '#' + iid;
  const confidential = issueConfidential(header, body);

  if (confidential && !SHOW_CONFIDENTIAL) {
    return message(actorOf(body) + ' ' + action[0] + ' a confidential ' + noun + ' in ' + project.label, [
      attachment({
        title: 'Confidential ' + noun + ' ' + ref,
        title_link: safeUrl(a.url),
        text: 'Title and description are hidden here; follow the link if you have access.',
        color: action[1],
      }),
    ]);
  }

  const text = actorOf(body) + ' ' + action[0] + (confidential ? ' confidential ' : ' ') + noun + ' ' + link(ref, a.url) + ' in ' + project.label;
  const description = str(a.action) === 'open' ? md(a.description, MAX_NOTE) : '';
  return message(text, [
    attachment({
      title: ref + ' ' + oneLine(a.title, MAX_TITLE),
      title_link: safeUrl(a.url),
      text: description,
      color: action[1],
    }),
  ]);
}

function noteConfidential(header, body) {
  const a = obj(body.object_attributes);
  return (
    /^Confidential /.test(header) ||
    /^confidential/.test(str(body.event_type)) ||
    a.internal === true ||
    a.confidential === true ||
    obj(body.issue).confidential === true
  );
}

/* What a comment is on: "merge request !1", "issue #17", "commit 1a2b3c4d", "snippet $53", with
 * the target's own title for the attachment (webhook_events.md "Comment events"). */
function noteTarget(body) {
  const a = obj(body.object_attributes);
  switch (str(a.noteable_type)) {
    case 'MergeRequest': {
      const mr = obj(body.merge_request);
      const ref = '!' + str(mr.iid);
      return { noun: 'merge request', ref: str(mr.iid) ? ref : '', title: oneLine(mr.title, MAX_TITLE) };
    }
    case 'Issue': {
      const issue = obj(body.issue);
      return { noun: 'issue', ref: str(issue.iid) ? '#' + str(issue.iid) : '', title: oneLine(issue.title, MAX_TITLE) };
    }
    case 'Commit': {
      const commit = obj(body.commit);
      const sha = shortSha(firstOf(commit.id, a.commit_id));
      return { noun: 'commit', ref: sha, title: oneLine(firstOf(commit.title, str(commit.message).split('\n')[0]), MAX_TITLE) };
    }
    case 'Snippet': {
      const snippet = obj(body.snippet);
      return { noun: 'snippet', ref: str(snippet.id) ? '$' + str(snippet.id) : '', title: oneLine(snippet.title, MAX_TITLE) };
    }
    default:
      return { noun: str(a.noteable_type) ? md(a.noteable_type, 30) : 'item', ref: '', title: '' };
  }
}

function withArticle(noun) {
  return (/^[aeiou]/i.test(noun) ? 'an ' : 'a ') + noun;
}

function formatNote(body, header) {
  const a = obj(body.object_attributes);
  if (!isObject(body.object_attributes)) {
    return null;
  }
  const project = projectOf(body);
  const target = noteTarget(body);
  const verb = str(a.action) === 'update' ? ' edited a comment on ' : ' commented on ';

  if (noteConfidential(header, body) && !SHOW_CONFIDENTIAL) {
    // Neither the comment nor its target's title: a comment on a confidential issue is as secret
    // as the issue, and an internal note is secret even on a public merge request.
    const did = str(a.action) === 'update' ? ' edited a confidential comment on ' : ' added a confidential comment to ';
    return message(actorOf(body) + did + withArticle(target.noun) + ' in ' + project.label, [
      attachment({
        title: 'Confidential comment',
        title_link: safeUrl(a.url),
        text: 'The comment is hidden here; follow the link if you have access.',
        color: COLOR.neutral,
      }),
    ]);
  }

  const on = target.noun + (target.ref ? ' ' + link(target.ref, a.url) : '');
  return message(actorOf(body) + verb + on + ' in ' + project.label, [
    attachment({
      title: (target.ref ? target.ref + ' ' : '') + target.title,
      title_link: safeUrl(a.url),
      text: md(a.note, MAX_NOTE),
      color: COLOR.info,
    }),
  ]);
}

const FORMATTERS = {
  push: formatPush,
  tag_push: formatTagPush,
  merge_request: formatMergeRequest,
  pipeline: formatPipeline,
  issue: formatIssue,
  note: formatNote,
};

/* ----------------------------------------------------------------------------------------- */
/* The request.                                                                                */

/* Header lookup by lower-case name. Rocket.Chat passes Fetch `Headers` entries, already
 * lower-case (apps/meteor/app/integrations/server/api/api.ts); older servers passed Node's
 * `req.headers`, lower-case too. A list (repeated header) counts as its first value. */
function header(request, name) {
  const headers = obj(request.headers);
  const keys = Object.keys(headers);
  for (let i = 0; i < keys.length; i++) {
    if (keys[i].toLowerCase() === name) {
      const value = headers[keys[i]];
      return Array.isArray(value) ? str(value[0]) : str(value);
    }
  }
  return '';
}

/* The body as an object: `content` is the parsed JSON (or the `payload=` form field); when it is
 * not an object, `content_raw` is tried once. */
function bodyOf(request) {
  if (isObject(request.content)) {
    return request.content;
  }
  if (typeof request.content_raw === 'string' && request.content_raw.trim().charAt(0) === '{') {
    try {
      return obj(JSON.parse(request.content_raw));
    } catch (e) {
      return {};
    }
  }
  return {};
}

/* Compares without stopping at the first difference, so response time says nothing about how
 * much of a guess was right. */
function sameSecret(given, expected) {
  let diff = given.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) {
    diff |= (given.charCodeAt(i) || 0) ^ expected.charCodeAt(i);
  }
  return diff === 0;
}

/* The one line for an event this script does not describe (`unreadable` false) or whose body
 * lacks what its description needs (`unreadable` true). */
function fallback(eventName, body, unreadable) {
  const project = projectOf(body);
  const what = eventName ? 'a "' + md(eventName, 40) + '" event' : 'an event without a name';
  const where = project.name ? ' for ' + project.label : '';
  const text = 'GitLab sent ' + what + where + (unreadable ? ' that could not be read' : '');
  return { content: { text: text, attachments: [] } };
}

class Script {
  process_incoming_request(params) {
    const request = obj(obj(params).request);

    // str(): a number written into the setting by hand still compares as text.
    const secret = str(GITLAB_TOKEN);
    if (secret !== '' && !sameSecret(header(request, 'x-gitlab-token'), secret)) {
      // Rocket.Chat answers 400 with this object (API.v1.failure); the token is never echoed.
      return { error: { success: false, message: 'X-Gitlab-Token is missing or wrong' } };
    }

    const body = bodyOf(request);
    const eventHeader = header(request, 'x-gitlab-event');
    const kind = KIND_BY_HEADER[eventHeader] || KIND_BY_OBJECT_KIND[str(body.object_kind)] || '';
    const eventName = eventHeader || str(body.object_kind);
    if (!kind) {
      return fallback(eventName, body, false);
    }
    try {
      return FORMATTERS[kind](body, eventHeader) || fallback(eventName, body, true);
    } catch (e) {
      // A payload shape nobody foresaw: say something short rather than fail the hook (GitLab
      // disables a webhook that keeps failing).
      console.error('gitlab.js: could not describe a ' + kind + ' event: ' + (e && e.message));
      return fallback(eventName, body, true);
    }
  }
}
