//! MoCo's queue of negative keys as a ring buffer that accepts any batch size (the original asserts
//! queue % batch == 0), with an era tag per slot for CACo's parity-split negatives.

use tch::{Device, Kind, Tensor};

/// `keys`: `[K, d]` L2-normalised; `era`: `[K]` i64 tag of the era each key came from.
#[derive(Debug)]
pub struct KeyQueue {
    pub keys: Tensor,
    pub era: Tensor,
    /// Next slot to write.
    pub ptr: i64,
}

impl KeyQueue {
    /// K random unit vectors as in MoCo; the initial era tags alternate 0, 1 (CACo's split by parity).
    pub fn new(size: i64, dim: i64, device: Device) -> Self {
        let keys = Tensor::randn([size, dim], (Kind::Float, device));
        let keys = &keys / keys.norm_scalaropt_dim(2.0, [1], true);
        let era = Tensor::arange(size, (Kind::Int64, device)).remainder(2);
        KeyQueue { keys, era, ptr: 0 }
    }

    pub fn len(&self) -> i64 {
        self.keys.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes `keys` `[n, d]` (and their era tags `[n]`) at the pointer, wrapping around; a batch larger than the
    /// queue keeps its last K keys.
    pub fn enqueue(&mut self, keys: &Tensor, era: &Tensor) {
        let size = self.len();
        let n = keys.size()[0];
        let (keys, era) = if n > size {
            (keys.narrow(0, n - size, size), era.narrow(0, n - size, size))
        } else {
            (keys.shallow_clone(), era.shallow_clone())
        };
        let n = keys.size()[0];
        let slots = (Tensor::arange(n, (Kind::Int64, self.keys.device())) + self.ptr).remainder(size);
        let keys = keys.detach().to_kind(self.keys.kind());
        let _ = self.keys.index_copy_(0, &slots, &keys);
        let _ = self.era.index_copy_(0, &slots, &era.to_kind(Kind::Int64));
        self.ptr = (self.ptr + n) % size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(q: &KeyQueue) -> Vec<f32> {
        Vec::<f32>::try_from(q.keys.select(1, 0)).unwrap()
    }

    #[test]
    fn wraps_around_for_batches_that_do_not_divide_the_queue() {
        let mut q = KeyQueue::new(5, 2, Device::Cpu);
        let batch = |start: f32, n: i64| {
            let v: Vec<f32> = (0..n).flat_map(|i| [start + i as f32, 0.0]).collect();
            Tensor::from_slice(&v).view([n, 2])
        };
        let era = |n: i64| Tensor::ones([n], (Kind::Int64, Device::Cpu));
        q.enqueue(&batch(10.0, 3), &era(3));
        assert_eq!(q.ptr, 3);
        q.enqueue(&batch(20.0, 3), &era(3));
        assert_eq!(q.ptr, 1);
        assert_eq!(rows(&q), vec![22.0, 11.0, 12.0, 20.0, 21.0]);
        // Larger than the queue: its last five keys, continuing from the pointer.
        q.enqueue(&batch(30.0, 7), &era(7));
        assert_eq!(rows(&q), vec![36.0, 32.0, 33.0, 34.0, 35.0]);
        assert_eq!(q.ptr, 1);
        assert_eq!(Vec::<i64>::try_from(&q.era).unwrap(), vec![1; 5]);
    }

    #[test]
    fn starts_with_unit_keys_and_alternating_eras() {
        let q = KeyQueue::new(6, 4, Device::Cpu);
        let norms = Vec::<f32>::try_from(q.keys.norm_scalaropt_dim(2.0, [1], false)).unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5));
        assert_eq!(Vec::<i64>::try_from(&q.era).unwrap(), vec![0, 1, 0, 1, 0, 1]);
    }
}
