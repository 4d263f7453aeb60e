use crate::id::is_valid_id;

/// What a tus request addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The base path itself: creation and discovery.
    Collection,
    /// One upload.
    Upload(String),
    /// Something under the base path that no valid id names.
    Invalid,
}

impl Target {
    /// Where `path` points under `base` (which starts and ends with `/`),
    /// or `None` when it is not under `base` at all.
    pub(crate) fn under(base: &str, path: &str) -> Option<Target> {
        if path == base || path == base.trim_end_matches('/') {
            return Some(Target::Collection);
        }
        let rest = path.strip_prefix(base)?;
        Some(Self::id(rest))
    }

    /// The upload named by the last segment of `path`.
    pub(crate) fn last_segment(path: &str) -> Target {
        Self::id(path.rsplit('/').next().unwrap_or(""))
    }

    fn id(segment: &str) -> Target {
        if is_valid_id(segment) {
            Target::Upload(segment.to_owned())
        } else {
            Target::Invalid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_targets() {
        assert_eq!(Target::under("/files/", "/files"), Some(Target::Collection));
        assert_eq!(
            Target::under("/files/", "/files/"),
            Some(Target::Collection)
        );
        assert_eq!(
            Target::under("/files/", "/files/abc"),
            Some(Target::Upload("abc".into()))
        );
        assert_eq!(
            Target::under("/files/", "/files/a/b"),
            Some(Target::Invalid)
        );
        assert_eq!(
            Target::under("/files/", "/files/..%2Fx"),
            Some(Target::Invalid)
        );
        assert_eq!(Target::under("/files/", "/filesx"), None);
        assert_eq!(Target::under("/files/", "/other"), None);
        assert_eq!(
            Target::under("/", "/abc"),
            Some(Target::Upload("abc".into()))
        );
    }
}
