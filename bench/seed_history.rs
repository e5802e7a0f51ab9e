//! Fills a `serve` database with a year of history, as `bench/status-page.sh` measures it:
//! N checks run once a minute, seeded as the tiers hold them after a year (raw results for the
//! last 24 h, hourly buckets for 30 days, daily buckets for a year — older rows would have been
//! pruned) and pruned as `serve` prunes. A few hours fail, so bars and uptimes are not flat.
//!
//! cargo run --release --example seed-history -- DB CHECKS [DAYS]

use std::path::PathBuf;

use stackctl::serve::store::{self, DAY_MS, HOUR_MS, Store};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(db), Some(checks)) = (args.next(), args.next()) else {
        eprintln!("usage: seed-history DB CHECKS [DAYS]");
        std::process::exit(2);
    };
    let checks: i64 = checks.parse().expect("CHECKS is a number");
    let days: i64 = args
        .next()
        .map_or(365, |d| d.parse().expect("DAYS is a number"));
    let mut store = Store::open(&PathBuf::from(&db)).expect("the database opens");
    let now = stackctl::serve::now_ms();
    let started = std::time::Instant::now();
    store
        .write(|tx| {
            for check in 0..checks {
                let name = format!("check {check:02}");
                // Hours before the last 24 h: one bucket each, 60 results.
                let first_hour = now - now.rem_euclid(HOUR_MS) - days * DAY_MS;
                let mut hour = first_hour;
                while hour < now - DAY_MS {
                    let failed = i64::from((hour / HOUR_MS + check * 7) % 997 == 0) * 12;
                    let latency = 20.0 + ((hour / HOUR_MS + check) % 13) as f64;
                    store::add_to_buckets(tx, &name, hour, 60, 60 - failed, latency * 60.0)?;
                    hour += HOUR_MS;
                }
                // The last 24 h: every result.
                let mut at = now - DAY_MS;
                while at < now {
                    let ok = (at / 60_000 + check) % 1009 != 0;
                    let latency = 20.0 + ((at / 60_000 + check) % 17) as f64;
                    store::add_result(tx, &name, at, ok, latency, "seeded")?;
                    at += 60_000;
                }
            }
            Ok(())
        })
        .expect("seeding");
    let pruned = store.prune(now).expect("pruning");
    store
        .conn()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")
        .expect("compacting");
    eprintln!(
        "seeded {checks} checks x {days} days into {db} in {:.1} s ({pruned} rows pruned)",
        started.elapsed().as_secs_f64()
    );
}
