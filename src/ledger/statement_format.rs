//! A [`Statement`] as CSV (RFC 4180, safe to open in a spreadsheet) and as a printable,
//! self-contained HTML page (every value escaped, no external assets, print CSS).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::statement::{Statement, StatementLine};
use super::Side;

/// Micro-USD as exact USD with six decimals (`-1.500000`).
pub fn usd(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

/// One CSV cell: a cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a
/// leading `'` (so spreadsheets do not run it as a formula); a cell with a comma, quote
/// or line break is quoted with inner quotes doubled (RFC 4180).
pub fn csv_cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

const CSV_HEADER: [&str; 9] = [
    "section",
    "date",
    "pod_id",
    "transaction_id",
    "description",
    "direction",
    "transactions",
    "amount_micro_usd",
    "amount_usd",
];

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn direction(side: Side) -> &'static str {
    side.as_str()
}

/// The statement as CSV: a header, the opening balance, one row per top-up, per pod and
/// hour, per other usage, refund and adjustment, and the closing balance (CRLF lines).
pub fn to_csv(s: &Statement) -> String {
    let mut rows: Vec<[String; 9]> = Vec::new();
    let balance = |section: &str, at: DateTime<Utc>, amount: i64| {
        [
            section.to_owned(),
            time(at),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            amount.to_string(),
            usd(amount),
        ]
    };
    let line = |section: &str, l: &StatementLine| {
        [
            section.to_owned(),
            time(l.at),
            String::new(),
            l.transaction_id.clone(),
            l.description.clone().unwrap_or_default(),
            direction(l.direction).to_owned(),
            "1".to_owned(),
            l.amount_micro_usd.to_string(),
            usd(l.amount_micro_usd),
        ]
    };
    rows.push(balance(
        "opening_balance",
        s.period_start,
        s.opening_balance_micro_usd,
    ));
    rows.extend(s.top_ups.iter().map(|l| line("top_up", l)));
    for pod in &s.pod_usage {
        rows.extend(pod.hours.iter().map(|h| {
            [
                "pod_usage".to_owned(),
                time(h.hour),
                pod.pod_id.clone(),
                String::new(),
                String::new(),
                direction(Side::Debit).to_owned(),
                h.transactions.to_string(),
                h.amount_micro_usd.to_string(),
                usd(h.amount_micro_usd),
            ]
        }));
    }
    rows.extend(s.other_usage.iter().map(|l| line("other_usage", l)));
    rows.extend(s.refunds.iter().map(|l| line("refund", l)));
    rows.extend(s.adjustments.iter().map(|l| line("adjustment", l)));
    rows.push(balance(
        "closing_balance",
        s.period_end,
        s.closing_balance_micro_usd,
    ));
    let mut out = CSV_HEADER.join(",");
    out.push_str("\r\n");
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// `s` with `&`, `<`, `>`, `"` and `'` escaped for HTML text and attributes.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#111}\
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}\
th,td{border-bottom:1px solid #ccc;padding:.25rem .5rem;text-align:left}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
@media print{body{margin:0;font-size:11pt}h2{break-after:avoid}\
tr{break-inside:avoid}.noprint{display:none}}";

/// A table of `lines` with a heading, or nothing when there are none.
fn lines_table(out: &mut String, title: &str, lines: &[StatementLine]) {
    if lines.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<h2>{}</h2><table><thead><tr><th>Date (UTC)</th><th>Transaction</th>\
         <th>Description</th><th>Direction</th><th class=\"n\">Amount (USD)</th></tr></thead><tbody>",
        html_escape(title)
    );
    for l in lines {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            html_escape(&time(l.at)),
            html_escape(&l.transaction_id),
            html_escape(l.description.as_deref().unwrap_or("")),
            direction(l.direction),
            usd(l.amount_micro_usd)
        );
    }
    out.push_str("</tbody></table>");
}

/// The statement as a printable HTML page.
pub fn to_html(s: &Statement) -> String {
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>GPUBROKER statement {month}</title><style>{STYLE}</style></head><body>\
         <h1>GPUBROKER statement {month}</h1>\
         <p>Account {user} &middot; {start} to {end} (UTC) &middot; amounts in {currency}</p>\
         <table><tbody>",
        month = html_escape(&s.month),
        user = html_escape(&s.user_id),
        start = time(s.period_start),
        end = time(s.period_end),
        currency = html_escape(&s.currency),
    );
    let summary = [
        ("Opening balance", s.opening_balance_micro_usd),
        ("Top-ups", s.top_ups_total_micro_usd),
        ("Usage", s.usage_total_micro_usd.saturating_neg()),
        ("Refunds", s.refunds_total_micro_usd.saturating_neg()),
        ("Adjustments", s.adjustments_net_micro_usd),
        ("Closing balance", s.closing_balance_micro_usd),
    ];
    for (label, amount) in summary {
        let _ = write!(
            out,
            "<tr><th>{label}</th><td class=\"n\">{}</td></tr>",
            usd(amount)
        );
    }
    out.push_str("</tbody></table>");
    lines_table(&mut out, "Top-ups", &s.top_ups);
    if !s.pod_usage.is_empty() {
        out.push_str(
            "<h2>Usage by pod</h2><table><thead><tr><th>Pod</th><th>Hour (UTC)</th>\
             <th class=\"n\">Charges</th><th class=\"n\">Amount (USD)</th></tr></thead><tbody>",
        );
        for pod in &s.pod_usage {
            for h in &pod.hours {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                    html_escape(&pod.pod_id),
                    time(h.hour),
                    h.transactions,
                    usd(h.amount_micro_usd)
                );
            }
            let _ = write!(
                out,
                "<tr><th colspan=\"3\">{} total</th><td class=\"n\">{}</td></tr>",
                html_escape(&pod.pod_id),
                usd(pod.total_micro_usd)
            );
        }
        out.push_str("</tbody></table>");
    }
    lines_table(&mut out, "Other usage", &s.other_usage);
    lines_table(&mut out, "Refunds", &s.refunds);
    lines_table(&mut out, "Adjustments", &s.adjustments);
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_rfc4180_quoted_and_formula_safe() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
    }

    #[test]
    fn usd_is_exact_with_six_decimals() {
        assert_eq!(usd(0), "0.000000");
        assert_eq!(usd(1_500_000), "1.500000");
        assert_eq!(usd(-7), "-0.000007");
        assert_eq!(usd(i64::MIN), "-9223372036854.775808");
    }

    #[test]
    fn html_escape_covers_markup_and_quotes() {
        assert_eq!(
            html_escape("<a href='x'>\"&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;"
        );
    }
}
