//! The status page a person opens (`GET /`) and the badges (`/badge/...`): server-rendered
//! HTML with inline CSS and SVG — no JavaScript, no external asset, so it works offline and in
//! any browser. States are words as well as colours; the text keeps a contrast of 4.5:1 or more
//! on its background (WCAG AA).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::incidents::Graph;
use super::state::CheckState;
use super::store::{Bucket, DAY_MS, Entry, HOUR_MS, Incident, Store, Window};
use crate::error::Error;
// XML's escaping is HTML's.
use crate::output::junit::escape;

/// Days in the uptime bar.
pub const BAR_DAYS: i64 = 90;

fn time(ms: i64) -> String {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC")
}

/// A check's state in words (the page never says it with colour alone): down while it has an
/// open incident (kept across restarts), failing below its threshold, else its last run's.
#[must_use]
pub fn state_word(
    check: &CheckState,
    incident: bool,
    maintenance: bool,
) -> (&'static str, &'static str) {
    if maintenance {
        ("Maintenance", "maintenance")
    } else if incident {
        ("Down", "down")
    } else if check.pending {
        ("Pending", "pending")
    } else if check.last.as_ref().is_some_and(|r| !r.ok) {
        ("Failing", "failing")
    } else {
        ("Operational", "up")
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1a1a1a;background:#fff}\
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ccc}h3{font-size:1.05rem;margin:1.2rem 0 .4rem}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e5e5e5;vertical-align:middle}\
.state{font-weight:700;padding:.1rem .45rem;border-radius:.25rem}.up{background:#dff3e4;color:#0b5d1e}.down{background:#fde2e1;color:#8a1111}\
.pending{background:#eee;color:#333}.failing{background:#fff1cc;color:#6b4500}.maintenance{background:#e3ecfb;color:#163f87}\
.banner{padding:.8rem 1rem;border-radius:.4rem;font-weight:700}.notice{background:#e3ecfb;color:#163f87;padding:.6rem 1rem;border-radius:.4rem;margin:.5rem 0}\
ol.timeline{margin:.3rem 0 1rem 1.2rem;padding:0}ol.timeline li{margin:.15rem 0}.muted{color:#555}svg{vertical-align:middle}";

/// What the page shows, gathered under the store's lock.
pub struct PageData {
    pub days: BTreeMap<String, Vec<Bucket>>,
    pub hours: BTreeMap<String, Vec<Bucket>>,
    pub uptime_30d: BTreeMap<String, Option<f64>>,
    pub open: Vec<(Incident, Vec<Entry>)>,
    pub past: Vec<(Incident, Vec<Entry>)>,
    pub windows: Vec<Window>,
}

impl PageData {
    /// Reads what the page needs for `checks` at `now`.
    ///
    /// # Errors
    /// SQLite's.
    pub fn read(store: &Store, checks: &[CheckState], now: i64) -> Result<Self, Error> {
        let mut days = BTreeMap::new();
        let mut hours = BTreeMap::new();
        let mut uptime_30d = BTreeMap::new();
        let today = now - now.rem_euclid(DAY_MS);
        for check in checks {
            days.insert(
                check.name.clone(),
                store.daily(&check.name, today - (BAR_DAYS - 1) * DAY_MS)?,
            );
            hours.insert(
                check.name.clone(),
                store.hourly(&check.name, now - now.rem_euclid(HOUR_MS) - 23 * HOUR_MS)?,
            );
            uptime_30d.insert(
                check.name.clone(),
                store.uptime(&check.name, now - 30 * DAY_MS, now)?,
            );
        }
        let with_timeline = |list: Vec<Incident>| -> Result<Vec<_>, Error> {
            list.into_iter()
                .map(|i| {
                    let t = store.timeline(i.id)?;
                    Ok((i, t))
                })
                .collect()
        };
        Ok(Self {
            days,
            hours,
            uptime_30d,
            open: with_timeline(store.open_incidents()?)?,
            past: with_timeline(store.past_incidents(now - 14 * DAY_MS, 20)?)?,
            windows: store.windows(now)?,
        })
    }
}

/// The 90-day bar: one rect per day, its uptime in its `<title>` (read by screen readers and
/// shown on hover); days without data are grey.
fn day_bar(buckets: &[Bucket], now: i64) -> String {
    let today = now - now.rem_euclid(DAY_MS);
    let by_day: BTreeMap<i64, &Bucket> = buckets.iter().map(|b| (b.start, b)).collect();
    let mut svg = format!(
        "<svg class=\"bar\" width=\"{}\" height=\"24\" viewBox=\"0 0 {} 24\" role=\"img\" aria-label=\"daily uptime, last {BAR_DAYS} days\">",
        BAR_DAYS * 4,
        BAR_DAYS * 4
    );
    for index in 0..BAR_DAYS {
        let day = today - (BAR_DAYS - 1 - index) * DAY_MS;
        let (fill, label) = match by_day.get(&day) {
            None => ("#c8c8c8", "no data".to_owned()),
            Some(b) => {
                let up = b.uptime();
                let fill = if up >= 0.999 {
                    "#2e8540"
                } else if up >= 0.95 {
                    "#e8a200"
                } else {
                    "#c4161c"
                };
                (fill, format!("{:.2} % up", up * 100.0))
            }
        };
        let _ = write!(
            svg,
            "<rect x=\"{}\" width=\"3\" height=\"24\" fill=\"{fill}\"><title>{}: {label}</title></rect>",
            index * 4,
            &time(day)[..10]
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The last 24 hours' mean response time per hour, as a polyline.
fn sparkline(buckets: &[Bucket]) -> String {
    let points: Vec<f64> = buckets.iter().map(Bucket::mean_latency).collect();
    let (w, h) = (120.0, 24.0);
    let max = points.iter().copied().fold(1.0_f64, f64::max);
    let step = if points.len() > 1 {
        w / (points.len() - 1) as f64
    } else {
        0.0
    };
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                h - 1.0 - (v / max) * (h - 2.0)
            )
        })
        .collect();
    let last = points.last().copied().unwrap_or(0.0);
    // The latest hour as a dot: with a single point, the line alone would show nothing.
    let dot = line
        .last()
        .and_then(|p| p.split_once(','))
        .map_or_else(String::new, |(x, y)| {
            format!("<circle cx=\"{x}\" cy=\"{y}\" r=\"2\" fill=\"#1f5fbf\"/>")
        });
    format!(
        "<svg class=\"spark\" width=\"120\" height=\"24\" viewBox=\"0 0 120 24\" role=\"img\" aria-label=\"response time, last 24 hours, latest {last:.0} ms\"><polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"1.5\" points=\"{}\"/>{dot}</svg>",
        line.join(" ")
    )
}

fn timeline_html(out: &mut String, incident: &Incident, entries: &[Entry]) {
    let _ = write!(
        out,
        "<article class=\"incident\" id=\"incident-{id}\"><h3>Incident #{id}: {service} — <span class=\"status\">{status}</span></h3><p class=\"muted\">Check <code>{check}</code>, opened {opened}{resolved}</p><ol class=\"timeline\">",
        id = incident.id,
        service = escape(&incident.service),
        status = escape(&incident.status),
        check = escape(&incident.check),
        opened = time(incident.opened_at),
        resolved = incident
            .resolved_at
            .map(|r| format!(", resolved {}", time(r)))
            .unwrap_or_default()
    );
    for e in entries {
        let _ = write!(
            out,
            "<li><time>{}</time> <strong class=\"kind\">{}</strong>: {}</li>",
            time(e.at),
            escape(&e.kind),
            escape(&e.text)
        );
    }
    out.push_str("</ol></article>");
}

/// The whole page.
#[must_use]
pub fn render(checks: &[CheckState], data: &PageData, graph: &Graph, now: i64) -> String {
    let in_window = |service: &str| data.windows.iter().find(|w| w.covers(service, now));
    let open_checks: std::collections::BTreeSet<&str> =
        data.open.iter().map(|(i, _)| i.check.as_str()).collect();
    let down = checks
        .iter()
        .filter(|c| open_checks.contains(c.name.as_str()) && in_window(&c.service).is_none())
        .count();
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><meta http-equiv=\"refresh\" content=\"60\"><title>Status</title><style>{STYLE}</style></head><body><header><h1>Status</h1>"
    );
    let (banner, class) = if down == 0 {
        ("All systems operational".to_owned(), "up")
    } else {
        (format!("{down} check(s) down"), "down")
    };
    let _ = write!(
        out,
        "<p class=\"banner {class}\" id=\"overall\" role=\"status\">{banner}</p><p class=\"muted\">Updated {}</p></header><main>",
        time(now)
    );
    if !data.windows.is_empty() {
        out.push_str(
            "<section aria-labelledby=\"maintenance\"><h2 id=\"maintenance\">Maintenance</h2>",
        );
        for w in &data.windows {
            let when = if w.starts_at <= now {
                "In progress"
            } else {
                "Scheduled"
            };
            let services = if w.services.is_empty() {
                "all services".to_owned()
            } else {
                w.services.join(", ")
            };
            let _ = write!(
                out,
                "<p class=\"notice maintenance-window\"><strong>{when}</strong>: {} — {} (from {} to {})</p>",
                escape(&services),
                escape(&w.message),
                time(w.starts_at),
                time(w.ends_at)
            );
        }
        out.push_str("</section>");
    }
    out.push_str("<section aria-labelledby=\"open\"><h2 id=\"open\">Open incidents</h2>");
    if data.open.is_empty() {
        out.push_str("<p>No open incident.</p>");
    }
    for (incident, entries) in &data.open {
        timeline_html(&mut out, incident, entries);
    }
    out.push_str("</section><section aria-labelledby=\"checks\"><h2 id=\"checks\">Checks</h2>");
    let services = graph.order(checks.iter().map(|c| c.service.clone()));
    for service in services {
        let label = if service.is_empty() {
            "other"
        } else {
            service.as_str()
        };
        let _ = write!(
            out,
            "<h3 class=\"service\">{}</h3><table><thead><tr><th scope=\"col\">Check</th><th scope=\"col\">State</th><th scope=\"col\">Last {BAR_DAYS} days</th><th scope=\"col\">Uptime 30 d</th><th scope=\"col\">Response time, 24 h</th></tr></thead><tbody>",
            escape(label)
        );
        for check in checks.iter().filter(|c| c.service == service) {
            let (word, class) = state_word(
                check,
                open_checks.contains(check.name.as_str()),
                in_window(&check.service).is_some(),
            );
            let detail = check
                .last
                .as_ref()
                .map(|r| escape(&r.detail))
                .unwrap_or_default();
            let uptime = data
                .uptime_30d
                .get(&check.name)
                .copied()
                .flatten()
                .map_or_else(|| "—".to_owned(), |u| format!("{:.2} %", u * 100.0));
            let _ = write!(
                out,
                "<tr class=\"check\" data-check=\"{name}\" data-state=\"{class}\"><th scope=\"row\">{name}<br><small class=\"muted\">{detail}</small></th><td><span class=\"state {class}\">{word}</span></td><td>{bar}</td><td>{uptime}</td><td>{spark}</td></tr>",
                name = escape(&check.name),
                bar = day_bar(
                    data.days.get(&check.name).map_or(&[][..], Vec::as_slice),
                    now
                ),
                spark = sparkline(data.hours.get(&check.name).map_or(&[][..], Vec::as_slice)),
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str(
        "</section><section aria-labelledby=\"past\"><h2 id=\"past\">Past incidents (14 days)</h2>",
    );
    if data.past.is_empty() {
        out.push_str("<p>No incident in the last 14 days.</p>");
    }
    for (incident, entries) in &data.past {
        timeline_html(&mut out, incident, entries);
    }
    out.push_str("</section></main><footer><p class=\"muted\">JSON: <a href=\"/api/status\">/api/status</a>, <a href=\"/status\">/status</a>; <a href=\"/metrics\">/metrics</a></p></footer></body></html>");
    out
}

/// A shields-style badge: `label | value`, the value's colour by meaning.
#[must_use]
pub fn badge(label: &str, value: &str, color: &str) -> String {
    // Verdana 11px averages about 6.5 px a character; shields.io pads 5 px each side.
    let width = |t: &str| 10 + (t.chars().count() as u32) * 7;
    let (lw, vw) = (width(label), width(value));
    let (label, value) = (escape(label), escape(value));
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" aria-label=\"{label}: {value}\"><title>{label}: {value}</title><rect width=\"{lw}\" height=\"20\" fill=\"#555\"/><rect x=\"{lw}\" width=\"{vw}\" height=\"20\" fill=\"{color}\"/><g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\"><text x=\"{lx}\" y=\"14\">{label}</text><text x=\"{vx}\" y=\"14\">{value}</text></g></svg>",
        total = lw + vw,
        lx = lw / 2,
        vx = lw + vw / 2,
    )
}

/// The uptime badge's colour (Gatus's steps).
#[must_use]
pub fn uptime_color(uptime: f64) -> &'static str {
    if uptime >= 0.99 {
        "#2e8540"
    } else if uptime >= 0.95 {
        "#b36b00"
    } else {
        "#c4161c"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_badges_say_their_value() {
        assert_eq!(escape("<a href='x'>&"), "&lt;a href=&apos;x&apos;&gt;&amp;");
        let svg = badge("uptime 24h", "99.50 %", uptime_color(0.995));
        assert!(svg.contains("<title>uptime 24h: 99.50 %</title>"), "{svg}");
        assert!(svg.contains("#2e8540"));
    }
}
