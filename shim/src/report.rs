//! `auditlog-shim report --html FILE`: one self-contained page for a compliance officer: events
//! over time by severity, the risk distribution, the riskiest users, open alerts and the state of
//! the chain. Plain HTML with inline SVG and CSS: no script, nothing fetched, prints as it shows.

use anyhow::Result;
use std::fmt::Write;
use tokio_postgres::Client;

const SEVERITIES: [(&str, &str); 4] = [
    ("info", "#7aa6c2"),
    ("warning", "#e0b341"),
    ("error", "#e07b39"),
    ("critical", "#c0392b"),
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Stacked bars: one per day, one colour per severity.
fn events_chart(days: &[(String, [i64; 4])]) -> String {
    let (w, h, pad) = (760.0, 220.0, 30.0);
    let max = days
        .iter()
        .map(|(_, c)| c.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let bar = (w - pad * 2.0) / days.len().max(1) as f64;
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="Events per day by severity">"#
    );
    for (i, (day, counts)) in days.iter().enumerate() {
        let x = pad + i as f64 * bar;
        let mut y = h - pad;
        for (c, (name, colour)) in counts.iter().zip(SEVERITIES) {
            let bh = (*c as f64 / max) * (h - pad * 2.0);
            y -= bh;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{bh:.1}" fill="{colour}"><title>{day}: {c} {name}</title></rect>"#,
                (bar - 2.0).max(1.0)
            );
        }
        if i % 7 == 0 {
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{:.1}" class="axis">{}</text>"#,
                h - 10.0,
                esc(day)
            );
        }
    }
    let _ = write!(
        svg,
        r#"<text x="{pad}" y="16" class="axis">max {max} events a day</text></svg>"#
    );
    svg
}

/// A histogram of risk scores in tens.
fn risk_chart(buckets: &[i64; 10]) -> String {
    let (w, h, pad) = (760.0, 180.0, 30.0);
    let max = buckets.iter().copied().max().unwrap_or(0).max(1) as f64;
    let bar = (w - pad * 2.0) / 10.0;
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="Risk score distribution">"#
    );
    for (i, c) in buckets.iter().enumerate() {
        let bh = (*c as f64 / max) * (h - pad * 2.0);
        let (x, y) = (pad + i as f64 * bar, h - pad - bh);
        let colour = if i >= 7 {
            "#c0392b"
        } else if i >= 5 {
            "#e0b341"
        } else {
            "#7aa6c2"
        };
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{bh:.1}" fill="{colour}"><title>{}-{}: {c}</title></rect><text x="{x:.1}" y="{:.1}" class="axis">{}</text>"#,
            bar - 4.0,
            i * 10,
            i * 10 + 9,
            h - 10.0,
            i * 10
        );
    }
    svg.push_str("</svg>");
    svg
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = String::from("<table><thead><tr>");
    for h in headers {
        let _ = write!(t, "<th>{}</th>", esc(h));
    }
    t.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(
            t,
            r#"<tr><td colspan="{}" class="none">none</td></tr>"#,
            headers.len()
        );
    }
    for r in rows {
        t.push_str("<tr>");
        for c in r {
            let _ = write!(t, "<td>{}</td>", esc(c));
        }
        t.push_str("</tr>");
    }
    t.push_str("</tbody></table>");
    t
}

/// The page for the last `days` days.
pub async fn html(db: &Client, days: i32) -> Result<String> {
    let per_day = db
        .query(
            "SELECT to_char(d, 'YYYY-MM-DD'),
                    count(e.*) FILTER (WHERE e.classification ->> 'severity' = 'info'),
                    count(e.*) FILTER (WHERE e.classification ->> 'severity' = 'warning'),
                    count(e.*) FILTER (WHERE e.classification ->> 'severity' = 'error'),
                    count(e.*) FILTER (WHERE e.classification ->> 'severity' = 'critical')
               FROM generate_series(current_date - $1::int + 1, current_date, interval '1 day') d
               LEFT JOIN audit.all_events e ON e.\"timestamp\" >= d AND e.\"timestamp\" < d + interval '1 day'
              GROUP BY d ORDER BY d",
            &[&days],
        )
        .await?
        .iter()
        .map(|r| (r.get::<_, String>(0), [r.get(1), r.get(2), r.get(3), r.get(4)]))
        .collect::<Vec<(String, [i64; 4])>>();
    let mut risk = [0i64; 10];
    for r in db
        .query(
            "SELECT least(coalesce((classification ->> 'risk_score')::int, 0) / 10, 9), count(*)
               FROM audit.all_events WHERE \"timestamp\" >= current_date - $1::int + 1 GROUP BY 1",
            &[&days],
        )
        .await?
    {
        risk[r.get::<_, i32>(0).clamp(0, 9) as usize] = r.get(1);
    }
    let users: Vec<Vec<String>> = db
        .query(
            "SELECT user_id::text, count(*)::text, max((classification ->> 'risk_score')::int)::text,
                    round(avg((classification ->> 'risk_score')::int))::text,
                    count(*) FILTER (WHERE (classification ->> 'risk_score')::int > 75)::text
               FROM audit.all_events
              WHERE \"timestamp\" >= current_date - $1::int + 1 AND user_id IS NOT NULL
              GROUP BY user_id
              ORDER BY max((classification ->> 'risk_score')::int) DESC, avg((classification ->> 'risk_score')::int) DESC
              LIMIT 10",
            &[&days],
        )
        .await?
        .iter()
        .map(|r| (0..5).map(|i| r.get::<_, String>(i)).collect())
        .collect();
    let alerts: Vec<Vec<String>> = db
        .query(
            "SELECT severity, title, correlation_id, occurrences::text, status,
                    to_char(triggered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'
               FROM audit.open_alerts LIMIT 25",
            &[],
        )
        .await?
        .iter()
        .map(|r| (0..6).map(|i| r.get::<_, String>(i)).collect())
        .collect();
    let chain = db.query_one("SELECT batches, events_sealed, events_waiting, batches_failed,
                                     coalesce(to_char(last_seal AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', 'never'),
                                     coalesce(to_char(last_verification AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', 'never'),
                                     coalesce(last_verification_ok::text, 'not run'),
                                     coalesce(last_checkpoint::text, 'none')
                                FROM audit.integrity_status", &[]).await?;
    let failed: i64 = chain.get(3);
    let verdict = if failed > 0 {
        format!(
            r#"<p class="bad">{failed} batches failed verification: see <code>SELECT * FROM verify_audit_chain()</code>.</p>"#
        )
    } else {
        r#"<p class="good">No batch has failed verification.</p>"#.to_string()
    };
    let integrity = table(
        &[
            "batches",
            "events sealed",
            "events waiting",
            "last seal",
            "last verification",
            "last verification ok",
            "last checkpoint",
        ],
        &[vec![
            chain.get::<_, i64>(0).to_string(),
            chain.get::<_, i64>(1).to_string(),
            chain.get::<_, i64>(2).to_string(),
            chain.get(4),
            chain.get(5),
            chain.get(6),
            chain.get(7),
        ]],
    );
    let legend: String = SEVERITIES
        .iter()
        .map(|(n, c)| format!(r#"<span class="key"><i style="background:{c}"></i>{n}</span>"#))
        .collect();
    let total: i64 = per_day.iter().map(|(_, c)| c.iter().sum::<i64>()).sum();
    let generated = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    Ok(format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Audit report, last {days} days</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 820px; color: #222; }}
h1 {{ font-size: 1.5em; margin-bottom: 0; }} h2 {{ font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }}
.sub {{ color: #666; margin-top: .2em; }} .chart {{ width: 100%; height: auto; background: #fafafa; }}
.axis {{ font-size: 11px; fill: #666; }} .key {{ margin-right: 1em; }} .key i {{ display: inline-block; width: .8em; height: .8em; margin-right: .3em; }}
table {{ border-collapse: collapse; width: 100%; }} th, td {{ text-align: left; padding: .25em .5em; border-bottom: 1px solid #eee; }}
th {{ background: #f3f3f3; }} .none {{ color: #888; font-style: italic; }} .good {{ color: #1e7e34; }} .bad {{ color: #c0392b; font-weight: bold; }}
</style></head>
<body>
<h1>Security audit report</h1>
<p class="sub">The last {days} days: {total} events. Generated {generated} by auditlog-shim from the database's own tables.</p>
<h2 id="events">Events over time, by severity</h2>
{events_chart}
<p>{legend}</p>
<h2 id="risk">Risk distribution</h2>
{risk_chart}
<h2 id="users">Top users by risk</h2>
{users}
<h2 id="alerts">Open alerts</h2>
{alerts}
<h2 id="integrity">Integrity</h2>
{verdict}
{integrity}
</body></html>
"#,
        events_chart = events_chart(&per_day),
        risk_chart = risk_chart(&risk),
        users = table(
            &[
                "user",
                "events",
                "max risk",
                "average risk",
                "high-risk events"
            ],
            &users
        ),
        alerts = table(
            &[
                "severity",
                "title",
                "correlation",
                "occurrences",
                "status",
                "raised"
            ],
            &alerts
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_charts_scale() {
        assert_eq!(esc(r#"<b a="1">&"#), "&lt;b a=&quot;1&quot;&gt;&amp;");
        let t = table(&["x"], &[vec!["<script>".into()]]);
        assert!(t.contains("&lt;script&gt;") && !t.contains("<script>"));
        assert!(table(&["x"], &[]).contains("none"));
        let svg = events_chart(&[
            ("2026-11-01".into(), [1, 2, 0, 1]),
            ("2026-11-02".into(), [0, 0, 0, 0]),
        ]);
        assert_eq!(svg.matches("<rect").count(), 8);
        assert!(svg.contains("max 4 events a day"));
        assert_eq!(risk_chart(&[0; 10]).matches("<rect").count(), 10);
    }
}
