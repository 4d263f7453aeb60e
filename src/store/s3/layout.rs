//! Where tusd's s3store keeps an upload: `<prefix><object>.info`, the
//! multipart upload on `<prefix><object>`, `<prefix><object>.part` for a
//! tail below the part size; the tus id is `<object>+<multipart upload id>`.

/// The object id and multipart upload id in a tus id.
pub(super) fn split_id(id: &str) -> Option<(&str, &str)> {
    let (object, multipart) = id.split_once('+')?;
    (!object.is_empty() && !multipart.is_empty()).then_some((object, multipart))
}

/// Object keys, under the configured prefixes.
#[derive(Clone, Debug, Default)]
pub(super) struct Layout {
    pub(super) object_prefix: String,
    /// For `.info` and `.part`, when they live apart from the data.
    pub(super) metadata_prefix: Option<String>,
}

impl Layout {
    pub(super) fn object(&self, object_id: &str) -> String {
        format!("{}{object_id}", self.object_prefix)
    }

    fn metadata(&self, object_id: &str, suffix: &str) -> String {
        let prefix = self
            .metadata_prefix
            .as_deref()
            .unwrap_or(&self.object_prefix);
        format!("{prefix}{object_id}{suffix}")
    }

    pub(super) fn info(&self, object_id: &str) -> String {
        self.metadata(object_id, ".info")
    }

    pub(super) fn tail(&self, object_id: &str) -> String {
        self.metadata(object_id, ".part")
    }

    /// The object id of an `.info` key listed under the metadata prefix.
    pub(super) fn object_of_info<'a>(&self, key: &'a str) -> Option<&'a str> {
        let prefix = self
            .metadata_prefix
            .as_deref()
            .unwrap_or(&self.object_prefix);
        key.strip_prefix(prefix)?.strip_suffix(".info")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tusd_keys() {
        assert_eq!(split_id("abc+x.y_z"), Some(("abc", "x.y_z")));
        assert_eq!(split_id("abc"), None);
        let layout = Layout {
            object_prefix: "uploads/".into(),
            metadata_prefix: Some("meta/".into()),
        };
        assert_eq!(layout.object("abc"), "uploads/abc");
        assert_eq!(layout.info("abc"), "meta/abc.info");
        assert_eq!(layout.tail("abc"), "meta/abc.part");
        assert_eq!(layout.object_of_info("meta/abc.info"), Some("abc"));
        assert_eq!(layout.object_of_info("uploads/abc"), None);
    }
}
