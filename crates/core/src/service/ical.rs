//! An iCalendar feed (RFC 5545) of care tasks that a phone calendar can subscribe to: stable
//! UIDs, DTSTAMP, the calendar's time zone, text escaped and lines folded at 75 octets.

use chrono::{DateTime, NaiveDate, Utc};

/// One event of the feed: a task on a day, at the start of that day's working hours.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    /// Stable across feeds: the task's own key.
    pub uid: String,
    pub summary: String,
    pub description: String,
    pub day: NaiveDate,
    pub starts: DateTime<Utc>,
    pub minutes: u32,
    /// Cancelled tasks stay in the feed as cancelled, so subscribers drop them.
    pub cancelled: bool,
}

/// Escapes text as RFC 5545 (3.3.11) asks: backslash, semicolon, comma and line breaks.
pub fn escape_text(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            ';' => escaped.push_str("\\;"),
            ',' => escaped.push_str("\\,"),
            '\n' => escaped.push_str("\\n"),
            '\r' => {}
            other => escaped.push(other),
        }
    }
    escaped
}

/// Appends a content line folded at 75 octets (never inside a UTF-8 character), ended by CRLF.
fn push_line(feed: &mut String, line: &str) {
    let mut width = 0;
    for character in line.chars() {
        let octets = character.len_utf8();
        // Continuation lines begin with a space, which counts towards their 75.
        if width + octets > 75 {
            feed.push_str("\r\n ");
            width = 1;
        }
        feed.push(character);
        width += octets;
    }
    feed.push_str("\r\n");
}

fn utc_stamp(time: DateTime<Utc>) -> String {
    time.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The feed: `name` is the calendar's name, `time_zone` the organisation's (an IANA name, given
/// as `X-WR-TIMEZONE` so apps show the tasks in it; times are written in UTC, which needs no
/// `VTIMEZONE`), `stamp` the clock.
pub fn calendar_feed(
    name: &str,
    time_zone: &str,
    stamp: DateTime<Utc>,
    events: &[FeedEvent],
) -> String {
    let mut feed = String::new();
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Allot//Care calendar//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ] {
        push_line(&mut feed, line);
    }
    push_line(&mut feed, &format!("X-WR-CALNAME:{}", escape_text(name)));
    push_line(&mut feed, &format!("X-WR-TIMEZONE:{time_zone}"));
    for event in events {
        push_line(&mut feed, "BEGIN:VEVENT");
        push_line(&mut feed, &format!("UID:{}", escape_text(&event.uid)));
        push_line(&mut feed, &format!("DTSTAMP:{}", utc_stamp(stamp)));
        push_line(&mut feed, &format!("DTSTART:{}", utc_stamp(event.starts)));
        push_line(&mut feed, &format!("DURATION:PT{}M", event.minutes.max(1)));
        push_line(
            &mut feed,
            &format!("SUMMARY:{}", escape_text(&event.summary)),
        );
        if !event.description.is_empty() {
            push_line(
                &mut feed,
                &format!("DESCRIPTION:{}", escape_text(&event.description)),
            );
        }
        push_line(
            &mut feed,
            &format!("X-ALLOT-DUE-DATE:{}", event.day.format("%Y-%m-%d")),
        );
        if event.cancelled {
            push_line(&mut feed, "STATUS:CANCELLED");
        }
        push_line(&mut feed, "END:VEVENT");
    }
    push_line(&mut feed, "END:VCALENDAR");
    feed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_long_lines_folded_at_75_octets() {
        assert_eq!(escape_text("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
        let mut feed = String::new();
        let long = format!("SUMMARY:{}", "回访客户".repeat(20));
        push_line(&mut feed, &long);
        for line in feed.split("\r\n").filter(|line| !line.is_empty()) {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
        }
        // Unfolding gives the line back.
        assert_eq!(feed.trim_end().replace("\r\n ", ""), long);
    }

    #[test]
    fn a_feed_has_its_calendar_and_events() {
        let stamp = DateTime::parse_from_rfc3339("2027-01-04T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let feed = calendar_feed(
            "r07, 关怀日历",
            "Asia/Shanghai",
            stamp,
            &[FeedEvent {
                uid: "c1:cadence:2027-01-18@allot".to_string(),
                summary: "回访 c1".to_string(),
                description: String::new(),
                day: "2027-01-18".parse().unwrap(),
                starts: DateTime::parse_from_rfc3339("2027-01-18T01:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
                minutes: 30,
                cancelled: false,
            }],
        );
        assert!(
            feed.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
            "{feed}"
        );
        for line in [
            "X-WR-CALNAME:r07\\, 关怀日历\r\n",
            "UID:c1:cadence:2027-01-18@allot\r\n",
            "DTSTAMP:20270104T020000Z\r\n",
            "DTSTART:20270118T010000Z\r\n",
            "DURATION:PT30M\r\n",
            "END:VCALENDAR\r\n",
        ] {
            assert!(feed.contains(line), "{line} missing from {feed}");
        }
    }
}
