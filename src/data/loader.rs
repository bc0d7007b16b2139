//! Multi-threaded batch loader: workers decode and augment whole batches ahead of the training step, with bounded
//! memory (at most `prefetch` finished batches per worker wait in their queue), delivered in order. Each item's
//! randomness comes from (seed, epoch, item), so batches are identical for any worker count.

use std::sync::mpsc;

use super::views::{rng_for, ItemViews};
use super::Image;
use crate::{Error, Result};

/// One view of a batch, stacked: `data` is `[n, n_bands, height, width]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewBatch {
    pub n: usize,
    pub n_bands: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl ViewBatch {
    fn stack(images: &[&Image]) -> Result<Self> {
        let first = images.first().ok_or_else(|| Error::Config("empty batch".into()))?;
        let (c, h, w) = (first.n_bands, first.height, first.width);
        let mut data = Vec::with_capacity(images.len() * c * h * w);
        for img in images {
            if (img.n_bands, img.height, img.width) != (c, h, w) {
                return Err(Error::Config(format!(
                    "views of one batch differ in shape: {c}x{h}x{w} and {}x{}x{}",
                    img.n_bands, img.height, img.width
                )));
            }
            data.extend_from_slice(&img.data);
        }
        Ok(ViewBatch {
            n: images.len(),
            n_bands: c,
            height: h,
            width: w,
            data,
        })
    }

    /// The batch as a `[n, c, h, w]` float tensor on the CPU (one copy).
    #[cfg(feature = "torch")]
    pub fn to_tensor(&self) -> tch::Tensor {
        tch::Tensor::from_slice(&self.data).view([
            self.n as i64,
            self.n_bands as i64,
            self.height as i64,
            self.width as i64,
        ])
    }

    /// The batch as a `[n, c, h, w]` float tensor in channels-last memory layout (strides of NHWC data), the
    /// layout libtorch's CPU (oneDNN) and cuDNN convolutions prefer; one more copy than [`Self::to_tensor`].
    #[cfg(feature = "torch")]
    pub fn to_tensor_channels_last(&self) -> tch::Tensor {
        self.to_tensor()
            .permute([0, 2, 3, 1])
            .contiguous()
            .permute([0, 3, 1, 2])
    }
}

/// A batch: dataset item indices and one stacked tensor per view (q, k0, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub items: Vec<usize>,
    pub views: Vec<ViewBatch>,
}

/// Loader settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoaderConfig {
    pub n_workers: usize,
    /// Finished batches each worker may hold ahead of the consumer.
    pub prefetch: usize,
    pub seed: u64,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            n_workers: 2,
            prefetch: 2,
            seed: 0,
        }
    }
}

/// Builds one batch on the calling thread.
pub fn make_batch<S: ItemViews + ?Sized>(source: &S, items: &[usize], seed: u64, epoch: u64) -> Result<Batch> {
    let per_item: Vec<Vec<Image>> = items
        .iter()
        .map(|&item| source.views(item, &mut rng_for(seed, epoch, item as u64)))
        .collect::<Result<_>>()?;
    let views = (0..source.n_views())
        .map(|v| ViewBatch::stack(&per_item.iter().map(|views| &views[v]).collect::<Vec<_>>()))
        .collect::<Result<_>>()?;
    Ok(Batch {
        items: items.to_vec(),
        views,
    })
}

/// Runs `consume` on every batch of `batches`, in order, while `config.n_workers` threads prepare the next ones.
/// Stops at the first error, from a worker or from `consume`.
pub fn for_each_batch<S: ItemViews + ?Sized>(
    source: &S,
    batches: &[Vec<usize>],
    epoch: u64,
    config: &LoaderConfig,
    mut consume: impl FnMut(Batch) -> Result<()>,
) -> Result<()> {
    let n_workers = config.n_workers.max(1);
    std::thread::scope(|s| {
        let mut receivers = Vec::with_capacity(n_workers);
        for worker in 0..n_workers {
            let (tx, rx) = mpsc::sync_channel::<Result<Batch>>(config.prefetch.max(1));
            receivers.push(rx);
            s.spawn(move || {
                for items in batches.iter().skip(worker).step_by(n_workers) {
                    let batch = make_batch(source, items, config.seed, epoch);
                    let failed = batch.is_err();
                    // A closed channel means the consumer stopped: nothing more to do.
                    if tx.send(batch).is_err() || failed {
                        break;
                    }
                }
            });
        }
        for b in 0..batches.len() {
            let batch = receivers[b % n_workers]
                .recv()
                .map_err(|_| Error::Config("a loader worker stopped without a batch".into()))??;
            consume(batch)?;
        }
        Ok(())
        // Dropping the receivers unblocks any worker still sending.
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::augment::AugmentConfig;
    use crate::data::fake::timeseries::{write_timeseries, FakeTimeSeries};
    use crate::data::timeseries::{Layout, TimeSeries, TimeSeriesOptions, RGB_BANDS};
    use crate::data::views::{paired_batches, DateDraw, SamplingUnit, SeasonalViews, Units};
    use crate::data::Normalization;

    fn series(dir: &std::path::Path) -> TimeSeries {
        let spec = FakeTimeSeries {
            layout: Layout::Caco,
            n_locations: 6,
            dates_per_era: 5,
            bands: RGB_BANDS.iter().map(|b| b.to_string()).collect(),
            size: 24,
            seed: 2,
        };
        write_timeseries(dir, &spec).unwrap();
        TimeSeries::open(dir, TimeSeriesOptions::new(Layout::Caco, &RGB_BANDS)).unwrap()
    }

    /// CACo's views of era items at 16 px.
    fn caco_views<'a>(units: &'a Units<'a>) -> SeasonalViews<'a> {
        let aug = AugmentConfig {
            out_size: 16,
            ..Default::default()
        };
        SeasonalViews::new(units, aug, Normalization::Imagenet, DateDraw::Distinct).unwrap()
    }

    fn collect(source: &impl ItemViews, batches: &[Vec<usize>], workers: usize, seed: u64) -> Vec<Batch> {
        let mut out = Vec::new();
        let config = LoaderConfig {
            n_workers: workers,
            prefetch: 1,
            seed,
        };
        for_each_batch(source, batches, 3, &config, |b| {
            out.push(b);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn batches_arrive_in_order_and_are_identical_for_any_worker_count() {
        let dir = tempfile::tempdir().unwrap();
        let ts = series(dir.path());
        let units = Units::new(&ts, SamplingUnit::EraItem);
        let views = caco_views(&units);
        let batches = paired_batches(6, 4, 0, 3, false).unwrap();
        let one = collect(&views, &batches, 1, 7);
        assert_eq!(one.iter().map(|b| b.items.clone()).collect::<Vec<_>>(), batches);
        assert_eq!(one[0].views.len(), 4);
        assert_eq!(
            (one[0].views[0].n, one[0].views[0].n_bands, one[0].views[0].height),
            (4, 3, 16)
        );
        assert_eq!(one, collect(&views, &batches, 3, 7));
        assert_ne!(one, collect(&views, &batches, 2, 8));
    }

    #[cfg(feature = "torch")]
    #[test]
    fn channels_last_tensors_hold_the_same_values_with_nhwc_strides() {
        let data: Vec<f32> = (0..2 * 3 * 4 * 5).map(|v| v as f32).collect();
        let batch = ViewBatch {
            n: 2,
            n_bands: 3,
            height: 4,
            width: 5,
            data,
        };
        let (plain, nhwc) = (batch.to_tensor(), batch.to_tensor_channels_last());
        assert_eq!(nhwc.size(), vec![2, 3, 4, 5]);
        assert_eq!(nhwc.stride(), vec![60, 1, 15, 3]);
        assert!(plain.equal(&nhwc));
    }

    #[test]
    fn errors_stop_the_loader_and_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let ts = series(dir.path());
        let units = Units::new(&ts, SamplingUnit::EraItem);
        let views = caco_views(&units);
        // Break every date of location 2's older era: the batch holding item 4 fails.
        for p in ts.item_products(4) {
            std::fs::write(p.dir.join("B4.tif"), b"broken").unwrap();
        }
        let batches = vec![vec![0, 1], vec![4, 5], vec![2, 3], vec![6, 7]];
        let mut seen = 0;
        let config = LoaderConfig {
            n_workers: 2,
            prefetch: 1,
            seed: 0,
        };
        let err = for_each_batch(&views, &batches, 0, &config, |_| {
            seen += 1;
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert_eq!(seen, 1);
        assert!(err.contains("B4.tif") && err.contains("GDAL cannot open"), "{err}");
        // An error from the consumer stops it too.
        let err = for_each_batch(&views, &batches[..1], 0, &config, |_| Err(Error::Config("stop".into())));
        assert!(err.unwrap_err().to_string().contains("stop"));
    }
}
