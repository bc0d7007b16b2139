//! SGD with momentum and weight decay, PyTorch's formula (dampening 0, no Nesterov):
//! d = g + wd·p; b = d on the first step, else m·b + d; p ← p − lr·b. Written here rather than taken from
//! libtorch so that the momentum buffers can be checkpointed and a resumed run continues exactly.

use std::collections::BTreeMap;

use tch::nn::VarStore;
use tch::Tensor;

use crate::models::dist::Dist;
use crate::Result;

pub struct Sgd {
    vars: Vec<(String, Tensor)>,
    /// Momentum buffer per variable name (absent before the variable's first step).
    pub buffers: BTreeMap<String, Tensor>,
    pub momentum: f64,
    pub weight_decay: f64,
}

impl Sgd {
    /// Optimises every trainable variable of `vs`.
    pub fn new(vs: &VarStore, momentum: f64, weight_decay: f64) -> Self {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        Sgd {
            vars,
            buffers: BTreeMap::new(),
            momentum,
            weight_decay,
        }
    }

    /// Zeroes the gradients, back-propagates `loss` and updates the variables with learning rate `lr`.
    pub fn backward_step(&mut self, loss: &Tensor, lr: f64) {
        self.backward_step_synced(loss, lr, &Dist::single())
            .expect("one process: no collective can fail");
    }

    /// [`Self::backward_step`] in data-parallel training: the gradients are averaged over the ranks of `dist` (one
    /// flattened all-reduce) before the update, so every rank takes the same step, the one of the mean loss over
    /// the global batch. With [`Dist::single`] this is exactly `backward_step`.
    pub fn backward_step_synced(&mut self, loss: &Tensor, lr: f64, dist: &Dist) -> Result<()> {
        for (_, p) in self.vars.iter_mut() {
            p.zero_grad();
        }
        loss.backward();
        if dist.world() > 1 {
            let grads: Vec<Tensor> = self
                .vars
                .iter()
                .map(|(_, p)| p.grad())
                .filter(|g| g.defined())
                .collect();
            dist.all_reduce_mean(&grads)?;
        }
        tch::no_grad(|| {
            for (name, p) in self.vars.iter_mut() {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let d = if self.weight_decay != 0.0 {
                    &g + &*p * self.weight_decay
                } else {
                    g
                };
                let update = match self.buffers.get_mut(name) {
                    Some(buf) => {
                        let _ = buf.g_mul_scalar_(self.momentum).g_add_(&d);
                        buf.shallow_clone()
                    }
                    None => {
                        let buf = d.copy();
                        self.buffers.insert(name.clone(), buf.shallow_clone());
                        buf
                    }
                };
                let _ = p.g_sub_(&(update * lr));
            }
        });
        Ok(())
    }

    /// Names of the optimised variables, sorted.
    pub fn variable_names(&self) -> impl Iterator<Item = &str> {
        self.vars.iter().map(|(n, _)| n.as_str())
    }

    /// The optimised variable called `name`.
    pub fn variable(&self, name: &str) -> Option<&Tensor> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Buffers as named tensors for a checkpoint (`sgd.<variable>`).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.buffers
            .iter()
            .map(|(n, t)| (format!("sgd.{n}"), t.shallow_clone()))
            .collect()
    }

    /// Restores buffers saved by [`Sgd::state_tensors`].
    pub fn load_state(&mut self, named: &[(String, Tensor)]) {
        self.buffers = named
            .iter()
            .filter_map(|(n, t)| n.strip_prefix("sgd.").map(|n| (n.to_string(), t.copy())))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device, Kind};

    #[test]
    fn matches_the_pytorch_update_rule_by_hand() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[2], nn::Init::Const(1.0));
        let mut sgd = Sgd::new(&vs, 0.9, 0.1);
        // loss = sum(w * [1, 2]) -> grad [1, 2].
        let c = Tensor::from_slice(&[1f32, 2.]);
        sgd.backward_step(&(&w * &c).sum(Kind::Float), 0.5);
        // d = g + 0.1 * 1 = [1.1, 2.1]; b = d; w = 1 - 0.5 * b.
        let after1: Vec<f32> = Vec::try_from(&w).unwrap();
        assert!(
            (after1[0] - 0.45).abs() < 1e-6 && (after1[1] + 0.05).abs() < 1e-6,
            "{after1:?}"
        );
        sgd.backward_step(&(&w * &c).sum(Kind::Float), 0.5);
        // d = [1 + 0.045, 2 - 0.005]; b = 0.9 * [1.1, 2.1] + d; w -= 0.5 * b.
        let b = [0.9 * 1.1 + 1.045, 0.9 * 2.1 + 1.995];
        let after2: Vec<f32> = Vec::try_from(&w).unwrap();
        assert!((after2[0] as f64 - (0.45 - 0.5 * b[0])).abs() < 1e-5, "{after2:?}");
        assert!((after2[1] as f64 - (-0.05 - 0.5 * b[1])).abs() < 1e-5, "{after2:?}");
    }
}
