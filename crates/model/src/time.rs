//! Event time as UTC nanoseconds, with the parsers the vendors' formats need.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant in nanoseconds since the Unix epoch.
///
/// Nanoseconds because OpenTelemetry spans are nanosecond-precise and ordering
/// tool calls inside one agent turn needs that precision; an `i64` keeps the
/// hot path free of allocation and maps one-to-one onto Arrow's
/// `Timestamp(Nanosecond, UTC)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// Why a vendor's time string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable time {value:?}: expected {expected}")]
pub struct TimestampError {
    /// The text that failed to parse (cut to 64 characters).
    pub value: String,
    /// The formats that were tried.
    pub expected: &'static str,
}

impl TimestampError {
    fn new(value: &str, expected: &'static str) -> Self {
        Self {
            value: value.chars().take(64).collect(),
            expected,
        }
    }
}

impl Timestamp {
    /// The wall clock (0 before 1970, the largest time after 2262).
    pub fn now() -> Self {
        Self(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }

    /// Nanoseconds since the epoch (the stored form).
    pub fn from_nanos(ns: i64) -> Self {
        Self(ns)
    }

    /// Whole seconds since the epoch, as GitHub (ms) and Slack (s) give them.
    pub fn from_secs(secs: i64) -> Option<Self> {
        secs.checked_mul(1_000_000_000).map(Self)
    }

    /// Milliseconds since the epoch (GitHub `@timestamp`, `created_at`).
    pub fn from_millis(ms: i64) -> Option<Self> {
        ms.checked_mul(1_000_000).map(Self)
    }

    /// RFC 3339 / ISO 8601 with any fractional precision (Entra writes 7
    /// digits), `Z` or an offset.
    pub fn parse_rfc3339(s: &str) -> Result<Self, TimestampError> {
        let t = DateTime::parse_from_rfc3339(s)
            .map_err(|_| TimestampError::new(s, "RFC 3339 (2019-10-02T21:50:54Z)"))?;
        t.timestamp_nanos_opt()
            .map(Self)
            .ok_or_else(|| TimestampError::new(s, "a time between the years 1677 and 2262"))
    }

    /// A vendor record's time as the vendor writes it (RFC 3339) or as a
    /// data lake or SIEM exports it after storing it in a timestamp column:
    /// a space for the `T`, 0-9 fraction digits, and no zone, meaning UTC
    /// (`2024-06-02 20:16:32.000000000`, Panther's and Snowflake's form;
    /// `2023-01-22 16:53:53.000`, CloudTrail Lake's), or a trailing `Z` or
    /// `-0700`. A replay from the lake then reads what the vendor sent.
    /// Fields without their leading zero are read too: Entra ID
    /// Protection's diagnostic export writes `2022-09-09T9:59:27.958Z`.
    pub fn parse_exported(s: &str) -> Result<Self, TimestampError> {
        if let Ok(t) = Self::parse_rfc3339(s) {
            return Ok(t);
        }
        let s = s.trim();
        const NAIVE: [&str; 4] = [
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.fZ",
            "%Y-%m-%dT%H:%M:%S%.fZ",
        ];
        let naive = NAIVE
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .map(|n| Utc.from_utc_datetime(&n).timestamp_nanos_opt());
        let zoned = || {
            DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f %z")
                .ok()
                .map(|t| t.timestamp_nanos_opt())
        };
        match naive.or_else(zoned) {
            Some(Some(ns)) => Ok(Self(ns)),
            Some(None) => Err(TimestampError::new(
                s,
                "a time between the years 1677 and 2262",
            )),
            None => Err(TimestampError::new(
                s,
                "RFC 3339 (2019-10-02T21:50:54Z) or a lake export of it (2019-10-02 21:50:54.000, UTC)",
            )),
        }
    }

    /// The spellings CloudTrail uses across fields: RFC 3339 (or a lake's
    /// export of it, see [`Timestamp::parse_exported`]), ISO basic
    /// (`20131102T010628Z`, old `creationDate`) and the Java style of STS
    /// `credentials.expiration` (`Oct 2, 2019 11:12:29 PM`, UTC).
    pub fn parse_aws(s: &str) -> Result<Self, TimestampError> {
        if let Ok(t) = Self::parse_exported(s) {
            return Ok(t);
        }
        // Newer JDKs put U+202F before AM/PM and a comma after the year.
        let cleaned = s.trim().replace(['\u{202f}', '\u{a0}'], " ");
        const FORMATS: [&str; 3] = [
            "%Y%m%dT%H%M%SZ",
            "%b %d, %Y %I:%M:%S %p",
            "%b %d, %Y, %I:%M:%S %p",
        ];
        FORMATS
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(&cleaned, f).ok())
            .and_then(|n| Utc.from_utc_datetime(&n).timestamp_nanos_opt())
            .map(Self)
            .ok_or_else(|| {
                TimestampError::new(
                    s,
                    "RFC 3339 (or a lake export of it), ISO basic (20131102T010628Z) or 'Oct 2, 2019 11:12:29 PM'",
                )
            })
    }

    /// Nanoseconds since the epoch written as a decimal string (OTLP/JSON
    /// allows both a number and a string for 64-bit integers).
    pub fn parse_nanos(s: &str) -> Result<Self, TimestampError> {
        s.trim()
            .parse::<i64>()
            .map(Self)
            .map_err(|_| TimestampError::new(s, "nanoseconds since the epoch"))
    }

    /// Nanoseconds since the epoch.
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// RFC 3339 in UTC with nanoseconds, the form golden files and the API use.
    pub fn to_rfc3339(self) -> String {
        Utc.timestamp_nanos(self.0)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }

    /// RFC 3339 to the second, for sentences people read.
    pub fn to_rfc3339_secs(self) -> String {
        Utc.timestamp_nanos(self.0)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_exports_read_as_utc() {
        let vendor = Timestamp::parse_rfc3339("2024-06-02T20:16:32.120Z").unwrap();
        for lake in [
            "2024-06-02 20:16:32.120000000",
            "2024-06-02 20:16:32.12",
            "2024-06-02T20:16:32.120",
            "2024-06-02 20:16:32.120Z",
            "2024-06-02 13:16:32.120 -0700",
        ] {
            assert_eq!(Timestamp::parse_exported(lake), Ok(vendor), "{lake}");
        }
        let unpadded = Timestamp::parse_exported("2022-09-09T9:59:27.958Z").unwrap();
        assert_eq!(unpadded.to_rfc3339(), "2022-09-09T09:59:27.958Z");
        let whole = Timestamp::parse_exported("2022-09-29 23:04:35").unwrap();
        assert_eq!(
            whole,
            Timestamp::parse_rfc3339("2022-09-29T23:04:35Z").unwrap()
        );
        // Garbled digits are refused, not guessed.
        for bad in [
            "2024-12-17 00:00:00000000",
            "21/04/2025, 09:45:54.000",
            "9999-01-01 00:00:00",
        ] {
            assert!(Timestamp::parse_exported(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn aws_spellings_agree() {
        let iso = Timestamp::parse_aws("2019-10-02T23:12:29Z").unwrap();
        let java = Timestamp::parse_aws("Oct 2, 2019 11:12:29 PM").unwrap();
        assert_eq!(iso, java);
        let basic = Timestamp::parse_aws("20131102T010628Z").unwrap();
        assert_eq!(basic.to_rfc3339(), "2013-11-02T01:06:28Z");
        let comma = Timestamp::parse_aws("Nov 30, 2024, 8:43:17\u{202f}PM").unwrap();
        assert_eq!(comma.to_rfc3339(), "2024-11-30T20:43:17Z");
        let am = Timestamp::parse_aws("Mar 23, 2016 2:39:51 AM").unwrap();
        assert_eq!(am.to_rfc3339(), "2016-03-23T02:39:51Z");
    }

    #[test]
    fn entra_seven_digit_fraction() {
        let t = Timestamp::parse_rfc3339("2022-02-08T06:22:28.3518405+00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2022-02-08T06:22:28.351840500Z");
    }

    #[test]
    fn rejects_garbage_with_reason() {
        let e = Timestamp::parse_aws("yesterday").unwrap_err();
        assert!(e.to_string().contains("yesterday"));
        assert!(Timestamp::parse_nanos("12a").is_err());
        assert_eq!(Timestamp::from_millis(i64::MAX), None);
    }
}
