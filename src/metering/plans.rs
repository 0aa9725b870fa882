//! Plans and meters: how many questions and code views a plan allows, over which period,
//! and when a period ends. Plans come from `[plans.NAME]` in `codecite.toml`, layered over
//! the built-in four (guest, free, pro, admin).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The plan of a new guest.
pub const GUEST: &str = "guest";
/// The plan of a newly registered account.
pub const FREE: &str = "free";

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Meter {
    /// Answers from `/api/chat`.
    Questions,
    /// Code records from `/api/codes/{code}` and the code pages.
    CodeViews,
}

impl Meter {
    pub const ALL: [Meter; 2] = [Meter::Questions, Meter::CodeViews];

    pub fn as_str(self) -> &'static str {
        match self {
            Meter::Questions => "questions",
            Meter::CodeViews => "code_views",
        }
    }

    /// How a person says one unit of it.
    pub fn noun(self) -> &'static str {
        match self {
            Meter::Questions => "questions",
            Meter::CodeViews => "code page views",
        }
    }
}

/// A number of units per period, or no limit. In TOML: a number or `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Count(u64),
    Unlimited,
}

impl Limit {
    /// The limit as the SQL reservation compares it: a negative number means none.
    pub fn as_sql(self) -> i64 {
        match self {
            Limit::Count(n) => i64::try_from(n).unwrap_or(i64::MAX),
            Limit::Unlimited => -1,
        }
    }
}

impl Serialize for Limit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Limit::Count(n) => s.serialize_u64(*n),
            Limit::Unlimited => s.serialize_str("unlimited"),
        }
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(u64),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Count(n) => Ok(Limit::Count(n)),
            Raw::Word(w) if w == "unlimited" => Ok(Limit::Unlimited),
            Raw::Word(w) => Err(serde::de::Error::custom(format!("expected a number or \"unlimited\", got {w:?}"))),
        }
    }
}

/// Over what span a plan's limits apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// Once, for the life of the account.
    Lifetime,
    /// Per calendar month, UTC.
    Month,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    pub questions: Limit,
    pub code_views: Limit,
    pub period: Period,
}

impl PlanConfig {
    pub fn limit(&self, meter: Meter) -> Limit {
        match meter {
            Meter::Questions => self.questions,
            Meter::CodeViews => self.code_views,
        }
    }
}

/// The configured plans by name; always holds at least the built-in four.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Plans(pub BTreeMap<String, PlanConfig>);

impl Default for Plans {
    fn default() -> Self {
        let plan = |q, v, period| PlanConfig { questions: q, code_views: v, period };
        Plans(BTreeMap::from([
            (GUEST.to_string(), plan(Limit::Count(1), Limit::Count(1), Period::Lifetime)),
            (FREE.to_string(), plan(Limit::Count(5), Limit::Count(5), Period::Month)),
            ("pro".to_string(), plan(Limit::Count(500), Limit::Count(2000), Period::Month)),
            ("admin".to_string(), plan(Limit::Unlimited, Limit::Unlimited, Period::Month)),
        ]))
    }
}

/// A `[plans.NAME]` table replaces that one plan and leaves the other defaults in place.
impl<'de> Deserialize<'de> for Plans {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let given = BTreeMap::<String, PlanConfig>::deserialize(d)?;
        let mut plans = Plans::default();
        plans.0.extend(given);
        Ok(plans)
    }
}

impl Plans {
    pub fn get(&self, name: &str) -> Option<&PlanConfig> {
        self.0.get(name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The key of the period that `now_ms` falls in: `lifetime` or `YYYY-MM`.
pub fn period_key(period: Period, now_ms: i64) -> String {
    match period {
        Period::Lifetime => "lifetime".into(),
        Period::Month => {
            let t = utc(now_ms);
            format!("{:04}-{:02}", t.year(), t.month())
        }
    }
}

/// When the period that `now_ms` falls in ends (RFC 3339), or `None` for a lifetime.
pub fn resets_at(period: Period, now_ms: i64) -> Option<String> {
    match period {
        Period::Lifetime => None,
        Period::Month => {
            let t = utc(now_ms);
            let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
            Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }
    }
}

fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i32, m: u32, d: u32, h: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap().timestamp_millis()
    }

    #[test]
    fn months_roll_over_at_midnight_utc() {
        assert_eq!(period_key(Period::Month, ms(2026, 12, 31, 23)), "2026-12");
        assert_eq!(period_key(Period::Month, ms(2027, 1, 1, 0)), "2027-01");
        assert_eq!(resets_at(Period::Month, ms(2026, 12, 31, 23)).as_deref(), Some("2027-01-01T00:00:00Z"));
        assert_eq!(resets_at(Period::Month, ms(2027, 2, 3, 4)).as_deref(), Some("2027-03-01T00:00:00Z"));
        assert_eq!(period_key(Period::Lifetime, ms(2027, 2, 3, 4)), "lifetime");
        assert_eq!(resets_at(Period::Lifetime, 0), None);
    }

    #[test]
    fn a_plan_table_replaces_one_plan_and_keeps_the_rest() {
        #[derive(Deserialize)]
        struct T {
            plans: Plans,
        }
        let t: T = toml::from_str("[plans.free]\nquestions = 10\ncode_views = \"unlimited\"\nperiod = \"month\"\n[plans.team]\nquestions = 50\ncode_views = 50\nperiod = \"month\"\n").unwrap();
        assert_eq!(t.plans.get("free").unwrap().questions, Limit::Count(10));
        assert_eq!(t.plans.get("free").unwrap().code_views, Limit::Unlimited);
        assert_eq!(t.plans.get("guest").unwrap().questions, Limit::Count(1));
        assert!(t.plans.get("team").is_some() && t.plans.get("admin").is_some());
        let bad = toml::from_str::<T>("[plans.free]\nquestions = \"lots\"\ncode_views = 1\nperiod = \"month\"\n");
        assert!(bad.is_err());
    }
}
