//! A high-risk event raises an alert that a LISTENing monitor receives as JSON.

mod common;

use std::time::Duration;

#[tokio::test]
async fn alert_reaches_a_listener() {
    common::fresh_db("it_notify").await;
    let (monitor, mut notes) = common::connect_listening("it_notify").await;
    monitor
        .batch_execute("LISTEN auditlog_alerts")
        .await
        .unwrap();
    let app = common::connect("it_notify").await;

    // A low-risk event raises nothing.
    app.batch_execute("SELECT audit_log('auth.logout')")
        .await
        .unwrap();
    let id: uuid::Uuid = app
        .query_one(
            "SELECT audit_log('security.breach.suspected', '{\"what\": \"exfiltration\"}', '{\"user_id\": 3, \"correlation_id\": \"CORR_N\"}')",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    let note = tokio::time::timeout(Duration::from_secs(10), notes.recv())
        .await
        .expect("a notification")
        .unwrap();
    assert_eq!(note.channel(), "auditlog_alerts");
    let alert: serde_json::Value = serde_json::from_str(note.payload()).unwrap();
    assert_eq!(alert["alert_id"], format!("ALERT_{id}"));
    assert_eq!(alert["alert_type"], "high_risk_event");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["correlation_id"], "CORR_N");
    assert_eq!(alert["alert_data"]["risk_score"], 100);
    assert_eq!(alert["alert_data"]["event_id"], id.to_string());
    // The same alert is in the table.
    let stored: i64 = monitor
        .query_one(
            "SELECT count(*) FROM audit.audit_alerts WHERE alert_id = $1",
            &[&format!("ALERT_{id}")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);
    // And only one alert was sent.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), notes.recv())
            .await
            .is_err()
    );
}
