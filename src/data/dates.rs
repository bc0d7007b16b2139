//! Calendar dates without a date crate: parsing `YYYY-MM-DD` / `YYYYMMDD`, day arithmetic and day of year
//! (days-from-civil, H. Hinnant's algorithm), enough for acquisition schedules and metadata.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A proleptic Gregorian date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    pub fn new(year: i32, month: u32, day: u32) -> Option<Self> {
        let date = Date { year, month, day };
        ((1..=12).contains(&month) && day >= 1 && Date::from_days(date.to_days()) == date).then_some(date)
    }

    /// Days since 1970-01-01.
    pub fn to_days(self) -> i64 {
        let y = self.year as i64 - if self.month <= 2 { 1 } else { 0 };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = self.month as i64;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + self.day as i64 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    pub fn from_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + if month <= 2 { 1 } else { 0 }) as i32;
        Date { year, month, day }
    }

    pub fn add_days(self, days: i64) -> Self {
        Date::from_days(self.to_days() + days)
    }

    /// 0-based day of the year.
    pub fn day_of_year(self) -> u32 {
        (self.to_days()
            - Date {
                year: self.year,
                month: 1,
                day: 1,
            }
            .to_days()) as u32
    }

    /// Parses `YYYY-MM-DD`, or a leading `YYYYMMDD` (Sentinel-2 product ids such as `20200501T105031_...`).
    pub fn parse(text: &str) -> Option<Self> {
        let digits = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        let (y, m, d) = if text.len() >= 10 && &text[4..5] == "-" && &text[7..8] == "-" {
            (&text[0..4], &text[5..7], &text[8..10])
        } else if text.len() >= 8 && text.is_char_boundary(8) {
            (&text[0..4], &text[4..6], &text[6..8])
        } else {
            return None;
        };
        Date::new(digits(y)? as i32, digits(m)?, digits(d)?)
    }

    /// `YYYYMMDD`.
    pub fn compact(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a YYYY-MM-DD date")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days_and_round_trips() {
        assert_eq!(Date::new(1970, 1, 1).unwrap().to_days(), 0);
        assert_eq!(Date::new(2000, 3, 1).unwrap().to_days(), 11_017);
        assert_eq!(Date::new(2020, 12, 31).unwrap().day_of_year(), 365);
        assert_eq!(Date::new(2021, 12, 31).unwrap().day_of_year(), 364);
        for days in (-800_000..800_000).step_by(997) {
            assert_eq!(Date::from_days(days).to_days(), days);
        }
        assert_eq!(Date::new(2019, 12, 20).unwrap().add_days(84).to_string(), "2020-03-13");
    }

    #[test]
    fn parsing() {
        assert_eq!(Date::parse("2020-05-01"), Date::new(2020, 5, 1));
        assert_eq!(
            Date::parse("20200501T105031_20200501T105338_T31UDQ"),
            Date::new(2020, 5, 1)
        );
        assert_eq!(Date::parse("2021-02-29"), None);
        assert_eq!(Date::parse("abc"), None);
        assert_eq!(Date::parse("2020-13-01"), None);
    }
}
