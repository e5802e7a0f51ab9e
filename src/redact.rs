//! Secrets never reach output: credentials inside URLs are masked before anything prints them.

/// The URL with any password replaced by `***` (the user name is kept: it helps debugging and
/// is not a secret on its own).
#[must_use]
pub fn url(url: &url::Url) -> String {
    if url.password().is_none() {
        return url.to_string();
    }
    let mut masked = url.clone();
    // `set_password` only fails for URLs that cannot carry credentials, which have none.
    let _ = masked.set_password(Some("***"));
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
}
