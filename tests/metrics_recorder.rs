//! The tus metrics recorded by the `metrics` crate's recorder, under tusd's
//! names. Alone in its test binary: the recorder is global.

mod common;

#[tokio::test]
async fn the_metrics_crate_s_recorder_sees_them_as_they_happen() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    let h = common::memory_handler();
    common::metered_traffic(&h).await;
    let snapshot = snapshotter.snapshot().into_vec();
    let value = |name: &str, label: Option<(&str, &str)>| {
        snapshot.iter().find_map(|(key, _, help, value)| {
            let key = key.key();
            let labelled = match label {
                Some((k, v)) => key.labels().any(|l| l.key() == k && l.value() == v),
                None => key.labels().next().is_none(),
            };
            let count = match value {
                metrics_util::debugging::DebugValue::Counter(n) => *n,
                _ => return None,
            };
            (key.name() == name && labelled).then(|| (count, help.as_ref().map(|h| h.to_string())))
        })
    };
    let (created, help) = value("tusd_uploads_created", None).expect("recorded");
    assert_eq!(created, 1);
    assert_eq!(help.as_deref(), Some("Number of created uploads."));
    assert_eq!(value("tusd_bytes_received", None).unwrap().0, 5);
    assert_eq!(value("tusd_uploads_finished", None).unwrap().0, 1);
    assert_eq!(
        value("tusd_requests_total", Some(("method", "PATCH")))
            .unwrap()
            .0,
        2
    );
    assert_eq!(
        value("tusd_errors_total", Some(("code", "ERR_MISMATCHED_OFFSET")))
            .unwrap()
            .0,
        1
    );
}
