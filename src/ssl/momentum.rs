//! Momentum ("key") encoder update of MoCo: θ_k ← m·θ_k + (1 − m)·θ_q for every parameter of the key side that is
//! trainable on the query side, under no_grad. Buffers (BatchNorm running statistics) are not averaged: the key
//! encoder keeps its own. The query side may hold more (e.g. GASSL's geo head); the key side may not.

use tch::nn::VarStore;

use crate::{Error, Result};

/// Every variable of `key` must exist in `query` with the same shape.
pub fn momentum_update(key: &VarStore, query: &VarStore, momentum: f64) -> Result<()> {
    let query_vars = query.variables();
    tch::no_grad(|| {
        for (name, mut k) in key.variables() {
            let q = query_vars
                .get(&name)
                .ok_or_else(|| Error::Config(format!("query encoder has no variable `{name}`")))?;
            if q.requires_grad() {
                k.copy_(&(&k * momentum + q * (1.0 - momentum)));
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Arch, ResNet};
    use tch::{nn, Device};

    fn stores() -> (VarStore, VarStore) {
        let q = VarStore::new(Device::Cpu);
        let _ = ResNet::new(&q.root(), Arch::Resnet18, 3);
        let mut k = VarStore::new(Device::Cpu);
        let _ = ResNet::new(&k.root(), Arch::Resnet18, 3);
        k.freeze();
        (q, k)
    }

    fn weight(vs: &VarStore) -> Vec<f32> {
        Vec::<f32>::try_from(vs.variables()["conv1.weight"].flatten(0, -1).narrow(0, 0, 10)).unwrap()
    }

    #[test]
    fn momentum_one_keeps_the_key_encoder_and_zero_copies_the_query() {
        let (q, k) = stores();
        let before = weight(&k);
        assert_ne!(before, weight(&q));
        momentum_update(&k, &q, 1.0).unwrap();
        assert_eq!(weight(&k), before);
        momentum_update(&k, &q, 0.0).unwrap();
        assert_eq!(weight(&k), weight(&q));
    }

    #[test]
    fn momentum_blends() {
        let (q, k) = stores();
        let (kb, qb) = (weight(&k), weight(&q));
        momentum_update(&k, &q, 0.999).unwrap();
        for ((a, b), c) in weight(&k).iter().zip(&kb).zip(&qb) {
            assert!((a - (0.999 * b + 0.001 * c)).abs() < 1e-6);
        }
        let _ = nn::VarStore::new(Device::Cpu);
    }
}
