//! Backbone weights: building a seeded ResNet and loading a `.safetensors` file with torchvision names into it
//! ([`load_backbone`]), and importing published backbones (SeCo, CACo checkpoints) into those names. The originals
//! keep the query encoder as `encoder_q`, either as a torchvision ResNet (`encoder_q.conv1.weight`,
//! `encoder_q.layer1.0...`) or as an `nn.Sequential` of its children (`encoder_q.0.weight` = conv1,
//! `encoder_q.4.0.conv1.weight` = layer1...). Both map onto [`super::ResNet`]'s names; every missing or unexpected
//! key is reported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use tch::{nn, Device, Tensor};

use super::{Arch, ResNet};
use crate::{Error, Result};

/// A frozen backbone: seeded random init (`init_seed`, see [`super::seeded`]), then the weights of `weights` when
/// it names a file (`None`: random init). Every backbone tensor must be in the file; `name` (the row or run using
/// it) appears in the errors.
pub fn load_backbone(
    arch: Arch,
    in_channels: i64,
    init_seed: u64,
    weights: Option<&Path>,
    name: &str,
    device: Device,
) -> Result<(nn::VarStore, ResNet)> {
    let (mut vs, net) = super::seeded(init_seed, || {
        let vs = nn::VarStore::new(device);
        let net = ResNet::new(&vs.root(), arch, in_channels);
        (vs, net)
    });
    if let Some(path) = weights {
        if !path.is_file() {
            return Err(Error::bad_input(path, format!("weights of row `{name}` not found")));
        }
        let missing = vs.load_partial(path)?;
        if !missing.is_empty() {
            return Err(Error::bad_input(
                path,
                format!(
                    "{} backbone tensors missing, e.g. {:?}",
                    missing.len(),
                    &missing[..missing.len().min(5)]
                ),
            ));
        }
    }
    vs.freeze();
    Ok((vs, net))
}

/// torchvision ResNet children in order, as `nn.Sequential(*list(resnet.children())[:-1])` numbers them.
const CHILDREN: [&str; 9] = [
    "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool",
];

/// The torchvision name of a checkpoint key under `prefix`, or None when the key is not part of that encoder.
pub fn torchvision_name(key: &str, prefix: &str) -> Option<String> {
    let rest = if prefix.is_empty() {
        key
    } else {
        key.strip_prefix(prefix)?.strip_prefix('.')?
    };
    let (first, tail) = rest.split_once('.').unwrap_or((rest, ""));
    let first = match first.parse::<usize>() {
        Ok(i) => CHILDREN.get(i)?.to_string(),
        Err(_) => first.to_string(),
    };
    if first == "fc" || tail.is_empty() {
        return None;
    }
    Some(format!("{first}.{tail}"))
}

/// What an import found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportReport {
    pub arch: Option<Arch>,
    pub in_channels: i64,
    /// Backbone tensors the checkpoint did not provide.
    pub missing: Vec<String>,
    /// Checkpoint keys under the prefix that the backbone does not have.
    pub unexpected: Vec<String>,
    /// (name, checkpoint shape, backbone shape).
    pub shape_mismatch: Vec<(String, Vec<i64>, Vec<i64>)>,
    /// Keys outside the prefix (heads, key encoder, queues), ignored.
    pub n_ignored: usize,
}

/// Maps `named` (a checkpoint's state dict) onto a torchvision ResNet. The architecture and input channels are read
/// from the tensors; returns the backbone's tensors (torchvision names) and the report.
pub fn import_backbone(named: &[(String, Tensor)], prefix: &str) -> Result<(Vec<(String, Tensor)>, ImportReport)> {
    let mut mapped: BTreeMap<String, Tensor> = BTreeMap::new();
    let mut report = ImportReport::default();
    for (key, tensor) in named {
        match torchvision_name(key, prefix) {
            Some(name) => {
                mapped.insert(name, tensor.shallow_clone());
            }
            None => report.n_ignored += 1,
        }
    }
    let conv1 = mapped.get("conv1.weight").ok_or_else(|| {
        Error::Config(format!(
            "no `{prefix}` conv1 weight in the checkpoint ({} keys): is the prefix right?",
            named.len()
        ))
    })?;
    report.in_channels = conv1.size()[1];
    let arch = if mapped.contains_key("layer1.0.conv3.weight") {
        Arch::Resnet50
    } else {
        Arch::Resnet18
    };
    report.arch = Some(arch);
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = ResNet::new(&vs.root(), arch, report.in_channels);
    let expected: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mut out = Vec::new();
    for (name, want) in &expected {
        match mapped.get(name) {
            None => report.missing.push(name.clone()),
            Some(t) if t.size() != want.size() => report.shape_mismatch.push((name.clone(), t.size(), want.size())),
            Some(t) => out.push((name.clone(), t.to_kind(want.kind()))),
        }
    }
    let expected_names: BTreeSet<&String> = expected.keys().collect();
    // `num_batches_tracked` is a PyTorch BatchNorm counter with no counterpart here; it is not an error.
    report.unexpected = mapped
        .keys()
        .filter(|k| !expected_names.contains(k) && !k.ends_with("num_batches_tracked"))
        .cloned()
        .collect();
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_sequential_and_named_encoders() {
        assert_eq!(
            torchvision_name("encoder_q.0.weight", "encoder_q").as_deref(),
            Some("conv1.weight")
        );
        assert_eq!(
            torchvision_name("encoder_q.4.1.bn2.bias", "encoder_q").as_deref(),
            Some("layer1.1.bn2.bias")
        );
        assert_eq!(
            torchvision_name("encoder_q.layer4.0.downsample.0.weight", "encoder_q").as_deref(),
            Some("layer4.0.downsample.0.weight")
        );
        assert_eq!(torchvision_name("encoder_k.0.weight", "encoder_q"), None);
        assert_eq!(torchvision_name("encoder_q.fc.weight", "encoder_q"), None);
        assert_eq!(torchvision_name("conv1.weight", "").as_deref(), Some("conv1.weight"));
    }

    #[test]
    fn sequential_checkpoint_round_trips_and_problems_are_reported() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = ResNet::new(&vs.root(), Arch::Resnet18, 13);
        let index = |name: &str| {
            let (first, rest) = name.split_once('.').unwrap();
            let i = CHILDREN.iter().position(|c| *c == first).unwrap();
            format!("encoder_q.{i}.{rest}")
        };
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().map(|(n, t)| (index(&n), t)).collect();
        named.retain(|(n, _)| n != "encoder_q.7.1.bn2.bias");
        named.push(("encoder_q.4.0.bn1.num_batches_tracked".into(), Tensor::from(3i64)));
        named.push((
            "encoder_q.9.weight".into(),
            Tensor::zeros([2], (tch::Kind::Float, Device::Cpu)),
        ));
        named.push((
            "encoder_k.0.weight".into(),
            Tensor::zeros([2], (tch::Kind::Float, Device::Cpu)),
        ));
        named.push(("queue".into(), Tensor::zeros([2], (tch::Kind::Float, Device::Cpu))));
        let (out, report) = import_backbone(&named, "encoder_q").unwrap();
        assert_eq!((report.arch, report.in_channels), (Some(Arch::Resnet18), 13));
        assert_eq!(report.missing, vec!["layer4.1.bn2.bias".to_string()]);
        assert_eq!(
            report.unexpected,
            Vec::<String>::new(),
            "index 9 is past the children and is dropped"
        );
        assert_eq!(report.n_ignored, 3);
        let original = vs.variables();
        assert_eq!(out.len(), original.len() - 1);
        for (name, t) in &out {
            assert!(t.equal(&original[name]), "{name}");
        }
        let msg = import_backbone(&named, "model").unwrap_err().to_string();
        assert!(msg.contains("`model`") && msg.contains("prefix"), "{msg}");
    }
}
