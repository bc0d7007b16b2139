//! Per-step metrics of a run, written to Parquet with Polars: step, epoch, total loss, each loss part, lr and
//! images/s (queries per second).

use std::path::Path;

use polars::prelude::*;

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    pub step: u64,
    pub epoch: u64,
    pub loss: f64,
    pub parts: Vec<f64>,
    pub lr: f64,
    pub images_per_s: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricLog {
    pub part_names: Vec<String>,
    pub records: Vec<StepRecord>,
}

impl MetricLog {
    pub fn new(part_names: Vec<String>) -> Self {
        MetricLog {
            part_names,
            records: Vec::new(),
        }
    }

    pub fn dataframe(&self) -> Result<DataFrame> {
        let r = &self.records;
        let mut columns = vec![
            Column::new("step".into(), r.iter().map(|x| x.step as i64).collect::<Vec<_>>()),
            Column::new("epoch".into(), r.iter().map(|x| x.epoch as i64).collect::<Vec<_>>()),
            Column::new("loss".into(), r.iter().map(|x| x.loss).collect::<Vec<_>>()),
        ];
        for (i, name) in self.part_names.iter().enumerate() {
            columns.push(Column::new(
                format!("loss_{name}").into(),
                r.iter().map(|x| x.parts[i]).collect::<Vec<_>>(),
            ));
        }
        columns.push(Column::new("lr".into(), r.iter().map(|x| x.lr).collect::<Vec<_>>()));
        columns.push(Column::new(
            "images_per_s".into(),
            r.iter().map(|x| x.images_per_s).collect::<Vec<_>>(),
        ));
        Ok(DataFrame::new_infer_height(columns)?)
    }

    pub fn write_parquet(&self, path: &Path) -> Result<()> {
        let mut df = self.dataframe()?;
        let tmp = path.with_extension("parquet.partial");
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        ParquetWriter::new(file).finish(&mut df)?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    /// Reads a log written by [`MetricLog::write_parquet`], keeping records up to `max_step`.
    pub fn read_parquet(path: &Path, part_names: Vec<String>, max_step: u64) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let df = ParquetReader::new(file).finish()?;
        let f64s = |name: &str| -> Result<Vec<f64>> {
            let c = df.column(name)?;
            (0..df.height())
                .map(|i| Ok(c.get(i)?.extract::<f64>().unwrap_or(f64::NAN)))
                .collect()
        };
        let (steps, epochs, loss, lr, ips) = (
            f64s("step")?,
            f64s("epoch")?,
            f64s("loss")?,
            f64s("lr")?,
            f64s("images_per_s")?,
        );
        let parts: Vec<Vec<f64>> = part_names
            .iter()
            .map(|n| f64s(&format!("loss_{n}")))
            .collect::<Result<_>>()?;
        let records = (0..df.height())
            .filter(|&i| steps[i] as u64 <= max_step)
            .map(|i| StepRecord {
                step: steps[i] as u64,
                epoch: epochs[i] as u64,
                loss: loss[i],
                parts: parts.iter().map(|p| p[i]).collect(),
                lr: lr[i],
                images_per_s: ips[i],
            })
            .collect();
        Ok(MetricLog { part_names, records })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_round_trip_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricLog::new(vec!["a".into(), "b".into()]);
        for step in 1..=5 {
            log.records.push(StepRecord {
                step,
                epoch: step / 3,
                loss: step as f64,
                parts: vec![0.5, step as f64 - 0.5],
                lr: 0.03,
                images_per_s: 10.0,
            });
        }
        let path = dir.path().join("metrics.parquet");
        log.write_parquet(&path).unwrap();
        assert_eq!(MetricLog::read_parquet(&path, log.part_names.clone(), 99).unwrap(), log);
        assert_eq!(
            MetricLog::read_parquet(&path, log.part_names.clone(), 3)
                .unwrap()
                .records
                .len(),
            3
        );
    }
}
