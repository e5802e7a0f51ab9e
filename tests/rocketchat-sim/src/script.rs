//! Incoming-webhook scripts, executed for real: the integration's own script runs in node
//! through `tests/gitlab-script/run.js`, which loads it the way Rocket.Chat ≥ 7.0 does
//! (`tests/gitlab-script/harness.js`: getCompatibilityScript's prelude and epilogue, a sandbox
//! with only `console`, Babel's strict mode, copied arguments and results, a 3 s bound).
//!
//! Both JavaScript files are compiled into this binary; each call pipes one program (the two
//! files as modules, then `main(job)`) to `node -`, so nothing is written to disk and the
//! simulator needs only `node` (`--node`). One node process per call: the script's `Store`
//! does not survive between calls, unlike Rocket.Chat's cached isolate
//! (apps/meteor/app/integrations/server/lib/isolated-vm/isolated-vm.ts).

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

const RUNNER: &str = include_str!("../../gitlab-script/run.js");
const HARNESS: &str = include_str!("../../gitlab-script/harness.js");

/// Longer than the runner's own 3 s bounds (start and call), so the runner reports first.
const KILL_AFTER: Duration = Duration::from_secs(10);

static NODE: OnceLock<String> = OnceLock::new();

/// The node binary to run (`--node`); `node` when never set.
pub fn set_node(node: String) {
    let _ = NODE.set(node);
}

fn node() -> &'static str {
    NODE.get().map_or("node", String::as_str)
}

/// One program for `node -`: harness.js and run.js as CommonJS modules, then the job.
fn program(job: &Value) -> String {
    format!(
        "'use strict';\n\
         const load = (source, deps) => {{ const module = {{ exports: {{}} }}; \
         new Function('module', 'exports', 'require', source)(module, module.exports, \
         (name) => (name in deps ? deps[name] : require(name))); return module.exports; }};\n\
         const harness = load({harness}, {{}});\n\
         const runner = load({runner}, {{ './harness.js': harness }});\n\
         runner.main({job}).then(\n\
           (out) => process.stdout.write(JSON.stringify(out) + '\\n'),\n\
           (e) => {{ process.stderr.write(String(e && e.stack || e) + '\\n'); process.exitCode = 2; }});\n",
        harness = Value::String(HARNESS.to_owned()),
        runner = Value::String(RUNNER.to_owned()),
    )
}

/// What one call of `process_incoming_request` came to.
#[derive(Debug)]
pub enum Outcome {
    /// It returned this value (`None`: `undefined`).
    Returned(Option<Value>),
    /// The script has no `process_incoming_request`: ScriptEngine.executeIncomingScript logs it
    /// and returns nothing.
    MissingMethod,
    /// Starting the script failed (getIntegrationScript throws; api.ts does not catch it).
    LoadFailed(String),
    /// The call threw, timed out or returned something that cannot be copied out
    /// (executeIncomingScript turns it into `error-running-script`).
    CallFailed(String),
}

/// compileIntegrationScript: `Ok` or the `scriptError` to store (`{name, message, stack}`).
pub fn compile(script: &str) -> Result<(), Value> {
    let reply = run_sync(&json!({"op": "compile", "script": script}));
    match reply {
        Ok(v) if v["ok"] == true => Ok(()),
        Ok(v) => {
            let e = &v["error"];
            let (name, message) = (
                e["name"].as_str().unwrap_or("Error"),
                e["message"].as_str().unwrap_or("unknown error"),
            );
            Err(json!({"name": name, "message": message, "stack": format!("{name}: {message}")}))
        }
        Err(reason) => {
            Err(json!({"name": "Error", "message": reason, "stack": format!("Error: {reason}")}))
        }
    }
}

/// One `process_incoming_request({request})` call.
pub async fn call(script: &str, request: &Value) -> Outcome {
    let job = json!({"op": "call", "script": script, "request": request, "strict": true});
    let reply = match run(&job).await {
        Ok(v) => v,
        Err(reason) => return Outcome::LoadFailed(reason),
    };
    let message = |v: &Value| v["error"]["message"].as_str().unwrap_or("error").to_owned();
    match reply["stage"].as_str() {
        Some("load") if reply["missing"] == true => Outcome::MissingMethod,
        Some("load") => Outcome::LoadFailed(message(&reply)),
        Some(_) => Outcome::CallFailed(message(&reply)),
        None => Outcome::Returned(reply.get("result").cloned()),
    }
}

fn parse(stdout: &[u8], stderr: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(stdout).map_err(|_| {
        format!(
            "the script runner failed: {}",
            String::from_utf8_lossy(stderr).trim()
        )
    })
}

fn run_sync(job: &Value) -> Result<Value, String> {
    use std::io::Write;
    let mut child = std::process::Command::new(node())
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", node()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(program(job).as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`{}` failed: {e}", node()))?;
    parse(&out.stdout, &out.stderr)
}

async fn run(job: &Value) -> Result<Value, String> {
    let mut child = tokio::process::Command::new(node())
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", node()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(program(job).as_bytes()).await;
    }
    match tokio::time::timeout(KILL_AFTER, child.wait_with_output()).await {
        Ok(Ok(out)) => parse(&out.stdout, &out.stderr),
        Ok(Err(e)) => Err(format!("`{}` failed: {e}", node())),
        Err(_) => Err(format!(
            "the script runner did not answer within {KILL_AFTER:?}"
        )),
    }
}
