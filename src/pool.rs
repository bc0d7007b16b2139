//! The crate's two ways of running work on other threads, on `std::thread::scope` (no thread outlives the call):
//! [`parallel_map`], a worker pool over a slice that keeps the input order and stops starting work after the first
//! error, and [`prefetch`], one producer thread that works a few items ahead of the caller. The batch loader of
//! pre-training (`data::loader`) has its own ordered prefetcher.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

/// Runs `f` on every item of `items` on `n_workers` threads (at least 1, at most one per item); each worker takes the
/// next item not yet started. Returns one slot per item, in input order: `Some(result)`, or `None` for an item that
/// was never started because a call had failed (after the first `Err` no new item starts; calls under way finish).
///
/// Items start in input order, so every item before a failing one has run: the first `Err` in input order is the
/// same whatever the threads' timing.
pub fn parallel_map<T, R, E, F>(items: &[T], n_workers: usize, f: F) -> Vec<Option<Result<R, E>>>
where
    T: Sync,
    R: Send,
    E: Send,
    F: Fn(&T) -> Result<R, E> + Sync,
{
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<Result<R, E>>>> = Mutex::new(items.iter().map(|_| None).collect());
    let n_workers = n_workers.clamp(1, items.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..n_workers {
            scope.spawn(|| loop {
                if failed.load(Ordering::SeqCst) {
                    return;
                }
                let idx = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(idx) else {
                    return;
                };
                let result = f(item);
                if result.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                slots.lock().unwrap_or_else(|p| p.into_inner())[idx] = Some(result);
            });
        }
    });
    slots.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// [`parallel_map`] that returns every result in input order, or the error of the first failing item in input
/// order.
pub fn try_parallel_map<T, R, E, F>(items: &[T], n_workers: usize, f: F) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
    F: Fn(&T) -> Result<R, E> + Sync,
{
    let slots = parallel_map(items, n_workers, f);
    // An item is left unstarted only after a failure of an earlier one, so the first filled slot that is an error
    // comes before any empty slot; without an error every slot is filled.
    slots.into_iter().flatten().collect()
}

/// Calls `produce` on each of `items` in order on one background thread, at most `depth` results (at least 1) ahead
/// of `consume`, which gets them in order on the calling thread. Stops at the first error: the producer after
/// handing it over, the consumer by returning it (which also stops the producer).
pub fn prefetch<I, R, E, P, C>(items: I, depth: usize, mut produce: P, mut consume: C) -> Result<(), E>
where
    I: IntoIterator,
    I::IntoIter: Send,
    R: Send,
    E: Send,
    P: FnMut(I::Item) -> Result<R, E> + Send,
    C: FnMut(R) -> Result<(), E>,
{
    let items = items.into_iter();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Result<R, E>>(depth.max(1));
        scope.spawn(move || {
            for item in items {
                let result = produce(item);
                let failed = result.is_err();
                if tx.send(result).is_err() || failed {
                    break;
                }
            }
        });
        // `rx` is consumed here and dropped on an early return, which ends the producer's next send.
        for result in rx {
            consume(result?)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_input_order_whatever_the_number_of_workers() {
        let items: Vec<u64> = (0..50).collect();
        for n_workers in [0, 1, 3, 8, 100] {
            let out: Vec<u64> = try_parallel_map(&items, n_workers, |&x| {
                // Uneven work, so that workers finish out of order.
                std::thread::sleep(std::time::Duration::from_micros((x * 7919) % 13 * 50));
                Ok::<_, String>(x * x)
            })
            .unwrap();
            assert_eq!(
                out,
                items.iter().map(|x| x * x).collect::<Vec<_>>(),
                "{n_workers} workers"
            );
        }
        assert!(try_parallel_map(&[] as &[u8], 4, |_| Ok::<u8, ()>(0))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_first_error_in_input_order_is_returned_and_no_new_item_starts_after_it() {
        let items: Vec<usize> = (0..200).collect();
        let started = AtomicUsize::new(0);
        let err = try_parallel_map(&items, 4, |&i| {
            started.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_micros(200));
            if i == 30 || i == 31 || i == 150 {
                Err(format!("item {i}"))
            } else {
                Ok(i)
            }
        })
        .unwrap_err();
        assert_eq!(err, "item 30");
        // Items 0..=31 ran; the others only as far as the workers got before they saw the failure.
        let n = started.load(Ordering::SeqCst);
        assert!((32..60).contains(&n), "{n} started");

        let slots = parallel_map(&items, 1, |&i| if i == 5 { Err(i) } else { Ok(i) });
        assert!(matches!(slots[4], Some(Ok(4))) && matches!(slots[5], Some(Err(5))));
        assert!(slots[6..].iter().all(Option::is_none));
    }

    #[test]
    fn prefetch_hands_over_in_order_and_stops_at_the_first_error() {
        let mut seen = Vec::new();
        prefetch(
            0..20,
            2,
            |i| Ok::<_, String>(i * 10),
            |v| {
                seen.push(v);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..20).map(|i| i * 10).collect::<Vec<_>>());

        let produced = AtomicUsize::new(0);
        let mut seen = Vec::new();
        let err = prefetch(
            0..1000,
            2,
            |i| {
                produced.fetch_add(1, Ordering::SeqCst);
                if i == 3 {
                    Err(format!("produce {i}"))
                } else {
                    Ok(i)
                }
            },
            |v| {
                seen.push(v);
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!((err.as_str(), seen), ("produce 3", vec![0, 1, 2]));
        assert_eq!(produced.load(Ordering::SeqCst), 4);

        // A consumer error stops the producer: it never runs far ahead.
        let produced = AtomicUsize::new(0);
        let err = prefetch(
            0..1000,
            2,
            |i| {
                produced.fetch_add(1, Ordering::SeqCst);
                Ok(i)
            },
            |v| if v == 5 { Err(format!("consume {v}")) } else { Ok(()) },
        )
        .unwrap_err();
        assert_eq!(err, "consume 5");
        assert!(
            produced.load(Ordering::SeqCst) <= 5 + 2 + 2,
            "{}",
            produced.load(Ordering::SeqCst)
        );
    }
}
