//! Backbone weights: building a seeded ResNet and loading a `.safetensors` file with torchvision names into it
//! ([`load_backbone`]), the file's contract ([`BackboneContract`]: arch, input bands, normalisation and method in the
//! safetensors metadata, written by [`write_backbone`]), and importing published backbones (SeCo, CACo checkpoints,
//! torchgeo/timm ResNet state dicts) into those names. The originals keep the query encoder as `encoder_q`, either as
//! a torchvision ResNet (`encoder_q.conv1.weight`, `encoder_q.layer1.0...`) or as an `nn.Sequential` of its children
//! (`encoder_q.0.weight` = conv1, `encoder_q.4.0.conv1.weight` = layer1...). Both map onto [`super::ResNet`]'s names;
//! every missing or unexpected key is reported.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use tch::{nn, Device, Tensor};

use super::{Arch, ResNet};
use crate::data::Normalization;
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
        check_input_bands(path, in_channels, name)?;
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

/// What a backbone file says about the input it was trained on, kept in its safetensors metadata (string keys
/// `arch`, `in_channels`, `bands` comma-separated, `normalization` and `stretch` as JSON, `method`).
#[derive(Debug, Clone, PartialEq)]
pub struct BackboneContract {
    pub arch: Arch,
    pub in_channels: i64,
    /// Band names in input order; empty when unknown (an import without `--bands`).
    pub bands: Vec<String>,
    /// The normalisation the backbone was trained with, when known.
    pub normalization: Option<Normalization>,
    /// The stretch applied when the training images were read (the config's `stretch`, as JSON), if any.
    pub stretch: Option<String>,
    /// The pre-training method (`caco`, `seco`, ...) or the import it came from (`import:seco.ckpt`).
    pub method: Option<String>,
}

impl BackboneContract {
    fn to_metadata(&self) -> Result<HashMap<String, String>> {
        let mut map = HashMap::from([
            ("format".to_string(), "caco-backbone".to_string()),
            ("arch".to_string(), to_json(&self.arch)?.trim_matches('"').to_string()),
            ("in_channels".to_string(), self.in_channels.to_string()),
        ]);
        if !self.bands.is_empty() {
            map.insert("bands".into(), self.bands.join(","));
        }
        if let Some(n) = &self.normalization {
            map.insert("normalization".into(), to_json(n)?);
        }
        if let Some(s) = &self.stretch {
            map.insert("stretch".into(), s.clone());
        }
        if let Some(m) = &self.method {
            map.insert("method".into(), m.clone());
        }
        Ok(map)
    }

    /// The contract in `metadata`, None when the file has none (written before contracts, or by another tool).
    fn from_metadata(metadata: &HashMap<String, String>, path: &Path) -> Result<Option<Self>> {
        let (Some(arch), Some(in_channels)) = (metadata.get("arch"), metadata.get("in_channels")) else {
            return Ok(None);
        };
        let bad = |key: &str, e: String| Error::bad_input(path, format!("backbone metadata `{key}`: {e}"));
        let arch: Arch = serde_json::from_value(serde_json::Value::String(arch.clone()))
            .map_err(|_| bad("arch", format!("`{arch}` is not resnet18 or resnet50")))?;
        let in_channels: i64 = in_channels
            .parse()
            .map_err(|_| bad("in_channels", format!("`{in_channels}` is not a number")))?;
        let bands = metadata
            .get("bands")
            .map(|b| b.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        let normalization = metadata
            .get("normalization")
            .map(|n| serde_json::from_str(n).map_err(|e| bad("normalization", format!("{e} in `{n}`"))))
            .transpose()?;
        Ok(Some(BackboneContract {
            arch,
            in_channels,
            bands,
            normalization,
            stretch: metadata.get("stretch").cloned(),
            method: metadata.get("method").cloned(),
        }))
    }

    /// One line for logs: `resnet18, 3 bands (B4,B3,B2), imagenet normalisation, method caco`.
    pub fn describe(&self) -> String {
        let bands = if self.bands.is_empty() {
            format!("{} bands", self.in_channels)
        } else {
            format!("{} bands ({})", self.in_channels, self.bands.join(","))
        };
        let norm = match &self.normalization {
            Some(n) => format!("{} normalisation", normalization_name(n)),
            None => "normalisation not recorded".into(),
        };
        let method = self.method.as_deref().map(|m| format!(", method {m}")).unwrap_or_default();
        format!("{}, {bands}, {norm}{method}", self.arch.name())
    }
}

/// `imagenet`, `scale 255`, `per-band`: a normalisation in a few words.
pub fn normalization_name(n: &Normalization) -> String {
    match n {
        Normalization::Imagenet => "imagenet".into(),
        Normalization::Scale { scale } => format!("scale {scale}"),
        Normalization::PerBand { .. } => "per-band".into(),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Config(format!("backbone metadata: {e}")))
}

/// Writes a backbone (torchvision names, stored as f32) with its contract in the safetensors metadata.
pub fn write_backbone(path: &Path, tensors: &[(String, Tensor)], contract: &BackboneContract) -> Result<()> {
    let mut data = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t.to_device(Device::Cpu).to_kind(tch::Kind::Float).contiguous();
        let mut bytes = vec![0u8; t.numel() * 4];
        t.f_copy_data_u8(&mut bytes, t.numel())?;
        let shape: Vec<usize> = t.size().iter().map(|&s| s as usize).collect();
        data.push((name.clone(), shape, bytes));
    }
    let views = data
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.as_str(), v))
                .map_err(|e| Error::Config(format!("tensor `{name}`: {e:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::tensor::serialize_to_file(views, &Some(contract.to_metadata()?), path)
        .map_err(|e| Error::bad_input(path, format!("writing the backbone: {e:?}")))
}

/// The JSON header of a `.safetensors` file (tensor shapes and `__metadata__`), read without the tensor data.
fn read_header(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let not_safetensors = |why: String| {
        Error::bad_input(
            path,
            format!("not a .safetensors backbone ({why}); convert a PyTorch checkpoint with `caco import-weights`"),
        )
    };
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| not_safetensors(e.to_string()))?;
    let len = u64::from_le_bytes(len);
    if len > 100_000_000 {
        return Err(not_safetensors(format!("a header of {len} bytes")));
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header).map_err(|e| not_safetensors(e.to_string()))?;
    serde_json::from_slice(&header).map_err(|e| not_safetensors(e.to_string()))
}

/// The contract recorded in a backbone file, None when it has none.
pub fn read_contract(path: &Path) -> Result<Option<BackboneContract>> {
    let header = read_header(path)?;
    let metadata: HashMap<String, String> = header
        .get("__metadata__")
        .and_then(|m| m.as_object())
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    BackboneContract::from_metadata(&metadata, path)
}

/// A warning when `weights` records a training normalisation other than `fed`, the one the evaluation applies
/// (None for random init, files without a contract, or a match). Evaluations keep their configured normalisation:
/// the papers' protocols (e.g. EuroSAT's `authors`, x/255) deliberately differ from pre-training.
pub fn normalization_note(weights: &Path, fed: &Normalization) -> Option<String> {
    let contract = read_contract(weights).ok()??;
    let trained = contract.normalization?;
    (trained != *fed).then(|| {
        format!(
            "note: {} was trained with {} normalisation, this evaluation feeds {} (set the config's normalization \
             to match if that is not the protocol's intent)",
            weights.display(),
            normalization_name(&trained),
            normalization_name(fed)
        )
    })
}

/// Refuses weights made for another number of input bands, naming the file, the bands it was trained on and the
/// bands the evaluation feeds (from the contract, else from `conv1.weight`'s shape).
fn check_input_bands(path: &Path, in_channels: i64, name: &str) -> Result<()> {
    let header = read_header(path)?;
    let contract = read_contract(path)?;
    let conv1 = header
        .get("conv1.weight")
        .and_then(|t| t.get("shape"))
        .and_then(|s| s.as_array())
        .and_then(|s| s.get(1))
        .and_then(|c| c.as_i64());
    let (found, bands) = match (&contract, conv1) {
        (Some(c), _) => (c.in_channels, c.bands.join(",")),
        (None, Some(c)) => (c, String::new()),
        (None, None) => return Ok(()),
    };
    if found == in_channels {
        return Ok(());
    }
    let bands = if bands.is_empty() { String::new() } else { format!(" ({bands})") };
    Err(Error::bad_input(
        path,
        format!(
            "these weights take {found} input bands{bands}, but row `{name}` feeds {in_channels}; pick a dataset \
             variant or bands with {found} bands, or weights trained on {in_channels}"
        ),
    ))
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

/// Key prefixes tried, in order, when `caco import-weights` is not given `--prefix`: SeCo/CACo's query encoder, a
/// bare ResNet state dict (torchvision, timm, torchgeo's `.pth`), and the wrappers of torchgeo's Lightning tasks,
/// timm-style `backbone`/`encoder` attributes and `nn.DataParallel`.
pub const PREFIXES: [&str; 6] = ["encoder_q", "", "model", "backbone", "encoder", "module"];

/// The first of [`PREFIXES`] under which `named` has a ResNet's `conv1.weight`.
pub fn detect_prefix(named: &[(String, Tensor)]) -> Option<&'static str> {
    PREFIXES
        .into_iter()
        .find(|p| named.iter().any(|(k, _)| torchvision_name(k, p).as_deref() == Some("conv1.weight")))
}

/// Reads a PyTorch checkpoint (`.pth` state dict or Lightning `.ckpt`, see [`super::checkpoint`]) and maps its
/// encoder under `prefix` (None: [`detect_prefix`]) onto the backbone. Returns the backbone's tensors, the report
/// and the prefix used.
pub fn import_checkpoint(
    path: &Path,
    prefix: Option<&str>,
) -> Result<(Vec<(String, Tensor)>, ImportReport, String)> {
    let state = super::checkpoint::read_state_dict(path)?;
    let prefix = match prefix {
        Some(p) => p.to_string(),
        None => detect_prefix(&state.tensors)
            .ok_or_else(|| {
                let keys: Vec<&str> = state.tensors.iter().take(5).map(|(k, _)| k.as_str()).collect();
                Error::bad_input(
                    path,
                    format!(
                        "no ResNet conv1 weight under any of the prefixes {PREFIXES:?} among its {} tensors (first: \
                         {keys:?}); name the encoder's key prefix with --prefix",
                        state.tensors.len()
                    ),
                )
            })?
            .to_string(),
    };
    let (tensors, mut report) = import_backbone(&state.tensors, &prefix)?;
    report.n_ignored += state.n_skipped;
    Ok((tensors, report, prefix))
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

    #[test]
    fn the_contract_round_trips_and_guards_the_band_count() {
        let dir = tempfile::tempdir().unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = ResNet::new(&vs.root(), Arch::Resnet18, 4);
        let tensors: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        let contract = BackboneContract {
            arch: Arch::Resnet18,
            in_channels: 4,
            bands: ["B2", "B3", "B4", "B8"].map(String::from).to_vec(),
            normalization: Some(Normalization::PerBand {
                mean: vec![0.1, 0.2, 0.3, 0.4],
                std: vec![1.0, 2.0, 3.0, 4.0],
            }),
            stretch: Some("\"seco-rgb\"".into()),
            method: Some("caco".into()),
        };
        let path = dir.path().join("b.safetensors");
        write_backbone(&path, &tensors, &contract).unwrap();
        assert_eq!(read_contract(&path).unwrap().as_ref(), Some(&contract));
        assert_eq!(contract.describe(), "resnet18, 4 bands (B2,B3,B4,B8), per-band normalisation, method caco");
        let (vs2, _) = load_backbone(Arch::Resnet18, 4, 1, Some(&path), "row", Device::Cpu).unwrap();
        let loaded = vs2.variables();
        for (name, t) in &tensors {
            assert!(t.equal(&loaded[name]), "{name}");
        }
        let msg = load_backbone(Arch::Resnet18, 3, 1, Some(&path), "rgb row", Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("b.safetensors")
                && msg.contains("4 input bands (B2,B3,B4,B8)")
                && msg.contains("`rgb row` feeds 3"),
            "{msg}"
        );
        let note = normalization_note(&path, &Normalization::Scale { scale: 255.0 }).unwrap();
        assert!(note.contains("per-band") && note.contains("scale 255"), "{note}");
        assert_eq!(normalization_note(&path, contract.normalization.as_ref().unwrap()), None);

        // Without a contract (tch's plain writer), the band count comes from conv1's shape.
        let plain = dir.path().join("plain.safetensors");
        Tensor::write_safetensors(&tensors, &plain).unwrap();
        assert_eq!(read_contract(&plain).unwrap(), None);
        let msg = load_backbone(Arch::Resnet18, 13, 1, Some(&plain), "s2", Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains("take 4 input bands, but row `s2` feeds 13"), "{msg}");
    }
}
