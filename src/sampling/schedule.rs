//! When to sample. SeCo (METHODS.md): 5 dates about 12 weeks (84 days) apart from a random day of the year, so the
//! series spans one year of seasons; each date is searched within a window of `window_days` (SeCo: 15 days)
//! centred on it. CACo: two eras of the same schedule, years apart (default 2019 and 2023); both eras start on the
//! same day of the year, so that a date of the recent era meets the same season as its older counterpart and
//! seasonal change does not pass for long-term change.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::data::dates::Date;
use crate::{Error, Result};

/// Settings of the date schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// The year each era starts in: one year (SeCo) or two, older first (CACo).
    pub era_years: Vec<i32>,
    pub dates_per_era: usize,
    /// Days between consecutive dates of an era (SeCo: 84, about 12 weeks).
    pub interval_days: u32,
    /// Length of the search window around each date, days (SeCo: 15).
    pub window_days: u32,
}

impl ScheduleConfig {
    /// SeCo's schedule: one era starting in `year`.
    pub fn seco(year: i32) -> Self {
        ScheduleConfig {
            era_years: vec![year],
            dates_per_era: 5,
            interval_days: 84,
            window_days: 15,
        }
    }

    /// CACo's schedule: two eras starting in `older` and `recent`.
    pub fn caco(older: i32, recent: i32) -> Self {
        ScheduleConfig {
            era_years: vec![older, recent],
            ..Self::seco(older)
        }
    }

    pub fn validate(&self) -> Result<()> {
        let span_days = self.interval_days as i64 * self.dates_per_era.saturating_sub(1) as i64;
        let bad = |m: String| Err(Error::Config(format!("date schedule: {m}")));
        if self.era_years.is_empty() || self.dates_per_era == 0 || self.interval_days == 0 || self.window_days == 0 {
            return bad(format!(
                "need at least one era year, dates_per_era > 0, interval_days > 0 and window_days > 0, got {self:?}"
            ));
        }
        if self.window_days >= self.interval_days {
            return bad(format!(
                "window_days ({}) must be shorter than interval_days ({}), or two dates could pick the same scene",
                self.window_days, self.interval_days
            ));
        }
        // Eras start on the same day of their years: the next era must start after this one's last window.
        if let Some(w) = self
            .era_years
            .windows(2)
            .find(|w| ((w[1] - w[0]) as i64) * 365 <= span_days + self.window_days as i64)
        {
            return bad(format!(
                "eras {} and {} overlap or are out of order: an era spans {span_days} days from a random day of its year",
                w[0], w[1]
            ));
        }
        Ok(())
    }

    /// Draws one location's dates: era by era, in date order. The start day of the year is shared by all eras.
    pub fn draw(&self, rng: &mut impl Rng) -> Vec<Vec<Date>> {
        let day_of_year = rng.random_range(0..365);
        self.era_years
            .iter()
            .map(|&year| {
                let start = Date { year, month: 1, day: 1 }.add_days(day_of_year);
                (0..self.dates_per_era)
                    .map(|k| start.add_days(k as i64 * self.interval_days as i64))
                    .collect()
            })
            .collect()
    }

    /// The search window of `date`: `window_days` days centred on it, first and last day included.
    pub fn window(&self, date: Date) -> (Date, Date) {
        let before = (self.window_days as i64 - 1) / 2;
        let start = date.add_days(-before);
        (start, start.add_days(self.window_days as i64 - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn seco_dates_are_84_days_apart_from_a_random_day() {
        let schedule = ScheduleConfig::seco(2021);
        schedule.validate().unwrap();
        let mut starts = std::collections::BTreeSet::new();
        for seed in 0..20 {
            let eras = schedule.draw(&mut rand::rngs::StdRng::seed_from_u64(seed));
            assert_eq!(eras.len(), 1);
            let dates = &eras[0];
            assert_eq!(dates.len(), 5);
            assert_eq!(dates[0].year, 2021);
            assert!(dates.windows(2).all(|w| w[1].to_days() - w[0].to_days() == 84));
            starts.insert(dates[0]);
        }
        assert!(starts.len() > 15, "the yearly offset is random: {starts:?}");
    }

    #[test]
    fn caco_eras_share_the_day_of_year() {
        let schedule = ScheduleConfig::caco(2019, 2023);
        schedule.validate().unwrap();
        let eras = schedule.draw(&mut rand::rngs::StdRng::seed_from_u64(5));
        assert_eq!((eras.len(), eras[0].len(), eras[1].len()), (2, 5, 5));
        assert_eq!((eras[0][0].year, eras[1][0].year), (2019, 2023));
        assert!(eras[0][4] < eras[1][0]);
        // Same offset from Jan 1 (2020 is a leap year, so compare day counts, not calendar days).
        let jan1 = |y| {
            Date {
                year: y,
                month: 1,
                day: 1,
            }
            .to_days()
        };
        assert_eq!(eras[0][0].to_days() - jan1(2019), eras[1][0].to_days() - jan1(2023));
    }

    #[test]
    fn windows_are_centred_and_bad_schedules_rejected() {
        let schedule = ScheduleConfig::seco(2021);
        let d = Date::new(2021, 3, 10).unwrap();
        assert_eq!(
            schedule.window(d),
            (Date::new(2021, 3, 3).unwrap(), Date::new(2021, 3, 17).unwrap())
        );
        ScheduleConfig::caco(2019, 2020).validate().unwrap();
        let msg = ScheduleConfig {
            interval_days: 100,
            ..ScheduleConfig::caco(2019, 2020)
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(msg.contains("overlap"), "{msg}");
        let msg = ScheduleConfig {
            window_days: 90,
            ..ScheduleConfig::seco(2021)
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(msg.contains("shorter than interval_days"), "{msg}");
    }
}
