use http::{HeaderMap, header};

use super::UploadHandler;
use crate::events::RequestDetails;

impl UploadHandler {
    /// Where upload URLs start for a request to `path` (as the handler sees
    /// it): the mount point a router stripped, then the base path matched.
    pub(super) fn request_upload_base(&self, path: &str, extensions: &http::Extensions) -> String {
        let base = &self.inner.config.base_path;
        let matched = if self.target(path).is_some() {
            base.as_str()
        } else {
            "/"
        };
        let mount = mounted_at(path, extensions);
        format!("{}{matched}", mount.trim_end_matches('/'))
    }

    /// Where upload URLs start for the request of `details`: its mount
    /// point and base path, or the configured base path.
    pub(super) fn upload_base<'a>(&'a self, details: &'a RequestDetails) -> &'a str {
        details
            .upload_base
            .as_deref()
            .unwrap_or(&self.inner.config.base_path)
    }

    /// The URL of upload `id` under `base`: a path, or an absolute URL when
    /// forwarded headers are trusted and a host is known.
    pub(super) fn location(&self, headers: &HeaderMap, base: &str, id: &str) -> String {
        let config = &self.inner.config;
        let path = format!("{base}{id}");
        if !config.respect_forwarded_headers {
            return path;
        }
        let (host, proto) = forwarded(headers);
        match host.filter(|h| is_plausible_host(h)) {
            Some(host) => format!("{proto}://{host}{path}"),
            None => path,
        }
    }

    /// The hosts this request was sent to, as its URLs name them: `Host`
    /// (or the HTTP/2 authority) and, when forwarded headers are trusted,
    /// the host the client's proxy says.
    pub(super) fn request_hosts(
        &self,
        headers: &HeaderMap,
        authority: Option<&str>,
    ) -> Vec<String> {
        let mut hosts: Vec<String> = header_str(headers, "host")
            .into_iter()
            .chain(authority)
            .map(str::to_owned)
            .collect();
        if self.inner.config.respect_forwarded_headers
            && let (Some(host), _) = forwarded(headers)
        {
            hosts.push(host);
        }
        hosts
    }
}

/// The host and scheme the client used, from `Host` and the forwarded
/// headers its proxies wrote.
fn forwarded(headers: &HeaderMap) -> (Option<String>, String) {
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
    (host, proto)
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

/// The prefix a router stripped from the path before the handler saw it
/// (`/api` for `/api/files/abc` seen as `/files/abc`), or `""`.
#[cfg_attr(not(feature = "axum"), allow(unused_variables))]
fn mounted_at<'a>(seen: &str, extensions: &'a http::Extensions) -> &'a str {
    #[cfg(feature = "axum")]
    if let Some(original) = extensions.get::<axum::extract::OriginalUri>() {
        let original = original.0.path();
        if seen == "/" {
            return original.trim_end_matches('/');
        }
        if let Some(mount) = original.strip_suffix(seen) {
            return mount;
        }
    }
    ""
}
