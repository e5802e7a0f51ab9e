//! Rocket.Chat's database migrations at start-up, on the `migrations` collection's `control`
//! document `{_id: "control", version, locked, lockedAt, buildAt}`
//! (apps/meteor/server/lib/migrations.ts, server/startup/migrations/xrun.ts; brief
//! ../shared/brief/day2.md §2):
//! - a fresh database (no control, or version 0) is stamped with the latest migration;
//! - the lock is taken when free, or older than 5 minutes, or taken by another build
//!   (`buildAt`); otherwise `Not migrating, control is locked. Attempt n/30. Trying again in 10
//!   seconds.` and, after the last attempt, `ERROR! SERVER STOPPED` / `Your database migration
//!   control is locked.` and exit 1;
//! - each step is saved as `{locked: true, version: step}`; the lock is released at the end; a
//!   failing step prints `ERROR! SERVER STOPPED` / `Your database migration failed: …`, exits 1
//!   and leaves the lock set at the last good step;
//! - no skipped major (server/startup/migrations/minimumVersion.ts): 7.x carries migration 292
//!   ("the first migration added on version 6.0") and 8.x migration 318, which throw `UPGRADE
//!   NOT SUPPORTED!` when they have to run;
//! - a control version the image's list does not have: `Can't find migration version N`, thrown
//!   outside the try block (the server dies).
//!
//! The numbering is the simulator's own where the real lists are not known (each major's
//! latest: 6.x 304, 7.x 318, 8.x 335 — the brief's note that 8.4.3–8.7.0 end at 335 is marked
//! unverified); the steps change no data.

use std::time::Duration;

use mongodb::Database;
use mongodb::bson::{Bson, DateTime, Document, doc};

/// The migration numbers an image knows: the minimum-version guard it carries (0: none
/// simulated) and its latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrations {
    pub guard: i64,
    pub latest: i64,
    /// The major the guard's message asks for first.
    pub previous_major: u32,
}

/// The list of the image whose version is `version` (`7.13.9`).
pub fn for_version(version: &str) -> Migrations {
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(8);
    match major {
        0..=6 => Migrations {
            guard: 0,
            latest: 304,
            previous_major: 5,
        },
        7 => Migrations {
            guard: 292,
            latest: 318,
            previous_major: 6,
        },
        _ => Migrations {
            guard: 318,
            latest: 335,
            previous_major: 7,
        },
    }
}

/// How the start-up run is told to behave.
#[derive(Debug, Clone)]
pub struct Options {
    /// The image's version (`/api/info`): its migration list and its `buildAt` stand-in.
    pub version: String,
    /// Attempts while the lock is held (the server's 30) and the pause between (10 s).
    pub lock_attempts: u32,
    pub lock_retry: Duration,
    /// A planted failure: migration N throws (tests of rollbacks).
    pub fail_at: Option<i64>,
}

/// The server's error box (migrations.ts showErrorBox): the lines, framed.
fn error_box(lines: &[&str]) -> String {
    let width = lines.iter().map(|l| l.len()).max().unwrap_or(0) + 4;
    let mut out = format!("+{}+\n", "-".repeat(width));
    for l in lines {
        out.push_str(&format!("| {l:<w$} |\n", w = width - 2));
    }
    out.push_str(&format!("+{}+", "-".repeat(width)));
    out
}

async fn save(db: &Database, set: Document) -> Result<(), String> {
    db.collection::<Document>("migrations")
        .update_one(doc! {"_id": "control"}, doc! {"$set": set})
        .upsert(true)
        .await
        .map(drop)
        .map_err(|e| format!("MongoError: {e}"))
}

fn int(d: &Document, key: &str) -> i64 {
    match d.get(key) {
        Some(Bson::Int32(v)) => i64::from(*v),
        Some(Bson::Int64(v)) => *v,
        Some(Bson::Double(v)) => *v as i64,
        _ => 0,
    }
}

/// Runs the migrations; `Err(text)` is what the server prints before it exits 1.
pub async fn run(db: &Database, options: &Options) -> Result<(), String> {
    let list = for_version(&options.version);
    let control = db.collection::<Document>("migrations");
    let current = control
        .find_one(doc! {"_id": "control"})
        .await
        .map_err(|e| format!("MongoError: {e}"))?;
    let Some(current) = current.filter(|c| int(c, "version") != 0) else {
        eprintln!(
            "rocketchat-sim: fresh database: migrations control set to {}",
            list.latest
        );
        return save(
            db,
            doc! {"version": list.latest, "locked": false, "buildAt": &options.version},
        )
        .await;
    };
    let from = int(&current, "version");
    if from > list.latest {
        // Thrown outside migrateDatabase's try block: no box, the server dies.
        return Err(format!("Error: Can't find migration version {from}"));
    }
    if from == list.latest && !current.get_bool("locked").unwrap_or(false) {
        eprintln!("rocketchat-sim: Not migrating, already at version {from}");
        return Ok(());
    }
    // The lock: free, stale (5 min), or another build's.
    let mut attempt = 0;
    loop {
        let c = control
            .find_one(doc! {"_id": "control"})
            .await
            .map_err(|e| format!("MongoError: {e}"))?
            .unwrap_or_default();
        let locked = c.get_bool("locked").unwrap_or(false);
        let stale = c.get_datetime("lockedAt").map_or(true, |at| {
            DateTime::now().timestamp_millis() - at.timestamp_millis() > 5 * 60 * 1000
        });
        let other_build = c.get_str("buildAt").ok() != Some(options.version.as_str());
        if !locked || stale || other_build {
            break;
        }
        attempt += 1;
        if attempt >= options.lock_attempts {
            return Err(error_box(&[
                "ERROR! SERVER STOPPED",
                "",
                "Your database migration control is locked.",
                "Please make sure you are running the latest version and try again.",
                "If the problem persists, please contact support.",
            ]));
        }
        eprintln!(
            "rocketchat-sim: Not migrating, control is locked. Attempt {attempt}/{}. Trying again in {} seconds.",
            options.lock_attempts,
            options.lock_retry.as_secs()
        );
        tokio::time::sleep(options.lock_retry).await;
    }
    save(
        db,
        doc! {"locked": true, "lockedAt": DateTime::now(), "buildAt": &options.version},
    )
    .await?;
    for step in (from + 1)..=list.latest {
        let failure = if step == list.guard {
            let wanted = format!(
                "To be able to update to version {}.x.y you need to update to version {}.x first.",
                list.previous_major + 1,
                list.previous_major
            );
            Some(
                [
                    "UPGRADE NOT SUPPORTED!",
                    "",
                    "It seems you're trying to upgrade from an unsupported version!",
                    "",
                    wanted.as_str(),
                    "",
                    "Read more: https://go.rocket.chat/i/how-to-upgrade",
                ]
                .join("\n"),
            )
        } else if options.fail_at == Some(step) {
            Some(format!(
                "planted failure in migration {step} (--fail-migration)"
            ))
        } else {
            None
        };
        if let Some(message) = failure {
            let mut lines = vec![
                "ERROR! SERVER STOPPED",
                "",
                "Your database migration failed:",
            ];
            lines.extend(message.lines());
            lines.extend([
                "",
                "Please make sure you are running the latest version and try again.",
                "If the problem persists, please contact support.",
            ]);
            return Err(error_box(&lines));
        }
        save(db, doc! {"locked": true, "version": step}).await?;
    }
    save(db, doc! {"locked": false}).await?;
    eprintln!(
        "rocketchat-sim: migrated the database from {from} to {}",
        list.latest
    );
    Ok(())
}
