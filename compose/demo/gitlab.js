/* A minimal Rocket.Chat incoming-webhook script for the demo stack: GitLab pipeline, push and
 * merge-request events become one line of text. Rocket.Chat runs it in its isolated-vm sandbox
 * (a class `Script` with `process_incoming_request`, no top-level `return`); the demo's
 * simulator renders GitLab events itself and only needs a script to be set. */
class Script {
  process_incoming_request({ request }) {
    const event = request.headers['x-gitlab-event'];
    const body = request.content || {};
    const project = (body.project && body.project.path_with_namespace) || 'a project';
    const attrs = body.object_attributes || {};
    let text;
    if (event === 'Pipeline Hook') {
      text = `Pipeline #${attrs.id} ${attrs.status} for ${project}@${attrs.ref}`;
    } else if (event === 'Push Hook') {
      text = `${body.user_name} pushed ${body.total_commits_count} commit(s) to ${project}@${body.ref}`;
    } else if (event === 'Merge Request Hook') {
      text = `Merge request !${attrs.iid} "${attrs.title}" ${attrs.action || attrs.state} in ${project}`;
    } else {
      return { content: false };
    }
    return { content: { text } };
  }
}
