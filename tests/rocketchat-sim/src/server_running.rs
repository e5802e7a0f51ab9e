//! The end of Rocket.Chat's start-up: the box with its versions, and its refusal of a MongoDB
//! older than its release supports (brief doctor.md M5).
//!
//! Sources (RocketChat/Rocket.Chat):
//! - `apps/meteor/server/startup/serverRunning.ts`: 100 ms after Meteor.startup, the message
//!   lines (Rocket.Chat Version, NodeJS Version, MongoDB Version, MongoDB Engine, Platform,
//!   Process Port, Site URL); a MongoDB that `semver.coerce` cannot read or that satisfies
//!   `<7.0.0` adds "YOUR CURRENT MONGODB VERSION IS NOT SUPPORTED BY ROCKET.CHAT," / "PLEASE
//!   UPGRADE TO VERSION 7.0 OR LATER", shows the `SERVER ERROR` box and exits 1 unless
//!   `BYPASS_MONGO_VALIDATION` is `yes`/`true` (any case); otherwise (or bypassed) the
//!   `SERVER RUNNING` box. That file is 8.x's; for 7.x the minimum is 5.0 (PR #32162 removed
//!   4.4 support in 7.0, brief doctor.md M5); older releases' checks are not simulated (no
//!   simulated MongoDB is older than 5.0). The NodeJS line is left out: the simulator is not
//!   Node.
//! - `apps/meteor/app/utils/server/functions/getMongoInfo.ts`: `serverStatus` (version and
//!   storage engine), falling back to `buildinfo` with the engine `unknown`.
//! - `apps/meteor/server/lib/logger/showBox.ts`: the box, on stdout (`console.log`; colorette
//!   adds no colour without a terminal): `+--` dashes `--+`, the title centred
//!   (underscore.string `lrpad`: the odd space on the left), a blank row, the lines padded
//!   right, a blank row, the border.

use mongodb::Database;
use mongodb::bson::doc;

/// `getMongoInfo`: (version, storage engine); no version when neither command answers.
pub async fn mongo_info(db: &Database) -> (Option<String>, String) {
    if let Ok(status) = db.run_command(doc! {"serverStatus": 1}).await
        && let Ok(version) = status.get_str("version")
    {
        let engine = status
            .get_document("storageEngine")
            .ok()
            .and_then(|e| e.get_str("name").ok())
            .unwrap_or("undefined")
            .to_owned();
        return (Some(version.to_owned()), engine);
    }
    match db.run_command(doc! {"buildinfo": 1}).await {
        Ok(info) => (
            info.get_str("version").ok().map(str::to_owned),
            "unknown".to_owned(),
        ),
        Err(_) => (None, "undefined".to_owned()),
    }
}

/// semver.coerce: the first `major[.minor[.patch]]` in the text.
fn coerce(text: &str) -> Option<(u64, u64, u64)> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let mut parts = text[start..]
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()?
        .split('.')
        .map(|p| p.parse::<u64>().ok());
    let major = parts.next().flatten()?;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// The MongoDB release this Rocket.Chat release needs at least, as (major, minor).
pub fn minimum_mongo(rocketchat_version: &str) -> Option<(u64, u64)> {
    match coerce(rocketchat_version)?.0 {
        8.. => Some((7, 0)),
        7 => Some((5, 0)),
        _ => None,
    }
}

/// showBox's lines.
pub fn show_box(title: &str, message: &str) -> Vec<String> {
    let lines: Vec<&str> = message.split('\n').collect();
    let len = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let top = format!("+--{}--+", "-".repeat(len));
    let blank = format!("|  {}  |", " ".repeat(len));
    let mut out = vec![top.clone()];
    if !title.is_empty() {
        let pad = len.saturating_sub(title.chars().count());
        out.push(format!(
            "|  {}{title}{}  |",
            " ".repeat(pad.div_ceil(2)),
            " ".repeat(pad / 2)
        ));
        out.push(top.clone());
    }
    out.push(blank.clone());
    for l in lines {
        out.push(format!("|  {l}{}  |", " ".repeat(len - l.chars().count())));
    }
    out.push(blank);
    out.push(top);
    out
}

/// What the start-up shows, and whether the process must exit 1.
pub struct Verdict {
    pub lines: Vec<String>,
    pub exit: bool,
}

/// serverRunning.ts: the message, the MongoDB check, the box.
pub fn verdict(
    rocketchat_version: &str,
    mongo_version: Option<&str>,
    engine: &str,
    port: &str,
    site_url: &str,
    bypass: Option<&str>,
) -> Verdict {
    let mut msg = [
        format!("Rocket.Chat Version: {rocketchat_version}"),
        format!(
            "    MongoDB Version: {}",
            mongo_version.unwrap_or("undefined")
        ),
        format!("     MongoDB Engine: {engine}"),
        "           Platform: linux".to_owned(),
        format!("       Process Port: {port}"),
        format!("           Site URL: {site_url}"),
    ]
    .join("\n");
    let mut lines = Vec::new();
    let mut exit = false;
    if let Some((major, minor)) = minimum_mongo(rocketchat_version) {
        let found = mongo_version.and_then(coerce);
        if found.is_none_or(|(a, b, _)| (a, b) < (major, minor)) {
            msg.push_str(&format!(
                "\n\nYOUR CURRENT MONGODB VERSION IS NOT SUPPORTED BY ROCKET.CHAT,\nPLEASE UPGRADE TO VERSION {major}.{minor} OR LATER"
            ));
            lines.extend(show_box("SERVER ERROR", &msg));
            let bypassed =
                bypass.is_some_and(|b| ["yes", "true"].contains(&b.to_lowercase().as_str()));
            if !bypassed {
                return Verdict { lines, exit: true };
            }
            exit = false;
        }
    }
    lines.extend(show_box("SERVER RUNNING", &msg));
    Verdict { lines, exit }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_8_x_server_refuses_mongodb_6_with_the_servers_box() {
        let v = verdict(
            "8.0.0",
            Some("6.0.14"),
            "unknown",
            "3000",
            "http://chat.example",
            None,
        );
        assert!(v.exit);
        assert_eq!(
            v.lines,
            [
                "+-----------------------------------------------------------------+",
                "|                           SERVER ERROR                          |",
                "+-----------------------------------------------------------------+",
                "|                                                                 |",
                "|  Rocket.Chat Version: 8.0.0                                     |",
                "|      MongoDB Version: 6.0.14                                    |",
                "|       MongoDB Engine: unknown                                   |",
                "|             Platform: linux                                     |",
                "|         Process Port: 3000                                      |",
                "|             Site URL: http://chat.example                       |",
                "|                                                                 |",
                "|  YOUR CURRENT MONGODB VERSION IS NOT SUPPORTED BY ROCKET.CHAT,  |",
                "|  PLEASE UPGRADE TO VERSION 7.0 OR LATER                         |",
                "|                                                                 |",
                "+-----------------------------------------------------------------+",
            ]
        );
    }

    #[test]
    fn a_supported_or_bypassed_mongodb_gets_the_running_box() {
        let ok = verdict("8.5.1", Some("7.0.14"), "unknown", "3000", "x", None);
        assert!(!ok.exit);
        assert!(ok.lines[1].contains("SERVER RUNNING"), "{:?}", ok.lines);
        assert!(!ok.lines.iter().any(|l| l.contains("NOT SUPPORTED")));
        let bypassed = verdict(
            "8.0.0",
            Some("6.0.14"),
            "unknown",
            "3000",
            "x",
            Some("TRUE"),
        );
        assert!(!bypassed.exit);
        assert!(bypassed.lines[1].contains("SERVER ERROR"));
        assert!(bypassed.lines.iter().any(|l| l.contains("SERVER RUNNING")));
        // An unreadable version is refused too; 7.x needs 5.0; 6.x is not checked.
        assert!(verdict("8.0.0", None, "undefined", "3000", "x", None).exit);
        assert!(!verdict("7.13.9", Some("5.0.31"), "unknown", "3000", "x", None).exit);
        assert!(!verdict("6.13.1", Some("5.0.31"), "unknown", "3000", "x", None).exit);
        assert_eq!(coerce("v6.0.14-rc1"), Some((6, 0, 14)));
        assert_eq!(coerce("7"), Some((7, 0, 0)));
    }
}
