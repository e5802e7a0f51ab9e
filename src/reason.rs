//! Failures put into words for people: short, lowercase, without OS error codes.
//!
//! A leaf module: checks, clients, the engine and the stack loader all describe I/O and HTTP
//! failures the same way, so none of them needs to reach into another for it.

/// Turns an I/O error into a short lowercase reason: `connection refused`.
#[must_use]
pub fn io_reason(err: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        ErrorKind::ConnectionReset => "connection reset by peer".to_owned(),
        ErrorKind::TimedOut => "connection timed out".to_owned(),
        ErrorKind::HostUnreachable => "host unreachable".to_owned(),
        ErrorKind::NetworkUnreachable => "network unreachable".to_owned(),
        ErrorKind::AddrNotAvailable => "address not available".to_owned(),
        _ => lowercase_first(&strip_os_error(&err.to_string())),
    }
}

/// `Connection refused (os error 111)` → `Connection refused`.
#[must_use]
pub fn strip_os_error(text: &str) -> String {
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text.to_owned(),
    }
}

/// Our messages start lowercase; other libraries' often do not.
#[must_use]
pub fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if !chars.clone().next().is_some_and(char::is_uppercase) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}

/// The root cause of a reqwest error, in a few lowercase words. reqwest's own texts quote the
/// URL, so whatever is left of it is masked ([`crate::redact::text`]).
#[must_use]
pub fn request_error(err: &reqwest::Error) -> String {
    crate::redact::text(&request_reason(err))
}

fn request_reason(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".to_owned();
    }
    if let Some(tls) = crate::tls::describe(err) {
        return tls;
    }
    let mut root: &dyn std::error::Error = err;
    while let Some(source) = root.source() {
        root = source;
    }
    let reason = match root.downcast_ref::<std::io::Error>() {
        Some(io) => io_reason(io),
        None => lowercase_first(&strip_os_error(&root.to_string())),
    };
    // getaddrinfo's words, e.g. "failed to lookup address information: Name or service not known".
    if let Some(why) = reason.strip_prefix("failed to lookup address information: ") {
        let host = err.url().and_then(url::Url::host_str).unwrap_or("the host");
        return format!("cannot resolve `{host}`: {}", why.to_lowercase());
    }
    if root.downcast_ref::<std::io::Error>().is_some() {
        return reason;
    }
    // A TLS server answers a plain-text request with an alert, or hangs up.
    let plain = err.url().is_some_and(|u| u.scheme() == "http");
    if plain
        && (reason.starts_with("connection closed before message completed")
            || reason.starts_with("invalid HTTP version parsed"))
    {
        return format!(
            "the server's answer is not HTTP: {reason} (hint: does it want `https://`?)"
        );
    }
    if err.is_connect() && !reason.contains("connect") {
        format!("cannot connect: {reason}")
    } else {
        reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_lowercase_without_os_codes() {
        assert_eq!(strip_os_error("Broken pipe (os error 32)"), "Broken pipe");
        assert_eq!(lowercase_first("Broken pipe"), "broken pipe");
        assert_eq!(lowercase_first("TLS handshake"), "TLS handshake");
    }
}
