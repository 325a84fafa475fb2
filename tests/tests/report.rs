//! `auditlog-shim report --html`: the page is written from the database and renders in a real
//! browser (Debian's chromium, headless): every section is there, with the data in it.

mod common;
use std::process::Command;

#[tokio::test]
async fn the_html_report_renders_in_headless_chromium() {
    let db = common::fresh_db("it_report").await;
    db.batch_execute(
        r#"SELECT count(*) FROM audit_log_batch(
               '{"event_type": "auth.login.success", "user_context": {"user_id": 4242, "correlation_id": "R1"}}' || E'\n' ||
               '{"event_type": "security.breach.suspected", "user_context": {"user_id": 4242, "correlation_id": "R1"}}' || E'\n' ||
               '{"event_type": "auth.login.failure", "timestamp": "' || (now() - interval '3 days')::text || '", "user_context": {"user_id": 77}}');
           SELECT seal_audit_events();"#,
    )
    .await
    .unwrap();
    let dir = std::env::temp_dir().join("auditlog_it_report");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    let out = Command::new(std::env::var("AUDITLOG_SHIM").unwrap())
        .args([
            "--database-url",
            &common::dsn("it_report"),
            "report",
            "--html",
        ])
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let chromium = |args: &[&str]| {
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .args(args)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium is installed by scripts/setup.sh")
    };
    let dom = chromium(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    for needle in [
        "Security audit report",
        "Events over time, by severity",
        "Risk distribution",
        "Top users by risk",
        "Open alerts",
        "High-risk event detected: security.breach.suspected",
        "Integrity",
        "No batch has failed verification",
        "<td>4242</td>",
        "3 events",
    ] {
        assert!(
            dom.contains(needle),
            "{needle:?} missing from the rendered page"
        );
    }
    assert!(dom.matches("<svg").count() >= 2, "both charts render");
    // And it paints: a screenshot of the page is an image of some substance.
    let shot = dir.join("report.png");
    let painted = chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=900,1400",
    ]);
    assert!(
        painted.status.success(),
        "{}",
        String::from_utf8_lossy(&painted.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a {} byte screenshot",
        png.len()
    );
}
