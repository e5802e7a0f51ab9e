//! Where the smoke test finds the chat: read from the stack file, the way its own services
//! are wired, so `stackctl smoke -f chat.yml` needs no flags on a conventional stack.
//!
//! - Rocket.Chat: the service whose image is Rocket.Chat's (or named `rocketchat`, or run by
//!   `rocketchat*`, or carrying `ADMIN_PASS`); its URL inside the stack is
//!   `http://<service>:<PORT or 3000>`, unless the bot names another.
//! - The admin: `ADMIN_USERNAME` (default `admin`) / `ADMIN_PASS` of that service, else the
//!   `--admin-user` / `--admin-password-env` of an `init rocketchat-*` job.
//! - The bot: Hubot's `ROCKETCHAT_USER` / `ROCKETCHAT_PASSWORD` / `ROCKETCHAT_ROOM` /
//!   `ROCKETCHAT_URL`, else the `--user`, `--password-env`, `--room`, `--url` of a service's
//!   `check rocketchat-room` healthcheck, else an `init rocketchat-user` job's `--name`.
//! - The room: the bot's, else an `init rocketchat-room` job's `--name`.
//! - The hook: an `init rocketchat-webhook` job's `--output FILE` (read from its container),
//!   `--room`, and the secret of its `--gitlab-token-env` (sent as `X-Gitlab-Token`).
//! - The front door: a service whose image (or name) is nginx; its virtual host is the host of
//!   Rocket.Chat's `ROOT_URL`.
//! - GitLab: an `init gitlab-webhook` job's `--url`, `--project` and the API token of its
//!   `--token-env` (what `doctor` asks GitLab's API with).
//!
//! Flags override each of these (`--url`, `--bot-user`, `--bot-password-env`, `--admin-user`,
//! `--admin-password-env`, `--room`, `--hook-file`).

use crate::stack::{Service, Stack};

/// What was found. Passwords are values, never printed.
#[derive(Clone, Default)]
pub struct Discovered {
    /// The Rocket.Chat service.
    pub rocketchat: Option<String>,
    /// The webhook script's `X-Gitlab-Token` secret (the webhook job's `--gitlab-token-env`).
    pub gitlab_token: Option<String>,
    /// Rocket.Chat's base URL as seen from inside the stack.
    pub url: Option<String>,
    /// The service that runs the bot.
    pub bot_service: Option<String>,
    pub bot_user: Option<String>,
    pub bot_password: Option<String>,
    pub admin_user: Option<String>,
    pub admin_password: Option<String>,
    pub room: Option<String>,
    pub hook: Option<HookJob>,
    pub front_door: Option<FrontDoor>,
    pub gitlab: Option<GitlabJob>,
}

impl std::fmt::Debug for Discovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovered")
            .field("rocketchat", &self.rocketchat)
            .field("url", &self.url)
            .field("bot_service", &self.bot_service)
            .field("bot_user", &self.bot_user)
            .field("bot_password", &self.bot_password.as_ref().map(|_| "***"))
            .field("admin_user", &self.admin_user)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "***"),
            )
            .field("room", &self.room)
            .field("hook", &self.hook)
            .field("gitlab_token", &self.gitlab_token.as_ref().map(|_| "***"))
            .field("front_door", &self.front_door)
            .field("gitlab", &self.gitlab)
            .finish()
    }
}

/// The job that writes the incoming webhook's URL to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookJob {
    pub service: String,
    /// The file inside its container.
    pub path: String,
    /// The room the hook posts to.
    pub room: Option<String>,
}

/// The job that points GitLab's project webhook at Rocket.Chat.
#[derive(Clone, PartialEq, Eq)]
pub struct GitlabJob {
    pub service: String,
    /// GitLab's base URL inside the stack, e.g. `http://gitlab:8929`.
    pub url: String,
    /// The project, as a path or an id.
    pub project: String,
    /// The personal access token (a secret: never printed).
    pub token: Option<String>,
}

impl std::fmt::Debug for GitlabJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitlabJob")
            .field("service", &self.service)
            .field("url", &self.url)
            .field("project", &self.project)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The reverse proxy in front of Rocket.Chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontDoor {
    pub service: String,
    /// `http://nginx:80` or `https://nginx:443`, as seen from inside the stack.
    pub url: String,
    /// The virtual host to ask for.
    pub vhost: Option<String>,
}

/// Reads the stack.
#[must_use]
pub fn discover(stack: &Stack) -> Discovered {
    let mut found = Discovered::default();
    let services: Vec<&Service> = stack.services.values().collect();
    // Rocket.Chat and the front door are long-running services: the jobs that run in their
    // images (`rc-admin` in Rocket.Chat's, `certs` in nginx's) are not them.
    let servers: Vec<&Service> = services.iter().copied().filter(|s| !s.is_job()).collect();
    let rocketchat = servers
        .iter()
        .find(|s| image_of(s).contains("rocket.chat") || image_of(s).contains("rocketchat"))
        .or_else(|| servers.iter().find(|s| s.name == "rocketchat"))
        .or_else(|| {
            servers.iter().find(|s| {
                s.entrypoint
                    .iter()
                    .chain(&s.command)
                    .flatten()
                    .next()
                    .is_some_and(|w| w.contains("rocketchat"))
            })
        })
        .or_else(|| {
            servers
                .iter()
                .find(|s| s.environment.contains_key("ADMIN_PASS"))
        })
        .copied();
    if let Some(rc) = rocketchat {
        found.rocketchat = Some(rc.name.clone());
        let port = rc
            .environment
            .get("PORT")
            .cloned()
            .unwrap_or_else(|| "3000".to_owned());
        found.url = Some(format!("http://{}:{port}", rc.name));
        if let Some(pass) = rc.environment.get("ADMIN_PASS").filter(|p| !p.is_empty()) {
            found.admin_password = Some(pass.clone());
            found.admin_user = Some(
                rc.environment
                    .get("ADMIN_USERNAME")
                    .cloned()
                    .unwrap_or_else(|| "admin".to_owned()),
            );
        }
    }
    find_bot(&services, &mut found);
    find_jobs(&services, &mut found);
    found.front_door = servers
        .iter()
        .find(|s| image_of(s).contains("nginx") || s.name == "nginx")
        .map(|nginx| {
            let tls = nginx.ports.iter().any(|p| p.container_port == 443);
            let url = if tls {
                format!("https://{}:443", nginx.name)
            } else {
                format!("http://{}:80", nginx.name)
            };
            let vhost = rocketchat
                .and_then(|rc| rc.environment.get("ROOT_URL"))
                .and_then(|root| url::Url::parse(root).ok())
                .and_then(|u| u.host_str().map(str::to_owned))
                .filter(|h| Some(h.as_str()) != found.rocketchat.as_deref());
            FrontDoor {
                service: nginx.name.clone(),
                url,
                vhost,
            }
        });
    found
}

fn image_of(service: &Service) -> String {
    service
        .image
        .clone()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The value after `--flag` (or in `--flag=value`) in a command line.
fn flag(words: &[String], name: &str) -> Option<String> {
    let mut iter = words.iter();
    while let Some(word) = iter.next() {
        if word == name {
            return iter.next().cloned();
        }
        if let Some(value) = word.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return Some(value.to_owned());
        }
    }
    None
}

/// A service's command line: entrypoint then command.
fn words(service: &Service) -> Vec<String> {
    service
        .entrypoint
        .iter()
        .chain(&service.command)
        .flatten()
        .cloned()
        .collect()
}

/// The value of `$VAR` as the service sees it (its environment).
fn env_value(service: &Service, var: Option<String>) -> Option<String> {
    var.and_then(|v| service.environment.get(&v).cloned())
        .filter(|v| !v.is_empty())
}

/// A bot service and how it logs in (the password is a value: never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct Bot {
    pub service: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub room: Option<String>,
    /// Rocket.Chat's URL as the bot names it.
    pub url: Option<String>,
    /// Found by Hubot's environment (rather than by a healthcheck's flags).
    hubot: bool,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("service", &self.service)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("room", &self.room)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The service as a bot: Hubot's rocketchat adapter (its environment), or a service whose
/// healthcheck is the bot's "diver" (`check rocketchat-room` / `rocketchat-login`).
fn bot_of(service: &Service) -> Option<Bot> {
    let env = &service.environment;
    if env.contains_key("ROCKETCHAT_USER") {
        return Some(Bot {
            service: service.name.clone(),
            user: env.get("ROCKETCHAT_USER").cloned(),
            password: env
                .get("ROCKETCHAT_PASSWORD")
                .cloned()
                .filter(|p| !p.is_empty()),
            room: env
                .get("ROCKETCHAT_ROOM")
                .and_then(|rooms| rooms.split(',').next().map(|r| r.trim().to_owned()))
                .filter(|r| !r.is_empty()),
            url: env
                .get("ROCKETCHAT_URL")
                .filter(|u| !u.is_empty())
                .map(|url| {
                    if url.contains("://") {
                        url.clone()
                    } else {
                        format!("http://{url}")
                    }
                }),
            hubot: true,
        });
    }
    let test = &service.healthcheck.as_ref()?.test;
    if !test
        .iter()
        .any(|w| w == "rocketchat-room" || w == "rocketchat-login")
    {
        return None;
    }
    Some(Bot {
        service: service.name.clone(),
        user: flag(test, "--user"),
        password: env_value(service, flag(test, "--password-env")),
        room: flag(test, "--room").map(|r| r.trim_start_matches('#').to_owned()),
        url: flag(test, "--url"),
        hubot: false,
    })
}

/// Every bot of the stack, by service name.
#[must_use]
pub fn bots(stack: &Stack) -> Vec<Bot> {
    stack.services.values().filter_map(bot_of).collect()
}

fn find_bot(services: &[&Service], found: &mut Discovered) {
    let all: Vec<Bot> = services.iter().filter_map(|s| bot_of(s)).collect();
    // Hubot first: its environment is what the bot really uses.
    let Some(bot) = all.iter().find(|b| b.hubot).or_else(|| all.first()) else {
        return;
    };
    found.bot_service = Some(bot.service.clone());
    found.bot_user.clone_from(&bot.user);
    found.bot_password.clone_from(&bot.password);
    found.room.clone_from(&bot.room);
    if let Some(url) = &bot.url {
        found.url = Some(url.clone());
    }
}

fn find_jobs(services: &[&Service], found: &mut Discovered) {
    for service in services {
        let words = words(service);
        let has = |w: &str| words.iter().any(|x| x == w);
        if found.admin_password.is_none()
            && let Some(password) = env_value(service, flag(&words, "--admin-password-env"))
        {
            found.admin_password = Some(password);
            found.admin_user = flag(&words, "--admin-user").or_else(|| Some("admin".to_owned()));
        }
        if has("rocketchat-user") && found.bot_user.is_none() {
            found.bot_user = flag(&words, "--name");
            found.bot_password = env_value(service, flag(&words, "--password-env"));
        }
        if has("rocketchat-room") && found.room.is_none() {
            found.room = flag(&words, "--name");
        }
        if has("gitlab-webhook")
            && found.gitlab.is_none()
            && let (Some(url), Some(project)) = (flag(&words, "--url"), flag(&words, "--project"))
        {
            found.gitlab = Some(GitlabJob {
                service: service.name.clone(),
                url,
                project,
                token: env_value(service, flag(&words, "--token-env")),
            });
        }
        if has("rocketchat-webhook")
            && let Some(path) = flag(&words, "--output")
        {
            // The secret the job wrote into the script, which GitLab sends as X-Gitlab-Token.
            found.gitlab_token = env_value(service, flag(&words, "--gitlab-token-env"));
            found.hook = Some(HookJob {
                service: service.name.clone(),
                path,
                room: flag(&words, "--room").map(|r| r.trim_start_matches('#').to_owned()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{LoadOptions, open};

    fn load(yaml: &str) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yml"), yaml).unwrap();
        let options = LoadOptions {
            files: vec![dir.path().join("compose.yml")],
            project: Some("t".into()),
            env_file: None,
            environment: std::collections::BTreeMap::new(),
            cwd: dir.path().to_path_buf(),
        };
        open(&options, &std::collections::BTreeSet::new()).unwrap()
    }

    /// The chat stack runs its jobs in the servers' images (`rc-admin` in Rocket.Chat's,
    /// `certs` in nginx's) and their names sort first: the servers are still found.
    #[test]
    fn jobs_in_the_servers_images_are_not_the_servers() {
        let stack = load(
            r#"
services:
  certs:
    image: nginx:1.27
    entrypoint: ["/bin/sh", "/opt/chat/self-signed.sh"]
    restart: on-failure
  gitlab-hook:
    image: registry.rocket.chat/rocketchat/rocket.chat:8.0.1
    entrypoint: ["/opt/stackctl/stackctl", "init", "gitlab-webhook"]
    x-stackctl:
      job: {attempts: 5}
  rc-admin:
    image: registry.rocket.chat/rocketchat/rocket.chat:8.0.1
    entrypoint: ["/opt/stackctl/stackctl", "init", "rocketchat-admin", "--url", "http://rocketchat:3000"]
    environment: {ADMIN_PASS: a-pass}
  rocketchat:
    image: registry.rocket.chat/rocketchat/rocket.chat:8.0.1
    environment: {PORT: "3000", ADMIN_PASS: a-pass, ROOT_URL: "https://chat.example.org"}
  nginx:
    image: nginx:1.27
    ports: ["443:443"]
    depends_on:
      certs: {condition: service_completed_successfully}
      rocketchat: {condition: service_started}
  bot:
    image: bot
    depends_on:
      rc-admin: {condition: service_completed_successfully}
"#,
        );
        let found = discover(&stack);
        assert_eq!(found.rocketchat.as_deref(), Some("rocketchat"));
        assert_eq!(found.url.as_deref(), Some("http://rocketchat:3000"));
        let door = found.front_door.expect("the front door");
        assert_eq!(door.service, "nginx");
        assert_eq!(door.vhost.as_deref(), Some("chat.example.org"));
    }

    #[test]
    fn the_demo_shape_is_read_from_jobs_and_the_bots_healthcheck() {
        let stack = load(
            r#"
services:
  rocketchat:
    image: demo
    entrypoint: ["/rocketchat-sim", "--port", "3000"]
    environment: {ADMIN_USERNAME: root, ADMIN_PASS: a-pass, ROOT_URL: "https://chat.example.org"}
  rc-hook:
    image: demo
    entrypoint: ["/stackctl", "init", "rocketchat-webhook", "--url", "http://rocketchat:3000", "--admin-password-env", "ADMIN_PASS", "--name", "gitlab", "--room", "devops", "--as", "bot", "--output", "/hooks/gitlab"]
    environment: {ADMIN_PASS: a-pass}
  bot:
    image: demo
    environment: {BOT_PASS: b-pass}
    healthcheck:
      test: ["CMD", "/stackctl", "check", "rocketchat-room", "--url", "http://rocketchat:3000", "--user", "bot", "--password-env", "BOT_PASS", "--room", "devops"]
  nginx:
    image: nginx:1.27
    ports: ["443:443"]
"#,
        );
        let found = discover(&stack);
        assert_eq!(found.rocketchat.as_deref(), Some("rocketchat"));
        assert_eq!(found.url.as_deref(), Some("http://rocketchat:3000"));
        assert_eq!(
            (found.admin_user.as_deref(), found.admin_password.as_deref()),
            (Some("root"), Some("a-pass"))
        );
        assert_eq!(
            (
                found.bot_service.as_deref(),
                found.bot_user.as_deref(),
                found.bot_password.as_deref()
            ),
            (Some("bot"), Some("bot"), Some("b-pass"))
        );
        assert_eq!(found.room.as_deref(), Some("devops"));
        assert_eq!(
            found.hook,
            Some(HookJob {
                service: "rc-hook".into(),
                path: "/hooks/gitlab".into(),
                room: Some("devops".into())
            })
        );
        let door = found.front_door.clone().unwrap();
        assert_eq!(door.url, "https://nginx:443");
        assert_eq!(door.vhost.as_deref(), Some("chat.example.org"));
        let shown = format!("{found:?}");
        assert!(
            !shown.contains("a-pass") && !shown.contains("b-pass"),
            "{shown}"
        );
    }

    #[test]
    fn hubot_settings_win() {
        let stack = load(
            r#"
services:
  chat:
    image: registry.rocket.chat/rocketchat/rocket.chat:8.0.1
  hubot:
    image: rocketchat/hubot-rocketchat
    environment: {ROCKETCHAT_URL: "chat:3000", ROCKETCHAT_USER: hubot, ROCKETCHAT_PASSWORD: h, ROCKETCHAT_ROOM: "ops,general"}
"#,
        );
        let found = discover(&stack);
        assert_eq!(found.rocketchat.as_deref(), Some("chat"));
        assert_eq!(found.url.as_deref(), Some("http://chat:3000"));
        assert_eq!(found.bot_user.as_deref(), Some("hubot"));
        assert_eq!(found.room.as_deref(), Some("ops"));
        assert!(found.admin_password.is_none());
        assert!(found.front_door.is_none());
    }

    /// GitLab: the webhook job's `--url`, `--project` and the token of its `--token-env`,
    /// never shown by Debug.
    #[test]
    fn the_gitlab_webhook_job_names_gitlab_and_its_token() {
        let stack = load(
            r#"services:
  gitlab:
    image: gitlab/gitlab-ce:18.0.0-ce.0
  gitlab-hook:
    image: stackctl
    entrypoint: ["/stackctl", "init", "gitlab-webhook", "--url", "http://gitlab:8929", "--token-env", "GITLAB_API_TOKEN", "--project=ops/chat", "--target-file", "/hooks/gitlab"]
    environment: {GITLAB_API_TOKEN: glpat-secret}
"#,
        );
        let job = discover(&stack).gitlab.unwrap();
        assert_eq!(
            (job.service.as_str(), job.url.as_str(), job.project.as_str()),
            ("gitlab-hook", "http://gitlab:8929", "ops/chat")
        );
        assert_eq!(job.token.as_deref(), Some("glpat-secret"));
        assert!(!format!("{job:?}").contains("glpat-secret"));
    }
}
