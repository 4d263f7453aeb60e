use http::{HeaderMap, header};

use super::UploadHandler;

impl UploadHandler {
    /// The URL of upload `id`: a path, or an absolute URL when forwarded
    /// headers are trusted and a host is known.
    pub(super) fn location(&self, headers: &HeaderMap, id: &str) -> String {
        let config = &self.inner.config;
        let path = format!("{}{}", config.base_path, id);
        if !config.respect_forwarded_headers {
            return path;
        }
        let mut proto = "http".to_owned();
        let mut host = header_str(headers, "host").map(str::to_owned);
        if let Some(h) = header_str(headers, "x-forwarded-host") {
            host = h.split(',').next().map(|s| s.trim().to_owned());
        }
        if let Some(p) = header_str(headers, "x-forwarded-proto") {
            proto = p
                .split(',')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
        }
        if let Some(forwarded) = header_str(headers, header::FORWARDED.as_str()) {
            // The first element is the one the client's closest proxy wrote.
            let first = forwarded.split(',').next().unwrap_or("");
            for pair in first.split(';') {
                let Some((key, value)) = pair.trim().split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "host" => host = Some(value.to_owned()),
                    "proto" => proto = value.to_ascii_lowercase(),
                    _ => {}
                }
            }
        }
        if proto != "http" && proto != "https" {
            proto = "http".to_owned();
        }
        match host.filter(|h| is_plausible_host(h)) {
            Some(host) => format!("{proto}://{host}{path}"),
            None => path,
        }
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
}

/// A host, optionally with a port, that cannot change the URL's structure.
fn is_plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
}
