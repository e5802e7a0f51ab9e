//! Secrets never reach output: credentials inside URLs are masked before anything prints them.
//!
//! Two kinds of secret ride in URLs: the password of the userinfo (`https://bot:pw@host/`) and
//! query parameters named like credentials (`?token=...`, `?api_key=...`). [`url`] masks both in
//! a parsed URL; [`text`] does the same in free text (an error message quoting a value that did
//! not even parse), erring on the side of masking too much.

/// The URL with any password, and the value of any credential-like query parameter, replaced by
/// `***` (the user name is kept: it helps debugging and is not a secret on its own).
#[must_use]
pub fn url(url: &url::Url) -> String {
    let secret_query = url.query().is_some_and(|q| mask_query(q).is_some());
    if url.password().is_none() && !secret_query {
        return url.to_string();
    }
    let mut masked = url.clone();
    if masked.password().is_some() {
        // `set_password` only fails for URLs that cannot carry credentials, which have none.
        let _ = masked.set_password(Some("***"));
    }
    if let Some(query) = url.query().and_then(mask_query) {
        masked.set_query(Some(&query));
    }
    masked.to_string()
}

/// Like [`url`] for text that may or may not parse as a URL (e.g. a MongoDB URI with several
/// hosts): masks whatever sits between `//user:` and the last `@` of the authority.
#[must_use]
pub fn uri_text(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_owned();
    };
    let authority_end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| start + i);
    let authority = &text[start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return text.to_owned();
    };
    let userinfo = &authority[..at];
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    let masked = if userinfo.contains(':') {
        format!("{user}:***")
    } else {
        user.to_owned()
    };
    format!("{}{}{}", &text[..start], masked, &text[start + at..])
}

/// Every URL-looking span of free text (`scheme://...` up to a space, a quote or a backtick)
/// with its password and credential-like query values masked. The span's userinfo ends at its
/// *last* `@`, even past a `/`, `?` or `#`: a malformed URL whose password holds one of those
/// is still masked (at worst, something that was not a password is masked too).
#[must_use]
pub fn text(text: &str) -> String {
    if !text.contains("://") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let start = i + 3;
        let span_len = rest[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '`' | '\'' | '"' | '<' | '>'))
            .unwrap_or(rest.len() - start);
        // Trailing punctuation belongs to the sentence, not to the URL.
        let span = rest[start..start + span_len].trim_end_matches([',', '.', ';', ')', ']']);
        let span_len = span.len();
        out.push_str(&rest[..start]);
        out.push_str(&mask_span(span));
        rest = &rest[start + span_len..];
    }
    out.push_str(rest);
    out
}

/// `user:pw@host/x?token=t` → `user:***@host/x?token=***`.
fn mask_span(span: &str) -> String {
    let (userinfo, after) = match span.rfind('@') {
        Some(at) => (Some(&span[..at]), &span[at..]),
        None => (None, span),
    };
    let mut out = String::with_capacity(span.len());
    if let Some(info) = userinfo {
        match info.split_once(':') {
            Some((user, _)) => {
                out.push_str(user);
                out.push_str(":***");
            }
            None => out.push_str(info),
        }
    }
    match after.split_once('?') {
        Some((before, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, Some(f)),
                None => (query, None),
            };
            out.push_str(before);
            out.push('?');
            out.push_str(&mask_query(query).unwrap_or_else(|| query.to_owned()));
            if let Some(f) = fragment {
                out.push('#');
                out.push_str(f);
            }
        }
        None => out.push_str(after),
    }
    out
}

/// The query with credential-like values replaced by `***`; `None` when there are none.
fn mask_query(query: &str) -> Option<String> {
    let mut changed = false;
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() && is_secret_name(name) => {
                changed = true;
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    changed.then(|| parts.join("&"))
}

/// Environment variables whose names say they hold a credential (`ADMIN_PASS`, `API_TOKEN`,
/// `TLS_KEY_FILE`...): masked by `config`, put in a Secret by `render kubernetes`.
#[must_use]
pub fn is_secret_variable(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "PRIVATE"]
        .iter()
        .any(|w| upper.contains(w))
}

/// Parameter names that carry credentials by convention (OAuth, API keys, signed URLs).
fn is_secret_name(name: &str) -> bool {
    let decoded: String = url::form_urlencoded::parse(name.as_bytes())
        .next()
        .map(|(k, _)| k.to_ascii_lowercase())
        .unwrap_or_default();
    let name = decoded.replace('-', "_");
    matches!(
        name.as_str(),
        "password"
            | "passwd"
            | "pwd"
            | "pass"
            | "auth"
            | "authorization"
            | "key"
            | "sig"
            | "signature"
            | "code"
            | "credential"
            | "credentials"
    ) || ["token", "secret", "password", "_key", "apikey", "signature"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// A URL whose path is itself a secret (a webhook's `/hooks/<id>/<token>`): scheme, host, port
/// and the first path segment are kept, the rest is `***`; credentials are masked too.
#[must_use]
pub fn url_path(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    let first = url
        .path_segments()
        .and_then(|mut s| s.find(|p| !p.is_empty()))
        .unwrap_or_default()
        .to_owned();
    let rest = if url.path().trim_matches('/') == first {
        ""
    } else {
        "/***"
    };
    shown.set_path(&format!("/{first}{rest}"));
    let text = self::url(&shown);
    if url.password().is_some() {
        text.replacen('@', ":***@", 1)
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_passwords_in_urls() {
        let u = url::Url::parse("https://bot:hunter2@chat.example/api").unwrap();
        assert_eq!(super::url(&u), "https://bot:***@chat.example/api");
        let plain = url::Url::parse("http://chat.example/").unwrap();
        assert_eq!(super::url(&plain), "http://chat.example/");
    }

    #[test]
    fn masks_credential_query_parameters() {
        let u = url::Url::parse("https://h/health?access_token=abc&verbose=1&X-Api-Key=k").unwrap();
        assert_eq!(
            super::url(&u),
            "https://h/health?access_token=***&verbose=1&X-Api-Key=***"
        );
        let keep = url::Url::parse("https://h/x?page=2&keyboard=1").unwrap();
        assert_eq!(super::url(&keep), "https://h/x?page=2&keyboard=1");
    }

    #[test]
    fn hides_secret_paths() {
        let u = url::Url::parse("http://rocketchat:3000/hooks/abc/def?x=1").unwrap();
        assert_eq!(super::url_path(&u), "http://rocketchat:3000/hooks/***");
        let u = url::Url::parse("https://u:p@chat.example/hooks").unwrap();
        assert_eq!(super::url_path(&u), "https://u:***@chat.example/hooks");
    }

    #[test]
    fn masks_passwords_in_uri_text() {
        assert_eq!(
            super::uri_text("mongodb://root:p%40ss@m1:27017,m2/admin?replicaSet=rs0"),
            "mongodb://root:***@m1:27017,m2/admin?replicaSet=rs0"
        );
        assert_eq!(super::uri_text("mongodb://m1/"), "mongodb://m1/");
    }

    #[test]
    fn masks_urls_inside_free_text() {
        assert_eq!(
            super::text(
                "invalid value `http://user:S3cret@127.0.0.1:99999/`: `http://user:S3cret@127.0.0.1:99999/` is not a valid URL"
            ),
            "invalid value `http://user:***@127.0.0.1:99999/`: `http://user:***@127.0.0.1:99999/` is not a valid URL"
        );
        // A password holding `/` or `#` is masked whole, up to the last `@`.
        assert_eq!(
            super::text("x http://u:pa/ss#w@h:1 y"),
            "x http://u:***@h:1 y"
        );
        assert_eq!(
            super::text("see https://h/p?token=abc, then"),
            "see https://h/p?token=***, then"
        );
        assert_eq!(super::text("no url here"), "no url here");
        assert_eq!(super::text("http://bot@h/"), "http://bot@h/");
    }
}
